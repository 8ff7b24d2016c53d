"""Phonons of ``nnpkit.apps.crystals`` against phonopy driven directly with EMT; Γ modes,
the acoustic sum rule, thermodynamics, imaginary modes, the batched nnpkit path."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from nnpkit.apps.crystals import phonons, relax
from nnpkit.calculators import NNPCalculator
from nnpkit.errors import ConfigError, DataError

pytest.importorskip("phonopy")


def _copper() -> Atoms:
    return relax(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), cell="full", keep_symmetry=True,
                 fmax_eV_per_A=1e-6)


@pytest.fixture(scope="module")
def copper_phonons():  # noqa: ANN201 - the module's PhononResult
    return phonons(_copper(), EMT(), supercell=(3, 3, 3), mesh=(8, 8, 8))


def _direct_phonopy(atoms: Atoms, qpoints: np.ndarray) -> np.ndarray:
    """Phonopy by hand: its own supercells, EMT forces, force constants, frequencies."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions())
    phonon = Phonopy(unit, supercell_matrix=np.diag([3, 3, 3]),
                     primitive_matrix=[[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    phonon.generate_displacements(distance=0.01)
    forces = []
    for cell in phonon.supercells_with_displacements:
        supercell = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                          pbc=True)
        supercell.calc = EMT()
        forces.append(supercell.get_forces())
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()
    phonon.run_qpoints(qpoints)
    return np.asarray(phonon.qpoints.frequencies)


def test_dispersion_equals_phonopy_driven_directly(copper_phonons) -> None:  # noqa: ANN001
    qpoints = np.concatenate([np.linspace(copper_phonons.special_points[a]["q"],
                                          copper_phonons.special_points[b]["q"], 51)
                              for a, b in copper_phonons.band_labels])
    module = np.concatenate([frequencies for _, frequencies in copper_phonons.band_segments])
    direct = _direct_phonopy(_copper(), qpoints)
    # the same forces through the same phonopy: equal to rounding (1e-6 THz of ~8 THz)
    np.testing.assert_allclose(module, direct, atol=1e-6, rtol=0)
    x = copper_phonons.special_points["X"]["frequencies_THz"]
    assert copper_phonons.band_labels[0] == ("G", "X") and x[0] == pytest.approx(x[1])
    assert 4.0 < x[0] < x[2]  # transverse below longitudinal, a real dispersion


def test_acoustic_modes_vanish_at_gamma_and_sum_rule_holds(copper_phonons) -> None:  # noqa: ANN001
    # the 0.05 THz; EMT forces sum to zero, so the sum rule holds to rounding
    # (1e-8 eV/Å² against force constants of ~1 eV/Å²)
    assert np.all(copper_phonons.acoustic_gamma_THz < 0.05)
    assert copper_phonons.acoustic_sum_rule_eV_per_A2 < 1e-8
    assert float(np.abs(copper_phonons.phonopy.force_constants).max()) > 0.5
    assert copper_phonons.imaginary_modes == []


def test_harmonic_thermodynamics(copper_phonons) -> None:  # noqa: ANN001
    temperatures = copper_phonons.temperatures_K
    heat = copper_phonons.heat_capacity_kB_per_atom
    # Dulong-Petit: 3 k_B per atom well above the Debye temperature (~340 K), within 1 %
    assert heat[temperatures == 1000.0][0] == pytest.approx(3.0, rel=1e-2)
    assert heat[0] == pytest.approx(0.0, abs=1e-9)
    free = copper_phonons.free_energy_eV_per_atom
    # the zero-point energy (9/8) k_B θ_D ≈ 0.03 eV/atom for θ_D ≈ 300 K: a 50 % band
    assert 0.015 < free[0] < 0.045
    entropy = copper_phonons.entropy_kB_per_atom
    assert np.all(np.diff(entropy) > 0)  # dS/dT = C/T > 0 at every temperature


def test_imaginary_modes_are_reported_with_their_q_points() -> None:
    # bcc Cu is dynamically unstable with EMT (as in nature): soft mode at N
    bcc = relax(bulk("Cu", "bcc", a=2.87, cubic=True), EMT(), cell="full", keep_symmetry=True)
    result = phonons(bcc, EMT(), supercell=(4, 4, 4), mesh=(4, 4, 4))
    assert result.imaginary_modes, "bcc Cu must show imaginary modes"
    softest = result.imaginary_modes[0]
    assert softest["frequency_THz"] < -0.5
    assert softest["frequency_THz"] == pytest.approx(result.special_points["N"]
                                                     ["frequencies_THz"][0])
    assert len({tuple(mode["q"]) for mode in result.imaginary_modes}) == \
        len(result.imaginary_modes)


class _PerStructure(Calculator):
    """A plain ASE calculator around an nnpkit one: forces predict_structures to loop."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, inner: NNPCalculator) -> None:
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):  # noqa: ANN001
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        work = self.atoms.copy()
        work.calc = self.inner
        self.results = {"energy": work.get_potential_energy(), "forces": work.get_forces()}


def test_nnpkit_batched_phonons_equal_per_structure_calls(
        make_calculator: Callable[..., NNPCalculator]) -> None:
    calculator = make_calculator(["Cu"])  # float64
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    batched = phonons(atoms, calculator, supercell=(3, 3, 3), mesh=(4, 4, 4), batch_size=8)
    looped = phonons(atoms, _PerStructure(calculator), supercell=(3, 3, 3), mesh=(4, 4, 4))
    for (_, a), (_, b) in zip(batched.band_segments, looped.band_segments, strict=True):
        # compare ω² (sign kept): near Γ a frequency is the root of a rounding-sized
        # eigenvalue; float64 batching changes ω² by rounding only (1e-9 THz² of ~50 THz²)
        np.testing.assert_allclose(a * np.abs(a), b * np.abs(b), atol=1e-9, rtol=0)
    # translation invariance of the model: its forces sum to zero, hence the sum rule
    assert batched.acoustic_sum_rule_eV_per_A2 < 1e-8


def test_small_supercells_and_molecules_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"supercell \[\[2, 0, 0\], \[0, 2, 0\], \[0, 0, 2\]\]"
                                          r" of Cu4 is only 7.2\d Å wide"):
        phonons(bulk("Cu", "fcc", a=3.61, cubic=True), EMT(), supercell=(2, 2, 2))
    cluster = bulk("Cu", "fcc", a=3.61, cubic=True)
    cluster.pbc = (True, True, False)
    with pytest.raises(DataError, match=r"phonons needs a crystal periodic in all three"):
        phonons(cluster, EMT())
