"""Compiled (numba) kernels of the Behler–Parrinello model: features, networks, derivatives.

The low-latency path of :class:`~nnpkit.models.bpnn.BehlerParrinello` for small systems,
where torch's per-operation overhead, not arithmetic, sets the cost of a call. The same
mathematics as :mod:`nnpkit.nn.symmetry_functions` and the element networks, with the
derivatives written out instead of taken by autograd:

1. :func:`acsf_features` — the radial and angular symmetry functions G [N, F];
2. :func:`element_networks` — the per-element MLPs on the normalised features, giving the
   per-atom network outputs and ∂E/∂G [N, F] by back-propagation (BLAS matrix products);
3. :func:`acsf_backward` — ∂E/∂v_e [E, 3] for every centre→neighbour vector, by the chain
   rule through G, from which forces and the virial follow (:func:`forces_and_virial`);
4. :func:`evaluate_structure` — all of it in one compiled call per structure (pair vectors,
   grouping by centre, normalisation, scattering back to atom order included), so a small
   molecule pays one dispatch instead of some thirty numpy calls between kernels. Pairs
   beyond the cutoff (a Verlet list's skin) are allowed: their cutoff functions are
   exactly zero, so they add exactly nothing.

The kernels that call each other live in this one file on purpose: numba's on-disk cache
(``cache=True``) is invalidated by a change of the cached function's own file only, so a
caller in another file would keep running a stale copy of an edited callee.

Geometry and features are float64; the networks run in the precision of the weights
(float32 or float64, like the model). ``zetas`` are integers (fast integer powers).
Weights travel as one flat array (``flat_weights``) with a table of layer widths, so a
call passes a handful of arrays and no Python objects.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["acsf_features", "acsf_features_parallel", "element_networks", "acsf_backward",
           "acsf_backward_parallel", "forces_and_virial", "atomic_networks", "group_pairs",
           "evaluate_structure", "evaluate_structure_parallel", "ACTIVATION_CODES",
           "SMALL_BLOCK_BELOW"]

#: Activation name → code used inside the kernels.
ACTIVATION_CODES = {"silu": 0, "tanh": 1, "softplus": 2}


@njit(cache=True, inline="always")
def _cutoff(distance: float, cutoff: float) -> tuple[float, float]:
    """Cosine cutoff and its derivative at ``distance`` (0, 0 beyond ``cutoff``)."""
    if distance >= cutoff:
        return 0.0, 0.0
    angle = math.pi * distance / cutoff
    return 0.5 * (math.cos(angle) + 1.0), -0.5 * math.pi / cutoff * math.sin(angle)


@njit(cache=True, inline="always")
def _triplet(vectors, p, q, r1, r2, neighbour_species, pair_index, radial_size,
             block):  # noqa: ANN001, ANN202
    """cos θ of edges p, q (same centre) and the first angular feature of their element pair."""
    cosine = (vectors[p, 0] * vectors[q, 0] + vectors[p, 1] * vectors[q, 1]
              + vectors[p, 2] * vectors[q, 2]) / (r1 * r2)
    return cosine, radial_size + pair_index[neighbour_species[p], neighbour_species[q]] * block


@njit(cache=True, inline="always")
def _acsf_features(vectors, distances, centre, neighbour_species, edge_start, n_elements,
                   radial_shifts, radial_eta, cutoff, angular_shifts, angular_eta,
                   angular_cutoff, lambdas, zetas, pair_index, n_pairs):  # noqa: ANN001, ANN202
    """:func:`acsf_features`' body: one independent iteration per atom (``prange``)."""
    n_atoms = edge_start.shape[0] - 1
    n_radial, n_angular, n_lambda = radial_shifts.shape[0], angular_shifts.shape[0], \
        lambdas.shape[0]
    radial_size = n_elements * n_radial
    scales = 2.0 ** (1.0 - zetas.astype(np.float64))  # [L]
    features = np.zeros((n_atoms, radial_size + n_pairs * n_angular * n_lambda))
    angular_fc, _ = _angular_cutoffs(distances, angular_cutoff)
    for i in prange(n_atoms):
        for e in range(edge_start[i], edge_start[i + 1]):
            fc, _ = _cutoff(distances[e], cutoff)
            if fc == 0.0:
                continue
            base = neighbour_species[e] * n_radial
            for k in range(n_radial):
                shifted = distances[e] - radial_shifts[k]
                features[i, base + k] += math.exp(-radial_eta * shifted * shifted) * fc
        angle_terms = np.empty(n_lambda)  # (1 + λ cos θ)^ζ 2^(1-ζ) of one triplet
        for p in range(edge_start[i], edge_start[i + 1]):
            r1 = distances[p]
            if r1 >= angular_cutoff:
                continue
            for q in range(p + 1, edge_start[i + 1]):
                r2 = distances[q]
                if r2 >= angular_cutoff:
                    continue
                cosine, offset = _triplet(vectors, p, q, r1, r2, neighbour_species, pair_index,
                                          radial_size, n_angular * n_lambda)
                for m in range(n_lambda):
                    angle_terms[m] = (1.0 + lambdas[m] * cosine) ** zetas[m] * scales[m]
                fc12 = angular_fc[p] * angular_fc[q]
                mean_r = 0.5 * (r1 + r2)
                for a in range(n_angular):
                    shifted = mean_r - angular_shifts[a]
                    radial_term = math.exp(-angular_eta * shifted * shifted) * fc12
                    row = offset + a * n_lambda
                    for m in range(n_lambda):
                        features[i, row + m] += radial_term * angle_terms[m]
    return features


