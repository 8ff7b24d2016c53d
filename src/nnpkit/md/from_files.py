"""File-level MD: a model file and a structure file in, trajectory + log + PNG out."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nnpkit.errors import ConfigError, DataError
from nnpkit.md.runner import plot_md_log, run_md

__all__ = ["read_first_structure", "run_md_from_files"]


def read_first_structure(path: str | os.PathLike):  # noqa: ANN201 - ase.Atoms
    """The first frame of any ASE-readable file; errors name the path."""
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise DataError(f"structure file not found: {path}")
    try:
        return read(path, index=0)
    except Exception as error:  # noqa: BLE001 - ASE raises many types for bad files
        raise DataError(f"{path}: cannot read a structure ({error})") from error


def run_md_from_files(model: str | os.PathLike, structure: str | os.PathLike,
                      temperature_K: float, steps: int, timestep_fs: float,
                      ensemble: str = "nvt", pressure_GPa: float = 0.0,
                      trajectory: str | os.PathLike = "md.extxyz", log_interval: int = 10,
                      seed: int = 0, progress: bool = True,
                      max_force_std: float | None = None,
                      uncertainty_action: str = "stop") -> dict:
    """Run MD with a trained model; write ``trajectory``, ``<stem>_log.json`` and
    ``<stem>.png`` (energy, temperature and, for NPT, volume against time).

    With ``max_force_std`` (eV/Å; needs a committee model) an
    :class:`~nnpkit.md.uncertainty.UncertaintyGuard` checks every step: ``"stop"`` ends
    the run there (the trajectory written so far stays; no log or plot is written) and
    the summary gets ``stopped_at_step``; ``"flag"`` lets it finish and the summary gets
    ``n_flagged_steps`` and ``first_flagged_step``.

    Returns:
        A JSON-ready summary: files written, mean temperature (K), total-energy drift
        (eV/atom, meaningful for NVE), final volume (Å³) where periodic.
    """
    from nnpkit.calculators import load_calculator
    from nnpkit.data.validate import validate_structures
    from nnpkit.md.uncertainty import UncertaintyExceeded, UncertaintyGuard

    calculator = load_calculator(model)
    guard = None
    if max_force_std is not None:
        if "max_force_std" not in calculator.implemented_properties:
            raise ConfigError(
                f"--max-force-std needs a committee (a committee.json or its directory); "
                f"{model} is a single model")
        guard = UncertaintyGuard(calculator, None, max_force_std,
                                 action=uncertainty_action)  # type: ignore[arg-type]
    atoms = read_first_structure(structure)
    validate_structures([atoms], str(structure), elements=calculator.model.elements)
    trajectory = Path(trajectory)
    trajectory.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = run_md(atoms, calculator, temperature_K=temperature_K, steps=steps,
                        timestep_fs=timestep_fs, ensemble=ensemble,  # type: ignore[arg-type]
                        pressure_GPa=pressure_GPa, trajectory=trajectory,
                        log_interval=log_interval, seed=seed, progress=progress,
                        observers=[guard.observer()] if guard is not None else [])
    except UncertaintyExceeded as stop:
        return {"trajectory": str(trajectory), "steps": steps, "ensemble": ensemble,
                "stopped_at_step": stop.step, "max_force_std_eV_per_A": stop.max_force_std,
                "threshold_eV_per_A": stop.threshold}
    log_path = trajectory.with_name(trajectory.stem + "_log.json")
    plot_path = trajectory.with_name(trajectory.stem + ".png")
    result.to_json(log_path)
    plot_md_log(result, plot_path)
    log = result.log
    total = np.asarray(log["total_energy_eV"])
    summary = {
        "trajectory": str(trajectory), "log": str(log_path), "plot": str(plot_path),
        "steps": steps, "ensemble": ensemble,
        "mean_temperature_K": float(np.mean(log["temperature_K"][len(total) // 2:])),
        "total_energy_drift_eV_per_atom": float((total[-1] - total[0]) / len(atoms)),
    }
    if "volume_A3" in log:
        summary["final_volume_A3"] = float(log["volume_A3"][-1])
    if guard is not None:
        summary["n_flagged_steps"] = len(guard.flags)
        summary["first_flagged_step"] = guard.flags[0][0] if guard.flags else None
        summary["max_force_std_eV_per_A"] = max(
            (value for _, value in guard.history), default=None)
    return summary
