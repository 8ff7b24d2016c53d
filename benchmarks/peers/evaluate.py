"""Evaluate one trained potential, nnpkit's or MACE's, the same way: test errors and MD speed.

Runs inside either virtual environment (nnpkit's, or the MACE one that
``mace_vs_nnpkit.py`` creates), so it imports only ASE, NumPy and the calculator asked
for. One process per model: the peak-memory figure is that model's alone.

    python benchmarks/peers/evaluate.py --kind nnpkit|mace --model FILE --test TEST.extxyz \
        --md-structure START.extxyz --md-steps 300 --timestep-fs 1.0 --out result.json

Test labels are read from ``info["REF_energy"]`` (eV), ``arrays["REF_forces"]`` (eV/Å)
and ``info["REF_stress"]`` (eV/Å³, 3x3) as MACE expects them. Errors are mean absolute
errors over structures (energy per atom), force components and the 6 Voigt stress
components. MD speed: velocity Verlet from a 300 K Maxwell–Boltzmann start, timed on
this process's CPU clock and on the wall clock after 10 warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

EV_PER_A3_TO_GPA = 160.21766208


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _window_peak_mib(reset: bool = False) -> float | None:
    """Peak RSS since the last reset (Linux VmHWM; "5" into clear_refs resets it)."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
            return None
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _calculator(kind: str, model: str, fast_path: bool | None = None):
    if kind == "mace":
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=model, device="cpu", default_dtype="float32")
    import nnpkit

    return nnpkit.load_calculator(model, fast_path=fast_path)


def test_errors(calculator, structures: list) -> dict[str, float | int | None]:
    """Energy (meV/atom), force (meV/Å) and stress (GPa) MAE against the REF_ labels."""
    from ase.stress import full_3x3_to_voigt_6_stress

    energy_errors, force_errors, stress_errors = [], [], []
    for atoms in structures:
        reference_energy = atoms.info["REF_energy"]
        reference_forces = atoms.arrays["REF_forces"]
        atoms = atoms.copy()
        atoms.calc = calculator
        energy_errors.append((atoms.get_potential_energy() - reference_energy) / len(atoms))
        force_errors.append((atoms.get_forces() - reference_forces).ravel())
        if "REF_stress" in atoms.info and atoms.pbc.all():
            reference = full_3x3_to_voigt_6_stress(np.reshape(atoms.info["REF_stress"], (3, 3)))
            stress_errors.append(atoms.get_stress() - reference)
    return {
        "n_test": len(structures),
        "energy_mae_meV_per_atom": 1000 * float(np.mean(np.abs(energy_errors))),
        "forces_mae_meV_per_A": 1000 * float(np.mean(np.abs(np.concatenate(force_errors)))),
        "stress_mae_GPa": (EV_PER_A3_TO_GPA * float(np.mean(np.abs(stress_errors)))
                           if stress_errors else None),
    }


def md_speed(calculator, atoms, steps: int, timestep_fs: float) -> dict[str, float]:
    """Atom-steps per second of velocity Verlet MD with ``calculator`` on ``atoms``."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = calculator
    MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, timestep=timestep_fs * units.fs, logfile=None)
    dynamics.run(10)  # warm-up: first calls, graph building, allocator
    _window_peak_mib(reset=True)
    cpu, wall = time.process_time(), time.perf_counter()
    dynamics.run(steps)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"md_atoms": len(atoms), "md_steps": steps,
            "md_atom_steps_per_s_cpu": len(atoms) * steps / cpu,
            "md_atom_steps_per_s_wall": len(atoms) * steps / wall,
            "md_ms_per_step_cpu": 1000 * cpu / steps,
            "md_peak_rss_MiB": _window_peak_mib()}


def call_speed(calculator, frames: list, seconds: float) -> dict[str, float]:
    """Energy + forces calls on ``frames`` in turn (what an MD step costs, without the
    integrator), for ``seconds`` of this process's CPU time after 5 warm-up calls."""
    atoms = frames[0].copy()
    atoms.calc = calculator
    for frame in frames[:5]:
        atoms.positions = frame.positions
        atoms.get_forces()
    calls, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        atoms.positions = frames[calls % len(frames)].positions
        atoms.get_forces()
        calls += 1
    cpu = time.process_time() - start
    return {"atoms": len(atoms), "calls": calls, "ms_per_call_cpu": 1000 * cpu / calls,
            "atom_steps_per_s_cpu": len(atoms) * calls / cpu}


def main() -> None:
    from ase.io import read

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["nnpkit", "mace"], required=True)
    parser.add_argument("--model", required=True, help="model file")
    parser.add_argument("--test", help="extxyz with REF_ labels")
    parser.add_argument("--md-structure", help="start of the MD run")
    parser.add_argument("--md-steps", type=int, default=300)
    parser.add_argument("--timestep-fs", type=float, default=1.0)
    parser.add_argument("--speed-frames", help="only time energy + forces calls on these "
                        "structures (extxyz), instead of the test errors and MD")
    parser.add_argument("--seconds", type=float, default=8.0, help="CPU time of --speed-frames")
    parser.add_argument("--no-fast-path", action="store_true",
                        help="nnpkit: the model's own autograd graph (fast_path=False)")
    parser.add_argument("--out", required=True, help="JSON result file")
    args = parser.parse_args()

    calculator = _calculator(args.kind, args.model, False if args.no_fast_path else None)
    if args.speed_frames:
        result = {"kind": args.kind, "model": args.model, "fast_path": not args.no_fast_path,
                  **call_speed(calculator, read(args.speed_frames, index=":"), args.seconds)}
    else:
        if not (args.test and args.md_structure):
            parser.error("--test and --md-structure are needed without --speed-frames")
        result = {"kind": args.kind, "model": args.model,
                  **test_errors(calculator, read(args.test, index=":")),
                  **md_speed(calculator, read(args.md_structure), args.md_steps,
                             args.timestep_fs),
                  "process_peak_rss_MiB": _peak_rss_mib()}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
