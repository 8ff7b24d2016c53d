"""Per-replica biases added to the model's forces (umbrella windows, restraints, walls).

A bias is any callable ``bias(positions [N, 3], batch [N]) -> (energy [B], forces [N, 3])``
(eV, eV/Å). :class:`BiasedForceField` adds it to a force field's energy, forces and, for
the barostat, stress. :class:`HarmonicBias` restrains a collective variable (see
:mod:`nnpkit.md.collective_variables`; one centre and spring constant per replica makes a
set of umbrella windows one batch), :class:`SphericalWall` keeps a cluster together and
:class:`SumBias` adds biases. :class:`~nnpkit.md.bias_calculator.BiasedCalculator` puts any
of them on an ASE calculator; :mod:`nnpkit.md.metadynamics` has a time-dependent one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from nnpkit.errors import ConfigError
from nnpkit.md.batched_state import BatchedState, segment_sum, volume
from nnpkit.md.collective_variables import (
    CoordinationCV,
    DistanceCV,
    check_indices,
    indices_per_replica,
)
from nnpkit.md.integrators import ForceField

__all__ = ["Bias", "BiasedForceField", "CoordinationCV", "DistanceCV", "HarmonicBias",
           "SphericalWall", "SumBias"]


class Bias(Protocol):
    """``(energy [B] eV, forces [N, 3] eV/Å)`` of the positions [N, 3] (batch [N])."""

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]: ...


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


class SphericalWall:
    """A soft spherical wall: ``E_b = ½ k Σ_i max(0, |r_i − r_c| − R)²`` per replica [B].

    ``r_c`` is the centre of the selected atoms of the replica: their centroid, or their
    centre of mass when ``masses_amu`` is given. It moves with the atoms (its gradient is
    included), so the wall is translation invariant and exerts no net force: it keeps a
    cluster together without tethering it in space. Forces by autograd, float64.

    Args:
        n_atoms: atoms per replica [B].
        radius_A: the wall's radius R, one or per replica, Å (>= 0).
        spring_constant_eV_per_A2: k, one or per replica, eV/Å² (> 0).
        atoms: the atoms the wall acts on (and that define the centre), as indices within
            each replica: None (all), one list for all replicas, or one list per replica.
        masses_amu: masses of all N atoms of the batch [N] (centre of mass); None: centroid.

    Raises:
        ConfigError: bad radius or spring constant, an index outside its replica, an empty
            selection, or masses of the wrong length.
    """

    def __init__(self, n_atoms: Sequence[int], radius_A: float | Sequence[float],
                 spring_constant_eV_per_A2: float | Sequence[float],
                 atoms: Sequence[int] | Sequence[Sequence[int]] | None = None,
                 masses_amu: Sequence[float] | None = None) -> None:
        sizes = [int(size) for size in n_atoms]
        self.radius_A = torch.as_tensor(radius_A, dtype=torch.float64)  # [B] or []
        self.spring_constant = torch.as_tensor(spring_constant_eV_per_A2, dtype=torch.float64)
        if bool((self.radius_A < 0).any()) or not bool((self.spring_constant > 0).all()):
            raise ConfigError(f"SphericalWall needs radius_A >= 0 and a spring constant > 0, "
                              f"got {radius_A}, {spring_constant_eV_per_A2}")
        if atoms is None:
            selections = [list(range(size)) for size in sizes]
        else:
            selections = indices_per_replica(atoms, len(sizes), "SphericalWall atoms")
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        selected, replica = [], []
        for b, (chosen, size) in enumerate(zip(selections, sizes, strict=True)):
            check_indices(chosen, size, b, "SphericalWall")
            if not chosen:
                raise ConfigError(f"SphericalWall: no atoms selected in replica {b}")
            selected += [offsets[b] + index for index in chosen]
            replica += [b] * len(chosen)
        self.n_replicas = len(sizes)
        self.selected = torch.as_tensor(selected, dtype=torch.long)  # [S], global
        self.replica = torch.as_tensor(replica, dtype=torch.long)  # [S]
        if masses_amu is None:
            self.weights = torch.ones(len(selected), dtype=torch.float64)  # [S]
        else:
            masses = torch.as_tensor(masses_amu, dtype=torch.float64).reshape(-1)  # [N]
            if masses.numel() != offsets[-1]:
                raise ConfigError(f"SphericalWall: {masses.numel()} masses for "
                                  f"{offsets[-1]} atoms")
            self.weights = masses[self.selected]

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(energy [B] eV, forces [N, 3] eV/Å)``."""
        device = positions.device
        selected, replica = self.selected.to(device), self.replica.to(device)
        weights = self.weights.to(device)[:, None]  # [S, 1]
        with torch.enable_grad():
            r = positions.detach().double().requires_grad_(True)  # [N, 3]
            chosen = r[selected]  # [S, 3]
            total = segment_sum(weights, replica, self.n_replicas)  # [B, 1]
            center = segment_sum(weights * chosen, replica, self.n_replicas) / total  # [B, 3]
            squared = ((chosen - center[replica]) ** 2).sum(dim=1)  # [S]
            radius = self.radius_A.to(device).expand(self.n_replicas)[replica]  # [S]
            # sqrt of the clamped square: zero gradient inside, no nan at the centre
            excess = torch.sqrt(torch.maximum(squared, radius**2)) - radius  # [S]
            spring = self.spring_constant.to(device).expand(self.n_replicas)
            energy = 0.5 * spring * segment_sum(excess**2, replica, self.n_replicas)  # [B]
            (gradient,) = torch.autograd.grad(energy.sum(), r)
        return energy.detach(), (-gradient).to(positions.dtype)


class SumBias:
    """The sum of biases: energies [B] and forces [N, 3] added."""

    def __init__(self, *biases: Bias) -> None:
        if not biases:
            raise ConfigError("SumBias needs at least one bias")
        self.biases = biases

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(energy [B] eV, forces [N, 3] eV/Å)``: the sums over the biases."""
        energy, forces = self.biases[0](positions, batch)
        for bias in self.biases[1:]:
            more_energy, more_forces = bias(positions, batch)
            energy, forces = energy + more_energy, forces + more_forces
        return energy, forces


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
