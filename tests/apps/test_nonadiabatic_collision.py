"""Diatomic collisions through an ionic/covalent crossing, and the exact diabatic reference
built from adiabatic data (mixing angle from the integrated coupling)."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.apps.nonadiabatic.adiabatic import adiabatic_states
from nnpkit.apps.nonadiabatic.collision import CollisionConfig, exact_collision, fssh_collision
from nnpkit.apps.nonadiabatic.diatomic import (
    ReferenceDiatomic,
    check_single_crossing,
    nac_peak_position,
)
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.training import DiabaticData
from nnpkit.errors import ConfigError, DataError


class HarpoonModel:
    """Ionic (``gap - 1/R`` + wall) and covalent (wall) diabats, coupling ``w0 e^{-β(R-6)}``;
    crossing near ``R = 1/gap``; LiF's reduced mass. Atomic units."""

    n_states, n_dim = 2, 1

    def __init__(self, w0: float, gap: float = 0.15, beta: float = 0.5) -> None:
        self.w0, self.gap, self.beta = w0, gap, beta

    def masses_au(self) -> np.ndarray:
        return np.array([9264.0])

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.asarray(q, float)[..., 0]
        wall = 20.0 * np.exp(-r / 0.6)
        coupling = self.w0 * np.exp(-self.beta * (r - 6.0))
        matrix = np.zeros(r.shape + (2, 2))
        gradient = np.zeros(r.shape + (1, 2, 2))
        matrix[..., 0, 0] = self.gap - 1.0 / r + wall
        matrix[..., 1, 1] = 2.0 * wall
        matrix[..., 0, 1] = matrix[..., 1, 0] = coupling
        gradient[..., 0, 0, 0] = 1.0 / r**2 - wall / 0.6
        gradient[..., 0, 1, 1] = -2.0 * wall / 0.6
        gradient[..., 0, 0, 1] = gradient[..., 0, 1, 0] = -self.beta * coupling
        return matrix, gradient


CONFIG = CollisionConfig(r_min_bohr=2.0, r_max_bohr=14.0, start_bohr=10.4, sigma_bohr=0.5,
                         max_time_au=3e4)


def _adiabatic_data(model: HarpoonModel, r: np.ndarray, flip_signs: bool) -> DiabaticData:
    states = adiabatic_states(*model.evaluate(r[:, None]))
    couplings = states.couplings[:, :, 0, 1][:, :, None].copy()  # [N, 1, 1]
    if flip_signs:  # electronic structure gives each geometry's coupling an arbitrary sign
        couplings *= np.random.default_rng(3).choice([-1.0, 1.0], size=couplings.shape)
    return DiabaticData(r[:, None], energies=states.energies, gradients=states.gradients,
                        couplings=couplings)


def test_reference_diabatic_matrix_from_the_integrated_coupling_is_the_model() -> None:
    """In 1D the adiabatic energies and the NAC fix the diabatic matrix: rebuilt from
    400 labels (coupling signs scrambled), it equals the model's matrix (coupling up to
    its overall sign) to 2e-4 Eh, and so do the exit probabilities (to 0.01)."""
    model = HarpoonModel(w0=0.004)
    r = np.linspace(1.8, 14.5, 400)
    reference = ReferenceDiatomic(_adiabatic_data(model, r, flip_signs=True), 9264.0)
    probe = np.linspace(2.0, 14.0, 997)[:, None]
    exact_matrix, exact_gradient = model.evaluate(probe)
    rebuilt, rebuilt_gradient = reference.evaluate(probe)
    # the reference orders its diabats as the adiabats at large R: covalent first
    rebuilt, rebuilt_gradient = rebuilt[:, ::-1, ::-1], rebuilt_gradient[:, :, ::-1, ::-1]
    sign = np.sign(rebuilt[:, 0, 1] @ exact_matrix[:, 0, 1])
    flip = np.array([[1.0, sign], [sign, 1.0]])
    np.testing.assert_allclose(rebuilt * flip, exact_matrix, atol=2e-4)
    np.testing.assert_allclose(rebuilt_gradient * flip, exact_gradient, atol=2e-3)
    on_model = exact_collision(model, 0.04, 1, CONFIG)
    on_reference = exact_collision(reference, 0.04, 1, CONFIG)
    assert on_model.unfinished < 1e-3
    np.testing.assert_allclose(on_reference.exit, on_model.exit, atol=0.01)


