"""The state of B MD replicas of any sizes in one set of tensors (the batched engine's core).

Atoms of all replicas are concatenated (``N = n_0 + … + n_{B-1}``) with a ``batch`` index
per atom, as in :class:`~nnpkit.data.graph.AtomicGraph`. Units are ASE's internal ones, so
that the integrators are the textbook formulas without conversion factors: positions Å,
masses amu, momenta amu·Å per ASE time unit (``ase.units.fs`` fs; ASE's own
``atoms.get_momenta()``), energies eV, forces eV/Å, stress eV/Å³ with ASE's sign (positive
under tension). Replica quantities (kinetic energy, temperature, volume, pressure) are
segment sums over ``batch``: one tensor operation each, never a loop over replicas.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms, units
from ase.md.velocitydistribution import Stationary, ZeroRotation

from nnpkit.errors import ConfigError

try:  # ASE >= 3.29 renamed MaxwellBoltzmannDistribution
    from ase.md.velocitydistribution import thermalize_momenta as _thermalize
except ImportError:  # pragma: no cover - older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as _thermalize

__all__ = ["BatchedState", "state_from_atoms", "state_to_atoms", "segment_sum",
           "kinetic_energy", "kinetic_tensor", "temperature", "volume", "pressure_tensor",
           "thermal_momenta"]


@dataclass
class BatchedState:
    """Positions, momenta, cells and the last force evaluation of B replicas.

    Attributes:
        positions: [N, 3], Å (float32 or float64: the engine's precision).
        momenta: [N, 3], amu·Å/t_ASE.
        masses: [N], amu.
        numbers: atomic numbers [N], int64.
        batch: replica index of each atom [N], int64, non-decreasing.
        cell: cell vectors as rows [B, 3, 3], Å.
        pbc: periodicity [B, 3], bool.
        n_atoms: atoms per replica [B], int64.
        energy: potential energy [B], eV, float64 (the model's plus the bias's).
        forces: [N, 3], eV/Å (the model's plus the bias's).
        stress: potential stress [B, 3, 3], eV/Å³ (NaN where not computed or not periodic).
        bias_energy: the bias's part of ``energy`` [B], eV, float64 (zero without a bias).
        step: MD steps done.
        stress_step: the step at which ``stress`` was last computed (-1: never).
        charge: total charge of each replica [B], e (``info["charge"]``; an input of the
            charge-aware models), float64.
    """

    positions: torch.Tensor
    momenta: torch.Tensor
    masses: torch.Tensor
    numbers: torch.Tensor
    batch: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    n_atoms: torch.Tensor
    energy: torch.Tensor
    forces: torch.Tensor
    stress: torch.Tensor
    bias_energy: torch.Tensor
    step: int = 0
    stress_step: int = -1
    charge: torch.Tensor = None  # type: ignore[assignment]  # filled in __post_init__

    def __post_init__(self) -> None:
        """Neutral replicas unless a charge is given."""
        if self.charge is None:
            self.charge = torch.zeros(self.n_atoms.shape[0], dtype=torch.float64,
                                      device=self.positions.device)  # [B]

    @property
    def n_replicas(self) -> int:
        """Number of replicas ``B``."""
        return int(self.n_atoms.shape[0])

    def replace(self, **changes: object) -> BatchedState:
        """A shallow copy with some fields replaced."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def state_from_atoms(structures: Sequence[Atoms], dtype: torch.dtype = torch.float64,
                     device: str | torch.device = "cpu") -> BatchedState:
    """Concatenate replicas into a state; momenta are the Atoms' own (zero if unset).

    Raises:
        ConfigError: no structures, or an empty one (names its index).
    """
    if not structures:
        raise ConfigError("batched MD needs at least one structure")
    for index, atoms in enumerate(structures):
        if len(atoms) == 0:
            raise ConfigError(f"structure {index} has no atoms")
    n_atoms = torch.tensor([len(atoms) for atoms in structures], dtype=torch.long)  # [B]

    def cat(values: list[np.ndarray], kind: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.concatenate(values), dtype=kind, device=device)

    positions = cat([np.asarray(a.positions, dtype=np.float64) for a in structures], dtype)
    n_total = positions.shape[0]
    return BatchedState(
        positions=positions,  # [N, 3]
        momenta=cat([np.asarray(a.get_momenta(), dtype=np.float64) for a in structures], dtype),
        masses=cat([np.asarray(a.get_masses(), dtype=np.float64) for a in structures], dtype),
        numbers=cat([np.asarray(a.numbers) for a in structures], torch.long),  # [N]
        batch=torch.repeat_interleave(torch.arange(len(structures)), n_atoms).to(device),
        cell=torch.as_tensor(np.stack([a.cell.array for a in structures]), dtype=dtype,
                             device=device),  # [B, 3, 3]
        pbc=torch.as_tensor(np.stack([a.pbc for a in structures]), device=device),  # [B, 3]
        n_atoms=n_atoms.to(device),
        energy=torch.zeros(len(structures), dtype=torch.float64, device=device),
        forces=torch.zeros(n_total, 3, dtype=dtype, device=device),
        stress=torch.full((len(structures), 3, 3), float("nan"), dtype=dtype, device=device),
        bias_energy=torch.zeros(len(structures), dtype=torch.float64, device=device),
        charge=torch.tensor([float(a.info.get("charge", 0.0)) for a in structures],
                            dtype=torch.float64, device=device),  # [B]
    )


