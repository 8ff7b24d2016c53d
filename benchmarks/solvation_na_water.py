"""Na+ in 24 waters: the ion-solvation targets of the issue, from one end-to-end run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/solvation_na_water.py runs/na_water \
        [--windows 16] [--steps 200] [--gfn2-calls 20]

``runs/na_water`` is the output directory of examples/solvation/na_water_end_to_end.py
(its final committee and window start structures; its summary.json when it has one).

1. Batched umbrella windows: ``--windows`` CN windows × ``--steps`` Langevin steps of the
   committee (and of its first member alone) in ONE batch (``run_umbrella`` on the
   batched engine) against the same windows as sequential ASE runs (``ase.md.Langevin``
   with ``BiasedCalculator`` over the ``CommitteeCalculator`` / ``NNPCalculator``, the
   same umbrella and wall), as a ratio of wall times from this
   one process (target ≥ 5× on 2 CPU cores). Both start after a 5-step warm-up.
2. GFN2-xTB's cost per energy+forces call on the cluster (tblite, charge +1, this
   process's threads; set OMP_NUM_THREADS=1 for one core).
3. From summary.json: the committee's F(CN) against the GFN2-direct profile per CN bin in
   kT, and the projected GFN2 cost of the committee's sampling against the potential's
   whole wall time (labelling and training included).

Writes ``<run>/benchmark.json`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.io import read
from ase.md.langevin import Langevin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "solvation"))

from na_water_end_to_end import (  # noqa: E402 - the example's own building blocks
    NaWaterConfig,
    gfn2_calculator,
    make_cv,
    make_wall,
    write_json,
)


def batched_seconds(committee, starts, cfg: NaWaterConfig, centers: np.ndarray,
                    steps: int) -> float:
    """Wall time of ``steps`` steps of all windows in one batch, s."""
    from nnpkit.apps.solvation.umbrella import run_umbrella

    def run(n_steps: int, seed: int) -> None:
        run_umbrella(committee, starts, make_cv(cfg, starts[0], len(centers)), centers,
                     cfg.spring_constant_eV, temperature_K=cfg.temperature_K,
                     timestep_fs=cfg.timestep_fs, steps=n_steps,
                     friction_per_fs=cfg.friction_per_fs, sample_interval=5,
                     extra_bias=make_wall(cfg, starts[0], len(centers)), seed=seed,
                     progress=False)

    run(5, 1)  # warm-up
    started = time.perf_counter()
    run(steps, 0)
    return time.perf_counter() - started


def sequential_seconds(model_path: Path, starts, cfg: NaWaterConfig,
                       centers: np.ndarray, steps: int) -> float:
    """Wall time of the same windows one after another as ASE Langevin runs, s."""
    from nnpkit.calculators import load_calculator
    from nnpkit.md import BiasedCalculator, HarmonicBias, SumBias

    calc = load_calculator(model_path)
    total = 0.0
    for k, center in enumerate(centers):
        atoms = starts[k].copy()
        bias = SumBias(HarmonicBias(make_cv(cfg, atoms, 1), [center], [cfg.spring_constant_eV]),
                       make_wall(cfg, atoms, 1))
        atoms.calc = BiasedCalculator(calc, bias)
        dynamics = Langevin(atoms, cfg.timestep_fs * units.fs, temperature_K=cfg.temperature_K,
                            friction=cfg.friction_per_fs / units.fs,
                            rng=np.random.default_rng(k))
        dynamics.run(5)  # warm-up (not timed)
        started = time.perf_counter()
        dynamics.run(steps)
        total += time.perf_counter() - started
    return total


def gfn2_seconds_per_call(atoms, calls: int) -> float:
    """tblite GFN2-xTB (charge +1) energy+forces per call on rattled copies, s."""
    rng = np.random.default_rng(0)
    work = atoms.copy()
    work.calc = gfn2_calculator()
    work.get_forces()
    started = time.perf_counter()
    for _ in range(calls):
        work.positions = atoms.positions + rng.normal(0.0, 0.02, atoms.positions.shape)
        work.get_forces()
    return (time.perf_counter() - started) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="output directory of na_water_end_to_end.py")
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--gfn2-calls", type=int, default=20)
    args = parser.parse_args(argv)
    from nnpkit.models.committee_file import load_committee
    from nnpkit.models.model_file import load_model

    run = Path(args.run)
    cfg = NaWaterConfig.model_validate(json.loads((run / "config.json").read_text()))
    committee_path = Path(json.loads((run / "al.json").read_text())["final_committee"])
    window_starts = read(run / "window_starts.extxyz", ":")
    centers = np.linspace(min(cfg.windows), max(cfg.windows), args.windows)
    nearest = [int(np.argmin(np.abs(np.asarray(cfg.windows) - c))) for c in centers]
    starts = [window_starts[k] for k in nearest]
    batched = batched_seconds(load_committee(committee_path), starts, cfg, centers, args.steps)
    sequential = sequential_seconds(committee_path, starts, cfg, centers, args.steps)
    member_path = committee_path / "member_0" / "model.nnp"
    member_batched = batched_seconds(load_model(member_path), starts, cfg, centers, args.steps)
    member_sequential = sequential_seconds(member_path, starts, cfg, centers, args.steps)
    result: dict = {
        "n_atoms": len(starts[0]), "windows": args.windows, "steps": args.steps,
        "committee": {"batched_wall_s": batched, "sequential_ase_wall_s": sequential,
                      "speedup_batched_over_sequential": sequential / batched},
        "single_member": {"batched_wall_s": member_batched,
                          "sequential_ase_wall_s": member_sequential,
                          "speedup_batched_over_sequential": member_sequential / member_batched},
        "target_speedup": 5.0,
        "gfn2_s_per_call": gfn2_seconds_per_call(read(run / "cluster_equilibrated.extxyz"),
                                                 args.gfn2_calls)}
    summary_path = run / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        result["profile_comparison"] = {
            key: summary[key] for key in ("bins", "n_bins_compared", "all_compared_within_1kT",
                                          "max_abs_diff_kT", "most_probable_cn_potential",
                                          "most_probable_cn_gfn2", "delta_F_potential",
                                          "delta_F_gfn2", "gfn2_profile_length_ps_per_window")}
        cost = dict(summary["cost"])
        cost["projected_gfn2_wall_s_from_this_call_cost"] = (
            result["gfn2_s_per_call"] * cost["steps_sampled_on_potential"])
        result["cost"] = cost
    write_json(run / "benchmark.json", result)
    print(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
