"""The alloy stability dataset: relaxed prototypes, formation energies, convex hulls, labels.

The pipeline is :func:`generate_prototypes` and :func:`elemental_references` → :func:`relax`
(positions and cell, EMT or any ASE calculator) → :func:`label_structures` (formation energy
per atom against the lowest relaxed elemental cell, energy above the hull of pymatgen's
``PhaseDiagram``, label stable if ≤ a threshold) → :class:`StabilityDataset`. A relaxation
that raises one of :data:`~nnpkit.errors.REFERENCE_FAILURES` is recorded in ``failures``;
one that does not converge is kept, marked ``relax_converged: false``, and by default left
off the hull (measured against the converged structures). Energies are
in eV and eV/atom, lengths in Å. The relaxation is :mod:`.relaxation`; the group split
that keeps whole prototypes or chemical systems on one side is :mod:`.splits`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from tqdm.auto import tqdm

from nnpkit.apps.stability.hull import (
    HULL_TOLERANCE_eV_PER_ATOM,
    describe_structure,
    e_above_hull,
    hull_labels,
    label_structures,
)
from nnpkit.apps.stability.prototypes import elemental_references, generate_prototypes
from nnpkit.apps.stability.relaxation import relax
from nnpkit.data.io import STRUCTURE_FILE_ERRORS, write_structures
from nnpkit.errors import ConfigError, DataError
from nnpkit.file_writes import atomic_write

__all__ = [
    "EMT_METALS",
    "HULL_TOLERANCE_eV_PER_ATOM",
    "StabilityDataset",
    "build_dataset",
    "e_above_hull",
    "hull_labels",
    "label_structures",
]

#: The metals ASE's EMT describes (the default elements of the dataset).
EMT_METALS = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al")
_BOOL_KEYS = ("stable", "is_elemental", "relax_converged", "on_hull")
_FLOAT_KEYS = ("energy_eV_per_atom", "formation_energy_eV_per_atom", "e_above_hull_eV_per_atom")
_STRING_KEYS = ("prototype", "chemical_system", "formula")
_INT_KEYS = ("relax_steps", "nnpkit_generation_index")
_THRESHOLD_KEY = "hull_threshold_eV_per_atom"


def _as_bool(value: Any, key: str, where: str) -> bool:
    """A bool read back from extxyz (bool, numpy bool or ``T``/``F``/``True``/``False``)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("t", "true", "1"):
        return True
    if text in ("f", "false", "0"):
        return False
    raise DataError(f"{where}: info[{key!r}] = {value!r} is not a boolean")


