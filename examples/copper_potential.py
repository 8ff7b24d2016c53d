"""Train a copper potential on EMT data, check it, and use it through ASE.

    python examples/copper_potential.py --out runs/copper            # ~5 min
    python examples/copper_potential.py --out /tmp/cu --quick        # ~30 s (run in CI)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

import nnpkit
from nnpkit.data import write_structures
from nnpkit.labeling.datasets import copper_emt_dataset
from nnpkit.md import run_md
from nnpkit.training import fit, load_config


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/copper")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    n_structures, epochs = (120, 15) if args.quick else (400, 300)

    # 1. reference data: bulk, strained, slabs, vacancies, labelled with EMT
    structures = copper_emt_dataset(n_structures, seed=0)
    n_test = n_structures // 5
    write_structures(out / "train.extxyz", structures[:-n_test])
    write_structures(out / "test.extxyz", structures[-n_test:])

    # 2. train
    config = load_config({
        "data": {"train": str(out / "train.extxyz"), "test": str(out / "test.extxyz")},
        "model": {"kind": "bpnn", "cutoff_A": 5.0},
        "training": {"max_epochs": epochs, "time_limit_min": 10, "progress": not args.quick},
        "output": str(out / "run"),
    })
    result = fit(config)

    # 3. use it through ASE: relax a cell, then a short NVT run
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(2)
    atoms.calc = nnpkit.load_calculator(result.run_dir)
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.01, steps=200)
    lattice_A = float(np.cbrt(atoms.get_volume() / len(atoms) * 4))
    md = run_md(atoms, atoms.calc, temperature_K=300, steps=100, timestep_fs=2.0,
                progress=False)
    summary = {"test": result.test_metrics, "relaxed_lattice_constant_A": lattice_A,
               "emt_lattice_constant_A": 3.59,
               "md_mean_temperature_K": float(np.mean(md.log["temperature_K"]))}
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