def state_to_atoms(state: BatchedState, templates: Sequence[Atoms]) -> list[Atoms]:
    """Copies of ``templates`` (no calculator) with the state's positions, momenta, cells.

    Outside the hot loop (observers, the final result): it loops over replicas.
    """
    positions = state.positions.detach().cpu().double().numpy()
    momenta = state.momenta.detach().cpu().double().numpy()
    cells = state.cell.detach().cpu().double().numpy()
    bounds = np.concatenate([[0], np.cumsum(state.n_atoms.cpu().numpy())])
    frames = []
    for b, template in enumerate(templates):
        frame = template.copy()
        frame.calc = None
        frame.set_cell(cells[b], scale_atoms=False)
        frame.set_positions(positions[bounds[b]:bounds[b + 1]], apply_constraint=False)
        frame.set_momenta(momenta[bounds[b]:bounds[b + 1]], apply_constraint=False)
        frames.append(frame)
    return frames


def segment_sum(values: torch.Tensor, batch: torch.Tensor, n_replicas: int) -> torch.Tensor:
    """Sum of ``values`` [N, ...] over the atoms of each replica: [B, ...]."""
    out = values.new_zeros((n_replicas, *values.shape[1:]))
    return out.index_add_(0, batch, values)


def kinetic_energy(state: BatchedState) -> torch.Tensor:
    """Kinetic energy per replica [B], eV, float64."""
    momenta = state.momenta.double()
    per_atom = 0.5 * (momenta * momenta).sum(dim=1) / state.masses.double()  # [N]
    return segment_sum(per_atom, state.batch, state.n_replicas)


def kinetic_tensor(state: BatchedState) -> torch.Tensor:
    """``Σ_i p_i p_iᵀ / m_i`` per replica [B, 3, 3], eV (twice the kinetic-energy tensor)."""
    outer = torch.einsum("ni,nj->nij", state.momenta, state.momenta) / state.masses[:, None, None]
    return segment_sum(outer, state.batch, state.n_replicas)


def temperature(state: BatchedState) -> torch.Tensor:
    """Instantaneous temperature per replica [B], K, with 3·n_b degrees of freedom.

    The engine conserves no centre-of-mass constraint (Langevin noise acts on every
    atom), so every replica has ``3 n_b`` kinetic degrees of freedom.
    """
    return 2.0 * kinetic_energy(state) / (3.0 * state.n_atoms.double() * units.kB)


def volume(state: BatchedState) -> torch.Tensor:
    """Cell volume per replica [B], Å³, float64; NaN where not periodic along all axes."""
    value = torch.abs(torch.linalg.det(state.cell.double()))  # [B]
    return torch.where(state.pbc.all(dim=1), value, torch.full_like(value, float("nan")))


def pressure_tensor(state: BatchedState) -> torch.Tensor:
    """Instantaneous pressure tensor ``Σ p pᵀ/(m V) − σ`` per replica [B, 3, 3], eV/Å³.

    Needs a current ``state.stress`` (NaN otherwise, and for non-periodic replicas); its
    trace over 3 is the pressure that ASE's ``get_stress(include_ideal_gas=True)`` gives.
    """
    vol = volume(state).to(state.stress.dtype)[:, None, None]  # [B, 1, 1]
    return kinetic_tensor(state) / vol - state.stress


def thermal_momenta(structures: Sequence[Atoms], temperature_K: Sequence[float],
                    seeds: Sequence[int]) -> list[np.ndarray]:
    """Maxwell–Boltzmann momenta per replica [n_b, 3] (amu·Å/t_ASE), as ``nnpkit md`` draws
    them: centre-of-mass motion removed, and rigid rotation for non-periodic replicas
    (the temperature kept by rescaling; a one-atom replica starts at rest).

    Replica ``b`` uses ``numpy.random.default_rng(seeds[b])``, so its momenta do not depend
    on the other replicas. Initialisation only: it loops over replicas.
    """
    momenta = []
    for atoms, kelvin, seed in zip(structures, temperature_K, seeds, strict=True):
        if not kelvin > 0:  # at 0 K every replica starts at rest
            momenta.append(np.zeros((len(atoms), 3)))
            continue
        work = atoms.copy()
        work.set_constraint()
        _thermalize(work, temperature_K=float(kelvin), rng=np.random.default_rng(int(seed)))
        Stationary(work, preserve_temperature=len(work) > 1)  # one atom: at rest
        if not np.any(work.pbc) and len(work) > 1:
            with np.errstate(divide="ignore", invalid="ignore"):  # linear molecules: a zero
                ZeroRotation(work)  # moment of inertia, which ASE masks after dividing
        momenta.append(work.get_momenta())
    return momenta
