"""The library calls behind ``nnpkit fssh`` and ``nnpkit wavepacket scatter``.

Each takes a model name (``tully1``, ``tully2``, ``tully3``) or a saved diabatic network
file, runs one calculation and returns a JSON-ready dict; optional output directories
receive ``result.json`` and a population plot ``populations.png``.
:func:`run_molecular_fssh` runs a molecule's photodynamics on a saved atomistic network
(:mod:`nnpkit.apps.nonadiabatic.photodynamics`) and adds the lifetime fit to both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import numpy as np

from nnpkit.apps.nonadiabatic.exact import WavepacketConfig, exact_scattering
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.photodynamics import PhotodynamicsConfig
from nnpkit.apps.nonadiabatic.plots import plot_populations
from nnpkit.apps.nonadiabatic.potentials import resolve_potential
from nnpkit.apps.nonadiabatic.scattering import fssh_scattering
from nnpkit.errors import ConfigError
from nnpkit.file_writes import atomic_write
from nnpkit.wavepackets.tully import MODEL_NAMES

__all__ = ["run_fssh_scattering", "run_exact_scattering", "run_molecular_fssh"]


def _write_json(path: Path, payload: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2)))


def run_fssh_scattering(model: str, momentum_au: float, n_trajectories: int,
                        decoherence: Literal["none", "edc"] = "none", seed: int = 0,
                        frustrated: Literal["keep", "reflect"] = "keep",
                        decoherence_constant_au: float = 0.1, dt_au: float | None = None,
                        output: str | os.PathLike | None = None,
                        progress: bool = False) -> dict:
    """FSSH branching ratios for Tully scattering on ``model`` (name or network file).

    Returns:
        ``transmission_lower``, ``transmission_upper``, ``reflection_lower``,
        ``reflection_upper``, ``stderr`` (a dict of the same four keys) and run details.
    """
    potential = resolve_potential(model)
    config = FSSHConfig(decoherence=decoherence, seed=seed, frustrated=frustrated,
                        decoherence_constant_au=decoherence_constant_au, progress=progress)
    result = fssh_scattering(potential, momentum_au, n_trajectories, config, dt_au=dt_au)
    summary = {"model": str(model), "decoherence": decoherence, "seed": seed,
               **result.as_dict()}
    if output is not None:
        out = Path(output)
        dynamics = result.dynamics
        plot_populations(out / "populations.png", dynamics.times_au,
                         {"FSSH": dynamics.populations,
                          "|c|²": dynamics.electronic_populations},
                         title=f"{model}, k = {momentum_au} au")
        _write_json(out / "result.json", summary)
        summary["output"] = str(out)
    return summary


def run_exact_scattering(model: str, momentum_au: float,
                         config: WavepacketConfig | None = None) -> dict:
    """Exact (wavepacket) branching ratios for Tully scattering on an analytic model."""
    if model not in MODEL_NAMES[:3]:
        raise ConfigError(f"wavepacket scatter supports {', '.join(MODEL_NAMES[:3])}, "
                          f"got {model!r}")
    result = exact_scattering(resolve_potential(model), momentum_au, config)
    return {"model": model, "momentum_au": momentum_au, **result.as_dict()}


def run_molecular_fssh(model: str | os.PathLike, structure: str | os.PathLike,
                       config: PhotodynamicsConfig,
                       output: str | os.PathLike | None = None) -> dict:
    """Photodynamics of the molecule in ``structure`` on the atomistic network ``model``.

    Returns:
        ``{"model", "structure", "lifetime": {"tau_fs", "tau_stderr_fs", "t0_fs", ...},
        "times_fs", "populations", ...}``; with ``output``, also ``result.json`` and
        ``populations.png`` (populations and the fitted decay) there.
    """
    from ase import Atoms
    from ase.io import read

    from nnpkit.apps.nonadiabatic.model_file import load_diabatic_network
    from nnpkit.apps.nonadiabatic.molecular import AtomisticDiabaticNetwork
    from nnpkit.apps.nonadiabatic.photodynamics import AU_TIME_FS, run_photodynamics

    network, _ = load_diabatic_network(model)
    if not isinstance(network, AtomisticDiabaticNetwork):
        raise ConfigError(f"{model} holds a model-coordinate network; --molecule needs an "
                          "atomistic one (AtomisticDiabaticNetwork)")
    atoms = read(str(structure), index=-1)
    assert isinstance(atoms, Atoms)
    result = run_photodynamics(network, atoms, config)
    summary = {"model": str(model), "structure": str(structure), **config.model_dump(),
               **result.as_dict()}
    if output is not None:
        out = Path(output)
        lifetime = result.lifetime
        fitted = np.where(result.times_fs < lifetime["t0_fs"], 1.0,
                          np.exp(-(result.times_fs - lifetime["t0_fs"]) / lifetime["tau_fs"]))
        fit_curves = np.zeros_like(result.populations)
        fit_curves[:, config.initial_state] = fitted
        fit_curves[:, 0 if config.initial_state else 1] = 1.0 - fitted
        plot_populations(out / "populations.png", result.times_fs / AU_TIME_FS,
                         {"FSSH": result.populations, "fit": fit_curves},
                         title=f"{Path(structure).name}: tau = {lifetime['tau_fs']:.1f} ± "
                               f"{lifetime['tau_stderr_fs']:.1f} fs")
        _write_json(out / "result.json", summary)
        summary["output"] = str(out)
    return summary
