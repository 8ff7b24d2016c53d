"""``nnpkit rates neb``: from structures and any ASE calculator to barriers, saddle checks
and the EnergyTable of a reaction network.

:func:`run_network` relaxes every named state of a
:class:`~nnpkit.apps.rates.neb_config.NebNetworkConfig` and runs every step's
climbing-image NEB with the calculator the config names (``emt``, ``gfn2``, an nnpkit
model or a committee; or any calculator factory given in code), then takes the
finite-difference modes of each state and of each step's initial state, saddle and final
state (:mod:`nnpkit.apps.rates.network_compute`). Every state and step is written
atomically to the run directory as it finishes (:mod:`nnpkit.apps.rates.network_records`);
a rerun reuses what converged with the same calculator, settings and structures, and
redoes the rest.

The run directory then holds the resolved ``config.json``, ``summary.json``
(:meth:`NetworkResult.summary`, what ``neb --json`` prints), a PNG of each band
(:mod:`nnpkit.apps.rates.band_plot`) and, when the network is complete and each saddle
has exactly one imaginary mode (or ``allow_bad_saddles``), ``energies.yaml``: the
``energies`` block that ``rates tof`` reads, with ``uncertainty.members`` for a
committee (:mod:`nnpkit.apps.rates.network_tables`). A failed or unconverged state or
step is never turned into a table silently: :meth:`NetworkResult.energy_tables` raises
naming it, the summary says why under ``energies_refused``, and a stale
``energies.yaml`` is removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator
from tqdm.auto import tqdm

from nnpkit.apps.rates.energies import CM1_TO_EV, EnergyTable
from nnpkit.apps.rates.formation import (
    Compositions,
    check_step_balance,
    formation_energies,
    interaction_energy,
    state_compositions,
)
from nnpkit.apps.rates.neb_config import NebNetworkConfig, load_neb_config
from nnpkit.apps.rates.network_compute import compute_state, compute_step
from nnpkit.apps.rates.network_records import (
    StateRecord,
    StepRecord,
    file_digest,
    fingerprint,
    json_ready,
    read_record,
    state_file_stem,
    write_record,
)
from nnpkit.apps.rates.network_tables import (
    check_complete,
    energies_document,
    member_formation_energies,
    network_formation_energies,
    tables_from_document,
)
from nnpkit.apps.rates.tst import vineyard_prefactor_Hz, zero_point_corrected_barrier_eV
from nnpkit.data.io import read_structure
from nnpkit.errors import ConfigError, LabelingError, TransitionStateError
from nnpkit.file_writes import atomic_write

__all__ = ["NetworkResult", "run_network", "run_rates_neb", "ENERGIES_FILE", "SUMMARY_FILE",
           "CONFIG_FILE"]

ENERGIES_FILE = "energies.yaml"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
CalculatorFactory = Callable[[], Calculator]


@dataclass
class NetworkResult:
    """The records of one :func:`run_network` and what follows from them."""

    config: NebNetworkConfig
    output_dir: Path
    states: dict[str, StateRecord]
    steps: dict[str, StepRecord]
    compositions: Compositions
    calculator: str = ""  # the config's calculator key, or the factory's name given in code
    computed: list[str] = field(default_factory=list)  # states/steps computed by this run
    report: dict[str, Any] = field(default_factory=dict)  # summary.json as written

    def energies_document(self) -> dict[str, Any]:
        """The energies file's content; raises like :meth:`energy_tables`."""
        check_complete(self.config, self.states, self.steps)
        return energies_document(self.config, self.states, self.steps, self.compositions)

    def energy_tables(self) -> tuple[EnergyTable, list[EnergyTable] | None]:
        """The network's EnergyTable (committee mean) and one per committee member (None
        for a single calculator).

        Raises:
            LabelingError: a state or step failed or did not converge (named, with its
                error). TransitionStateError: a saddle with 0 or ≥ 2 imaginary modes,
                unless the config sets ``allow_bad_saddles``.
        """
        return tables_from_document(self.energies_document(), self.output_dir)

    def summary(self) -> dict[str, Any]:
        """The JSON summary (see :func:`run_rates_neb`)."""
        config = self.config
        states_done = all(r.converged for r in self.states.values())
        done = states_done and all(r.converged for r in self.steps.values())
        energies = {name: r.energy_eV for name, r in self.states.items()}
        forward = {name: r.barrier_forward_eV for name, r in self.steps.items() if r.converged}
        formation = network_formation_energies(config, self.compositions, energies, forward) \
            if states_done else {}
        members = member_formation_energies(config, self.states, self.steps,
                                            self.compositions) if states_done else None
        states = {name: {"energy_eV": r.energy_eV, "formation_energy_eV": formation.get(name),
                         "member_formation_energies_eV": [m[name] for m in members]
                         if members else None, "converged": r.converged, "error": r.error,
                         "n_imaginary_modes": r.n_imaginary_modes,
                         "recomputed": name in self.computed}
                  for name, r in self.states.items()}
        steps = {}
        for step in config.steps:
            record = self.steps[step.name]
            pair = record.member_barriers_eV()
            steps[step.name] = {
                "transition_state": step.transition_state, "initial": step.initial,
                "final": step.final, "converged": record.converged, "error": record.error,
                "barrier_forward_eV": record.barrier_forward_eV,
                "barrier_reverse_eV": record.barrier_reverse_eV,
                "n_imaginary_modes_saddle": record.n_imaginary_modes_saddle,
                "n_imaginary_modes_initial": record.n_imaginary_modes_initial,
                "n_imaginary_modes_final": record.n_imaginary_modes_final,
                "saddle_ok": record.saddle_ok,
                **harmonic_tst_summary(record),
                "member_barriers_forward_eV": pair[0] if pair else None,
                "member_barriers_reverse_eV": pair[1] if pair else None,
                "formation_energy_ts_eV": formation.get(step.transition_state),
                "member_formation_energies_ts_eV": [m.get(step.transition_state) for m in
                                                    members] if members else None,
                "interaction_initial_eV": interaction_energy(
                    config, step.initial, record.band_energies_eV[0], energies)
                if states_done and record.converged else None,
                "interaction_final_eV": interaction_energy(
                    config, step.final, record.band_energies_eV[-1], energies)
                if states_done and record.converged else None,
                "neb_steps": record.neb.get("n_steps"), "band_file": record.band_file,
                "plot_file": record.plot_file, "recomputed": step.name in self.computed}
        result: dict[str, Any] = {"calculator": self.calculator or config.calculator,
                                  "output": str(self.output_dir), "complete": done,
                                  "states": states, "steps": steps}
        if len(steps) == 1:
            only = next(iter(steps.values()))
            for key in ("barrier_forward_eV", "barrier_reverse_eV",
                        "n_imaginary_modes_saddle", "converged"):
                result[key] = only[key]
        return result


