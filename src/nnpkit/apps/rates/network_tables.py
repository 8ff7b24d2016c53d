"""From the pipeline's records to EnergyTables and the energies file ``rates tof`` reads.

:func:`check_complete` refuses a partial network: a state or step that failed or did not
converge (:class:`~nnpkit.errors.LabelingError`, naming every one with its error), and,
unless ``allow_bad_saddles``, a saddle with 0 or ≥ 2 imaginary modes
(:class:`~nnpkit.errors.TransitionStateError`, naming the step and the count).

:func:`energies_document` is the ``energies`` block of the ``rates tof`` YAML schema
(:class:`~nnpkit.apps.rates.energies.EnergyEntryConfig`), plus ``uncertainty.members``
(one ``{state: formation energy}`` per committee member) when the calculator is a
committee; formation energies as in :mod:`nnpkit.apps.rates.formation`. Vibrations are
the mean's: each state's real modes; each TS's real modes (the imaginary one dropped)
plus, when its initial side stands for ``n > 1`` slabs (``"CO* + O*"``: two), ``n − 1``
copies of the clean slab's modes, so that with ``vibrations.atoms: free`` both sides of
the step carry the same slab phonons (with ``adsorbate`` the slab has none). Gas entries
point at their relaxed structure (``atoms``, relative to the run directory).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnpkit.apps.rates.energies import (
    EnergyEntryConfig,
    EnergyTable,
    energy_table_from_config,
    with_energy_values,
)
from nnpkit.apps.rates.formation import (
    Compositions,
    formation_energies,
    surface_copies,
    transition_state_energy,
)
from nnpkit.apps.rates.neb_config import NebNetworkConfig
from nnpkit.apps.rates.network_records import StateRecord, StepRecord
from nnpkit.errors import LabelingError, TransitionStateError

__all__ = ["check_complete", "energies_document", "tables_from_document",
           "network_formation_energies", "member_formation_energies"]


def check_complete(config: NebNetworkConfig, states: Mapping[str, StateRecord],
                   steps: Mapping[str, StepRecord]) -> None:
    """Refuse a partial network (see the module docstring)."""
    failed = [f"state {name}: {record.error or 'relaxation not converged'}"
              for name, record in states.items() if not record.converged]
    failed += [f"step {name}: {record.error or 'NEB not converged'}"
               for name, record in steps.items() if not record.converged]
    if failed:
        raise LabelingError("no energy table from a partial network; failed: "
                            + "; ".join(failed))
    bad = [f"step {name} ({record_ts(config, name)}): the saddle has "
           f"{record.n_imaginary_modes_saddle} imaginary modes, not 1"
           for name, record in steps.items() if not record.saddle_ok]
    if bad and not config.allow_bad_saddles:
        raise TransitionStateError("; ".join(bad) + " (set allow_bad_saddles: true to "
                                   "use these saddles anyway)")


def record_ts(config: NebNetworkConfig, step_name: str) -> str:
    """The transition-state name of a step."""
    return next(step.transition_state for step in config.steps if step.name == step_name)


def network_formation_energies(config: NebNetworkConfig, compositions: Compositions,
               energies_eV: Mapping[str, float], forward_eV: Mapping[str, float]
               ) -> dict[str, float]:
    """E_f of every state, and of the TS of every step in ``forward_eV`` (its barrier)."""
    result = formation_energies(config, compositions, energies_eV)
    for step in config.steps:
        if step.name in forward_eV:
            result[step.transition_state] = transition_state_energy(step, result,
                                                                    forward_eV[step.name])
    return result


def member_formation_energies(config: NebNetworkConfig, states: Mapping[str, StateRecord],
                              steps: Mapping[str, StepRecord], compositions: Compositions
                              ) -> list[dict[str, float]] | None:
    """Per committee member, E_f of every state and of the TS of every step with a band,
    from that member's own energies and barriers; None unless every state has member
    energies."""
    if any(record.member_energies_eV is None for record in states.values()):
        return None
    n_members = len(next(iter(states.values())).member_energies_eV or [])
    barriers = {name: pair for name, record in steps.items()
                if record.converged and (pair := record.member_barriers_eV()) is not None}
    result = []
    for m in range(n_members):
        energies = {name: float((record.member_energies_eV or [])[m])
                    for name, record in states.items()}
        forward = {name: float(pair[0][m]) for name, pair in barriers.items()}
        result.append(network_formation_energies(config, compositions, energies, forward))
    return result


def energies_document(config: NebNetworkConfig, states: Mapping[str, StateRecord],
                      steps: Mapping[str, StepRecord], compositions: Compositions
                      ) -> dict[str, Any]:
    """``{"energies": {name: entry}, "uncertainty": {"members": [...]}}`` (the second only
    for a committee). Call :func:`check_complete` first."""
    energies = {name: record.energy_eV for name, record in states.items()}
    forward = {name: record.barrier_forward_eV for name, record in steps.items()}
    formation = network_formation_energies(config, compositions, energies, forward)
    entries: dict[str, dict[str, Any]] = {}
    for name, spec in config.states.items():
        entry: dict[str, Any] = {"formation_energy_eV": formation[name],
                                 "vibrations_eV": list(states[name].vibrations_eV)}
        if spec.gas is not None:
            entry.update(geometry=spec.gas.geometry, symmetry_number=spec.gas.symmetry_number,
                         spin=spec.gas.spin, atoms=states[name].structure_file)
        entries[name] = entry
    slab_modes = list(states[config.slab].vibrations_eV)
    for step in config.steps:
        extra = (surface_copies(config, step.initial) - 1) * slab_modes
        entries[step.transition_state] = {
            "formation_energy_eV": formation[step.transition_state],
            "vibrations_eV": list(steps[step.name].saddle_vibrations_eV) + extra}
    document: dict[str, Any] = {"energies": entries}
    members = member_formation_energies(config, states, steps, compositions)
    if members is not None and all(len(m) == len(entries) for m in members):
        document["uncertainty"] = {"members": members}
        if len(members) == 1:
            document["uncertainty"]["sampling"] = "members"
    return document


def tables_from_document(document: Mapping[str, Any], run_dir: str | Path
                         ) -> tuple[EnergyTable, list[EnergyTable] | None]:
    """The mean EnergyTable and one per committee member (formation energies from the
    member, vibrations and gas data from the mean), read exactly as ``rates tof`` reads
    the energies file (gas structures relative to ``run_dir``)."""
    entries = {name: EnergyEntryConfig.model_validate(entry)
               for name, entry in document["energies"].items()}
    table = energy_table_from_config(entries, run_dir)
    members = document.get("uncertainty", {}).get("members")
    if members is None:
        return table, None
    return table, [with_energy_values(table, values) for values in members]
