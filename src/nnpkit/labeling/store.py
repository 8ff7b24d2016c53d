"""The dataset store: labelled structures in an ASE database, with provenance, idempotent
and safe for concurrent writers.

The database is SQLite (a plain path such as ``labels.db``, the default, or a
``sqlite:///path.db`` URL) or PostgreSQL (``postgresql://user:password@host/name``, for a
store shared by many machines; ``pip install nnpkit[postgres]``). Each ASE row is one
structure computed with one method and carries:

- ``nnpkit_hash``: :func:`structure_hash` of numbers, positions, cell, pbc and the method
  settings, so a structure already computed with the same method is never computed again;
- ``status``: ``"ok"`` (energy, forces and, for periodic cells, stress attached as the row's
  calculator results, in eV, eV/Å, eV/Å³, and the dipole, e·Å, where computed; the
  polarizability, e·Å²/V ``[3, 3]``, in the row's data) or ``"failed"`` (with ``error``);
- the structure's ``info`` (e.g. a molecule name): scalars as keys, others (and ``charge``,
  which ASE's ``row.charge`` would shadow) in the row's data;
- provenance: ``method``, ``functional``, ``basis``, ``code``, ``code_version``,
  ``ase_version``, ``nnpkit_version``, ``settings_json`` (all method settings),
  ``source_index`` (position in the labelled input), ``attempts`` and ``label_s``.

The hash is unique in the database (:mod:`nnpkit.labeling.store_tables`): :meth:`add`
writes a chunk in one transaction and skips, atomically, every structure already stored,
whoever stored it; and farms lease the structures they compute (:meth:`claim`), so two
farms on one store do not compute the same structure twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from nnpkit.data.io import _database_target, database_errors, is_row_key, write_structures
from nnpkit.errors import DataError
from nnpkit.labeling.excited_states import NACS_KEY, STATE_ENERGIES_KEY, STATE_FORCES_KEY
from nnpkit.labeling.methods import MethodSpec
from nnpkit.labeling.reference import LabelOutcome
from nnpkit.labeling.store_backends import open_database
from nnpkit.labeling.store_tables import ClaimResult, StoreTables

__all__ = ["DatasetStore", "structure_hash", "redact_url"]

#: Positions and cell are rounded to this many decimals (Å) before hashing, so a
#: structure read back from an extxyz file hashes the same as the one written.
_HASH_DECIMALS = 8  # what extxyz writes (%16.8f): a read-back rounds to the same
#: Per-atom arrays that ASE's database stores itself (others go into the row's data).
_ATOMS_ARRAYS = ("numbers", "positions", "momenta", "masses", "initial_magmoms",
                 "initial_charges", "tags")


def structure_hash(atoms: Atoms, settings: dict[str, Any]) -> str:
    """SHA-256 (hex) of atomic numbers, positions and cell (rounded to 1e-8 Å), pbc, the
    method ``settings`` (:meth:`MethodSpec.settings`) and the total charge
    ``atoms.info["charge"]`` where it differs from the method's ``charge`` option (default
    0): equal for the same calculation (a neutral structure hashes as it always did)."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (atoms.positions, atoms.cell.array):
        rounded = np.round(np.asarray(array, dtype=np.float64), _HASH_DECIMALS) + 0.0  # no -0
        digest.update(rounded.tobytes())
    digest.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    options = settings.get("options")
    default = options.get("charge") if isinstance(options, dict) else None
    charge = atoms.info.get("charge")
    if charge is not None and float(charge) != float(default or 0):
        digest.update(f"charge={float(charge)!r}".encode())
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


class _Labels(SinglePointCalculator):
    """The labels of a record, attached to the very atoms they belong to: ASE's row writer
    need not compare the atoms with the calculator's copy (seven ``allclose`` checks, a
    fifth of the write's cost); stored and read back as a plain SinglePointCalculator."""

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        return []


