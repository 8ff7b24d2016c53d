"""Per-step cost of ``nnpkit md`` on its two engines: the batched torch engine (the
default) against ASE's integrators (``--engine ase``), ethanol, one CPU thread.

Side by side in one run; each case (engine × ensemble) has a spawned process of its own
that calls ``nnpkit md`` in-process (:func:`nnpkit.cli.main.main`, the command exactly as
a user types it, with the CLI's default ``--log-interval 10``: a log row and an extxyz
frame every 10 steps, then the JSON log and the PNG). In that process: one untimed
warm-up call (imports, numba compilation), then ``--repeats`` pairs of timed calls with
0 and with ``--steps`` steps (default 2000 and 5), the cases taking turns pair by pair
(one call at a time), so that a load change on a shared machine hits every case; the
per-step cost is the median of ``(t(steps) - t(0)) / steps``, so model loading, file
writing at the ends and plotting cancel. The whole-command time of the ``--steps`` call
is reported too.

A second table times the library calls behind the command, without files, for one and for
``--replicas`` (default 64) ethanol replicas (rattled with different seeds): the batched
engine as :func:`nnpkit.md.run_batched_md` (all replicas in one batch, log row every 10
steps, no progress bar) and ASE as :func:`nnpkit.md.run_md` on one replica with the same
calculator the command uses (ASE has no batch: B replicas are B runs, so its cost for B
replicas is B times the one-replica cost, which is what the table lists). Per-step cost
as above, from pairs of calls with 0 and ``--library-steps`` steps (default 2000 for one
replica, 200 for a batch); for one replica both engines run in the same process with
their repeats interleaved, so that the ratio holds on a loaded machine.

Model: ``--model PATH``; default the benchmark suite's trained ethanol BPNN
(``benchmarks/out/models/ethanol_bpnn/run/model.nnp``, the quickstart architecture:
``{"kind": "bpnn", "cutoff_A": 5.0}``), trained now with GFN2-xTB labels if missing
(needs tblite; see :func:`common.ethanol_model`).

    OMP_NUM_THREADS=1 python benchmarks/md_cli_engine.py            # 2000 steps, 64 replicas
    python benchmarks/md_cli_engine.py --quick                      # smoke run
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

ENGINES = ("ase", "batched")
ENSEMBLES = ("nve", "nvt")
TRAINED_MODEL = common.OUT_DIR / "models" / "ethanol_bpnn" / "run" / "model.nnp"


def _nnpkit_md(case: dict[str, Any], steps: int) -> tuple[float, dict]:
    """Seconds of one ``nnpkit md`` call of this case with ``steps`` steps, and its summary
    (in the case's own worker process; the first call imports and compiles)."""
    common.set_thread_env(1)
    import contextlib
    import io
    import json
    import shutil
    import tempfile

    import torch
    from ase.build import molecule
    from ase.io import write

    from nnpkit.cli.main import main

    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="md_cli_engine_"))
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.02, seed=1)
    write(folder / "start.xyz", atoms)
    arguments = ["md", case["model"], str(folder / "start.xyz"), "--temperature-K", "300",
                 "--timestep-fs", "0.5", "--steps", str(steps), "--ensemble",
                 case["ensemble"], "--engine", case["engine"], "--out",
                 str(folder / "md.extxyz")]
    output = io.StringIO()
    started = time.perf_counter()  # the progress bar is drawn, into a discarded stream
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(io.StringIO()):
        code = main(arguments)
    elapsed = time.perf_counter() - started
    shutil.rmtree(folder)
    if code != 0:
        raise RuntimeError(f"nnpkit md {' '.join(arguments)} exited with {code}")
    return elapsed, json.loads(output.getvalue())


def _measure_commands(cases: list[dict[str, Any]], steps: int,
                      repeats: int) -> list[dict[str, Any]]:
    """Every case in a spawned process of its own, kept for all its calls; one call at a
    time, the cases' repeats in turn (a load change on a shared machine hits all alike)."""
    import statistics

    context = multiprocessing.get_context("spawn")
    pools = [concurrent.futures.ProcessPoolExecutor(1, mp_context=context) for _ in cases]
    try:
        for case, pool in zip(cases, pools, strict=True):
            pool.submit(_nnpkit_md, case, 20).result()  # warm-up: imports, kernels
        per_step: list[list[float]] = [[] for _ in cases]
        whole: list[list[float]] = [[] for _ in cases]
        summaries: list[dict] = [{} for _ in cases]
        for _ in range(repeats):
            for k, (case, pool) in enumerate(zip(cases, pools, strict=True)):
                empty, _ = pool.submit(_nnpkit_md, case, 0).result()
                full, summaries[k] = pool.submit(_nnpkit_md, case, steps).result()
                per_step[k].append((full - empty) / steps)
                whole[k].append(full)
    finally:
        for pool in pools:
            pool.shutdown()
    rows = []
    for case, times, totals, summary in zip(cases, per_step, whole, summaries, strict=True):
        rows.append({**case, "steps": steps, "repeats": repeats,
                     "per_step_us": 1e6 * statistics.median(times),
                     "per_step_us_min": 1e6 * min(times), "per_step_us_max": 1e6 * max(times),
                     "command_s": statistics.median(totals),
                     "mean_temperature_K": summary.get("mean_temperature_K"),
                     "engine_used": summary.get("engine")})
        print(f"# {case['engine']:8s} {case['ensemble']}: {rows[-1]['per_step_us']:.0f} µs/step",
              file=sys.stderr)
    return rows


