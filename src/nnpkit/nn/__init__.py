"""nnpkit.nn."""