def harmonic_tst_summary(record: StepRecord) -> dict[str, float | None]:
    """The step's harmonic TST: ``vineyard_prefactor_Hz`` (Π ν_IS / Π ν_TS over the
    vibrated atoms) and ``zpe_corrected_barrier_forward_eV``; None unless the saddle has
    exactly one imaginary mode and the initial state none."""
    frequencies = record.frequencies_cm1
    if not (record.converged and record.saddle_ok and record.n_imaginary_modes_initial == 0
            and "initial" in frequencies and "saddle" in frequencies):
        return {"vineyard_prefactor_Hz": None, "zpe_corrected_barrier_forward_eV": None}
    initial = [f * CM1_TO_EV for f in frequencies["initial"] if f > 0]
    saddle = [f * CM1_TO_EV for f in frequencies["saddle"] if f > 0]
    if len(initial) != len(saddle) + 1:  # a soft mode below the threshold on one side
        return {"vineyard_prefactor_Hz": None, "zpe_corrected_barrier_forward_eV": None}
    return {"vineyard_prefactor_Hz": vineyard_prefactor_Hz(initial, saddle),
            "zpe_corrected_barrier_forward_eV": zero_point_corrected_barrier_eV(
                record.barrier_forward_eV, initial, saddle)}


def _default_factory(config: NebNetworkConfig) -> CalculatorFactory:
    import torch

    from nnpkit.labeling.reference import resolve_calculator

    dtype = {"float32": torch.float32, "float64": torch.float64}[config.dtype]
    return lambda: resolve_calculator(config.calculator, config.device, dtype)


def _settings(config: NebNetworkConfig) -> dict[str, Any]:
    return {"calculator": config.calculator, "dtype": config.dtype,
            "vibrations": config.vibrations.model_dump()}


