"""Generate ``tests/data/cu100_adatom.nnp``: a small BPNN for a Cu adatom on Cu(100), EMT.

    OMP_NUM_THREADS=1 .venv/bin/python tests/data/make_cu100_adatom_model.py [--minutes 6]

The fixture of ``tests/apps/test_rates_cu_diffusion.py``. Everything goes through the
project's own code:

1. sampling: the EMT climbing-image NEB bands of both paths of
   :mod:`nnpkit.paths.surfaces` (hop and exchange, default 3×3×3 slab, bottom layer
   fixed), at 7 and 11 interior images; every image rattled
   (:func:`~nnpkit.labeling.rattle_structures`, 0.02 / 0.05 / 0.1 Å); Langevin MD
   snapshots of each end point at 300 and 700 K (:func:`~nnpkit.labeling.sample_md`,
   driven by EMT); rattles of the clean slab;
2. labelling: EMT energies and forces through the farm (:func:`~nnpkit.labeling.
   label_to_store`, one worker) into an SQLite store, read back from the store;
3. training: :func:`nnpkit.training.fit`, one Behler–Parrinello model in float64 (energy
   weighted, since the barriers are energy differences), a fixed process-time budget.

The model file (about 60 kB) is copied to ``tests/data/cu100_adatom.nnp`` and the test
metrics and sample counts to ``tests/data/cu100_adatom.json``. Deterministic up to the
timing of the training budget (``--minutes`` of process CPU time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
MODEL_PATH = HERE / "cu100_adatom.nnp"
INFO_PATH = HERE / "cu100_adatom.json"

#: The descriptors and network: one element, small, float64.
MODEL = {"kind": "bpnn", "cutoff_A": 5.0, "angular_cutoff_A": 4.0, "n_radial": 12,
         "n_angular_radial": 4, "zetas": [1, 2, 4], "hidden": [24, 24]}


def sample_structures(seed: int = 0) -> tuple[list, dict[str, int]]:
    """The unlabelled (and EMT-MD-labelled) samples and their counts by kind."""
    from ase.calculators.emt import EMT

    from nnpkit.labeling import rattle_structures, sample_md
    from nnpkit.paths import cu100_adatom_exchange, cu100_adatom_hop, run_neb
    from nnpkit.paths.surfaces import cu100_slab

    structures: list = []
    counts: dict[str, int] = {}

    def add(kind: str, items: list) -> None:
        for atoms in items:
            atoms.info["config_type"] = kind
        structures.extend(items)
        counts[kind] = counts.get(kind, 0) + len(items)

    for path_name, builder in (("hop", cu100_adatom_hop), ("exchange", cu100_adatom_exchange)):
        initial, final = builder()
        for n_images in (7, 11):
            band = run_neb(initial, final, EMT, n_images=n_images, fmax_eV_per_A=0.01,
                           max_steps=3000)
            if not band.converged:
                raise RuntimeError(f"the EMT {path_name} NEB ({n_images} images) did not "
                                   f"converge: max force {band.max_force_eV_per_A:.3f} eV/Å")
            images = [image.copy() for image in band.images]
            add(f"{path_name}_band", images)
            for k, image in enumerate(images):
                for stdev_A, n in ((0.02, 2), (0.05, 3), (0.1, 2)):
                    add(f"{path_name}_rattle", rattle_structures(
                        image, n, stdev_A=stdev_A, seed=seed + 1000 * n_images + 10 * k
                        + int(100 * stdev_A)))
        for end, atoms in (("initial", band.images[0]), ("final", band.images[-1])):
            if path_name == "hop" and end == "final":
                continue  # the hop's end points are equivalent by symmetry
            for temperature_K in (300.0, 700.0):
                add(f"{path_name}_md", sample_md(
                    atoms, EMT(), temperature_K=temperature_K, n_samples=12,
                    interval_steps=10, timestep_fs=2.0, equilibration_steps=50,
                    seed=seed + int(temperature_K), progress=False))
    add("slab_rattle", rattle_structures(cu100_slab(), 12, stdev_A=0.05, seed=seed))
    for atoms in structures:  # the farm hashes positions; drop MD labels, EMT relabels
        atoms.calc = None
    return structures, counts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0,
                        help="training budget, minutes of process CPU time")
    parser.add_argument("--work", default=None, help="work directory (default: a temp dir)")
    args = parser.parse_args(argv)

    from nnpkit.data import write_structures
    from nnpkit.labeling import DatasetStore, label_to_store
    from nnpkit.training import fit, load_config

    started = time.perf_counter()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="cu100_adatom_"))
    work.mkdir(parents=True, exist_ok=True)
    structures, counts = sample_structures()
    report = label_to_store(structures, "emt", work / "labels.db",
                            properties=("energy", "forces"), n_workers=1, progress=False)
    labelled = DatasetStore(work / "labels.db").structures(method="emt")
    write_structures(work / "train.extxyz", labelled)
    config = load_config({
        "data": {"train": str(work / "train.extxyz"), "validation_fraction": 0.1,
                 "test_fraction": 0.1},
        "model": MODEL,
        "training": {"max_epochs": 100000, "time_limit_min": args.minutes,
                     "time_clock": "process", "dtype": "float64", "num_threads": 1,
                     "batch_size": 8, "learning_rate": 3e-3, "energy_weight": 30.0,
                     "forces_weight": 1.0, "stress_weight": 0.0,
                     "early_stopping_patience": 150, "scheduler_patience": 25,
                     "progress": False, "seed": 0},
        "output": str(work / "run"),
    })
    result = fit(config)
    shutil.copyfile(result.model_path, MODEL_PATH)
    metrics = json.loads((Path(config.output) / "metrics.json").read_text())
    info = {"samples": counts, "n_labelled": len(labelled), "label_report": {
        "n_computed": report.n_computed, "n_failed": report.n_failed,
        "wall_s": round(report.wall_s, 2)}, "model": MODEL,
        "test_metrics": metrics.get("test"), "minutes": args.minutes,
        "wall_s": round(time.perf_counter() - started, 1)}
    INFO_PATH.write_text(json.dumps(info, indent=2) + "\n")
    return info


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
