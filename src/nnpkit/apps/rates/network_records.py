"""What the ``rates neb`` pipeline records per state and per step, and its run directory.

A :class:`StateRecord` (one relaxed named state) and a :class:`StepRecord` (one NEB with
its saddle check) are each written atomically as one JSON file of the run directory::

    OUTPUT/states/<state>.json   OUTPUT/states/<state>.extxyz     (relaxed structure)
    OUTPUT/steps/<step>.json     OUTPUT/steps/<step>_band.extxyz  (final band)
                                 OUTPUT/steps/<step>_band.png

Every record carries a ``fingerprint`` of what it was computed from (calculator name,
precision, settings, the bytes of its structure files); a rerun reuses a record only when
its fingerprint matches and it ``converged``, so changing the ``calculator`` key (or a
structure, or a setting) recomputes, and a failed record is always redone.

Energies are eV, frequencies cm⁻¹; numbers that could not be computed are ``nan`` in
memory and ``null`` in JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from nnpkit.file_writes import atomic_write

__all__ = ["StateRecord", "StepRecord", "fingerprint", "file_digest", "state_file_stem",
           "write_record", "read_record", "json_ready"]

RecordT = TypeVar("RecordT", "StateRecord", "StepRecord")


@dataclass
class StateRecord:
    """One relaxed named state."""

    name: str
    fingerprint: str
    converged: bool                 # the relaxation reached fmax and the Hessian was computed
    error: str | None = None        # a recorded REFERENCE_FAILURES error
    energy_eV: float = math.nan     # total energy of the relaxed state (committee: the mean)
    member_energies_eV: list[float] | None = None  # [M] each committee member's own energy
    n_imaginary_modes: int | None = None
    frequencies_cm1: list[float] = field(default_factory=list)  # all modes, imaginary < 0
    vibrations_eV: list[float] = field(default_factory=list)    # the real modes kept
    structure_file: str = ""        # relaxed structure, relative to the run directory
    seconds: float = 0.0


@dataclass
class StepRecord:
    """One elementary step: the NEB, the saddle check, the per-member band energies."""

    name: str
    fingerprint: str
    converged: bool                 # band and end points converged, Hessians computed
    error: str | None = None
    barrier_forward_eV: float = math.nan   # NEB: E[saddle] - E[initial], committee mean
    barrier_reverse_eV: float = math.nan   # NEB: E[saddle] - E[final]
    n_imaginary_modes_saddle: int | None = None
    n_imaginary_modes_initial: int | None = None
    n_imaginary_modes_final: int | None = None
    saddle_index: int = -1
    band_energies_eV: list[float] = field(default_factory=list)  # [n_images + 2]
    reaction_coordinate_A: list[float] = field(default_factory=list)  # [n_images + 2]
    member_band_energies_eV: list[list[float]] | None = None     # [M][n_images + 2]
    saddle_vibrations_eV: list[float] = field(default_factory=list)  # real modes only
    frequencies_cm1: dict[str, list[float]] = field(default_factory=dict)  # initial/saddle/final
    neb: dict[str, Any] = field(default_factory=dict)            # NEBResult.to_json()
    band_file: str = ""
    plot_file: str | None = None
    seconds: float = 0.0

    @property
    def saddle_ok(self) -> bool:
        """Exactly one imaginary mode at the saddle."""
        return self.n_imaginary_modes_saddle == 1

    def member_barriers_eV(self) -> tuple[list[float], list[float]] | None:
        """Each member's (forward, reverse) barriers along the final band: its highest
        image minus its own energy of the first (last) image; None without a committee."""
        if self.member_band_energies_eV is None:
            return None
        forward = [max(band) - band[0] for band in self.member_band_energies_eV]
        reverse = [max(band) - band[-1] for band in self.member_band_energies_eV]
        return forward, reverse


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value


def _from_json(value: Any) -> Any:
    return math.nan if value is None else value


def write_record(path: str | os.PathLike, record: StateRecord | StepRecord) -> None:
    """Write ``record`` as JSON, atomically (nan as null)."""
    text = json.dumps(json_ready(asdict(record)), indent=2)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def read_record(path: str | os.PathLike, kind: type[RecordT]) -> RecordT | None:
    """The record in ``path``, or None if it is missing or unreadable (then redone)."""
    try:
        data = json.loads(Path(path).read_text())
        names = {item.name for item in fields(kind)}
        values = {key: value for key, value in data.items() if key in names}
        for key in ("energy_eV", "barrier_forward_eV", "barrier_reverse_eV"):
            if key in values:
                values[key] = _from_json(values[key])
        return kind(**values)
    except (OSError, ValueError, TypeError):
        return None


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fingerprint(parts: dict[str, Any]) -> str:
    """A stable digest of what a record was computed from (a JSON-able mapping)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def state_file_stem(name: str) -> str:
    """A file name for a state name: ``*`` becomes ``_ads``, anything else outside
    letters, digits and ``_.-`` is percent-encoded (``CO*`` → ``CO_ads``, ``*`` → ``_ads``)."""
    return quote(name.replace("*", "_ads"), safe="")
