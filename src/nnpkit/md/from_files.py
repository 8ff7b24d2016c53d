"""File-level MD: a model file and a structure file in, trajectory + log + PNG out;
or a restart: the last frame (with its momenta) of an existing trajectory in.

Two engines run it: the torch-native batched engine
(:func:`~nnpkit.md.batched_runner.run_batched_md` with one replica; the default) and ASE's
integrators through the calculator (:func:`~nnpkit.md.runner.run_md`). A structure with
constraints (``FixAtoms``, ...) goes to ASE's integrators, which apply them, with an
:class:`EngineFallbackNotice`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from nnpkit.data.io import STRUCTURE_FILE_ERRORS
from nnpkit.errors import ConfigError, DataError
from nnpkit.file_writes import atomic_write
from nnpkit.md.runner import TRAJECTORY_SUFFIXES, MDResult, plot_md_log, run_md

if TYPE_CHECKING:
    import torch
    from ase import Atoms

    from nnpkit.calculators import NNPCalculator

__all__ = ["ENGINES", "EngineFallbackNotice", "read_first_structure", "read_last_frame",
           "run_md_from_files"]

_DTYPES = ("float32", "float64")
#: The MD engines of ``nnpkit md``: the batched torch engine (default) and ASE's integrators.
ENGINES = ("batched", "ase")
Engine = Literal["batched", "ase"]


class EngineFallbackNotice(UserWarning):
    """``nnpkit md`` ran on ASE's integrators instead of the batched engine (one line: why)."""


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




def _flag_summary(flagged_steps: list[int], values: list[float]) -> dict[str, Any]:
    """The guard's summary keys of a finished run (steps counted from this run's start)."""
    return {"n_flagged_steps": len(flagged_steps),
            "first_flagged_step": flagged_steps[0] if flagged_steps else None,
            "max_force_std_eV_per_A": max(values, default=None)}


def _stopped(step: int, value: float, threshold: float) -> dict[str, Any]:
    """The guard's summary keys of a stopped run."""
    return {"stopped_at_step": step, "max_force_std_eV_per_A": value,
            "threshold_eV_per_A": threshold}


def _run_batched(atoms: Atoms, calculator: NNPCalculator, md: dict[str, Any], seed: int,
                 restart: bool, start_step: int, max_force_std: float | None,
                 uncertainty_action: str) -> tuple[MDResult | None, dict[str, Any]]:
    """One replica on the batched engine, with the calculator's model and field: its
    :class:`MDResult` (None if the guard stopped it) and the guard's summary keys. The
    guard checks every step, as on ASE's path."""
    from nnpkit.md.batched_runner import run_batched_md
    from nnpkit.md.observers import ReplicaUncertaintyExceeded

    try:
        batched = run_batched_md(
            calculator.model, [atoms], velocities="keep" if restart else "thermal",
            seed=seed, max_force_std=max_force_std,
            uncertainty_action=uncertainty_action,  # type: ignore[arg-type]
            uncertainty_interval=1, dtype=calculator.dtype, device=calculator.device,
            start_step=start_step, append=restart,
            external_field_V_per_A=calculator.external_field.tolist(), **md)
    except ReplicaUncertaintyExceeded as stop:
        return None, _stopped(stop.step - start_step, stop.max_force_std, stop.threshold)
    result = batched.replica(0)
    result.settings.update(seed=seed, start_time_fs=start_step * md["timestep_fs"])
    if batched.uncertainty is None:
        return result, {}
    return result, _flag_summary(
        [step - start_step for step, _, _ in batched.uncertainty["flags"]],
        [float(values[0]) for _, values in batched.uncertainty["history"]])