def _row(outcome: LabelOutcome, structure: Atoms, structure_id: str,
         common: dict[str, Any]) -> tuple[Atoms, dict[str, Any], dict[str, Any]]:
    """``(atoms, key_value_pairs, data)`` of one record: scalar info as searchable keys,
    other info and extra per-atom arrays in the row's data (as ``write_database`` does)."""
    labelled = outcome.atoms
    atoms = (labelled if labelled is not None else structure).copy()
    results = getattr(labelled.calc, "results", {}) if labelled is not None else {}
    labels: dict[str, Any] = {key: np.copy(results[key]) for key in ("energy", "forces",
                              "stress", "dipole") if results.get(key) is not None}
    if "energy" in labels:
        labels["energy"] = float(labels["energy"])
    atoms.calc = _Labels(atoms, **labels) if labels else None
    info = {key: value for key, value in atoms.info.items() if _storable(value)}
    info.update(nnpkit_hash=structure_id, status="ok" if labelled is not None else "failed",
                source_index=int(outcome.index), attempts=int(outcome.attempts),
                label_s=float(outcome.seconds))
    if outcome.error is not None:
        info["error"] = outcome.error[:2000]
    kvp: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in info.items():
        if is_row_key(key, value):
            kvp[key] = value.item() if isinstance(value, np.generic) else value
        else:
            data[key] = value
    data.update({key: np.copy(value) for key, value in atoms.arrays.items()
                 if key not in _ATOMS_ARRAYS})
    atoms.info = {}
    kvp.update(common)
    return atoms, kvp, data


