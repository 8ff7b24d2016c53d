"""The dataset store: labelled structures in an ASE database, with provenance, idempotent.

Any ASE database URL works: a plain path (``labels.db``, SQLite, the default), a
``sqlite:///path.db`` URL, or ``postgresql://user:password@host/name`` for a store shared by
many machines. Each row is one structure computed with one method and carries:

- ``nnpkit_hash``: :func:`structure_hash` of numbers, positions, cell, pbc and the method
  settings, so a structure already computed with the same method is never computed again;
- ``status``: ``"ok"`` (energy, forces and, for periodic cells, stress attached as the row's
  calculator results, in eV, eV/Å, eV/Å³) or ``"failed"`` (with ``error``);
- provenance: ``method``, ``functional``, ``basis``, ``code``, ``code_version``,
  ``ase_version``, ``nnpkit_version``, ``settings_json`` (all method settings),
  ``source_index`` (position in the labelled input), ``attempts`` and ``label_s``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ase.db
import numpy as np
from ase import Atoms

from nnpkit.data.io import _database_target, write_database, write_structures
from nnpkit.errors import DataError
from nnpkit.labeling.methods import MethodSpec
from nnpkit.labeling.reference import LabelOutcome

__all__ = ["DatasetStore", "structure_hash", "redact_url"]

#: Positions and cell are rounded to this many decimals (Å) before hashing, so a
#: structure read back from an extxyz file hashes the same as the one written.
_HASH_DECIMALS = 6


def structure_hash(atoms: Atoms, settings: dict[str, Any]) -> str:
    """SHA-256 (hex) of atomic numbers, positions and cell (rounded to 1e-6 Å), pbc and the
    method ``settings`` (:meth:`MethodSpec.settings`): equal for the same calculation."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (atoms.positions, atoms.cell.array):
        rounded = np.round(np.asarray(array, dtype=np.float64), _HASH_DECIMALS) + 0.0  # no -0
        digest.update(rounded.tobytes())
    digest.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print in messages)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _storable(value: Any) -> bool:
    """Whether an ``info`` value can go into an ASE database (numbers, text, numeric arrays);
    others (e.g. a CIF's Spacegroup object) are left out of the record."""
    if isinstance(value, (bool, int, float, str, np.number, np.bool_)):
        return True
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except (TypeError, ValueError):
        return False


class DatasetStore:
    """A labelled dataset in an ASE database (opened and checked on construction).

    Args:
        url: ASE database path or URL (see the module docstring).

    Raises:
        DataError: the database cannot be opened; the message names the URL without its
            password.
    """

    def __init__(self, url: str | os.PathLike) -> None:
        self.url = os.fspath(url)
        self.display_url = redact_url(self.url)
        self._name, self._type = _database_target(self.url) or (self.url, "db")
        try:
            if self._type in ("db", "json"):
                Path(self._name).parent.mkdir(parents=True, exist_ok=True)
            self._db = ase.db.connect(self._name, type=self._type)
            self._db.count()
        except Exception as error:
            message = str(error)
            password = urlsplit(self.url).password
            if password:
                message = message.replace(password, "***")
            raise DataError(f"cannot open the dataset database {self.display_url} "
                            f"({type(error).__name__}: {message})") from error

    def status_by_hash(self) -> dict[str, str]:
        """``{nnpkit_hash: status}`` of every record (``"ok"`` or ``"failed"``)."""
        return {row.nnpkit_hash: row.get("status", "ok")
                for row in self._db.select("nnpkit_hash", include_data=False)}

    def count(self, status: str | None = "ok", method: str | None = None) -> int:
        """Number of records with this status (None: any) and method (None: any)."""
        return self._db.count(**self._query(status, method))

    @staticmethod
    def _query(status: str | None, method: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = status
        if method is not None:
            query["method"] = method
        return query

    def add(self, outcomes: Sequence[LabelOutcome], structures: Sequence[Atoms],
            structure_ids: Sequence[str], spec: MethodSpec) -> list[int]:
        """Write labelling outcomes (labelled or failed) with their provenance, in one
        transaction (a chunk is stored entirely or not at all).

        Args:
            outcomes: the results; ``outcome.index`` (stored as ``source_index``) indexes
                ``structures`` and ``structure_ids``.
            structures: the input structures (a failure is stored without labels).
            structure_ids: their :func:`structure_hash` values.
            spec: the method that computed them.

        Returns:
            The new row ids.
        """
        settings_json = json.dumps(spec.settings(), sort_keys=True, default=str)
        rows = []
        for outcome in outcomes:
            labelled = outcome.atoms
            atoms = (labelled if labelled is not None else structures[outcome.index]).copy()
            atoms.calc = labelled.calc if labelled is not None else None
            atoms.info = {key: value for key, value in atoms.info.items() if _storable(value)}
            atoms.info.update(
                nnpkit_hash=structure_ids[outcome.index],
                status="ok" if labelled is not None else "failed",
                source_index=int(outcome.index), attempts=int(outcome.attempts),
                label_s=float(outcome.seconds))
            if outcome.error is not None:
                atoms.info["error"] = outcome.error[:2000]
            rows.append(atoms)
        if not rows:
            return []
        return write_database(self.url, rows, **spec.provenance(), settings_json=settings_json)

    def structures(self, method: str | None = None) -> list[Atoms]:
        """The labelled (``status="ok"``) structures, oldest first, each with its labels as a
        SinglePointCalculator and its record's key-value pairs (provenance) in ``info``."""
        out = []
        for row in self._db.select(**self._query("ok", method), sort="id"):
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            out.append(atoms)
        return out

    def failures(self, method: str | None = None) -> list[dict[str, Any]]:
        """``{"index", "error", "method", "hash"}`` of every failed record."""
        return [{"index": row.get("source_index"), "error": row.get("error"),
                 "method": row.get("method"), "hash": row.nnpkit_hash}
                for row in self._db.select(**self._query("failed", method), sort="id")]

    def export(self, path: str | os.PathLike, method: str | None = None) -> int:
        """Write the labelled structures to an extxyz file (atomically); returns how many."""
        structures = self.structures(method)
        if not structures:
            raise DataError(f"{self.display_url}: no labelled structures"
                            + (f" for method {method!r}" if method else ""))
        write_structures(path, structures)
        return len(structures)

    def hashes_of(self, structures: Sequence[Atoms], spec: MethodSpec) -> list[str]:
        """:func:`structure_hash` of each structure under ``spec``."""
        settings = spec.settings()
        return [structure_hash(atoms, settings) for atoms in structures]
