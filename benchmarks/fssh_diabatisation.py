"""Diabatisation on Tully's models: networks fitted to adiabatic energies, with or without NACs.

For each Tully model two :class:`DiabaticMLP` (48×48) are fitted on the same grid
(161 points on x ∈ [-12, 12] plus 81 on [-3, 3]): one to the adiabatic energies only
(diabatisation by ansatz, smoothness penalty 1e-3), one to the energies and the
nonadiabatic couplings by the phase-free loss (NAC signs flipped at random geometries,
as electronic-structure output has them). Reported per fit: the adiabatic RMSE on a finer
test grid and the |NAC| error; per momentum (Tully 1: k = 10, 15, 20; Tully 2: 30;
Tully 3: 15): FSSH branching ratios (2000 trajectories) and the exact split-operator
wavepacket on the analytic model and on both networks. Prints one JSON line per model
and momentum; writes ``benchmarks/out/fssh_diabatisation/results.json``.

``OMP_NUM_THREADS=1 python benchmarks/fssh_diabatisation.py``
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from nnpkit.apps.nonadiabatic.adiabatic import adiabatic_states
from nnpkit.apps.nonadiabatic.exact import exact_scattering
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.networks import NetworkPotential
from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential
from nnpkit.apps.nonadiabatic.scattering import fssh_scattering
from nnpkit.apps.nonadiabatic.training import (
    DiabaticData,
    DiabaticTrainingConfig,
    fit_diabatic_mlp,
)
from nnpkit.file_writes import atomic_write
from nnpkit.wavepackets.tully import tully_model

KEYS = ("transmission_lower", "transmission_upper", "reflection_lower", "reflection_upper")
MOMENTA = {1: (10.0, 15.0, 20.0), 2: (30.0,), 3: (15.0,)}
FITS = {
    "energy_only": DiabaticTrainingConfig(epochs=4000, hidden=[48, 48]),
    "energy_nac": DiabaticTrainingConfig(epochs=4000, hidden=[48, 48], lbfgs_steps=1000,
                                         coupling_weight=1.0, smoothness_weight=0.0),
}


def training_grid() -> np.ndarray:
    """``[N, 1]`` bohr: uniform, denser where Tully's couplings live."""
    return np.unique(np.concatenate([np.linspace(-12, 12, 161), np.linspace(-3, 3, 81)]))[
        :, None]


def fit_quality(network: DiabaticPotential, model: DiabaticPotential, test: np.ndarray
                ) -> dict:
    """Adiabatic-energy RMSE (Eh) and |NAC| errors (1/bohr) on ``test [M, 1]``."""
    learned, exact = (adiabatic_states(*p.evaluate(test)) for p in (network, model))
    nac = np.abs(learned.couplings[:, 0, 0, 1]), np.abs(exact.couplings[:, 0, 0, 1])
    return {"test_energy_rmse_au": float(np.sqrt(np.mean((learned.energies
                                                           - exact.energies) ** 2))),
            "nac_max_learned": float(nac[0].max()), "nac_max_analytic": float(nac[1].max()),
            "nac_rmse": float(np.sqrt(np.mean((nac[0] - nac[1]) ** 2)))}


def scattering(potential: DiabaticPotential, momentum: float) -> dict:
    """FSSH (2000 trajectories, with standard errors) and exact branching ratios."""
    start = time.perf_counter()
    fssh = fssh_scattering(potential, momentum, 2000, FSSHConfig(progress=False, seed=1))
    summary = fssh.as_dict()
    exact = exact_scattering(potential, momentum).as_dict()
    return {"fssh": {key: summary[key] for key in KEYS} | {"stderr": summary["stderr"]},
            "exact": {key: exact[key] for key in KEYS},
            "wall_s": time.perf_counter() - start}


def main() -> None:
    results: dict = {}
    x = training_grid()
    test = np.linspace(-9.97, 9.97, 997)[:, None]  # [M, 1]
    rng = np.random.default_rng(0)
    for number, momenta in MOMENTA.items():
        model = tully_model(number)
        states = adiabatic_states(*model.evaluate(x))
        signs = rng.choice([-1.0, 1.0], size=(len(x), 1, 1))  # arbitrary phases per point
        data = DiabaticData(x, energies=states.energies,
                            couplings=states.couplings[:, :, 0, 1][:, :, None] * signs)
        potentials: dict[str, DiabaticPotential] = {"analytic": model}
        for label, config in FITS.items():
            start = time.perf_counter()
            labels = data if config.coupling_weight > 0 else DiabaticData(
                x, energies=states.energies)
            fit = fit_diabatic_mlp(labels, config)
            potentials[label] = NetworkPotential(fit.model)
            row = {"train_energy_rmse_au": fit.energy_rmse_au,
                   "train_coupling_rmse_au": fit.coupling_rmse_au,
                   "fit_s": time.perf_counter() - start} | fit_quality(
                       potentials[label], model, test)
            results[f"tully{number}_{label}_fit"] = row
            print(json.dumps({f"tully{number}_{label}_fit": row}), flush=True)
        for momentum in momenta:
            row = {label: scattering(potential, momentum)
                   for label, potential in potentials.items()}
            results[f"tully{number}_k{momentum:g}"] = row
            print(json.dumps({f"tully{number}_k{momentum:g}": row}), flush=True)
    out = Path("benchmarks/out/fssh_diabatisation")
    atomic_write(out / "results.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(results, indent=2)))


if __name__ == "__main__":
    main()