def test_uncoupled_collision_leaves_on_the_incoming_diabat_in_both_methods() -> None:
    """No coupling: the ionic packet (upper adiabat outside the crossing) must come back
    ionic in both methods."""
    model = HarpoonModel(w0=0.0)
    exact = exact_collision(model, 0.04, 1, CONFIG)
    np.testing.assert_allclose(exact.exit, [0.0, 1.0], atol=1e-3)
    fssh, _ = fssh_collision(model, 0.04, 1, 200, CONFIG,
                             FSSHConfig(progress=False, dt_au=2.0))
    assert fssh.unfinished == 0.0
    # the diabatic crossing is a trivial crossing for the adiabatic states: every
    # trajectory must hop across it twice and leave on the upper (ionic) state
    np.testing.assert_allclose(fssh.exit, [0.0, 1.0], atol=1e-9)


def test_weak_coupling_exit_follows_landau_zener_on_average() -> None:
    """Weak coupling: FSSH's neutral yield equals the double-passage Landau–Zener
    2P(1−P) with P = exp(−2πH₁₂²/(v ΔF)) at the crossing, within its statistics, and conserves
    the energy of every trajectory to 1e-4 Eh."""
    model = HarpoonModel(w0=0.0015)
    fssh, dynamics = fssh_collision(model, 0.04, 1, 2000, CONFIG, FSSHConfig(progress=False,
                                                                      dt_au=5.0))
    crossing = 1.0 / 0.15  # bohr, where gap - 1/R = 0 (walls negligible there)
    coupling = 0.0015 * np.exp(-0.5 * (crossing - 6.0))
    total = 0.04 + float(np.linalg.eigvalsh(model.evaluate(np.array([[10.4]]))[0])[0, 1])
    speed = np.sqrt(2.0 * total / 9264.0)
    diabatic = np.exp(-2.0 * np.pi * coupling**2 / (speed / crossing**2))
    expected = 2.0 * diabatic * (1.0 - diabatic)  # symmetric in the two passages
    assert abs(fssh.exit[0] - expected) < 3.0 * fssh.stderr[0] + 0.01
    assert dynamics.max_energy_drift_au < 1e-4


def test_bad_collision_settings_are_refused() -> None:
    model = HarpoonModel(w0=0.004)
    with pytest.raises(ConfigError, match="wall"):
        exact_collision(model, 0.04, 1, CONFIG.model_copy(update={"r_min_bohr": 3.2}))
    with pytest.raises(ConfigError, match="packet"):
        exact_collision(model, 0.04, 1, CONFIG.model_copy(update={"start_bohr": 12.0}))
    with pytest.raises(ConfigError, match="kinetic"):
        fssh_collision(model, -0.01, 1, 10, CONFIG)


def test_two_crossing_regions_are_refused_and_the_peak_is_located() -> None:
    r = np.linspace(0.0, 10.0, 201)
    one = np.exp(-((r - 4.0) ** 2) / 0.1)
    assert abs(nac_peak_position(r, one) - 4.0) < 1e-3
    check_single_crossing(r, one)
    with pytest.raises(DataError, match="2 separate regions"):
        check_single_crossing(r, one + np.exp(-((r - 7.0) ** 2) / 0.1))


def test_half_collision_crosses_once_with_the_landau_zener_probability() -> None:
    """Moving out from inside the crossing, the ionic packet passes the coupling region
    once: exact wavepacket and FSSH agree (3σ + 0.01) and follow single-passage
    Landau–Zener (0.05); nothing turns back."""
    model = HarpoonModel(w0=0.004)
    config = CONFIG.model_copy(update={"start_bohr": 4.5, "direction": "out", "r_min_bohr": 1.5,
                                       "absorber_bohr": 1.0})
    exact = exact_collision(model, 0.2, 0, config)
    fssh, dynamics = fssh_collision(model, 0.2, 0, 2000, config,
                                    FSSHConfig(progress=False, dt_au=2.0))
    crossing = 1.0 / 0.15
    coupling = 0.004 * np.exp(-0.5 * (crossing - 6.0))
    total = 0.2 + float(np.linalg.eigvalsh(model.evaluate(np.array([[4.5]]))[0])[0, 0])
    speed = np.sqrt(2.0 * total / 9264.0)
    # staying ionic = the diabatic passage = a hop between the adiabats
    diabatic = np.exp(-2.0 * np.pi * coupling**2 / (speed / crossing**2))
    assert exact.details["returned"] < 1e-3 and fssh.details["returned"] == 0.0
    assert abs(fssh.exit[1] - exact.exit[1]) < 3.0 * fssh.stderr[1] + 0.01
    assert abs(exact.exit[1] - diabatic) < 0.05
    assert exact.exit.sum() + exact.unfinished == pytest.approx(1.0, abs=1e-3)
    assert dynamics.max_energy_drift_au < 1e-4
