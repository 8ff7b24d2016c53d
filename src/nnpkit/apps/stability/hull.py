"""Formation energies and the convex hull (pymatgen's PhaseDiagram): stability labels.

Only entries marked ``on_hull`` define the hull (and the elemental references); the others
are measured against it. :func:`label_structures` leaves structures whose relaxation did
not converge (``info["relax_converged"]`` false) off the hull unless asked to include them:
an unconverged energy is an upper bound, not the structure's minimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from nnpkit.errors import DataError

__all__ = ["HULL_TOLERANCE_eV_PER_ATOM", "e_above_hull", "hull_labels", "label_structures",
           "describe_structure"]

#: Numerical slack of the stability test ``e_above_hull ≤ threshold`` (eV/atom).
HULL_TOLERANCE_eV_PER_ATOM = 1e-8


def e_above_hull(entries: Sequence[tuple[Mapping[str, float] | str, float]],
                 on_hull: Sequence[bool] | None = None) -> np.ndarray:
    """Energy above the convex hull (eV/atom) of each entry, by pymatgen's ``PhaseDiagram``.

    Args:
        entries: ``(composition, energy_eV_per_atom)`` pairs; a composition is a formula
            (``"Cu3Au"``) or a ``{symbol: amount}`` mapping. The energies may be total or
            formation energies per atom (the hull distance does not depend on the elemental
            reference), but every element present needs at least one pure entry on the hull.
        on_hull: ``[n_entries]`` bools, which entries build the hull (default: all). An
            entry off the hull is measured against the hull of the others; its distance is
            negative if it lies below that hull.

    Returns:
        Shape ``[n_entries]``; each entry is compared with the hull of its own chemical system
        (all hull entries whose elements are a subset of it), which equals the global hull's
        distance.

    Raises:
        DataError: an element without a pure entry on the hull, or a non-finite energy.
    """
    compositions = [Composition(c) for c, _ in entries]
    pd_entries = []
    for k, (composition, (_, energy)) in enumerate(zip(compositions, entries, strict=True)):
        if not math.isfinite(energy):
            raise DataError(f"entry {k} ({composition.reduced_formula}): energy {energy}")
        pd_entries.append(PDEntry(composition, float(energy) * composition.num_atoms))
    systems = [frozenset(str(el) for el in c.elements) for c in compositions]
    hull = [True] * len(entries) if on_hull is None else [bool(x) for x in on_hull]
    if len(hull) != len(entries):
        raise DataError(f"on_hull has {len(hull)} flags for {len(entries)} entries")
    result = np.full(len(entries), np.nan)
    for system in set(systems):
        inside = [e for e, s, h in zip(pd_entries, systems, hull, strict=True)
                  if s <= system and h]
        elemental = {str(e.composition.elements[0]) for e in inside if len(e.composition) == 1}
        missing = sorted(system - elemental)
        if missing:
            name = "-".join(sorted(system))
            raise DataError(f"chemical system {name}: no elemental entry for {missing}")
        diagram = PhaseDiagram(inside)
        for k, s in enumerate(systems):
            if s == system:  # off-hull entries may lie below the hull: allow_negative
                result[k] = diagram.get_e_above_hull(pd_entries[k], allow_negative=not hull[k])
    return result


def hull_labels(
    entries: Sequence[tuple[Mapping[str, float] | str, float]],
    threshold_eV_per_atom: float = 0.0,
    on_hull: Sequence[bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Energies above the hull (eV/atom, ``[n]``) and stability labels (bool, ``[n]``).

    An entry is stable if its energy above the hull is ≤ ``threshold_eV_per_atom`` (with
    :data:`HULL_TOLERANCE_eV_PER_ATOM` of numerical slack). See :func:`e_above_hull`
    (also for ``on_hull``).
    """
    distances = e_above_hull(entries, on_hull)
    return distances, distances <= threshold_eV_per_atom + HULL_TOLERANCE_eV_PER_ATOM


