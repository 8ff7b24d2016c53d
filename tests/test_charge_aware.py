"""The charge-aware model family: charge conservation, field derivatives by autograd
against finite differences, equivariance of μ and α, the sum rule of the Born charges,
the standard physics checks, and the refusals of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from nnpkit.calculators import NNPCalculator
from nnpkit.data.graph import atoms_to_graph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.errors import ConfigError
from nnpkit.models.bpnn import BehlerParrinello, BPNNConfig
from nnpkit.models.charge_aware import ChargeAwareConfig, ChargeAwarePotential
from nnpkit.testing import (
    check_batch_consistency,
    check_field_derivatives,
    check_field_equivariance,
    run_all_checks,
)

ELEMENTS = ["H", "C", "N", "O", "Na", "Cl"]
SMALL = {"hidden": [16, 16], "n_radial": 6, "n_angular_radial": 3, "zetas": [1, 4],
         "n_polarizability_radial": 4}


def _model(dtype: torch.dtype = torch.float64, seed: int = 0, **options: object
           ) -> ChargeAwarePotential:
    torch.manual_seed(seed)
    model = ChargeAwarePotential(ELEMENTS, ChargeAwareConfig(**{**SMALL, **options}))
    # random (not zero) output layers: charges, polarizabilities and anisotropy all vary
    with torch.no_grad():
        for network in model.element_networks:
            network[-1].weight.normal_(0.0, 0.5)
            network[-1].bias.normal_(0.0, 0.5)
    return model.to(dtype)


def _distorted(name: str, seed: int = 1, amplitude_A: float = 0.05) -> Atoms:
    atoms = molecule(name)
    atoms.positions += np.random.default_rng(seed).normal(0.0, amplitude_A, atoms.positions.shape)
    return atoms


def _hydronium() -> Atoms:
    atoms = _distorted("H2O")
    atoms += Atoms("H", positions=[atoms.positions[0] + [0.0, 0.0, 0.98]])
    atoms.info["charge"] = 1
    return atoms


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_total_charge_is_conserved_in_a_mixed_batch(dtype: torch.dtype) -> None:
    model = _model(dtype)
    structures = [_distorted("H2CO"), _hydronium(), _distorted("NH3")]
    structures[2].info["charge"] = -1
    batch = collate([atoms_to_graph(atoms, model.cutoff, dtype) for atoms in structures])
    charges = model(batch)["charges"].detach().double()
    totals = torch.zeros(3, dtype=torch.float64).index_add(0, batch.batch, charges)
    tolerance = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(totals, torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64),
                               atol=tolerance, rtol=0.0)


@pytest.mark.parametrize("structure", [lambda: _distorted("H2CO"), _hydronium])
def test_field_derivatives_match_finite_differences(structure) -> None:  # noqa: ANN001
    check_field_derivatives(_model(), structure())


@pytest.mark.parametrize("structure", [lambda: _distorted("CH3OH"), _hydronium])
def test_dipole_polarizability_born_charges_rotate_and_obey_the_sum_rule(structure) -> None:  # noqa: ANN001
    check_field_equivariance(_model(), structure())


def test_dipole_is_the_charges_moment_plus_the_induced_atomic_dipoles() -> None:
    """μ = Σ q_i r_i + Σ α_i F exactly, since the charges minimise the energy (H–F)."""
    model = _model()
    graph = atoms_to_graph(_hydronium(), model.cutoff)
    graph = graph.replace(field=torch.tensor([[0.02, -0.03, 0.05]], dtype=torch.float64))
    output = compute_properties(model, graph, forces=False, dipole=True)
    expected = (output["charges"][:, None] * graph.positions).sum(0) + torch.einsum(
        "nab,b->a", output["atomic_polarizabilities"], graph.field[0])
    torch.testing.assert_close(output["dipole"][0], expected, rtol=1e-10, atol=1e-12)


def test_planar_molecule_polarizability_from_charge_flow_and_atomic_tensors() -> None:
    """Charge flow alone cannot polarise a planar molecule out of its plane; the learned
    anisotropic atomic tensors alone (no charge flow) already give H2CO three different
    principal values, where isotropic atoms would give one."""
    atoms = molecule("H2CO")  # planar, in the yz plane
    graph = atoms_to_graph(atoms, 5.0)
    tensors_only = _model(field_dependent_charges=False)
    alpha = compute_properties(tensors_only, graph, forces=False, polarizability=True)[
        "polarizability"][0].detach().numpy()
    principal = np.linalg.eigvalsh(alpha)
    assert np.min(np.diff(principal)) > 1e-2 * np.max(np.abs(principal)), principal
    flow_only = _model(atomic_polarizabilities=False)
    alpha_flow = compute_properties(flow_only, graph, forces=False, polarizability=True)[
        "polarizability"][0].detach().numpy()
    assert abs(alpha_flow[0, 0]) < 1e-12  # x is normal to the molecular plane
    assert alpha_flow[1, 1] > 1e-3 and alpha_flow[2, 2] > 1e-3  # in-plane charge flow


def test_baseline_without_field_dependent_charges_has_only_atomic_polarizability() -> None:
    model = _model(field_dependent_charges=False)
    graph = atoms_to_graph(_distorted("H2CO"), model.cutoff)
    output = compute_properties(model, graph, forces=False, polarizability=True)
    torch.testing.assert_close(output["polarizability"][0],
                               output["atomic_polarizabilities"].sum(0), rtol=1e-10, atol=1e-12)


def test_standard_checks_on_a_molecule_and_a_periodic_crystal() -> None:
    """Invariances and finite-difference forces (molecule, rock salt), stress and
    extensivity (rock salt through torch-pme's Ewald sum), and batching."""
    model = _model()
    calculator = NNPCalculator(model, dtype=torch.float64)
    crystal = bulk("NaCl", "rocksalt", a=5.64) * (1, 1, 1)
    crystal.rattle(0.05, seed=3)
    run_all_checks(calculator, _distorted("CH3OH"), crystal)
    check_batch_consistency(model, [_distorted("H2CO"), crystal, _hydronium()])


def test_calculator_reports_dipole_charges_polarizability_and_born_charges() -> None:
    model = _model()
    atoms = _hydronium()
    atoms.calc = NNPCalculator(model, dtype=torch.float64)
    graph = atoms_to_graph(atoms, model.cutoff)
    exact = compute_properties(model, graph, dipole=True, polarizability=True,
                               born_charges=True)
    np.testing.assert_allclose(atoms.get_dipole_moment(), exact["dipole"][0].detach(),
                               rtol=1e-12)
    np.testing.assert_allclose(atoms.get_charges().sum(), 1.0, atol=1e-12)
    np.testing.assert_allclose(atoms.calc.get_polarizability(atoms),
                               exact["polarizability"][0].detach(), rtol=1e-12)
    np.testing.assert_allclose(atoms.calc.get_born_charges(atoms),
                               exact["born_charges"].detach(), rtol=1e-12, atol=1e-14)
    atoms.info["charge"] = 0  # a new input: the cached results must not be reused
    np.testing.assert_allclose(atoms.get_charges().sum(), 0.0, atol=1e-12)


def test_calculator_field_changes_forces_by_the_field_on_the_charges() -> None:
    """In a field F the forces satisfy F_i(field) = −∂E/∂R_i of the energy in the field,
    and for a small field they differ from the zero-field forces by Z*_iᵀ F (to O(F²))."""
    model = _model()
    atoms = _distorted("H2CO")
    field = np.array([0.0, 1e-4, -2e-4])
    zero = NNPCalculator(model, dtype=torch.float64)
    in_field = NNPCalculator(model, dtype=torch.float64, external_field_V_per_A=field)
    born = zero.get_born_charges(atoms)
    difference = in_field.get_forces(atoms) - zero.get_forces(atoms)
    np.testing.assert_allclose(difference, np.einsum("iab,a->ib", born, field),
                               rtol=1e-3, atol=1e-9)


def test_bad_input_is_refused_with_the_structure_index() -> None:
    model = _model()
    graphs = [atoms_to_graph(_distorted("H2CO"), model.cutoff) for _ in range(2)]
    graphs[1] = graphs[1].replace(charge=torch.tensor([0.5], dtype=torch.float64))
    with pytest.raises(ConfigError, match="structure 1 has total charge 0.5"):
        model(collate(graphs))
    model.record_training_charges(torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ConfigError, match="structure 0 .* trained on only neutral data"):
        model(atoms_to_graph(_hydronium(), model.cutoff))
    crystal = atoms_to_graph(bulk("NaCl", "rocksalt", a=5.64), model.cutoff)
    with pytest.raises(ConfigError, match="periodic boundary conditions is not supported"):
        compute_properties(model, crystal, dipole=True)
    with pytest.raises(ConfigError, match="periodic boundary conditions is not supported"):
        model(crystal.replace(field=torch.tensor([[0.0, 0.0, 0.1]], dtype=torch.float64)))
    bpnn = BehlerParrinello(["H", "C", "O"], BPNNConfig(hidden=[4])).double()
    with pytest.raises(ConfigError, match="no coupling to an electric field"):
        compute_properties(bpnn, atoms_to_graph(molecule("H2CO"), bpnn.cutoff), dipole=True)
    with pytest.raises(ConfigError, match="no coupling to an electric field"):
        NNPCalculator(bpnn, external_field_V_per_A=[0.0, 0.0, 0.1])


def test_nve_md_in_a_field_conserves_the_energy_in_the_field() -> None:
    """Velocity Verlet in a 0.2 V/Å field: the total energy (the field's part included)
    stays within 2 meV over 200 steps of 0.25 fs (it would drift if the forces missed
    the field's work on the charges)."""
    from ase import units
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    atoms = _distorted("H2CO")
    atoms.calc = NNPCalculator(_model(), dtype=torch.float64,
                               external_field_V_per_A=[0.0, 0.12, 0.16])
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    energies = []
    dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=10)
    dynamics.run(200)
    assert np.ptp(energies) < 2e-3, np.ptp(energies)


