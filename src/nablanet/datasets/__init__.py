"""Data sets: IDX images (MNIST, Fashion-MNIST) and sequence CSV files."""
