"""Observers of the batched engine, called every ``interval`` steps outside the hot loop.

An observer has an ``interval`` (steps) and is called as ``observer(state)`` at step 0 and
at every multiple of its interval (as ASE's ``dyn.attach``); ``close()`` is called at the
end if it has one, and ``needs_stress`` (default False) asks the engine to compute the
stress at the steps it is called. The built-in ones: :class:`EnergyLogger` (energies,
temperature, volume, pressure per replica), :class:`TrajectoryWriter` (a file per replica),
:class:`CommitteeGuard` (the committee uncertainty, per replica) and :class:`ProgressBar`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.io.trajectory import TrajectoryWriter as ASETrajectoryWriter
from tqdm.auto import tqdm

from nnpkit.errors import ConfigError
from nnpkit.md.batched_state import (
    BatchedState,
    kinetic_energy,
    pressure_tensor,
    temperature,
    volume,
)
from nnpkit.md.extxyz_frames import ExtxyzFrames
from nnpkit.md.uncertainty import UncertaintyExceeded
from nnpkit.units import EV_PER_A3_TO_GPA

__all__ = ["Observer", "EnergyLogger", "TrajectoryWriter", "CommitteeGuard", "ProgressBar",
           "ReplicaUncertaintyExceeded"]


class Observer(Protocol):
    """Called as ``observer(state)`` every ``interval`` steps (step 0 included)."""

    interval: int

    def __call__(self, state: BatchedState) -> None: ...


def _check_interval(interval: int) -> int:
    if interval < 1:
        raise ConfigError(f"an observer's interval must be >= 1, got {interval}")
    return int(interval)


class EnergyLogger:
    """Per-replica columns every ``interval`` steps.

    :meth:`arrays` gives ``time_fs`` [n_log] and, each [n_log, B]: ``potential_energy_eV``
    (model + bias), ``kinetic_energy_eV``, ``total_energy_eV``, ``temperature_K`` (3 n_b
    degrees of freedom), ``volume_A3`` (NaN for non-periodic replicas), and on request
    ``pressure_GPa`` (instantaneous, virial + kinetic) and ``bias_energy_eV``.
    """

    def __init__(self, interval: int, timestep_fs: float, pressure: bool = False,
                 bias: bool = False) -> None:
        self.interval = _check_interval(interval)
        self.timestep_fs = float(timestep_fs)
        self.needs_stress = bool(pressure)
        self.columns: dict[str, list[Any]] = {"time_fs": [], "potential_energy_eV": [],
                                              "kinetic_energy_eV": [], "total_energy_eV": [],
                                              "temperature_K": [], "volume_A3": []}
        if pressure:
            self.columns["pressure_GPa"] = []
        if bias:
            self.columns["bias_energy_eV"] = []
        self._value_names = [name for name in self.columns if name != "time_fs"]
        self._kept_volume: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def __call__(self, state: BatchedState) -> None:
        kinetic = kinetic_energy(state)  # [B], eV
        # temperature(state) from the same kinetic energy (the same operations: same bits)
        kelvin = 2.0 * kinetic / (3.0 * state.n_atoms.double() * units.kB)
        values = [state.energy, kinetic, state.energy + kinetic, kelvin, self._volume(state)]
        if "pressure_GPa" in self.columns:
            pressure = torch.diagonal(pressure_tensor(state), dim1=1, dim2=2).mean(dim=1)
            values.append(pressure.double() * EV_PER_A3_TO_GPA)
        if "bias_energy_eV" in self.columns:
            values.append(state.bias_energy)
        self.columns["time_fs"].append(state.step * self.timestep_fs)
        # every value is float64 [B]: one stack, one copy to numpy, then a view per column
        row = torch.stack([value.detach().double() for value in values]).cpu().numpy()
        for name, value in zip(self._value_names, row, strict=True):
            self.columns[name].append(value)

    def _volume(self, state: BatchedState) -> torch.Tensor:
        """:func:`volume`, computed again only when the cell changed (NPT)."""
        kept = self._kept_volume
        if kept is not None and kept[0].shape == state.cell.shape and torch.equal(
                kept[0], state.cell) and torch.equal(kept[1], state.pbc):
            return kept[2]
        value = volume(state)
        self._kept_volume = (state.cell.detach().clone(), state.pbc.clone(), value)
        return value

    def arrays(self) -> dict[str, np.ndarray]:
        """The log as arrays (see the class docstring)."""
        return {name: np.asarray(values, dtype=float) for name, values in self.columns.items()}


class TrajectoryWriter:
    """A frame of every replica every ``interval`` steps: energy, forces, momenta and
    ``info["time_fs"]`` (the state's step times ``timestep_fs``).

    One file per replica; extxyz (appended frame by frame) or, for a ``.traj`` suffix, an
    ASE trajectory. Energies and forces are the force field's (model plus bias; the bias
    energy is in ``info["bias_energy_eV"]`` when non-zero). The files are what ASE writes
    for copies of the templates with a SinglePointCalculator; extxyz frames are formatted
    directly (the same bytes as ``ase.io.write``, without copying Atoms).

    Args:
        paths: one path per replica.
        templates: the replicas' starting Atoms (info, tags and constraints are kept).
        interval: steps between frames.
        timestep_fs: the MD time step, fs (for ``time_fs``).
        append: append to existing files and skip the first call's frames (a restart:
            the starting frame is the files' last one).
    """

    def __init__(self, paths: Sequence[str | os.PathLike], templates: Sequence[Atoms],
                 interval: int, timestep_fs: float = 0.0, append: bool = False) -> None:
        if len(paths) != len(templates):
            raise ConfigError(f"{len(paths)} trajectory paths for {len(templates)} replicas")
        self.interval = _check_interval(interval)
        self.templates = list(templates)
        self.paths = [Path(path) for path in paths]
        self.timestep_fs = float(timestep_fs)
        self._skip_first = bool(append)
        self._handles: list[Any] = []
        # per replica: the direct extxyz formatter, or a reused copy of the template
        # (ASE's writers: .traj, and extxyz templates the formatter does not support)
        self._formats: list[ExtxyzFrames | None] = []
        self._frames: list[Atoms | None] = []
        mode = "a" if append else "w"
        for path, template in zip(self.paths, self.templates, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".traj":
                self._handles.append(ASETrajectoryWriter(str(path), mode))
                formatter = None
            else:
                self._handles.append(open(path, mode))  # noqa: SIM115 - closed in close()
                formatter = ExtxyzFrames(template)
                formatter = formatter if formatter.supported else None
            self._formats.append(formatter)
            self._frames.append(_reusable_frame(template) if formatter is None else None)

    def __call__(self, state: BatchedState) -> None:
        if self._skip_first:
            self._skip_first = False
            return
        positions = state.positions.detach().cpu().double().numpy()
        momenta = state.momenta.detach().cpu().double().numpy()
        cells = state.cell.detach().cpu().double().numpy()
        forces = state.forces.detach().cpu().double().numpy()
        energy = state.energy.cpu().numpy()
        bias = state.bias_energy.cpu().numpy()
        bounds = np.concatenate([[0], np.cumsum(state.n_atoms.cpu().numpy())]).tolist()
        time_fs = state.step * self.timestep_fs
        for b, handle in enumerate(self._handles):
            start, stop = bounds[b], bounds[b + 1]
            info = dict(self.templates[b].info)
            info["time_fs"] = time_fs
            if bias[b] != 0.0:
                info["bias_energy_eV"] = float(bias[b])
            formatter = self._formats[b]
            if formatter is not None:
                info["energy"] = float(energy[b])  # where ASE puts the calculator's energy
                handle.write(formatter.text(positions[start:stop], momenta[start:stop],
                                            forces[start:stop], cells[b], info))
                handle.flush()
                continue
            frame = self._frames[b]
            assert frame is not None
            frame.set_cell(cells[b], scale_atoms=False)
            frame.set_positions(positions[start:stop], apply_constraint=False)
            frame.set_momenta(momenta[start:stop], apply_constraint=False)
            frame.info = info
            frame.calc = SinglePointCalculator(frame, energy=float(energy[b]),
                                               forces=forces[start:stop])
            if isinstance(handle, ASETrajectoryWriter):
                handle.write(frame)
            else:
                write(handle, frame, format="extxyz")
                handle.flush()

    def close(self) -> None:
        """Close the files."""
        for handle in self._handles:
            handle.close()


def _reusable_frame(template: Atoms) -> Atoms:
    """A copy of ``template`` (no calculator) whose positions, momenta, cell and info
    each frame overwrites, as :func:`~nnpkit.md.batched_state.state_to_atoms` sets them."""
    frame = template.copy()
    frame.calc = None
    frame.set_momenta(frame.get_momenta(), apply_constraint=False)
    return frame


class ReplicaUncertaintyExceeded(UncertaintyExceeded):
    """The committee uncertainty guard stopped a batched run; ``replica`` says which one.

    ``result`` is set by :func:`~nnpkit.md.batched_runner.run_batched_md` to the
    :class:`~nnpkit.md.batched_runner.BatchedMDResult` up to the stop.
    """

    def __init__(self, step: int, replica: int, max_force_std: float, threshold: float
                 ) -> None:
        super().__init__(step, max_force_std, threshold)
        self.replica = replica
        self.args = (f"replica {replica}: {self.args[0]}",)
        self.result: Any = None


class CommitteeGuard:
    """The committee uncertainty per replica every ``interval`` steps.

    ``max_force_std`` [B] comes from the force field (for a committee model: one evaluation
    per member on the batch's graph, outside the hot loop). Above ``threshold`` (eV/Å),
    ``action="stop"`` raises :class:`ReplicaUncertaintyExceeded` (the first replica over);
    ``"flag"`` records ``(step, replica, value)`` in :attr:`flags` and goes on.
    :attr:`history` holds ``(step, values [B])`` of every call.
    """

    def __init__(self, force_field: Any, threshold: float,
                 action: Literal["stop", "flag"] = "stop", interval: int = 1) -> None:
        if not threshold > 0:
            raise ConfigError(f"max_force_std must be > 0 eV/Å, got {threshold}")
        if action not in ("stop", "flag"):
            raise ConfigError(f"unknown uncertainty action {action!r}; choose 'stop' or 'flag'")
        if not hasattr(force_field, "max_force_std"):
            raise ConfigError("the uncertainty guard needs a force field with max_force_std")
        self.force_field = force_field
        self.threshold = float(threshold)
        self.action = action
        self.interval = _check_interval(interval)
        self.history: list[tuple[int, np.ndarray]] = []
        self.flags: list[tuple[int, int, float]] = []

    def __call__(self, state: BatchedState) -> None:
        values = self.force_field.max_force_std(state).cpu().numpy()  # [B]
        self.history.append((state.step, values))
        for replica in np.flatnonzero(values > self.threshold):
            self.flags.append((state.step, int(replica), float(values[replica])))
            if self.action == "stop":
                raise ReplicaUncertaintyExceeded(state.step, int(replica),
                                                 float(values[replica]), self.threshold)


class ProgressBar:
    """A tqdm bar over the steps, with the replicas' mean temperature."""

    def __init__(self, steps: int, interval: int, description: str = "batched MD",
                 disable: bool = False) -> None:
        self.interval = _check_interval(interval)
        self.bar = tqdm(total=steps, desc=description, unit="step", disable=disable)
        self._start: int | None = None

    def __call__(self, state: BatchedState) -> None:
        bar, first = self.bar, self._start is None
        start = state.step if self._start is None else self._start
        self._start = start
        if bar.disable:
            return
        # the temperature only when the bar is redrawn (at most every mininterval s)
        if first or time.time() - bar.last_print_t >= bar.mininterval:
            bar.set_postfix(T_K=f"{float(temperature(state).mean()):.0f}", refresh=first)
        bar.update(state.step - start - bar.n)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()
