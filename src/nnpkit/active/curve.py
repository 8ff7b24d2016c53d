"""The learning curve of an active-learning run: test error against number of labels.

Every row is measured on the same test set (``test_data``, or the run's fixed
``test_set.extxyz`` drawn once from the initial pool and never trained on): the columns
``test_set``, ``n_test`` and ``test_set_sha256`` name it, so the points are comparable.

:func:`write_learning_curve` writes the iteration rows as CSV and draws the test force
MAE (meV/Å) against the number of labels as a PNG; :func:`plot_learning_curves` draws
several strategies on one set of axes (the benchmark's comparison).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from nnpkit.file_writes import atomic_write

__all__ = ["CURVE_FIELDS", "write_learning_curve", "plot_learning_curves"]

#: Columns of ``learning_curve.csv`` (one row per iteration).
CURVE_FIELDS = ["iteration", "n_labels", "test_forces_mae_meV_per_A",
                "test_energy_mae_meV_per_atom", "n_frames", "n_candidates", "n_selected",
                "n_failed", "mean_max_force_std", "test_set", "n_test", "test_set_sha256"]


def write_learning_curve(rows: Sequence[Mapping], csv_path: str | os.PathLike,
                         png_path: str | os.PathLike | None = None, title: str = "") -> None:
    """Write ``rows`` (dicts with :data:`CURVE_FIELDS`) to CSV and, optionally, a PNG."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CURVE_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(csv_path, lambda tmp: Path(tmp).write_text(buffer.getvalue()))
    if png_path is not None:
        plot_learning_curves({"active learning": rows}, png_path, title=title)


def plot_learning_curves(curves: Mapping[str, Sequence[Mapping]], png_path: str | os.PathLike,
                         title: str = "", reference_line: tuple[str, float] | None = None
                         ) -> None:
    """Test force MAE (meV/Å) against labels, one line per named curve, log-log axes.

    Args:
        curves: name → rows with ``n_labels`` and ``test_forces_mae_meV_per_A``.
        png_path: the PNG to write (atomically).
        title: plot title.
        reference_line: ``(label, mae)`` drawn as a horizontal dashed line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4.0))
    for name, rows in curves.items():
        points = [(row["n_labels"], row["test_forces_mae_meV_per_A"]) for row in rows
                  if row.get("test_forces_mae_meV_per_A") is not None]
        if points:
            x, y = zip(*points, strict=True)
            axes.plot(x, y, marker="o", label=name)
    if reference_line is not None:
        axes.axhline(reference_line[1], color="grey", linestyle="--", label=reference_line[0])
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("number of labels")
    axes.set_ylabel("test force MAE (meV/Å)")
    if title:
        axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    atomic_write(png_path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)
