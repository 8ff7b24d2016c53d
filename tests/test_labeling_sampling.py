"""Normal-mode sampling (against the analytic Morse curvature), MD at several temperatures,
invariant descriptors and farthest-point selection."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.morse import MorsePotential

from nnpkit.errors import ConfigError, DataError
from nnpkit.labeling import (
    farthest_point_selection,
    harmonic_modes,
    normal_mode_samples,
    sample_md_temperatures,
    structure_descriptors,
)


def test_normal_mode_samples_reproduce_the_morse_bond_variance() -> None:
    """Classical harmonic sampling: Var(r) = k_B T / k with k = 2 ε ρ0² / r0² (Morse)."""
    epsilon, rho0, r0 = 2.0, 4.0, 1.2
    dimer = Atoms("N2", positions=[[0, 0, 0], [0, 0, 1.25]])  # relaxed to r0 first
    calculator = MorsePotential(epsilon=epsilon, rho0=rho0, r0=r0)
    samples = normal_mode_samples(dimer, calculator, 300.0, 4000, seed=1)
    distances = np.array([s.get_distance(0, 1) for s in samples])
    expected_variance = units.kB * 300.0 / (2 * epsilon * rho0**2 / r0**2)
    assert distances.mean() == pytest.approx(r0, abs=3 * np.sqrt(expected_variance / 4000))
    assert distances.var() == pytest.approx(expected_variance, rel=0.08)  # 4000 samples
    # mass weighting keeps the centre of mass fixed, whatever the masses
    hetero = harmonic_modes(Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.25]]), calculator)
    assert hetero.eigenvalues.shape == (1,)  # linear: 3N - 5 modes
    for sample in normal_mode_samples(hetero.atoms, calculator, 500.0, 5, seed=2,
                                      modes=hetero):
        np.testing.assert_allclose(sample.get_center_of_mass(),
                                   hetero.atoms.get_center_of_mass(), atol=1e-10)


def test_normal_modes_of_a_nonlinear_molecule() -> None:
    pytest.importorskip("tblite")
    from nnpkit.labeling import make_reference_calculator

    modes = harmonic_modes(molecule("H2O"), make_reference_calculator("gfn2"))
    assert modes.eigenvalues.shape == (3,) and modes.modes.shape == (3, 9)
    # GFN2-xTB water: bend ~1540 cm⁻¹, stretches ~3640 cm⁻¹ (experiment 1595, 3657, 3756)
    assert 1400 < modes.frequencies_cm[0] < 1700
    assert np.all((3400 < modes.frequencies_cm[1:]) & (modes.frequencies_cm[1:] < 3900))
    samples = normal_mode_samples(molecule("H2O"), None, 300.0, 2000, modes=modes)  # type: ignore[arg-type]
    harmonic = np.array([s.info["harmonic_energy_eV"] for s in samples])
    assert harmonic.mean() == pytest.approx(3 * units.kB * 300.0 / 2, rel=0.06)
    centre = modes.atoms.get_center_of_mass()
    for sample in samples[:20]:
        np.testing.assert_allclose(sample.get_center_of_mass(), centre, atol=1e-10)


def test_normal_mode_sampling_rejects_crystals_and_bad_input() -> None:
    with pytest.raises(DataError, match="rattle_structures"):
        harmonic_modes(bulk("Cu"), EMT())
    with pytest.raises(ConfigError, match="temperature_K"):
        normal_mode_samples(molecule("H2"), EMT(), -5.0, 3)


def test_md_at_several_temperatures_carries_the_temperature() -> None:
    samples = sample_md_temperatures(bulk("Cu", cubic=True), EMT(), [300.0, 900.0], 2,
                                     interval_steps=2, equilibration_steps=4,
                                     timestep_fs=2.0, progress=False)
    assert [s.info["temperature_K"] for s in samples] == [300.0, 300.0, 900.0, 900.0]
    assert all("energy" in s.calc.results for s in samples)
    with pytest.raises(ConfigError, match="at least one"):
        sample_md_temperatures(bulk("Cu"), EMT(), [], 1)


def test_descriptors_are_invariant_and_discriminating() -> None:
    ethanol = molecule("CH3CH2OH")
    rotated = ethanol.copy()
    rotated.rotate(37.0, "x")
    rotated.rotate(-81.0, "z")
    rotated.translate([1.0, -2.0, 0.5])
    permuted = ethanol[[0, 1, 2, 4, 3, 5, 6, 7, 8]]  # two atoms of a kind swapped
    stretched = ethanol.copy()
    stretched.positions[0] += [0.3, 0.0, 0.0]
    water = molecule("H2O")
    features = structure_descriptors([ethanol, rotated, permuted, stretched, water])
    assert features.shape[0] == 5 and features.shape[1] % 6 == 0  # 3 elements × (mean, std)
    np.testing.assert_allclose(features[1], features[0], atol=1e-10)
    np.testing.assert_allclose(features[2], features[0], atol=1e-10)
    assert np.linalg.norm(features[3] - features[0]) > 1e-2
    assert np.linalg.norm(features[4] - features[0]) > 1e-2


def test_farthest_point_selection_covers_the_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.vstack([c + rng.normal(scale=0.1, size=(20, 2)) for c in centres])  # [60, 2]
    picks = farthest_point_selection(points, 3)
    assert sorted(k // 20 for k in picks) == [0, 1, 2]
    # away from an already labelled cluster: the first pick lands in another cluster
    reference = centres[:1] + rng.normal(scale=0.1, size=(5, 2))
    assert all(k // 20 != 0 for k in farthest_point_selection(points, 2, reference))
    priority = np.zeros(60)
    priority[45] = 1.0
    assert farthest_point_selection(points, 1, priority=priority) == [45]
    assert farthest_point_selection(points, 100) != [] and len(
        farthest_point_selection(points, 100)) == 60
    with pytest.raises(ConfigError, match=r"\[n, d\]"):
        farthest_point_selection(np.zeros(4), 1)
