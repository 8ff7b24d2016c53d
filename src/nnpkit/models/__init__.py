"""nnpkit.models."""