@njit(cache=True)
def _angular_cutoffs(distances, angular_cutoff):  # noqa: ANN001, ANN202
    """The angular cutoff function and its derivative of every edge [E] (0 beyond it)."""
    values = np.zeros(distances.shape[0])
    slopes = np.zeros(distances.shape[0])
    for e in range(distances.shape[0]):
        values[e], slopes[e] = _cutoff(distances[e], angular_cutoff)
    return values, slopes


@njit(cache=True, inline="always")
def _activate(z, slope, code):  # noqa: ANN001, ANN202
    """Activation of ``z`` [m, n] in place, and its derivative into ``slope`` [m, n],
    elementwise, in the precision of ``z``."""
    one = np.ones(1, dtype=z.dtype)[0]
    threshold = one * 20  # softplus (torch's, beta 1) is linear above it
    for r in range(z.shape[0]):
        for j in range(z.shape[1]):
            x = z[r, j]
            if code == 0:  # silu
                sigma = one / (one + np.exp(-x))
                z[r, j] = x * sigma
                slope[r, j] = sigma * (one + x * (one - sigma))
            elif code == 1:  # tanh
                t = np.tanh(x)
                z[r, j] = t
                slope[r, j] = one - t * t
            elif x > threshold:
                slope[r, j] = one
            else:
                z[r, j] = np.log1p(np.exp(x))
                slope[r, j] = one / (one + np.exp(-x))


#: Below this many atoms of one element the networks run as compiled loops instead of
#: BLAS: OpenBLAS's matrix product costs ~20 µs whatever the size for 2–15 rows (float32,
#: 240×128, one thread), and one row at a time reads the weights from memory once per
#: atom; the loops read them once for all the rows.
SMALL_BLOCK_BELOW = 16


@njit(cache=True, inline="always")
def _add_rows_times(left, right, out):  # noqa: ANN001, ANN202
    """``out += left @ right`` ([m, n] · [n, p]) for a few rows m: each row of ``right`` is
    read once for all m rows, and the products accumulate in place."""
    for k in range(right.shape[0]):
        for r in range(left.shape[0]):
            value = left[r, k]
            for j in range(right.shape[1]):
                out[r, j] += value * right[k, j]


