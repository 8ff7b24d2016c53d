"""Equation of state of ``nnpkit.apps.crystals``: fits against an independent minimum,
B0 against the elastic constants, shape relaxation, failed volumes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import CalculationFailed
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from nnpkit.apps.crystals import elastic_tensor, equation_of_state
from nnpkit.apps.crystals.workflow import bulk_modulus_check
from nnpkit.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def copper_eos():  # noqa: ANN201 - the module's EquationOfState
    return equation_of_state(bulk("Cu", "fcc", a=3.6), EMT())


def test_v0_and_e0_match_an_independent_minimum(copper_eos) -> None:  # noqa: ANN001
    def energy(a: float) -> float:
        atoms = bulk("Cu", "fcc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()
    best = minimize_scalar(energy, bounds=(3.4, 3.8), method="bounded", options={"xatol": 1e-8})
    for fit in copper_eos.fits.values():
        # a 4-parameter fit over ±6 % in volume: V0 to 1e-4, E0 to 1e-5 eV
        assert fit.V0_A3_per_atom == pytest.approx(best.x**3 / 4, rel=1e-4)
        assert fit.E0_eV_per_atom == pytest.approx(best.fun, abs=1e-5)
    bm, vinet = copper_eos.fits["birch_murnaghan"], copper_eos.fits["vinet"]
    assert bm.B0_GPa == pytest.approx(vinet.B0_GPa, rel=5e-3)  # two forms, one curve
    assert 3.0 < bm.B0_prime < 6.0  # B0' of a metal


def test_pressure_is_minus_the_derivative_of_the_fit(copper_eos) -> None:  # noqa: ANN001
    volumes = copper_eos.volumes_A3_per_atom
    # -dE/dV of the E(V) points by a cubic spline-free check: a quartic through them
    coefficients = np.polyfit(volumes, copper_eos.energies_eV_per_atom, 4)
    pressure = -np.polyval(np.polyder(coefficients), volumes) * 160.21766208
    # stress of the calculator vs the slope of the energies: within 0.1 GPa of ±10 GPa
    np.testing.assert_allclose(copper_eos.pressures_GPa, pressure, atol=0.1, rtol=0)
    assert copper_eos.pressures_GPa[0] > 5.0 > -5.0 > copper_eos.pressures_GPa[-1]


def test_bulk_modulus_matches_the_elastic_constants(copper_eos) -> None:  # noqa: ANN001
    stiffness = elastic_tensor(bulk("Cu", "fcc", a=3.6), EMT()).stiffness_GPa
    check = bulk_modulus_check(copper_eos, stiffness, "cubic")
    # the 1 %: B0 from E(V) against (C11 + 2 C12)/3 from the stress-strain fit
    assert check["formula"] == "(C11 + 2 C12)/3"
    assert check["B_elastic_GPa"] == pytest.approx((stiffness[0, 0] + 2 * stiffness[0, 1]) / 3)
    assert check["relative_difference"] < 0.01


def _deviatoric_GPa(atoms: Atoms) -> float:
    stress = atoms.get_stress(voigt=True) * 160.21766208
    return float(max(np.ptp(stress[:3]), np.abs(stress[3:]).max()))


def test_cell_shape_is_relaxed_at_each_volume() -> None:
    start = bulk("Cu", "hcp", a=2.55, c=2.55 * 1.55)  # c/a far from EMT's 1.63
    relaxed = equation_of_state(start, EMT(), relax_reference=False, n_points=5)
    clamped = equation_of_state(start, EMT(), relax_reference=False, n_points=5,
                                relax_shape=False)
    # shape relaxation leaves a hydrostatic stress (< 0.01 GPa deviatoric: fmax 1e-4 eV/Å
    # on stress × volume); without it the wrong c/a shows as > 1 GPa of deviatoric stress
    assert max(_deviatoric_GPa(atoms) for atoms in relaxed.structures) < 0.01
    assert min(_deviatoric_GPa(atoms) for atoms in clamped.structures) > 1.0
    ratios = [atoms.cell.cellpar()[2] / atoms.cell.cellpar()[0] for atoms in relaxed.structures]
    assert min(ratios) > 1.6  # c/a went to EMT's value at every volume


class _FailsAboveVolume(EMT):
    """EMT that fails (as a reference calculation can) above a volume per atom."""

    def __init__(self, limit_A3: float) -> None:
        super().__init__()
        self.limit_A3 = limit_A3

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):  # noqa: ANN001
        assert atoms is not None
        if atoms.get_volume() / len(atoms) > self.limit_A3:
            raise CalculationFailed("made-up failure at a large volume")
        super().calculate(atoms, list(properties), list(system_changes))


def test_a_failed_volume_is_named_and_left_out(copper_eos) -> None:  # noqa: ANN001
    limit = float(copper_eos.volumes_A3_per_atom[-2]) + 0.01  # only the largest fails
    with pytest.warns(UserWarning, match=r"volume 12\.\d{4} Å³/atom \(\+6\.00%\).*left out"):
        result = equation_of_state(bulk("Cu", "fcc", a=3.6), _FailsAboveVolume(limit))
    assert len(result.failed) == 1 and len(result.volumes_A3_per_atom) == 8
    assert "made-up failure" in result.failed[0]["error"]
    assert result.fits["birch_murnaghan"].B0_GPa == pytest.approx(
        copper_eos.fits["birch_murnaghan"].B0_GPa, rel=1e-2)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ConfigError, match="n_points >= 5; got 0.06 and 3"):
        equation_of_state(bulk("Cu", "fcc"), EMT(), n_points=3)
    slab = bulk("Cu", "fcc", a=3.6, cubic=True)
    slab.pbc = (True, True, False)
    with pytest.raises(DataError, match=r"the equation of state needs a crystal periodic"):
        equation_of_state(slab, EMT())
    with pytest.raises(DataError, match="has 1 usable volumes of 5"), \
            pytest.warns(UserWarning, match="this volume is left out"):
        equation_of_state(bulk("Cu", "fcc", a=3.6), _FailsAboveVolume(11.0), n_points=5,
                          relax_reference=False)
