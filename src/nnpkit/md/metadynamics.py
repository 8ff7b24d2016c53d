"""Well-tempered metadynamics on one collective variable, for B walkers in one batch.

Every ``pace_steps`` steps each walker b adds a Gaussian hill at its CV value ``s_b``, of
height ``w = h exp(−V(s_b) / (kB ΔT))`` with ``ΔT = T (γ − 1)`` (Barducci, Bussi &
Parrinello, PRL 100, 020603 (2008)); ``γ = inf`` is plain metadynamics (``w = h``). The bias
``V(s) = Σ w exp(−(s − s_hill)² / 2σ²)`` converges to ``−(γ − 1)/γ F(s)``.

Walkers: ``"shared"`` (default) is the usual multiple-walkers scheme (Raiteri et al., J.
Phys. Chem. B 110, 3533 (2006)): every walker feels and grows one bias made of all hills;
``"independent"``: each walker feels only its own hills (B separate runs in one batch).
Hills of one step are deposited together: their heights use the bias of the earlier steps.

The hills file is text, appended and fsync'd at each deposit: a header of ``#! SET key
value`` lines, then one hill per line ``step replica center height_eV`` (floats written
to round-trip exactly). A new object on an existing file loads its hills and goes on (a
killed run resumes: a torn last line is dropped with a warning, hills of steps already
deposited are not added again), after checking its settings against the header.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from ase import Atoms, units

from nnpkit.errors import ConfigError, DataError
from nnpkit.file_writes import atomic_write
from nnpkit.md.batched_state import BatchedState, state_from_atoms

__all__ = ["WellTemperedMetadynamics"]

_CHECKED = ("sigma", "bias_factor", "temperature_K", "n_replicas", "walkers")


class _DepositObserver:
    """Engine observer: a deposit at every absolute step that is a multiple of the pace."""

    interval = 1  # checked every step: the pace counts absolute steps (restarts included)

    def __init__(self, metadynamics: WellTemperedMetadynamics) -> None:
        self.metadynamics = metadynamics

    def __call__(self, state: BatchedState) -> None:
        if state.step % self.metadynamics.pace_steps == 0:
            self.metadynamics.deposit(state, state.step)


class WellTemperedMetadynamics:
    """A time-dependent :class:`~nnpkit.md.bias.Bias` over B walkers, plus its deposits.

    Args:
        cv: ``cv(positions [N, 3], batch [N]) -> [B]``, differentiable (one value per walker).
        n_replicas: the number of walkers B.
        height_eV: the initial hill height h, eV.
        sigma: the hills' width σ, in the CV's unit.
        bias_factor: γ = (T + ΔT)/T > 1 (``math.inf``: plain metadynamics).
        temperature_K: the simulation temperature T, K.
        pace_steps: steps between deposits (see :meth:`observer`).
        hills_path: the hills file (appended as it goes; an existing one is resumed), or None.
        grid: ``(s_min, s_max, n_points)``: keep V and dV/ds on this grid as hills are added
            and evaluate the bias by cubic Hermite interpolation inside it (exact sums
            outside); None: exact sums always. Deposit heights always use exact sums.
        walkers: ``"shared"`` or ``"independent"`` (see the module docstring).

    Raises:
        ConfigError: bad settings, or a hills file written with other settings (named).
        DataError: an unreadable hills file (names the line).
    """

    def __init__(self, cv: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 n_replicas: int, height_eV: float, sigma: float, bias_factor: float,
                 temperature_K: float, pace_steps: int,
                 hills_path: str | os.PathLike | None = None,
                 grid: tuple[float, float, int] | None = None,
                 walkers: Literal["shared", "independent"] = "shared") -> None:
        if not (n_replicas >= 1 and height_eV > 0 and sigma > 0 and bias_factor > 1
                and temperature_K > 0 and pace_steps >= 1):
            raise ConfigError(
                f"metadynamics needs n_replicas >= 1, height_eV > 0, sigma > 0, bias_factor "
                f"> 1, temperature_K > 0 and pace_steps >= 1; got {n_replicas}, {height_eV}, "
                f"{sigma}, {bias_factor}, {temperature_K}, {pace_steps}")
        if walkers not in ("shared", "independent"):
            raise ConfigError(f"unknown walkers {walkers!r}; choose 'shared' or 'independent'")
        self.cv, self.n_replicas, self.walkers = cv, int(n_replicas), walkers
        self.height_eV, self.sigma = float(height_eV), float(sigma)
        self.bias_factor, self.temperature_K = float(bias_factor), float(temperature_K)
        self.pace_steps = int(pace_steps)
        self.hills_path = None if hills_path is None else Path(hills_path)
        self._steps: list[int] = []
        self._replicas: list[int] = []
        self._centers: list[float] = []
        self._heights: list[float] = []
        self._last_step = [-1] * self.n_replicas
        self._grid: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if grid is not None:
            low, high, points = float(grid[0]), float(grid[1]), int(grid[2])
            if not (high > low and points >= 2):
                raise ConfigError(f"metadynamics grid needs s_min < s_max and >= 2 points, "
                                  f"got {grid}")
            rows = 1 if walkers == "shared" else self.n_replicas
            self._grid = (torch.linspace(low, high, points, dtype=torch.float64),  # [G]
                          torch.zeros(rows, points, dtype=torch.float64),  # V [W, G]
                          torch.zeros(rows, points, dtype=torch.float64))  # dV/ds [W, G]
        if self.hills_path is not None:
            if self.hills_path.exists() and self.hills_path.stat().st_size > 0:
                self._load()
            else:
                header = "".join(f"#! SET {key} {self._setting(key)}\n" for key in _CHECKED)
                atomic_write(self.hills_path, lambda tmp: Path(tmp).write_text(
                    "#! FIELDS step replica center height_eV\n" + header))
        self._refresh()

    # -- the bias -------------------------------------------------------------------------
    def __call__(self, positions: torch.Tensor, batch: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(energy [B] eV, forces [N, 3] eV/Å)`` of the hills deposited so far."""
        with torch.enable_grad():
            r = positions.detach().double().requires_grad_(True)  # [N, 3]
            energy = self._bias(self._cv_values(r, batch))  # [B]
            (gradient,) = torch.autograd.grad(energy.sum(), r, allow_unused=True)
        forces = torch.zeros_like(r) if gradient is None else -gradient
        return energy.detach(), forces.to(positions.dtype)

    def deposit(self, state: BatchedState, step: int, update_state: bool = True) -> None:
        """Add one hill per walker at its CV value (skipping walkers that already have a
        hill at ``step`` or later: a resumed run's first call) and append them to the file.

        With ``update_state`` (this object being, or being part of, the engine's bias), the
        state's ``energy``, ``bias_energy`` and ``forces`` get the new hills' part, so the
        next step feels them as a run restarted from this state would.
        """
        due = [b for b in range(self.n_replicas) if step > self._last_step[b]]
        if not due:
            return
        with torch.no_grad():
            values = self._cv_values(state.positions.detach().double(), state.batch)
        if update_state:
            old_energy, old_forces = self(state.positions, state.batch)
        walkers = torch.as_tensor(due, dtype=torch.long)
        before = self._exact(values[walkers], walkers, before_step=step).tolist()  # [D], eV
        lines = []
        for b, bias_eV in zip(due, before, strict=True):
            height = self.height_eV * math.exp(-bias_eV / (units.kB * self._delta_T_K()))
            self._add_hill(int(step), b, float(values[b]), height)
            lines.append(f"{int(step)} {b} {float(values[b])!r} {height!r}\n")
        if self.hills_path is not None:
            with open(self.hills_path, "a") as handle:
                handle.write("".join(lines))
                handle.flush()
                os.fsync(handle.fileno())
        self._refresh()
        if update_state:
            new_energy, new_forces = self(state.positions, state.batch)
            change = (new_energy - old_energy).to(state.energy.dtype)  # [B]
            state.energy = state.energy + change
            state.bias_energy = state.bias_energy + change.to(state.bias_energy.dtype)
            state.forces = state.forces + (new_forces - old_forces).to(state.forces.dtype)

    def deposit_atoms(self, atoms: Atoms, step: int) -> None:
        """:meth:`deposit` for one walker in ASE dynamics (with a
        :class:`~nnpkit.md.bias_calculator.BiasedCalculator`), e.g.
        ``dyn.attach(lambda: metad.deposit_atoms(atoms, dyn.nsteps), interval=pace)``."""
        self.deposit(state_from_atoms([atoms]), step, update_state=False)

    def observer(self) -> _DepositObserver:
        """An observer for ``run_batched_md(observers=[...])`` that deposits at every step
        that is a multiple of ``pace_steps`` (counted as ``state.step``, so a restart with
        ``start_step`` keeps the schedule)."""
        return _DepositObserver(self)

    # -- analysis -------------------------------------------------------------------------
    def bias_on_grid(self, s: np.ndarray, replica: int | None = None) -> np.ndarray:
        """V(s) [len(s)], eV, by exact sums of the hills.

        Shared walkers: the one shared bias (``replica`` is ignored). Independent walkers:
        walker ``replica``'s bias, or for None the mean of all walkers' biases.
        """
        points = torch.as_tensor(np.asarray(s, dtype=np.float64).reshape(-1))  # [S]
        if self.walkers == "shared" or replica is not None:
            who = torch.full_like(points, 0 if replica is None else int(replica),
                                  dtype=torch.long)
            return self._exact(points, who).numpy()
        total = sum(self._exact(points, torch.full_like(points, b, dtype=torch.long))
                    for b in range(self.n_replicas))
        return (total / self.n_replicas).numpy()  # type: ignore[union-attr]

    def free_energy_estimate(self, s: np.ndarray, replica: int | None = None) -> np.ndarray:
        """``F(s) = −γ/(γ − 1) V(s)`` [len(s)], eV, shifted to a minimum of 0 (``−V`` for
        γ = inf); ``replica`` as in :meth:`bias_on_grid`."""
        factor = 1.0 if math.isinf(self.bias_factor) else self.bias_factor / (
            self.bias_factor - 1.0)
        free_energy = -factor * self.bias_on_grid(s, replica)
        return free_energy - free_energy.min()

    @property
    def hills(self) -> dict[str, np.ndarray]:
        """The hills so far: ``step``, ``replica`` [H] (int), ``center``, ``height_eV`` [H]."""
        return {"step": np.asarray(self._steps, dtype=np.int64),
                "replica": np.asarray(self._replicas, dtype=np.int64),
                "center": np.asarray(self._centers, dtype=np.float64),
                "height_eV": np.asarray(self._heights, dtype=np.float64)}

    # -- internals ------------------------------------------------------------------------
    def _delta_T_K(self) -> float:
        return self.temperature_K * (self.bias_factor - 1.0)

    def _setting(self, key: str) -> str:
        return repr(getattr(self, key)) if key != "walkers" else self.walkers

    def _cv_values(self, positions: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        values = self.cv(positions, batch).reshape(-1)  # [B]
        if values.numel() != self.n_replicas:
            raise ConfigError(f"metadynamics for {self.n_replicas} walkers got "
                              f"{values.numel()} CV values")
        return values.double()

    def _add_hill(self, step: int, replica: int, center: float, height: float) -> None:
        self._steps.append(step)
        self._replicas.append(replica)
        self._centers.append(center)
        self._heights.append(height)
        self._last_step[replica] = max(self._last_step[replica], step)
        if self._grid is not None:
            nodes, value, slope = self._grid
            row = 0 if self.walkers == "shared" else replica
            offset = nodes - center  # [G]
            gaussian = height * torch.exp(-0.5 * (offset / self.sigma) ** 2)
            value[row] += gaussian
            slope[row] += -gaussian * offset / self.sigma**2

    def _refresh(self) -> None:
        """Tensors of the hills [H] for the sums."""
        self._tensors = (torch.as_tensor(self._centers, dtype=torch.float64),
                         torch.as_tensor(self._heights, dtype=torch.float64),
                         torch.as_tensor(self._replicas, dtype=torch.long),
                         torch.as_tensor(self._steps, dtype=torch.long))

    def _exact(self, s: torch.Tensor, walker: torch.Tensor, before_step: int | None = None
               ) -> torch.Tensor:
        """``V_walker(s)`` [S] by the sum over hills (of steps < ``before_step`` if given)."""
        centers, heights, replicas, steps = (t.to(s.device) for t in self._tensors)
        gaussians = heights * torch.exp(-0.5 * ((s[:, None] - centers) / self.sigma) ** 2)
        mask = torch.ones_like(gaussians, dtype=torch.bool)  # [S, H]
        if self.walkers == "independent":
            mask = mask & (replicas[None, :] == walker.to(s.device)[:, None])
        if before_step is not None:
            mask = mask & (steps[None, :] < before_step)
        return (gaussians * mask).sum(dim=1)

    def _bias(self, s: torch.Tensor) -> torch.Tensor:
        """The bias each walker feels [B] at its s [B], differentiable in s."""
        walkers = torch.arange(self.n_replicas, device=s.device)
        if self._grid is None:
            return self._exact(s, walkers)
        nodes, value, slope = (t.to(s.device) for t in self._grid)
        spacing = float(nodes[1] - nodes[0])
        inside = (s >= nodes[0]) & (s <= nodes[-1])
        u = (s - nodes[0]) / spacing
        cell = u.detach().floor().clamp(0, len(nodes) - 2).long()  # [B]
        t = u - cell
        row = torch.zeros_like(walkers) if self.walkers == "shared" else walkers
        v0, v1 = value[row, cell], value[row, cell + 1]
        d0, d1 = slope[row, cell] * spacing, slope[row, cell + 1] * spacing
        hermite = ((2 * t**3 - 3 * t**2 + 1) * v0 + (t**3 - 2 * t**2 + t) * d0
                   + (-2 * t**3 + 3 * t**2) * v1 + (t**3 - t**2) * d1)
        if bool(inside.all()):
            return hermite
        return torch.where(inside, hermite, self._exact(s, walkers))

    def _load(self) -> None:
        """Read the hills file (checked against this object's settings) and its hills."""
        assert self.hills_path is not None
        text = self.hills_path.read_text()
        lines = text.split("\n")
        torn = lines.pop()  # "" when the file ends with a newline
        if torn:
            warnings.warn(f"{self.hills_path}: the last line {torn!r} is incomplete (a killed "
                          f"run); it is dropped", RuntimeWarning, stacklevel=3)
            kept = "".join(line + "\n" for line in lines)
            atomic_write(self.hills_path, lambda tmp: Path(tmp).write_text(kept))
        settings = {fields[2]: fields[3] for fields in (line.split() for line in lines)
                    if len(fields) == 4 and fields[:2] == ["#!", "SET"]}
        for key in _CHECKED:
            if settings.get(key) != self._setting(key):
                raise ConfigError(f"{self.hills_path} was written with {key} = "
                                  f"{settings.get(key)}, this run has {self._setting(key)}; "
                                  f"use another hills_path or the same settings")
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if line.startswith("#") or not fields:
                continue
            try:
                step, replica = int(fields[0]), int(fields[1])
                center, height = float(fields[2]), float(fields[3])
            except (ValueError, IndexError) as error:
                raise DataError(f"{self.hills_path}, line {number}: not a hill "
                                f"({line!r})") from error
            if len(fields) != 4 or not 0 <= replica < self.n_replicas:
                raise DataError(f"{self.hills_path}, line {number}: not a hill of one of "
                                f"{self.n_replicas} walkers ({line!r})")
            self._add_hill(step, replica, center, height)
