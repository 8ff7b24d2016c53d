"""The Cauchy–Born continuum: a hyperelastic strain-energy density W(F) from a potential.

By the Cauchy–Born rule a homogeneously deformed Bravais lattice follows the continuum
deformation gradient ``F``: cell rows and positions become ``cell @ Fᵀ`` and
``positions @ Fᵀ``. The strain-energy density per *reference* volume is then
``W(F) = E_atom(F · cell) / V0`` (absolute model energy, reference energies included).

:class:`CauchyBorn` evaluates W for all quadrature points as one batch of 1-atom graphs
with an nnpkit :class:`~nnpkit.models.potential.Potential`; the first Piola–Kirchhoff
stress ``P = ∂W/∂F`` and the tangent ``A = ∂²W/∂F∂F`` come by autograd. The neighbour
graph is built once, at ``cutoff · (1 + max_stretch)``: for ``F`` whose singular values lie
in ``[1/(1 + max_stretch), 1 + max_stretch]`` a deformed pair at distance ``r < cutoff``
had ``|F⁻¹ r| ≤ (1 + max_stretch) r`` in the reference, so no pair inside the cutoff is
missed; pairs beyond the cutoff contribute exactly zero (the cosine cutoff of
:mod:`nnpkit.nn.cutoff`). :class:`CalculatorCauchyBorn` does the same for any ASE
calculator from its energy and stress, the tangent by central differences.
:func:`relaxed_primitive_cell` gives the stress-free reference.

Units: F dimensionless, W, P and A in eV/Å³ (per reference volume), stiffness in GPa.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from nnpkit.data.graph import AtomicGraph, atoms_to_graph
from nnpkit.errors import ConfigError, DataError, LabelingError
from nnpkit.models.potential import Potential
from nnpkit.paths.voigt import tensor_to_voigt
from nnpkit.units import EV_PER_A3_TO_GPA

__all__ = ["CauchyBorn", "CalculatorCauchyBorn", "relaxed_primitive_cell"]

def _require_bravais(cell: Atoms) -> None:
    if not bool(np.all(cell.pbc)):
        raise DataError(f"Cauchy–Born needs a cell periodic in 3D; got pbc={list(cell.pbc)}")
    if len(cell) != 1:
        raise DataError(f"Cauchy–Born here needs a Bravais lattice, 1 atom per primitive "
                        f"cell; got {len(cell)}")


def _check_shape(deformation_gradient: np.ndarray | torch.Tensor) -> None:
    if deformation_gradient.ndim != 3 or tuple(deformation_gradient.shape[1:]) != (3, 3):
        raise DataError(f"deformation gradients must have shape [n, 3, 3], got "
                        f"{tuple(deformation_gradient.shape)}")


def _stiffness_from_tangent(tangent: np.ndarray) -> np.ndarray:
    """Voigt stiffness [6, 6], GPa, of the tangent [3, 3, 3, 3] eV/Å³ at F = I (minor
    symmetrised, which is the second derivative of W(I + ε) in the symmetric strain ε)."""
    sym = 0.25 * (tangent + tangent.transpose(1, 0, 2, 3) + tangent.transpose(0, 1, 3, 2)
                  + tangent.transpose(1, 0, 3, 2))
    voigt = tensor_to_voigt(sym)
    return 0.5 * (voigt + voigt.T) * EV_PER_A3_TO_GPA


class CauchyBorn:
    """Hyperelastic strain-energy density W(F) of a Bravais lattice by the Cauchy–Born
    rule, evaluated by an nnpkit Potential on the deformed primitive cell.

    Args:
        cell: the reference primitive cell, periodic in 3D, exactly one atom (relax it
            first, :func:`relaxed_primitive_cell`); not modified.
        model: any nnpkit Potential (a frozen copy in ``dtype`` is kept).
        dtype: precision of the model evaluation (W is summed in float64).
        max_stretch: F is accepted while its singular values lie in
            ``[1/(1 + max_stretch), 1 + max_stretch]``.
        chunk_size: deformation gradients per model call.

    Attributes:
        reference_volume_A3: volume per atom of the undeformed cell, Å³.
        atomic_energy_eV: absolute model energy per atom of the undeformed cell, eV.

    Raises:
        DataError: the cell is not periodic in 3D or has more than one atom.
        ConfigError: ``max_stretch`` or ``chunk_size`` out of range.
    """

    def __init__(self, cell: Atoms, model: Potential, dtype: torch.dtype = torch.float64,
                 max_stretch: float = 0.15, chunk_size: int = 4096) -> None:
        _require_bravais(cell)
        if not 0.0 < max_stretch < 1.0:
            raise ConfigError(f"max_stretch must lie in (0, 1), got {max_stretch}")
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size}")
        self.max_stretch = float(max_stretch)
        self.chunk_size = int(chunk_size)
        self.dtype = dtype
        self.device = next(model.parameters()).device
        self.model = copy.deepcopy(model).to(device=self.device, dtype=dtype).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        graph = atoms_to_graph(cell, self.model.cutoff * (1.0 + self.max_stretch),
                               dtype=dtype).to(self.device)
        self._template = graph  # the 1-atom graph, reference geometry
        self.reference_volume_A3 = abs(float(np.linalg.det(cell.cell.array)))
        identity = torch.eye(3, dtype=dtype, device=self.device)[None]  # [1, 3, 3]
        with torch.no_grad():
            energy = self._chunk_energy_density(identity)
        self.atomic_energy_eV = float(energy[0]) * self.reference_volume_A3

    def _batched_graph(self, deformation: torch.Tensor) -> AtomicGraph:
        """B copies of the 1-atom graph deformed by F [B, 3, 3] (rows mapped by Fᵀ)."""
        template = self._template
        b = deformation.shape[0]
        n_edges = template.edge_index.shape[1]
        transposed = deformation.transpose(1, 2)  # [B, 3, 3]
        positions = (template.positions[None] @ transposed).reshape(b, 3)  # [B, 3]
        cell = template.cell @ transposed  # [B, 3, 3]
        offsets = torch.arange(b, device=self.device).repeat_interleave(n_edges)  # [B·E]
        return AtomicGraph(
            numbers=template.numbers.repeat(b),  # [B]
            positions=positions,
            cell=cell,
            pbc=template.pbc.repeat(b, 1),  # [B, 3]
            batch=torch.arange(b, device=self.device),  # [B]
            edge_index=template.edge_index.repeat(1, b) + offsets,  # [2, B·E]
            cell_shifts=template.cell_shifts.repeat(b, 1),  # [B·E, 3]
            n_atoms=torch.ones(b, dtype=torch.long, device=self.device),  # [B]
            energy=torch.full((b,), float("nan"), dtype=torch.float64,
                              device=self.device),  # [B]
            forces=torch.full((b, 3), float("nan"), dtype=self.dtype,
                              device=self.device),  # [B, 3]
            stress=torch.full((b, 3, 3), float("nan"), dtype=self.dtype,
                              device=self.device),  # [B, 3, 3]
        )

    def _chunk_energy_density(self, deformation: torch.Tensor) -> torch.Tensor:
        """W [B], eV/Å³, of one chunk of already checked F [B, 3, 3]."""
        energy = self.model(self._batched_graph(deformation))["energy"]  # [B], float64
        return energy / self.reference_volume_A3

    def _check_range(self, deformation: torch.Tensor) -> None:
        """Refuse F with a singular value outside the stretch range or det F ≤ 0."""
        values = torch.linalg.svdvals(deformation.detach().double())  # [n, 3]
        low, high = 1.0 / (1.0 + self.max_stretch), 1.0 + self.max_stretch
        tolerance = 1e-12
        bad = ((values.min(1).values < low - tolerance)
               | (values.max(1).values > high + tolerance)
               | (torch.linalg.det(deformation.detach().double()) <= 0)
               | ~torch.isfinite(deformation.detach()).all(2).all(1))
        if bool(bad.any()):
            indices = torch.nonzero(bad).flatten().tolist()
            shown = ", ".join(str(k) for k in indices[:20]) + (" …" if len(indices) > 20 else "")
            raise DataError(
                f"deformation gradient(s) of element(s) {shown} ({len(indices)} in all) are "
                f"outside the Cauchy–Born range: singular values must lie in "
                f"[{low:.4f}, {high:.4f}] (max_stretch={self.max_stretch}) with det F > 0; "
                f"raise max_stretch if the deformation is physical")

    def energy_density(self, deformation_gradient: torch.Tensor) -> torch.Tensor:
        """W [n], eV/Å³ per reference volume, of deformation gradients F [n, 3, 3].

        ``W(F) = E_atom(F · cell) / V0`` (so ``W(I) = atomic_energy_eV /
        reference_volume_A3``); differentiable in F; evaluated in chunks of
        ``chunk_size`` batched structures.

        Raises:
            DataError: a bad shape, or the element indices whose F is outside the
                ``max_stretch`` range (or inverted, det F ≤ 0).
        """
        _check_shape(deformation_gradient)
        deformation = deformation_gradient.to(device=self.device, dtype=self.dtype)
        self._check_range(deformation)
        return torch.cat([self._chunk_energy_density(chunk)
                          for chunk in deformation.split(self.chunk_size)])

    def _per_chunk(self, deformation_gradient: np.ndarray,
                   work: Callable[[torch.Tensor], list[torch.Tensor]]) -> list[np.ndarray]:
        """Check F [n, 3, 3], run ``work`` on each chunk (F with requires_grad) and
        concatenate its outputs as float64 arrays."""
        array = np.asarray(deformation_gradient, dtype=np.float64)
        _check_shape(array)
        deformation = torch.as_tensor(array, dtype=self.dtype, device=self.device)
        self._check_range(deformation)
        parts: list[list[np.ndarray]] = []
        for chunk in deformation.split(self.chunk_size):
            leaf = chunk.detach().clone().requires_grad_(True)
            parts.append([t.detach().cpu().double().numpy() for t in work(leaf)])
        return [np.concatenate(column) for column in zip(*parts, strict=True)]

    def first_piola(self, deformation_gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(W [n], P [n, 3, 3])`` in eV/Å³ for F [n, 3, 3]; ``P_iJ = ∂W/∂F_iJ`` by autograd."""
        def work(leaf: torch.Tensor) -> list[torch.Tensor]:
            density = self._chunk_energy_density(leaf)
            (piola,) = torch.autograd.grad(density.sum(), leaf)
            return [density, piola]

        density, piola = self._per_chunk(deformation_gradient, work)
        return density, piola

    def tangent(self, deformation_gradient: np.ndarray) -> np.ndarray:
        """A [n, 3, 3, 3, 3] eV/Å³ for F [n, 3, 3]: ``A_iJkL = ∂²W/∂F_iJ ∂F_kL`` by double
        backward (nine backward passes per chunk)."""
        def work(leaf: torch.Tensor) -> list[torch.Tensor]:
            density = self._chunk_energy_density(leaf)
            (piola,) = torch.autograd.grad(density.sum(), leaf, create_graph=True)
            rows = [torch.autograd.grad(piola[:, i, j].sum(), leaf, retain_graph=True)[0]
                    for i in range(3) for j in range(3)]  # 9 × [b, 3, 3]
            return [torch.stack(rows, 1).reshape(-1, 3, 3, 3, 3)]

        (tangent,) = self._per_chunk(deformation_gradient, work)
        return tangent

    def stiffness_GPa(self) -> np.ndarray:
        """Voigt stiffness [6, 6], GPa, from the tangent at F = I (minor-symmetrised);
        equals the elastic constants C when the reference cell is stress-free, and differs
        from them by terms of the order of the residual stress otherwise."""
        return _stiffness_from_tangent(self.tangent(np.eye(3)[None])[0])


