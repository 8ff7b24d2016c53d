"""The study stage of ``benchmarks/photochem_diatomic.py``: fit, compare, collide.

Every 5th label is held out of the fit. Writes ``study.json`` and PNGs (curves, NAC and
mixing angle; branching against collision energy) next to the labels.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from nnpkit.apps.nonadiabatic.adiabatic import adiabatic_states
from nnpkit.apps.nonadiabatic.collision import CollisionConfig, exact_collision, fssh_collision
from nnpkit.apps.nonadiabatic.diatomic import (
    ReferenceDiatomic,
    diatomic_data,
    nac_peak_position,
    reduced_mass_au,
)
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.model_file import save_diabatic_model
from nnpkit.apps.nonadiabatic.networks import NetworkPotential
from nnpkit.apps.nonadiabatic.training import (
    DiabaticData,
    DiabaticTrainingConfig,
    fit_diabatic_mlp,
)
from nnpkit.data.io import read_structures
from nnpkit.file_writes import atomic_write
from nnpkit.units import BOHR_TO_A, HARTREE_TO_EV

#: Total energies above the ion-pair curve at the outer absorber, eV: every channel open.
ABOVE_ION_THRESHOLD_EV = (0.5, 1.5, 3.0)
N_TRAJECTORIES = int(os.environ.get("NNPKIT_KCL_TRAJECTORIES", "2000"))
EPOCHS = int(os.environ.get("NNPKIT_KCL_EPOCHS", "4000"))
START_A = 4.2  # the half collision starts on the ionic ground state, moving out
#: The reference matrix and the collision grid start here: inside it the labels' small
#: couplings have zeros of their own (|d| alone cannot continue the mixing angle there).
REFERENCE_FROM_A = 3.0


def _subset(data: DiabaticData, keep: np.ndarray) -> DiabaticData:
    assert data.energies is not None and data.gradients is not None
    assert data.couplings is not None
    return DiabaticData(data.positions[keep], energies=data.energies[keep],
                        gradients=data.gradients[keep], couplings=data.couplings[keep])


def _errors(potential: NetworkPotential, data: DiabaticData) -> dict:
    """Curve errors (meV) and |NAC| errors (1/Å) of the network at the labels of ``data``."""
    assert data.energies is not None and data.couplings is not None
    states = adiabatic_states(*potential.evaluate(data.positions))
    # energies relative to the lowest label: the constant offset is not physical
    offset = data.energies.min()
    error = (states.energies - offset) - (data.energies - offset)
    nac = np.abs(states.couplings[:, 0, 0, 1]) - np.abs(data.couplings[:, 0, 0])
    return {"curve_max_abs_meV": float(np.abs(error).max() * HARTREE_TO_EV * 1e3),
            "curve_rmse_meV": float(np.sqrt(np.mean(error**2)) * HARTREE_TO_EV * 1e3),
            "nac_max_abs_per_A": float(np.abs(nac).max() / BOHR_TO_A)}


def _plots(out: Path, data: DiabaticData, network: NetworkPotential,
           reference: ReferenceDiatomic, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert data.energies is not None and data.couplings is not None
    r = np.linspace(reference.r_min, reference.r_max, 1500)
    learned = adiabatic_states(*network.evaluate(r[:, None]))
    offset = data.energies.min()
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    for state in range(2):
        axes[0].plot(r * BOHR_TO_A, (learned.energies[:, state] - offset) * HARTREE_TO_EV, "-",
                     label=f"network S{state}")
        axes[0].plot(data.positions[:, 0] * BOHR_TO_A, (data.energies[:, state] - offset)
                     * HARTREE_TO_EV, ".", label=f"SA-CASSCF S{state}")
    axes[0].set(xlabel="R (Å)", ylabel="E (eV)", title="adiabatic curves")
    axes[1].plot(r * BOHR_TO_A, np.abs(learned.couplings[:, 0, 0, 1]) / BOHR_TO_A, label="network")
    axes[1].plot(data.positions[:, 0] * BOHR_TO_A, np.abs(data.couplings[:, 0, 0]) / BOHR_TO_A,
                 ".", label="SA-CASSCF")
    axes[1].set(xlabel="R (Å)", ylabel="|d₀₁| (1/Å)", title="nonadiabatic coupling")
    energies = [row["kinetic_energy_eV"] for row in rows]
    for key, style in (("exact_reference", "k-o"), ("exact_learned", "b-s"),
                       ("fssh_learned", "r-^")):
        axes[2].plot(energies, [row[key]["exit"][1] for row in rows], style, label=key)
    axes[2].set(xlabel="kinetic energy at 4 Å (eV)", ylabel="P(K⁺ + Cl⁻)", title="ion yield")
    for axis in axes:
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "study.png", dpi=120)
    plt.close(figure)


def study(out: Path) -> dict:
    """Fit on 4/5 of the labels, compare with all, run the collisions; writes study.json."""
    structures = read_structures(out / "labels.extxyz")
    data = diatomic_data(structures, source=str(out / "labels.extxyz"))
    mass = reduced_mass_au(["K", "Cl"])
    n = data.positions.shape[0]
    held_out = np.zeros(n, bool)
    held_out[2::5] = True
    started = time.perf_counter()
    config = DiabaticTrainingConfig(hidden=[48, 48], epochs=EPOCHS, lbfgs_steps=EPOCHS // 2,
                                    gradient_weight=1.0, coupling_weight=1.0,
                                    smoothness_weight=0.0, progress=True)
    fit = fit_diabatic_mlp(_subset(data, ~held_out), config, mass_au=mass)
    train_s = time.perf_counter() - started
    save_diabatic_model(out / "kcl_diabatic.nnpd", fit.model, {"labels": "labels.extxyz"})
    network = NetworkPotential(fit.model)
    outer = data.positions[:, 0] >= REFERENCE_FROM_A / BOHR_TO_A
    reference = ReferenceDiatomic(_subset(data, outer), mass)
    assert data.couplings is not None
    summary: dict = {
        "n_labels": n, "n_held_out": int(held_out.sum()), "train_s": train_s,
        "train": _errors(network, _subset(data, ~held_out)),
        "held_out": _errors(network, _subset(data, held_out)),
        "nac_peak_A": {
            "sa_casscf": nac_peak_position(data.positions[:, 0] * BOHR_TO_A,
                                           data.couplings[:, 0, 0]),
            "network": nac_peak_position(
                np.linspace(reference.r_min, reference.r_max, 4000) * BOHR_TO_A,
                adiabatic_states(*network.evaluate(np.linspace(
                    reference.r_min, reference.r_max, 4000)[:, None])).couplings[:, 0, 0, 1])},
        "tail_angle_rad": reference.tail_angle}
    collision = CollisionConfig(r_min_bohr=reference.r_min, r_max_bohr=reference.r_max,
                                start_bohr=START_A / BOHR_TO_A, sigma_bohr=0.3,
                                absorber_bohr=1.0, direction="out", max_time_au=1.2e5)
    exit_r = np.array([[reference.r_max - collision.absorber_bohr]])
    ion_threshold = float(np.linalg.eigvalsh(reference.evaluate(exit_r)[0])[0, 1])
    start = float(np.linalg.eigvalsh(reference.evaluate(np.array([[collision.start_bohr]]))[0])[
        0, 0])
    rows = []
    for above in ABOVE_ION_THRESHOLD_EV:
        energy = ion_threshold + above / HARTREE_TO_EV - start
        row: dict = {"above_ion_threshold_eV": above, "kinetic_energy_au": energy,
                     "kinetic_energy_eV": energy * HARTREE_TO_EV}
        for name, potential in (("exact_reference", reference), ("exact_learned", network)):
            began = time.perf_counter()
            row[name] = exact_collision(potential, energy, 0, collision).as_dict()
            row[name]["wall_s"] = time.perf_counter() - began
        began = time.perf_counter()
        result, _ = fssh_collision(network, energy, 0, N_TRAJECTORIES, collision,
                                   FSSHConfig(progress=False, dt_au=4.0, seed=1))
        row["fssh_learned"] = result.as_dict() | {"wall_s": time.perf_counter() - began}
        result, _ = fssh_collision(reference, energy, 0, N_TRAJECTORIES, collision,
                                   FSSHConfig(progress=False, dt_au=4.0, seed=1))
        row["fssh_reference"] = result.as_dict()
        for key in ("exact_learned", "fssh_learned", "fssh_reference"):  # ion yields
            row[f"{key}_minus_exact_reference"] = (row[key]["exit"][1]
                                                   - row["exact_reference"]["exit"][1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary["collisions"] = rows
    _plots(out, data, network, reference, rows)
    atomic_write(out / "study.json", lambda tmp: Path(tmp).write_text(
        json.dumps(summary, indent=2)))
    print(json.dumps({k: v for k, v in summary.items() if k != "collisions"}, indent=2))
    return summary
