"""The rates worked example (NO decomposition on Cu(100), EMT): barriers, TOF interval and
the cost of barrier-to-TOF on the potential against EMT and (projected) DFT.

    OMP_NUM_THREADS=1 python benchmarks/rates_example.py [--reuse] [--out runs/rates_example]

Runs ``examples/rates/run_example.py`` (sampling, farm labelling, a 4-member committee,
both chains), or with ``--reuse`` takes its finished ``summary.json``. Then measures:

- per barrier |potential − EMT| (meV), forward and reverse;
- per temperature whether EMT's TOF lies inside the committee's 5–95 % interval, and the
  interval width p95/p5;
- the wall time of barrier-to-TOF (NEB network with relaxations, saddle checks and
  Hessians, then the microkinetics) on the committee against EMT, from the one run;
- the reference calls that chain makes (counted by rerunning it on a counting EMT) and
  the per-call costs of EMT and of the committee on the 38-atom slab, measured here; the
  projected DFT chain is that call count times the PySCF per-call cost of
  docs/benchmarks.md (PBE/6-31G* on ethanol, 3.148 s; a 9-atom molecule, so a lower bound
  for a 38-atom metal slab), and the same with the labelling cost of the training set
  added (the amortised view).

Prints one JSON object and writes it to ``benchmarks/out/rates_example.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(BENCHMARKS.parent / "examples" / "rates"))

#: PySCF PBE/6-31G* per energy+forces call on ethanol, s (docs/benchmarks.md, "Cost per
#: energy + forces evaluation against the reference methods").
PYSCF_PER_CALL_S = 3.148


def _counting_emt_factory(counter: dict):  # noqa: ANN202
    from ase.calculators.emt import EMT

    class CountingEMT(EMT):
        def calculate(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            counter["calls"] += 1
            super().calculate(*args, **kwargs)

    def factory() -> EMT:
        return CountingEMT()

    return factory


def count_reference_calls() -> dict:
    """Rerun the EMT network in a fresh directory with a counting EMT: the calls a
    reference chain costs (relaxations, NEB images, finite-difference Hessians)."""
    from nnpkit.apps.rates.neb_config import load_neb_config
    from nnpkit.apps.rates.network import run_network

    counter = {"calls": 0}
    with tempfile.TemporaryDirectory() as work:
        config = load_neb_config(BENCHMARKS.parent / "examples" / "rates" / "neb.yaml",
                                 [f"output={work}", "plots=false"])
        started = time.perf_counter()
        run_network(config, _counting_emt_factory(counter), progress=False)
        wall = time.perf_counter() - started
    return {"calls": counter["calls"], "network_wall_s": wall}


def per_call_costs(committee: str, repeats: int = 50) -> dict:
    """Median s per energy+forces call on the relaxed N* slab: EMT and the committee."""
    import numpy as np
    from ase.calculators.emt import EMT
    from ase.io import read
    from common import summarize_times, time_calls

    from nnpkit.calculators import load_calculator

    atoms = read(BENCHMARKS.parent / "examples" / "rates" / "structures" / "n.extxyz")
    rng = np.random.default_rng(0)
    out = {"n_atoms": len(atoms)}
    for name, calculator in (("emt", EMT()), ("committee", load_calculator(committee))):
        work = atoms.copy()
        work.calc = calculator

        def call(work=work) -> None:  # noqa: ANN001
            work.positions += rng.normal(0.0, 1e-3, size=work.positions.shape)
            work.get_forces()

        out[f"{name}_per_call_s"] = summarize_times(time_calls(call, repeats, 3))["median_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/rates_example")
    parser.add_argument("--reuse", action="store_true",
                        help="take the finished example's summary.json")
    args = parser.parse_args()

    from common import machine_info, write_results

    summary_path = Path(args.out) / "summary.json"
    if not (args.reuse and summary_path.is_file()):
        from run_example import run_example

        run_example(args.out)
    summary = json.loads(summary_path.read_text())
    comparison, wall = summary["comparison"], summary["wall_s"]
    calls = count_reference_calls()
    costs = per_call_costs(summary["training"]["committee"])
    dft_chain_s = calls["calls"] * PYSCF_PER_CALL_S
    dft_labels_s = summary["training"]["n_structures"] * PYSCF_PER_CALL_S
    potential_total_s = wall["labelling"] + wall["training"] + wall["potential_chain"]
    record = {
        "barriers_abs_diff_meV": {step: {k: v[k]["abs_diff_meV"] for k in
                                         ("barrier_forward_eV", "barrier_reverse_eV")}
                                  for step, v in comparison["barriers"].items()},
        "barriers_eV": comparison["barriers"],
        "max_barrier_abs_diff_meV": comparison["max_barrier_abs_diff_meV"],
        "target_barrier_meV": 50.0,
        "formation_energies_eV": comparison["formation_energies_eV"],
        "tof": comparison["tof"],
        "emt_tof_inside_5_95_everywhere": comparison["emt_inside_5_95_everywhere"],
        "degree_of_rate_control_emt": comparison["degree_of_rate_control_emt"],
        "wall_s": wall,
        "chain_ratio_potential_over_emt": wall["potential_chain"] / wall["emt_chain"],
        "reference_calls_per_chain": calls["calls"],
        "per_call": costs,
        "pyscf_per_call_s_assumed": PYSCF_PER_CALL_S,
        "projected_dft_chain_s": dft_chain_s,
        "projected_speedup_vs_dft_chain": dft_chain_s / wall["potential_chain"],
        "projected_speedup_vs_dft_including_labels_and_training":
            dft_chain_s / (dft_labels_s + wall["training"] + wall["potential_chain"]),
        "potential_total_wall_s": potential_total_s,
        "training": {k: summary["training"][k] for k in
                     ("n_structures", "member_test_metrics")},
        "machine": machine_info(),
    }
    path = write_results("rates_example", record)
    print(json.dumps(record, indent=2, default=str))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
