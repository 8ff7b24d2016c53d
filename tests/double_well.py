"""Test systems of the free-energy tests: a one-atom analytic double well (an nnpkit
``Potential``), and tiny untrained H/O/Na models for the solvation workflow's plumbing.

Each replica is one atom; its energy is

    U(x, y, z) = h [(x / a)² − 1]² + ½ k⊥ (y² + z²)

(a barrier ``h`` at x = 0 between minima at x = ±a, harmonic in y and z). The batched
engine runs it as any model: one call for the whole batch, forces by autograd. Because U
separates, the Boltzmann marginal of x is

    p(x) = ∫∫ e^{−βU} dy dz / Z ∝ e^{−β h [(x/a)² − 1]²} · (2π / (β k⊥)),

so the exact free energy along x is F(x) = −kT ln p(x) = h [(x/a)² − 1]² + const: the
well itself. :func:`bin_free_energy` gives its exact average over histogram bins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units

from nnpkit.data.graph import AtomicGraph
from nnpkit.models.potential import Potential

__all__ = ["TEMPERATURE_K", "KT_eV", "BARRIER_eV", "DoubleWell", "XCoordinate", "well_energy",
           "bin_free_energy", "particles",
           "tiny_ion_water_models"]

#: The double-well tests' temperature (K), kT (eV) and barrier height (4.5 kT).
TEMPERATURE_K = 300.0
KT_eV = units.kB * TEMPERATURE_K
BARRIER_eV = 4.5 * KT_eV


class DoubleWell(Potential):
    """``U = h [(x/a)² − 1]² + ½ k⊥ (y² + z²)`` per atom (no interactions), eV.

    Args:
        barrier_eV: h, eV.
        minimum_A: a, Å.
        transverse_eV_per_A2: k⊥, eV/Å².
        element: the particle's element (its mass is the element's).
    """

    kind = "double-well-test"

    def __init__(self, barrier_eV: float, minimum_A: float = 1.0,
                 transverse_eV_per_A2: float = 2.0, element: str = "H") -> None:
        super().__init__([element], cutoff=0.5)
        self.barrier_eV = float(barrier_eV)
        self.minimum_A = float(minimum_A)
        self.transverse_eV_per_A2 = float(transverse_eV_per_A2)

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        r = graph.positions  # [N, 3]
        u = (r[:, 0] / self.minimum_A) ** 2 - 1.0  # [N]
        return (self.barrier_eV * u * u
                + 0.5 * self.transverse_eV_per_A2 * (r[:, 1] ** 2 + r[:, 2] ** 2))

    def hyperparameters(self) -> dict:
        return {"barrier_eV": self.barrier_eV, "minimum_A": self.minimum_A,
                "transverse_eV_per_A2": self.transverse_eV_per_A2}


class XCoordinate:
    """The x coordinate of the first atom of each replica [B], Å (a collective variable)."""

    def __init__(self, n_atoms: list[int]) -> None:
        self.first = torch.as_tensor(np.concatenate([[0], np.cumsum(n_atoms)[:-1]]))  # [B]

    def __call__(self, positions: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        return positions[self.first.to(positions.device), 0]  # [B]


def well_energy(x_A: np.ndarray, barrier_eV: float, minimum_A: float = 1.0) -> np.ndarray:
    """h [(x/a)² − 1]², eV."""
    u = (np.asarray(x_A, dtype=float) / minimum_A) ** 2 - 1.0
    return barrier_eV * u * u


def bin_free_energy(edges_A: np.ndarray, barrier_eV: float, temperature_K: float,
                    minimum_A: float = 1.0, points_per_bin: int = 400) -> np.ndarray:
    """The exact free energy of each bin, ``−kT ln(∫_bin e^{−βU} dx / Δ)`` [n_bins], eV
    (what a histogram estimator converges to; up to a constant)."""
    kT = units.kB * temperature_K
    values = []
    for low, high in zip(edges_A[:-1], edges_A[1:], strict=True):
        x = np.linspace(low, high, points_per_bin)
        weights = np.exp(-well_energy(x, barrier_eV, minimum_A) / kT)
        values.append(-kT * np.log(np.trapezoid(weights, x) / (high - low)))
    return np.array(values)


def particles(x_A: list[float], element: str = "H") -> list[Atoms]:
    """One one-atom replica per starting x (y = z = 0, no cell)."""
    return [Atoms(element, positions=[(x, 0.0, 0.0)]) for x in x_A]


def tiny_ion_water_models(folder: Path) -> tuple[Path, Path]:
    """Two small BPNNs for H, O, Na (random weights, normalised on clusters): a model file
    and a committee of both. Their forces are not physical; the workflow's plumbing is."""
    from conftest import SMALL_CONFIG

    from nnpkit.apps.solvation.system import ion_water_cluster
    from nnpkit.data.graph import atoms_to_graph
    from nnpkit.data.stats import DatasetStatistics
    from nnpkit.models import BehlerParrinello, BPNNConfig
    from nnpkit.models.committee_file import write_committee_file
    from nnpkit.models.model_file import save_model

    statistics = DatasetStatistics(elements=("H", "O", "Na"),
                                   reference_energies_eV=(-13.6, -430.0, -1300.0),
                                   energy_scale_eV=0.5, residual_energy_std_eV_per_atom=0.01)
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = BehlerParrinello(["H", "O", "Na"], BPNNConfig(**SMALL_CONFIG), statistics)
        model.fit_feature_normalization(atoms_to_graph(ion_water_cluster("Na", 4, seed=s),
                                                       model.cutoff) for s in range(3))
        paths.append(save_model(folder / "committee" / f"member_{seed}.nnp", model,
                                statistics))
    write_committee_file(folder / "committee", paths, [1, 2], False)
    return paths[0], folder / "committee"
