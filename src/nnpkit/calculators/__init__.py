"""nnpkit.calculators."""