def _measure_library(case: dict[str, Any]) -> list[dict[str, Any]]:
    """Both engines (``case["engines"]``) for one ensemble and batch size through the
    library, their repeats interleaved so that a load change on a shared machine hits
    both alike (see the module docstring)."""
    common.set_thread_env(1)
    import statistics

    import torch
    from ase.build import molecule

    from nnpkit.calculators import load_calculator
    from nnpkit.md import run_batched_md, run_md

    torch.set_num_threads(1)
    calculator = load_calculator(case["model"])
    structures = []
    for seed in range(1, case["replicas"] + 1):
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.02, seed=seed)
        structures.append(atoms)
    settings = {"ensemble": case["ensemble"], "temperature_K": 300.0, "timestep_fs": 0.5,
                "log_interval": 10, "progress": False}

    def run(engine: str, steps: int) -> float:
        started = time.perf_counter()
        if engine == "batched":
            run_batched_md(calculator.model, structures, steps=steps, **settings)
        else:
            run_md(structures[0], calculator, steps=steps, **settings)
        return time.perf_counter() - started

    per_step: dict[str, list[float]] = {engine: [] for engine in case["engines"]}
    for engine in per_step:
        run(engine, 20)  # warm-up: imports, kernels
    for _ in range(case["repeats"]):
        for engine, times in per_step.items():
            empty = run(engine, 0)
            times.append((run(engine, case["steps"]) - empty) / case["steps"])
    rows = []
    for engine, times in per_step.items():
        step_s = statistics.median(times)
        rows.append({"engine": engine, "ensemble": case["ensemble"],
                     "replicas": case["replicas"], "steps": case["steps"],
                     "per_step_us": 1e6 * step_s, "per_step_us_min": 1e6 * min(times),
                     "atom_steps_per_s": 9 * case["replicas"] / step_s})
    return rows


def _in_fresh_process(function: Any, case: dict[str, Any]) -> Any:
    """``function(case)`` in a spawned process of its own (one at a time: the core is its)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, case).result()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="ethanol model file (default: see doc)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=64, help="batch of the second table")
    parser.add_argument("--library-steps", type=int, default=None,
                        help="steps of the second table (default 2000 alone, 200 batched)")
    parser.add_argument("--quick", action="store_true", help="200 steps, one repeat")
    args = parser.parse_args()
    steps, repeats = (200, 1) if args.quick else (args.steps, args.repeats)
    if args.model is not None:
        model = Path(args.model)
    elif TRAINED_MODEL.is_file():
        model = TRAINED_MODEL
    else:
        model = common.ethanol_model(None, quick=args.quick)
    cases = [{"engine": engine, "ensemble": ensemble, "model": str(model)}
             for ensemble in ENSEMBLES for engine in ENGINES]
    rows = _measure_commands(cases, steps, repeats)
    library: list[dict[str, Any]] = []
    for replicas in (1, args.replicas):
        library_steps = args.library_steps or ((2000 if replicas == 1 else 200) // (
            10 if args.quick else 1))
        for ensemble in ENSEMBLES:
            case = {"engines": ENGINES if replicas == 1 else ("batched",),
                    "ensemble": ensemble, "replicas": replicas, "model": str(model),
                    "steps": library_steps, "repeats": repeats}
            measured = _in_fresh_process(_measure_library, case)
            if replicas > 1:  # ASE runs replicas one after another: B times one's cost
                one = next(r for r in library if r["engine"] == "ase"
                           and r["ensemble"] == ensemble and r["replicas"] == 1)
                measured.insert(0, {**one, "replicas": replicas,
                                    "per_step_us": replicas * one["per_step_us"],
                                    "per_step_us_min": replicas * one["per_step_us_min"]})
            library += measured
            for row in measured:
                print(f"# library {row['engine']:8s} {ensemble} x{replicas}: "
                      f"{row['per_step_us']:.0f} µs/step", file=sys.stderr)
    for table in (rows, library):
        for row in table:
            reference = next(r for r in table if r["ensemble"] == row["ensemble"]
                             and r["engine"] == "ase" and r.get("replicas") == row.get("replicas"))
            row["speedup_vs_ase"] = reference["per_step_us"] / row["per_step_us"]
    info = common.machine_info()
    command = common.reproduce_command("md_cli_engine.py")
    common.write_results("md_cli_engine" + ("_quick" if args.quick else ""),
                         {"benchmark": "md_cli_engine", "command": command, "machine": info,
                          "model": str(model), "rows": rows, "library_rows": library})
    print(f"{common.machine_summary(info)}\n\n`{command}`, ethanol (9 atoms), 300 K, "
          f"0.5 fs, {steps} steps, --log-interval 10\n")
    print(common.markdown_table(rows, [
        ("ensemble", "ensemble"), ("engine", "nnpkit md --engine"),
        ("per_step_us", "µs/step"), ("per_step_us_min", "min"), ("per_step_us_max", "max"),
        ("command_s", f"whole command, {steps} steps (s)"),
        ("speedup_vs_ase", "speed-up vs ase")]))
    print(f"\nLibrary calls without files (run_batched_md / run_md), log row every 10 steps; "
          f"ase for {args.replicas} replicas = {args.replicas} × one run\n")
    print(common.markdown_table(library, [
        ("ensemble", "ensemble"), ("replicas", "replicas"), ("engine", "engine"),
        ("per_step_us", "µs/step (all replicas)"), ("per_step_us_min", "min"),
        ("atom_steps_per_s", "atom-steps/s"),
        ("speedup_vs_ase", "speed-up vs ase")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
