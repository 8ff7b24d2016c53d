"""The study stage of ``benchmarks/photochem_ethylene.py``: committee, exploration FSSH,
active learning on the excited state, the final ensemble, the lifetime and the costs.

Writes ``study.json``, ``populations.png`` and ``spread.png`` under ``--out``; the
committee's members as ``member_<k>.nnpd``.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule

from nnpkit.apps.nonadiabatic.atomistic_training import fit_atomistic_diabatic
from nnpkit.apps.nonadiabatic.model_file import load_diabatic_network, save_diabatic_model
from nnpkit.apps.nonadiabatic.molecular import AtomisticDiabaticNetwork
from nnpkit.apps.nonadiabatic.photodynamics import (
    PhotodynamicsConfig,
    committee_spread,
    franck_condon_ensemble,
    run_photodynamics,
)
from nnpkit.errors import DataError
from nnpkit.file_writes import atomic_write
from nnpkit.labeling.excited_states import state_labels
from nnpkit.labeling.methods import parse_method
from nnpkit.labeling.normal_modes import harmonic_modes, wigner_samples
from nnpkit.labeling.store import DatasetStore

EPOCHS = int(os.environ.get("NNPKIT_ETHYLENE_EPOCHS", "1200"))
N_MEMBERS = 3
N_SELECT = 60
N_ROUNDS = 2  # active-learning rounds before the final committee
EXPLORE = PhotodynamicsConfig(n_trajectories=100, time_fs=150.0, dt_fs=0.25, seed=11)
FINAL = PhotodynamicsConfig(n_trajectories=200, time_fs=200.0, dt_fs=0.25, seed=12)


def _train_member(args: tuple[str, int, str]) -> dict:
    """Train member ``seed`` on the store's labels; saves it; returns its summary."""
    db, seed, path = args
    torch.set_num_threads(1)
    structures = DatasetStore(db).structures()
    labels = [state_labels(atoms, index=i, source=db) for i, atoms in enumerate(structures)]
    network = AtomisticDiabaticNetwork(["C", "H"], 2, cutoff_A=4.0, angular_cutoff_A=3.5,
                                       hidden=[32, 32])
    started = time.process_time()
    summary = fit_atomistic_diabatic(
        network, structures, energies_eV=np.stack([label.energies for label in labels]),
        forces_eV_A=[label.forces for label in labels],
        nacs_per_A=[label.nacs for label in labels], force_weight=1.0, coupling_weight=1.0,
        epochs=EPOCHS, batch_size=32, seed=seed)
    summary |= {"cpu_s": time.process_time() - started, "n_structures": len(structures)}
    save_diabatic_model(path, network, summary)
    return summary


