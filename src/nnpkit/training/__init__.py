"""nnpkit.training."""
