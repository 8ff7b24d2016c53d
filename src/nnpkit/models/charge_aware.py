"""The charge-aware potential: environment-dependent charges by charge equilibration,
Gaussian-charge electrostatics, atomic polarizabilities and a uniform external field.

The energy of a structure with total charge Q in a uniform field F (V/Å) is

    E = Σ_i E_i^short + min_{Σq=Q} [ Σ_i (χ_i − F·r_i) q_i + ½ qᵀ (A + diag J) q ]
        − ½ Σ_i Fᵀ α_i F,

with the short-range atomic energies E_i^short, electronegativities χ_i (eV/e),
anisotropic atomic polarizabilities α_i (e·Å²/V) all from element networks on the
Behler–Parrinello symmetry functions, learned per-element hardnesses J_s and Gaussian
charge widths σ_s, and the Gaussian Coulomb matrix A (:mod:`nnpkit.nn.electrostatics`;
torch-pme's Ewald sum for periodic cells).

Why charge equilibration (4G-HDNNP) rather than latent charges with a correction: the
constraint conserves the total charge exactly, the charges respond to the field (the
charge-flow part of α) and to distant atoms, and, the charges being the energy's
constrained minimiser, μ = −∂E/∂F = Σ q_i r_i + Σ α_i F exactly (Hellmann–Feynman), so
the learned charges are the ones the dipole is made of. With ``field_dependent_charges:
false`` the charges are equilibrated without the field (the baseline: α = Σ α_i only).

The dipole origin is the coordinate origin (as PySCF's): for a charged structure μ
depends on it, μ(r + t) = μ(r) + Q t.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from ase.data import atomic_numbers, covalent_radii
from pydantic import Field
from torch import nn

from nnpkit.data.graph import AtomicGraph, edge_vectors
from nnpkit.data.stats import DatasetStatistics
from nnpkit.errors import ConfigError
from nnpkit.models.bpnn import (
    SymmetryFunctionSettings,
    descriptor_from_config,
    element_network_outputs,
    fit_descriptor_normalization,
)
from nnpkit.models.potential import Potential
from nnpkit.nn.atomic_polarizability import AtomicPolarizability
from nnpkit.nn.charge_equilibration import equilibrate_charges, qeq_energy
from nnpkit.nn.electrostatics import coulomb_matrix
from nnpkit.nn.mlp import MLP

__all__ = ["ChargeAwareConfig", "ChargeAwarePotential"]


class ChargeAwareConfig(SymmetryFunctionSettings):
    """Hyperparameters of the charge-aware model (``model: {kind: charge_aware, ...}``)."""

    kind: Literal["charge_aware"] = Field("charge_aware", description="Model family.")
    hidden: list[int] = Field([64, 64], description="Hidden layer widths per element.")
    n_polarizability_radial: int = Field(
        6, ge=1, description="Radial functions of the anisotropic atomic polarizabilities.")
    field_dependent_charges: bool = Field(
        True, description="Charges respond to the field (charge-flow polarizability); "
        "false: the baseline whose α is the sum of atomic polarizabilities.")
    atomic_polarizabilities: bool = Field(
        True, description="Learned (anisotropic) atomic polarizabilities; false: charge "
        "flow only.")


def _inverse_softplus(value: float) -> float:
    return float(torch.log(torch.expm1(torch.tensor(value))))


class ChargeAwarePotential(Potential):
    """Short-range element networks plus charge equilibration, electrostatics, field.

    Outputs (``forward``): ``atomic_energies`` [N] and ``energy`` [B] (eV), ``charges``
    [N] (e) and ``atomic_polarizabilities`` [N, 3, 3] (e·Å²/V).
    """

    kind = "charge_aware"
    responds_to_field = True
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    max_training_abs_charge: torch.Tensor

    def __init__(self, elements: list[str], config: ChargeAwareConfig,
                 statistics: DatasetStatistics | None = None) -> None:
        super().__init__(elements, config.cutoff_A)
        self.config = config
        self.descriptor = descriptor_from_config(config, len(elements))
        self.polarizability = AtomicPolarizability(len(elements), config.cutoff_A,
                                                   config.n_polarizability_radial)
        # outputs per atom: short-range energy, electronegativity, polarizability terms
        self.n_outputs = 2 + self.polarizability.n_coefficients
        n_features = self.descriptor.n_features
        self.element_networks = nn.ModuleList(
            MLP(n_features, config.hidden, self.n_outputs, config.activation)
            for _ in elements)
        radii = torch.tensor([covalent_radii[atomic_numbers[s]] for s in elements])
        self.raw_width = nn.Parameter(torch.log(torch.expm1(radii)))  # σ_s = softplus, Å
        self.raw_hardness = nn.Parameter(
            torch.full((len(elements),), _inverse_softplus(1.0)))  # J_s = softplus, eV/e²
        n = len(elements)
        self.register_buffer("feature_mean", torch.zeros(n, n_features))  # [S, F]
        self.register_buffer("feature_std", torch.ones(n, n_features))  # [S, F]
        # largest |total charge| seen in training; inf until recorded (an untrained model)
        self.register_buffer("max_training_abs_charge", torch.tensor(float("inf")))
        self.register_statistics_buffers()
        if statistics is not None:
            self.set_statistics(statistics)

    @torch.no_grad()
    def fit_feature_normalization(self, graphs: Iterable[AtomicGraph]) -> None:
        """Set the per-element feature mean and std from (a sample of) training graphs."""
        fit_descriptor_normalization(self, self.descriptor, graphs)

    @torch.no_grad()
    def record_training_charges(self, charges: torch.Tensor) -> None:
        """Remember the largest |total charge| [B] of the training structures (e): larger
        ones are refused at prediction time, as the model has not learned them."""
        self.max_training_abs_charge.fill_(float(charges.abs().max()) if charges.numel()
                                           else 0.0)

    def _check_inputs(self, graph: AtomicGraph) -> None:
        charge = graph.charge
        fractional = torch.nonzero(charge != torch.round(charge)).flatten()
        if fractional.numel():
            index = int(fractional[0])
            raise ConfigError(f"structure {index} has total charge {float(charge[index])}: "
                              "the charge must be an integer number of e")
        beyond = torch.nonzero(charge.abs() > self.max_training_abs_charge + 1e-9).flatten()
        if beyond.numel():
            index = int(beyond[0])
            seen = float(self.max_training_abs_charge)
            trained = "only neutral data" if seen == 0 else f"charges up to ±{seen:g} e"
            raise ConfigError(f"structure {index} has total charge {float(charge[index]):g} "
                              f"e, but this model was trained on {trained}")
        in_field = graph.field.abs().sum(dim=1) > 0
        periodic_in_field = torch.nonzero(in_field & graph.pbc.any(dim=1)).flatten()
        if periodic_in_field.numel():
            raise ConfigError(
                f"structure {int(periodic_in_field[0])} is periodic: a uniform electric field "
                "in periodic boundary conditions is not supported")

    def _element_outputs(self, graph: AtomicGraph, species: torch.Tensor,
                         vectors: torch.Tensor) -> torch.Tensor:
        """The element networks on the standardised descriptors: [N, n_outputs]."""
        features = self.descriptor(species, graph.edge_index, vectors)  # [N, F]
        features = (features - self.feature_mean[species]) / self.feature_std[species]
        return element_network_outputs(self.element_networks, features, species,
                                       self.n_outputs)

    def _hardness_matrix(self, graph: AtomicGraph, species: torch.Tensor) -> torch.Tensor:
        """H = A + diag(J) [N, N], eV/e², block-diagonal over the structures."""
        widths = nn.functional.softplus(self.raw_width)[species]  # [N]
        blocks = []
        start = 0
        for b, count in enumerate(graph.n_atoms.tolist()):
            atoms = slice(start, start + count)
            blocks.append(coulomb_matrix(graph.positions[atoms], widths[atoms],
                                         graph.cell[b], graph.pbc[b]))
            start += count
        coulomb = torch.block_diag(*blocks)
        hardness = nn.functional.softplus(self.raw_hardness)[species]  # [N]
        return coulomb + torch.diag(hardness.to(coulomb.dtype))

    def forward(self, graph: AtomicGraph) -> dict[str, torch.Tensor]:
        """Energies (eV), charges (e) and atomic polarizabilities (e·Å²/V) of a batch."""
        self._check_inputs(graph)
        species = self.species(graph.numbers)  # [N]
        vectors = edge_vectors(graph)  # [E, 3]
        outputs = self._element_outputs(graph, species, vectors)
        short_range = self.scale_and_shift(outputs[:, 0], species)  # [N], float64
        electronegativity = outputs[:, 1]  # [N], eV/e
        field_at_atom = graph.field[graph.batch]  # [N, 3]
        field_potential = (field_at_atom * graph.positions).sum(-1)  # [N], V
        hardness_matrix = self._hardness_matrix(graph, species)
        solve_potential = (field_potential if self.config.field_dependent_charges
                           else torch.zeros_like(field_potential))
        charges = equilibrate_charges(hardness_matrix, electronegativity, solve_potential,
                                      graph.batch, graph.charge)
        atomic = short_range + qeq_energy(charges, hardness_matrix, electronegativity,
                                          field_potential).double()
        polarizabilities = vectors.new_zeros(len(species), 3, 3)  # [N, 3, 3]
        if self.config.atomic_polarizabilities:
            polarizabilities = self.polarizability(outputs[:, 2:], species,
                                                   graph.edge_index, vectors)
            induced = torch.einsum("na,nab,nb->n", field_at_atom, polarizabilities,
                                   field_at_atom)
            atomic = atomic - 0.5 * induced.double()
        energy = atomic.new_zeros(graph.n_structures).index_add(0, graph.batch, atomic)  # [B]
        return {"atomic_energies": atomic, "energy": energy, "charges": charges,
                "atomic_polarizabilities": polarizabilities}

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        """Energy of each atom [N], eV (its share of the electrostatics included)."""
        return self.forward(graph)["atomic_energies"]

    def hyperparameters(self) -> dict:
        """The model config as a JSON-ready dict."""
        return self.config.model_dump()
