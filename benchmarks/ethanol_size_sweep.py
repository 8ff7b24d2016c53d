"""Accuracy against latency of the ethanol BPNN over descriptor and network sizes.

The first target of issue #14 is one ASE call of the BPNN ≥ 10× faster than GFN2-xTB's
call on ethanol; the compiled path's cost is set by the element networks and the
symmetry functions, so what is left is a smaller model at equal accuracy. This script
trains each architecture of ``ARCHITECTURES`` (or ``--only`` a few of them) for the same
wall-clock budget on ``ethanol_xtb_dataset(300)`` (the data of
``reference_speedup.py``), then, in this one process and one thread, times one ASE call
(a new geometry each call, as in ``reference_speedup.py``) of each model's compiled path
and of GFN2-xTB (tblite), in alternating blocks so the machine's drift cancels in the
ratio. Reported per architecture: features, parameters, epochs, test force MAE (meV/Å)
and energy MAE (meV/atom), µs per call and GFN2 µs / model µs.

    python benchmarks/ethanol_size_sweep.py --minutes 2
    python benchmarks/ethanol_size_sweep.py --reuse      # time those models again
    python benchmarks/ethanol_size_sweep.py --quick      # smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import common
import numpy as np
import reference_speedup

#: name → model settings (``model:`` overrides of the default BPNN).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "default (240 G, 128-128-64)": {},
    "240 G, 64-64": {"hidden": [64, 64]},
    "144 G, 64-64": {"n_radial": 12, "n_angular_radial": 3, "zetas": [1, 2, 4],
                     "hidden": [64, 64]},
    "72 G, 64-64": {"n_radial": 8, "n_angular_radial": 2, "zetas": [1, 4],
                    "hidden": [64, 64]},
    "144 G, 32-32": {"n_radial": 12, "n_angular_radial": 3, "zetas": [1, 2, 4],
                     "hidden": [32, 32]},
    "72 G, 32-32": {"n_radial": 8, "n_angular_radial": 2, "zetas": [1, 4],
                    "hidden": [32, 32]},
}


def slug(name: str) -> str:
    """A folder name for an architecture."""
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def train_all(names: list[str], minutes: float, max_epochs: int, n_structures: int,
              out: Path, reuse: bool = False) -> dict[str, dict[str, Any]]:
    """Train every architecture on the same data and budget (with ``reuse``, take the
    models a previous run left in ``out``); test metrics per name."""
    from nnpkit.labeling.datasets import ethanol_xtb_dataset

    structures = None
    trained = {}
    for name in names:
        run_dir = out / slug(name)
        model_path = run_dir / "run" / "model.nnp"
        if not (reuse and model_path.exists()):
            if structures is None:
                structures = ethanol_xtb_dataset(n_structures, seed=0, progress=False)
            model_path = common.train_bpnn(structures, run_dir, minutes, max_epochs,
                                           model_overrides=ARCHITECTURES[name],
                                           num_threads=1)
        summary = json.loads((model_path.parent / "metrics.json").read_text())
        trained[name] = {"model": str(model_path), "metrics": summary}
    return trained


def interleaved_latency(model: reference_speedup.Evaluation,
                        gfn2: reference_speedup.Evaluation, configs: list, rounds: int,
                        seconds: float) -> dict[str, float]:
    """µs per call of ``model`` and of GFN2-xTB in alternating blocks of ``seconds`` each,
    ``rounds`` times, so that the machine's drift (here GFN2's own time wandered between
    2.6 and 4.8 ms within one run) hits both alike: the ratio is the median over rounds of
    the two blocks' median times, with its lowest and highest round."""
    model_us, gfn2_us, ratios = [], [], []
    for _ in range(rounds):
        block_model = 1e6 * reference_speedup.time_method(model, configs, 5, seconds, 1)[
            "median_s"]
        block_gfn2 = 1e6 * reference_speedup.time_method(gfn2, configs, 3, seconds, 1)[
            "median_s"]
        model_us.append(block_model)
        gfn2_us.append(block_gfn2)
        ratios.append(block_gfn2 / block_model)
    return {"us_per_call": float(np.median(model_us)), "gfn2_us": float(np.median(gfn2_us)),
            "gfn2_over_model": float(np.median(ratios)),
            "ratio_low": float(min(ratios)), "ratio_high": float(max(ratios))}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="training wall-clock budget per architecture (default 2)")
    parser.add_argument("--only", nargs="*", help="architecture names (default: all)")
    parser.add_argument("--rounds", type=int, default=7,
                        help="alternating timing rounds per architecture (default 7)")
    parser.add_argument("--block-seconds", type=float, default=0.6,
                        help="timed seconds per method and round (default 0.6)")
    parser.add_argument("--reuse", action="store_true",
                        help="time the models a previous run trained in --out (no training)")
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--out", type=Path, default=common.OUT_DIR / "ethanol_size_sweep")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.set_thread_env(1)
    import torch

    import nnpkit
    from nnpkit.labeling.reference import make_reference_calculator

    torch.set_num_threads(1)
    names = args.only or list(ARCHITECTURES)
    unknown = sorted(set(names) - set(ARCHITECTURES))
    if unknown:
        raise SystemExit(f"unknown architectures {unknown}; known: {list(ARCHITECTURES)}")
    minutes, epochs, n_structures = (0.1, 3, 40) if args.quick else (args.minutes, 100_000, 300)
    trained = train_all(names, minutes, epochs, n_structures, args.out, args.reuse)

    configs = reference_speedup.rattled_ethanol(10)
    rounds = 2 if args.quick else args.rounds
    gfn2 = reference_speedup.ase_evaluation(make_reference_calculator("gfn2"))
    rows = []
    for name in names:
        model_path = trained[name]["model"]
        calculator = nnpkit.load_calculator(model_path, dtype=torch.float32)
        evaluator = calculator.fast_path
        assert evaluator is not None, "the compiled path must be in use"
        model = nnpkit.load_model(model_path)
        metrics = trained[name]["metrics"]
        test = metrics.get("test", metrics)
        rows.append({
            "architecture": name,
            "features": int(evaluator.feature_mean.shape[1]),
            "parameters": sum(p.numel() for p in model.parameters()),
            "epochs": metrics.get("epochs"),
            "forces_mae_meV_per_A": test.get("forces_mae_meV_per_A"),
            "energy_mae_meV_per_atom": test.get("energy_mae_meV_per_atom"),
            **interleaved_latency(reference_speedup.ase_evaluation(calculator), gfn2, configs,
                                  rounds, args.block_seconds),
        })
        print(f"# {name}: {rows[-1]}", file=sys.stderr)
    results = {"benchmark": "ethanol_size_sweep", "settings": vars(args) | {"out": str(args.out)},
               "machine": common.machine_info(), "training_minutes": minutes,
               "rows": rows}
    common.write_results("ethanol_size_sweep" + ("_quick" if args.quick else ""), results,
                         args.out)
    print(common.markdown_table(rows, [
        ("architecture", "architecture"), ("features", "features"),
        ("parameters", "parameters"), ("epochs", "epochs"),
        ("forces_mae_meV_per_A", "test force MAE (meV/Å)"),
        ("energy_mae_meV_per_atom", "test energy MAE (meV/atom)"),
        ("us_per_call", "µs per ASE call"), ("gfn2_us", "GFN2 µs per call"),
        ("gfn2_over_model", "GFN2 / model (median round)"), ("ratio_low", "lowest round"),
        ("ratio_high", "highest round")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
