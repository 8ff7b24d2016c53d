"""nnpkit.neighbors."""