@njit(cache=True)
def _network_block(inputs, flat_weights, offset, widths, activation):  # noqa: ANN001, ANN202
    """One element's MLP on ``inputs`` [m, F], its layers read from ``flat_weights`` at
    ``offset`` (the layout of :func:`element_networks`): outputs [m] and input gradients
    [m, F]. Below :data:`SMALL_BLOCK_BELOW` rows the products are loops that read each
    weight row once for all the rows; from there on, BLAS. The layers are views of the
    flat array (no lists of arrays), and the activation works on ``z`` in place.
    """
    n_rows, n_layers = inputs.shape[0], widths.shape[0] - 1
    small = n_rows < SMALL_BLOCK_BELOW
    hidden_size = 0
    for layer in range(1, n_layers):
        hidden_size += n_rows * widths[layer]
    slopes = np.empty(hidden_size, dtype=inputs.dtype)  # per hidden layer [m, width], flat
    starts = np.empty(n_layers, dtype=np.int64)  # each layer's W [in, out] in flat_weights
    slope_starts = np.zeros(n_layers, dtype=np.int64)
    outputs = np.empty(n_rows, dtype=inputs.dtype)
    source = inputs
    for layer in range(n_layers):
        n_in, n_out = widths[layer], widths[layer + 1]
        starts[layer] = offset
        weight = flat_weights[offset:offset + n_in * n_out].reshape(n_in, n_out)
        bias = flat_weights[offset + 2 * n_in * n_out:offset + 2 * n_in * n_out + n_out]
        offset += 2 * n_in * n_out + n_out
        if small:
            z = np.empty((n_rows, n_out), dtype=inputs.dtype)
            for r in range(n_rows):
                for j in range(n_out):
                    z[r, j] = bias[j]
            _add_rows_times(source, weight, z)
        else:
            z = np.dot(source, weight)
            for r in range(n_rows):
                for j in range(n_out):
                    z[r, j] += bias[j]
        if layer < n_layers - 1:
            first = slope_starts[layer]
            slope_starts[layer + 1] = first + n_rows * n_out
            _activate(z, slopes[first:first + n_rows * n_out].reshape(n_rows, n_out),
                      activation)
            source = z
        else:
            for r in range(n_rows):
                outputs[r] = z[r, 0]
    grad = np.ones((n_rows, 1), dtype=inputs.dtype)  # ∂(Σ outputs)/∂(each output)
    for layer in range(n_layers - 1, -1, -1):
        n_in, n_out = widths[layer], widths[layer + 1]
        first = starts[layer] + n_in * n_out
        transpose = flat_weights[first:first + n_in * n_out].reshape(n_out, n_in)
        if small:
            below = np.zeros((n_rows, n_in), dtype=inputs.dtype)
            _add_rows_times(grad, transpose, below)
        else:
            below = np.dot(grad, transpose)
        if layer > 0:
            first = slope_starts[layer - 1]
            slope = slopes[first:first + n_rows * n_in].reshape(n_rows, n_in)
            for r in range(n_rows):
                for k in range(n_in):
                    below[r, k] *= slope[r, k]
        grad = below
    return outputs, grad


@njit(cache=True, inline="always")
def element_networks(inputs, species_start, flat_weights, widths, activation):  # noqa: ANN001, ANN201
    """Per-element MLP outputs [N] and their input gradients [N, F].

    ``inputs`` [N, F] are the normalised features with atoms sorted by element; atoms of
    element s are rows ``species_start[s]:species_start[s + 1]``. ``flat_weights`` holds, per
    element and per layer, W [in, out], Wᵀ [out, in] and b [out] consecutively; ``widths``
    are the layer widths (F, hidden..., 1). An element with fewer than
    :data:`SMALL_BLOCK_BELOW` atoms runs as compiled loops (see there).
    """
    n_atoms = inputs.shape[0]
    n_layers = widths.shape[0] - 1
    outputs = np.zeros(n_atoms, dtype=inputs.dtype)
    gradients = np.zeros_like(inputs)
    offset = 0
    size = 0  # of one element's layers in flat_weights
    for layer in range(n_layers):
        size += 2 * widths[layer] * widths[layer + 1] + widths[layer + 1]
    for s in range(species_start.shape[0] - 1):
        start, stop = species_start[s], species_start[s + 1]
        if stop > start:
            block = np.ascontiguousarray(inputs[start:stop])
            block_outputs, block_gradients = _network_block(block, flat_weights, offset,
                                                            widths, activation)
            for r in range(stop - start):  # loops, not slice assignments: those compile
                outputs[start + r] = block_outputs[r]  # numba's shape-error formatting
                for f in range(inputs.shape[1]):
                    gradients[start + r, f] = block_gradients[r, f]
        offset += size
    return outputs, gradients


