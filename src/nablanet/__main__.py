"""``python -m nablanet`` runs the command line."""

from nablanet.cli import main

if __name__ == "__main__":
    main()
