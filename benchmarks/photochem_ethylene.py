"""Ethylene photoisomerisation on a diabatic network learned from SA-2-CASSCF(2,2)/6-31g data,
with active learning on the excited state, ≥ 200 FSSH trajectories, the S1 lifetime and the
cost against on-the-fly SA-CASSCF surface hopping.

Stages (each reuses what the previous wrote under ``--out``):

1. ``labels``: geometries of the Franck–Condon region (Wigner samples of the GFN2-xTB
   ground state: only the sampling uses xTB) and along the twist with random
   pyramidalisation, labelled through the farm (``sa-casscf/6-31g``).
2. ``study``: train a committee on energies + forces + phase-free NACs, run FSSH from the
   learned ground state's Wigner distribution, pick the geometries of largest committee
   spread along the trajectories, label them, retrain, and run the final ensemble.

``OMP_NUM_THREADS=1 python benchmarks/photochem_ethylene.py --stage labels --workers 2``
``OMP_NUM_THREADS=1 python benchmarks/photochem_ethylene.py --stage study``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule

from nnpkit.data.io import read_structures
from nnpkit.file_writes import atomic_write
from nnpkit.labeling.farm import label_to_store
from nnpkit.labeling.methods import parse_method
from nnpkit.labeling.normal_modes import harmonic_modes, wigner_samples
from nnpkit.labeling.store import DatasetStore

METHOD = "sa-casscf/6-31g"
OPTIONS = {"n_states": 2, "active_electrons": 2, "active_orbitals": 2}


def twisted(atoms: Atoms, twist_deg: float, pyramid_deg: float) -> Atoms:
    """``atoms`` (ASE's C2H4: C–C along z, plane yz) with the CH2 on C1 twisted about the
    C–C axis and pyramidalised (its H atoms bent out of the CH2 plane)."""
    out = atoms.copy()
    group = [4, 5]  # H atoms on C1 (z < 0)
    angle = np.radians(twist_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0],
                         [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    out.positions[group] = out.positions[group] @ rotation.T
    normal = rotation @ np.array([1.0, 0.0, 0.0])
    bond = np.linalg.norm(out.positions[4] - out.positions[1])
    out.positions[group] += bond * np.sin(np.radians(pyramid_deg)) * normal
    return out


def initial_geometries(seed: int = 0, n_wigner: int = 100, n_twist: int = 120) -> list[Atoms]:
    """Wigner samples at the planar minimum and twisted/pyramidalised samples with
    Wigner noise; every structure neutral."""
    from tblite.ase import TBLite

    ground = molecule("C2H4")
    modes = harmonic_modes(ground, TBLite(method="GFN2-xTB", verbosity=0))
    positions, _ = wigner_samples(modes, n_wigner + n_twist, seed)
    rng = np.random.default_rng(seed)
    out = []
    for index, geometry in enumerate(positions):
        atoms = modes.atoms.copy()
        atoms.positions = geometry
        if index >= n_wigner:
            atoms = twisted(atoms, rng.uniform(0.0, 120.0), rng.uniform(-35.0, 35.0))
        atoms.info["charge"] = 0
        out.append(atoms)
    return out


def label(structures: list[Atoms], db: Path, workers: int) -> dict:
    """Label ``structures`` into ``db`` through the farm; counts and timings."""
    spec = parse_method(METHOD, **OPTIONS)
    started = time.perf_counter()
    report = label_to_store(structures, spec, db, properties=("energy", "forces"),
                            n_workers=workers, lease_s=600.0)
    return {"computed": report.n_computed, "failed": report.n_failed,
            "existing": report.n_existing, "wall_s": time.perf_counter() - started}


def labels(out: Path, workers: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = label(initial_geometries(), out / "labels.db", workers)
    store = DatasetStore(out / "labels.db")
    summary["n_labelled"] = store.export(out / "labels_initial.extxyz")
    summary["failures"] = store.failures()
    seconds = [float(a.info["label_s"]) for a in read_structures(out / "labels_initial.extxyz")]
    summary["label_s_mean"], summary["label_s_sum"] = float(np.mean(seconds)), float(
        np.sum(seconds))
    atomic_write(out / "labels_initial.json", lambda tmp: Path(tmp).write_text(
        json.dumps(summary, indent=2, default=str)))
    print(json.dumps(summary, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["labels", "study"], required=True)
    parser.add_argument("--out", default="benchmarks/out/photochem_ethylene")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.stage == "labels":
        labels(Path(args.out), args.workers)
    else:
        from photochem_ethylene_study import study  # type: ignore[import-not-found]

        study(Path(args.out), args.workers)


if __name__ == "__main__":
    main()
