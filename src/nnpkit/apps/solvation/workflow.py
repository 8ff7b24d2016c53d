"""``solvation_umbrella(config)`` and ``solvation_metad(config)``: a config in, the profile
F(CN) with σ, the most probable CN, ΔF between named states, the shell structure out
(``summary.json``, ``profile.csv``, ``rdf.csv``, PNGs) in the run directory.

Both run all windows (walkers) as one batch of the batched engine, resumable from the run
directory (run the same command again after a kill). A committee's force spread above
``uncertainty.max_force_std_eV_per_A`` flags the window (reported, and left out of the
profile unless ``use_flagged_windows``) or stops the run (``status: "stopped"``, the window
named, no profile); with every window flagged (and flagged ones left out) the status is
``"flagged"`` and there is no profile either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from ase import units

from nnpkit.apps.solvation.analysis import most_probable_cn, state_free_energies
from nnpkit.apps.solvation.chunked import ChunkedRun, read_frames
from nnpkit.apps.solvation.config import (
    MetadConfig,
    SolvationConfig,
    UmbrellaConfig,
    load_metad_config,
    load_umbrella_config,
)
from nnpkit.apps.solvation.mbar import umbrella_free_energy
from nnpkit.apps.solvation.metad import hills_bias, metadynamics_snapshots, run_metadynamics
from nnpkit.apps.solvation.plots import plot_profile, plot_rdf, plot_window_histograms
from nnpkit.apps.solvation.sampling import (
    make_cv,
    make_force_field,
    make_wall,
    starting_structure,
)
from nnpkit.apps.solvation.shell import shell_analysis, write_rdf_csv
from nnpkit.apps.solvation.umbrella import run_umbrella
from nnpkit.file_writes import atomic_write
from nnpkit.md.collective_variables import cv_of_atoms

__all__ = ["solvation_umbrella", "solvation_metad"]


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def _common(config: SolvationConfig, n_replicas: int) -> dict[str, Any]:
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", config.model_dump(mode="json"))
    atoms = starting_structure(config.system)
    cv, center, group = make_cv(config.cv, atoms, n_replicas)
    wall, radius = make_wall(config.wall, config.system, atoms, n_replicas)
    md = config.md
    run_settings = dict(
        temperature_K=md.temperature_K, timestep_fs=md.timestep_fs, steps=md.steps,
        friction_per_fs=md.friction_per_fs, sample_interval=md.sample_interval,
        chunk_steps=md.chunk_steps, extra_bias=wall, run_dir=out,
        trajectory_interval=md.trajectory_interval, seed=md.seed,
        max_force_std=config.uncertainty.max_force_std_eV_per_A,
        uncertainty_action=config.uncertainty.action,
        uncertainty_interval=config.uncertainty.interval, progress=config.progress)
    return {"out": out, "atoms": atoms, "cv": cv, "center": center, "group": group,
            "wall_radius": radius, "force_field": make_force_field(config, n_replicas),
            "run_settings": run_settings}


def _header(config: SolvationConfig, setup: dict[str, Any], method: str, run: ChunkedRun
            ) -> dict[str, Any]:
    return {"method": method, "status": "complete", "calculator": setup["force_field"].name,
            "cv": {"kind": config.cv.kind, "center": setup["center"],
                   "group_size": len(setup["group"])},
            "temperature_K": config.md.temperature_K, "steps": config.md.steps,
            "completed_steps": run.completed_steps, "resumed_from_step": run.resumed_from_step,
            "flagged": [{"replica": b, "max_force_std_eV_per_A": v}
                        for b, v in sorted(run.flagged_replicas().items())]}


def _stopped(summary: dict[str, Any], run: ChunkedRun, out: Path) -> dict[str, Any]:
    assert run.stopped is not None
    step, replica, value = run.stopped
    summary.update(status="stopped", stopped={"replica": replica, "step": step,
                                              "max_force_std_eV_per_A": value},
                   most_probable_cn=None, profile=[], delta_F_eV={})
    _write_json(out / "summary.json", summary)
    return summary


def _finish(config: SolvationConfig, setup: dict[str, Any], summary: dict[str, Any],
            points: np.ndarray, free: np.ndarray, sigma: np.ndarray, frames: list, weights: list,
            residence_replicas: list[int]) -> dict[str, Any]:
    """The most probable CN, the profile rows, the shell, CSV/JSON/PNGs."""
    out, temperature = setup["out"], config.md.temperature_K
    key = "cn" if config.cv.kind == "coordination" else "distance_A"
    summary["most_probable_cn"] = (most_probable_cn(points, free, temperature)
                                   if key == "cn" else None)
    summary["profile"] = [{key: float(x), "F_eV": None if not np.isfinite(f) else float(f),
                           "sigma_eV": None if not np.isfinite(s) else float(s)}
                          for x, f, s in zip(points, free, sigma, strict=True)]
    rows = "".join(f"{x:.6g},{f:.8g},{s:.8g}\n" for x, f, s in zip(points, free, sigma,
                                                                   strict=True))
    atomic_write(out / "profile.csv",
                 lambda tmp: Path(tmp).write_text(f"{key},F_eV,sigma_eV\n" + rows))
    interval = (config.md.trajectory_interval or 0) * config.md.timestep_fs
    rdf, shell = shell_analysis(frames, weights, residence_replicas, setup["center"],
                                setup["group"], config.analysis, interval, setup["wall_radius"])
    summary["shell"] = shell
    files = {"summary": str(out / "summary.json"), "profile_csv": str(out / "profile.csv")}
    if rdf is not None:
        write_rdf_csv(rdf, out / "rdf.csv")
        files["rdf_csv"] = str(out / "rdf.csv")
    if config.plots:
        label = "coordination number" if key == "cn" else "distance (Å)"
        plot_profile(points, free, sigma, out / "profile.png", label, config.analysis.states,
                     title=f"{summary['method']}, {summary['calculator']}")
        files["profile_png"] = str(out / "profile.png")
        if rdf is not None:
            plot_rdf(rdf.r_A, rdf.g, rdf.running_cn, out / "rdf.png", shell["cutoff_A"])
            files["rdf_png"] = str(out / "rdf.png")
    summary["files"] = files
    return summary


def _frames(out: Path, replicas: list[int], from_time_fs: float) -> list:
    return [read_frames(out, b, from_time_fs) for b in replicas]


def solvation_umbrella(config: UmbrellaConfig | dict | str | os.PathLike,
                       overrides: list[str] | None = None) -> dict[str, Any]:
    """Umbrella sampling over CV windows and MBAR; see the module docstring.

    Returns (and writes as ``summary.json``) a JSON-ready dict: ``most_probable_cn``,
    ``profile`` [{"cn", "F_eV", "sigma_eV"}], ``delta_F_eV`` {"A->B": eV},
    ``delta_F_sigma_eV``, ``state_free_energy_eV``, ``windows`` (centre, samples, g,
    flagged), ``poor_overlap``, ``flagged``, ``shell`` (cutoff, CN, residence time),
    ``files``, ``status`` ("complete" or "stopped").
    """
    cfg = config if isinstance(config, UmbrellaConfig) else load_umbrella_config(config,
                                                                                 overrides)
    centers = np.asarray(cfg.windows.center_values())
    setup = _common(cfg, centers.size)
    force_field = setup["force_field"]
    run = run_umbrella(force_field.model, setup["atoms"], setup["cv"], centers,
                       cfg.windows.spring_constant, **setup["run_settings"],
                       dtype=force_field.dtype, device=force_field.device)
    summary = _header(cfg, setup, "umbrella", run)
    if run.stopped is not None:
        return _stopped(summary, run, setup["out"])
    flagged = run.flagged_windows()
    used = [k for k in range(centers.size) if cfg.uncertainty.use_flagged_windows
            or k not in flagged]
    samples = run.samples(cfg.md.equilibration_steps)
    if not used:  # every window over the committee's threshold: nothing to trust
        summary.update(status="flagged", most_probable_cn=None, profile=[], delta_F_eV={})
        _write_json(setup["out"] / "summary.json", summary)
        return summary
    analysis = cfg.analysis
    profile = umbrella_free_energy(
        [samples[k] for k in used], centers[used], cfg.windows.spring_constant,
        cfg.md.temperature_K, bins=analysis.bins, min_overlap=analysis.min_overlap,
        states=analysis.states, delta_pairs=analysis.delta_F, window_ids=used)
    summary.update(
        delta_F_eV={pair: value for pair, (value, _) in profile.delta_F_eV.items()},
        delta_F_sigma_eV={pair: sigma for pair, (_, sigma) in profile.delta_F_eV.items()},
        state_free_energy_eV=profile.state_free_energy_eV,
        poor_overlap=[{"windows": [i, j], "overlap": o} for i, j, o in profile.poor_overlap],
        windows=[{"index": k, "center": float(centers[k]), "n_samples": int(samples[k].size),
                  "used": k in used, "max_force_std_eV_per_A": flagged.get(k)}
                 for k in range(centers.size)])
    for row, k in enumerate(used):
        summary["windows"][k].update(
            statistical_inefficiency=float(profile.statistical_inefficiency[row]),
            n_decorrelated=int(profile.n_decorrelated[row]))
    start_fs = cfg.md.equilibration_steps * cfg.md.timestep_fs
    frames = _frames(setup["out"], used, start_fs) if cfg.md.trajectory_interval else []
    single_cv, _, _ = make_cv(cfg.cv, setup["atoms"], 1)
    values = [np.array([cv_of_atoms(single_cv, a) for a in f]) for f in frames]
    counts = np.array([len(f) for f in frames], dtype=float)
    pooled = profile.unbiased_weights(np.concatenate(values), counts) if frames and \
        counts.sum() else np.zeros(0)
    weights = np.split(pooled, np.cumsum(counts)[:-1].astype(int)) if frames else []
    free = profile.free_energy_eV
    best = (most_probable_cn(profile.bin_centers, free, cfg.md.temperature_K, integer=False)
            if np.isfinite(free).any() else centers[used[0]])
    nearest = [int(np.argmin(np.abs(centers[used] - best)))] if frames else []
    summary = _finish(cfg, setup, summary, profile.bin_centers, free, profile.sigma_eV,
                      frames, weights, nearest)
    if cfg.plots:
        plot_window_histograms(samples, centers, setup["out"] / "window_histograms.png",
                               flagged=sorted(flagged))
        summary["files"]["window_histograms_png"] = str(setup["out"] / "window_histograms.png")
    _write_json(setup["out"] / "summary.json", summary)
    return summary


def solvation_metad(config: MetadConfig | dict | str | os.PathLike,
                    overrides: list[str] | None = None) -> dict[str, Any]:
    """Well-tempered metadynamics walkers; the same summary keys as
    :func:`solvation_umbrella` (no windows; ``sigma_eV`` is the convergence spread of
    :func:`~nnpkit.apps.solvation.metad.metadynamics_profile`), plus ``hills``."""
    cfg = config if isinstance(config, MetadConfig) else load_metad_config(config, overrides)
    meta = cfg.metad
    setup = _common(cfg, meta.n_walkers)
    force_field = setup["force_field"]
    run = run_metadynamics(
        force_field.model, setup["atoms"], setup["cv"], meta.n_walkers,
        height_eV=meta.height_eV, sigma=meta.sigma, bias_factor=meta.bias_factor,
        pace_steps=meta.pace_steps, grid=meta.grid, walkers=meta.walkers,
        **setup["run_settings"], dtype=force_field.dtype, device=force_field.device)
    summary = _header(cfg, setup, "metad", run)
    if run.stopped is not None:
        return _stopped(summary, run, setup["out"])
    assert run.metadynamics is not None
    sampled = np.concatenate(run.samples(cfg.md.equilibration_steps))
    points = np.linspace(sampled.min(), sampled.max(), meta.profile_points)
    snapshots = metadynamics_snapshots(run.metadynamics, points, run.completed_steps)
    free, sigma = snapshots[-1], np.std(snapshots, axis=0, ddof=1)
    kT = units.kB * cfg.md.temperature_K
    states = {name: interval for name, interval in cfg.analysis.states.items()
              if ((points >= interval[0]) & (points < interval[1])).any()}
    per_snapshot = [state_free_energies(points, f, cfg.md.temperature_K, states)
                    for f in snapshots]
    default = list(zip(states, list(states)[1:], strict=False))
    pairs = [(a, b) for a, b in cfg.analysis.delta_F or default if a in states and b in states]
    differences = {f"{a}->{b}": np.array([f[b] - f[a] for f in per_snapshot]) for a, b in pairs}
    summary.update(
        state_free_energy_eV=per_snapshot[-1],
        delta_F_eV={pair: float(values[-1]) for pair, values in differences.items()},
        delta_F_sigma_eV={pair: float(np.std(values, ddof=1))
                          for pair, values in differences.items()},
        hills={"path": str(setup["out"] / "HILLS"),
               "count": int(run.metadynamics.hills["step"].size)})
    start_fs = cfg.md.equilibration_steps * cfg.md.timestep_fs
    walkers = list(range(meta.n_walkers))
    frames = _frames(setup["out"], walkers, start_fs) if cfg.md.trajectory_interval else []
    single_cv, _, _ = make_cv(cfg.cv, setup["atoms"], 1)
    final = run.metadynamics.hills
    log_weights = [hills_bias(final, np.array([cv_of_atoms(single_cv, a) for a in f]),
                              meta.sigma, replica=None if meta.walkers == "shared" else b) / kT
                   if len(f) else np.zeros(0) for b, f in zip(walkers, frames, strict=True)]
    top = max((float(w.max()) for w in log_weights if w.size), default=0.0)
    weights = [np.exp(w - top) for w in log_weights]  # exp(βV): the unbiased ensemble
    summary = _finish(cfg, setup, summary, points, free, sigma, frames, weights,
                      walkers if frames else [])
    _write_json(setup["out"] / "summary.json", summary)
    return summary
