"""Atom-steps per second of the batched MD engine against ASE's velocity Verlet.

Side by side in one run, NVE velocity Verlet on one CPU thread:

- ethanol, 1 and 64 replicas: the engine (one batched model call per step for all
  replicas) against ASE's ``VelocityVerlet`` with the nnpkit ASE calculator (the 64
  replicas run one after the other, as 64 ASE dynamics would);
- fcc copper, 32 and 2,048 atoms: the engine with an nnpkit BPNN against ASE's
  ``VelocityVerlet`` with EMT, and (32 atoms) the engine driving EMT through its
  ASE fallback.

Models: untrained BPNNs of the quickstart size (``{"kind": "bpnn", "cutoff_A": 5.0}``,
feature normalisation fitted on a few rattled structures) unless ``--ethanol-model`` /
``--copper-model`` give model files. float32. Give trained models for numbers to report:
the cost of a step depends on the weights through the trajectory, and MD on an untrained
model runs away (copper-32: kinetic energy 2 → 1,500 eV in 600 steps, the neighbour list
rebuilt every other step, the pair count changing), so its timings measure the runaway.

Each case runs in a fresh spawned process: set-up, untimed warm-up steps, then timed steps
filling about ``--seconds-per-case``. Engine timings cover the step loop
(:func:`nnpkit.md.integrators.velocity_verlet_step`, what ``run_batched_md`` runs between
observers); ASE timings cover ``dyn.run``. Memory: the process's high-water mark
(``VmHWM``, reset after the warm-up, which compiles the kernels) during the timed steps;
memory per atom is the difference of that peak between the small and the large case of a
system (1 → 64 ethanol replicas, 32 → 2,048 copper atoms) over the difference in atoms,
so the interpreter, torch and the compiled kernels cancel.

    OMP_NUM_THREADS=1 python benchmarks/batched_md.py --copper-model CU.nnp --ethanol-model ETOH.nnp
    python benchmarks/batched_md.py --quick     # smoke run, ~1 min
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

TEMPERATURE_K = 300.0
CASES = [  # (system, replicas, engine force field or ASE calculator)
    ("ethanol", 1, "engine"), ("ethanol", 1, "ase-nnpkit"),
    ("ethanol", 64, "engine"), ("ethanol", 64, "ase-nnpkit"),
    ("copper-32", 1, "engine"), ("copper-32", 1, "ase-nnpkit"), ("copper-32", 1, "ase-emt"),
    ("copper-32", 1, "engine-emt"),
    ("copper-2048", 1, "engine"), ("copper-2048", 1, "ase-nnpkit"), ("copper-2048", 1, "ase-emt"),
]
#: memory per atom: the peak RSS difference between these two cases of each family
MEMORY_PAIRS = {"ethanol": (("ethanol", 1), ("ethanol", 64)),
                "copper": (("copper-32", 1), ("copper-2048", 1))}


def _structure(system: str, seed: int):  # noqa: ANN202 - ase.Atoms
    import numpy as np
    from ase.build import bulk, molecule

    rng = np.random.default_rng(seed)
    if system == "ethanol":
        atoms = molecule("CH3CH2OH")
    else:
        repeat = {"copper-32": 2, "copper-2048": 8}[system]
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat,) * 3)
    atoms.positions += rng.normal(0.0, 0.02, size=atoms.positions.shape)
    return atoms


def _model(system: str, path: str | None):  # noqa: ANN202 - a Potential
    """The model file at ``path``, or an untrained quickstart-size BPNN, float32."""
    import numpy as np
    import torch

    from nnpkit import load_model
    from nnpkit.data.graph import atoms_to_graph
    from nnpkit.data.stats import DatasetStatistics
    from nnpkit.models import BehlerParrinello, BPNNConfig

    if path:
        return load_model(path, device="cpu", dtype=torch.float32)
    elements = ["H", "C", "O"] if system == "ethanol" else ["Cu"]
    torch.manual_seed(0)
    statistics = DatasetStatistics(elements=tuple(elements),
                                   reference_energies_eV=tuple(-1.0 for _ in elements),
                                   energy_scale_eV=0.5, residual_energy_std_eV_per_atom=0.01)
    model = BehlerParrinello(elements, BPNNConfig(kind="bpnn", cutoff_A=5.0), statistics)
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(4):
        atoms = _structure(system if system == "ethanol" else "copper-32", int(rng.integers(99)))
        atoms.positions += rng.normal(0.0, 0.05, size=atoms.positions.shape)
        samples.append(atoms_to_graph(atoms, model.cutoff))
    model.fit_feature_normalization(samples)
    return model.float()


def _timed(step: Any, warmup: int, seconds: float, min_steps: int, max_steps: int
           ) -> tuple[int, float]:
    """Warm up, pick a step count filling ``seconds``, time it: (steps, seconds)."""
    started = time.perf_counter()
    for _ in range(warmup):
        step(1)
    per_step = (time.perf_counter() - started) / warmup
    steps = max(min_steps, min(max_steps, int(seconds / max(per_step, 1e-6))))
    started = time.perf_counter()
    step(steps)
    return steps, time.perf_counter() - started


def _measure(case: dict[str, Any]) -> dict[str, Any]:
    """One case, in a fresh process (see the module docstring)."""
    import torch
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from nnpkit.md.batched_state import state_from_atoms, thermal_momenta
    from nnpkit.md.forces import ASEForceField, ModelForceField
    from nnpkit.md.integrators import velocity_verlet_init, velocity_verlet_step

    torch.set_num_threads(case["threads"])
    system, replicas, runner = case["system"], case["replicas"], case["runner"]
    timestep_fs = 0.5 if system == "ethanol" else 1.0
    structures = [_structure(system, case["seed"] + b) for b in range(replicas)]
    for b, atoms in enumerate(structures):
        atoms.set_momenta(thermal_momenta([atoms], [TEMPERATURE_K], [case["seed"] + b])[0])
    n_atoms = sum(len(atoms) for atoms in structures)
    model = None if runner.endswith("emt") else _model(system, case["model"])
    if runner.startswith("engine"):
        state = state_from_atoms(structures, dtype=torch.float32)
        if runner == "engine":
            force_field: Any = ModelForceField(model, state)
        else:
            from ase.calculators.emt import EMT

            force_field = ASEForceField(EMT(), structures)
        parameters = velocity_verlet_init(state, force_field, timestep_fs)

        def step(n: int) -> None:
            for _ in range(n):
                velocity_verlet_step(state, parameters, force_field)
    else:
        if runner == "ase-emt":
            from ase.calculators.emt import EMT

            calculators = [EMT() for _ in structures]
        else:
            from nnpkit.calculators import NNPCalculator

            calculators = [NNPCalculator(model, dtype=torch.float32) for _ in structures]
        dynamics = []
        for atoms, calculator in zip(structures, calculators, strict=True):
            atoms.calc = calculator
            dynamics.append(VelocityVerlet(atoms, timestep=timestep_fs * units.fs))

        def step(n: int) -> None:  # every replica n steps, one after the other
            for dyn in dynamics:
                dyn.run(n)
    step(case["warmup"])  # compiles the kernels, allocates the buffers
    window = common.reset_peak_rss()
    steps, elapsed = _timed(step, 1, case["seconds"], case["min_steps"], case["max_steps"])
    peak = common.window_peak_rss_mib() if window else common.peak_rss_mib()
    return {**case, "n_atoms": n_atoms, "steps": steps, "elapsed_s": elapsed,
            "ms_per_step": 1e3 * elapsed / steps, "atom_steps_per_s": n_atoms * steps / elapsed,
            "md_peak_rss_mib": peak}


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """:func:`_measure` in a fresh spawned process, so its memory is its own."""
    context = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(_measure, case).result()
    except Exception as error:  # noqa: BLE001 - a failed case (e.g. out of memory) is a result
        return {**case, "error": f"{type(error).__name__}: {error}"}


def summarize(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per system and replica count: engine and ASE side by side."""
    rows = []
    for system, replicas in dict.fromkeys((c["system"], c["replicas"]) for c in cases):
        row: dict[str, Any] = {"system": system, "replicas": replicas}
        for case in cases:
            if (case["system"], case["replicas"]) != (system, replicas) or "error" in case:
                continue
            key = case["runner"].replace("-", "_")
            row["n_atoms"] = case["n_atoms"]
            row[f"{key}_atom_steps_per_s"] = case["atom_steps_per_s"]
            row[f"{key}_ms_per_step"] = case["ms_per_step"]
            row[f"{key}_peak_rss_mib"] = case["md_peak_rss_mib"]
        for baseline in ("ase_nnpkit", "ase_emt"):
            if f"{baseline}_atom_steps_per_s" in row and "engine_atom_steps_per_s" in row:
                row[f"engine_over_{baseline}"] = (row["engine_atom_steps_per_s"]
                                                  / row[f"{baseline}_atom_steps_per_s"])
        rows.append(row)
    return rows