def test_batched_engine_passes_each_replicas_charge_to_the_model() -> None:
    """The batched MD engine's forces of a cation and a neutral molecule in one batch
    equal the calculator's for each (a replica's charge is its info["charge"])."""
    from nnpkit.md.batched_state import state_from_atoms
    from nnpkit.md.forces import ModelForceField

    model = _model()
    structures = [_hydronium(), _distorted("H2CO")]
    state = state_from_atoms(structures)
    ModelForceField(model, state)(state, need_stress=False)
    _assert_engine_equals_calculator(state, structures, NNPCalculator(model, dtype=torch.float64))


def _assert_engine_equals_calculator(state, structures: list[Atoms],  # noqa: ANN001
                                     calculator: NNPCalculator) -> None:
    """Each replica's energy and forces in ``state`` equal the calculator's."""
    offset = 0
    for index, atoms in enumerate(structures):
        n = len(atoms)
        np.testing.assert_allclose(float(state.energy[index]),
                                   calculator.get_potential_energy(atoms), rtol=1e-12)
        np.testing.assert_allclose(state.forces[offset:offset + n].numpy(),
                                   calculator.get_forces(atoms), rtol=1e-10, atol=1e-12)
        offset += n


def test_batched_engine_in_a_field_matches_the_calculator_and_conserves_the_energy() -> None:
    """Forces and energies of the engine in a field equal the calculator's in that field
    (a cation and a neutral molecule in one batch); NVE on the engine in 0.2 V/Å keeps the
    total energy within 2 meV over 200 steps of 0.25 fs. The field's force is really
    there: the forces differ from the zero-field ones by more than 1 meV/Å."""
    from nnpkit.md.batched_runner import run_batched_md
    from nnpkit.md.batched_state import state_from_atoms
    from nnpkit.md.forces import ModelForceField

    model = _model()
    field = [0.0, 0.12, 0.16]
    structures = [_hydronium(), _distorted("H2CO")]
    state = state_from_atoms(structures)
    ModelForceField(model, state, external_field_V_per_A=field)(state, need_stress=False)
    _assert_engine_equals_calculator(state, structures, NNPCalculator(
        model, dtype=torch.float64, external_field_V_per_A=field))
    zero_field = NNPCalculator(model, dtype=torch.float64)
    zero_forces = np.concatenate([zero_field.get_forces(atoms) for atoms in structures])
    assert np.abs(state.forces.numpy() - zero_forces).max() > 1e-3
    result = run_batched_md(model, [_distorted("H2CO")], "nve", temperature_K=300.0,
                            timestep_fs=0.25, steps=200, log_interval=10, progress=False,
                            dtype=torch.float64, external_field_V_per_A=field)
    total = np.asarray(result.replica(0).log["total_energy_eV"])
    assert np.ptp(total) < 2e-3, np.ptp(total)
    frames = result.replica(0).log["time_fs"]
    assert len(frames) == len(total) == 21


def test_a_field_is_refused_for_models_without_a_field_coupling() -> None:
    from nnpkit.md.batched_runner import run_batched_md
    from nnpkit.md.batched_state import state_from_atoms
    from nnpkit.md.forces import ModelForceField

    bpnn = BehlerParrinello(["H", "C", "O"], BPNNConfig(hidden=[4])).double()
    state = state_from_atoms([molecule("H2CO")])
    with pytest.raises(ConfigError, match="model kind 'bpnn' has no coupling"):
        ModelForceField(bpnn, state, external_field_V_per_A=[0.0, 0.0, 0.1])
    with pytest.raises(ConfigError, match="3 finite numbers"):
        ModelForceField(_model(), state, external_field_V_per_A=[0.0, 0.1])
    with pytest.raises(ConfigError, match="give an ASE calculator its field itself"):
        run_batched_md(NNPCalculator(_model()), [molecule("H2CO")], steps=1,
                       progress=False, external_field_V_per_A=[0.0, 0.0, 0.1])
    ModelForceField(bpnn, state, external_field_V_per_A=[0.0, 0.0, 0.0])  # no field: fine
