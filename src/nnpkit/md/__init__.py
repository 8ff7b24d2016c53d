"""nnpkit.md: molecular dynamics runners over any ASE calculator."""

from nnpkit.md.runner import MDResult, plot_md_log, run_md

__all__ = ["MDResult", "plot_md_log", "run_md"]
