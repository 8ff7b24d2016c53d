"""nnpkit.md."""
