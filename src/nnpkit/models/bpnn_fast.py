"""The low-latency evaluation of a Behler–Parrinello model: numba kernels, no autograd.

:class:`FastBehlerParrinello` copies a :class:`~nnpkit.models.bpnn.BehlerParrinello`'s
weights into numpy arrays once (the networks in the model's precision, the geometry,
features and sums in float64) and then evaluates energy, per-atom energies,
forces and stress of one structure from a neighbour list in one compiled call
(:func:`nnpkit.models.bpnn_kernels.evaluate_structure`).
It gives the same numbers as the autograd path (see ``tests/test_fast_path.py``) at a
fraction of the per-call cost on small systems.

It is what :class:`~nnpkit.calculators.NNPCalculator` uses for BPNN models by default
(and, through :class:`~nnpkit.models.committee_fast.FastCommittee`, for committees of them);
:func:`fast_path_for` says why a model cannot use it (another family, an unsupported
activation, or numba missing), and the calculator then falls back to autograd.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from nnpkit.errors import ConfigError
from nnpkit.models.bpnn import BehlerParrinello
from nnpkit.models.potential import Potential
from nnpkit.nn.mlp import MLP
from nnpkit.nn.symmetry_functions import SymmetryFunctions

if TYPE_CHECKING:
    from nnpkit.models.committee_fast import FastCommittee

__all__ = ["FastBehlerParrinello", "FastPathNotice", "PairGeometry", "PARALLEL_FROM_ATOMS",
           "choose_fast_path", "evaluation_result", "fast_path_for", "pair_geometry",
           "threads_for", "use_threads", "virial_to_stress"]


#: Structures (or batches) of at least this many atoms run the symmetry functions and
#: their backward pass over numba's threads (every core unless ``NUMBA_NUM_THREADS`` or
#: ``numba.set_num_threads`` says fewer); below it a parallel launch saves little.
PARALLEL_FROM_ATOMS = 256


def use_threads(n_atoms: int) -> bool:
    """Whether a structure of ``n_atoms`` runs the parallel kernels."""
    import numba

    return n_atoms >= PARALLEL_FROM_ATOMS and numba.get_num_threads() > 1


_BLAS_CONTROLLER: list = []  # the threadpoolctl controller, made at the first threaded call


@contextmanager
def threads_for(n_atoms: int) -> Iterator[bool]:
    """Context of one evaluation of ``n_atoms``: yields :func:`use_threads`, and where the
    parallel kernels run, keeps BLAS (the element networks' products, between the
    threaded kernels) on one thread, since OpenBLAS's idle workers spin and take the cores
    numba's threads need (measured: 2 BLAS threads made the threaded engine 2× slower)."""
    threaded = use_threads(n_atoms)
    if not threaded:
        yield False
        return
    if not _BLAS_CONTROLLER:
        import scipy.linalg.cython_blas  # noqa: F401 - the BLAS numba calls, loaded first
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER.append(ThreadpoolController())
    with _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas"):
        yield True


class FastPathNotice(UserWarning):
    """Autograd is used because the compiled path does not support the model or device."""


def fast_path_for(model: Potential) -> tuple[FastBehlerParrinello | FastCommittee | None, str]:
    """``(evaluator, "")`` for a model the fast path supports, else ``(None, reason)``.

    A :class:`~nnpkit.models.committee.Committee` whose members all have a compiled path
    gets a :class:`~nnpkit.models.committee_fast.FastCommittee` over them.
    """
    from nnpkit.models.committee import Committee

    if type(model) is Committee:
        from nnpkit.models.committee_fast import FastCommittee

        members = []
        for index, member in enumerate(model.potentials):
            evaluator, reason = fast_path_for(member)
            if not isinstance(evaluator, FastBehlerParrinello):
                reason = reason or "a nested committee"
                return None, f"committee member {index}: {reason}"
            members.append(evaluator)
        return FastCommittee(members), ""
    if type(model) is not BehlerParrinello:
        return None, f"no compiled path for model kind {model.kind!r}"
    try:
        import numba  # noqa: F401
    except ImportError:
        return None, "numba is not installed (pip install numba)"
    from nnpkit.models.bpnn_kernels import ACTIVATION_CODES

    if model.config.activation not in ACTIVATION_CODES:
        return None, f"no compiled path for activation {model.config.activation!r}"
    return FastBehlerParrinello(model), ""


