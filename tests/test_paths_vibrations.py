"""nnpkit.paths.vibrations against an analytic harmonic bond, and its bookkeeping.

The calculator is a harmonic bond ``E = ½·k·(r − r0)²`` between two atoms: at ``r = r0``
the stretch has ``ω = sqrt(k/μ)`` (``μ`` the reduced mass), and the five other modes
(translations, rotations) vanish up to the finite-difference error. With the second atom
fixed, the only mode along the bond is ``sqrt(k/m₁)``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixAtoms

from nnpkit.errors import ConfigError, TransitionStateError
from nnpkit.paths import check_minimum, check_saddle, internal_modes, vibrational_modes
from nnpkit.paths.vibrations import VibrationalModes, free_atom_indices

K_eV_PER_A2, R0_A = 30.0, 1.1  # a CO-like bond


class HarmonicBond(Calculator):
    """``½·k·(r − r0)²`` between atoms 0 and 1 (eV, Å)."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        vector = self.atoms.positions[1] - self.atoms.positions[0]
        r = float(np.linalg.norm(vector))
        force = -K_eV_PER_A2 * (r - R0_A) * vector / r  # on atom 1
        self.results = {"energy": 0.5 * K_eV_PER_A2 * (r - R0_A) ** 2,
                        "forces": np.array([-force, force])}


def _omega_eV(k_eV_per_A2: float, mass_amu: float) -> float:
    """ħ·sqrt(k/m) in eV, from SI constants."""
    omega = math.sqrt(k_eV_per_A2 * units._e * 1e20 / (mass_amu * units._amu))  # 1/s
    return units._hbar * omega / units._e


def _molecule() -> Atoms:
    # off-axis orientation, so the test does not rely on a bond along x
    direction = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    return Atoms("CO", positions=[(0.3, -0.2, 0.1), (0.3, -0.2, 0.1) + R0_A * direction])


def test_stretch_frequency_is_sqrt_k_over_mu() -> None:
    atoms = _molecule()
    masses = atoms.get_masses()
    mu = masses[0] * masses[1] / masses.sum()
    modes = vibrational_modes(atoms, HarmonicBond())
    assert modes.indices == [0, 1] and modes.frequencies_cm1.shape == (6,)
    expected_eV = _omega_eV(K_eV_PER_A2, mu)
    # the bond force is exactly linear along the bond: central differences are exact up
    # to rounding; 1e-4 relative would catch a wrong mass, unit or factor of 2π
    assert modes.energies_eV[-1] == pytest.approx(expected_eV, rel=1e-4)
    assert modes.frequencies_cm1[-1] == pytest.approx(expected_eV / units.invcm, rel=1e-4)
    np.testing.assert_allclose(modes.frequencies_cm1, modes.energies_eV / units.invcm,
                               rtol=1e-12)
    assert np.all(np.diff(modes.frequencies_cm1) >= 0)  # ascending
    # translations and rotations: below the imaginary threshold, none counted imaginary
    assert modes.n_imaginary == 0 and np.abs(modes.frequencies_cm1[:5]).max() < 30.0
    internal = internal_modes(modes, "linear")
    assert internal.shape == (1,) and internal[0] == modes.energies_eV[-1]
    check_minimum(modes, "CO")


def test_default_indices_skip_fixed_atoms_and_nothing_is_left_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    atoms = _molecule()
    atoms.set_constraint(FixAtoms(indices=[1]))
    before = atoms.positions.copy()
    modes = vibrational_modes(atoms, HarmonicBond())
    assert modes.indices == [0] == free_atom_indices(atoms)
    assert modes.energies_eV[-1] == pytest.approx(
        _omega_eV(K_eV_PER_A2, atoms.get_masses()[0]), rel=1e-4)
    # the two directions perpendicular to the bond have (almost) no restoring force
    assert np.abs(modes.frequencies_cm1[:2]).max() < 30.0
    assert np.array_equal(atoms.positions, before) and atoms.calc is None
    assert list(tmp_path.iterdir()) == []  # the Vibrations cache lived in a temp dir


def test_a_compressed_bond_has_two_imaginary_rotations() -> None:
    """Off r0 the curvature perpendicular to the bond is k(r−r0)/r: a compressed bond is
    a negative curvature for the rotations, 2 modes of known imaginary frequency."""
    atoms = _molecule()
    atoms.positions[1] = atoms.positions[0] + (atoms.positions[1] - atoms.positions[0]) \
        * 0.8
    r = R0_A * 0.8
    masses = atoms.get_masses()
    mu = masses[0] * masses[1] / masses.sum()
    curvature = K_eV_PER_A2 * (r - R0_A) / r  # eV/Å², negative, per perpendicular axis
    expected_cm1 = -_omega_eV(abs(curvature), mu) / units.invcm
    # the perpendicular force is nonlinear in the displacement (~δ²/r² relative): 1e-3 Å
    modes = vibrational_modes(atoms, HarmonicBond(), delta_A=1e-3,
                              imaginary_threshold_cm1=30.0)
    assert modes.n_imaginary == 2
    np.testing.assert_allclose(modes.frequencies_cm1[:2], expected_cm1, rtol=1e-4)
    with pytest.raises(TransitionStateError, match="compressed CO: not a first-order "
                                                   "saddle: it has 2 imaginary modes"):
        check_saddle(modes, "compressed CO")
    with pytest.raises(TransitionStateError, match="compressed CO: not a minimum: it has 2"):
        check_minimum(modes, "compressed CO")
    with pytest.raises(TransitionStateError, match="imaginary internal mode"):
        # 3 atoms, nonlinear: the 3 largest of 9 include an imaginary one
        bent = np.array([-0.07, -0.06, -0.05, -0.04, -0.03, -0.02, -0.01, 0.2, 0.3])
        internal_modes(VibrationalModes(bent / units.invcm, bent, [0, 1, 2], 7),
                       "nonlinear")
    # a threshold above the imaginary frequency counts none
    high = vibrational_modes(atoms, HarmonicBond(),
                             imaginary_threshold_cm1=abs(expected_cm1) + 1.0)
    assert high.n_imaginary == 0
    assert high.real_energies_eV().tolist() == [e for e in high.energies_eV if e > 0]


def test_internal_modes_and_bad_input() -> None:
    energies = np.array([-1e-4, 0.0, 1e-4, 2e-4, 3e-4, 4e-4, 0.1, 0.2, 0.3])  # [9]
    water_like = VibrationalModes(energies / units.invcm, energies, [0, 1, 2], 0)
    np.testing.assert_array_equal(internal_modes(water_like, "nonlinear"), [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(internal_modes(water_like, "linear"),
                                  [4e-4, 0.1, 0.2, 0.3])
    atom = VibrationalModes(np.zeros(3), np.zeros(3), [0], 0)
    assert internal_modes(atom, "monatomic").shape == (0,)
    with pytest.raises(ConfigError, match="'bent'"):
        internal_modes(water_like, "bent")
    with pytest.raises(ConfigError, match="nonlinear molecule cannot have 1 atoms"):
        internal_modes(atom, "nonlinear")
    with pytest.raises(ConfigError, match="indices must be distinct"):
        vibrational_modes(_molecule(), HarmonicBond(), indices=[0, 0])
    with pytest.raises(ConfigError, match="no atoms to displace"):
        vibrational_modes(_molecule(), HarmonicBond(), indices=[])