@njit(cache=True, inline="always")
def _acsf_backward(feature_grad, vectors, distances, centre, neighbour_species, edge_start,
                   n_elements, radial_shifts, radial_eta, cutoff, angular_shifts, angular_eta,
                   angular_cutoff, lambdas, zetas, pair_index, n_pairs):  # noqa: ANN001, ANN202
    """:func:`acsf_backward`'s body: one iteration per atom (``prange``), which writes only
    the rows of its own edges."""
    n_atoms = edge_start.shape[0] - 1
    n_radial, n_angular, n_lambda = radial_shifts.shape[0], angular_shifts.shape[0], \
        lambdas.shape[0]
    radial_size = n_elements * n_radial
    scales = 2.0 ** (1.0 - zetas.astype(np.float64))  # [L]
    edge_grad = np.zeros((distances.shape[0], 3))
    angular_fc, angular_dfc = _angular_cutoffs(distances, angular_cutoff)
    for i in prange(n_atoms):
        for e in range(edge_start[i], edge_start[i + 1]):
            d = distances[e]
            fc, dfc = _cutoff(d, cutoff)
            if fc == 0.0 and dfc == 0.0:
                continue
            base = neighbour_species[e] * n_radial
            dE_dd = 0.0
            for k in range(n_radial):
                shifted = d - radial_shifts[k]
                gauss = math.exp(-radial_eta * shifted * shifted)
                dE_dd += feature_grad[i, base + k] * gauss * (
                    dfc - 2.0 * radial_eta * shifted * fc)
            for c in range(3):
                edge_grad[e, c] += dE_dd * vectors[e, c] / d
        angle_terms = np.empty(n_lambda)  # (1 + λ cos θ)^ζ 2^(1-ζ) of one triplet
        angle_slopes = np.empty(n_lambda)  # its derivative with respect to cos θ
        for p in range(edge_start[i], edge_start[i + 1]):
            r1 = distances[p]
            if r1 >= angular_cutoff:
                continue
            fc1, dfc1 = angular_fc[p], angular_dfc[p]
            for q in range(p + 1, edge_start[i + 1]):
                r2 = distances[q]
                if r2 >= angular_cutoff:
                    continue
                fc2, dfc2 = angular_fc[q], angular_dfc[q]
                cosine, offset = _triplet(vectors, p, q, r1, r2, neighbour_species, pair_index,
                                          radial_size, n_angular * n_lambda)
                for m in range(n_lambda):
                    base = 1.0 + lambdas[m] * cosine
                    power = base ** (zetas[m] - 1) * scales[m]  # integer power: fast
                    angle_terms[m] = power * base
                    angle_slopes[m] = zetas[m] * lambdas[m] * power
                mean_r = 0.5 * (r1 + r2)
                dE_dr1, dE_dr2, dE_dcos = 0.0, 0.0, 0.0
                for a in range(n_angular):
                    row = offset + a * n_lambda
                    dE_dangle, dE_dslope = 0.0, 0.0  # Σ_m ∂E/∂G · angle term (· slope)
                    for m in range(n_lambda):
                        weight = feature_grad[i, row + m]
                        dE_dangle += weight * angle_terms[m]
                        dE_dslope += weight * angle_slopes[m]
                    shifted = mean_r - angular_shifts[a]
                    gauss = math.exp(-angular_eta * shifted * shifted)
                    dgauss = -2.0 * angular_eta * shifted * gauss * 0.5  # ∂/∂r1 = ∂/∂r2
                    dE_dr1 += (dgauss * fc1 * fc2 + gauss * dfc1 * fc2) * dE_dangle
                    dE_dr2 += (dgauss * fc1 * fc2 + gauss * fc1 * dfc2) * dE_dangle
                    dE_dcos += gauss * fc1 * fc2 * dE_dslope
                for c in range(3):
                    dcos_dv1 = vectors[q, c] / (r1 * r2) - cosine * vectors[p, c] / (r1 * r1)
                    dcos_dv2 = vectors[p, c] / (r1 * r2) - cosine * vectors[q, c] / (r2 * r2)
                    edge_grad[p, c] += dE_dr1 * vectors[p, c] / r1 + dE_dcos * dcos_dv1
                    edge_grad[q, c] += dE_dr2 * vectors[q, c] / r2 + dE_dcos * dcos_dv2
    return edge_grad