def choose_fast_path(model: Potential, device: torch.device, wanted: bool | None,
                     user: str) -> FastBehlerParrinello | FastCommittee | None:
    """The compiled evaluator for ``model`` on ``device``, or None for autograd.

    Args:
        wanted: None uses the compiled path where supported and otherwise warns once
            (:class:`FastPathNotice`, naming ``user`` and the reason); True requires it;
            False never uses it. A model already in its inference form (the fused
            equivariant model) needs none: None, without a notice.
        user: what falls back, for the notice (e.g. ``"inference"``, ``"batched MD"``).

    Raises:
        ConfigError: ``wanted`` is True and the model or device is not supported.
    """
    if wanted is False or _inference_form(model):
        return None
    evaluator, reason = fast_path_for(model)
    if evaluator is not None and device.type != "cpu":
        evaluator, reason = None, f"the compiled path runs on the CPU, not {device}"
    if evaluator is None:
        if wanted:
            raise ConfigError(f"fast_path=True, but {reason}")
        warnings.warn(f"nnpkit: {user} with autograd ({reason})", FastPathNotice,
                      stacklevel=4)
    return evaluator


def _inference_form(model: Potential) -> bool:
    """Whether ``model`` (every member, for a committee) is already a fast inference form
    (:func:`~nnpkit.models.equivariant_fused.fused_for_inference`)."""
    from nnpkit.models.committee import Committee

    if type(model) is Committee:
        return all(_inference_form(member) for member in model.potentials)
    return model.is_inference_form


@dataclass(frozen=True)
class _SpeciesLayout:
    """Per-atom tables of one structure's elements (see ``species_layout``)."""

    species: np.ndarray  # [N] element index per atom
    by_species: np.ndarray  # [N] atoms grouped by element (stable)
    species_start: np.ndarray  # [S + 1] first grouped atom of each element
    mean: np.ndarray  # [N, F] feature means of the grouped atoms
    std: np.ndarray  # [N, F] feature scales of the grouped atoms
    grad_scale: np.ndarray  # [N, F] energy_scale / std
    reference_energies: np.ndarray  # [N] eV, per atom in atom order


