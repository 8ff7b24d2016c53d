"""Molecular photodynamics: Wigner initial conditions, the state calculator, FSSH on an
atomistic diabatic network, the lifetime fit and the committee spread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.emt import EMT

from nnpkit.apps.nonadiabatic.atomistic_training import atomistic_adiabatic
from nnpkit.apps.nonadiabatic.molecular import AtomisticDiabaticNetwork
from nnpkit.apps.nonadiabatic.photodynamics import (
    PhotodynamicsConfig,
    committee_spread,
    fit_lifetime,
    run_photodynamics,
)
from nnpkit.apps.nonadiabatic.state_calculator import AdiabaticStateCalculator
from nnpkit.errors import ConfigError
from nnpkit.labeling.normal_modes import harmonic_modes, wigner_samples


def _network(seed: int) -> AtomisticDiabaticNetwork:
    torch.manual_seed(seed)
    return AtomisticDiabaticNetwork(["O", "H"], 2, cutoff_A=4.0, hidden=(16,)).double()


@pytest.mark.parametrize("temperature", [0.0, 3000.0])
def test_wigner_samples_carry_the_zero_point_energy_split_evenly(temperature: float) -> None:
    """Per mode <T> = <V> = ħω/4 · coth(ħω/2kT) (H2 on EMT, 20000 samples, 3 %)."""
    modes = harmonic_modes(molecule("H2"), EMT())
    positions, velocities = wigner_samples(modes, 20000, seed=1, temperature_K=temperature)
    masses = modes.atoms.get_masses()  # amu
    kinetic = 0.5 * np.sum(masses[None, :, None] * velocities**2, axis=(1, 2)) * (
        units._amu * 1e10 / units._e)  # amu (Å/fs)² -> eV
    hbar_omega = units._hbar * np.sqrt(modes.eigenvalues[0] * units._e / units._amu) * 1e10 / (
        units._e)
    occupation = 1.0 / np.tanh(hbar_omega / (2 * units.kB * temperature)) if temperature else 1.0
    expected = hbar_omega * occupation / 4.0
    reduced = masses[0] * masses[1] / masses.sum()
    stretch = np.linalg.norm(positions[:, 1] - positions[:, 0], axis=1)
    reference = np.linalg.norm(np.diff(modes.atoms.positions, axis=0))
    potential = 0.5 * modes.eigenvalues[0] * reduced * (stretch - reference) ** 2
    assert kinetic.mean() == pytest.approx(expected, rel=0.03)
    assert potential.mean() == pytest.approx(expected, rel=0.03)
    # the centre of mass does not move
    momentum = np.sum(masses[None, :, None] * velocities, axis=1)
    np.testing.assert_allclose(momentum, 0.0, atol=1e-10)


def test_state_calculator_forces_are_minus_the_energy_gradient() -> None:
    atoms = molecule("H2O")
    atoms.positions += np.random.default_rng(0).normal(0, 0.05, atoms.positions.shape)
    for state in (0, 1):
        atoms.calc = AdiabaticStateCalculator(_network(0), state)
        forces = atoms.get_forces()
        step = 1e-5
        for atom, axis in ((0, 2), (1, 0)):
            shifted = [atoms.copy() for _ in range(2)]
            for sign, copy in zip((1, -1), shifted, strict=True):
                copy.positions[atom, axis] += sign * step
                copy.calc = AdiabaticStateCalculator(_network(0), state)
            numeric = -(shifted[0].get_potential_energy()
                        - shifted[1].get_potential_energy()) / (2 * step)
            assert forces[atom, axis] == pytest.approx(numeric, abs=1e-6)
    with pytest.raises(ConfigError, match="state 2"):
        AdiabaticStateCalculator(_network(0), 2)


def test_photodynamics_on_a_network_conserves_energy_and_population() -> None:
    atoms = molecule("H2O")
    rng = np.random.default_rng(2)
    positions = atoms.positions[None] + rng.normal(0, 0.03, (12, 3, 3))  # [T, N, 3] Å
    velocities = rng.normal(0, 0.005, (12, 3, 3))  # Å/fs
    config = PhotodynamicsConfig(n_trajectories=12, time_fs=10.0, dt_fs=0.02, record_every=10)
    result = run_photodynamics(_network(0), atoms, config, positions, velocities)
    assert result.populations.shape == (len(result.times_fs), 2)
    np.testing.assert_allclose(result.populations.sum(1), 1.0)
    assert result.positions_A.shape == (len(result.times_fs), 12, 3, 3)
    np.testing.assert_allclose(result.positions_A[0], positions, atol=1e-12)
    assert result.times_fs[-1] == pytest.approx(10.0)
    assert result.max_energy_drift_eV < 2e-3
    # the record at t = 0 is the initial state of every trajectory
    assert np.all(result.active_history[0] == 1)


def test_lifetime_fit_recovers_a_delayed_exponential_with_honest_errors() -> None:
    rng = np.random.default_rng(4)
    n_traj, tau, delay = 400, 60.0, 15.0
    hop = delay + rng.exponential(tau, n_traj)  # [T] fs
    times = np.linspace(0.0, 250.0, 126)  # [R]
    active = np.where(times[:, None] < hop[None, :], 1, 0)  # [R, T]
    fit = fit_lifetime(times, active, state=1, n_bootstrap=100)
    assert abs(fit["tau_fs"] - tau) < 3 * fit["tau_stderr_fs"]
    assert abs(fit["t0_fs"] - delay) < 3 * fit["t0_stderr_fs"] + 1.0
    # the bootstrap error is that of an exponential sample, τ/√N, within a factor of 2
    assert 0.5 * tau / np.sqrt(n_traj) < fit["tau_stderr_fs"] < 2.0 * tau / np.sqrt(n_traj)


def test_committee_spread_is_the_standard_deviation_of_the_members() -> None:
    atoms = molecule("H2O")
    geometries = atoms.positions[None] + np.random.default_rng(5).normal(0, 0.05, (4, 3, 3))
    members = [_network(0), _network(1)]
    spread = committee_spread(members, atoms, geometries)
    structures = []
    for geometry in geometries:
        copy = atoms.copy()
        copy.positions = geometry
        structures.append(copy)
    first, second = (atomistic_adiabatic(m, structures)[0] for m in members)
    np.testing.assert_allclose(spread, np.abs(first - second) / np.sqrt(2.0), rtol=1e-10)
    np.testing.assert_allclose(committee_spread([_network(0), _network(0)], atoms, geometries),
                               0.0, atol=1e-12)
    with pytest.raises(ConfigError, match="at least 2"):
        committee_spread(members[:1], atoms, geometries)


def test_wigner_needs_sane_settings() -> None:
    modes = harmonic_modes(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.75]]), EMT())
    with pytest.raises(ConfigError):
        wigner_samples(modes, -1)