def train_committee(out: Path, tag: str) -> tuple[list[AtomisticDiabaticNetwork], list[dict]]:
    jobs = [(str(out / "labels.db"), seed, str(out / f"{tag}_member_{seed}.nnpd"))
            for seed in range(N_MEMBERS)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        summaries = list(pool.map(_train_member, jobs))
    members = [load_diabatic_network(path)[0] for _, _, path in jobs]
    return members, summaries  # type: ignore[return-value]


def _threshold(members: list, atoms: Atoms, db: Path) -> float:
    """Twice the median committee spread (eV, max over states) on the training geometries."""
    geometries = np.stack([a.positions for a in DatasetStore(db).structures()])
    return 2.0 * float(np.median(committee_spread(members, atoms, geometries).max(axis=1)))


def _select(members: list, atoms: Atoms, positions: np.ndarray, threshold: float,
            n_select: int) -> tuple[list[Atoms], dict]:
    """For each trajectory the first geometry (every 4th record) whose committee spread
    exceeds ``threshold``: the edge of what the committee knows, reached before the
    trajectory runs on into nonsense; at most ``n_select`` of them, earliest first."""
    frames = positions[::4]  # [R', T, N, 3]
    spread = committee_spread(members, atoms, frames.reshape(-1, *frames.shape[2:]))
    spread = spread.max(axis=1).reshape(frames.shape[:2])  # [R', T]
    above = spread > threshold
    first = np.where(above.any(axis=0), above.argmax(axis=0), -1)  # [T]
    uncertain = np.nonzero(first >= 0)[0]
    order = uncertain[np.argsort(first[uncertain], kind="stable")][:n_select]
    out = []
    for trajectory in order:
        copy = atoms.copy()
        copy.positions = frames[first[trajectory], trajectory]
        copy.info["charge"] = 0
        out.append(copy)
    return out, {"threshold_eV": threshold, "trajectories_uncertain": int(len(uncertain)),
                 "n_trajectories": int(spread.shape[1]), "selected": len(out),
                 "spread_max_eV": float(spread.max())}


def _spread_along(members: list, atoms: Atoms, result) -> dict:
    """Committee spread of S0 and S1 (eV) along the final trajectories, by time."""
    stride = 4
    positions = result.positions_A[::stride]  # [R', T, N, 3]
    spread = committee_spread(members, atoms, positions.reshape(-1, *positions.shape[2:]))
    spread = spread.reshape(positions.shape[0], positions.shape[1], -1)  # [R', T, n]
    return {"times_fs": result.times_fs[::stride].tolist(),
            "mean_eV": spread.mean(axis=1).tolist(),
            "p95_eV": np.percentile(spread, 95, axis=1).tolist(),
            "overall_mean_eV": float(spread.mean()), "overall_max_eV": float(spread.max())}


def initial_conditions(member: AtomisticDiabaticNetwork, atoms: Atoms,
                       config: PhotodynamicsConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """Wigner samples of the learned ground state; of GFN2-xTB's where the learned surface
    has no minimum near the planar molecule (the source is recorded)."""
    try:
        positions, velocities, _ = franck_condon_ensemble(member, atoms, config.n_trajectories,
                                                          config.seed)
        return positions, velocities, "learned S0"
    except DataError as error:  # an imaginary mode of the learned surface
        from tblite.ase import TBLite

        modes = harmonic_modes(atoms, TBLite(method="GFN2-xTB", verbosity=0))
        positions, velocities = wigner_samples(modes, config.n_trajectories, config.seed)
        return positions, velocities, f"GFN2-xTB modes (learned S0: {error})"


def _per_step_cost(structures: list[Atoms]) -> float:
    """Wall seconds of one on-the-fly FSSH step (SA-CASSCF, one state's gradient, one NAC)."""
    from photochem_ethylene import METHOD, OPTIONS  # type: ignore[import-not-found]

    calculator = parse_method(METHOD, **OPTIONS).make_calculator()
    seconds = []
    for atoms in structures:
        started = time.perf_counter()
        mc = calculator.solve(atoms)
        mc.nuc_grad_method().kernel(state=1)
        mc.nac_method().kernel(state=(0, 1), use_etfs=True)
        seconds.append(time.perf_counter() - started)
    return float(np.mean(seconds))


def study(out: Path, workers: int) -> dict:
    from photochem_ethylene import label  # type: ignore[import-not-found]

    atoms = molecule("C2H4")
    summary: dict = {"epochs": EPOCHS, "rounds": []}
    explore_s = 0.0
    for round_index in range(N_ROUNDS):
        members, training = train_committee(out, f"round{round_index}")
        began = time.perf_counter()
        positions, velocities, source = initial_conditions(members[0], atoms, EXPLORE)
        explore = run_photodynamics(members[0], atoms, EXPLORE, positions, velocities)
        explore_s += time.perf_counter() - began
        threshold = _threshold(members, atoms, out / "labels.db")
        selected, selection = _select(members, atoms, explore.positions_A, threshold, N_SELECT)
        record = {"training": training, "explore_lifetime": explore.lifetime,
                  "initial_conditions": source, "selection": selection,
                  "labels": label(selected, out / "labels.db", workers) if selected else None}
        summary["rounds"].append(record)
        print(json.dumps(record, default=str), flush=True)
    summary["explore_s"] = explore_s
    members, summary["final_training"] = train_committee(out, "final")
    began = time.perf_counter()
    positions, velocities, source = initial_conditions(members[0], atoms, FINAL)
    final = run_photodynamics(members[0], atoms, FINAL.model_copy(update={"progress": True}),
                              positions, velocities)
    fssh_wall = time.perf_counter() - began
    summary["final"] = final.as_dict() | {"wall_s": fssh_wall, "initial_conditions": source}
    summary["spread_along_final"] = _spread_along(members, atoms, final)
    store = DatasetStore(out / "labels.db")
    labelled = store.structures()
    import ase.db

    label_s = float(sum(float(row.get("label_s", 0.0))  # labelled and failed records
                        for row in ase.db.connect(str(out / "labels.db")).select()))
    train_s = sum(m["cpu_s"] for record in summary["rounds"] for m in record["training"]) + sum(
        m["cpu_s"] for m in summary["final_training"])
    per_step = _per_step_cost([labelled[i] for i in range(0, 100, 20)])
    steps = FINAL.n_trajectories * FINAL.time_fs / FINAL.dt_fs
    ours = label_s + train_s + explore_s + fssh_wall
    summary["cost"] = {"labels_s": label_s, "n_labels": len(labelled), "training_cpu_s": train_s,
                       "fssh_s": explore_s + fssh_wall, "study_s": ours,
                       "on_the_fly_per_step_s": per_step, "on_the_fly_steps": steps,
                       "on_the_fly_projected_s": per_step * steps,
                       "ratio": per_step * steps / ours}
    _plots(out, final, summary)
    atomic_write(out / "study.json", lambda tmp: Path(tmp).write_text(
        json.dumps(summary, indent=2)))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("final",
                                                                    "spread_along_final")},
                     indent=2))
    return summary


def _plots(out: Path, final, summary: dict) -> None:
    from nnpkit.apps.nonadiabatic.photodynamics import AU_TIME_FS
    from nnpkit.apps.nonadiabatic.plots import plot_populations

    lifetime = final.lifetime
    fitted = np.where(final.times_fs < lifetime["t0_fs"], 1.0,
                      np.exp(-(final.times_fs - lifetime["t0_fs"]) / lifetime["tau_fs"]))
    plot_populations(out / "populations.png", final.times_fs / AU_TIME_FS,
                     {"FSSH": final.populations,
                      "fit": np.stack([1.0 - fitted, fitted], axis=1)},
                     title=f"ethylene S1: tau = {lifetime['tau_fs']:.0f} ± "
                           f"{lifetime['tau_stderr_fs']:.0f} fs")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spread = summary["spread_along_final"]
    figure, axis = plt.subplots(figsize=(6, 4))
    mean, p95 = np.asarray(spread["mean_eV"]), np.asarray(spread["p95_eV"])
    for state in range(mean.shape[1]):
        axis.plot(spread["times_fs"], mean[:, state], label=f"S{state} mean")
        axis.plot(spread["times_fs"], p95[:, state], "--", label=f"S{state} 95th pct")
    axis.set(xlabel="time (fs)", ylabel="committee spread (eV)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "spread.png", dpi=120)
    plt.close(figure)