def _run_ase(atoms: Atoms, calculator: NNPCalculator, md: dict[str, Any], seed: int,
             restart: bool, start_time_fs: float, max_force_std: float | None,
             uncertainty_action: str) -> tuple[MDResult | None, dict[str, Any]]:
    """ASE's integrators (:func:`run_md`): the :class:`MDResult` (None if the guard stopped
    it) and the guard's summary keys."""
    from nnpkit.md.uncertainty import UncertaintyExceeded, UncertaintyGuard

    guard = None
    if max_force_std is not None:
        guard = UncertaintyGuard(calculator, None, max_force_std,
                                 action=uncertainty_action)  # type: ignore[arg-type]
    start_step = round(start_time_fs / md["timestep_fs"])
    try:
        result = run_md(atoms, calculator, seed=[seed, start_step] if restart else seed,
                        keep_momenta=restart, start_time_fs=start_time_fs, append=restart,
                        observers=[guard.observer()] if guard is not None else [], **md)
    except UncertaintyExceeded as stop:
        return None, _stopped(stop.step, stop.max_force_std, stop.threshold)
    result.settings["engine"] = "ase"
    if guard is None:
        return result, {}
    return result, _flag_summary([step for step, _ in guard.flags],
                                 [value for _, value in guard.history])


def _ase_only_reason(atoms: Atoms) -> str | None:
    """Why the batched engine cannot run ``atoms`` (None if it can)."""
    if atoms.constraints:
        names = ", ".join(sorted({type(c).__name__ for c in atoms.constraints}))
        return f"it has constraints ({names}), which only ASE's integrators apply"
    return None


