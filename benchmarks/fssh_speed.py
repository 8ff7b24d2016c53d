"""FSSH speed and accuracy: analytic Tully models vs a learned diabatic network vs exact.

Writes ``benchmarks/out/fssh_speed/results.json`` and ``populations.png``:

* wall time of 2000 trajectories per Tully model (target: < 10 s), cost per
  trajectory-step;
* the same run on a :class:`DiabaticMLP` trained on Tully 1 diabatic labels: cost ratio
  learned / analytic per trajectory-step, and the branching ratios of both;
* exact wavepacket branching ratios beside FSSH (none and EDC decoherence).

Run single-threaded: ``OMP_NUM_THREADS=1 python benchmarks/fssh_speed.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nnpkit.apps.nonadiabatic.adiabatic import adiabatic_states
from nnpkit.apps.nonadiabatic.exact import exact_scattering
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.networks import NetworkPotential
from nnpkit.apps.nonadiabatic.plots import plot_populations
from nnpkit.apps.nonadiabatic.scattering import fssh_scattering
from nnpkit.apps.nonadiabatic.training import (
    DiabaticData,
    DiabaticTrainingConfig,
    fit_diabatic_mlp,
)
from nnpkit.file_writes import atomic_write
from nnpkit.wavepackets.tully import tully_model

KEYS = ("transmission_lower", "transmission_upper", "reflection_lower", "reflection_upper")


def _timed_fssh(potential, momentum, n, decoherence="none"):
    start = time.perf_counter()
    result = fssh_scattering(potential, momentum, n,
                             FSSHConfig(progress=False, decoherence=decoherence))
    seconds = time.perf_counter() - start
    summary = result.as_dict()
    return result, {"seconds": seconds, "trajectory_steps": result.dynamics.trajectory_steps,
                    "us_per_trajectory_step": 1e6 * seconds / result.dynamics.trajectory_steps,
                    **{key: summary[key] for key in KEYS}, "stderr": summary["stderr"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--out", default="benchmarks/out/fssh_speed")
    args = parser.parse_args()
    cases = {1: 10.0, 2: 30.0, 3: 10.0}
    results: dict = {"n_trajectories": args.trajectories, "analytic": {}, "exact": {}}
    curves = {}
    for number, momentum in cases.items():
        model = tully_model(number)
        for decoherence in ("none", "edc"):
            result, row = _timed_fssh(model, momentum, args.trajectories, decoherence)
            results["analytic"][f"tully{number}_k{momentum:g}_{decoherence}"] = row
            print(f"tully{number} k={momentum:g} {decoherence}: {row['seconds']:.2f} s, "
                  f"{row['us_per_trajectory_step']:.2f} us/traj-step", flush=True)
        curves[f"tully{number}"] = result.dynamics
        exact = exact_scattering(model, momentum).as_dict()
        results["exact"][f"tully{number}_k{momentum:g}"] = {key: exact[key] for key in KEYS}
    # learned model: Tully 1 from diabatic labels, then the same FSSH run
    x = np.linspace(-10.0, 10.0, 201)[:, None]  # [N, 1]
    matrix, gradient = tully_model(1).evaluate(x)
    states = adiabatic_states(matrix, gradient)
    start = time.perf_counter()
    fit = fit_diabatic_mlp(DiabaticData(x, energies=states.energies, diabatic=matrix),
                           DiabaticTrainingConfig(labels="diabatic", epochs=4000,
                                                  hidden=[48, 48], smoothness_weight=0.0))
    training_seconds = time.perf_counter() - start
    _, learned = _timed_fssh(NetworkPotential(fit.model), cases[1], args.trajectories)
    analytic = results["analytic"]["tully1_k10_none"]
    results["learned_tully1"] = {
        "training_seconds": training_seconds, "diabatic_rmse_au": fit.diabatic_rmse_au,
        "energy_rmse_au": fit.energy_rmse_au, **learned,
        "cost_ratio_vs_analytic": learned["us_per_trajectory_step"]
        / analytic["us_per_trajectory_step"]}
    print(json.dumps(results["learned_tully1"], indent=1))
    out = Path(args.out)
    atomic_write(out / "results.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2)))
    dynamics = curves["tully1"]
    plot_populations(out / "populations.png", dynamics.times_au,
                     {"FSSH": dynamics.populations, "|c|²": dynamics.electronic_populations},
                     title="Tully 1, k = 10 au, FSSH + EDC")
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
