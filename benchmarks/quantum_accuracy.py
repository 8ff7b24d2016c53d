"""Accuracy of nnpkit.apps.quantum against analytic and dense-scan references.

Every verification number of the quantum issue in one run, written to
``benchmarks/out/quantum_accuracy.json`` with PNGs in ``benchmarks/out/quantum_accuracy/``:

* Morse eigenvalues (sinc-DVR, Fourier grid, imaginary time) vs the analytic formula;
* Eckart transmission by wavepacket flux vs the exact formula, 0.3 to 2 barrier heights;
* propagator: norm and energy drift, time reversal, order of convergence in dt;
* active GP (≤ 15 energies, ≤ 8 with gradients) vs uniform and random placement: error
  of the 5 lowest Morse levels in cm^-1, for both acquisition rules;
* Müller–Brown minima and saddles located on an actively learned GP surface;
* the O–H stretch of water with GFN2-xTB: active GP levels vs the dense scan's.

Run: ``python benchmarks/quantum_accuracy.py`` (single-threaded, ~2 minutes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import set_thread_env  # noqa: E402

CM = 219474.63  # cm^-1 per Hartree
MASS_OH = 0.9483 * 1822.888


def morse_levels() -> dict:
    import numpy as np

    from nnpkit.apps.quantum.eigenstates import grid_eigenstates, imaginary_time_eigenstates
    from nnpkit.apps.quantum.potentials import Morse, evaluate_on_grid
    from nnpkit.wavepackets.grid import Grid

    morse = Morse()
    exact = morse.levels(MASS_OH, 10)
    grid = Grid([morse.r0 - 1.2 / morse.width], [morse.r0 + 6 / morse.width], [192])
    values = evaluate_on_grid(morse, grid.mesh())
    row = {}
    for kinetic in ("sinc_dvr", "fourier"):
        found = grid_eigenstates(grid, values, MASS_OH, 10, kinetic=kinetic).energies
        row[f"{kinetic}_max_relative_error"] = float(np.max(np.abs(found / exact - 1)))
    relaxed = imaginary_time_eigenstates(grid, values, MASS_OH, 5, tau_au=1.0).energies
    row["imaginary_time_max_relative_error"] = float(np.max(np.abs(relaxed / exact[:5] - 1)))
    return row


def eckart() -> dict:
    import numpy as np

    from nnpkit.apps.quantum.potentials import Eckart
    from nnpkit.apps.quantum.transmission import transmission_spectrum

    barrier = Eckart()
    energies = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0]) * barrier.height
    exact = barrier.transmission(1836.15, energies)
    found = transmission_spectrum(barrier, 1836.15, energies).total
    return {"E_over_V0": (energies / barrier.height).tolist(), "exact": exact.tolist(),
            "flux": found.tolist(), "max_relative_error": float(np.max(np.abs(found / exact - 1)))}


def propagator() -> dict:
    import numpy as np

    from nnpkit.wavepackets.grid import Grid
    from nnpkit.wavepackets.split_operator import SplitOperator

    grid = Grid([-6.0, -6.0], [6.0, 6.0], [64, 64])
    x, y = grid.mesh()
    potential = 0.5 * x**2 + 0.8 * y**2 + 0.1 * x**2 * y + 0.05 * y**4
    psi0 = np.exp(-((x - 1) ** 2) / 1.28 - (y + 0.5) ** 2 / 0.72 + 0.5j * x)[None]
    psi0 = psi0 / np.sqrt(grid.integrate(np.abs(psi0[0]) ** 2))
    forward = SplitOperator(grid, potential, 1.0, 0.01)
    psi = forward.propagate(psi0, 1000)
    back = SplitOperator(grid, potential, 1.0, -0.01).propagate(psi, 1000)
    line = Grid([-10.0], [10.0], [256])
    errors = []
    for dt in (0.02, 0.01, 0.005):
        packet = np.exp(-((line.axes[0] - 1.5) ** 2) / 0.36)[None].astype(complex)
        packet /= np.sqrt(line.integrate(np.abs(packet[0]) ** 2))
        moved = SplitOperator(line, 0.5 * 2 * 1.3**2 * line.axes[0] ** 2, 2.0, dt).propagate(
            packet, int(round(3 / dt)))
        errors.append(abs(line.integrate(line.axes[0] * np.abs(moved[0]) ** 2)
                          - 1.5 * np.cos(1.3 * 3)))
    return {"norm_drift_1000_steps": abs(forward.norm(psi) - 1),
            "energy_relative_drift_1000_steps": abs(forward.energy(psi) / forward.energy(psi0) - 1),
            "time_reversal_max_error": float(np.max(np.abs(back - psi0))),
            "dt_halving_error_ratios": [errors[0] / errors[1], errors[1] / errors[2]]}


def morse_active(out: Path) -> list[dict]:
    import numpy as np

    from nnpkit.apps.quantum.active import (
        learn_actively,
        learn_by_placement,
        reference_from_potential,
    )
    from nnpkit.apps.quantum.plots import plot_gp_surface
    from nnpkit.apps.quantum.potentials import Morse
    from nnpkit.apps.quantum.workflow import converged_levels

    morse = Morse()
    exact = morse.levels(MASS_OH, 5)
    bounds = morse.default_bounds()

    def error(surface) -> float:  # type: ignore[no-untyped-def]
        return float(np.max(np.abs(converged_levels(surface, MASS_OH, 5, bounds)[0] - exact))) * CM

    rows = []
    for gradients, budget in ((False, 15), (True, 8)):
        reference = reference_from_potential(morse, gradients)
        row = {"observations": "energies + gradients" if gradients else "energies",
               "points": budget}
        for acquisition in ("integrated", "max_std"):
            result = learn_actively(reference, bounds, use_gradients=gradients, budget=budget,
                                    energy_cutoff=0.1, acquisition=acquisition)
            row[f"active_{acquisition}_cm"] = error(result.model)
            if acquisition == "integrated":
                plot_gp_surface(result.model, out / f"morse_gp_{budget}.png", reference=morse)
        row["uniform_cm"] = error(learn_by_placement(reference, bounds, budget, "uniform",
                                                     gradients))
        row["random_cm_mean_of_5"] = float(np.mean([error(learn_by_placement(
            reference, bounds, budget, "random", gradients, seed=seed)) for seed in range(5)]))
        rows.append(row)
    return rows


def muller_brown(out: Path) -> dict:
    from nnpkit.apps.quantum.active import (
        candidate_points,
        learn_actively,
        reference_from_potential,
    )
    from nnpkit.apps.quantum.plots import plot_gp_surface
    from nnpkit.apps.quantum.potentials import MullerBrown
    from nnpkit.apps.quantum.stationary import match_points, stationary_points

    surface = MullerBrown()
    bounds = surface.default_bounds()
    starts = candidate_points(bounds, 12)
    exact = stationary_points(surface, starts, bounds)
    result = learn_actively(reference_from_potential(surface, True), bounds, use_gradients=True,
                            n_initial=9, budget=60, energy_cutoff=50.0)
    plot_gp_surface(result.model, out / "muller_brown_gp.png")
    rows = match_points(exact, stationary_points(result.model, starts, bounds))
    return {"points_with_gradients": len(result.energies), "stationary_points": rows,
            "max_distance": max(row["distance"] for row in rows)}


def water(out: Path) -> dict:
    import numpy as np
    from ase import units

    from nnpkit.apps.quantum.active import learn_actively, learn_by_placement
    from nnpkit.apps.quantum.eigenstates import grid_eigenstates
    from nnpkit.apps.quantum.plots import plot_gp_surface, plot_wavefunctions
    from nnpkit.apps.quantum.potentials import evaluate_on_grid
    from nnpkit.apps.quantum.scan import ScanReference, load_scan_config
    from nnpkit.apps.quantum.workflow import AMU_AU, converged_levels
    from nnpkit.wavepackets.grid import Grid

    config = load_scan_config(Path(__file__).resolve().parents[1]
                              / "examples/quantum/water_oh_scan.yaml")
    reference = ScanReference(config)
    mass = reference.moved_masses_amu()[0] * AMU_AU
    q, energies = reference.dense_scan(config.dense_points)
    dense = grid_eigenstates(Grid([q[0]], [2 * q[-1] - q[-2]], [len(q)]), energies, mass, 5)
    bounds = reference.bounds()
    cutoff = config.energy_cutoff_eV / units.Hartree
    result = learn_actively(reference, bounds, use_gradients=True, budget=config.budget,
                            energy_cutoff=cutoff)
    learned, grid, states, _ = converged_levels(result.model, mass, 5, bounds)
    uniform = learn_by_placement(reference, bounds, config.budget, "uniform", True)
    plot_gp_surface(result.model, out / "water_oh_gp.png",
                    title=f"O–H stretch of water, GFN2-xTB, {len(result.energies)} points")
    plot_wavefunctions(states, evaluate_on_grid(result.model, grid.mesh()),
                       out / "water_oh_wavefunctions.png")
    return {"points_with_gradients": len(result.energies),
            "dense_scan_points": len(q),
            "dense_levels_cm": (dense.energies * CM).tolist(),
            "gp_levels_cm": (learned * CM).tolist(),
            "active_errors_cm": ((learned - dense.energies) * CM).tolist(),
            "uniform_errors_cm": ((converged_levels(uniform, mass, 5, bounds)[0]
                                   - dense.energies) * CM).tolist(),
            "fundamental_cm": float(dense.energies[1] - dense.energies[0]) * CM,
            "zero_point_energy_cm": float(dense.energies[0] - np.min(energies)) * CM}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_thread_env(args.threads)
    from common import OUT_DIR, machine_info, reproduce_command, write_results

    out = OUT_DIR / "quantum_accuracy"
    out.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine_info(), "command": reproduce_command("quantum_accuracy.py"),
               "morse_levels": morse_levels(), "eckart": eckart(), "propagator": propagator(),
               "morse_active": morse_active(out), "muller_brown": muller_brown(out),
               "water_gfn2": water(out)}
    path = write_results("quantum_accuracy", results)
    for key, value in results.items():
        if key not in ("machine", "command"):
            print(key, value)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