def memory_per_atom(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Marginal memory: peak-RSS difference of the small and large case over the atoms."""
    found = {(c["system"], c["replicas"], c["runner"]): c for c in cases if "error" not in c}
    rows = []
    for family, (small, large) in MEMORY_PAIRS.items():
        row: dict[str, Any] = {"family": family}
        for runner in ("engine", "ase-nnpkit", "ase-emt"):
            a, b = found.get((*small, runner)), found.get((*large, runner))
            if a is None or b is None or a["md_peak_rss_mib"] is None:
                continue
            row["atoms"] = f"{a['n_atoms']} → {b['n_atoms']}"
            row[f"{runner.replace('-', '_')}_kib_per_atom"] = (
                1024 * (b["md_peak_rss_mib"] - a["md_peak_rss_mib"])
                / (b["n_atoms"] - a["n_atoms"]))
            row[f"{runner.replace('-', '_')}_peak_rss_mib"] = b["md_peak_rss_mib"]
        rows.append(row)
    return rows


COLUMNS = [
    ("system", "system"), ("replicas", "replicas"), ("n_atoms", "atoms"),
    ("engine_atom_steps_per_s", "engine atom-steps/s"), ("engine_ms_per_step", "engine ms/step"),
    ("ase_nnpkit_atom_steps_per_s", "ASE VV + nnpkit calc. atom-steps/s"),
    ("ase_emt_atom_steps_per_s", "ASE VV + EMT atom-steps/s"),
    ("engine_emt_atom_steps_per_s", "engine + EMT (fallback) atom-steps/s"),
    ("engine_over_ase_nnpkit", "engine / ASE+nnpkit"), ("engine_over_ase_emt", "engine / EMT"),
]
MEMORY_COLUMNS = [
    ("family", "system"), ("atoms", "atoms (small → large case)"),
    ("engine_kib_per_atom", "engine KiB/atom"), ("engine_peak_rss_mib", "engine peak RSS MiB"),
    ("ase_nnpkit_kib_per_atom", "ASE+nnpkit KiB/atom"),
    ("ase_nnpkit_peak_rss_mib", "ASE+nnpkit peak RSS MiB"),
    ("ase_emt_kib_per_atom", "EMT KiB/atom"), ("ase_emt_peak_rss_mib", "EMT peak RSS MiB"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ethanol-model", help="H/C/O model file; default: untrained BPNN")
    parser.add_argument("--copper-model", help="Cu model file; default: untrained BPNN")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seconds-per-case", type=float, default=8.0)
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps (>= 1)")
    parser.add_argument("--min-steps", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: ~1 s per case")
    parser.add_argument("--out", type=Path, help="result JSON; default benchmarks/out/"
                        "batched_md.json (batched_md_quick.json with --quick)")
    args = parser.parse_args(argv)
    if args.warmup < 1:
        parser.error("--warmup must be >= 1")
    if args.quick:
        args.seconds_per_case, args.warmup = 1.0, 1
    if args.out is None:
        args.out = common.OUT_DIR / f"batched_md{'_quick' if args.quick else ''}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.set_thread_env(args.threads)  # before torch loads, here and in the children
    info = common.machine_info()
    cases = []
    for system, replicas, runner in CASES:
        model = args.ethanol_model if system == "ethanol" else args.copper_model
        case = {"system": system, "replicas": replicas, "runner": runner, "model": model,
                "threads": args.threads, "seed": args.seed, "warmup": args.warmup,
                "seconds": args.seconds_per_case, "min_steps": args.min_steps,
                "max_steps": args.max_steps}
        result = run_case(case)
        cases.append(result)
        if "error" in result:
            print(f"# {system} x{replicas} {runner}: FAILED {result['error']}", file=sys.stderr)
        else:
            print(f"# {system} x{replicas} {runner}: {result['steps']} steps, "
                  f"{result['ms_per_step']:.3g} ms/step, "
                  f"{result['atom_steps_per_s']:.3g} atom-steps/s", file=sys.stderr)
    rows, memory = summarize(cases), memory_per_atom(cases)
    results = {"benchmark": "batched_md", "settings": {k: str(v) for k, v in vars(args).items()},
               "machine": info, "cases": cases, "rows": rows, "memory": memory}
    common.write_results(args.out.stem, results, args.out.parent)
    print("### Batched MD engine vs ASE velocity Verlet (NVE, float32, CPU)\n")
    print(f"Machine: {common.machine_summary(info)}.\n")
    print(common.markdown_table(rows, COLUMNS))
    print()
    print(common.markdown_table(memory, MEMORY_COLUMNS))
    print(f"\nReproduce: `OMP_NUM_THREADS={args.threads} "
          f"{common.reproduce_command('batched_md.py')}`")
    print(f"\nResults: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
