"""File-level MD: a model file and a structure file in, trajectory + log + PNG out;
or a restart: the last frame (with its momenta) of an existing trajectory in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnpkit.data.io import STRUCTURE_FILE_ERRORS
from nnpkit.errors import ConfigError, DataError
from nnpkit.md.runner import MDResult, plot_md_log, run_md

if TYPE_CHECKING:
    import torch
    from ase import Atoms

__all__ = ["read_first_structure", "read_last_frame", "run_md_from_files"]

_DTYPES = ("float32", "float64")


def read_first_structure(path: str | os.PathLike):  # noqa: ANN201 - ase.Atoms
    """The first frame of any ASE-readable file; errors name the path."""
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise DataError(f"structure file not found: {path}")
    try:
        return read(path, index=0)
    except STRUCTURE_FILE_ERRORS as error:  # what ASE raises for a bad file
        raise DataError(f"{path}: cannot read a structure ({error})") from error


def read_last_frame(path: str | os.PathLike) -> tuple[Atoms, float]:
    """The last frame of an MD trajectory (extxyz or ``.traj``) with its momenta, and its
    time (``info["time_fs"]``, fs; 0 if absent): where a restart continues."""
    from ase import Atoms
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise DataError(f"--restart: no trajectory to continue at {path}")
    try:
        atoms = read(path, index=-1)
    except STRUCTURE_FILE_ERRORS as error:  # what ASE raises for a bad file
        raise DataError(f"{path}: cannot read the last frame ({error})") from error
    assert isinstance(atoms, Atoms)  # index -1 is one frame
    if not atoms.has("momenta"):
        raise DataError(f"{path}: the last frame has no momenta, so it cannot be continued")
    atoms.calc = None
    return atoms, float(atoms.info.get("time_fs", 0.0))


def _inference_settings(device: str, dtype: str | None) -> tuple[torch.device, torch.dtype | None]:
    """``--device`` and ``--dtype`` checked: a usable torch device and a float precision."""
    import torch

    if dtype is not None and dtype not in _DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: choose one of {', '.join(_DTYPES)}")
    try:
        parsed = torch.device(device)
    except RuntimeError as error:  # torch's message lists the device types it knows
        raise ConfigError(f"--device {device!r}: {error}") from error
    if parsed.type == "cuda":
        usable = torch.cuda.is_available() and (parsed.index or 0) < torch.cuda.device_count()
    else:
        usable = parsed.type != "mps" or torch.backends.mps.is_available()
    if not usable:
        raise ConfigError(f"--device {device}: not available on this machine")
    return parsed, None if dtype is None else getattr(torch, dtype)


def _joined_log(previous_path: Path, log: dict[str, np.ndarray], start_time_fs: float
                ) -> dict[str, np.ndarray]:
    """The previous segment's log (if it ends where this one starts) followed by this one's
    (without its first row, the same state); columns new in this segment get NaN before."""
    if not previous_path.is_file():
        return log
    previous = MDResult.from_json(previous_path).log
    if not np.isclose(previous["time_fs"][-1], start_time_fs):
        return log
    n_previous = len(previous["time_fs"])
    return {name: np.concatenate([previous.get(name, np.full(n_previous, np.nan)), values[1:]])
            for name, values in log.items()}


def run_md_from_files(model: str | os.PathLike, structure: str | os.PathLike | None,
                      temperature_K: float, steps: int, timestep_fs: float,
                      ensemble: str = "nvt", pressure_GPa: float = 0.0,
                      trajectory: str | os.PathLike = "md.extxyz", log_interval: int = 10,
                      seed: int = 0, progress: bool = True,
                      max_force_std: float | None = None,
                      uncertainty_action: str = "stop", friction_per_fs: float = 0.01,
                      device: str = "cpu", dtype: str | None = None,
                      restart: bool = False,
                      key: bytes | str | os.PathLike | None = None) -> dict:
    """Run MD with a trained model; write ``trajectory`` (``.extxyz``/``.xyz`` or ASE's
    ``.traj``, by the suffix), ``<stem>_log.json`` and ``<stem>.png`` (energy, temperature
    and, for NPT, volume against time).

    ``device`` and ``dtype`` (``"float32"``/``"float64"``; default: the model's stored
    precision) choose the inference; ``friction_per_fs`` is the NVT Langevin friction, 1/fs.
    With ``key`` (bytes or a key file) the model file must be signed with it.
    With ``restart`` the run continues from the last frame of ``trajectory`` (positions,
    cell and momenta; ``structure`` must be None) for ``steps`` more steps: frames are
    appended, the time axis continues, the log is joined to the previous one, and the
    Langevin noise is seeded by (``seed``, the starting step) so it does not repeat.

    With ``max_force_std`` (eV/Å; needs a committee model) an
    :class:`~nnpkit.md.uncertainty.UncertaintyGuard` checks every step: ``"stop"`` ends
    the run there (the trajectory written so far stays; no log or plot is written) and
    the summary gets ``stopped_at_step``; ``"flag"`` lets it finish and the summary gets
    ``n_flagged_steps`` and ``first_flagged_step``.

    Returns:
        A JSON-ready summary: files written, mean temperature (K) and total-energy drift
        (eV/atom, meaningful for NVE) of this run, final volume (Å³) where periodic,
        the device, the precision, and the start time (fs).
    """
    from nnpkit.calculators import load_calculator
    from nnpkit.data.validate import validate_structures
    from nnpkit.md.uncertainty import UncertaintyExceeded, UncertaintyGuard

    torch_device, torch_dtype = _inference_settings(device, dtype)
    trajectory = Path(trajectory)
    if restart and structure is not None:
        raise ConfigError(f"--restart continues from the last frame of {trajectory}; "
                          f"give no structure file (got {structure})")
    if structure is None and not restart:
        raise ConfigError("give a structure file, or --restart to continue the trajectory")
    calculator = load_calculator(model, device=torch_device, dtype=torch_dtype, key=key)
    guard = None
    if max_force_std is not None:
        if "max_force_std" not in calculator.implemented_properties:
            raise ConfigError(
                f"--max-force-std needs a committee (a committee.json or its directory); "
                f"{model} is a single model")
        guard = UncertaintyGuard(calculator, None, max_force_std,
                                 action=uncertainty_action)  # type: ignore[arg-type]
    if structure is None:
        atoms, start_time_fs = read_last_frame(trajectory)
    else:
        atoms, start_time_fs = read_first_structure(structure), 0.0
    validate_structures([atoms], str(trajectory if structure is None else structure),
                        elements=calculator.model.elements)
    trajectory.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = run_md(atoms, calculator, temperature_K=temperature_K, steps=steps,
                        timestep_fs=timestep_fs, ensemble=ensemble,  # type: ignore[arg-type]
                        pressure_GPa=pressure_GPa, friction_per_fs=friction_per_fs,
                        trajectory=trajectory, log_interval=log_interval,
                        seed=[seed, round(start_time_fs / timestep_fs)] if restart else seed,
                        progress=progress, keep_momenta=restart, start_time_fs=start_time_fs,
                        append=restart, observers=[guard.observer()] if guard is not None else [])
    except UncertaintyExceeded as stop:
        return {"trajectory": str(trajectory), "steps": steps, "ensemble": ensemble,
                "stopped_at_step": stop.step, "max_force_std_eV_per_A": stop.max_force_std,
                "threshold_eV_per_A": stop.threshold}
    log_path = trajectory.with_name(trajectory.stem + "_log.json")
    plot_path = trajectory.with_name(trajectory.stem + ".png")
    log = result.log
    if restart:
        result.log = _joined_log(log_path, log, start_time_fs)
    result.to_json(log_path)
    plot_md_log(result, plot_path)
    total = np.asarray(log["total_energy_eV"])
    summary = {
        "trajectory": str(trajectory), "log": str(log_path), "plot": str(plot_path),
        "steps": steps, "ensemble": ensemble, "device": str(torch_device),
        "dtype": str(calculator.dtype).removeprefix("torch."), "start_time_fs": start_time_fs,
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
