"""Integrators over a batch of replicas: velocity Verlet (NVE) and Langevin BAOAB (NVT).

Each integrator is an ``init``/``step`` pair of plain functions over a
:class:`~nnpkit.md.batched_state.BatchedState`: ``init`` evaluates the forces of the
starting positions and returns the integrator's parameters, ``step`` advances every replica
by one time step with exactly one call of the force field. Steps update the state's tensors
in place and return the state. Per-replica parameters (temperature, friction) are tensors
[B] gathered to the atoms with ``batch``, so a temperature ladder is one batch.

The force field is any callable ``force_field(state, need_stress)`` that fills
``state.energy`` [B], ``state.forces`` [N, 3] and, when ``need_stress``, ``state.stress``
[B, 3, 3] (see :mod:`nnpkit.md.forces`).

References: velocity Verlet as ASE's ``VelocityVerlet`` (Swope et al., J. Chem. Phys. 76,
637 (1982)); BAOAB: Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34 (2013).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from ase import units

from nnpkit.errors import ConfigError
from nnpkit.md.batched_state import BatchedState
from nnpkit.md.noise import STREAM_LANGEVIN, NoiseSource

__all__ = ["ForceField", "VerletParameters", "LangevinParameters", "velocity_verlet_init",
           "velocity_verlet_step", "langevin_init", "langevin_step", "per_replica"]


class ForceField(Protocol):
    """Fills ``state.energy`` [B], ``state.forces`` [N, 3] (and ``state.stress``)."""

    def __call__(self, state: BatchedState, need_stress: bool) -> None: ...


def per_replica(value: float | Sequence[float] | torch.Tensor, n_replicas: int, name: str,
                device: torch.device, minimum: float | None = None) -> torch.Tensor:
    """A scalar or one value per replica as a float64 tensor [B].

    Raises:
        ConfigError: a length other than B, or a value below ``minimum``.
    """
    tensor = torch.as_tensor(value, dtype=torch.float64).to(device).reshape(-1)
    if tensor.numel() == 1:
        tensor = tensor.expand(n_replicas).clone()
    if tensor.numel() != n_replicas:
        raise ConfigError(f"{name}: got {tensor.numel()} values for {n_replicas} replicas")
    if minimum is not None and bool((tensor < minimum).any()):
        raise ConfigError(f"{name} must be >= {minimum}, got {tensor.tolist()}")
    return tensor


@dataclass
class VerletParameters:
    """Velocity Verlet: the time step in ASE time units (``timestep_fs · ase.units.fs``)."""

    timestep: float


@dataclass
class LangevinParameters:
    """Langevin BAOAB: time step (ASE time), target temperature [B] (K), friction [B]
    (1/fs). Change ``temperature_K`` in place (a replica-exchange swap) or assign new
    tensors between steps: the per-atom coefficients (:meth:`coefficients`) follow."""

    timestep: float
    temperature_K: torch.Tensor
    friction_per_fs: torch.Tensor
    noise: NoiseSource
    # (key, the values it was computed from, (1/m, c, spread)); see coefficients()
    _cached: tuple[tuple, tuple[torch.Tensor, ...],
                   tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def coefficients(self, state: BatchedState
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(1/m, c, sqrt((1 - c²) m kT))`` per atom, each [N, 1] in the state's dtype,
        with ``c = exp(-γ dt)``; amu⁻¹, 1, amu·Å/t_ASE.

        Computed when first asked and again only after the time step, the temperature or
        the friction changed (their values are compared: two small comparisons a step),
        or the masses or the batch layout did (another tensor, or an in-place torch
        operation on it), so a step does no arithmetic for them.
        """
        layout = (state.masses, state.batch)
        key = (self.timestep, state.positions.dtype, *(id(t) for t in layout),
               *(t._version for t in layout))
        cached = self._cached
        if (cached is not None and cached[0] == key
                and torch.equal(cached[1][0], self.temperature_K)
                and torch.equal(cached[1][1], self.friction_per_fs)):
            return cached[2]
        dtype = state.positions.dtype
        inverse_mass = (1.0 / state.masses)[:, None]  # [N, 1]
        gamma = (self.friction_per_fs / units.fs)[state.batch]  # [N], 1/t_ASE
        decay = torch.exp(-gamma * self.timestep)  # [N]
        kT = (units.kB * self.temperature_K)[state.batch]  # [N], eV
        spread = torch.sqrt((1.0 - decay * decay) * kT * state.masses.double())  # [N]
        values = (inverse_mass, decay.to(dtype)[:, None], spread.to(dtype)[:, None])
        # the layout tensors are held so that their ids stay theirs
        self._cached = (key, (self.temperature_K.clone(), self.friction_per_fs.clone(),
                              *layout), values)
        return values


