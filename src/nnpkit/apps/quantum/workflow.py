"""The library calls behind ``nnpkit gp fit`` and ``nnpkit quantum levels|transmission``.

Public units at this edge: eV, Å and amu in, eV out (converted with ``ase.units``);
everything inside is atomic units. A potential is named by a built-in name
(:data:`~nnpkit.apps.quantum.potentials.BUILTIN_POTENTIALS`) with optional
``KEY=VALUE`` parameters in eV/Å, or by the path of a GP file written by ``gp fit``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from ase import units

from nnpkit.apps.quantum.potentials import builtin_potential, evaluate_on_grid
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid

__all__ = ["parse_params", "load_potential", "converged_levels", "levels", "transmission",
           "fit_gp"]

#: Electron masses per amu.
AMU_AU = units._amu / units._me


def parse_params(items: list[str] | None) -> dict[str, float]:
    """``["depth_eV=4.6", "r0_A=0.97"]`` -> ``{"depth_eV": 4.6, "r0_A": 0.97}``."""
    params: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"parameter {item!r} is not of the form KEY=VALUE")
        try:
            params[key.strip()] = float(value)
        except ValueError as error:
            raise ConfigError(f"parameter {key!r}: {value!r} is not a number") from error
    return params


def load_potential(spec: str, params: dict[str, float] | None = None) -> Any:
    """A built-in potential by name, or a :class:`GaussianProcessPES` from a file path."""
    if os.path.exists(spec) or spec.endswith((".safetensors", ".gp")):
        from nnpkit.apps.quantum.gp import GaussianProcessPES

        if params:
            raise ConfigError(f"{spec}: a GP file takes no --params")
        return GaussianProcessPES.load(spec)
    return builtin_potential(spec, params)


def converged_levels(potential: Any, mass_au: float, n_levels: int,
                     bounds: tuple[list[float], list[float]] | None = None,
                     start_points: int = 64, tolerance_au: float = 1e-7,
                     max_points: int = 1024) -> tuple[np.ndarray, Grid, Any, float]:
    """Sinc-DVR levels ``[n_levels]`` (Hartree) converged by doubling a 1D/2D grid.

    Every grid has its first and last points on ``lower`` and ``upper`` (the sinc-DVR box
    is the same for all densities), so only the discretisation converges. Doubling stops
    when no level moves by more than ``tolerance_au`` or at ``max_points`` per axis (128
    in 2D); a box whose walls are too low for the requested levels converges slowly.

    Returns:
        The energies, the final grid, the :class:`Eigenstates` and the largest change of
        a level at the last doubling (Hartree).
    """
    from nnpkit.apps.quantum.eigenstates import grid_eigenstates

    lower, upper = bounds if bounds is not None else potential.default_bounds()
    n_dim = len(lower)
    count = start_points if n_dim == 1 else 32
    limit = max_points if n_dim == 1 else 128
    previous = None
    while True:
        spacing = (np.asarray(upper, float) - np.asarray(lower, float)) / (count - 1)
        grid = Grid(lower, np.asarray(upper, float) + spacing, [count] * n_dim)
        states = grid_eigenstates(grid, evaluate_on_grid(potential, grid.mesh()), mass_au,
                                  n_levels)
        change = np.inf if previous is None else float(np.max(np.abs(states.energies
                                                                      - previous)))
        if change < tolerance_au or count * 2 > limit:
            return states.energies, grid, states, change
        previous = states.energies
        count *= 2


def levels(potential: str, mass_amu: float, n_levels: int,
           params: dict[str, float] | None = None, plot: str | os.PathLike | None = None
           ) -> dict:
    """Lowest ``n_levels`` vibrational levels of a 1D/2D potential, in eV.

    Returns ``{"levels_eV", "n_points", "grid_change_eV", "zero_point_energy_eV",
    "splitting_eV", "plot"}``; ``n_points`` is the number of points of the final grid and
    ``grid_change_eV`` the largest change of a level at its last doubling.
    """
    if mass_amu <= 0 or n_levels < 1:
        raise ConfigError(f"need mass_amu > 0 and n >= 1, got {mass_amu}, {n_levels}")
    surface = load_potential(potential, params)
    energies, grid, states, change = converged_levels(surface, mass_amu * AMU_AU, n_levels)
    values = evaluate_on_grid(surface, grid.mesh())
    from nnpkit.apps.quantum.observables import zero_point_energy

    summary: dict = {"levels_eV": (energies * units.Hartree).tolist(), "n_points": grid.size,
                     "grid_change_eV": change * units.Hartree,
                     "zero_point_energy_eV": zero_point_energy(states, values) * units.Hartree}
    if n_levels >= 2:
        summary["splitting_eV"] = float(energies[1] - energies[0]) * units.Hartree
    if plot is not None and grid.n_dim == 1:
        from nnpkit.apps.quantum.plots import plot_wavefunctions

        summary["plot"] = str(plot_wavefunctions(states, values, plot))
    return summary


def transmission(potential: str, mass_amu: float, energies_eV: list[float],
                 params: dict[str, float] | None = None, initial_channel: int = 0,
                 progress: bool = False) -> dict:
    """Transmission probabilities at total energies (eV) by wavepacket flux (1D).

    Returns ``{"energies_eV", "transmission", "by_channel", "n_points", "n_steps"}``.
    """
    from nnpkit.apps.quantum.transmission import transmission_spectrum

    if mass_amu <= 0 or not energies_eV:
        raise ConfigError("need mass_amu > 0 and at least one energy")
    surface = load_potential(potential, params)
    if surface.n_dim != 1:
        raise ConfigError(f"transmission is computed for 1D potentials; {potential} is "
                          f"{surface.n_dim}D")
    energies = np.asarray(energies_eV, dtype=float) / units.Hartree
    result = transmission_spectrum(surface, mass_amu * AMU_AU, energies,
                                   initial_channel=initial_channel, progress=progress)
    return {"energies_eV": list(map(float, energies_eV)),
            "transmission": result.total.tolist(), "by_channel": result.by_channel.tolist(),
            "n_points": result.grid.size, "n_steps": result.n_steps}


def fit_gp(reference: str, out: str | os.PathLike, active: bool = True,
           budget: int | None = None,
           tolerance_meV: float | None = None, use_gradients: bool = False,
           energy_cutoff_eV: float | None = None, params: dict[str, float] | None = None,
           acquisition: str = "integrated", plot: bool = True, progress: bool = False) -> dict:
    """Learn a GP surface from a built-in potential or a scan YAML and save it to ``out``.

    For a scan YAML, the file's own budget/gradient/cutoff settings apply unless given
    here; for a built-in the budget defaults to 15. Without ``active`` the ``budget``
    points are placed uniformly. Returns a JSON-ready summary (points used, the history of
    the largest std in meV, hyperparameters in Å and eV, files written).
    """
    from nnpkit.apps.quantum.active import (
        learn_actively,
        learn_by_placement,
        reference_from_potential,
    )

    metadata: dict[str, Any] = {"coordinate_unit": "bohr", "energy_unit": "hartree",
                                "reference": str(reference)}
    exact = None
    if reference.endswith((".yaml", ".yml")):
        from nnpkit.apps.quantum.scan import ScanReference, load_scan_config

        config = load_scan_config(reference)
        caller = ScanReference(config)
        bounds = caller.bounds()
        use_gradients = use_gradients or config.use_gradients
        budget = budget if budget is not None else config.budget
        tolerance_meV = tolerance_meV if tolerance_meV is not None else config.tolerance_meV
        if energy_cutoff_eV is None:
            energy_cutoff_eV = config.energy_cutoff_eV
        metadata["masses_amu"] = caller.moved_masses_amu()
        metadata["equilibrium_bohr"] = caller.equilibrium().tolist()
        function: Any = caller
    else:
        exact = builtin_potential(reference, params)
        if hasattr(exact, "matrix"):
            raise ConfigError(f"{reference} is a multi-state model; a GP learns one surface")
        bounds = exact.default_bounds()
        function = reference_from_potential(exact, use_gradients)
        budget = budget if budget is not None else 15
    tolerance = None if tolerance_meV is None else tolerance_meV / 1000 / units.Hartree
    cutoff = None if energy_cutoff_eV is None else energy_cutoff_eV / units.Hartree
    if active:
        result = learn_actively(function, bounds, use_gradients=use_gradients, budget=budget,
                                tolerance=tolerance, energy_cutoff=cutoff,
                                acquisition=acquisition, metadata=metadata, progress=progress)
        model, history, converged = result.model, result.history, result.converged
    else:
        model = learn_by_placement(function, bounds, budget, "uniform", use_gradients,
                                   metadata=metadata)
        history, converged = [], False
    path = model.save(out)
    to_meV = units.Hartree * 1000
    history = [{"n_points": row["n_points"], "max_weighted_std_meV": row["max_weighted_std"]
                * to_meV, "max_std_meV": row["max_std"] * to_meV} for row in history]
    summary: dict[str, Any] = {
        "gp_file": str(path), "n_points": len(model.energies), "use_gradients": use_gradients,
        "converged": converged, "history": history,
        "lengthscales_A": [value * units.Bohr for value in model.hyper.lengthscales
                           * model.input_scale],
        "signal_std_eV": model.hyper.signal_std * model.energy_scale * units.Hartree}
    if plot:
        from nnpkit.apps.quantum.plots import plot_gp_surface

        summary["plot"] = str(plot_gp_surface(model, Path(out).with_suffix(".png"),
                                              reference=exact))
    return summary
