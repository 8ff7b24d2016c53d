"""Quasi-harmonic thermal expansion of EMT copper, and the NPT-MD estimate beside it."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from nnpkit.apps.crystals import npt_thermal_expansion, quasi_harmonic, relax
from nnpkit.apps.crystals.workflow import qha_summary
from nnpkit.errors import ConfigError

pytest.importorskip("phonopy")


@pytest.fixture(scope="module")
def copper_qha():  # noqa: ANN201 - the module's QHAResult
    return quasi_harmonic(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), supercell=(3, 3, 3),
                          n_volumes=7, mesh=(10, 10, 10), t_max_K=500.0)


def test_positive_thermal_expansion_at_300_K(copper_qha) -> None:  # noqa: ANN001
    at = copper_qha.at(300.0)
    # positive, and of the size of a metal's (Cu: 1.7e-5/K measured; EMT gives ~2e-5/K):
    # a sign or a normalisation error (per cell vs per atom) falls outside 1e-5..3e-5
    assert 1e-5 < at["linear_expansion_per_K"] < 3e-5
    # classical phonons are all excited at 300 K (≈ θ_D), quantum ones not quite, so the
    # classical coefficient is the larger
    assert at["classical_linear_expansion_per_K"] > at["linear_expansion_per_K"]
    assert np.all(np.diff(copper_qha.volume_A3_per_atom) >= 0)  # V(T) never shrinks


def test_zero_point_expansion_and_softening(copper_qha) -> None:  # noqa: ANN001
    static = copper_qha.eos.fits["vinet"]
    zero = copper_qha.at(0.0)
    # zero-point motion expands the lattice by (9/8)k_B θ_D γ/(B V) ≈ 0.7 % for Cu: between
    # 0.2 % and 1.5 % (a per-atom/per-cell mix-up of the free energies shifts it 4-fold)
    assert 0.002 < zero["volume_A3_per_atom"] / static.V0_A3_per_atom - 1 < 0.015
    assert copper_qha.at(500.0)["bulk_modulus_GPa"] < zero["bulk_modulus_GPa"] < static.B0_GPa


def test_qha_reported_beside_npt_md() -> None:
    # a short run on 32 atoms: the check is that both numbers come out side by side and
    # the MD volume grows with temperature between 100 K and 900 K (ΔV/V ≈ 5 %, far
    # beyond the noise of 200 steps)
    summary = qha_summary(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), supercell=(3, 3, 3),
                          mesh=(6, 6, 6), t_max_K=400.0, n_volumes=5,
                          md_temperatures_K=(100.0, 900.0), md_steps=100,
                          md_equilibration_steps=100, md_min_width_A=7.0)
    md = summary["npt_md"]
    assert summary["at_reference_temperature"]["linear_expansion_per_K"] > 0
    assert md["mean_volume_A3_per_atom"][1] > md["mean_volume_A3_per_atom"][0] * 1.02
    assert md["linear_expansion_per_K"] > 0


@pytest.mark.slow
def test_npt_md_agrees_with_classical_qha(copper_qha) -> None:  # noqa: ANN001
    unit = relax(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), cell="full", keep_symmetry=True)
    md = npt_thermal_expansion(unit, EMT(), temperatures_K=(100.0, 300.0, 500.0), steps=4000,
                               equilibration_steps=1000, min_width_A=7.0)
    classical = copper_qha.at(300.0)["classical_linear_expansion_per_K"]
    # classical MD vs classical QHA at 300 K: anharmonicity beyond the QHA and the
    # statistical error (~5 % here) stay within 25 %
    assert md.linear_expansion_per_K == pytest.approx(classical, rel=0.25)


def test_bad_temperatures_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least two distinct positive temperatures"):
        npt_thermal_expansion(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(),
                              temperatures_K=(300.0, 300.0))
    with pytest.raises(ConfigError, match="need 0 < t_step_K <= t_max_K"):
        quasi_harmonic(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), t_max_K=-1.0)
