"""nnpkit.data."""
