"""Diabatic networks: training from diabatic or adiabatic labels, model files, dynamics."""

from __future__ import annotations

import numpy as np
import pytest

from nnpkit.apps.nonadiabatic.adiabatic import adiabatic_states
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.model_file import load_diabatic_model, save_diabatic_model
from nnpkit.apps.nonadiabatic.networks import NetworkPotential
from nnpkit.apps.nonadiabatic.potentials import check_potential, resolve_potential
from nnpkit.apps.nonadiabatic.scattering import fssh_scattering
from nnpkit.apps.nonadiabatic.training import (
    DiabaticData,
    DiabaticTrainingConfig,
    fit_diabatic_mlp,
)
from nnpkit.errors import ConfigError, DataError, ModelFileError
from nnpkit.wavepackets.tully import model_by_name, tully_model


def _data(model, n=121, low=-10.0, high=10.0) -> DiabaticData:
    x = np.linspace(low, high, n)[:, None]  # [N, 1]
    matrix, gradient = model.evaluate(x)
    states = adiabatic_states(matrix, gradient)
    return DiabaticData(x, energies=states.energies, gradients=states.gradients,
                        diabatic=matrix)


@pytest.fixture(scope="module")
def tully1_network():
    return fit_diabatic_mlp(_data(tully_model(1)), DiabaticTrainingConfig(
        labels="diabatic", epochs=1500, smoothness_weight=0.0))


def test_fit_from_diabatic_labels(tully1_network):
    assert tully1_network.diabatic_rmse_au < 3e-4  # vs an energy range of 0.02 Eh
    assert tully1_network.energy_rmse_au < 3e-4
    assert tully1_network.history[-1] < tully1_network.history[0]


def test_fit_from_adiabatic_energies_reproduces_surfaces():
    data = _data(tully_model(3), n=81)
    result = fit_diabatic_mlp(DiabaticData(data.positions, energies=data.energies),
                              DiabaticTrainingConfig(epochs=800))
    assert result.energy_rmse_au < 2e-3  # energies span 0.4 Eh
    assert result.diabatic_rmse_au is None


def test_model_file_round_trip_and_tamper(tully1_network, tmp_path):
    path = save_diabatic_model(tmp_path / "tully1.nnpd", tully1_network.model,
                               {"energy_rmse_au": tully1_network.energy_rmse_au})
    potential = resolve_potential(path)
    direct = NetworkPotential(tully1_network.model)
    q = np.linspace(-5, 5, 11)[:, None]
    for loaded, original in zip(potential.evaluate(q), direct.evaluate(q), strict=True):
        np.testing.assert_allclose(loaded, original, rtol=1e-12, atol=1e-15)
    check_potential(potential, q)
    assert potential.masses_au().tolist() == [2000.0]
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    tampered = tmp_path / "tampered.nnpd"
    tampered.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load_diabatic_model(tampered)


def test_bad_inputs_raise_named_errors(tmp_path):
    with pytest.raises(ConfigError, match="neither"):
        resolve_potential(tmp_path / "missing.nnpd")
    with pytest.raises(DataError, match="diabatic"):
        fit_diabatic_mlp(DiabaticData(np.zeros((3, 1)), energies=np.zeros((3, 2))),
                         DiabaticTrainingConfig(labels="diabatic"))
    with pytest.raises(DataError, match="energies"):
        fit_diabatic_mlp(DiabaticData(np.zeros((3, 1)), energies=np.full((2, 2), np.nan)))


def test_network_fssh_runs_and_is_close_to_analytic(tully1_network):
    network = NetworkPotential(tully1_network.model)
    config = FSSHConfig(progress=False, seed=5)
    learned = fssh_scattering(network, 25.0, 300, config)
    analytic = fssh_scattering(tully_model(1), 25.0, 300, config)
    error = np.hypot(learned.transmission_stderr, analytic.transmission_stderr)
    assert np.all(np.abs(learned.transmission - analytic.transmission) < 3 * error + 0.02)