def run_md_from_files(model: str | os.PathLike, structure: str | os.PathLike | None,
                      temperature_K: float, steps: int, timestep_fs: float,
                      ensemble: str = "nvt", pressure_GPa: float = 0.0,
                      trajectory: str | os.PathLike = "md.extxyz", log_interval: int = 10,
                      seed: int = 0, progress: bool = True,
                      max_force_std: float | None = None,
                      uncertainty_action: str = "stop", friction_per_fs: float = 0.01,
                      device: str = "cpu", dtype: str | None = None,
                      restart: bool = False,
                      key: bytes | str | os.PathLike | None = None,
                      engine: Engine = "batched",
                      external_field_V_per_A: Sequence[float] | None = None) -> dict:
    """Run MD with a trained model; write ``trajectory`` (``.extxyz``/``.xyz`` or ASE's
    ``.traj``, by the suffix), ``<stem>_log.json`` and ``<stem>.png`` (energy, temperature
    and, for NPT, volume against time).

    ``engine="batched"`` (default) runs the torch-native engine
    (:func:`~nnpkit.md.batched_runner.run_batched_md`, one replica): NVE velocity Verlet,
    NVT Langevin BAOAB, NPT Langevin plus isotropic stochastic cell rescaling to
    ``pressure_GPa`` (τ = 500 fs, β = 0.01/GPa, a move every 10 steps; see
    :mod:`nnpkit.md.barostat`); the temperature counts 3N degrees of freedom.
    ``engine="ase"`` runs ASE's integrators (:func:`~nnpkit.md.runner.run_md`: VelocityVerlet,
    Langevin with ``FixCom``, IsotropicMTKNPT). A structure with constraints runs on ASE's
    integrators whatever ``engine`` says (an :class:`EngineFallbackNotice` tells so, and the
    summary's ``engine`` is ``"ase"``). The two engines draw different initial velocities
    from the same seed, so their trajectories differ.

    ``device`` and ``dtype`` (``"float32"``/``"float64"``; default: the model's stored
    precision) choose the inference; ``friction_per_fs`` is the Langevin friction, 1/fs
    (NVT, and the batched engine's NPT thermostat).
    With ``key`` (bytes or a key file) the model file must be signed with it.
    With ``restart`` the run continues from the last frame of ``trajectory`` (positions,
    cell and momenta; ``structure`` must be None) for ``steps`` more steps: frames are
    appended, the time axis continues, the log is joined to the previous one, and the
    noise continues from the starting step (batched: the counter noise keyed by (``seed``,
    step), so the continuation equals the uninterrupted run; ASE: Langevin seeded by
    (``seed``, the starting step), so it does not repeat).

    With ``max_force_std`` (eV/Å; needs a committee model) the committee uncertainty is
    checked every step: ``"stop"`` ends the run there (the trajectory written so far stays;
    no log or plot is written) and the summary gets ``stopped_at_step`` (counted from this
    run's start); ``"flag"`` lets it finish and the summary gets ``n_flagged_steps`` and
    ``first_flagged_step``.

    Returns:
        A JSON-ready summary: files written, mean temperature (K, second half of the log)
        and total-energy drift (eV/atom, meaningful for NVE) of this run, final volume (Å³)
        where periodic, the engine, the device, the precision, and the start time (fs).

    Raises:
        ConfigError: bad settings (engine, dtype, device, trajectory suffix, NPT without a
            fully periodic cell, a structure file together with ``restart``, ...).
        DataError: unreadable structure or trajectory files.
    """
    from nnpkit.calculators import load_calculator
    from nnpkit.data.validate import validate_structures

    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: choose one of {', '.join(ENGINES)}")
    torch_device, torch_dtype = _inference_settings(device, dtype)
    trajectory = Path(trajectory)
    if trajectory.suffix not in TRAJECTORY_SUFFIXES:
        raise ConfigError(f"--out {trajectory}: the suffix must be one of "
                          f"{', '.join(TRAJECTORY_SUFFIXES)}")
    if restart and structure is not None:
        raise ConfigError(f"--restart continues from the last frame of {trajectory}; "
                          f"give no structure file (got {structure})")
    if structure is None and not restart:
        raise ConfigError("give a structure file, or --restart to continue the trajectory")
    calculator = load_calculator(model, device=torch_device, dtype=torch_dtype, key=key,
                                 external_field_V_per_A=external_field_V_per_A)
    if max_force_std is not None and "max_force_std" not in calculator.implemented_properties:
        raise ConfigError(
            f"--max-force-std needs a committee (a committee.json or its directory); "
            f"{model} is a single model")
    if structure is None:
        atoms, start_time_fs = read_last_frame(trajectory)
    else:
        atoms, start_time_fs = read_first_structure(structure), 0.0
    source = str(trajectory if structure is None else structure)
    validate_structures([atoms], source, elements=calculator.model.elements)
    if ensemble == "npt" and not atoms.pbc.all():
        raise ConfigError(f"{source}: NPT needs a cell periodic in all three directions, "
                          f"got pbc={atoms.pbc.tolist()}")
    reason = _ase_only_reason(atoms) if engine == "batched" else None
    if reason is not None:
        warnings.warn(f"{source}: {reason}; running on ASE's integrators (--engine ase)",
                      EngineFallbackNotice, stacklevel=2)
        engine = "ase"
    trajectory.parent.mkdir(parents=True, exist_ok=True)
    md = {"ensemble": ensemble, "temperature_K": temperature_K, "steps": steps,
          "timestep_fs": timestep_fs, "pressure_GPa": pressure_GPa,
          "friction_per_fs": friction_per_fs, "trajectory": trajectory,
          "log_interval": log_interval, "progress": progress}
    if engine == "batched":
        result, uncertainty = _run_batched(atoms, calculator, md, seed, restart,
                                           round(start_time_fs / timestep_fs), max_force_std,
                                           uncertainty_action)
    else:
        result, uncertainty = _run_ase(atoms, calculator, md, seed, restart, start_time_fs,
                                       max_force_std, uncertainty_action)
    if result is None:  # the guard stopped the run
        return {"trajectory": str(trajectory), "steps": steps, "ensemble": ensemble,
                "engine": engine, **uncertainty}
    log_path = trajectory.with_name(trajectory.stem + "_log.json")
    plot_path = trajectory.with_name(trajectory.stem + ".png")
    log = result.log
    if restart:
        result.log = _joined_log(log_path, log, start_time_fs)
    atomic_write(log_path, result.to_json)  # a restart joins to it: never half written
    plot_md_log(result, plot_path)
    total = np.asarray(log["total_energy_eV"])
    summary = {
        "trajectory": str(trajectory), "log": str(log_path), "plot": str(plot_path),
        "steps": steps, "ensemble": ensemble, "engine": engine, "device": str(torch_device),
        "dtype": str(calculator.dtype).removeprefix("torch."), "start_time_fs": start_time_fs,
        "mean_temperature_K": float(np.mean(log["temperature_K"][len(total) // 2:])),
        "total_energy_drift_eV_per_atom": float((total[-1] - total[0]) / len(atoms)),
    }
    if "volume_A3" in log:
        summary["final_volume_A3"] = float(log["volume_A3"][-1])
    if external_field_V_per_A is not None:
        summary["external_field_V_per_A"] = [float(x) for x in external_field_V_per_A]
    summary.update(uncertainty)
    return summary
