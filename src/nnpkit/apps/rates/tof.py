"""The microkinetic report: steady state, TOF table, DRC, E_app, orders and uncertainty.

``tof_report(config)`` runs everything from a YAML (or dict) that gives the energies
directly (no potential: users bring their own DFT numbers) and writes ``tof.json``,
``config.json`` and the PNGs atomically into the output directory.
``microkinetic_report`` is the same analysis for a mechanism and EnergyTables built in
code (e.g. from NEBs on a committee potential, one table per member).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml
from pydantic import ValidationError

from nnpkit.apps.rates.analysis import (
    apparent_activation_energy_eV,
    degree_of_rate_control,
    local_apparent_activation_energy_eV,
    reaction_orders,
)
from nnpkit.apps.rates.energies import (
    EnergyEntryConfig,
    EnergyTable,
    StateEnergy,
    energy_table_from_config,
    with_energy_values,
)
from nnpkit.apps.rates.mechanism import Mechanism, build_mechanism
from nnpkit.apps.rates.mechanism_config import (
    AnalysisConfig,
    ConditionsConfig,
    TofConfig,
    UncertaintyConfig,
)
from nnpkit.apps.rates.steady_state import solve_problem
from nnpkit.apps.rates.tst import rate_problem
from nnpkit.apps.rates.uncertainty import PERCENTILES, draw_energy_shifts, tof_distribution
from nnpkit.errors import ConfigError
from nnpkit.file_writes import atomic_write
from nnpkit.typed_config import load_typed_config

__all__ = ["tof_report", "microkinetic_report", "write_report", "load_tof_config"]


def load_tof_config(source: str | os.PathLike | Mapping | TofConfig,
                    overrides: list[str] | None = None) -> TofConfig:
    """Read and validate a ``rates tof`` config; errors name the file and the key."""
    if isinstance(source, TofConfig):
        return source
    return load_typed_config(dict(source) if isinstance(source, Mapping) else source,
                             TofConfig, overrides)


def _arrhenius_percentiles(temperatures: Sequence[float], samples: np.ndarray
                           ) -> dict[str, float] | None:
    """Percentiles of E_app over the draws (``samples`` ``[n_T, n_draws]``)."""
    good = np.all(np.isfinite(samples) & (samples > 0), axis=0)
    if len(set(temperatures)) < 2 or not np.any(good):
        return None
    values = [apparent_activation_energy_eV(temperatures, samples[:, i].tolist())
              for i in np.flatnonzero(good)]
    return {p: float(np.percentile(values, float(p))) for p in PERCENTILES}


def microkinetic_report(mechanism: Mechanism, energies: Mapping[str, StateEnergy],
                        conditions: ConditionsConfig, *, members: Sequence[EnergyTable] = (),
                        sigma_eV: Mapping[str, float] | None = None, sampling: str = "normal",
                        n_samples: int = 500, seed: int = 0,
                        analysis: AnalysisConfig | None = None, progress: bool = False) -> dict:
    """The whole analysis as one JSON-ready dict (see docs: the keys of ``tof.json``).

    ``members``: one EnergyTable per committee member; ``sigma_eV``: independent errors
    (eV) of named states; with either, the TOF is the median over the draws.
    """
    analysis = analysis or AnalysisConfig()
    if mechanism.tof_of is None:
        raise ConfigError("mechanism.tof_of: name the gas product (or step) whose rate is the TOF")
    pressures, area = conditions.pressures_bar, conditions.site_area_A2
    temperature = conditions.temperature_K
    problem = rate_problem(mechanism, energies, temperature, pressures, site_area_A2=area)
    base = solve_problem(problem, cross_check=analysis.cross_check_ode)
    theta = base.solution.theta
    control = degree_of_rate_control(problem, base, delta_kT=analysis.drc_delta_kT)
    local_e_app = local_apparent_activation_energy_eV(
        mechanism, energies, temperature, pressures, site_area_A2=area, initial_theta=theta)
    uncertain = bool(members) or bool(sigma_eV)
    draws = draw_energy_shifts(energies, members, sigma_eV=sigma_eV, sampling=sampling,
                               n_samples=n_samples, seed=seed) if uncertain else None
    temperatures = list(conditions.temperatures_K) or [temperature]
    rows: list[dict] = []
    samples, start, points = [], theta, []
    for value in temperatures:
        at = rate_problem(mechanism, energies, value, pressures, site_area_A2=area)
        state = solve_problem(at, initial_theta=start)
        start = state.solution.theta
        row = {"temperature_K": value, "tof_point_per_s": state.tof_per_s,
               "tof_per_s": state.tof_per_s,
               "tof_percentiles_per_s": {p: state.tof_per_s for p in PERCENTILES},
               "coverages": state.coverages}
        if draws is not None:
            spread = tof_distribution(at, draws, initial_theta=start, progress=progress)
            row.update(tof_per_s=spread.median_per_s, n_failed=spread.n_failed,
                       tof_percentiles_per_s=spread.percentiles_per_s)
            samples.append(spread.tof_per_s)
        rows.append(row)
        points.append(float(state.tof_per_s or 0.0))
    e_app = apparent_activation_energy_eV(temperatures, points) \
        if len(set(temperatures)) >= 2 else local_e_app
    report: dict = {
        "tof_of": mechanism.tof_of, "temperature_K": temperature, "pressures_bar": dict(pressures),
        "tof_per_s": base.tof_per_s, "tof_point_per_s": base.tof_per_s,
        "tof_percentiles_per_s": {p: base.tof_per_s for p in PERCENTILES},
        "coverages": base.coverages, "rates_per_step": base.rates_per_step,
        "rate_constants": base.rate_constants, "free_energies_eV": base.free_energies_eV,
        "degree_of_rate_control": control.as_dict(),
        "degree_of_rate_control_steps": control.steps,
        "drc_sum_transition_states": control.sum_transition_states,
        "apparent_activation_energy_eV": e_app,
        "apparent_activation_energy_local_eV": local_e_app,
        "apparent_activation_energy_percentiles_eV": None,
        "reaction_orders": reaction_orders(problem, base,
                                           delta_ln_pressure=analysis.order_delta_ln_pressure),
        "steady_state": {"method": base.solution.method, "converged": base.solution.converged,
                         "residual": base.solution.residual,
                         "newton_ode_max_rel_diff": base.solution.newton_ode_max_rel_diff},
        "temperatures": rows, "uncertainty": None,
    }
    if draws is not None:
        spread = tof_distribution(problem, draws, initial_theta=theta, progress=progress)
        report.update(tof_per_s=spread.median_per_s, tof_percentiles_per_s=spread.percentiles_per_s)
        report["apparent_activation_energy_percentiles_eV"] = _arrhenius_percentiles(
            temperatures, np.array(samples))
        steps = {s.name: {"transition_state": s.transition_state,
                          "barrier_sigma_eV": spread.barrier_sigma_eV[s.name],
                          "rate_uncertainty_factor": spread.rate_uncertainty_factor[s.name],
                          "degree_of_rate_control": control.steps[s.name]}
                 for s in mechanism.steps}
        report["uncertainty"] = {"sampling": draws.sampling, "n_draws": len(draws.shifts_eV),
                                 "seed": seed, "n_members": len(members),
                                 "varied_states": list(draws.names),
                                 "n_failed": spread.n_failed, "steps": steps}
        if members:
            per_member = draw_energy_shifts(energies, members, sampling="members")
            report["uncertainty"]["members_tof_per_s"] = tof_distribution(
                problem, per_member, initial_theta=theta).tof_per_s.tolist()
    return report


def _json_safe(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_report(report: Mapping, output_dir: str | os.PathLike, *, plots: bool = True,
                 resolved_config: Mapping | None = None) -> dict[str, str]:
    """Write ``tof.json`` (+ ``config.json``, the PNGs) atomically; returns {what: path}."""
    directory = Path(output_dir)
    files = {"json": str(directory / "tof.json")}

    def dump(payload: object) -> Callable[[str], object]:
        return lambda tmp: Path(tmp).write_text(json.dumps(_json_safe(payload), indent=2))

    atomic_write(files["json"], dump(report))
    if resolved_config is not None:
        files["config"] = str(directory / "config.json")
        atomic_write(files["config"], dump(resolved_config))
    if plots:
        from nnpkit.apps.rates.plots import plot_degree_of_rate_control, plot_tof_vs_temperature

        title = f"TOF of {report['tof_of']}"
        files["tof_vs_temperature_png"] = str(directory / "tof_vs_temperature.png")
        plot_tof_vs_temperature(report["temperatures"], files["tof_vs_temperature_png"], title)
        factors = {}
        for step, entry in ((report.get("uncertainty") or {}).get("steps") or {}).items():
            factors[entry["transition_state"] or step] = entry["rate_uncertainty_factor"]
        files["drc_png"] = str(directory / "degree_of_rate_control.png")
        plot_degree_of_rate_control(report["degree_of_rate_control"], files["drc_png"], factors,
                                    f"{title} at {report['temperature_K']} K")
    return files


def _energy_entries(typed: TofConfig, base_dir: Path
                    ) -> tuple[dict[str, EnergyEntryConfig], UncertaintyConfig | None, Path]:
    """The energies block, the uncertainty block and the directory gas ``atoms`` files are
    relative to: inline, or read from the ``energies.yaml`` of ``nnpkit rates neb``.

    With an energies file, its committee members (if any) fill an uncertainty block that
    gives no members of its own; energies of a single calculator (no members) with no
    ``sigma_eV`` give the point values, so one kinetics config runs on the committee's and
    on the reference method's energies alike.
    """
    if not isinstance(typed.energies, str):
        if typed.uncertainty is not None:
            typed.uncertainty.check_complete()
        return typed.energies, typed.uncertainty, base_dir
    path = base_dir / typed.energies
    if not path.is_file():
        raise ConfigError(f"energies: file not found: {path} (run `nnpkit rates neb` first)")
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict) or not isinstance(document.get("energies"), dict):
        raise ConfigError(f"{path}: an energies file holds an `energies:` mapping")
    try:
        entries = {name: EnergyEntryConfig.model_validate(entry)
                   for name, entry in document["energies"].items()}
        members = UncertaintyConfig.model_validate(document.get("uncertainty") or {}).members
    except ValidationError as error:
        raise ConfigError(f"{path}: {error}") from error
    uncertainty = typed.uncertainty
    if uncertainty is not None and not uncertainty.members:  # the config samples, the file
        uncertainty = uncertainty.model_copy(update={"members": members})  # has the members
    if uncertainty is not None and not uncertainty.members and not uncertainty.sigma_eV:
        uncertainty = None  # energies of one calculator (a reference method): point values
    if uncertainty is not None:
        uncertainty.check_complete()
    return entries, uncertainty, path.parent


def tof_report(config: str | os.PathLike | Mapping | TofConfig,
               output_dir: str | os.PathLike | None = None, *,
               overrides: list[str] | None = None, progress: bool | None = None) -> dict:
    """Run the microkinetic analysis of a ``rates tof`` config; write it if an output
    directory is given (argument, else ``output`` of the config; null: nothing written).

    Returns the report dict (the content of ``tof.json``) plus ``output_files``.
    """
    typed = load_tof_config(config, overrides)
    base_dir = Path(config).parent if isinstance(config, str | os.PathLike) else Path.cwd()
    name = str(config) if isinstance(config, str | os.PathLike) else "<dict>"
    try:
        mechanism = build_mechanism(typed.mechanism)
        entries, uncertainty, energies_dir = _energy_entries(typed, base_dir)
        energies = energy_table_from_config(entries, energies_dir)
        members = [with_energy_values(energies, m) for m in uncertainty.members] \
            if uncertainty else []
        report = microkinetic_report(
            mechanism, energies, typed.conditions, members=members,
            sigma_eV=uncertainty.sigma_eV if uncertainty else None,
            sampling=uncertainty.sampling if uncertainty else "normal",
            n_samples=uncertainty.n_samples if uncertainty else 0,
            seed=uncertainty.seed if uncertainty else 0, analysis=typed.analysis,
            progress=typed.progress if progress is None else progress)
    except ConfigError as error:
        raise ConfigError(f"{name}: {error}") from error
    target = output_dir if output_dir is not None else typed.output
    files = {} if target is None else write_report(
        report, target, plots=typed.plots, resolved_config=typed.model_dump(mode="json"))
    return {**_json_safe(report), "output_files": files}  # type: ignore[dict-item]