def _symbol_counts(atoms: Atoms) -> dict[str, int]:
    symbols = atoms.get_chemical_symbols()
    return {s: symbols.count(s) for s in sorted(set(symbols))}


def describe_structure(atoms: Atoms, index: int) -> dict[str, Any]:
    """The identifying fields of a structure for a failure record (JSON-ready)."""
    return {
        "index": index,
        "prototype": str(atoms.info.get("prototype", "")),
        "chemical_system": "-".join(_symbol_counts(atoms)),
        "formula": atoms.get_chemical_formula(mode="metal", empirical=True),
    }


def _converged(atoms: Atoms) -> bool:
    """``info["relax_converged"]`` (absent: True), also as read back from extxyz text."""
    value = atoms.info.get("relax_converged", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("f", "false", "0")
    return bool(value)


def label_structures(
    structures: Sequence[Atoms], threshold_eV_per_atom: float = 0.0,
    include_unconverged: bool = False,
) -> tuple[list[Atoms], list[dict[str, Any]]]:
    """Formation energies, energies above the hull and labels of relaxed structures.

    The reference of an element is its lowest energy per atom among the pure structures
    on the hull. A structure whose relaxation did not converge (``info["relax_converged"]``
    false) stays in the result, marked so, but by default neither builds the hull nor
    serves as an elemental reference: its formation energy and distance are measured
    against the converged structures (the distance is negative if it lies below them).

    Args:
        structures: Atoms with a calculator holding the energy (eV), elemental cells included.
        threshold_eV_per_atom: stable if the energy above the hull is ≤ this.
        include_unconverged: let unconverged structures build the hull and the references
            too (as if converged).

    Returns:
        ``(labelled, failures)``: copies (calculator results kept) whose ``info`` holds
        ``energy_eV_per_atom``, ``formation_energy_eV_per_atom``,
        ``e_above_hull_eV_per_atom``, ``stable``, ``is_elemental``, ``prototype``,
        ``chemical_system``, ``formula`` and ``on_hull`` (whether it built the hull); and one
        record per structure left out (no energy, or no elemental reference on the hull for
        one of its elements).
    """
    failures: list[dict[str, Any]] = []
    kept: list[tuple[int, Atoms, float]] = []
    for k, atoms in enumerate(structures):
        results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
        energy = results.get("energy")
        if energy is None or not math.isfinite(float(energy)):
            failures.append({**describe_structure(atoms, k), "error": "no finite energy"})
        else:
            kept.append((k, atoms, float(energy) / len(atoms)))
    references: dict[str, float] = {}
    for _, atoms, energy in kept:
        species = list(_symbol_counts(atoms))
        if len(species) == 1 and (include_unconverged or _converged(atoms)):
            references[species[0]] = min(energy, references.get(species[0], math.inf))
    entries, labelled, on_hull = [], [], []
    for k, atoms, energy in kept:
        counts = _symbol_counts(atoms)
        missing = [s for s in counts if s not in references]
        if missing:
            failures.append({**describe_structure(atoms, k),
                             "error": f"no elemental reference {missing}"})
            continue
        formation = energy - sum(n * references[s] for s, n in counts.items()) / len(atoms)
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, **atoms.calc.results)  # type: ignore[union-attr]
        copy.info.update(
            energy_eV_per_atom=energy,
            formation_energy_eV_per_atom=formation,
            is_elemental=len(counts) == 1,
            chemical_system="-".join(counts),
            formula=copy.get_chemical_formula(mode="metal", empirical=True),
        )
        copy.info.setdefault("prototype", "unknown")
        copy.info["on_hull"] = include_unconverged or _converged(atoms)
        entries.append((counts, formation))
        labelled.append(copy)
        on_hull.append(copy.info["on_hull"])
    if not labelled:
        return labelled, failures
    distances, stable = hull_labels(entries, threshold_eV_per_atom, on_hull)
    for copy, distance, is_stable in zip(labelled, distances, stable, strict=True):
        copy.info["e_above_hull_eV_per_atom"] = float(distance)
        copy.info["stable"] = bool(is_stable)
    return labelled, failures