class FastBehlerParrinello:
    """Float64 copy of a BPNN for fast single-structure evaluation.

    Args:
        model: the trained model (not modified; later changes to it are not seen).
    """

    def __init__(self, model: BehlerParrinello) -> None:
        from nnpkit.models.bpnn_kernels import ACTIVATION_CODES

        descriptor: SymmetryFunctions = model.descriptor
        config = model.config

        def array(tensor: torch.Tensor) -> np.ndarray:
            return tensor.detach().cpu().double().numpy().copy()

        self.elements = list(model.elements)
        self.cutoff = float(model.cutoff)
        self.species_of_number = model.species_of_number.cpu().numpy().copy()
        self.n_elements = len(self.elements)
        self.radial = (array(descriptor.radial_shifts), float(descriptor.radial_eta),
                       float(descriptor.cutoff_radius))
        self.angular = (array(descriptor.angular_shifts), float(descriptor.angular_eta),
                        float(descriptor.angular_cutoff_radius), array(descriptor.lambdas),
                        descriptor.zetas.cpu().numpy().round().astype(np.int64),
                        descriptor.pair_index.cpu().numpy().copy(),
                        int(descriptor.n_pairs))
        self.feature_mean = array(model.feature_mean)  # [S, F]
        self.feature_std = array(model.feature_std)  # [S, F]
        self.reference_energies = array(model.reference_energies)  # [S]
        self.energy_scale = float(model.energy_scale)
        self.activation = ACTIVATION_CODES[config.activation]
        blocks, widths = [], None
        for network in model.element_networks:
            assert isinstance(network, MLP)
            linears = [layer for layer in network if isinstance(layer, torch.nn.Linear)]
            widths = [linears[0].in_features] + [layer.out_features for layer in linears]
            for layer in linears:
                weight = array(layer.weight)  # [out, in]
                blocks += [weight.T.ravel(), weight.ravel(), array(layer.bias)]
        # the networks run in the model's precision (float32 BLAS is twice as fast)
        self.network_dtype = (np.float64 if model.feature_mean.dtype == torch.float64
                              else np.float32)
        self.flat_weights = np.ascontiguousarray(np.concatenate(blocks), self.network_dtype)
        self.widths = np.array(widths, dtype=np.int64)
        self._layout: tuple[np.ndarray, _SpeciesLayout] | None = None  # numbers, tables

    def _descriptor_arguments(self, vectors: np.ndarray, distances: np.ndarray,
                              centre: np.ndarray, neighbour_species: np.ndarray,
                              edge_start: np.ndarray) -> tuple:
        return (vectors, distances, centre, neighbour_species, edge_start, self.n_elements,
                *self.radial, *self.angular)

    def species_layout(self, numbers: np.ndarray) -> _SpeciesLayout:
        """The per-atom tables of a structure's elements, kept while ``numbers`` stays
        the same (an MD run evaluates one set of atoms again and again)."""
        kept = self._layout
        if kept is not None and kept[0].shape == numbers.shape and np.array_equal(
                kept[0], numbers):
            return kept[1]
        species = self.species_of_number[numbers]  # [N]
        by_species = np.argsort(species, kind="stable")  # atoms grouped by element
        species_start = np.zeros(self.n_elements + 1, dtype=np.int64)
        np.cumsum(np.bincount(species, minlength=self.n_elements), out=species_start[1:])
        std = self.feature_std[species[by_species]]  # [N, F]
        layout = _SpeciesLayout(species=species, by_species=by_species,
                                species_start=species_start,
                                mean=self.feature_mean[species[by_species]], std=std,
                                grad_scale=self.energy_scale / std,
                                reference_energies=self.reference_energies[species])
        self._layout = (np.array(numbers, copy=True), layout)
        return layout

    def same_features(self, other: FastBehlerParrinello) -> bool:
        """Whether ``other`` computes the same symmetry functions (same elements in the same
        order and the same descriptor parameters), so both can share one feature array."""
        def same(a: tuple, b: tuple) -> bool:
            return len(a) == len(b) and all(
                np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
                for x, y in zip(a, b, strict=True))

        return (self.elements == other.elements and self.n_elements == other.n_elements
                and np.array_equal(self.species_of_number, other.species_of_number)
                and same(self.radial, other.radial) and same(self.angular, other.angular))

    def features(self, numbers: np.ndarray, pairs: PairGeometry
                 ) -> tuple[_SpeciesLayout, tuple, np.ndarray]:
        """The species tables, the kernels' descriptor arguments and the features [N, F]."""
        from nnpkit.models.bpnn_kernels import acsf_features, acsf_features_parallel

        layout = self.species_layout(numbers)
        arguments = self._descriptor_arguments(pairs.vectors, pairs.distances, pairs.centre,
                                               layout.species[pairs.neighbour],
                                               pairs.edge_start)
        kernel = acsf_features_parallel if use_threads(len(numbers)) else acsf_features
        return layout, arguments, kernel(*arguments)

    def networks(self, layout: _SpeciesLayout, features: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Atomic energies [N] (eV, float64) and ∂E/∂G [N, F] of the features [N, F]."""
        from nnpkit.models.bpnn_kernels import atomic_networks

        return atomic_networks(features, layout.by_species, layout.species_start, layout.mean,
                               layout.std, layout.grad_scale, layout.reference_energies,
                               self.energy_scale, self.flat_weights, self.widths,
                               self.activation)

    @staticmethod
    def backward(feature_grad: np.ndarray, arguments: tuple, pairs: PairGeometry
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Forces [N, 3] (eV/Å) and virial [3, 3] (eV) from ∂E/∂G [N, F]."""
        from nnpkit.models.bpnn_kernels import (
            acsf_backward,
            acsf_backward_parallel,
            forces_and_virial,
        )

        n_atoms = len(pairs.edge_start) - 1
        kernel = acsf_backward_parallel if use_threads(n_atoms) else acsf_backward
        edge_grad = kernel(np.ascontiguousarray(feature_grad), *arguments)
        return forces_and_virial(edge_grad, pairs.vectors, pairs.centre, pairs.neighbour,
                                 n_atoms)

    def evaluate(self, numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray,
                 centre: np.ndarray, neighbour: np.ndarray, shifts: np.ndarray,
                 stress: bool = False) -> dict[str, np.ndarray | float]:
        """Energy and its derivatives of one structure.

        Args:
            numbers: atomic numbers [N] (elements of the model only: checked by the caller).
            positions: [N, 3], Å.
            cell: [3, 3], Å (rows are cell vectors).
            centre, neighbour: atom indices of every pair within the cutoff [E] (pairs
                beyond it, e.g. a Verlet list's skin, add exactly nothing).
            shifts: cell shifts of the neighbour [E, 3] (integers, in units of ``cell``).
            stress: also return the stress (periodic cells).

        Returns:
            ``energy`` (eV), ``energies`` [N] (eV), ``forces`` [N, 3] (eV/Å) and, with
            ``stress``, ``stress`` [3, 3] (eV/Å³, ASE's sign).
        """
        from nnpkit.models.bpnn_kernels import evaluate_structure, evaluate_structure_parallel

        layout = self.species_layout(numbers)
        with threads_for(len(numbers)) as threaded:
            kernel = evaluate_structure_parallel if threaded else evaluate_structure
            energies, forces, virial = kernel(
                np.ascontiguousarray(positions, np.float64), np.ascontiguousarray(cell, np.float64),
                centre.astype(np.int64, copy=False), neighbour.astype(np.int64, copy=False),
                np.ascontiguousarray(shifts, np.float64), layout.species, layout.by_species,
                layout.species_start, layout.mean, layout.std, layout.grad_scale,
                layout.reference_energies, self.energy_scale, self.n_elements, *self.radial,
                *self.angular, self.flat_weights, self.widths, self.activation)
        return evaluation_result(energies, forces, virial, cell, stress)


def evaluation_result(energies: np.ndarray, forces: np.ndarray, virial: np.ndarray,
                      cell: np.ndarray, stress: bool) -> dict[str, np.ndarray | float]:
    """``evaluate``'s dict from atomic energies [N] (eV), forces [N, 3] (eV/Å) and the
    virial [3, 3] (eV): ``energy``, ``energies``, ``forces`` and, with ``stress``, the
    stress [3, 3] (eV/Å³)."""
    result: dict[str, np.ndarray | float] = {
        "energy": float(energies.sum()), "energies": energies, "forces": forces}
    if stress:
        result["stress"] = virial_to_stress(virial, cell)
    return result


@dataclass(frozen=True)
class PairGeometry:
    """The pairs of one structure (or a batch), grouped by centre (see ``pair_geometry``)."""

    centre: np.ndarray  # [E] int64, non-decreasing
    neighbour: np.ndarray  # [E] int64
    vectors: np.ndarray  # [E, 3] centre → neighbour, Å
    distances: np.ndarray  # [E] Å
    edge_start: np.ndarray  # [N + 1] first pair of each centre (CSR)


def pair_geometry(n_atoms: int, positions: np.ndarray, cell: np.ndarray, centre: np.ndarray,
                  neighbour: np.ndarray, shifts: np.ndarray) -> PairGeometry:
    """Pair vectors and distances of a neighbour list (positions [N, 3] Å, cell [3, 3] Å,
    centre/neighbour [E], integer cell shifts [E, 3]), pairs grouped by centre
    (:func:`~nnpkit.models.bpnn_kernels.group_pairs`)."""
    from nnpkit.models.bpnn_kernels import group_pairs

    positions = np.ascontiguousarray(positions, np.float64).reshape(n_atoms, 3)
    centre, neighbour, vectors, distances, edge_start = group_pairs(
        positions, np.ascontiguousarray(cell, np.float64),
        centre.astype(np.int64, copy=False), neighbour.astype(np.int64, copy=False),
        np.ascontiguousarray(shifts, np.float64))
    return PairGeometry(centre=centre, neighbour=neighbour, vectors=vectors,
                        distances=distances, edge_start=edge_start)


def virial_to_stress(virial: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Stress [3, 3] (eV/Å³, ASE's sign) of a virial [3, 3] (eV) in a cell [3, 3] (Å)."""
    symmetric = 0.5 * (virial + virial.T)
    return symmetric / abs(float(np.linalg.det(cell)))