@pytest.mark.slow
@pytest.mark.parametrize("number", [1, 2])
def test_diabatic_label_network_fssh_matches_analytic(number):
    model = tully_model(number)
    fit = fit_diabatic_mlp(_data(model, n=201), DiabaticTrainingConfig(
        labels="diabatic", epochs=4000, hidden=[48, 48], smoothness_weight=0.0))
    momentum = {1: 15.0, 2: 30.0, 3: 15.0}[number]
    config = FSSHConfig(progress=False, seed=11)
    learned = fssh_scattering(NetworkPotential(fit.model), momentum, 2000, config)
    exact = fssh_scattering(model, momentum, 2000, config.model_copy(update={"seed": 12}))
    for got, want, e1, e2 in ((learned.transmission, exact.transmission,
                               learned.transmission_stderr, exact.transmission_stderr),
                              (learned.reflection, exact.reflection,
                               learned.reflection_stderr, exact.reflection_stderr)):
        assert np.all(np.abs(got - want) < 3 * np.hypot(e1, e2) + 0.01)


@pytest.mark.slow
def test_lvc_network_from_adiabatic_energies_matches_analytic_decay():
    from nnpkit.apps.nonadiabatic.conical import conical_dynamics

    model = model_by_name("lvc2d")
    grid = np.stack(np.meshgrid(np.linspace(-1.2, 1.6, 29), np.linspace(-1.2, 1.2, 25),
                                indexing="ij"), axis=-1).reshape(-1, 2)
    matrix, gradient = model.evaluate(grid)
    states = adiabatic_states(matrix, gradient)
    fit = fit_diabatic_mlp(DiabaticData(grid, energies=states.energies),
                           DiabaticTrainingConfig(epochs=3000, smoothness_weight=1e-3))
    assert fit.energy_rmse_au < 2e-3
    config = FSSHConfig(dt_au=1.0, progress=False)
    learned = conical_dynamics(NetworkPotential(fit.model), 1000, 400.0, config)
    analytic = conical_dynamics(model, 1000, 400.0, config)
    assert np.max(np.abs(learned.populations[:, 1] - analytic.populations[:, 1])) < 0.08


def test_fit_with_adiabatic_gradients():
    data = _data(tully_model(2), n=61)
    result = fit_diabatic_mlp(data, DiabaticTrainingConfig(epochs=300, gradient_weight=1.0,
                                                           lbfgs_steps=20))
    learned = adiabatic_states(*NetworkPotential(result.model).evaluate(data.positions))
    error = np.sqrt(np.mean((learned.gradients - data.gradients) ** 2))
    assert error < 0.5 * np.std(data.gradients)
    with pytest.raises(ConfigError, match="gradients"):
        fit_diabatic_mlp(DiabaticData(data.positions, energies=data.energies),
                         DiabaticTrainingConfig(epochs=1, gradient_weight=1.0))


def test_fssh_with_three_states_conserves_energy():
    import torch

    from nnpkit.apps.nonadiabatic.dynamics import run_fssh
    from nnpkit.apps.nonadiabatic.networks import DiabaticMLP

    torch.manual_seed(4)
    network = DiabaticMLP(3, 1, hidden=[8], activation="tanh")
    with torch.no_grad():
        network.energy_scale.fill_(0.01)
        network.coupling_scale.fill_(0.005)
    potential = NetworkPotential(network)
    rng = np.random.default_rng(0)
    result = run_fssh(potential, rng.normal(0, 1, (64, 1)), np.full((64, 1), 15.0),
                      FSSHConfig(dt_au=1.0, progress=False, decoherence="edc"), 800.0,
                      initial_state=2)
    assert result.max_energy_drift_au < 1e-5
    assert np.mean(result.final.hops) > 0
    np.testing.assert_allclose(result.populations.sum(axis=1), 1.0)
