"""MD speed of the nnpkit BPNN calculator against ASE's EMT on fcc copper supercells.

For each supercell (4·n³ atoms; default n = 2, 4, 8, 16: 32, 256, 2048, 16384 atoms) and
each calculator, a fresh process builds the cell (a = 3.61 Å, rattled by 0.02 Å,
Maxwell-Boltzmann velocities at 300 K without centre-of-mass drift), runs untimed warm-up
NVE VelocityVerlet steps (1 fs), then times a number of steps chosen to fill about
``--seconds-per-case`` (at least ``--min-steps``). Reported per case: time per MD step,
atom-steps per second, the nnpkit/EMT speed ratio, the cost per atom-step relative to the
256-atom cell (about 1 at every size when cost is linear in the number of atoms), the
peak RSS of the process, and the energy drift over the timed steps as a sanity check.

nnpkit runs in float32 on the CPU with ``--threads`` torch threads (default 1; ASE's EMT is
single-threaded Python/numpy, so the default ratio is per core). The NNP calculator
computes forces and, for these periodic cells, the stress at every step.

Memory: one fresh spawned process per case. Just before the MD the RSS is read
(``VmRSS``) and the kernel's high-water mark is reset (``/proc/self/clear_refs``); after
it the high-water mark (``VmHWM``) is the peak RSS during the MD, and "MD extra" is that
peak minus the RSS before. Where /proc is not available the peak falls back to
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (whole process, imports included). psutil
is not needed; tracemalloc would miss torch's allocations. The EMT process never
imports torch.

    python benchmarks/inference_speed.py                  # trains a Cu model (~3 min) first
    python benchmarks/inference_speed.py --model runs/cu/model.nnp --threads 2
    python benchmarks/inference_speed.py --quick          # smoke run, < 1 min
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import common

LATTICE_CONSTANT_A = 3.61
TEMPERATURE_K = 300.0
TIMESTEP_FS = 1.0
REFERENCE_ATOMS = 256  # the linearity column is relative to this size


def _build_atoms(repeat: int, seed: int):
    """Rattled, thermalised fcc Cu: 4·repeat³ atoms, cubic periodic cell."""
    import numpy as np
    from ase.build import bulk
    from ase.md.velocitydistribution import Stationary

    try:  # ASE >= 3.29
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # pragma: no cover - older ASE
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=LATTICE_CONSTANT_A, cubic=True).repeat((repeat,) * 3)
    atoms.positions += rng.normal(0.0, 0.02, size=atoms.positions.shape)  # [N, 3], Å
    thermalize_momenta(atoms, temperature_K=TEMPERATURE_K, rng=rng)
    Stationary(atoms)
    return atoms


def _measure_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run one (calculator, size) case; executed in a fresh spawned process."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    torch_threads = None
    if case["calculator"] == "nnpkit":  # torch only here, so the EMT process stays lean
        import torch

        import nnpkit

        torch.set_num_threads(case["threads"])
        torch_threads = torch.get_num_threads()
        calculator = nnpkit.load_calculator(case["model"], dtype=torch.float32)
    else:
        from ase.calculators.emt import EMT

        calculator = EMT()
    atoms = _build_atoms(case["repeat"], case["seed"])
    n_atoms = len(atoms)
    atoms.calc = calculator
    rss_before_md_mib = common.current_rss_mib()
    window_reset = common.reset_peak_rss()

    calls = {"n": 0}
    original_calculate = calculator.calculate

    def counting_calculate(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        original_calculate(*args, **kwargs)

    calculator.calculate = counting_calculate  # instance attribute shadows the method

    dynamics = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    started = time.perf_counter()
    dynamics.run(1)  # first call: initial forces + one step (lazy init, allocations)
    first_step_s = time.perf_counter() - started
    last_warmup_s = first_step_s
    for _ in range(case["warmup"] - 1):
        started = time.perf_counter()
        dynamics.run(1)
        last_warmup_s = time.perf_counter() - started
    if case["steps"]:
        steps = case["steps"]
    else:
        steps = int(case["seconds_per_case"] / max(last_warmup_s, 1e-6))
        steps = max(case["min_steps"], min(case["max_steps"], steps))

    energy_before = atoms.get_total_energy()
    calls_before = calls["n"]
    started = time.perf_counter()
    dynamics.run(steps)
    elapsed_s = time.perf_counter() - started
    force_calls = calls["n"] - calls_before
    energy_after = atoms.get_total_energy()

    return {
        "calculator": case["calculator"],
        "n_atoms": n_atoms,
        "repeat": case["repeat"],
        "warmup_steps": case["warmup"],
        "first_step_s": first_step_s,
        "steps": steps,
        "force_calls": force_calls,
        "elapsed_s": elapsed_s,
        "time_per_step_s": elapsed_s / steps,
        "atom_steps_per_s": n_atoms * steps / elapsed_s,
        "cost_per_atom_step_us": 1e6 * elapsed_s / (n_atoms * steps),
        "energy_drift_meV_per_atom": 1e3 * (energy_after - energy_before) / n_atoms,
        "rss_before_md_mib": rss_before_md_mib,
        "md_peak_rss_mib": common.window_peak_rss_mib() if window_reset else None,
        "process_peak_rss_mib": common.peak_rss_mib(),
        "torch_threads": torch_threads,
    }


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """:func:`_measure_case` in a fresh process, so its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(_measure_case, case).result()
    except Exception as error:  # noqa: BLE001 - a failed case (e.g. out of memory) is a result
        return {"calculator": case["calculator"], "n_atoms": 4 * case["repeat"] ** 3,
                "repeat": case["repeat"], "error": f"{type(error).__name__}: {error}"}