@njit(cache=True)
def acsf_features(vectors, distances, centre, neighbour_species, edge_start, n_elements,
                  radial_shifts, radial_eta, cutoff, angular_shifts, angular_eta,
                  angular_cutoff, lambdas, zetas, pair_index, n_pairs):  # noqa: ANN001, ANN201
    """Symmetry functions [N, F] of every atom (edges sorted by centre, CSR ``edge_start``)."""
    return _acsf_features(vectors, distances, centre, neighbour_species, edge_start,
                          n_elements, radial_shifts, radial_eta, cutoff, angular_shifts,
                          angular_eta, angular_cutoff, lambdas, zetas, pair_index, n_pairs)


@njit(cache=True, parallel=True)
def acsf_features_parallel(vectors, distances, centre, neighbour_species, edge_start,
                           n_elements, radial_shifts, radial_eta, cutoff, angular_shifts,
                           angular_eta, angular_cutoff, lambdas, zetas, pair_index,
                           n_pairs):  # noqa: ANN001, ANN201
    """:func:`acsf_features` over numba's threads (atoms split between them)."""
    return _acsf_features(vectors, distances, centre, neighbour_species, edge_start,
                          n_elements, radial_shifts, radial_eta, cutoff, angular_shifts,
                          angular_eta, angular_cutoff, lambdas, zetas, pair_index, n_pairs)


@njit(cache=True)
def acsf_backward(feature_grad, vectors, distances, centre, neighbour_species, edge_start,
                  n_elements, radial_shifts, radial_eta, cutoff, angular_shifts, angular_eta,
                  angular_cutoff, lambdas, zetas, pair_index, n_pairs):  # noqa: ANN001, ANN201
    """∂E/∂v_e [E, 3] from ∂E/∂G [N, F] (same arguments as :func:`acsf_features`)."""
    return _acsf_backward(feature_grad, vectors, distances, centre, neighbour_species,
                          edge_start, n_elements, radial_shifts, radial_eta, cutoff,
                          angular_shifts, angular_eta, angular_cutoff, lambdas, zetas,
                          pair_index, n_pairs)


@njit(cache=True, parallel=True)
def acsf_backward_parallel(feature_grad, vectors, distances, centre, neighbour_species,
                           edge_start, n_elements, radial_shifts, radial_eta, cutoff,
                           angular_shifts, angular_eta, angular_cutoff, lambdas, zetas,
                           pair_index, n_pairs):  # noqa: ANN001, ANN201
    """:func:`acsf_backward` over numba's threads (atoms split between them)."""
    return _acsf_backward(feature_grad, vectors, distances, centre, neighbour_species,
                          edge_start, n_elements, radial_shifts, radial_eta, cutoff,
                          angular_shifts, angular_eta, angular_cutoff, lambdas, zetas,
                          pair_index, n_pairs)


@njit(cache=True)
def forces_and_virial(edge_grad, vectors, centre, neighbour, n_atoms):  # noqa: ANN001, ANN201
    """Forces [N, 3] (eV/Å) and the virial Σ_e v_e ⊗ ∂E/∂v_e [3, 3] (eV)."""
    forces = np.zeros((n_atoms, 3))
    virial = np.zeros((3, 3))
    for e in range(edge_grad.shape[0]):
        for c in range(3):
            forces[centre[e], c] += edge_grad[e, c]
            forces[neighbour[e], c] -= edge_grad[e, c]
            for b in range(3):
                virial[c, b] += vectors[e, c] * edge_grad[e, b]
    return forces, virial


@njit(cache=True, inline="always")
def atomic_networks(features, by_species, species_start, mean, std, grad_scale,
                    reference_energies, energy_scale, flat_weights, widths,
                    activation):  # noqa: ANN001, ANN201
    """Atomic energies [N] (eV, float64, atom order) and ∂E/∂G [N, F] of the features
    [N, F]: normalised and grouped by element (the tables of
    :meth:`~nnpkit.models.bpnn_fast.FastBehlerParrinello.species_layout`), through
    :func:`element_networks` in the precision of ``flat_weights``, and back to atom order."""
    n_atoms, n_features = features.shape
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
    return energies, feature_grad


