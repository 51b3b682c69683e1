"""``python -m nablanet`` runs the command line."""

from nablanet.cli import main

main()
