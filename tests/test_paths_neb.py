"""nnpkit.paths.run_neb: saddles known independently, recorded failures, constraints, and
the Cu(100) adatom hop and exchange with EMT as the reference.

The analytic surface is Müller–Brown (Müller & Brown, Theor. Chim. Acta 53, 75 (1979)) for
one H atom: ``E = MB(x, y) / 100 eV`` with x, y in Å, plus a stiff harmonic term
``½·k_z·z²`` holding the atom in the plane. Its stationary points are located here
independently (scipy's root of the analytic gradient from the published coordinates, the
analytic Hessian giving the signature), then the climbing-image NEB must land on them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from scipy.optimize import root

from nnpkit.errors import ConfigError, DataError, TransitionStateError
from nnpkit.paths import check_minimum, check_saddle, run_neb, vibrational_modes
from nnpkit.paths.surfaces import (
    EMT_EXCHANGE_BARRIER_eV,
    EMT_HOP_BARRIER_eV,
    cu100_adatom_exchange,
    cu100_adatom_hop,
    exchange_partner_index,
)

_PREFACTOR = np.array([-200.0, -100.0, -170.0, 15.0])
_A = np.array([-1.0, -1.0, -6.5, 0.7])
_B = np.array([0.0, 0.0, 11.0, 0.6])
_C = np.array([-10.0, -10.0, -6.5, 0.7])
_X0 = np.array([1.0, 0.0, -0.5, -1.0])
_Y0 = np.array([0.0, 0.5, 1.5, 1.0])
ENERGY_SCALE_eV = 0.01      # eV per Müller–Brown unit (coordinates in Å)
Z_SPRING_eV_PER_A2 = 5.0    # the stiff out-of-plane term

#: Published stationary points (x, y) of Müller–Brown, 3 decimals: starting guesses.
MINIMUM_A, MINIMUM_B, MINIMUM_C = (-0.558, 1.442), (0.623, 0.028), (-0.050, 0.467)
SADDLE_AC, SADDLE_CB = (-0.822, 0.624), (0.212, 0.293)


def muller_brown(x: float, y: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Müller–Brown energy, gradient ``[2]`` and Hessian ``[2, 2]`` (MB units)."""
    dx, dy = x - _X0, y - _Y0
    terms = _PREFACTOR * np.exp(_A * dx * dx + _B * dx * dy + _C * dy * dy)  # [4]
    gx, gy = 2 * _A * dx + _B * dy, _B * dx + 2 * _C * dy
    hessian = np.array([[(terms * (gx * gx + 2 * _A)).sum(), (terms * (gx * gy + _B)).sum()],
                        [(terms * (gx * gy + _B)).sum(), (terms * (gy * gy + 2 * _C)).sum()]])
    return float(terms.sum()), np.array([(terms * gx).sum(), (terms * gy).sum()]), hessian


class MullerBrown(Calculator):
    """One atom on ``MB(x, y)/100 eV + ½·k_z·z²``."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        x, y, z = self.atoms.positions[0]
        energy, gradient, _ = muller_brown(x, y)
        self.results = {
            "energy": ENERGY_SCALE_eV * energy + 0.5 * Z_SPRING_eV_PER_A2 * z * z,
            "forces": np.array([[*(-ENERGY_SCALE_eV * gradient), -Z_SPRING_eV_PER_A2 * z]])}


def _atom(xy: tuple[float, float] | np.ndarray) -> Atoms:
    return Atoms("H", positions=[(xy[0], xy[1], 0.0)])


def _stationary(guess: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The stationary point near ``guess`` and its Hessian eigenvalues (MB units)."""
    solution = root(lambda p: muller_brown(*p)[1:], guess, jac=True, tol=1e-12)
    _, gradient, hessian = muller_brown(*solution.x)
    assert np.abs(gradient).max() < 1e-8, solution  # MB units per Å
    return solution.x, np.linalg.eigvalsh(hessian)


