"""The main job (``make run`` / ``nnpkit quickstart``): the whole pipeline on ethanol.

Sample ethanol by GFN2-xTB MD at 500 K, label, split, train a Behler–Parrinello
potential, evaluate it on held-out configurations, run MD with it, and write a run
directory with metrics JSON, parity/learning-curve/MD PNGs and the model file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from nnpkit.data.io import write_structures
from nnpkit.file_writes import atomic_write

__all__ = ["QuickstartConfig", "run_quickstart"]


class QuickstartConfig(BaseModel):
    """Settings of the quickstart; the defaults finish in under 10 minutes on 2 cores."""

    model_config = ConfigDict(extra="forbid")

    output: str = Field("runs/quickstart", description="Run directory.")
    n_structures: int = Field(800, ge=20, description="Configurations sampled and labelled.")
    test_fraction: float = Field(0.25, gt=0, lt=1, description="Held out for the test.")
    temperature_K: float = Field(500.0, gt=0, description="Sampling and MD temperature, K.")
    interval_steps: int = Field(20, ge=1, description="MD steps between samples.")
    max_epochs: int = Field(400, ge=1, description="Training epochs at most.")
    time_limit_min: float = Field(5.0, gt=0, description="Training wall-clock limit, min.")
    md_time_ps: float = Field(2.0, gt=0, description="MD with the trained model, ps.")
    md_timestep_fs: float = Field(0.5, gt=0, description="MD timestep, fs.")
    seed: int = Field(0, description="Seed of sampling, splits and training.")
    progress: bool = Field(True, description="Show progress bars.")


def run_quickstart(config: QuickstartConfig) -> dict:
    """Run the pipeline; returns (and writes to ``summary.json``) the headline numbers."""
    from nnpkit.labeling.datasets import ethanol_xtb_dataset
    from nnpkit.md.from_files import run_md_from_files
    from nnpkit.training import fit, load_config

    started = time.monotonic()
    out = Path(config.output)
    (out / "data").mkdir(parents=True, exist_ok=True)
    structures = ethanol_xtb_dataset(config.n_structures, temperature_K=config.temperature_K,
                                     interval_steps=config.interval_steps, seed=config.seed,
                                     progress=config.progress)
    n_test = max(1, int(round(config.test_fraction * len(structures))))
    # the last part of the trajectory is the test set: held out in time, not interleaved
    train_path, test_path = out / "data" / "train.extxyz", out / "data" / "test.extxyz"
    write_structures(train_path, structures[:-n_test])
    write_structures(test_path, structures[-n_test:])
    sampled = time.monotonic()
    run_config = load_config({
        "data": {"train": str(train_path), "test": str(test_path),
                 "validation_fraction": 0.1},
        "model": {"kind": "bpnn", "cutoff_A": 5.0},
        # one molecule: a least-squares fit cannot separate the elements, so the references
        # are GFN2-xTB's free atoms and per-atom energies are shares of the atomisation energy
        "statistics": {"reference_energies": "isolated_atoms", "reference_method": "gfn2"},
        "training": {"max_epochs": config.max_epochs, "time_limit_min": config.time_limit_min,
                     "seed": config.seed, "progress": config.progress, "num_threads": 1},
        "output": str(out),
    })
    result = fit(run_config)
    trained = time.monotonic()
    first = structures[-n_test].copy()
    first.calc = None
    start_path = out / "data" / "md_start.xyz"
    write_structures(start_path, [first])
    md_summary = run_md_from_files(
        result.model_path, start_path, temperature_K=config.temperature_K,
        steps=int(round(1000.0 * config.md_time_ps / config.md_timestep_fs)),
        timestep_fs=config.md_timestep_fs, ensemble="nvt", trajectory=out / "md.extxyz",
        seed=config.seed, progress=config.progress)
    summary = {
        "test_metrics": result.test_metrics, "epochs": result.epochs,
        "stop_reason": result.stop_reason, "n_train": len(structures) - n_test,
        "n_test": n_test, "md": md_summary,
        "timings_s": {"sampling_and_labelling": sampled - started,
                      "training": trained - sampled, "md": time.monotonic() - trained},
        "files": sorted(p.name for p in out.iterdir()),
    }
    atomic_write(out / "summary.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)))
    return summary
