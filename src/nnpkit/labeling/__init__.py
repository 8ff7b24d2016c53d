"""nnpkit.labeling."""
