"""BiasedCalculator (nnpkit.md.bias_calculator): any ASE calculator plus a bias. Energies
add up, forces are the gradient of the biased energy (finite differences on an EMT copper
cluster, with a distance and a coordination-number restraint), the stress of a periodic
cell is the strain derivative, a committee's uncertainties pass through, and metadynamics
deposits from ASE dynamics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.md.langevin import Langevin
from conftest import build_small_model

from nnpkit.calculators import CommitteeCalculator
from nnpkit.md.bias import HarmonicBias, SphericalWall, SumBias
from nnpkit.md.bias_calculator import BiasedCalculator
from nnpkit.md.collective_variables import CoordinationCV, DistanceCV, cv_of_atoms
from nnpkit.md.metadynamics import WellTemperedMetadynamics
from nnpkit.models.committee import Committee


def copper_cluster() -> Atoms:
    """Cu13 icosahedron, rattled so no force vanishes by symmetry."""
    atoms = Icosahedron("Cu", 2, latticeconstant=3.61)
    atoms.rattle(0.08, seed=2)
    return atoms


def numeric_forces(atoms: Atoms, step: float = 1e-5) -> np.ndarray:
    """−∂E/∂r by central differences of atoms.calc's energy, [n, 3]."""
    forces = np.zeros((len(atoms), 3))
    work = atoms.copy()
    work.calc = atoms.calc
    for i in range(len(atoms)):
        for k in range(3):
            energies = []
            for sign in (1, -1):
                moved = atoms.positions.copy()
                moved[i, k] += sign * step
                work.positions = moved
                energies.append(work.get_potential_energy())
            forces[i, k] = -(energies[0] - energies[1]) / (2 * step)
    return forces


def restraints(n: int) -> dict[str, HarmonicBias]:
    distance = DistanceCV(0, 5, [n])
    coordination = CoordinationCV(0, list(range(1, n)), [n], r0_A=2.6, d0_A=0.2, n=6, m=10)
    return {"distance": HarmonicBias(distance, center=2.0, spring_constant=3.0),
            "coordination": HarmonicBias(coordination, center=9.0, spring_constant=0.8)}


@pytest.mark.parametrize("which", ["distance", "coordination"])
def test_energy_is_base_plus_bias_and_forces_are_its_gradient(which: str) -> None:
    atoms = copper_cluster()
    bias = restraints(len(atoms))[which]
    atoms.calc = BiasedCalculator(EMT(), bias)
    plain = atoms.copy()
    plain.calc = EMT()
    value = cv_of_atoms(bias.collective_variable, atoms)
    restraint_eV = 0.5 * float(bias.spring_constant) * (value - float(bias.center)) ** 2
    assert restraint_eV > 0.05
    energy = atoms.get_potential_energy()
    assert energy == pytest.approx(plain.get_potential_energy() + restraint_eV, abs=1e-12)
    assert atoms.calc.results["bias_energy"] == pytest.approx(restraint_eV, abs=1e-12)
    forces = atoms.get_forces()
    np.testing.assert_allclose(forces, numeric_forces(atoms), rtol=1e-6, atol=1e-7)
    assert np.abs(forces - plain.get_forces()).max() > 0.05  # the bias is in the forces
    positions = atoms.positions.copy()
    atoms.get_forces()
    np.testing.assert_array_equal(atoms.positions, positions)  # the caller's atoms untouched


def test_stress_of_a_periodic_cell_is_the_strain_derivative() -> None:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=3)
    bias = SumBias(HarmonicBias(DistanceCV(0, 2, [4]), 2.0, 4.0),
                   SphericalWall([4], 1.0, 2.0))
    atoms.calc = BiasedCalculator(EMT(), bias)
    stress = atoms.get_stress(voigt=False)
    numeric = np.zeros((3, 3))
    step, cell = 1e-6, atoms.cell.array.copy()
    for i in range(3):
        for j in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[i, j] += sign * step
                strained = atoms.copy()
                strained.calc = atoms.calc
                strained.set_cell(cell @ strain, scale_atoms=True)
                energies.append(strained.get_potential_energy())
            numeric[i, j] = (energies[0] - energies[1]) / (2 * step) / atoms.get_volume()
    np.testing.assert_allclose(stress, 0.5 * (numeric + numeric.T), rtol=1e-5, atol=1e-7)
    emt = atoms.copy()
    emt.calc = EMT()
    assert np.abs(stress - emt.get_stress(voigt=False)).max() > 1e-3  # the bias counts


def test_committee_uncertainties_pass_through() -> None:
    first, second = build_small_model(["Cu"]), build_small_model(["Cu"])
    torch.manual_seed(5)
    for parameter in second.element_networks.parameters():
        parameter.data += 0.05 * torch.randn_like(parameter)
    atoms = copper_cluster()
    bias = restraints(len(atoms))["distance"]
    committee = CommitteeCalculator(Committee([first, second]), dtype=torch.float64)
    atoms.calc = BiasedCalculator(committee, bias)
    energy = atoms.get_potential_energy()
    plain = atoms.copy()
    plain.calc = CommitteeCalculator(Committee([first, second]), dtype=torch.float64)
    reference = plain.get_potential_energy()
    results = atoms.calc.results
    assert energy == pytest.approx(reference + results["bias_energy"], abs=1e-10)
    for key in ("energy_std", "max_force_std"):
        assert atoms.calc.get_property(key, atoms) == pytest.approx(plain.calc.results[key],
                                                                    abs=1e-12)
    np.testing.assert_allclose(results["forces_std"], plain.calc.results["forces_std"],
                               atol=1e-12)
    np.testing.assert_allclose(results["member_energies"],
                               plain.calc.results["member_energies"], atol=1e-10)
    assert results["energy_std"] > 1e-4 and "energies" not in results
    np.testing.assert_allclose(atoms.get_forces(), numeric_forces(atoms), rtol=1e-5,
                               atol=1e-6)


def test_metadynamics_deposits_from_ase_dynamics(tmp_path) -> None:
    atoms = copper_cluster()
    cv = DistanceCV(0, 5, [len(atoms)])
    metad = WellTemperedMetadynamics(cv, 1, 0.05, 0.1, 6.0, 500.0, pace_steps=5,
                                     hills_path=tmp_path / "hills.txt")
    atoms.calc = BiasedCalculator(EMT(), metad)
    dynamics = Langevin(atoms, 2 * units.fs, temperature_K=500, friction=0.02, fixcm=False,
                        rng=np.random.default_rng(1))
    dynamics.attach(lambda: metad.deposit_atoms(atoms, dynamics.nsteps), interval=5)
    dynamics.run(20)
    assert metad.hills["step"].tolist() == [0, 5, 10, 15, 20]
    atoms.calc.reset()
    expected = metad.bias_on_grid(np.array([cv_of_atoms(cv, atoms)]))[0]
    atoms.get_potential_energy()
    assert atoms.calc.results["bias_energy"] == pytest.approx(expected, rel=1e-12)
    assert expected > 0.01
