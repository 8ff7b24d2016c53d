"""One compiled call per structure: geometry, features, networks and forces of a BPNN.

:meth:`~nnpkit.models.bpnn_fast.FastBehlerParrinello.evaluate` used to chain the kernels
of :mod:`nnpkit.models.bpnn_kernels` with numpy in between (pair vectors, grouping by
centre, normalisation, scattering back to atom order): some thirty numpy calls of a few
µs each, about as much as the arithmetic on a small molecule. :func:`evaluate_structure`
does all of it inside numba, calling the same kernels, so a structure costs one dispatch.

Pairs beyond the cutoff are allowed (a Verlet list's skin): their cutoff functions are
exactly zero, so they add exactly nothing, and the caller need not filter them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nnpkit.models.bpnn_kernels import (
    acsf_backward,
    acsf_features,
    element_networks,
    forces_and_virial,
)

__all__ = ["evaluate_structure"]


@njit(cache=True)
def _grouped_pairs(positions, cell, centre, neighbour, shifts):  # noqa: ANN001, ANN202
    """Pairs sorted by centre (stable; untouched when they already are), their vectors
    centre → neighbour + shift @ cell [E, 3] (Å), lengths [E] and CSR starts [N + 1]."""
    n_edges = centre.shape[0]
    for e in range(1, n_edges):
        if centre[e] < centre[e - 1]:
            order = np.argsort(centre, kind="mergesort")
            centre, neighbour, shifts = centre[order], neighbour[order], shifts[order]
            break
    vectors = np.empty((n_edges, 3))
    distances = np.empty(n_edges)
    for e in range(n_edges):
        squared = 0.0
        for c in range(3):
            offset = shifts[e, 0] * cell[0, c] + shifts[e, 1] * cell[1, c] \
                + shifts[e, 2] * cell[2, c]
            value = positions[neighbour[e], c] - positions[centre[e], c] + offset
            vectors[e, c] = value
            squared += value * value
        distances[e] = np.sqrt(squared)
    edge_start = np.zeros(positions.shape[0] + 1, dtype=np.int64)
    for e in range(n_edges):
        edge_start[centre[e] + 1] += 1
    for i in range(positions.shape[0]):
        edge_start[i + 1] += edge_start[i]
    return centre, neighbour, vectors, distances, edge_start


@njit(cache=True)
def evaluate_structure(positions, cell, centre, neighbour, shifts, species, by_species,
                       species_start, mean, std, grad_scale, reference_energies,
                       energy_scale, n_elements, radial_shifts, radial_eta, cutoff,
                       angular_shifts, angular_eta, angular_cutoff, lambdas, zetas,
                       pair_index, n_pairs, flat_weights, widths,
                       activation):  # noqa: ANN001, ANN201
    """Atomic energies [N] (eV), forces [N, 3] (eV/Å) and virial [3, 3] (eV) of one
    structure (or a batch of disjoint ones).

    Args:
        positions: [N, 3] Å; cell: [3, 3] Å (rows); centre, neighbour: int64 [E];
            shifts: float64 cell shifts of the neighbour [E, 3] (in units of ``cell``).
        species, by_species, species_start, mean, std, grad_scale, reference_energies:
            the element tables of
            :meth:`~nnpkit.models.bpnn_fast.FastBehlerParrinello.species_layout`.
        energy_scale: eV per network output unit.
        n_elements ... n_pairs: the descriptor parameters, as for
            :func:`~nnpkit.models.bpnn_kernels.acsf_features`.
        flat_weights, widths, activation: the networks, as for
            :func:`~nnpkit.models.bpnn_kernels.element_networks` (their dtype sets the
            precision of the networks).
    """
    n_atoms = positions.shape[0]
    centre, neighbour, vectors, distances, edge_start = _grouped_pairs(
        positions, cell, centre, neighbour, shifts)
    neighbour_species = np.empty(neighbour.shape[0], dtype=np.int64)
    for e in range(neighbour.shape[0]):
        neighbour_species[e] = species[neighbour[e]]
    features = acsf_features(vectors, distances, centre, neighbour_species, edge_start,
                             n_elements, radial_shifts, radial_eta, cutoff, angular_shifts,
                             angular_eta, angular_cutoff, lambdas, zetas, pair_index,
                             n_pairs)
    n_features = features.shape[1]
    inputs = np.empty((n_atoms, n_features), dtype=flat_weights.dtype)
    for k in range(n_atoms):  # grouped by element, normalised
        atom = by_species[k]
        for f in range(n_features):
            inputs[k, f] = (features[atom, f] - mean[k, f]) / std[k, f]
    raw, input_grad = element_networks(inputs, species_start, flat_weights, widths,
                                       activation)
    feature_grad = np.empty((n_atoms, n_features))
    energies = np.empty(n_atoms)
    for k in range(n_atoms):  # back to atom order
        atom = by_species[k]
        energies[atom] = np.float64(raw[k]) * energy_scale + reference_energies[atom]
        for f in range(n_features):
            feature_grad[atom, f] = np.float64(input_grad[k, f]) * grad_scale[k, f]
    edge_grad = acsf_backward(feature_grad, vectors, distances, centre, neighbour_species,
                              edge_start, n_elements, radial_shifts, radial_eta, cutoff,
                              angular_shifts, angular_eta, angular_cutoff, lambdas, zetas,
                              pair_index, n_pairs)
    forces, virial = forces_and_virial(edge_grad, vectors, centre, neighbour, n_atoms)
    return energies, forces, virial
