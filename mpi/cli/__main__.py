"""``python -m mpi.cli``."""

from mpi.cli import main

main()
