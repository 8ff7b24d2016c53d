"""The first shell from a run's trajectory frames: RDF, running CN, cutoff, residence time.

Frames of biased replicas are reweighted to the unbiased ensemble by the caller's weights
(umbrella: MBAR's; metadynamics: ``exp(βV)`` of the final bias). The residence time comes
from the (biased) dynamics of the replicas given: the window nearest the most probable CN
for umbrella sampling, all walkers for metadynamics; it is an estimate under that bias.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from nnpkit.apps.solvation.analysis import (
    RDF,
    first_minimum,
    ion_group_distances,
    radial_distribution,
    residence_times,
    shell_indicator,
)
from nnpkit.apps.solvation.config import ProfileAnalysisConfig
from nnpkit.errors import DataError
from nnpkit.file_writes import atomic_write

__all__ = ["shell_analysis", "write_rdf_csv"]


def write_rdf_csv(rdf: RDF, path: str | os.PathLike) -> None:
    """``r_A,g,running_cn`` per shell."""
    rows = "".join(f"{r:.4f},{g:.6g},{n:.6g}\n"
                   for r, g, n in zip(rdf.r_A, rdf.g, rdf.running_cn, strict=True))
    atomic_write(path, lambda tmp: Path(tmp).write_text("r_A,g,running_cn\n" + rows))


def shell_analysis(frames: Sequence[Sequence[Atoms]], weights: Sequence[np.ndarray],
                   residence_replicas: Sequence[int], center: int, group: Sequence[int],
                   analysis: ProfileAnalysisConfig, frame_interval_fs: float,
                   reference_radius_A: float | None) -> tuple[RDF | None, dict[str, Any]]:
    """``(RDF or None, JSON-ready summary)`` of the frames of each replica.

    Args:
        frames: per replica its frames (after equilibration).
        weights: per replica one weight per frame (any scale: normalised over all frames).
        residence_replicas: the replicas whose series give the residence time.
        center, group: the ion and the oxygens (indices).
        analysis: RDF range and shells, the shell cutoff (default: g's first minimum),
            the residence tolerance.
        frame_interval_fs: time between frames, fs.
        reference_radius_A: the cluster's reference sphere (the wall's radius), Å.
    """
    if not any(len(f) for f in frames):
        return None, {"cutoff_A": None, "cn_at_cutoff": None, "residence_time_fs": None,
                      "n_stays": 0, "n_frames": 0}
    distances = [ion_group_distances(f, center, group) if len(f) else np.zeros((0, len(group)))
                 for f in frames]
    periodic = bool(frames[0][0].pbc.all()) if len(frames[0]) else False
    volume = float(frames[0][0].get_volume()) if periodic else None
    rdf = radial_distribution(np.vstack(distances), analysis.rdf_r_max_A, analysis.rdf_bins,
                              volume_A3=volume, reference_radius_A=reference_radius_A,
                              weights=np.concatenate([np.asarray(w) for w in weights]))
    cutoff = analysis.shell_cutoff_A
    if cutoff is None:
        try:
            cutoff = first_minimum(rdf, after_A=1.0)
        except DataError:
            cutoff = None
    summary: dict[str, Any] = {"cutoff_A": cutoff, "n_frames": int(sum(map(len, frames))),
                               "cn_at_cutoff": None, "residence_time_fs": None, "n_stays": 0}
    if cutoff is not None:
        summary["cn_at_cutoff"] = rdf.cn_at(cutoff)
        lengths = [residence_times(shell_indicator(distances[b], cutoff), frame_interval_fs,
                                   analysis.residence_tolerance_frames).lengths_frames
                   for b in residence_replicas if len(distances[b])]
        pooled = np.concatenate(lengths) if lengths else np.zeros(0)
        summary["n_stays"] = int(pooled.size)
        summary["residence_time_fs"] = (float(pooled.mean() * frame_interval_fs)
                                        if pooled.size else None)
    return rdf, summary