def _wavenumber_cm1(curvature_eV_per_A2: float, mass_amu: float) -> float:
    """sqrt(k/m) as a wavenumber (cm⁻¹); negative for a negative curvature."""
    omega = math.sqrt(abs(curvature_eV_per_A2) * units._e * 1e20 / (mass_amu * units._amu))
    return math.copysign(units._hbar * omega / units._e / units.invcm, curvature_eV_per_A2)


def test_scipy_locates_the_published_stationary_points() -> None:
    for guess, n_negative in [(MINIMUM_A, 0), (MINIMUM_B, 0), (MINIMUM_C, 0),
                              (SADDLE_AC, 1), (SADDLE_CB, 1)]:
        point, eigenvalues = _stationary(guess)
        np.testing.assert_allclose(point, guess, atol=1.5e-3)  # 3 published decimals
        assert int(np.sum(eigenvalues < 0)) == n_negative, (guess, eigenvalues)


@pytest.fixture(scope="module")
def band_a_to_c():  # noqa: ANN201
    """The climbing-image band A → C, started from the published (rounded) minima."""
    return run_neb(_atom(MINIMUM_A), _atom(MINIMUM_C), MullerBrown, n_images=5,
                   fmax_eV_per_A=1e-3, max_steps=2000)


@pytest.mark.parametrize(("start", "end", "saddle"), [(MINIMUM_A, MINIMUM_C, SADDLE_AC),
                                                       (MINIMUM_C, MINIMUM_B, SADDLE_CB)])
def test_climbing_image_lands_on_the_saddle(start: tuple, end: tuple, saddle: tuple) -> None:
    result = run_neb(_atom(start), _atom(end), MullerBrown, n_images=5,
                     fmax_eV_per_A=1e-3, max_steps=2000)
    assert result.converged and result.error is None
    assert result.max_force_eV_per_A < 1e-3 and 0 < result.n_steps < 2000
    point, _ = _stationary(saddle)
    e_saddle = ENERGY_SCALE_eV * muller_brown(*point)[0]
    e_start = ENERGY_SCALE_eV * muller_brown(*_stationary(start)[0])[0]
    climber = result.images[result.saddle_index].positions[0]
    # 1e-3 Å: a residual force of 1e-3 eV/Å over the smallest |curvature| (~2 eV/Å²) at
    # the saddle displaces it by ~5e-4 Å; the nearest non-climbing image is ~0.2 Å away.
    np.testing.assert_allclose(climber, [*point, 0.0], atol=1e-3)
    assert result.energies_eV[result.saddle_index] == pytest.approx(e_saddle, rel=1e-3)
    assert result.energies_eV[0] == pytest.approx(e_start, abs=1e-6)  # relaxed end point
    assert result.barrier_forward_eV == pytest.approx(e_saddle - e_start, rel=1e-3)
    assert result.barrier_forward_eV - result.barrier_reverse_eV == pytest.approx(
        result.energies_eV[-1] - result.energies_eV[0], abs=1e-12)


def test_saddle_has_one_imaginary_mode_and_a_minimum_is_flagged(band_a_to_c) -> None:  # noqa: ANN001
    point, _ = _stationary(SADDLE_AC)
    mass = _atom(point).get_masses()[0]
    curvatures = [ENERGY_SCALE_eV * e for e in np.linalg.eigvalsh(muller_brown(*point)[2])]
    expected = sorted([_wavenumber_cm1(k, mass) for k in curvatures]
                      + [_wavenumber_cm1(Z_SPRING_eV_PER_A2, mass)])
    # central differences err by ~δ²·(4th derivative)/(12·curvature): 3e-4 in ω at the
    # default δ = 0.01 Å on this steep surface, ~3e-6 at δ = 1e-3 Å
    modes = vibrational_modes(_atom(point), MullerBrown(), delta_A=1e-3)
    assert modes.n_imaginary == 1 and modes.indices == [0]
    np.testing.assert_allclose(modes.frequencies_cm1, expected, rtol=1e-4)
    check_saddle(modes, "Müller–Brown saddle")
    with pytest.raises(TransitionStateError, match="saddle.*1 imaginary modes"):
        check_minimum(modes, "Müller–Brown saddle")
    # the NEB's climbing image passes the same check
    check_saddle(vibrational_modes(band_a_to_c.images[band_a_to_c.saddle_index],
                                   MullerBrown()), "climbing image")
    minimum = vibrational_modes(_atom(_stationary(MINIMUM_A)[0]), MullerBrown())
    assert minimum.n_imaginary == 0 and np.all(minimum.frequencies_cm1 > 0)
    check_minimum(minimum, "minimum A")
    with pytest.raises(TransitionStateError, match="minimum A given as a saddle: not a "
                                                   "first-order saddle: it has 0 imaginary"):
        check_saddle(minimum, "minimum A given as a saddle")


