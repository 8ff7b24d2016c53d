"""Diabatisation by ansatz on Tully's models: networks fitted to adiabatic energies only.

For each Tully model: fit a :class:`DiabaticMLP` to the adiabatic energies on
x ∈ [-10, 10] (201 points), report the adiabatic RMSE on a finer test grid, the
nonadiabatic-coupling error, and FSSH branching ratios beside FSSH on the analytic
model (2000 trajectories each). Writes ``benchmarks/out/fssh_diabatisation/results.json``.

``OMP_NUM_THREADS=1 python benchmarks/fssh_diabatisation.py``
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nnpkit.apps.nonadiabatic.adiabatic import adiabatic_states
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.networks import NetworkPotential
from nnpkit.apps.nonadiabatic.scattering import fssh_scattering
from nnpkit.apps.nonadiabatic.training import (
    DiabaticData,
    DiabaticTrainingConfig,
    fit_diabatic_mlp,
)
from nnpkit.file_writes import atomic_write
from nnpkit.wavepackets.tully import tully_model

KEYS = ("transmission_lower", "transmission_upper", "reflection_lower", "reflection_upper")
MOMENTA = {1: 15.0, 2: 30.0, 3: 15.0}


def main() -> None:
    results = {}
    x = np.linspace(-10.0, 10.0, 201)[:, None]  # [N, 1]
    test = np.linspace(-9.97, 9.97, 997)[:, None]  # [M, 1]
    for number, momentum in MOMENTA.items():
        model = tully_model(number)
        states = adiabatic_states(*model.evaluate(x))
        fit = fit_diabatic_mlp(DiabaticData(x, energies=states.energies),
                               DiabaticTrainingConfig(epochs=4000, hidden=[48, 48]))
        network = NetworkPotential(fit.model)
        learned, exact = (adiabatic_states(*p.evaluate(test)) for p in (network, model))
        energy_rmse = float(np.sqrt(np.mean((learned.energies - exact.energies) ** 2)))
        nac = np.abs(learned.couplings[:, 0, 0, 1]), np.abs(exact.couplings[:, 0, 0, 1])
        row = {"train_energy_rmse_au": fit.energy_rmse_au, "test_energy_rmse_au": energy_rmse,
               "nac_max_learned": float(nac[0].max()), "nac_max_analytic": float(nac[1].max()),
               "nac_rmse": float(np.sqrt(np.mean((nac[0] - nac[1]) ** 2)))}
        config = FSSHConfig(progress=False, seed=1)
        for label, potential in (("network", network), ("analytic", model)):
            summary = fssh_scattering(potential, momentum, 2000, config).as_dict()
            row[label] = {key: summary[key] for key in KEYS} | {"stderr": summary["stderr"]}
        results[f"tully{number}_k{momentum:g}"] = row
        print(json.dumps({f"tully{number}": row}), flush=True)
    out = Path("benchmarks/out/fssh_diabatisation")
    atomic_write(out / "results.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2)))


if __name__ == "__main__":
    main()
