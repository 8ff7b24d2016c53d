"""The equivariant model's cost per MD step against MACE's: e3nn's graph and the fused form.

What a velocity-Verlet step costs is one energy + forces call on a new geometry. Each model
is timed on the same 20 frames (the MD start structure of ``mace_vs_nnpkit.py``, rattled
by 0.03 Å, called in turn, so every call recomputes and the neighbour lists behave as in
MD) in its own process and environment, on that process's CPU clock, one thread, and the
three kinds alternate over ``--rounds`` rounds so the machine's drift hits all alike:

* ``mace``: MACE (32x0e+32x1o, L = 1, correlation 3, 2 interactions, r_max 5 Å, float32)
  through its ``MACECalculator``;
* ``e3nn``: nnpkit's equivariant model (default architecture) through its own e3nn graph
  (``fast_path=False``), which is what nnpkit ran before the fused form;
* ``fused``: the same model file through the default calculator
  (:mod:`nnpkit.models.equivariant_fused`).

The cost does not depend on the weights, so the models of ``mace_vs_nnpkit.py --quick``
(a few epochs) serve; run that first, or pass ``--work`` with the full run's directory.

    python benchmarks/peers/mace_vs_nnpkit.py --quick          # the model files
    python benchmarks/peers/equivariant_speed.py               # the timing, ~10 min
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import OUT_DIR, set_thread_env  # noqa: E402

set_thread_env(1)

KINDS = ("mace", "e3nn", "fused")


def _frames(work: Path) -> Path:
    """20 rattled copies of the data set's MD start, written once."""
    from ase.io import read, write

    path = work / "speed_frames.extxyz"
    if not path.is_file():
        start = read(work / "md_start.extxyz")
        frames = []
        for seed in range(20):
            frame = start.copy()
            frame.rattle(0.03, seed=seed)
            frames.append(frame)
        write(path, frames, format="extxyz")
    return path


#: glibc keeps freed memory instead of returning each large buffer to the OS (so a fresh
#: tensor of the same size needs no page faults); for every kind alike
KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": "4000000000",
                     "MALLOC_TRIM_THRESHOLD_": "4000000000"}


def _time(kind: str, work: Path, mace_venv: Path, seconds: float, out: Path,
          keep_freed_memory: bool) -> dict:
    python = mace_venv / "bin" / "python" if kind == "mace" else Path(sys.executable)
    model = work / "mace" / "mace.model" if kind == "mace" else work / "equivariant" / "model.nnp"
    command = [str(python), str(HERE / "evaluate.py"), "--kind",
               "mace" if kind == "mace" else "nnpkit", "--model", str(model),
               "--speed-frames", str(_frames(work)), "--seconds", str(seconds), "--out", str(out)]
    if kind == "e3nn":
        command.append("--no-fast-path")
    env = {**os.environ, **(KEEP_FREED_MEMORY if keep_freed_memory else {})}
    subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=OUT_DIR / "peers_quick",
                        help="a mace_vs_nnpkit.py output directory (its model files)")
    parser.add_argument("--datasets", nargs="+", default=["ethanol", "copper"])
    parser.add_argument("--mace-venv", type=Path, default=OUT_DIR / "peers" / "mace-venv")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="run every kind with " + " ".join(
                            f"{k}={v}" for k, v in KEEP_FREED_MEMORY.items()))
    args = parser.parse_args()
    tag = "_keep_freed_memory" if args.keep_freed_memory else ""

    results: dict[str, dict[str, list[dict]]] = {}
    for name in args.datasets:
        work = args.work / name
        results[name] = {kind: [] for kind in KINDS}
        for round_index in range(args.rounds):
            for kind in KINDS:
                record = _time(kind, work, args.mace_venv, args.seconds,
                               work / f"speed_{kind}_{round_index}{tag}.json",
                               args.keep_freed_memory)
                results[name][kind].append(record)
                print(f"{name} round {round_index} {kind}: "
                      f"{record['atom_steps_per_s_cpu']:,.0f} atom-steps/s", flush=True)
    rows = ["| data | atoms | MACE atom-steps/s | e3nn graph | fused | e3nn / MACE | "
            "fused / MACE (target ≥ 5) | fused / e3nn |", "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for name, kinds in results.items():
        speed = {kind: [r["atom_steps_per_s_cpu"] for r in records]
                 for kind, records in kinds.items()}
        # ratios within each round (the kinds ran back to back), then their range
        ratio = {f"{a}/{b}": [x / y for x, y in zip(speed[a], speed[b], strict=True)]
                 for a, b in (("e3nn", "mace"), ("fused", "mace"), ("fused", "e3nn"))}
        summary[name] = {"atoms": kinds["mace"][0]["atoms"], "atom_steps_per_s": speed,
                         "ratios_per_round": ratio}

        def spread(values: list[float], digits: int = 0) -> str:
            low, high = min(values), max(values)
            return (f"{low:,.{digits}f}–{high:,.{digits}f}" if digits else
                    f"{statistics.median(values):,.0f} ({low:,.0f}–{high:,.0f})")

        rows.append(f"| {name} | {summary[name]['atoms']} | {spread(speed['mace'])} | "
                    f"{spread(speed['e3nn'])} | {spread(speed['fused'])} | "
                    f"{spread(ratio['e3nn/mace'], 2)} | {spread(ratio['fused/mace'], 2)} | "
                    f"{spread(ratio['fused/e3nn'], 2)} |")
    out = args.work / f"equivariant_speed{tag}.json"
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(summary, indent=2))
    partial.replace(out)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