def test_a_failed_reference_calculation_is_recorded() -> None:
    class FailsMidway(MullerBrown):
        def calculate(self, atoms=None, properties=None, system_changes=all_changes):  # noqa: ANN001, ANN202
            if 0.7 < atoms.positions[0, 1] < 1.2:  # the interior images only
                raise CalculationFailed("SCF not converged (test)")
            super().calculate(atoms, properties, system_changes)

    result = run_neb(_atom(MINIMUM_A), _atom(MINIMUM_C), FailsMidway, n_images=3,
                     interpolation="linear", fmax_eV_per_A=0.01)
    assert result.error == "CalculationFailed: SCF not converged (test)"
    assert result.converged is False and result.saddle_index == -1
    assert all(math.isnan(e) for e in result.energies_eV) and len(result.energies_eV) == 5
    assert math.isnan(result.barrier_forward_eV) and math.isnan(result.max_force_eV_per_A)
    record = result.to_json()
    assert record["barrier_forward_eV"] is None and record["energies_eV"] == [None] * 5
    assert "images" not in record and record["error"] == result.error


def test_a_programming_error_in_the_calculator_propagates() -> None:
    class Broken(MullerBrown):
        def calculate(self, atoms=None, properties=None, system_changes=all_changes):  # noqa: ANN001, ANN202
            raise TypeError("bad argument (test)")

    with pytest.raises(TypeError, match="bad argument"):
        run_neb(_atom(MINIMUM_A), _atom(MINIMUM_C), Broken, n_images=3)


def test_an_unconverged_band_is_reported_not_assumed() -> None:
    initial, final = _atom(MINIMUM_A), _atom(MINIMUM_C)
    before = initial.positions.copy()
    result = run_neb(initial, final, MullerBrown, n_images=3, max_steps=3,
                     fmax_eV_per_A=1e-3, progress=True)
    assert result.converged is False and result.error is None and result.n_steps == 3
    assert result.max_force_eV_per_A > 1e-3
    assert np.array_equal(initial.positions, before) and initial.calc is None  # untouched
    assert all(image.calc is None for image in result.images)


def test_bad_settings_and_mismatched_end_points_are_refused() -> None:
    initial, final = _atom(MINIMUM_A), _atom(MINIMUM_C)
    for settings, key in [({"method": "elastic"}, "elastic"), ({"optimizer": "Adam"}, "Adam"),
                          ({"interpolation": "spline"}, "spline"), ({"n_images": 0}, "n_images")]:
        with pytest.raises(ConfigError, match=key):
            run_neb(initial, final, MullerBrown, **settings)
    with pytest.raises(DataError, match="differ in their atoms"):
        run_neb(initial, Atoms("He", positions=[(0, 0, 0)]), MullerBrown)
    periodic = [_atom(MINIMUM_A), _atom(MINIMUM_C)]
    for atoms, length in zip(periodic, (10.0, 11.0), strict=True):
        atoms.set_cell([length, 10.0, 10.0])
        atoms.pbc = True
    with pytest.raises(DataError, match="periodic cell vectors"):
        run_neb(*periodic, MullerBrown)
    # a different cell along a non-periodic axis (a slab's vacuum) is accepted
    for atoms in periodic:
        atoms.pbc = (False, True, True)
    assert run_neb(*periodic, MullerBrown, n_images=1, max_steps=1).n_steps == 1
    slab_start, slab_end = cu100_adatom_hop()
    slab_end.positions[4] += (0.1, 0.0, 0.0)  # a fixed bottom-layer atom
    with pytest.raises(DataError, match=r"atoms \[4\] are fixed"):
        run_neb(slab_start, slab_end, EMT)