def _check_timestep(timestep_fs: float) -> float:
    if not timestep_fs > 0:
        raise ConfigError(f"timestep_fs must be > 0, got {timestep_fs}")
    return float(timestep_fs) * units.fs


def velocity_verlet_init(state: BatchedState, force_field: ForceField, timestep_fs: float,
                         need_stress: bool = False) -> VerletParameters:
    """Forces of the starting positions; the parameters for :func:`velocity_verlet_step`."""
    parameters = VerletParameters(_check_timestep(timestep_fs))
    force_field(state, need_stress)
    return parameters


def velocity_verlet_step(state: BatchedState, parameters: VerletParameters,
                         force_field: ForceField, need_stress: bool = False) -> BatchedState:
    """One velocity-Verlet step of every replica, in ASE's order of operations.

    ``p += dt/2 F; r += dt p/m; F = F(r); p += dt/2 F``.
    """
    dt = parameters.timestep
    state.momenta.add_(state.forces, alpha=0.5 * dt)
    state.positions.add_(dt * state.momenta / state.masses[:, None])
    state.step += 1
    force_field(state, need_stress)
    state.momenta.add_(state.forces, alpha=0.5 * dt)
    return state


def langevin_init(state: BatchedState, force_field: ForceField, timestep_fs: float,
                  temperature_K: float | Sequence[float] | torch.Tensor,
                  friction_per_fs: float | Sequence[float] | torch.Tensor,
                  noise: NoiseSource, need_stress: bool = False) -> LangevinParameters:
    """Forces of the starting positions; the parameters for :func:`langevin_step`.

    Args:
        state: the replicas.
        force_field: the force field.
        timestep_fs: time step, fs.
        temperature_K: target temperature, one value or one per replica [B], K.
        friction_per_fs: friction γ, one value or one per replica [B], 1/fs (0 is NVE).
        noise: the noise source (bound here to the state's layout).
        need_stress: compute the stress of the starting positions too.
    """
    device = state.positions.device
    parameters = LangevinParameters(
        _check_timestep(timestep_fs),
        per_replica(temperature_K, state.n_replicas, "temperature_K", device, 0.0),
        per_replica(friction_per_fs, state.n_replicas, "friction_per_fs", device, 0.0),
        noise)
    noise.bind(state.batch, state.n_replicas)
    force_field(state, need_stress)
    return parameters


def langevin_step(state: BatchedState, parameters: LangevinParameters,
                  force_field: ForceField, need_stress: bool = False) -> BatchedState:
    """One BAOAB step of every replica.

    ``B``: ``p += dt/2 F``; ``A``: ``r += dt/2 p/m``; ``O``: ``p = c p + sqrt((1 - c²) m kT) ξ``
    with ``c = exp(-γ dt)`` (exact Ornstein–Uhlenbeck), ``A``, forces, ``B``. The noise ξ
    [N, 3] of step ``t`` is ``parameters.noise.atoms(t, STREAM_LANGEVIN)``.
    """
    dt = parameters.timestep
    inverse_mass, decay, spread = parameters.coefficients(state)  # [N, 1] each
    state.momenta.add_(state.forces, alpha=0.5 * dt)
    state.positions.add_(0.5 * dt * state.momenta * inverse_mass)
    xi = parameters.noise.atoms(state.step, STREAM_LANGEVIN, state.positions.dtype)  # [N, 3]
    state.momenta.mul_(decay).add_(spread * xi)
    state.positions.add_(0.5 * dt * state.momenta * inverse_mass)
    state.step += 1
    force_field(state, need_stress)
    state.momenta.add_(state.forces, alpha=0.5 * dt)
    return state