@dataclass
class StabilityDataset:
    """Relaxed, labelled alloy structures and the record of those that failed.

    Attributes:
        structures: labelled Atoms (see :func:`label_structures` for their ``info`` keys).
        failures: one JSON-ready record per structure left out (``index``, ``prototype``,
            ``chemical_system``, ``formula``, ``error``).
        threshold_eV_per_atom: stable if the energy above the hull is ≤ this.
        method: what computed the energies (``"emt"`` or ``"custom"``).
        include_unconverged: whether unconverged relaxations built the hull too.
    """

    structures: list[Atoms]
    failures: list[dict[str, Any]] = field(default_factory=list)
    threshold_eV_per_atom: float = 0.0
    method: str = "emt"
    include_unconverged: bool = False

    def labels(self) -> np.ndarray:
        """Stability labels, bool ``[n_structures]``."""
        return np.array([bool(a.info["stable"]) for a in self.structures], dtype=bool)

    def e_above_hull(self) -> np.ndarray:
        """Energies above the hull (eV/atom), ``[n_structures]``."""
        return np.array([float(a.info["e_above_hull_eV_per_atom"]) for a in self.structures])

    @property
    def prevalence(self) -> float:
        """Share of stable structures (elemental cells included); NaN if empty."""
        labels = self.labels()
        return float(labels.mean()) if len(labels) else math.nan

    def save(self, path: str | os.PathLike) -> None:
        """Write the structures to extxyz (atomically) and ``<path>.meta.json`` beside it.

        The threshold goes into every frame's info too, so the extxyz file alone is enough
        to :meth:`load`; the JSON file keeps the method, failures and summary.
        """
        copies = []
        for atoms in self.structures:
            copy = atoms.copy()
            copy.calc = atoms.calc
            copy.info[_THRESHOLD_KEY] = float(self.threshold_eV_per_atom)
            copies.append(copy)
        write_structures(path, copies)
        meta = json.dumps({**self.to_json_summary(), "failures": self.failures}, indent=1)
        atomic_write(_meta_path(path), lambda tmp: Path(tmp).write_text(meta))

    @classmethod
    def load(cls, path: str | os.PathLike) -> StabilityDataset:
        """Read a dataset written by :meth:`save` (normalising the info types).

        Raises:
            DataError: a missing or unreadable file, or a frame without the dataset's keys.
        """
        if not os.path.isfile(path):
            raise DataError(f"{path}: no such file")
        try:
            frames = ase.io.read(Path(path), index=":", format="extxyz")
        except STRUCTURE_FILE_ERRORS as exc:  # what ASE raises for a bad file
            message = f"{path}: cannot read structures ({type(exc).__name__}: {exc})"
            raise DataError(message) from exc
        frames = frames if isinstance(frames, list) else [frames]
        thresholds = set()
        for k, atoms in enumerate(frames):
            where = f"{path}: structure {k}"
            missing = [key for key in (*_BOOL_KEYS[:2], *_FLOAT_KEYS, *_STRING_KEYS)
                       if key not in atoms.info]  # fmt: skip
            if missing:
                raise DataError(f"{where} has no info {missing}; not a stability dataset")
            for key in _BOOL_KEYS:
                if key in atoms.info:
                    atoms.info[key] = _as_bool(atoms.info[key], key, where)
            for key in _FLOAT_KEYS:
                atoms.info[key] = float(atoms.info[key])
            for key in _STRING_KEYS:
                atoms.info[key] = str(atoms.info[key])
            for key in _INT_KEYS:
                if key in atoms.info:
                    atoms.info[key] = int(atoms.info[key])
            thresholds.add(float(atoms.info.pop(_THRESHOLD_KEY, 0.0)))
        meta_path = _meta_path(path)
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        threshold = meta.get("threshold_eV_per_atom", next(iter(thresholds), 0.0))
        return cls(frames, list(meta.get("failures", [])), float(threshold),
                   str(meta.get("method", "unknown")),
                   bool(meta.get("hull_includes_unconverged", False)))  # fmt: skip

    def to_json_summary(self) -> dict[str, Any]:
        """Counts, prevalence and per-prototype statistics as a JSON-ready dict."""
        labels = self.labels()
        elemental = np.array([bool(a.info["is_elemental"]) for a in self.structures], bool)
        per_prototype: dict[str, dict[str, int]] = {}
        for atoms, label in zip(self.structures, labels, strict=True):
            entry = per_prototype.setdefault(str(atoms.info["prototype"]), {"n": 0, "n_stable": 0})
            entry["n"] += 1
            entry["n_stable"] += int(label)
        compounds = labels[~elemental]
        return {
            "n_structures": len(self.structures),
            "n_elemental": int(elemental.sum()),
            "n_stable": int(labels.sum()),
            "n_stable_compounds": int(compounds.sum()),
            "prevalence": self.prevalence,
            "prevalence_compounds": float(compounds.mean()) if len(compounds) else math.nan,
            "n_failures": len(self.failures),
            "n_unconverged": sum(not a.info.get("relax_converged", True) for a in self.structures),
            "hull_includes_unconverged": bool(self.include_unconverged),
            "threshold_eV_per_atom": float(self.threshold_eV_per_atom),
            "method": self.method,
            "elements": sorted({s for a in self.structures for s in a.get_chemical_symbols()}),
            "chemical_systems": len({a.info["chemical_system"] for a in self.structures}),
            "prototypes": dict(sorted(per_prototype.items())),
        }


