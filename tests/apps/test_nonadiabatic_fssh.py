"""Surface hopping: hop bookkeeping, decoherence, energy conservation, and exact references."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from nnpkit.apps.nonadiabatic.conical import conical_dynamics
from nnpkit.apps.nonadiabatic.exact import WavepacketConfig, exact_scattering
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig, _decohere, _rescale, kinetic_energy
from nnpkit.apps.nonadiabatic.scattering import fssh_scattering
from nnpkit.cli.nonadiabatic import register
from nnpkit.wavepackets.tully import model_by_name, tully_model

FOUR = ("transmission_lower", "transmission_upper", "reflection_lower", "reflection_upper")


def _cli(argv, capsys) -> dict:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    assert args.handler(args) == 0
    return json.loads(capsys.readouterr().out)


def test_rescale_conserves_energy_or_reflects():
    masses = np.array([2000.0, 500.0])
    momenta = np.array([[10.0, 3.0], [1.0, 0.5]])  # [2, 2]
    direction = np.array([[1.0, 2.0], [1.0, 0.0]])
    gain = np.array([-0.01, -0.5])  # second: far too little kinetic energy
    new, allowed = _rescale(momenta, masses, direction, gain, "keep")
    assert allowed.tolist() == [True, False]
    np.testing.assert_allclose(kinetic_energy(new[:1], masses),
                               kinetic_energy(momenta[:1], masses) + gain[:1], rtol=1e-12)
    np.testing.assert_array_equal(new[1], momenta[1])
    reflected, _ = _rescale(momenta, masses, direction, gain, "reflect")
    assert reflected[1, 0] == pytest.approx(-momenta[1, 0])
    assert reflected[1, 1] == pytest.approx(momenta[1, 1])


def test_decoherence_damps_inactive_states_and_keeps_norm():
    amplitudes = np.array([[0.6 + 0.0j, 0.8j], [np.sqrt(0.5), np.sqrt(0.5)]])  # [2, 2]
    energies = np.array([[0.0, 0.02], [0.0, 0.0]])
    config = FSSHConfig(dt_au=10.0, decoherence="edc")
    damped = _decohere(amplitudes, energies, np.array([0, 1]), np.array([0.05, 0.05]), config)
    np.testing.assert_allclose(np.sum(np.abs(damped) ** 2, axis=1), 1.0, atol=1e-12)
    assert abs(damped[0, 1]) < abs(amplitudes[0, 1])  # gap: damped
    np.testing.assert_allclose(damped[1], amplitudes[1])  # degenerate: untouched
    np.testing.assert_array_equal(amplitudes[0], [0.6, 0.8j])  # input untouched


def test_fssh_conserves_energy_and_populations():
    result = fssh_scattering(tully_model(1), 15.0, 200, FSSHConfig(progress=False),
                             sampling="fixed")
    assert result.dynamics.max_energy_drift_au < 2e-5
    np.testing.assert_allclose(result.dynamics.populations.sum(axis=1), 1.0)
    np.testing.assert_allclose(result.dynamics.electronic_populations.sum(axis=1), 1.0,
                               atol=1e-9)
    total = result.transmission.sum() + result.reflection.sum()
    assert total == pytest.approx(1.0)
    assert np.mean(result.dynamics.final.hops) > 0.1


def test_fssh_tully1_agrees_with_exact_wavepacket(capsys, tmp_path):
    exact = _cli(["wavepacket", "scatter", "--model", "tully1", "--momentum-au", "20",
                  "--json"], capsys)
    assert sum(exact[key] for key in FOUR) == pytest.approx(1.0, abs=1e-4)
    fssh = _cli(["fssh", "--model", "tully1", "--momentum-au", "20", "--trajectories", "600",
                 "--seed", "3", "--json", "--out", str(tmp_path)], capsys)
    assert set(FOUR) <= set(fssh) and set(fssh["stderr"]) == set(FOUR)
    assert (tmp_path / "populations.png").stat().st_size > 1000
    for key in FOUR:
        assert abs(fssh[key] - exact[key]) < 3 * fssh["stderr"][key] + 0.02, key


def test_conical_intersection_population_decays():
    result = conical_dynamics(model_by_name("lvc2d"), 300, time_au=500.0,
                              config=FSSHConfig(dt_au=1.0, progress=False))
    upper = result.populations[:, 1]
    assert upper[0] == 1.0 and upper[-1] < 0.3
    assert result.max_energy_drift_au < 2e-3


@pytest.mark.slow
@pytest.mark.parametrize("momentum", [10.0, 15.0, 25.0])
def test_fssh_tully1_close_to_exact(momentum):
    exact = exact_scattering(tully_model(1), momentum)
    fssh = fssh_scattering(tully_model(1), momentum, 2000, FSSHConfig(progress=False))
    for got, errors, want in ((fssh.transmission, fssh.transmission_stderr, exact.transmission),
                              (fssh.reflection, fssh.reflection_stderr, exact.reflection)):
        assert np.all(np.abs(got - want) < 3 * errors + 0.02)


@pytest.mark.slow
def test_tully3_overcoherence_and_decoherence_correction():
    exact = exact_scattering(tully_model(3), 10.0)
    plain = fssh_scattering(tully_model(3), 10.0, 2000, FSSHConfig(progress=False))
    edc = fssh_scattering(tully_model(3), 10.0, 2000,
                          FSSHConfig(progress=False, decoherence="edc"))
    # over-coherence: too much reflection on the lower state without decoherence
    assert plain.reflection[0] - exact.reflection[0] > 0.05
    assert np.all(np.abs(edc.reflection - exact.reflection) < 0.03)
    assert abs(edc.transmission[0] - exact.transmission[0]) < 0.03


@pytest.mark.slow
def test_exact_scattering_is_converged():
    model = tully_model(1)
    base = exact_scattering(model, 15.0)
    finer = exact_scattering(model, 15.0, WavepacketConfig(points_per_wavelength=12.0,
                                                           dt_au=0.5 * base.dt_au))
    wider = exact_scattering(model, 15.0, WavepacketConfig(absorber_bohr=45.0,
                                                           absorber_strength=0.6))
    for other in (finer, wider):
        np.testing.assert_allclose(other.transmission, base.transmission, atol=2e-3)
        np.testing.assert_allclose(other.reflection, base.reflection, atol=2e-3)