class DatasetStore:
    """A labelled dataset in an ASE database (opened and checked on construction; the
    store's own tables are created if missing). It keeps a database connection for its
    writes: use one store per thread (each process and thread may open its own).

    Args:
        url: database path or URL (see the module docstring).

    Raises:
        DataError: the database cannot be opened, or is neither SQLite nor PostgreSQL; the
            message names the URL without its password.
    """

    def __init__(self, url: str | os.PathLike) -> None:
        self.url = os.fspath(url)
        self.display_url = redact_url(self.url)
        self._name, self._type = _database_target(self.url) or (self.url, "db")
        try:
            if self._type in ("db", "json"):
                self._name = os.path.abspath(self._name)
                Path(self._name).parent.mkdir(parents=True, exist_ok=True)
            self._db = open_database(self._name, self._type)
            self._db.count()
        except database_errors() as error:  # an unusable database; programming errors propagate
            message = str(error)
            password = urlsplit(self.url).password
            if password:
                message = message.replace(password, "***")
            raise DataError(f"cannot open the dataset database {self.display_url} "
                            f"({type(error).__name__}: {message})") from error
        self._tables = StoreTables(self._db)

    @property
    def location(self) -> str:
        """The database as any process can open it: the absolute SQLite path or the URL."""
        return self._name

    def status_by_hash(self) -> dict[str, str]:
        """``{nnpkit_hash: status}`` of every record (``"ok"`` or ``"failed"``)."""
        return {row.nnpkit_hash: row.get("status", "ok")
                for row in self._db.select("nnpkit_hash", include_data=False)}

    def row_hashes(self) -> list[str]:
        """The ``nnpkit_hash`` of every row, by row id (a repeat would be a duplicate row)."""
        return [row.nnpkit_hash for row in self._db.select(
            "nnpkit_hash", include_data=False, sort="id")]

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

    def add(self, outcomes: Sequence[LabelOutcome],
            structures: Sequence[Atoms] | Mapping[int, Atoms],
            structure_ids: Sequence[str] | Mapping[int, str], spec: MethodSpec,
            owner: str | None = None) -> list[int]:
        """Write labelling outcomes (labelled or failed) with their provenance, in one
        transaction: a chunk is stored entirely or not at all, and a structure whose hash
        is already stored (by anyone, or earlier in the chunk) is skipped, atomically.

        Args:
            outcomes: the results; ``outcome.index`` (stored as ``source_index``) indexes
                ``structures`` and ``structure_ids``.
            structures: the input structures (a failure is stored without labels).
            structure_ids: their :func:`structure_hash` values.
            spec: the method that computed them.
            owner: drop this owner's claims (:meth:`claim`) on these structures.

        Returns:
            The ids of the rows written, in the order of ``outcomes``.
        """
        return list(self.add_new(outcomes, structures, structure_ids, spec, owner).values())

    def add_new(self, outcomes: Sequence[LabelOutcome],
                structures: Sequence[Atoms] | Mapping[int, Atoms],
                structure_ids: Sequence[str] | Mapping[int, str], spec: MethodSpec,
                owner: str | None = None) -> dict[str, int]:
        """:meth:`add`, returning ``{hash: row id}`` of the rows written."""
        common = {**spec.provenance(),
                  "settings_json": json.dumps(spec.settings(), sort_keys=True, default=str)}
        rows = [(structure_ids[o.index], _row(o, structures[o.index], structure_ids[o.index],
                                              common)) for o in outcomes]
        written: dict[str, int] = {}
        if not rows:
            return written
        with self._tables.transaction() as cur:
            new = self._tables.insert_hashes(cur, [hash_ for hash_, _ in rows])
            for hash_, (atoms, kvp, data) in rows:
                if hash_ in new and hash_ not in written:
                    written[hash_] = self._db.write(atoms, key_value_pairs=kvp, data=data)
            self._tables.set_rows(cur, written)
            if owner is not None:
                self._tables.release(cur, owner, [hash_ for hash_, _ in rows])
        return written

    def claim(self, hashes: Iterable[str], owner: str, lease_s: float) -> ClaimResult:
        """Lease to ``owner``, for ``lease_s`` seconds, the hashes that are neither stored
        nor leased to a live owner (an expired lease is taken over), in one transaction."""
        return self._tables.claim(hashes, owner, lease_s)

    def renew(self, owner: str, hashes: Iterable[str], lease_s: float) -> None:
        """Extend ``owner``'s leases on ``hashes`` to ``lease_s`` seconds from now."""
        self._tables.renew(owner, hashes, lease_s)

    def release_claims(self, owner_prefix: str) -> None:
        """Drop every lease whose owner starts with ``owner_prefix``."""
        self._tables.release_prefix(owner_prefix)

    def claim_state(self, hashes: Iterable[str]) -> tuple[set[str], set[str]]:
        """``(stored, claimable)`` among ``hashes`` (claimable: not stored, no live lease)."""
        return self._tables.state(hashes)

    def claims(self) -> list[tuple[str, str, float]]:
        """Every lease as ``(hash, owner, expires_s)``, by hash."""
        return self._tables.claims()

    def n_hashes(self) -> int:
        """Number of distinct structures stored (labelled or failed)."""
        return self._tables.stored_count()

    def structures(self, method: str | None = None) -> list[Atoms]:
        """The labelled (``status="ok"``) structures, oldest first, each with its labels as a
        SinglePointCalculator, its record's key-value pairs (provenance, charge) and
        polarizability ([3, 3], e·Å²/V) in ``info``, and state labels (``state_energies``
        in ``info``, ``state_forces`` and ``nacs`` in ``arrays``) where computed."""
        out = []
        for row in self._db.select(**self._query("ok", method), sort="id"):
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            if row.data.get("charge") is not None:  # in the data: row.charge is ASE's own
                atoms.info["charge"] = row.data["charge"]
            if row.data.get("polarizability") is not None:
                atoms.info["polarizability"] = np.asarray(row.data["polarizability"], float)
            if row.data.get(STATE_ENERGIES_KEY) is not None:  # [n_states], eV
                atoms.info[STATE_ENERGIES_KEY] = np.asarray(row.data[STATE_ENERGIES_KEY],
                                                            float)
            for key in (STATE_FORCES_KEY, NACS_KEY):  # [n_atoms, 3·k] (excited_states)
                if row.data.get(key) is not None:
                    atoms.arrays[key] = np.asarray(row.data[key], float)
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
