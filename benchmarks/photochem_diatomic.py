"""A diatomic through a real ionic/covalent avoided crossing: SA-CASSCF labels, a diabatic
network learned from adiabatic data, and collisions on the learned and the reference curves.

KCl, SA-2-CASSCF(2,2)/6-31g* (AVAS on K 4s and Cl 3pz) along the bond through the labelling
farm; the network (:class:`DiabaticMLP` on R) is trained on the state energies, their
gradients and the phase-free couplings. The reference diabatic matrix comes from the
labels themselves (mixing angle from the integrated NAC, :class:`ReferenceDiatomic`).
A half collision: a packet on the ionic ground state at 4 Å moves out through the
crossing near 9 Å once (the scan's inner wall, at 2.0 Å, where AVAS still finds the
K 4s/Cl 3pz space, lies below the energy of a full collision that opens the ion channel);
the branching ratio is the probability of leaving as ions K⁺ + Cl⁻ (a diabatic passage),
at three energies above the ion-pair threshold (``photochem_diatomic_study.py``).

Stages (each reuses what the previous one wrote under ``--out``):

``OMP_NUM_THREADS=1 python benchmarks/photochem_diatomic.py --stage labels --workers 1``
``OMP_NUM_THREADS=1 python benchmarks/photochem_diatomic.py --stage study``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nnpkit.apps.nonadiabatic.diatomic import bond_scan
from nnpkit.data.io import read_structures
from nnpkit.file_writes import atomic_write
from nnpkit.labeling.farm import label_to_store
from nnpkit.labeling.methods import parse_method
from nnpkit.labeling.store import DatasetStore

METHOD = "sa-casscf/6-31g*"
OPTIONS = {"n_states": 2, "active_electrons": 2, "active_orbitals": 2,
           "active_ao_labels": ["K 4s", "Cl 3pz"], "avas_minao": "sto-3g",
           "avas_threshold": 0.6}


def scan_distances() -> np.ndarray:
    """Bond lengths, Å: the wall, the well, dense through the crossing near 9 Å, the tail."""
    return np.round(np.concatenate([np.arange(1.9, 3.0, 0.1), np.arange(3.0, 7.5, 0.25),
                                    np.arange(7.5, 11.0, 0.1), np.arange(11.0, 16.01, 0.5)]), 3)


def labels(out: Path, workers: int) -> None:
    """Label the scan into ``out/labels.db`` (resumable) and export ``out/labels.extxyz``."""
    spec = parse_method(METHOD, **OPTIONS)
    structures = bond_scan(["K", "Cl"], scan_distances())
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = label_to_store(structures, spec, out / "labels.db", properties=("energy",
                            "forces"), n_workers=workers, lease_s=600.0)
    wall = time.perf_counter() - started
    store = DatasetStore(out / "labels.db")
    n = store.export(out / "labels.extxyz")
    seconds = [float(a.info.get("label_s", 0.0)) for a in read_structures(out / "labels.extxyz")]
    summary = {"method": METHOD, "options": OPTIONS, "n_input": len(structures),
               "n_labelled": n, "failures": store.failures(), "wall_s": wall,
               "label_s_mean": float(np.mean(seconds)), "label_s_sum": float(np.sum(seconds)),
               "report": {"computed": report.n_computed, "failed": report.n_failed,
                          "existing": report.n_existing}}
    atomic_write(out / "labels.json", lambda tmp: Path(tmp).write_text(
        json.dumps(summary, indent=2, default=str)))
    print(json.dumps(summary, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["labels", "study"], required=True)
    parser.add_argument("--out", default="benchmarks/out/photochem_kcl")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    out = Path(args.out)
    if args.stage == "labels":
        labels(out, args.workers)
    else:
        from photochem_diatomic_study import study  # type: ignore[import-not-found]

        study(out)


if __name__ == "__main__":
    main()
