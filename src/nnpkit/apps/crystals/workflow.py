"""The four workflows of ``nnpkit crystal``, each returning one JSON-ready dict.

:func:`eos_summary`, :func:`elastic_summary`, :func:`phonon_summary` and
:func:`qha_summary` relax the structure, run the computation with any ASE calculator,
write their PNGs to ``out_dir`` (when given) and return numbers with unit-suffixed keys.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from nnpkit.apps.crystals.elastic import DEFAULT_STRAIN_MAGNITUDES, elastic_tensor
from nnpkit.apps.crystals.eos import EquationOfState, equation_of_state
from nnpkit.apps.crystals.inputs import require_periodic
from nnpkit.apps.crystals.relax import relax
from nnpkit.apps.crystals.symmetry import crystal_symmetry, stiffness_symmetry_check
from nnpkit.labeling.reference import calculator_name
from nnpkit.paths.moduli import born_stability, elastic_moduli

__all__ = ["eos_summary", "elastic_summary", "phonon_summary", "qha_summary",
           "bulk_modulus_check"]


def _out(out_dir: str | Path | None) -> Path | None:
    if out_dir is None:
        return None
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def bulk_modulus_check(eos: EquationOfState, stiffness_GPa: np.ndarray,
                       crystal_system: str) -> dict:
    """B0 of the EOS against the elastic constants: ``(C11 + 2 C12)/3`` for cubic
    crystals, else the Reuss bound (the hydrostatic response with the shape relaxed)."""
    c = np.asarray(stiffness_GPa)
    elastic_b = ((c[0, 0] + 2 * c[0, 1]) / 3 if crystal_system == "cubic"
                 else elastic_moduli(c)["bulk_modulus_reuss_GPa"])
    b0 = eos.fits["birch_murnaghan"].B0_GPa
    return {"B0_eos_GPa": b0, "B_elastic_GPa": float(elastic_b),
            "formula": "(C11 + 2 C12)/3" if crystal_system == "cubic" else "Reuss bound",
            "relative_difference": float(abs(b0 - elastic_b) / abs(elastic_b))}


def elastic_summary(atoms: Atoms, calculator: Calculator,
                    magnitudes: Sequence[float] = DEFAULT_STRAIN_MAGNITUDES,
                    symprec: float = 1e-3) -> dict:
    """Relaxed- and clamped-ion C, moduli, Born stability and the point-group check.

    For nnpkit calculators the clamped-ion C by autograd second derivatives is added
    (``clamped_ion_autograd_GPa``) with its largest difference from the stress-strain one.
    """
    started = time.perf_counter()
    result = elastic_tensor(atoms, calculator, magnitudes=magnitudes)
    assert result.structure is not None
    symmetry = crystal_symmetry(result.structure, symprec=symprec)
    stiffness = result.stiffness_GPa
    moduli = elastic_moduli(stiffness)
    born = born_stability(stiffness, symmetry.crystal_system)
    summary = {"structure": result.structure.get_chemical_formula(),
               "calculator": calculator_name(calculator), **result.to_dict(), **moduli,
               "born_stable": born["stable"], "born_conditions": born["conditions"],
               "born_failing": born["failing"],
               "symmetry": stiffness_symmetry_check(stiffness, symmetry)}
    from nnpkit.calculators.ase_calculator import NNPCalculator

    if isinstance(calculator, NNPCalculator):
        from nnpkit.apps.crystals.elastic_autograd import clamped_ion_elastic_autograd

        exact = clamped_ion_elastic_autograd(result.structure, calculator)
        summary["clamped_ion_autograd_GPa"] = exact.tolist()
        summary["autograd_vs_stress_strain_max_GPa"] = float(
            np.abs(exact - result.clamped_ion_GPa).max())
    summary["wall_time_s"] = time.perf_counter() - started
    return summary


def eos_summary(atoms: Atoms, calculator: Calculator, volume_range: float = 0.06,
                n_points: int = 9, out_dir: str | Path | None = None,
                check_elastic: bool = True) -> dict:
    """V0, E0, B0, B0′ (Birch–Murnaghan; Vinet in ``fits``), the points, and for the
    check the bulk modulus from the elastic constants; writes ``eos.png``."""
    started = time.perf_counter()
    eos = equation_of_state(atoms, calculator, volume_range=volume_range, n_points=n_points)
    summary = {"structure": atoms.get_chemical_formula(),
               "calculator": calculator_name(calculator), **eos.to_dict()}
    if check_elastic:
        reference = eos.structures[len(eos.structures) // 2]
        symmetry = crystal_symmetry(reference)
        stiffness = elastic_tensor(atoms, calculator).stiffness_GPa
        summary["bulk_modulus_check"] = bulk_modulus_check(eos, stiffness,
                                                           symmetry.crystal_system)
    directory = _out(out_dir)
    if directory is not None:
        from nnpkit.apps.crystals.plots import plot_eos

        plot_eos(eos, directory / "eos.png")
        summary["plots"] = [str(directory / "eos.png")]
    summary["wall_time_s"] = time.perf_counter() - started
    return summary


def phonon_summary(atoms: Atoms, calculator: Calculator,
                   supercell: Sequence[int] | None = None, min_supercell_width_A: float = 10.0,
                   mesh: Sequence[int] = (16, 16, 16), out_dir: str | Path | None = None,
                   relax_first: bool = True) -> dict:
    """Frequencies at the special points, Γ acoustic modes, the acoustic sum rule,
    imaginary modes, thermodynamics; writes ``phonon_bands.png`` and ``phonon_dos.png``."""
    from nnpkit.apps.crystals.phonons import phonons

    started = time.perf_counter()
    require_periodic(atoms, "phonons")
    unit = (relax(atoms, calculator, cell="full", keep_symmetry=True, label="unit cell")
            if relax_first else atoms)
    result = phonons(unit, calculator, supercell=supercell,
                     min_supercell_width_A=min_supercell_width_A, mesh=mesh)
    summary = {"structure": atoms.get_chemical_formula(),
               "calculator": calculator_name(calculator), **result.to_dict()}
    directory = _out(out_dir)
    if directory is not None:
        from nnpkit.apps.crystals.plots import plot_phonon_bands, plot_phonon_dos

        plot_phonon_bands(result, directory / "phonon_bands.png")
        plot_phonon_dos(result, directory / "phonon_dos.png")
        summary["plots"] = [str(directory / "phonon_bands.png"),
                            str(directory / "phonon_dos.png")]
    summary["wall_time_s"] = time.perf_counter() - started
    return summary


def qha_summary(atoms: Atoms, calculator: Calculator,
                supercell: Sequence[int] | None = None, min_supercell_width_A: float = 10.0,
                mesh: Sequence[int] = (16, 16, 16), t_max_K: float = 1000.0,
                n_volumes: int = 9, volume_range: float = 0.06,
                md_temperatures_K: Sequence[float] = (), md_steps: int = 4000,
                md_equilibration_steps: int = 1000, md_min_width_A: float = 10.0,
                reference_temperature_K: float = 300.0,
                out_dir: str | Path | None = None) -> dict:
    """QHA α(T), V(T), B(T), the values at ``reference_temperature_K`` and, when
    ``md_temperatures_K`` are given, the NPT-MD α beside them (a supercell at least
    ``md_min_width_A`` wide); writes ``thermal_expansion.png``."""
    from nnpkit.apps.crystals.npt import npt_thermal_expansion
    from nnpkit.apps.crystals.qha import quasi_harmonic

    started = time.perf_counter()
    qha = quasi_harmonic(atoms, calculator, volume_range=volume_range, n_volumes=n_volumes,
                         supercell=supercell, min_supercell_width_A=min_supercell_width_A,
                         mesh=mesh, t_max_K=t_max_K)
    summary = {"structure": atoms.get_chemical_formula(),
               "calculator": calculator_name(calculator), **qha.to_dict(),
               "at_reference_temperature": qha.at(reference_temperature_K)}
    qha_s = time.perf_counter() - started
    npt = None
    if len(md_temperatures_K):
        reference = qha.eos.structures[len(qha.eos.structures) // 2]
        npt = npt_thermal_expansion(reference, calculator, temperatures_K=md_temperatures_K,
                                    steps=md_steps, equilibration_steps=md_equilibration_steps,
                                    min_width_A=md_min_width_A,
                                    reference_temperature_K=reference_temperature_K)
        summary["npt_md"] = npt.to_dict()
    directory = _out(out_dir)
    if directory is not None:
        from nnpkit.apps.crystals.plots import plot_thermal_expansion

        plot_thermal_expansion(qha, directory / "thermal_expansion.png", npt)
        summary["plots"] = [str(directory / "thermal_expansion.png")]
    summary["qha_wall_time_s"] = qha_s
    summary["wall_time_s"] = time.perf_counter() - started
    return summary