def _meta_path(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.meta.json")


def build_dataset(
    elements: Sequence[str] = EMT_METALS,
    max_species: int = 3,
    method: str = "emt",
    threshold_eV_per_atom: float = 0.0,
    seed: int = 0,
    progress: bool = True,
    calculator_factory: Callable[[], Calculator] | None = None,
    *,
    n_random_per_system: int = 2,
    fmax: float = 0.02,
    max_steps: int = 200,
    include_unconverged: bool = False,
) -> StabilityDataset:
    """Generate, relax and label the binary/ternary alloy dataset of ``elements``.

    Args:
        elements: the metals (EMT: Cu, Ag, Au, Ni, Pd, Pt, Al).
        max_species: 2 for binaries, 3 to add ternaries.
        method: ``"emt"`` (ASE's EMT); ignored when ``calculator_factory`` is given.
        threshold_eV_per_atom: stable if the energy above the hull is ≤ this (≥ 0).
        seed: seed of the random (SQS-like) cells.
        progress: show a progress bar of the relaxations.
        calculator_factory: makes a fresh ASE calculator per structure, e.g.
            ``lambda: nnpkit.load_calculator(path)`` for a trained potential.
        n_random_per_system, fmax, max_steps: see :func:`generate_prototypes`, :func:`relax`.
        include_unconverged: let relaxations that did not converge in ``max_steps`` build
            the hull and the elemental references (default: they are only measured
            against it; see :func:`~nnpkit.apps.stability.hull.label_structures`).

    Returns:
        The dataset: elemental fcc/bcc/hcp cells (``prototype`` A1/A2/A3, which define the
        hull) and the alloys, each with ``relax_converged``, ``relax_steps`` and ``on_hull``
        in ``info``; structures whose relaxation failed (one of
        :data:`~nnpkit.errors.REFERENCE_FAILURES`) are recorded in ``failures``, never
        dropped silently.

    Raises:
        ConfigError: a bad threshold or method. Any error of the calculator that is not a
        failed calculation (a ``TypeError``, an element it does not know) propagates.
    """
    if not (math.isfinite(threshold_eV_per_atom) and threshold_eV_per_atom >= 0):
        raise ConfigError(f"threshold_eV_per_atom must be ≥ 0, got {threshold_eV_per_atom}")
    if calculator_factory is None:
        if method.lower() != "emt":
            raise ConfigError(f"method {method!r}: use 'emt' or pass a calculator_factory")
        from ase.calculators.emt import EMT

        calculator_factory, method = EMT, "emt"
    else:
        method = "custom"
    references = elemental_references(elements)
    structures = [atoms for cells in references.values() for atoms in cells]
    structures += generate_prototypes(elements, max_species, seed, n_random_per_system)
    relaxed: list[Atoms] = []
    failures: list[dict[str, Any]] = []
    for k, atoms in enumerate(tqdm(structures, desc="relaxing", disable=not progress)):
        result, info = relax(atoms, calculator_factory, fmax=fmax, max_steps=max_steps)
        if "error" in info:
            failures.append({**describe_structure(atoms, k), "error": info["error"],
                             "converged": False})
            continue
        result.info.update(relax_converged=info["converged"], relax_steps=info["steps"])
        result.info["nnpkit_generation_index"] = k
        relaxed.append(result)
    labelled, label_failures = label_structures(relaxed, threshold_eV_per_atom,
                                                include_unconverged)
    for failure in label_failures:  # index into the generated list, not the relaxed one
        failure["index"] = int(relaxed[failure["index"]].info["nnpkit_generation_index"])
    failures += label_failures
    failures.sort(key=lambda f: f["index"])
    return StabilityDataset(labelled, failures, float(threshold_eV_per_atom), method,
                            include_unconverged)