# ---- Cu adatom on Cu(100), EMT ----------------------------------------------------------

@pytest.fixture(scope="module")
def hop():  # noqa: ANN201
    """The hop band; the final state is given *without* constraints: run_neb puts the
    initial state's FixAtoms on every image."""
    initial, final = cu100_adatom_hop()
    final.set_constraint()
    return initial, final, run_neb(initial, final, EMT, n_images=5, fmax_eV_per_A=0.01)


def test_builders_are_deterministic_and_move_only_the_path_atoms() -> None:
    for build, moved in [(cu100_adatom_hop, [27]),
                         (cu100_adatom_exchange, [exchange_partner_index(), 27])]:
        (a1, b1), (a2, b2) = build(), build()
        assert np.array_equal(a1.positions, a2.positions)
        assert np.array_equal(b1.positions, b2.positions)
        assert len(a1) == 28 and list(a1.constraints[0].get_indices()) == list(range(9))
        differs = np.nonzero(np.linalg.norm(b1.positions - a1.positions, axis=1) > 0)[0]
        assert differs.tolist() == sorted(moved)
    initial, final = cu100_adatom_hop()
    d = 3.5898 / math.sqrt(2)
    np.testing.assert_allclose(final.positions[-1] - initial.positions[-1], [d, 0, 0])


def test_emt_hop_barrier(hop) -> None:  # noqa: ANN001
    initial, _, result = hop
    assert result.converged and result.error is None
    # EMT's hop barrier on Cu(100) is ~0.4 eV; the measured constant to 5 meV
    assert 0.35 < result.barrier_forward_eV < 0.47
    assert result.barrier_forward_eV == pytest.approx(EMT_HOP_BARRIER_eV, abs=0.005)
    assert result.barrier_reverse_eV == pytest.approx(result.barrier_forward_eV, abs=0.005)
    saddle = result.images[result.saddle_index]
    modes = vibrational_modes(saddle, EMT())  # the 19 free atoms
    assert len(modes.indices) == 19 and modes.n_imaginary == 1
    check_saddle(modes, "hop saddle")
    check_minimum(vibrational_modes(result.images[0], EMT(), indices=[27]), "hop start")


def test_fixed_atoms_do_not_move_on_any_image(hop) -> None:  # noqa: ANN001
    initial, final, result = hop
    fixed = list(range(9))
    assert not final.constraints  # the caller's final state is left as given
    for image in result.images:
        assert np.array_equal(image.positions[fixed], initial.positions[fixed])
        (constraint,) = image.constraints
        assert isinstance(constraint, FixAtoms) and constraint.get_indices().tolist() == fixed
    moved = np.linalg.norm(result.images[3].positions - initial.positions, axis=1)
    assert moved[27] > 1.0  # while the adatom does move (half-way along the hop)


def test_emt_exchange_barrier() -> None:
    initial, final = cu100_adatom_exchange()
    result = run_neb(initial, final, EMT, n_images=5, fmax_eV_per_A=0.01)
    assert result.converged and result.error is None
    assert 0.9 < result.barrier_forward_eV < 1.2
    assert result.barrier_forward_eV == pytest.approx(EMT_EXCHANGE_BARRIER_eV, abs=0.005)
    modes = vibrational_modes(result.images[result.saddle_index], EMT())
    assert modes.n_imaginary == 1
    check_saddle(modes, "exchange saddle")
