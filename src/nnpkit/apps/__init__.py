"""nnpkit.apps."""
