"""Running molecular dynamics with any ASE calculator, through ASE's own integrators.

:func:`run_md` drives ``VelocityVerlet`` (NVE), ``Langevin`` (NVT) or
``IsotropicMTKNPT`` (NPT, Nosé-Hoover chains with an MTK barostat) and returns an
:class:`MDResult` with the final structure and a log of energies, temperature and volume.
It writes an extxyz or ASE ``.traj`` trajectory whose frames carry the momenta, so a run
can be continued from its last frame (``keep_momenta``, ``start_time_fs``, ``append``).
:func:`plot_md_log` draws the log.

Units are ASE's: eV, Å, fs (argument suffix), K, GPa (argument suffix).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.io import write
from ase.io.trajectory import Trajectory
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nose_hoover_chain import IsotropicMTKNPT
from ase.md.velocitydistribution import Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm

from nnpkit.errors import ConfigError
from nnpkit.md.result import MDResult, plot_md_log

try:  # ASE >= 3.29 renamed MaxwellBoltzmannDistribution
    from ase.md.velocitydistribution import thermalize_momenta as _thermalize
except ImportError:  # pragma: no cover - older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as _thermalize

__all__ = ["MDResult", "run_md", "plot_md_log", "make_dynamics", "copy_without_md_constraints"]

Ensemble = Literal["nve", "nvt", "npt"]

#: Thermostat and barostat time constants in time steps, as ASE recommends for MTK NPT.
_TDAMP_STEPS = 100
_PDAMP_STEPS = 1000
#: Trajectory file suffixes: extxyz text, or ASE's binary trajectory (full float64).
TRAJECTORY_SUFFIXES = (".extxyz", ".xyz", ".traj")


def make_dynamics(
    atoms: Atoms,
    ensemble: Ensemble,
    temperature_K: float,
    timestep_fs: float,
    pressure_GPa: float = 0.0,
    friction_per_fs: float = 0.01,
    rng: np.random.Generator | None = None,
    keep_momenta: bool = False,
    tdamp_fs: float | None = None,
    pdamp_fs: float | None = None,
) -> MolecularDynamics:
    """Draw initial velocities on ``atoms`` and build the ASE integrator for ``ensemble``.

    Modifies ``atoms`` in place (momenta, and for NVT an added ``FixCom`` constraint when
    it has no constraints), so pass a working copy that already has its calculator.
    Velocities follow a Maxwell-Boltzmann distribution at ``temperature_K`` with the
    centre-of-mass motion removed (and the rotation for non-periodic systems), unless
    ``keep_momenta`` keeps those already on ``atoms`` (a restart).

    Args:
        atoms: Working copy to integrate.
        ensemble: ``"nve"`` (VelocityVerlet), ``"nvt"`` (Langevin, centre of mass held by
            ``FixCom`` as ASE recommends) or ``"npt"`` (IsotropicMTKNPT, tdamp = 100 and
            pdamp = 1000 time steps).
        temperature_K: Initial and target temperature, K.
        timestep_fs: Time step, fs.
        pressure_GPa: External pressure for NPT, GPa.
        friction_per_fs: Langevin friction γ, 1/fs (ASE's ``friction``; the velocity
            autocorrelation of a free particle decays as exp(-γ t)).
        rng: Random generator for the velocities and the Langevin noise.
        keep_momenta: keep the momenta on ``atoms`` instead of drawing new ones.
        tdamp_fs: NPT thermostat time constant, fs (default 100 time steps).
        pdamp_fs: NPT barostat time constant, fs (default 1000 time steps).

    Returns:
        The integrator, ready for ``attach`` and ``run``.
    """
    rng = np.random.default_rng() if rng is None else rng
    if not keep_momenta:
        _thermalize(atoms, temperature_K=temperature_K, rng=rng)
        Stationary(atoms)
        if not np.any(atoms.pbc):
            ZeroRotation(atoms)
    timestep = timestep_fs * units.fs
    if ensemble == "nve":
        return VelocityVerlet(atoms, timestep=timestep)
    if ensemble == "nvt":
        if not atoms.constraints:
            atoms.set_constraint(FixCom())
        return Langevin(
            atoms,
            timestep=timestep,
            temperature_K=temperature_K,
            friction=friction_per_fs / units.fs,
            fixcm=False,
            rng=rng,
        )
    if ensemble == "npt":
        return IsotropicMTKNPT(
            atoms,
            timestep=timestep,
            temperature_K=temperature_K,
            pressure_au=pressure_GPa * units.GPa,
            tdamp=_TDAMP_STEPS * timestep if tdamp_fs is None else tdamp_fs * units.fs,
            pdamp=_PDAMP_STEPS * timestep if pdamp_fs is None else pdamp_fs * units.fs,
        )
    raise ConfigError(f"unknown ensemble {ensemble!r}; choose 'nve', 'nvt' or 'npt'")


def copy_without_md_constraints(work: Atoms, original: Atoms) -> Atoms:
    """Copy ``work`` (no calculator) with the constraints of ``original`` restored.

    Undoes the ``FixCom`` that :func:`make_dynamics` adds, so outputs look like inputs.
    """
    frame = work.copy()
    frame.calc = None
    frame.set_constraint(copy.deepcopy(original.constraints))
    return frame


class _FrameWriter:
    """Frames to an extxyz file (text, 8 decimals) or an ASE ``.traj`` (binary float64),
    chosen by the suffix; each frame is on disk once written."""

    def __init__(self, path: str | Path, append: bool) -> None:
        self.binary = Path(path).suffix == ".traj"
        mode = "a" if append else "w"
        self._handle: Any = Trajectory(str(path), mode) if self.binary else open(path, mode)

    def write(self, frame: Atoms) -> None:
        if self.binary:
            self._handle.write(frame)
        else:
            write(self._handle, frame, format="extxyz")
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def run_md(
    atoms: Atoms,
    calculator: Calculator,
    temperature_K: float,
    steps: int,
    timestep_fs: float,
    ensemble: Ensemble = "nvt",
    pressure_GPa: float = 0.0,
    friction_per_fs: float = 0.01,
    trajectory: str | Path | None = None,
    log_interval: int = 10,
    seed: int | Sequence[int] = 0,
    progress: bool = True,
    observers: Sequence[tuple[Callable[[], None], int]] = (),
    keep_momenta: bool = False,
    start_time_fs: float = 0.0,
    append: bool = False,
    tdamp_fs: float | None = None,
    pdamp_fs: float | None = None,
) -> MDResult:
    """Run MD on a copy of ``atoms`` with any ASE calculator.

    Velocities are drawn from a Maxwell-Boltzmann distribution at ``temperature_K`` (seeded)
    and the centre-of-mass motion is removed (rotation too for non-periodic systems); see
    :func:`make_dynamics`. To continue a run, pass its last frame with
    ``keep_momenta=True``, ``start_time_fs`` = that frame's time and ``append=True``
    (NPT's thermostat and barostat variables restart from zero).

    Args:
        atoms: Starting structure (not modified).
        calculator: Any ASE calculator (ours, xTB, EMT, MACE, ...).
        temperature_K: Initial and thermostat temperature, K.
        steps: Number of MD steps.
        timestep_fs: Time step, fs.
        ensemble: ``"nve"`` (VelocityVerlet), ``"nvt"`` (Langevin) or ``"npt"``
            (IsotropicMTKNPT with tdamp = 100 and pdamp = 1000 time steps; needs a cell
            periodic in all three directions).
        pressure_GPa: External pressure for NPT, GPa.
        friction_per_fs: Langevin friction for NVT, 1/fs.
        trajectory: If given, a file (``.extxyz``/``.xyz``: extxyz; ``.traj``: ASE's
            binary trajectory) that gets a frame with energy, forces, momenta and
            ``info["time_fs"]`` every ``log_interval`` steps and at the last step.
        log_interval: Steps between log entries and trajectory frames (step 0 and the
            last step included).
        seed: Seed (or seed sequence) for the initial velocities and the Langevin noise.
        progress: Show a tqdm progress bar with the current temperature.
        observers: ``(function, interval)`` pairs attached with ``dyn.attach``; each
            function is called without arguments every ``interval`` steps.
        keep_momenta: Start from the momenta on ``atoms`` (no new draw).
        start_time_fs: Time of the starting structure, fs (the log's time axis and the
            frames' ``time_fs`` continue from it).
        append: Append to an existing ``trajectory`` and do not write the starting
            frame again (it is that file's last frame).
        tdamp_fs: NPT thermostat time constant, fs (default 100 time steps).
        pdamp_fs: NPT barostat time constant, fs (default 1000 time steps).

    Returns:
        :class:`MDResult` with the final structure and the log.

    Raises:
        ConfigError: on an unknown ensemble, bad step counts, NPT without full
            periodicity, a trajectory suffix other than ``.extxyz``/``.xyz``/``.traj``,
            or ``keep_momenta`` on a structure without momenta.
    """
    if ensemble not in ("nve", "nvt", "npt"):
        raise ConfigError(f"unknown ensemble {ensemble!r}; choose 'nve', 'nvt' or 'npt'")
    if steps < 0 or log_interval < 1 or timestep_fs <= 0:
        raise ConfigError(
            f"need steps >= 0, log_interval >= 1, timestep_fs > 0; got {steps}, "
            f"{log_interval}, {timestep_fs}"
        )
    periodic = bool(np.all(atoms.pbc))
    if ensemble == "npt" and not periodic:
        raise ConfigError(
            f"NPT needs a cell periodic in all three directions, got pbc={atoms.pbc.tolist()}"
        )
    if trajectory is not None and Path(trajectory).suffix not in TRAJECTORY_SUFFIXES:
        raise ConfigError(f"trajectory {trajectory}: the suffix must be one of "
                          f"{', '.join(TRAJECTORY_SUFFIXES)}")
    if keep_momenta and not atoms.has("momenta"):
        raise ConfigError("keep_momenta: the starting structure has no momenta")

    work = atoms.copy()
    work.calc = calculator
    dyn = make_dynamics(
        work,
        ensemble,
        temperature_K,
        timestep_fs,
        pressure_GPa,
        friction_per_fs,
        np.random.default_rng(seed),
        keep_momenta=keep_momenta,
        tdamp_fs=tdamp_fs,
        pdamp_fs=pdamp_fs,
    )

    columns = ["time_fs", "potential_energy_eV", "kinetic_energy_eV", "total_energy_eV"]
    columns += ["temperature_K"] + (["volume_A3"] if periodic else [])
    columns += ["pressure_GPa"] if ensemble == "npt" else []
    log: dict[str, list[float]] = {name: [] for name in columns}
    bar = tqdm(total=steps, desc=f"MD {ensemble}", unit="step", disable=not progress)
    writer = None if trajectory is None else _FrameWriter(trajectory, append)

    def record() -> None:
        potential = float(work.get_potential_energy())
        kinetic = float(work.get_kinetic_energy())
        temperature = float(work.get_temperature())
        time_fs = start_time_fs + dyn.nsteps * timestep_fs
        log["time_fs"].append(time_fs)
        log["potential_energy_eV"].append(potential)
        log["kinetic_energy_eV"].append(kinetic)
        log["total_energy_eV"].append(potential + kinetic)
        log["temperature_K"].append(temperature)
        if periodic:
            log["volume_A3"].append(float(work.get_volume()))
        if ensemble == "npt":
            stress = work.get_stress(include_ideal_gas=True, voigt=True)
            log["pressure_GPa"].append(float(-np.mean(stress[:3]) / units.GPa))
        if writer is not None and not (append and dyn.nsteps == 0):
            frame = copy_without_md_constraints(work, atoms)
            frame.info["time_fs"] = time_fs
            frame.calc = SinglePointCalculator(
                frame, energy=potential, forces=work.get_forces(apply_constraint=False)
            )
            writer.write(frame)
        bar.set_postfix(T_K=f"{temperature:.0f}")

    def advance_bar() -> None:
        bar.update(dyn.nsteps - bar.n)

    dyn.attach(record, interval=log_interval)
    dyn.attach(advance_bar, interval=1)
    for function, interval in observers:
        dyn.attach(function, interval=interval)
    try:
        dyn.run(steps)
        if steps % log_interval:  # the last step is always logged (a restart starts there)
            record()
    finally:
        bar.close()
        if writer is not None:
            writer.close()

    final = copy_without_md_constraints(work, atoms)
    settings = {
        "temperature_K": temperature_K,
        "steps": steps,
        "timestep_fs": timestep_fs,
        "pressure_GPa": pressure_GPa,
        "friction_per_fs": friction_per_fs,
        "log_interval": log_interval,
        "seed": seed if isinstance(seed, int) else list(seed),
        "start_time_fs": start_time_fs,
    }
    return MDResult(
        atoms=final,
        log={name: np.asarray(values, dtype=float) for name, values in log.items()},
        ensemble=ensemble,
        settings=settings,
    )