def summarize(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per size: both calculators side by side, ratio and linearity."""
    by_key = {(c["calculator"], c["n_atoms"]): c for c in cases if "error" not in c}
    sizes = sorted({c["n_atoms"] for c in cases})
    reference = {name: by_key.get((name, REFERENCE_ATOMS)) for name in ("nnpkit", "emt")}
    rows = []
    for n_atoms in sizes:
        row: dict[str, Any] = {"n_atoms": n_atoms}
        for name in ("nnpkit", "emt"):
            case = by_key.get((name, n_atoms))
            if case is None:
                continue
            row[f"{name}_steps"] = case["steps"]
            row[f"{name}_ms_per_step"] = 1e3 * case["time_per_step_s"]
            row[f"{name}_atom_steps_per_s"] = case["atom_steps_per_s"]
            row[f"{name}_us_per_atom_step"] = case["cost_per_atom_step_us"]
            # Peak during the MD if the kernel's high-water mark could be reset, else the
            # whole process's ru_maxrss (imports included).
            peak = case["md_peak_rss_mib"] or case["process_peak_rss_mib"]
            row[f"{name}_peak_rss_mib"] = peak
            if case["rss_before_md_mib"] is not None:
                row[f"{name}_md_rss_mib"] = peak - case["rss_before_md_mib"]
            row[f"{name}_drift_meV_per_atom"] = case["energy_drift_meV_per_atom"]
            if reference[name] is not None:
                row[f"{name}_cost_vs_{REFERENCE_ATOMS}"] = (
                    case["cost_per_atom_step_us"] / reference[name]["cost_per_atom_step_us"])
        if "nnpkit_atom_steps_per_s" in row and "emt_atom_steps_per_s" in row:
            row["speed_ratio_nnpkit_over_emt"] = (
                row["nnpkit_atom_steps_per_s"] / row["emt_atom_steps_per_s"])
        rows.append(row)
    return rows


SPEED_COLUMNS = [
    ("n_atoms", "atoms"),
    ("nnpkit_steps", "steps (nnpkit)"),
    ("nnpkit_ms_per_step", "nnpkit ms/step"),
    ("nnpkit_atom_steps_per_s", "nnpkit atom-steps/s"),
    ("emt_steps", "steps (EMT)"),
    ("emt_ms_per_step", "EMT ms/step"),
    ("emt_atom_steps_per_s", "EMT atom-steps/s"),
    ("speed_ratio_nnpkit_over_emt", "speed nnpkit/EMT"),
]
SCALING_COLUMNS = [
    ("n_atoms", "atoms"),
    ("nnpkit_us_per_atom_step", "nnpkit µs/atom-step"),
    (f"nnpkit_cost_vs_{REFERENCE_ATOMS}", f"nnpkit cost vs {REFERENCE_ATOMS}"),
    ("emt_us_per_atom_step", "EMT µs/atom-step"),
    (f"emt_cost_vs_{REFERENCE_ATOMS}", f"EMT cost vs {REFERENCE_ATOMS}"),
    ("nnpkit_peak_rss_mib", "nnpkit peak RSS MiB"),
    ("nnpkit_md_rss_mib", "nnpkit MD extra MiB"),
    ("emt_peak_rss_mib", "EMT peak RSS MiB"),
    ("emt_md_rss_mib", "EMT MD extra MiB"),
    ("nnpkit_drift_meV_per_atom", "nnpkit ΔE meV/atom"),
    ("emt_drift_meV_per_atom", "EMT ΔE meV/atom"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="nnpkit Cu model file or run directory; default: "
                        "train a BPNN on copper_emt_dataset(200) for ~3 min first")
    parser.add_argument("--repeats", type=int, nargs="+",
                        help="cubic-cell repeats n (4·n³ atoms); default 2 4 8 16 "
                        "(--quick: 2 4)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seconds-per-case", type=float, default=15.0,
                        help="target timed seconds per (calculator, size); default 15")
    parser.add_argument("--min-steps", type=int, default=3, help="timed steps at least")
    parser.add_argument("--max-steps", type=int, default=2000, help="timed steps at most")
    parser.add_argument("--steps", type=int, help="fixed timed steps for every case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps (>= 1)")
    parser.add_argument("--no-emt", action="store_true", help="skip the EMT cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 32 and 256 atoms, ~1 s per case, tiny model")
    parser.add_argument("--out", type=Path, help="result JSON; default benchmarks/out/"
                        "inference_speed.json (inference_speed_quick.json with --quick)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = common.OUT_DIR / f"inference_speed{'_quick' if args.quick else ''}.json"
    if args.warmup < 1:
        parser.error("--warmup must be >= 1")
    if args.quick:
        args.repeats = args.repeats or [2, 4]
        args.seconds_per_case = 1.0
        args.min_steps = 2
        args.warmup = 1
    args.repeats = args.repeats or [2, 4, 8, 16]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.set_thread_env(args.threads)  # before torch loads, here and in the children
    import torch

    torch.set_num_threads(args.threads)
    model_path = common.copper_model(args.model, quick=args.quick, num_threads=args.threads)
    info = common.machine_info()

    cases = []
    names = ["nnpkit"] if args.no_emt else ["nnpkit", "emt"]
    for repeat in args.repeats:
        for name in names:
            case = {"calculator": name, "repeat": repeat, "model": str(model_path),
                    "threads": args.threads, "seed": args.seed, "warmup": args.warmup,
                    "steps": args.steps, "seconds_per_case": args.seconds_per_case,
                    "min_steps": args.min_steps, "max_steps": args.max_steps}
            result = run_case(case)
            cases.append(result)
            if "error" in result:
                print(f"# {name:6s} {result['n_atoms']:6d} atoms: FAILED {result['error']}",
                      file=sys.stderr)
            else:
                print(f"# {name:6s} {result['n_atoms']:6d} atoms: {result['steps']} steps, "
                      f"{1e3 * result['time_per_step_s']:.2f} ms/step, "
                      f"{result['atom_steps_per_s']:.3g} atom-steps/s", file=sys.stderr)

    rows = summarize(cases)
    results = {
        "benchmark": "inference_speed",
        "description": "NVE VelocityVerlet MD of fcc Cu, nnpkit BPNN (float32, CPU) vs ASE EMT",
        "settings": {**{k: v for k, v in vars(args).items() if k != "out"},
                     "model": str(model_path), "temperature_K": TEMPERATURE_K,
                     "timestep_fs": TIMESTEP_FS, "lattice_constant_A": LATTICE_CONSTANT_A,
                     "memory_method": "VmHWM after resetting clear_refs, one spawned "
                                      "process per case (fallback ru_maxrss)"},
        "machine": info,
        "cases": cases,
        "rows": rows,
    }
    common.write_results(args.out.stem, results, args.out.parent)

    print(f"### MD speed: nnpkit BPNN vs ASE EMT, fcc Cu, NVE {TIMESTEP_FS:g} fs\n")
    print(f"Machine: {common.machine_summary(info)}. Model: {model_path}.\n")
    print(common.markdown_table(rows, SPEED_COLUMNS))
    print()
    print(common.markdown_table(rows, SCALING_COLUMNS))
    print(f"\nCost columns: µs per atom-step relative to the {REFERENCE_ATOMS}-atom cell "
          "(1.0 = linear scaling). Peak RSS: the process's high-water mark (VmHWM) during "
          "the MD, one fresh process per case; 'MD extra': peak minus the RSS just before "
          "the MD (after imports, model load, cell set-up). ΔE: total-energy change over "
          "the timed steps.\n")
    print(f"Reproduce: `{common.reproduce_command('inference_speed.py')}`")
    print(f"\nResults: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