class CalculatorCauchyBorn:
    """Cauchy–Born W, P and tangent for any ASE calculator (EMT, xTB, an nnpkit one…).

    ``W = E(F · cell) / V0``; ``P = J σ F⁻ᵀ`` from the calculator's stress (ASE sign,
    ``σ = (1/V) ∂E/∂ε``, tensile positive); the tangent by central differences of P with
    step ``step`` in each component of F (18 calculations per F). No ``energy_density``:
    without autograd this serves force-based coupling.

    Args:
        cell: the reference primitive cell, periodic in 3D, one atom; not modified.
        calculator: any ASE calculator that gives energy and stress.
        step: the central-difference step of the tangent (dimensionless), in (0, 0.01].

    Raises:
        DataError: the cell is not periodic or has more than one atom.
        ConfigError: a step out of range.
    """

    def __init__(self, cell: Atoms, calculator: Calculator, step: float = 1e-4) -> None:
        _require_bravais(cell)
        if not 0.0 < step <= 0.01:
            raise ConfigError(f"step must lie in (0, 0.01], got {step}")
        self.step = float(step)
        self.calculator = calculator
        self._cell = cell.copy()
        self._cell.calc = None
        self.reference_volume_A3 = abs(float(np.linalg.det(cell.cell.array)))
        self.atomic_energy_eV = self._energy_stress(np.eye(3))[0]

    def _energy_stress(self, deformation: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy (eV) and Cauchy stress [3, 3] (eV/Å³, ASE sign) of the cell deformed by F."""
        atoms = self._cell.copy()
        atoms.set_cell(self._cell.cell.array @ deformation.T, scale_atoms=True)
        atoms.calc = self.calculator
        return float(atoms.get_potential_energy()), np.asarray(atoms.get_stress(voigt=False))

    def _piola_one(self, deformation: np.ndarray) -> tuple[float, np.ndarray]:
        energy, stress = self._energy_stress(deformation)
        jacobian = float(np.linalg.det(deformation))
        return (energy / self.reference_volume_A3,
                jacobian * stress @ np.linalg.inv(deformation).T)

    def _checked(self, deformation_gradient: np.ndarray) -> np.ndarray:
        array = np.asarray(deformation_gradient, dtype=np.float64)
        _check_shape(array)
        bad = np.nonzero((np.linalg.det(array) <= 0) | ~np.isfinite(array).all((1, 2)))[0]
        if bad.size:
            raise DataError(f"deformation gradient(s) of element(s) "
                            f"{', '.join(map(str, bad[:20].tolist()))} are inverted or not "
                            f"finite (det F must be > 0)")
        return array

    def first_piola(self, deformation_gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(W [n], P [n, 3, 3])`` in eV/Å³ for F [n, 3, 3] (one calculation per F)."""
        array = self._checked(deformation_gradient)
        results = [self._piola_one(f) for f in array]
        return (np.array([w for w, _ in results]),
                np.array([p for _, p in results]).reshape(-1, 3, 3))

    def tangent(self, deformation_gradient: np.ndarray) -> np.ndarray:
        """A [n, 3, 3, 3, 3] eV/Å³, ``A_iJkL ≈ [P_iJ(F + h e_kL) - P_iJ(F - h e_kL)] / 2h``."""
        array = self._checked(deformation_gradient)
        tangent = np.zeros((len(array), 3, 3, 3, 3))  # [n, 3, 3, 3, 3]
        for n, deformation in enumerate(array):
            for k in range(3):
                for m in range(3):
                    shift = np.zeros((3, 3))
                    shift[k, m] = self.step
                    plus = self._piola_one(deformation + shift)[1]
                    minus = self._piola_one(deformation - shift)[1]
                    tangent[n, :, :, k, m] = (plus - minus) / (2.0 * self.step)
        return tangent

    def stiffness_GPa(self) -> np.ndarray:
        """Voigt stiffness [6, 6], GPa, from the tangent at F = I (see
        :meth:`CauchyBorn.stiffness_GPa`)."""
        return _stiffness_from_tangent(self.tangent(np.eye(3)[None])[0])


def relaxed_primitive_cell(symbol: str, calculator: Calculator, crystal: str = "fcc",
                           lattice_constant_A: float | None = None, fmax: float = 1e-6,
                           max_steps: int = 200) -> Atoms:
    """The 1-atom primitive cell (``ase.build.bulk``) relaxed isotropically with the
    calculator: BFGS on ``ase.filters.FrechetCellFilter(hydrostatic_strain=True)``, which
    for a cubic lattice is a full relaxation to zero stress.

    Args:
        symbol: the element, e.g. ``"Cu"``.
        calculator: any ASE calculator that gives stress.
        crystal: ``fcc``, ``bcc`` or ``sc`` (Bravais lattices).
        lattice_constant_A: the starting lattice constant, Å (default: ASE's tabulated one).
        fmax: convergence threshold on the filter's generalised forces, eV/Å (the cell
            part is the stress times the volume, eV).
        max_steps: BFGS steps before giving up.

    Returns:
        The relaxed cell, without a calculator.

    Raises:
        ConfigError: a crystal structure that is not a Bravais lattice here.
        LabelingError: the relaxation did not converge (the remaining force is named).
    """
    if crystal not in ("fcc", "bcc", "sc"):
        raise ConfigError(f"crystal must be 'fcc', 'bcc' or 'sc' (a Bravais lattice), got "
                          f"{crystal!r}")
    atoms = bulk(symbol, crystal, a=lattice_constant_A)
    atoms.calc = calculator
    target: Any = FrechetCellFilter(atoms, hydrostatic_strain=True)
    converged = bool(BFGS(target, logfile=None).run(fmax=fmax, steps=max_steps))
    if not converged:
        remaining = float(np.sqrt((target.get_forces() ** 2).sum(axis=1)).max())
        raise LabelingError(f"{symbol} {crystal} cell relaxation not converged in {max_steps} "
                            f"steps: largest generalised force {remaining:.3g} > {fmax:g}")
    relaxed = atoms.copy()
    relaxed.calc = None
    return relaxed