def run_network(config: NebNetworkConfig, make_calculator: CalculatorFactory | None = None,
                progress: bool | None = None) -> NetworkResult:
    """Relax the states and run the steps of ``config`` (resuming), write the records,
    the band PNGs, ``energies.yaml`` (when complete) and ``summary.json``.

    Args:
        config: the validated config (:func:`~nnpkit.apps.rates.neb_config.load_neb_config`).
        make_calculator: returns a new ASE calculator; default: the config's
            ``calculator`` (:func:`nnpkit.labeling.reference.resolve_calculator`).
        progress: progress bars over states and steps (default: ``config.progress``).

    Raises:
        ConfigError: an unreadable structure, a step whose structures do not hold the
            atoms of the states it names, a state not made of the slab and references.
        Calculator errors outside :data:`~nnpkit.errors.REFERENCE_FAILURES` propagate.
    """
    factory = make_calculator or _default_factory(config)
    show = config.progress if progress is None else progress
    out = Path(config.output)
    structures = {name: read_structure(config.resolve(spec.structure), f"states.{name}.structure")
                  for name, spec in config.states.items()}
    ends = {step.name: (read_structure(config.resolve(step.initial_structure), f"step {step.name}"),
                        read_structure(config.resolve(step.final_structure), f"step {step.name}"))
            for step in config.steps}
    compositions = state_compositions(config, structures)
    slab = structures[config.slab]
    for step in config.steps:
        check_step_balance(config, step, *ends[step.name], slab, compositions)
    formation_energies(config, compositions, dict.fromkeys(config.states, 0.0))  # references
    stems = [state_file_stem(name) for name in config.states]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"states: two names map to one file name ({', '.join(stems)})")
    name = config.calculator if make_calculator is None else \
        f"factory {getattr(make_calculator, '__name__', type(make_calculator).__name__)}"
    result = NetworkResult(config, out, {}, {}, compositions, calculator=name)
    resolved = json.dumps(config.model_dump(mode="json"), indent=2)
    atomic_write(out / CONFIG_FILE, lambda tmp: Path(tmp).write_text(resolved))
    for name, spec in tqdm(config.states.items(), desc="states", disable=not show):
        stamp = fingerprint({**_settings(config), "relax": config.relax.model_dump(),
                             "gas": spec.gas.model_dump() if spec.gas else None,
                             "structure": file_digest(config.resolve(spec.structure)),
                             "slab": file_digest(config.resolve(config.states[config.slab]
                                                               .structure))})
        path = out / "states" / f"{state_file_stem(name)}.json"
        record = read_record(path, StateRecord)
        if record is None or not record.converged or record.fingerprint != stamp:
            record = compute_state(name, spec, structures[name], factory(), config, slab,
                                   stamp, out)
            write_record(path, record)
            result.computed.append(name)
        result.states[name] = record
    for step in tqdm(config.steps, desc="NEB steps", disable=not show):
        stamp = fingerprint({**_settings(config), "neb": config.neb.model_dump(),
                             "slab": file_digest(config.resolve(config.states[config.slab]
                                                               .structure)),
                             "initial": file_digest(config.resolve(step.initial_structure)),
                             "final": file_digest(config.resolve(step.final_structure))})
        path = out / "steps" / f"{step.name}.json"
        step_record = read_record(path, StepRecord)
        if step_record is None or not step_record.converged or step_record.fingerprint != stamp:
            step_record = compute_step(step, *ends[step.name], factory, config, slab, stamp,
                                       out)
            if config.plots:
                from nnpkit.apps.rates.band_plot import plot_band

                png = f"steps/{step.name}_band.png"
                step_record.plot_file = png if plot_band(step_record, out / png) else None
            write_record(path, step_record)
            result.computed.append(step.name)
        result.steps[step.name] = step_record
    result.report = _write_outputs(result)
    return result


def _write_outputs(result: NetworkResult) -> dict[str, Any]:
    """Write ``energies.yaml`` (or remove it, saying why) and ``summary.json``; returns
    the summary."""
    import yaml

    summary = result.summary()
    energies_path = result.output_dir / ENERGIES_FILE
    try:
        document = result.energies_document()
    except (LabelingError, TransitionStateError) as error:  # the refusals of check_complete
        summary["energies_file"], summary["energies_refused"] = None, str(error)
        if energies_path.exists():
            os.remove(energies_path)
    else:
        text = yaml.safe_dump(document, sort_keys=False)
        atomic_write(energies_path, lambda tmp: Path(tmp).write_text(text))
        summary["energies_file"], summary["energies_refused"] = str(energies_path), None
    summary = json_ready(summary)  # nan (a failed step's numbers) as null
    text = json.dumps(summary, indent=2)
    atomic_write(result.output_dir / SUMMARY_FILE, lambda tmp: Path(tmp).write_text(text))
    return summary


def run_rates_neb(source: str | os.PathLike | dict, overrides: list[str] | None = None,
                  make_calculator: CalculatorFactory | None = None) -> dict[str, Any]:
    """``nnpkit rates neb CONFIG.yaml``: load, run, and return the JSON summary.

    The summary has ``calculator``, ``output``, ``complete`` (every state and step
    converged), ``energies_file`` (the path of ``energies.yaml``, or None) and
    ``energies_refused`` (why not, or None), ``states`` (per state: ``energy_eV``,
    ``formation_energy_eV``, ``member_formation_energies_eV``, ``converged``, ``error``,
    ``n_imaginary_modes``, ``recomputed``) and ``steps`` (per step:
    ``barrier_forward_eV``, ``barrier_reverse_eV``, ``n_imaginary_modes_saddle``
    (``_initial``, ``_final``), ``saddle_ok``, ``converged``, ``error``,
    ``member_barriers_forward_eV`` / ``_reverse_eV``, ``interaction_initial_eV`` /
    ``_final_eV``, ``transition_state``, ``band_file``, ``plot_file``, ``recomputed``);
    with one step its four ``barrier_forward_eV``, ``barrier_reverse_eV``,
    ``n_imaginary_modes_saddle`` and ``converged`` also at the top level.
    """
    config = load_neb_config(source, overrides)
    return run_network(config, make_calculator).report
