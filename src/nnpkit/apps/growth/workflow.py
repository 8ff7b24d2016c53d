"""The two entry points of ``nnpkit growth``: a kMC run and the barrier catalogue + model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nnpkit.apps.growth.config import BarrierConfig, GrowthRunConfig
from nnpkit.apps.growth.observables import surface_observables
from nnpkit.apps.growth.simulation import GrowthSimulation
from nnpkit.file_writes import atomic_write

__all__ = ["run_growth", "build_barriers", "SERIES_KEYS"]

SERIES_KEYS = ("time_s", "coverage_ML", "roughness_ML", "step_density", "anti_bragg_intensity",
               "island_density_per_site", "monomer_density_per_site", "layer_coverages")


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2)))


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle: np.save would append ".npy" to the name
        np.save(handle, array, allow_pickle=False)


def run_growth(config: GrowthRunConfig) -> dict:
    """Run the kMC of ``config``, observing at fixed intervals; returns the JSON summary.

    The summary holds ``events``, ``simulated_time_s``, ``coverage_ML``,
    ``island_density_per_site``, ``roughness_ML``, ``events_per_second`` (engine time only,
    JIT excluded, one thread), ``D_over_F`` and the time ``series``. With ``output`` set,
    the run directory receives ``config.json``, ``summary.json``, ``series.json``,
    ``heights.npy`` and (``plots``) ``series.png`` and ``snapshot_*.png``.
    """
    rates = config.rates
    start = time.perf_counter()  # includes the one-off JIT compilation of the engine
    sim = GrowthSimulation(config.lattice_size, config.temperature_K, config.flux_ML_per_s,
                           rates, seed=config.seed, warm=True)
    jit_seconds = time.perf_counter() - start
    flux = config.flux_ML_per_s
    interval = config.observe_every_s or (config.observe_every_ML / flux if flux > 0 else None)
    if interval is None:
        interval = (config.max_time_s or np.inf) / 50
    out = Path(config.output) if config.output else None
    pending_snapshots = sorted(config.snapshots_ML)
    series: dict[str, list] = {key: [] for key in SERIES_KEYS}

    def observe() -> None:
        values = surface_observables(sim.heights, sim.base_level)
        series["time_s"].append(sim.time_s)
        for key in SERIES_KEYS[1:]:
            series[key].append(values[key])
        while out and config.plots and pending_snapshots and sim.reached(pending_snapshots[0]):
            from nnpkit.apps.growth.plots import plot_snapshot

            target = pending_snapshots.pop(0)
            plot_snapshot(sim.heights, out / f"snapshot_{target:.2f}ML.png",
                          f"θ = {sim.coverage_ML:.2f} ML, t = {sim.time_s:.3g} s")

    def finished() -> bool:
        return bool((config.coverage_ML is not None and flux > 0
                     and sim.reached(config.coverage_ML))
                    or (config.max_time_s is not None and sim.time_s >= config.max_time_s)
                    or (config.max_events is not None and sim.events >= config.max_events))

    by_coverage = bool(flux > 0 and config.coverage_ML)
    total = config.coverage_ML if by_coverage else config.max_time_s
    wall_start = time.perf_counter()
    observe()
    with tqdm(total=total, desc="kMC", disable=not config.progress or total is None,
              unit="ML" if by_coverage else "s") as bar:
        while not finished():
            until = sim.time_s + interval
            if config.max_time_s is not None:
                until = min(until, config.max_time_s)
            before = (sim.events, sim.time_s)
            sim.run(max_events=None if config.max_events is None
                    else config.max_events - sim.events,
                    until_time_s=until,
                    until_coverage_ML=config.coverage_ML if flux > 0 else None)
            observe()
            if (sim.events, sim.time_s) == before:  # no limit can be reached any more
                break
            if total is not None:
                bar.n = min(total, sim.coverage_ML if by_coverage else sim.time_s)
                bar.refresh()
    summary = {
        "events": sim.events, "simulated_time_s": sim.time_s, "coverage_ML": sim.coverage_ML,
        "island_density_per_site": series["island_density_per_site"][-1],
        "roughness_ML": series["roughness_ML"][-1],
        "step_density": series["step_density"][-1],
        "events_per_second": sim.events_per_second, "engine": sim.engine, "threads": 1,
        "engine_seconds": sim.engine_seconds, "jit_seconds": jit_seconds,
        "wall_seconds": time.perf_counter() - wall_start,
        "lattice_size": config.lattice_size, "temperature_K": config.temperature_K,
        "D_over_F": sim.free_hop_rate / flux if flux > 0 else None,
    }
    if out is not None:
        _write_json(out / "config.json", config.model_dump())
        _write_json(out / "series.json", series)
        heights = sim.heights
        atomic_write(out / "heights.npy", lambda tmp: _save_npy(tmp, heights))
        if config.plots:
            from nnpkit.apps.growth.plots import plot_snapshot, plot_timeseries

            plot_timeseries(series, out / "series.png",
                            f"L={config.lattice_size}, T={config.temperature_K} K, "
                            f"F={flux} ML/s, {rates.kind}")
            plot_snapshot(heights, out / "snapshot_final.png",
                          f"θ = {sim.coverage_ML:.2f} ML, t = {sim.time_s:.3g} s")
        summary["output"] = str(out)
        _write_json(out / "summary.json", summary)
    return {**summary, "series": series}


def build_barriers(config: BarrierConfig) -> dict:
    """Build (or reuse) the NEB catalogue, train the barrier network, write both.

    Writes ``catalogue.json`` + ``saddles.extxyz`` (when built), ``barrier_model.safetensors``,
    ``metrics.json`` and ``parity.png`` under ``config.output``; returns the summary with the
    held-out MAE (meV) and every failed NEB with its error.
    """
    from nnpkit.apps.growth.barrier_model import (
        catalogue_arrays,
        split_catalogue,
        train_barrier_model,
    )
    from nnpkit.apps.growth.catalogue import build_catalogue, load_catalogue, save_catalogue
    from nnpkit.apps.growth.plots import plot_parity

    out = Path(config.output)
    start = time.perf_counter()
    if config.catalogue:
        records = load_catalogue(config.catalogue)
        paths = {"catalogue": str(config.catalogue)}
    else:
        records = build_catalogue(config)
        paths = save_catalogue(records, out)
    neb_seconds = time.perf_counter() - start
    features, barriers, groups = catalogue_arrays(records)
    test_mask = split_catalogue(groups, config.test_fraction, config.seed)
    model, metrics = train_barrier_model(
        features, barriers, test_mask, config.hidden, config.epochs, config.learning_rate,
        config.weight_decay, config.seed, config.progress)
    model.metadata.update(calculator=config.calculator, n_environments=len(records))
    model_path = model.save(out / "barrier_model.safetensors")
    plot_parity(barriers, model.predict(features[:, :6], features[:, 6]), test_mask,
                out / "parity.png", f"held-out MAE {metrics['test_mae_meV']:.1f} meV")
    failures = [{"id": record.get("id", index), "error": record["error"]}
                for index, record in enumerate(records) if record.get("error")]
    summary = {"n_environments": len(records), "n_failed": len(failures), "failures": failures,
               "neb_seconds": neb_seconds, **metrics, "model": str(model_path), **paths,
               "parity_plot": str(out / "parity.png")}
    _write_json(out / "metrics.json", summary)
    return summary
