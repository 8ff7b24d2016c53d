"""The worked example of ``nnpkit.apps.rates``: NO decomposition on Cu(100), EMT reference.

    OMP_NUM_THREADS=1 .venv/bin/python examples/rates/run_example.py [--quick] [--out DIR]

The whole chain, each stage a public nnpkit function, rerunnable (finished stages are
reused: the NEB networks resume, labelled structures are not recomputed, finished
committee members are skipped):

1. the NEB network of ``neb.yaml`` on EMT (relaxed states, climbing-image NEBs, saddle
   checks, harmonic modes) and its microkinetics (``kinetics.yaml``): the reference chain;
2. structures sampled around that network (``sample_paths.py``), labelled with EMT by the
   farm into an SQLite store (``labels.db``);
3. a committee of Behler–Parrinello potentials trained on them (``train.yaml``);
4. the same NEB network on the committee (every NEB, saddle check and Hessian on the
   potential; each member's energies recorded), and the microkinetics with the committee
   uncertainty (draws from the members' covariance; TOF median and 5–95 %).

Writes ``<out>/summary.json`` (barriers on both, TOF on both per temperature, whether
EMT's TOF lies in the committee's 5–95 % interval, wall times) and prints it.
``--quick`` is the CI size (fewer samples, 2 members, seconds of training): it checks
that the chain runs, not its accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build_structures  # noqa: E402
from sample_paths import FULL, QUICK, sample_network  # noqa: E402

__all__ = ["run_chain", "solve_kinetics", "label_and_train", "run_example", "main"]


def solve_kinetics(network: Any, kinetics: dict, members: bool) -> dict:
    """The microkinetic report of a finished network run (its ``energy_tables()``);
    ``members``: propagate the committee (uncertainty block of ``kinetics``)."""
    from nnpkit.apps.rates.mechanism import build_mechanism
    from nnpkit.apps.rates.mechanism_config import ConditionsConfig, MechanismConfig
    from nnpkit.apps.rates.tof import microkinetic_report

    mechanism = build_mechanism(MechanismConfig.model_validate(kinetics["mechanism"]))
    conditions = ConditionsConfig.model_validate(kinetics["conditions"])
    table, member_tables = network.energy_tables()
    options = kinetics.get("uncertainty", {}) if members else {}
    return microkinetic_report(
        mechanism, table, conditions, members=(member_tables or []) if members else [],
        sampling=options.get("sampling", "normal"), n_samples=options.get("n_samples", 0),
        seed=options.get("seed", 0))


#: The CI-sized run's looser settings (a seconds-trained committee is rough).
QUICK_NEB_OVERRIDES = ["relax.fmax_eV_per_A=0.05", "relax.max_steps=400",
                       "neb.fmax_eV_per_A=0.05", "neb.max_steps=400", "allow_bad_saddles=true",
                       "plots=false"]


def run_chain(calculator: str, out: Path, name: str, kinetics: dict, members: bool,
              overrides: list[str] | None = None) -> dict:
    """Barrier-to-TOF on one calculator: the network of ``neb.yaml`` (output
    ``<out>/<name>``) and its microkinetics. Returns the network summary, the TOF report
    and the wall time (s) of each part."""
    from nnpkit.apps.rates.neb_config import load_neb_config
    from nnpkit.apps.rates.network import run_network

    config = load_neb_config(HERE / "neb.yaml", [f"calculator={calculator}",
                                                 f"output={out / name}", *(overrides or [])])
    started = time.perf_counter()
    network = run_network(config, progress=False)
    network_s = time.perf_counter() - started
    report = solve_kinetics(network, kinetics, members)
    return {"network": network.report, "tof": report, "network_wall_s": network_s,
            "chain_wall_s": time.perf_counter() - started,
            "computed": list(network.computed)}


def label_and_train(emt_run: Path, out: Path, quick: bool, n_members: int) -> dict:
    """Sample around the EMT network, label with the farm, train the committee."""
    from nnpkit.data import write_structures
    from nnpkit.labeling import DatasetStore, label_to_store
    from nnpkit.training import load_config
    from nnpkit.training.committee import fit_committee

    started = time.perf_counter()
    structures = sample_network(emt_run, QUICK if quick else FULL)
    sampled_s = time.perf_counter() - started
    report = label_to_store(structures, "emt", out / "labels.db",
                            properties=("energy", "forces"), n_workers=1, progress=False)
    labelled = DatasetStore(out / "labels.db").structures(method="emt")
    write_structures(out / "train.extxyz", labelled)
    labelled_s = time.perf_counter() - started - sampled_s
    overrides = [f"data.train={out / 'train.extxyz'}", f"output={out / 'committee'}"]
    if quick:
        overrides += ["training.time_limit_min=0.3", "model.hidden=[16]"]
    committee = fit_committee(load_config(HERE / "train.yaml", overrides), n_members)
    return {"n_structures": len(labelled), "n_computed": report.n_computed,
            "n_failed": report.n_failed, "committee": str(committee.committee_path),
            "member_test_metrics": committee.test_metrics, "sampling_wall_s": sampled_s,
            "labelling_wall_s": labelled_s,
            "training_wall_s": time.perf_counter() - started - sampled_s - labelled_s}


def _comparison(emt: dict, learned: dict) -> dict:
    """Barriers and TOFs side by side."""
    barriers = {}
    for step, reference in emt["network"]["steps"].items():
        model = learned["network"]["steps"][step]
        barriers[step] = {
            key: {"emt": reference[key], "potential": model[key],
                  "abs_diff_meV": 1000 * abs(model[key] - reference[key])}
            for key in ("barrier_forward_eV", "barrier_reverse_eV")}
        barriers[step]["member_barriers_forward_eV"] = model["member_barriers_forward_eV"]
        barriers[step]["n_imaginary_modes_saddle"] = model["n_imaginary_modes_saddle"]
    formation = {name: {"emt": state["formation_energy_eV"],
                        "potential": learned["network"]["states"][name]["formation_energy_eV"]}
                 for name, state in emt["network"]["states"].items()}
    rows = []
    for ref_row, row in zip(emt["tof"]["temperatures"], learned["tof"]["temperatures"],
                            strict=True):
        p = row["tof_percentiles_per_s"]
        rows.append({"temperature_K": row["temperature_K"],
                     "tof_emt_per_s": ref_row["tof_point_per_s"],
                     "tof_potential_median_per_s": row["tof_per_s"],
                     "tof_potential_percentiles_per_s": p,
                     "emt_inside_5_95": bool(p["5"] <= ref_row["tof_point_per_s"] <= p["95"]),
                     "interval_ratio_p95_p5": p["95"] / p["5"] if p["5"] > 0 else None})
    return {"barriers": barriers, "formation_energies_eV": formation, "tof": rows,
            "emt_inside_5_95_everywhere": all(r["emt_inside_5_95"] for r in rows),
            "max_barrier_abs_diff_meV": max(v[k]["abs_diff_meV"] for v in barriers.values()
                                            for k in ("barrier_forward_eV",
                                                      "barrier_reverse_eV")),
            "degree_of_rate_control_emt": emt["tof"]["degree_of_rate_control"],
            "degree_of_rate_control_potential": learned["tof"]["degree_of_rate_control"]}


def run_example(out: str | Path = "runs/rates_example", quick: bool = False,
                n_members: int | None = None) -> dict:
    """The whole chain (see the module docstring); returns and writes the summary."""
    from nnpkit.file_writes import atomic_write

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not (HERE / "structures" / "slab.extxyz").is_file():  # shipped; regenerated if absent
        build_structures.main(["--out", str(HERE / "structures")])
    kinetics = yaml.safe_load((HERE / "kinetics.yaml").read_text())
    if quick:
        kinetics["conditions"]["temperatures_K"] = [450.0, 550.0]
        kinetics["uncertainty"]["n_samples"] = 20
    overrides = QUICK_NEB_OVERRIDES if quick else []
    emt = run_chain("emt", out, "neb_emt", kinetics, False, overrides)
    training = label_and_train(out / "neb_emt", out, quick, n_members or (2 if quick else 4))
    learned = run_chain(training["committee"], out, "neb_committee", kinetics, True, overrides)
    summary = {"quick": quick, "training": training, "comparison": _comparison(emt, learned),
               "wall_s": {"emt_chain": emt["chain_wall_s"],
                          "emt_network": emt["network_wall_s"],
                          "potential_chain": learned["chain_wall_s"],
                          "potential_network": learned["network_wall_s"],
                          "labelling": training["labelling_wall_s"],
                          "training": training["training_wall_s"],
                          "total": time.perf_counter() - started},
               "recomputed": {"emt": emt["computed"], "potential": learned["computed"]}}
    text = json.dumps(summary, indent=2, default=lambda value: None)
    atomic_write(out / "summary.json", lambda tmp: Path(tmp).write_text(text))
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/rates_example")
    parser.add_argument("--quick", action="store_true", help="CI size (chain check only)")
    parser.add_argument("--members", type=int, default=None, help="committee size")
    args = parser.parse_args(argv)
    return run_example(args.out, args.quick, args.members)


if __name__ == "__main__":
    print(json.dumps(main()["comparison"], indent=2, default=lambda value: None))
