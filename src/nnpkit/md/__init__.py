"""nnpkit.md: molecular dynamics runners over any ASE calculator."""

from nnpkit.md.batched_runner import BatchedMDResult, run_batched_md
from nnpkit.md.runner import MDResult, plot_md_log, run_md

__all__ = ["BatchedMDResult", "MDResult", "plot_md_log", "run_batched_md", "run_md"]
