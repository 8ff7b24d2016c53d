"""Per-replica biases added to the model's forces (umbrella windows, restraints).

A bias is any callable ``bias(positions [N, 3], batch [N]) -> (energy [B], forces [N, 3])``
(eV, eV/Å). :class:`BiasedForceField` adds it to a force field's energy, forces and, for
the barostat, stress. The example is :class:`HarmonicBias` on a collective variable, here
:class:`DistanceCV`; one centre and spring constant per replica makes a set of umbrella
windows one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from nnpkit.errors import ConfigError
from nnpkit.md.batched_state import BatchedState, segment_sum, volume
from nnpkit.md.integrators import ForceField

__all__ = ["Bias", "BiasedForceField", "DistanceCV", "HarmonicBias"]


class Bias(Protocol):
    """``(energy [B] eV, forces [N, 3] eV/Å)`` of the positions [N, 3] (batch [N])."""

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]: ...


class DistanceCV:
    """The distance between two atoms of each replica [B], Å (no minimum image).

    Args:
        first: index of the first atom within its replica, one per replica (or one for all).
        second: index of the second atom, likewise.
        n_atoms: atoms per replica [B] (to turn replica indices into batch indices).
    """

    def __init__(self, first: int | Sequence[int], second: int | Sequence[int],
                 n_atoms: Sequence[int]) -> None:
        sizes = np.asarray(n_atoms, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        local = [np.broadcast_to(np.asarray(index, dtype=np.int64), sizes.shape)
                 for index in (first, second)]
        for index in local:
            if (index < 0).any() or (index >= sizes).any():
                raise ConfigError(f"atom indices {index.tolist()} out of range for replicas "
                                  f"of {sizes.tolist()} atoms")
        self.first = torch.as_tensor(local[0] + offsets)  # [B], global
        self.second = torch.as_tensor(local[1] + offsets)  # [B]

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        first, second = self.first.to(positions.device), self.second.to(positions.device)
        return torch.linalg.norm(positions[second] - positions[first], dim=1)  # [B]


class HarmonicBias:
    """``E_b = ½ k_b (s_b(r) − s0_b)²`` on a collective variable s, forces by autograd.

    Args:
        collective_variable: ``s(positions [N, 3], batch [N]) -> [B]``, differentiable.
        center: s0 per replica [B] (or one value), in the CV's unit.
        spring_constant: k per replica [B] (or one value), eV per CV unit².
    """

    def __init__(self, collective_variable: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 center: float | Sequence[float], spring_constant: float | Sequence[float]
                 ) -> None:
        self.collective_variable = collective_variable
        self.center = torch.as_tensor(center, dtype=torch.float64)  # [B] or []
        self.spring_constant = torch.as_tensor(spring_constant, dtype=torch.float64)

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            r = positions.detach().double().requires_grad_(True)  # [N, 3]
            deviation = self.collective_variable(r, batch) - self.center.to(r.device)  # [B]
            energy = 0.5 * self.spring_constant.to(r.device) * deviation**2  # [B]
            (gradient,) = torch.autograd.grad(energy.sum(), r)
        return energy.detach(), (-gradient).to(positions.dtype)


class BiasedForceField:
    """A force field plus a bias: energy, forces and (virial of the bias) stress.

    The bias's stress is ``-(1/V) sym(Σ_i r_i ⊗ f_i)`` per replica, exact for a bias of the
    Cartesian positions that is translation invariant (a distance, an angle); the
    ``state.bias_energy`` field gets the bias's energy [B].
    """

    def __init__(self, force_field: ForceField, bias: Bias) -> None:
        self.force_field = force_field
        self.bias = bias

    def __call__(self, state: BatchedState, need_stress: bool) -> None:
        self.force_field(state, need_stress)
        energy, forces = self.bias(state.positions, state.batch)
        state.bias_energy = energy.double()  # [B]
        state.energy = state.energy + state.bias_energy
        state.forces = state.forces + forces
        if need_stress:
            virial = segment_sum(torch.einsum("ni,nj->nij", state.positions, forces),
                                 state.batch, state.n_replicas)  # [B, 3, 3]
            symmetric = 0.5 * (virial + virial.transpose(1, 2))
            vol = volume(state).to(virial.dtype)[:, None, None]
            state.stress = state.stress - symmetric / vol

    def max_force_std(self, state: BatchedState) -> torch.Tensor:
        """The wrapped force field's committee spread [B], eV/Å."""
        return self.force_field.max_force_std(state)  # type: ignore[attr-defined]
