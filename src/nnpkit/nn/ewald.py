"""The periodic Coulomb matrix of Gaussian (or point) charges through torch-pme's Ewald sum.

The long-range part is torch-pme's :class:`torchpme.EwaldCalculator` on point charges;
charges are the identity matrix with one channel per atom, so one call gives every
column of the matrix. The finite width of the Gaussians is a real-space correction
``k_e (erf(r/(√2 γ_ij)) − 1)/r`` over the image pairs within the cutoff (an atom's own
images included), and the background convention is fixed so that the energy is that of
the charge density with its k = 0 Fourier component dropped (a uniform neutralising
background; for a neutral cell the convention does not matter).

torch-pme is an optional dependency (``pip install 'nnpkit[response]'``), imported on
first periodic use, so molecules need only torch.

Truncation: with ``x`` such that ``erfc(x) = accuracy/10``, the real-space cutoff is
``√2·x·max(s, γ_max)`` and the reciprocal cutoff ``|k| ≤ √2·x/s`` (s the Ewald smearing).
Every neglected term is then below accuracy/10 times its leading size; the many terms
near the cutoffs add up to a relative error of the energy of about ``accuracy`` (measured
1e-7 to 1e-6 at accuracy 1e-6 on the test cells).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import torch

from nnpkit.neighbors import neighbor_list
from nnpkit.units import COULOMB_EV_A

__all__ = ["periodic_coulomb_matrix", "ewald_parameters"]

#: Default Ewald smearing as a fraction of the cube root of the cell volume; the matrix
#: costs O(N² n_k) in reciprocal and O(n_pairs) in real space, and this balances them
#: on one CPU thread for cells of 8 to 216 atoms.
_SMEARING_PER_LENGTH = 0.08


def _erfc_inverse(value: float) -> float:
    """x with erfc(x) = value, for 0 < value < 1 (bisection, to 1e-12)."""
    low, high = 0.0, 30.0
    for _ in range(100):
        middle = 0.5 * (low + high)
        if math.erfc(middle) > value:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def ewald_parameters(
    cell: np.ndarray, max_pair_width_A: float, accuracy: float, smearing_A: float | None
) -> tuple[float, float, float]:
    """Ewald smearing s (Å), real-space cutoff (Å) and reciprocal cutoff (1/Å).

    Args:
        cell: cell vectors as rows, shape [3, 3], Å.
        max_pair_width_A: largest γ_ij = sqrt(σ_i² + σ_j²), Å (0 for point charges).
        accuracy: target relative accuracy of the energy, 0 < accuracy < 1 (erfc is
            accuracy/10 at both truncations).
        smearing_A: Ewald smearing s, Å; ``None`` chooses
            ``max(0.08·V^(1/3), γ_max)`` (the Gaussian correction sets the cutoff to at
            least √2·x·γ_max anyway, so a smearing below γ_max only adds k-vectors).
    """
    if not 0.0 < accuracy < 1.0:
        raise ValueError(f"ewald_accuracy must lie in (0, 1), got {accuracy}")
    volume = abs(float(np.linalg.det(cell)))
    if smearing_A is None:
        smearing_A = max(_SMEARING_PER_LENGTH * volume ** (1.0 / 3.0), max_pair_width_A)
    if smearing_A <= 0.0:
        raise ValueError(f"smearing_A must be positive, got {smearing_A}")
    x = _erfc_inverse(0.1 * accuracy)  # the tails' many terms add up to ~10 such values
    cutoff_A = math.sqrt(2.0) * x * max(smearing_A, max_pair_width_A)
    k_cutoff = math.sqrt(2.0) * x / smearing_A
    return smearing_A, cutoff_A, k_cutoff


def _torchpme() -> ModuleType:
    """torch-pme, an optional dependency (the ``response`` extra), imported on first use."""
    try:
        import torchpme
    except ImportError as error:
        raise ImportError(
            "periodic electrostatics needs torch-pme: pip install 'nnpkit[response]'"
        ) from error
    return torchpme


def _kvectors(cell: torch.Tensor, k_cutoff: float) -> torch.Tensor:
    """All reciprocal vectors with |k| ≤ k_cutoff, shape [n_k, 3], 1/Å (differentiable in cell).

    A point k = m·B has |m_a| ≤ |k|·|a_a|/(2π), so the index box below holds the sphere.
    """
    lengths = np.linalg.norm(cell.detach().cpu().numpy(), axis=1)  # [3]
    half_widths = np.ceil(k_cutoff * lengths / (2.0 * math.pi)).astype(np.int64)
    ns = torch.as_tensor(2 * half_widths + 1, device=cell.device)  # odd: symmetric range
    kvectors = _torchpme().lib.generate_kvectors_for_ewald(cell=cell, ns=ns)  # [n_box, 3]
    inside = (kvectors.detach() ** 2).sum(dim=1) <= k_cutoff**2
    return kvectors[inside]  # [n_k, 3]


def periodic_coulomb_matrix(
    positions: torch.Tensor,
    widths_A: torch.Tensor | None,
    cell: torch.Tensor,
    *,
    accuracy: float,
    smearing_A: float | None,
) -> torch.Tensor:
    """Coulomb matrix of a fully periodic cell, shape [N, N], eV/e².

    Args:
        positions: Cartesian positions, shape [N, 3], Å.
        widths_A: Gaussian widths σ_i, shape [N], Å; ``None`` for point charges (then
            the diagonal holds only the interaction with the atom's own images).
        cell: cell vectors as rows, shape [3, 3], Å.
        accuracy: target relative accuracy of the energy (see the module docstring).
        smearing_A: Ewald smearing, Å, or ``None`` for the default.

    Returns:
        A with E = ½ qᵀ A q, symmetric; differentiable in positions, widths and cell.
    """
    n_atoms = positions.shape[0]
    dtype, device = positions.dtype, positions.device
    max_pair_width = 0.0
    if widths_A is not None:
        max_pair_width = math.sqrt(2.0) * float(widths_A.detach().max())
    smearing, cutoff, k_cutoff = ewald_parameters(
        cell.detach().cpu().numpy().astype(np.float64), max_pair_width, accuracy, smearing_A
    )
    i, j, shifts = neighbor_list(
        positions.detach().cpu().numpy(), cell.detach().cpu().numpy(), np.ones(3, bool), cutoff
    )
    index_i = torch.as_tensor(i, device=device)  # [n_pairs]
    index_j = torch.as_tensor(j, device=device)  # [n_pairs]
    shift_vectors = torch.as_tensor(shifts, dtype=dtype, device=device) @ cell  # [n_pairs, 3]
    vectors = positions[index_j] - positions[index_i] + shift_vectors  # [n_pairs, 3]
    distances = torch.linalg.norm(vectors, dim=1)  # [n_pairs]

    torchpme = _torchpme()
    calculator = torchpme.EwaldCalculator(
        torchpme.CoulombPotential(smearing=smearing, prefactor=COULOMB_EV_A),
        lr_wavelength=2.0 * math.pi / k_cutoff,  # unused: the k-vectors are passed in
        full_neighbor_list=True,
    ).to(dtype=dtype, device=device)
    identity = torch.eye(n_atoms, dtype=dtype, device=device)  # [N, N]: one channel per atom
    potentials = calculator(
        charges=identity,
        cell=cell,
        positions=positions,
        neighbor_indices=torch.stack([index_i, index_j], dim=1),
        neighbor_distances=distances,
        kvectors=_kvectors(cell, k_cutoff),
    )  # [N, N]: V_i = ½ Σ_j A_ij q_j per channel
    matrix = 2.0 * potentials  # [N, N]
    if widths_A is None:
        return 0.5 * (matrix + matrix.T)

    widths = widths_A.to(dtype)
    pair_widths = torch.sqrt(widths[index_i] ** 2 + widths[index_j] ** 2)  # [n_pairs]
    correction = COULOMB_EV_A * (
        -torch.erfc(distances / (math.sqrt(2.0) * pair_widths)) / distances
    )  # [n_pairs]: erf(r/√2γ)/r − 1/r
    flat = matrix.reshape(-1).index_add(0, index_i * n_atoms + index_j, correction)
    matrix = flat.reshape(n_atoms, n_atoms)
    # the image sum of (erf − 1)/r has the k = 0 component −2πγ²/V; drop it, as Ewald
    # drops the k = 0 term of the point charges, so that E is that of the density's k ≠ 0 part
    volume = torch.abs(torch.linalg.det(cell))
    all_pair_widths_sq = widths[:, None] ** 2 + widths[None, :] ** 2  # [N, N]
    matrix = matrix + (2.0 * math.pi * COULOMB_EV_A / volume) * all_pair_widths_sq
    self_energy = COULOMB_EV_A / (math.sqrt(math.pi) * widths)  # [N]
    matrix = matrix + torch.diag(self_energy)
    return 0.5 * (matrix + matrix.T)
