"""The atomistic diabatic network: invariance, autograd gradients, training, batched FSSH."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from scipy.spatial.transform import Rotation

from nnpkit.apps.nonadiabatic.atomistic_training import fit_atomistic_diabatic
from nnpkit.apps.nonadiabatic.dynamics import run_fssh
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.molecular import (
    AtomisticDiabaticNetwork,
    MolecularDiabaticPotential,
    molecule_graphs,
)
from nnpkit.errors import DataError, UnknownElementError
from nnpkit.units import BOHR_TO_A


def _reference_matrix(atoms: Atoms) -> np.ndarray:
    """A smooth, invariant two-state model of water (eV): bond stretch moves the crossing.

    Every internal coordinate is curved (the asymmetric stretch too), so the ground state
    has a minimum whatever round-off the training sees."""
    d = atoms.get_all_distances()
    stretch = d[0, 1] + d[0, 2] - 2.0
    asymmetric = d[0, 1] - d[0, 2]
    bend = d[1, 2] - 1.55
    v11 = 2.0 * stretch**2 + 1.0 * asymmetric**2 + 1.5 * bend**2
    v22 = 0.3 - 1.5 * stretch + 2.0 * stretch**2 + 1.0 * asymmetric**2 + 1.0 * bend**2
    v12 = 0.08 * np.exp(-4.0 * bend**2)
    return np.array([[v11, v12], [v12, v22]])


def _waters(n: int, seed: int) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    base = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    return [Atoms("OH2", positions=base + rng.normal(0, 0.08, (3, 3))) for _ in range(n)]


@pytest.fixture(scope="module")
def trained():
    structures = _waters(160, 0)
    matrices = np.stack([_reference_matrix(atoms) for atoms in structures])
    network = AtomisticDiabaticNetwork(["H", "O"], 2, cutoff_A=4.0, angular_cutoff_A=3.0,
                                       n_radial=6, n_angular_radial=3, hidden=[24])
    summary = fit_atomistic_diabatic(network, structures, diabatic_eV=matrices, epochs=600)
    return network, summary, matrices


def test_fit_from_diabatic_labels(trained):
    _, summary, matrices = trained
    assert summary["diabatic_rmse_eV"] < 0.1 * matrices.std()


def test_fit_from_adiabatic_energies_only():
    structures = _waters(80, 1)
    energies = np.linalg.eigvalsh(np.stack([_reference_matrix(a) for a in structures]))
    network = AtomisticDiabaticNetwork(["H", "O"], 2, cutoff_A=4.0, angular_cutoff_A=3.0,
                                       n_radial=6, n_angular_radial=3, hidden=[24])
    summary = fit_atomistic_diabatic(network, structures, energies_eV=energies, epochs=400)
    assert summary["energy_rmse_eV"] < 0.15 * energies.std()
    assert summary["diabatic_rmse_eV"] is None
    with pytest.raises(DataError):
        fit_atomistic_diabatic(network, structures)


def test_invariance_and_gradient(trained):
    network, _, _ = trained
    atoms = _waters(1, 5)[0]
    moved = atoms.copy()
    moved.positions = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).apply(
        atoms.positions) + 1.7
    moved = moved[[0, 2, 1]]  # swap the hydrogens
    both = network(molecule_graphs([atoms, moved], network.cutoff_A)).detach().numpy()
    np.testing.assert_allclose(both[0], both[1], atol=1e-5)
    potential = MolecularDiabaticPotential(network, atoms)
    q = (atoms.positions / BOHR_TO_A).reshape(1, -1)
    matrix, gradient = potential.evaluate(q)
    np.testing.assert_allclose(matrix[0] * 27.211386, both[0], atol=1e-4)
    step = 1e-5
    for axis in (0, 4, 8):
        shift = np.zeros_like(q)
        shift[0, axis] = step
        numeric = (potential.evaluate(q + shift)[0] - potential.evaluate(q - shift)[0]) / (
            2 * step)
        np.testing.assert_allclose(gradient[0, axis], numeric[0], atol=1e-6)


def test_batched_fssh_on_a_molecule(trained):
    network, _, _ = trained
    atoms = _waters(1, 7)[0]
    potential = MolecularDiabaticPotential(network, atoms)
    rng = np.random.default_rng(0)
    q0 = (atoms.positions / BOHR_TO_A).reshape(1, -1) + rng.normal(0, 0.02, (16, 9))
    p0 = rng.normal(0, 1.0, (16, 9)) * np.sqrt(potential.masses_au() * 1e-4)
    result = run_fssh(potential, q0, p0, FSSHConfig(dt_au=5.0, progress=False), 300.0,
                      initial_state=1)
    assert result.final.positions.shape == (16, 9)
    assert result.max_energy_drift_au < 5e-4
    np.testing.assert_allclose(result.populations.sum(axis=1), 1.0)


def test_model_file_round_trip(trained, tmp_path):
    from nnpkit.apps.nonadiabatic.model_file import (
        load_diabatic_model,
        load_diabatic_network,
        save_diabatic_model,
    )
    from nnpkit.errors import ModelFileError

    network, _, _ = trained
    path = save_diabatic_model(tmp_path / "water.nnpd", network)
    loaded, metadata = load_diabatic_network(path)
    assert metadata["kind"] == "atomistic"
    graph = molecule_graphs(_waters(3, 9), network.cutoff_A)
    np.testing.assert_allclose(loaded(graph).detach().numpy(),
                               network(graph).detach().numpy(), atol=1e-10)
    with pytest.raises(ModelFileError, match="atomistic"):
        load_diabatic_model(path)


def test_unknown_element(trained):
    network, _, _ = trained
    with pytest.raises(UnknownElementError, match="elements"):
        network(molecule_graphs([Atoms("CH4", positions=np.eye(5, 3))], 4.0))


def test_fssh_cli_runs_a_molecule_from_its_learned_ground_state(trained, tmp_path, capsys):
    """``nnpkit fssh --molecule``: Wigner sampling of the network's relaxed ground state,
    FSSH with decoherence, the lifetime fit, result.json and populations.png."""
    import json

    from ase.io import write

    from nnpkit.apps.nonadiabatic.model_file import save_diabatic_model
    from nnpkit.cli.main import main

    network, _, _ = trained
    model = save_diabatic_model(tmp_path / "water.nnpd", network)
    structure = tmp_path / "water.xyz"
    write(structure, _waters(1, 7)[0])
    out = tmp_path / "run"
    code = main(["fssh", "--model", str(model), "--molecule", str(structure),
                 "--trajectories", "8", "--time-fs", "4", "--dt-fs", "0.1", "--out", str(out),
                 "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["decoherence"] == "edc" and summary["n_trajectories"] == 8
    assert summary["times_fs"][-1] == pytest.approx(4.0)
    assert set(summary["lifetime"]) >= {"tau_fs", "tau_stderr_fs", "t0_fs"}
    assert (out / "populations.png").stat().st_size > 0
    assert json.loads((out / "result.json").read_text())["lifetime"] == summary["lifetime"]
    assert main(["fssh", "--model", str(model)]) != 0  # neither --momentum-au nor --molecule
