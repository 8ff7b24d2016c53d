"""Adiabatic energies, gradients and couplings from diabatic matrices vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnpkit.apps.nonadiabatic.adiabatic import adiabatic_states, align_phases
from nnpkit.apps.nonadiabatic.networks import DiabaticMLP, NetworkPotential
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.tully import model_by_name, tully_model

STEP = 1e-5


def _potentials():
    torch.manual_seed(0)
    network = NetworkPotential(DiabaticMLP(3, 2, hidden=[16], activation="silu"))
    return [model_by_name(name) for name in ("tully1", "tully2", "tully3", "lvc2d")] + [
        network]


def _points(potential, rng):
    # avoid x = 0 exactly: Tully 1 and 3 are only C1 there
    return rng.uniform(-4.0, 4.0, (12, potential.n_dim)) + 0.013


@pytest.mark.parametrize("potential", _potentials(), ids=lambda p: getattr(p, "name", "mlp"))
def test_diabatic_gradient_matches_finite_differences(potential):
    q = _points(potential, np.random.default_rng(1))
    _, gradient = potential.evaluate(q)
    for axis in range(potential.n_dim):
        shift = np.zeros(potential.n_dim)
        shift[axis] = STEP
        numeric = (potential.evaluate(q + shift)[0] - potential.evaluate(q - shift)[0]) / (
            2 * STEP)
        np.testing.assert_allclose(gradient[:, axis], numeric, atol=1e-8)


@pytest.mark.parametrize("potential", _potentials(), ids=lambda p: getattr(p, "name", "mlp"))
def test_adiabatic_gradients_and_couplings_match_finite_differences(potential):
    q = _points(potential, np.random.default_rng(2))
    states = adiabatic_states(*potential.evaluate(q))
    for axis in range(potential.n_dim):
        shift = np.zeros(potential.n_dim)
        shift[axis] = STEP
        plus = adiabatic_states(*potential.evaluate(q + shift), reference=states.vectors)
        minus = adiabatic_states(*potential.evaluate(q - shift), reference=states.vectors)
        numeric_gradient = (plus.energies - minus.energies) / (2 * STEP)
        np.testing.assert_allclose(states.gradients[:, axis], numeric_gradient, atol=1e-7)
        # d_ij = <i | d/dq j>
        derivative = (plus.vectors - minus.vectors) / (2 * STEP)  # [N, n, n]
        numeric_coupling = np.einsum("nki,nkj->nij", states.vectors, derivative)
        np.testing.assert_allclose(states.couplings[:, axis], numeric_coupling, atol=1e-5)
    # antisymmetric, zero diagonal
    np.testing.assert_allclose(states.couplings, -np.swapaxes(states.couplings, -1, -2),
                               atol=1e-12)


def test_conical_intersection_is_finite_and_coupling_diverges_towards_it():
    model = model_by_name("lvc2d")
    ci = np.array([[0.25, 0.0]])
    states = adiabatic_states(*model.evaluate(ci))
    assert np.all(np.isfinite(states.couplings)) and np.all(np.isfinite(states.gradients))
    assert np.allclose(states.energies[0, 0], states.energies[0, 1])
    near = adiabatic_states(*model.evaluate(ci + np.array([[0.0, 1e-3]])))
    far = adiabatic_states(*model.evaluate(ci + np.array([[0.0, 1e-1]])))
    assert np.linalg.norm(near.couplings[0, :, 0, 1]) > 50 * np.linalg.norm(
        far.couplings[0, :, 0, 1])


def test_phases_are_continuous_along_a_path():
    model = tully_model(1)
    x = np.linspace(-5, 5, 2001)
    vectors = None
    overlaps = []
    for value in x:
        states = adiabatic_states(*model.evaluate(np.array([[value]])), reference=vectors)
        if vectors is not None:
            overlaps.append(np.einsum("nki,nki->ni", vectors, states.vectors))
        vectors = states.vectors
    assert np.min(overlaps) > 0.99


def test_align_phases_does_not_modify_input():
    vectors = np.array([[[1.0, 0.0], [0.0, -1.0]]])
    copy = vectors.copy()
    aligned = align_phases(vectors, np.eye(2)[None])
    np.testing.assert_array_equal(vectors, copy)
    np.testing.assert_array_equal(aligned, np.eye(2)[None])


def test_tully_model_api_and_errors():
    x = np.linspace(-10, 10, 7)
    assert tully_model(2).matrix(x).shape == (7, 2, 2)
    assert tully_model(3).gradient(x).shape == (7, 2, 2)
    assert model_by_name("lvc2d").gradient(np.zeros((4, 2))).shape == (4, 2, 2, 2)
    # Tully 1 asymptotes: ±A, coupling vanishes
    np.testing.assert_allclose(tully_model(1).matrix(np.array([-30.0, 30.0]))[:, 0, 0],
                               [-0.01, 0.01])
    with pytest.raises(ConfigError, match="1, 2 or 3"):
        tully_model(4)
    with pytest.raises(ConfigError, match="unknown analytic model"):
        model_by_name("tully9")
    with pytest.raises(ConfigError, match=r"\[\.\.\., 2\]"):
        model_by_name("lvc2d").matrix(np.zeros(3))
