"""NVE energy conservation of a trained nnpkit model in its default float32 inference,
also with all-electron-sized total energies, against the same model in float64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase.build import bulk

from nnpkit.calculators import NNPCalculator, load_calculator
from nnpkit.md import run_md

N_ATOMS = 32


def _nve_energy_error(calculator: NNPCalculator) -> tuple[float, float]:
    """(max |E(t) - E(0)|, |linear drift|) of the total energy, eV/atom and eV/atom/ps, over
    400 steps of 1 fs from 300 K in 32 Cu atoms."""
    result = run_md(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), calculator,
                    temperature_K=300.0, steps=400, timestep_fs=1.0, ensemble="nve",
                    log_interval=1, seed=0, progress=False)
    total = result.log["total_energy_eV"]
    drift = np.polyfit(result.log["time_fs"] / 1000.0, total, 1)[0]  # eV/ps
    return float(np.abs(total - total[0]).max() / N_ATOMS), float(abs(drift) / N_ATOMS)


def test_nve_conserves_energy_in_default_float32_inference(trained_run: Path) -> None:
    """Bounds: max deviation 2·10⁻⁵ eV/atom and drift 5·10⁻⁶ eV/atom/ps (measured for this
    model: 6·10⁻⁶ and 5·10⁻⁷ in both precisions; the deviation is Verlet's O(dt²) error,
    not rounding), and float32 within 1.5x of float64 (+10⁻⁶).

    With reference energies of -2000 eV/atom the total energy is -6.4·10⁴ eV, where one
    float32 ulp is 0.004 eV = 1.2·10⁻⁴ eV/atom: summing the energy in float32 breaks the
    bound six times over, and so does a reference energy added in float32 per atom."""
    default = load_calculator(trained_run)
    assert default.dtype == torch.float32  # a float32-trained model infers in float32
    deviation32, drift32 = _nve_energy_error(default)
    deviation64, _ = _nve_energy_error(load_calculator(trained_run, dtype=torch.float64))
    assert deviation32 < 2e-5 and drift32 < 5e-6
    assert deviation32 < 1.5 * deviation64 + 1e-6

    heavy = load_calculator(trained_run)
    heavy.model.reference_energies.fill_(-2000.0)  # eV per Cu atom, all-electron scale
    deviation, drift = _nve_energy_error(heavy)
    assert deviation < 2e-5 and drift < 5e-6
    assert deviation < 1.5 * deviation64 + 1e-6