@njit(cache=True)
def group_pairs(positions, cell, centre, neighbour, shifts):  # noqa: ANN001, ANN201
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
def _grouped_pairs(positions, cell, centre, neighbour, shifts, species):  # noqa: ANN001, ANN202
    """:func:`group_pairs` and the species of each pair's neighbour [E]."""
    centre, neighbour, vectors, distances, edge_start = group_pairs(
        positions, cell, centre, neighbour, shifts)
    neighbour_species = np.empty(neighbour.shape[0], dtype=np.int64)
    for e in range(neighbour.shape[0]):
        neighbour_species[e] = species[neighbour[e]]
    return centre, neighbour, vectors, distances, edge_start, neighbour_species


@njit(cache=True)
def evaluate_structure(positions, cell, centre, neighbour, shifts, species, by_species,
                       species_start, mean, std, grad_scale, reference_energies,
                       energy_scale, n_elements, radial_shifts, radial_eta, cutoff,
                       angular_shifts, angular_eta, angular_cutoff, lambdas, zetas,
                       pair_index, n_pairs, flat_weights, widths,
                       activation):  # noqa: ANN001, ANN201
    """Atomic energies [N] (eV), forces [N, 3] (eV/Å) and virial [3, 3] (eV) of one
    structure (or a batch of disjoint ones): steps 1–3 in one compiled call.

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

    The steps are calls of the separately compiled kernels, not one inlined body (numba
    re-optimises every linked callee in each caller, so an inlined copy of the kernels
    costs their compile time again), and the kernels avoid broadcasting array
    operations, whose shape-error messages numba compiles as string code: the first
    ethanol call on a cold cache compiles in 9.5–9.9 s instead of 17.2 s, and calls are as
    fast as before (183–192 µs per ASE call).
    """
    centre, neighbour, vectors, distances, edge_start, neighbour_species = _grouped_pairs(
        positions, cell, centre, neighbour, shifts, species)
    features = acsf_features(vectors, distances, centre, neighbour_species, edge_start,
                             n_elements, radial_shifts, radial_eta, cutoff, angular_shifts,
                             angular_eta, angular_cutoff, lambdas, zetas, pair_index, n_pairs)
    energies, feature_grad = atomic_networks(features, by_species, species_start, mean, std,
                                             grad_scale, reference_energies, energy_scale,
                                             flat_weights, widths, activation)
    edge_grad = acsf_backward(feature_grad, vectors, distances, centre, neighbour_species,
                              edge_start, n_elements, radial_shifts, radial_eta, cutoff,
                              angular_shifts, angular_eta, angular_cutoff, lambdas, zetas,
                              pair_index, n_pairs)
    forces, virial = forces_and_virial(edge_grad, vectors, centre, neighbour,
                                       positions.shape[0])
    return energies, forces, virial


@njit(cache=True)
def evaluate_structure_parallel(positions, cell, centre, neighbour, shifts, species,
                                by_species, species_start, mean, std, grad_scale,
                                reference_energies, energy_scale, n_elements, radial_shifts,
                                radial_eta, cutoff, angular_shifts, angular_eta,
                                angular_cutoff, lambdas, zetas, pair_index, n_pairs,
                                flat_weights, widths, activation):  # noqa: ANN001, ANN201
    """:func:`evaluate_structure` with the symmetry functions and their backward pass over
    numba's threads (atoms split between them): the threaded kernels in the same steps."""
    centre, neighbour, vectors, distances, edge_start, neighbour_species = _grouped_pairs(
        positions, cell, centre, neighbour, shifts, species)
    features = acsf_features_parallel(vectors, distances, centre, neighbour_species,
                                      edge_start, n_elements, radial_shifts, radial_eta,
                                      cutoff, angular_shifts, angular_eta, angular_cutoff,
                                      lambdas, zetas, pair_index, n_pairs)
    energies, feature_grad = atomic_networks(features, by_species, species_start, mean, std,
                                             grad_scale, reference_energies, energy_scale,
                                             flat_weights, widths, activation)
    edge_grad = acsf_backward_parallel(feature_grad, vectors, distances, centre,
                                       neighbour_species, edge_start, n_elements,
                                       radial_shifts, radial_eta, cutoff, angular_shifts,
                                       angular_eta, angular_cutoff, lambdas, zetas,
                                       pair_index, n_pairs)
    forces, virial = forces_and_virial(edge_grad, vectors, centre, neighbour,
                                       positions.shape[0])
    return energies, forces, virial
