"""The atomistic part of the coupled model: site energies and forces of a cluster.

Two backends with one interface. :class:`ModelSiteEnergies` runs an nnpkit
:class:`~nnpkit.models.potential.Potential` and returns, by autograd, the gradient of any
weighted sum of site energies ``Σ_i c_i E_i``, which the blended and sharp energy
couplings need. :class:`CalculatorSiteEnergies` runs any ASE calculator (EMT, a pair
potential, xTB…) and gives the total forces only: enough for the force-based coupling,
while an energy coupling with it is refused (an ASE calculator does not expose the
derivatives of its per-atom energies).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.data.graph import atoms_to_graph
from nnpkit.errors import ConfigError
from nnpkit.models.potential import Potential
from nnpkit.neighbors import VerletNeighborList

__all__ = ["ModelSiteEnergies", "CalculatorSiteEnergies", "SiteEnergies", "site_energies_for"]


class ModelSiteEnergies:
    """Site energies of a non-periodic cluster from an nnpkit model, with gradients.

    Args:
        model: any nnpkit Potential (its ``cutoff`` is the interaction range).
        numbers: atomic numbers of the cluster's atoms [n].
        dtype: evaluation precision (float64 for patch tests).
        skin_A: Verlet skin of the neighbour list kept between calls, Å.
    """

    supports_energy = True

    def __init__(self, model: Potential, numbers: np.ndarray, dtype: torch.dtype = torch.float64,
                 skin_A: float = 1.0) -> None:
        parameter = next(iter(model.parameters()), None)
        same = parameter is None or parameter.dtype == dtype
        self.model = model if same else copy.deepcopy(model).to(dtype)  # never the caller's
        self.cutoff_A = float(model.cutoff)
        self.numbers = np.asarray(numbers)
        self.dtype = dtype
        self._neighbors = VerletNeighborList(self.cutoff_A, skin_A)

    def weighted(self, positions_A: np.ndarray, weights: np.ndarray
                 ) -> tuple[np.ndarray, float, np.ndarray]:
        """Site energies E_i [n] (eV), ``Σ_i c_i E_i`` (eV) and its gradient [n, 3] (eV/Å)
        for weights ``c`` [n]."""
        atoms = Atoms(numbers=self.numbers, positions=positions_A, pbc=False)
        graph = atoms_to_graph(atoms, self.cutoff_A, dtype=self.dtype, neighbors=self._neighbors)
        positions = graph.positions.detach().requires_grad_(True)  # [n, 3]
        site = self.model(graph.replace(positions=positions))["atomic_energies"]  # [n]
        weighted = (site * torch.as_tensor(weights, dtype=site.dtype)).sum()
        (gradient,) = torch.autograd.grad(weighted, positions)
        return (site.detach().numpy(), float(weighted.detach()),
                gradient.detach().double().numpy())

    def energy_and_forces(self, positions_A: np.ndarray) -> tuple[float, np.ndarray]:
        """Total energy (eV) and forces [n, 3] (eV/Å) of the cluster."""
        _, energy, gradient = self.weighted(positions_A, np.ones(len(self.numbers)))
        return energy, -gradient


class CalculatorSiteEnergies:
    """Total energy and forces of a non-periodic cluster from any ASE calculator.

    Args:
        calculator: the ASE calculator (a fresh Atoms is handed to it at every call).
        numbers: atomic numbers of the cluster's atoms [n].
        cutoff_A: the calculator's interaction range, Å (EMT's is about 5 Å for Cu).
    """

    supports_energy = False

    def __init__(self, calculator: Calculator, numbers: np.ndarray, cutoff_A: float) -> None:
        self.calculator = calculator
        self.numbers = np.asarray(numbers)
        self.cutoff_A = float(cutoff_A)

    def weighted(self, positions_A: np.ndarray, weights: np.ndarray
                 ) -> tuple[np.ndarray, float, np.ndarray]:
        """Not available: refused with the reason."""
        raise ConfigError(
            f"the energy-based couplings (bqce, sharp) need the gradient of a weighted sum "
            f"of site energies, which {type(self.calculator).__name__} does not provide; use "
            f"an nnpkit model, or the force-based coupling bqcf with this calculator")

    def energy_and_forces(self, positions_A: np.ndarray) -> tuple[float, np.ndarray]:
        """Total energy (eV) and forces [n, 3] (eV/Å) of the cluster."""
        atoms = Atoms(numbers=self.numbers, positions=positions_A, pbc=False)
        atoms.calc = self.calculator
        return float(atoms.get_potential_energy()), np.asarray(atoms.get_forces())


SiteEnergies = ModelSiteEnergies | CalculatorSiteEnergies


def site_energies_for(potential: Potential | Calculator, numbers: np.ndarray,
                      cutoff_A: float | None = None, dtype: torch.dtype = torch.float64
                      ) -> SiteEnergies:
    """The backend for ``potential``: an nnpkit model (or its NNPCalculator) runs through
    autograd, any other ASE calculator through its forces (``cutoff_A`` required)."""
    model = getattr(potential, "model", potential)
    if isinstance(model, Potential):
        return ModelSiteEnergies(model, numbers, dtype=dtype)
    if not isinstance(potential, Calculator):
        raise ConfigError(f"the atomistic model must be an nnpkit model or an ASE calculator, "
                          f"got {type(potential).__name__}")
    if cutoff_A is None:
        raise ConfigError(f"give the interaction cutoff (cutoff_A) of "
                          f"{type(potential).__name__}: the padding and handshake are sized "
                          f"by it")
    return CalculatorSiteEnergies(potential, numbers, cutoff_A)
