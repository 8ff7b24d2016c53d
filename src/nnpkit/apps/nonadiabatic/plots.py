"""Population plots (PNG) for surface-hopping runs."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np

from nnpkit.file_writes import atomic_write

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_populations"]

#: femtoseconds per atomic unit of time
FS_PER_AU = 2.4188843265857e-2


def plot_populations(path: str | os.PathLike, times_au: np.ndarray,
                     curves: dict[str, np.ndarray], title: str = "") -> Path:
    """Write a PNG of state populations against time (fs).

    Args:
        path: output ``.png``.
        times_au: ``[R]`` times, au.
        curves: label -> ``[R, n]`` populations (one line per state, one style per label).
        title: figure title.
    """
    figure, axis = plt.subplots(figsize=(6.0, 4.0))
    styles = ["-", "--", ":", "-."]
    for index, (label, populations) in enumerate(curves.items()):
        style = styles[index % len(styles)]
        populations = np.asarray(populations)
        for state in range(populations.shape[1]):
            axis.plot(np.asarray(times_au) * FS_PER_AU, populations[:, state], style,
                      color=f"C{state}", label=f"{label}: state {state}")
    axis.set_xlabel("time / fs")
    axis.set_ylabel("population")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(title)
    axis.legend(fontsize=7)
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)
    return Path(path)
