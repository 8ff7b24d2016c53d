"""nnpkit.cli."""
