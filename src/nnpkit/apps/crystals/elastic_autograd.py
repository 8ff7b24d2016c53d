"""Clamped-ion elastic constants as second strain derivatives of an nnpkit model's energy.

For a differentiable potential ``C_IJ = (1/V) ∂²E/∂e_I ∂e_J`` at ``e = 0`` is computed
exactly by autograd (no finite-difference step), with the six Voigt engineering strains
``e`` deforming positions and cell by ``(1 + ε(e))``. This is the clamped-ion tensor of
the energy; it equals the stress–strain one (:func:`~nnpkit.apps.crystals.elastic_tensor`)
when the reference is stress-free (a relaxed cell), and differs from it by terms of the
order of the residual stress otherwise.
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from nnpkit.apps.crystals.inputs import require_periodic
from nnpkit.calculators.ase_calculator import NNPCalculator
from nnpkit.data.graph import atoms_to_graph
from nnpkit.errors import ConfigError
from nnpkit.paths.voigt import EV_PER_A3_TO_GPA

__all__ = ["clamped_ion_elastic_autograd"]


def _strain_tensor(e: torch.Tensor) -> torch.Tensor:
    """The symmetric strain [3, 3] of Voigt engineering strains [6], differentiably."""
    half = 0.5 * e
    rows = [torch.stack([e[0], half[5], half[4]]),
            torch.stack([half[5], e[1], half[3]]),
            torch.stack([half[4], half[3], e[2]])]
    return torch.stack(rows)


def clamped_ion_elastic_autograd(atoms: Atoms, calculator: NNPCalculator) -> np.ndarray:
    """The clamped-ion stiffness [6, 6], GPa, of ``atoms`` as it is (not relaxed).

    Args:
        atoms: a crystal periodic in three directions (relax it first for the
            equilibrium constants).
        calculator: an :class:`~nnpkit.calculators.NNPCalculator` (its model, device and
            precision are used); float64 is advisable.

    Raises:
        ConfigError: the calculator is not an nnpkit one (other calculators have no
            autograd energy: use :func:`~nnpkit.apps.crystals.elastic_tensor`).
        DataError: the structure is not periodic.
    """
    if not isinstance(calculator, NNPCalculator):
        raise ConfigError(f"autograd elastic constants need an nnpkit calculator, got "
                          f"{type(calculator).__name__}; use elastic_tensor for any calculator")
    require_periodic(atoms, "elastic constants")
    model = calculator.model
    graph = atoms_to_graph(atoms, model.cutoff, dtype=calculator.dtype).to(calculator.device)
    strain = torch.zeros(6, dtype=calculator.dtype, device=calculator.device,
                         requires_grad=True)
    deformation = torch.eye(3, dtype=calculator.dtype, device=calculator.device) + \
        _strain_tensor(strain)
    deformed = graph.replace(positions=graph.positions @ deformation,
                             cell=graph.cell @ deformation)
    energy = model(deformed)["energy"].sum()
    (gradient,) = torch.autograd.grad(energy, strain, create_graph=True)
    hessian = torch.stack([torch.autograd.grad(gradient[k], strain, retain_graph=True)[0]
                           for k in range(6)])  # [6, 6], eV
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    stiffness = hessian.detach().cpu().double().numpy() / volume * EV_PER_A3_TO_GPA
    return 0.5 * (stiffness + stiffness.T)
