"""Reading and writing labelled structures: extxyz (any ASE format) and ASE databases.

Every structure comes back as a fresh :class:`ase.Atoms` (numbers, positions, cell, pbc)
with a :class:`~ase.calculators.singlepoint.SinglePointCalculator` that holds the labels
found, in ASE units: ``energy`` (eV), ``forces`` (eV/Å, shape ``[n_atoms, 3]``) and
``stress`` (eV/Å³, ASE Voigt order ``[xx, yy, zz, yz, xz, xy]``, periodic structures only)
and ``dipole`` (e·Å, ``[3]``, about the coordinate origin). The static polarizability
(e·Å²/V, ``[3, 3]``), which ASE's calculators have no property for, is kept in
``atoms.info["polarizability"]``, and the total charge (e, an integer) in
``atoms.info["charge"]``. Labels of several electronic states (SA-CASSCF) are kept as they
were stored: ``info["state_energies"]`` and the per-atom arrays ``state_forces`` and
``nacs`` (:mod:`nnpkit.labeling.excited_states` gives them their shapes).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ase.db
import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db.core import reserved_keys
from ase.db.row import AtomsRow
from ase.io import ParseError
from ase.io.formats import UnknownFileTypeError, string2index

from nnpkit.errors import DataError
from nnpkit.file_writes import atomic_write

__all__ = ["LabelKeys", "STRUCTURE_FILE_ERRORS", "database_errors", "is_row_key",
           "integer_charge_value",
           "read_structure", "read_structures",
           "write_structures", "write_database"]

#: What ASE's readers raise for a file that is not a readable structure file (measured
#: on empty, binary, truncated and malformed files): I/O and format errors, and the
#: ``StopIteration``, ``AssertionError`` and ``RuntimeError`` of individual format readers
#: (CIF, POSCAR). Reading code turns exactly these into a DataError naming the file.
STRUCTURE_FILE_ERRORS: tuple[type[Exception], ...] = (
    OSError, ValueError, KeyError, IndexError, StopIteration, AssertionError, RuntimeError,
    UnknownFileTypeError, ParseError, sqlite3.Error)


def database_errors() -> tuple[type[Exception], ...]:
    """What opening or reading an ASE database raises when it is unusable: the file errors,
    a missing driver (``ImportError``) and, once psycopg2 is loaded, its ``Error``."""
    psycopg2 = sys.modules.get("psycopg2")
    driver = (psycopg2.Error,) if psycopg2 is not None else ()
    return (*STRUCTURE_FILE_ERRORS, ImportError, *driver)

QUANTITIES = ("energy", "forces", "stress")
#: Response labels: ``dipole`` on the calculator (an ASE property), ``polarizability`` in
#: ``info`` (ASE's SinglePointCalculator takes only ASE's properties).
RESPONSE_QUANTITIES = ("dipole", "polarizability")
_SHAPES = {"dipole": (3,), "polarizability": (3, 3)}
#: State-resolved labels, kept as read: an info key ([n_states], eV) and per-atom arrays
#: ([n_atoms, 3·k]: forces of each state, eV/Å; couplings of each pair, 1/Å).
STATE_INFO_KEYS = ("state_energies",)
STATE_ARRAY_KEYS = ("state_forces", "nacs")
_DB_URL_PREFIXES = ("postgresql://", "postgres://", "mysql://", "mariadb://")
_SQLITE_PREFIX = "sqlite:///"
# Per-atom arrays that ASE's database stores itself.
_ATOMS_ARRAYS = (
    "numbers",
    "positions",
    "momenta",
    "initial_magmoms",
    "initial_charges",
    "tags",
    "masses",
)


def is_row_key(key: str, value: Any) -> bool:
    """Whether an ``info`` entry can be an ASE database row's key-value pair: a scalar under
    a name that is neither reserved nor shadowed by an attribute of the row (``row.charge``
    is the sum of the initial charges, so ``info["charge"]`` goes into the row's data)."""
    scalar = isinstance(value, (bool, int, float, str, np.number, np.bool_))
    return (scalar and key.isidentifier() and key not in reserved_keys
            and not hasattr(AtomsRow, key))


@dataclass(frozen=True)
class LabelKeys:
    """The names under which the labels are looked up (e.g. ``REF_energy`` for ACE/MACE data)."""

    energy: str = "energy"
    forces: str = "forces"
    stress: str = "stress"
    dipole: str = "dipole"
    polarizability: str = "polarizability"


def _database_target(source: str) -> tuple[str, str] | None:
    """Return ``(name, ase_db_type)`` if ``source`` names an ASE database, else None."""
    if source.startswith(_SQLITE_PREFIX):
        # SQLAlchemy convention: sqlite:///rel.db is relative, sqlite:////abs.db absolute.
        return source[len(_SQLITE_PREFIX) :], "db"
    if source.startswith(_DB_URL_PREFIXES):
        return source, "extract_from_name"
    ext = os.path.splitext(source)[1].lower()
    if ext in (".db", ".json"):
        return source, ext[1:]
    return None


@contextmanager
def _open_database(name: str, db_type: str) -> Iterator[Any]:
    """Connect to an ASE database; commit and close on exit where the backend supports it."""
    db = ase.db.connect(name, type=db_type)
    if hasattr(db, "__enter__"):
        with db:
            yield db
    else:
        yield db


def _select(n_total: int, index: str, source: str) -> list[int]:
    """The positions selected by an ASE index string (``":"``, ``"-1"``, ``"10:20:2"``)."""
    try:
        selector = string2index(index)
        positions = range(n_total)
        if isinstance(selector, int):
            return [positions[selector]]
        if isinstance(selector, slice):
            return list(positions[selector])
        raise ValueError("not an integer or a slice")
    except (IndexError, ValueError) as exc:
        raise DataError(
            f"{source}: index {index!r} does not select from {n_total} structures ({exc})"
        ) from exc


def _lookup(
    quantity: str,
    key: str,
    atoms: Atoms,
    row: Any | None,
) -> tuple[Any | None, list[str]]:
    """Find one label by the lookup order; returns (value or None, places looked)."""
    looked: list[str] = ["calculator results"]
    if atoms.calc is not None and atoms.calc.results.get(key) is not None:
        return atoms.calc.results[key], looked
    store = "arrays" if quantity == "forces" else "info"
    looked.append(f"atoms.{store}[{key!r}]")
    container = atoms.arrays if quantity == "forces" else atoms.info
    if container.get(key) is not None:
        return container[key], looked
    if row is not None:
        looked += [f"row.get({key!r})", f"row.data.get({key!r})"]
        value = row.get(key)
        if value is None:
            value = row.data.get(key)
        if value is not None:
            return value, looked
    return None, looked


def _normalise(
    quantity: str, value: Any, n_atoms: int, source: str, i: int, key: str
) -> np.ndarray | float:
    """Check a label's shape and convert it (stress 3x3 → Voigt 6)."""
    where = f"{source}: structure {i} label {key!r}"
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where} is not numeric ({exc})") from exc
    if quantity == "energy":
        if array.size != 1:
            raise DataError(f"{where}: energy must be a scalar, got shape {array.shape}")
        return float(array.reshape(()))
    if quantity == "forces":
        if array.shape != (n_atoms, 3):
            raise DataError(f"{where}: forces must have shape ({n_atoms}, 3), got {array.shape}")
        return array.copy()
    if array.shape == (3, 3):
        return array[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]].copy()
    if array.shape == (6,):
        return array.copy()
    raise DataError(f"{where}: stress must have shape (6,) or (3, 3), got {array.shape}")


def _response(quantity: str, value: Any, source: str, i: int, key: str) -> np.ndarray:
    """Check a dipole ([3]) or polarizability ([3, 3]; 9 values accepted) label."""
    where = f"{source}: structure {i} label {key!r}"
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where} is not numeric ({exc})") from exc
    shape = _SHAPES[quantity]
    if quantity == "polarizability" and array.shape == (9,):
        array = array.reshape(3, 3)
    if array.shape != shape:
        raise DataError(f"{where}: {quantity} must have shape {shape}, got {array.shape}")
    return array.copy()


def integer_charge_value(value: Any) -> int:
    """A total charge (e) as an int.

    Raises:
        ValueError: ``value`` is not a number or not integer-valued (the message says
            which); callers turn it into the error type of their layer.
    """
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a number (total charge, e)") from exc
    if not np.isfinite(number) or number != round(number):
        raise ValueError(f"{number:g} is not an integer (total charge, e)")
    return int(round(number))


def _charge(atoms: Atoms, row: Any | None, source: str, i: int) -> int | None:
    """The total charge of ``info["charge"]`` (or the row's key), checked integer-valued."""
    value = atoms.info.get("charge")
    if value is None and row is not None:
        value = row.data.get("charge")  # not a key: row.charge is the initial charges' sum
    if value is None:
        return None
    try:
        return integer_charge_value(value)
    except ValueError as exc:
        raise DataError(f"{source}: structure {i} key 'charge' = {exc}") from exc


def _labelled_copy(
    atoms: Atoms,
    row: Any | None,
    keys: LabelKeys,
    require: Sequence[str],
    source: str,
    i: int,
) -> Atoms:
    """A fresh Atoms with the labels of ``atoms`` (and ``row``) in a SinglePointCalculator."""
    fresh = Atoms(
        numbers=atoms.get_atomic_numbers(),
        positions=atoms.get_positions(),
        cell=np.array(atoms.get_cell()),
        pbc=atoms.get_pbc(),
    )
    results: dict[str, Any] = {}
    for quantity in QUANTITIES:
        key = getattr(keys, quantity)
        value, looked = _lookup(quantity, key, atoms, row)
        if quantity == "stress" and not fresh.pbc.all():
            value = None  # stress is only defined for fully periodic cells
            looked.append("(stress is only read for fully periodic structures)")
        if value is None:
            if quantity in require:
                raise DataError(
                    f"{source}: structure {i} has no {key!r} label (looked for {', '.join(looked)})"
                )
            continue
        results[quantity] = _normalise(quantity, value, len(fresh), source, i, key)
    response: dict[str, np.ndarray] = {}
    for quantity in RESPONSE_QUANTITIES:
        key = getattr(keys, quantity)
        value, _ = _lookup(quantity, key, atoms, row)
        if value is not None:
            response[quantity] = _response(quantity, value, source, i, key)
    if "dipole" in response:
        results["dipole"] = response["dipole"]
    if results:
        fresh.calc = SinglePointCalculator(fresh, **results)
    # keep descriptive info (config_type, ...), not the labels now on the calculator
    label_keys = {getattr(keys, quantity) for quantity in (*QUANTITIES, *RESPONSE_QUANTITIES)}
    fresh.info.update({k: v for k, v in atoms.info.items() if k not in label_keys})
    if "polarizability" in response:
        fresh.info["polarizability"] = response["polarizability"]  # [3, 3], e·Å²/V
    charge = _charge(atoms, row, source, i)
    if charge is not None:
        fresh.info["charge"] = charge
    fresh.info["nnpkit_source_index"] = i
    _keep_state_labels(fresh, atoms, row, source, i)
    return fresh


def _keep_state_labels(fresh: Atoms, atoms: Atoms, row: Any | None, source: str,
                       i: int) -> None:
    """Copy the state-resolved labels of ``atoms`` (or of the row's data) to ``fresh``."""
    data = row.data if row is not None else {}
    for key in STATE_INFO_KEYS:
        if fresh.info.get(key) is None and data.get(key) is not None:
            fresh.info[key] = np.asarray(data[key], dtype=float)
    for key in STATE_ARRAY_KEYS:
        value = atoms.arrays.get(key, data.get(key))
        if value is None:
            continue
        array = np.asarray(value, dtype=float)
        if array.ndim != 2 or array.shape[0] != len(fresh):
            raise DataError(f"{source}: structure {i} key {key!r} has shape {array.shape}, "
                            f"expected [{len(fresh)}, 3·k]")
        fresh.arrays[key] = array


def read_structure(path: str | os.PathLike, what: str | None = None) -> Atoms:
    """The first frame of any file ASE reads (no labels required).

    Raises:
        DataError: naming ``what`` (e.g. the config key) and the file, when the file is
            missing or ASE cannot read a structure from it.
    """
    from ase.io import read

    prefix = f"{what}: " if what else ""
    if not Path(path).is_file():
        raise DataError(f"{prefix}structure file not found: {path}")
    try:
        atoms = read(Path(path), index=0)
    except STRUCTURE_FILE_ERRORS as error:
        raise DataError(f"{prefix}ASE cannot read a structure from {path}: {error}") from error
    assert isinstance(atoms, Atoms)
    return atoms


def read_structures(
    source: str | os.PathLike,
    keys: LabelKeys | None = None,
    index: str = ":",
    require: Sequence[str] = ("energy", "forces"),
) -> list[Atoms]:
    """Read labelled structures from an extxyz (any ASE-readable) file or an ASE database.

    Args:
        source: a file path; or an ASE database: a path ending in ``.db``/``.json``, a URL
            ``sqlite:///path.db`` or ``postgresql://user@host/db``.
        keys: the label names to look up (default ``energy``, ``forces``, ``stress``).
        index: an ASE index string selecting structures (``":"``, ``"-1"``, ``"0:100"``).
        require: the quantities (``energy``, ``forces``, ``stress``) every structure must have.

    Returns:
        New Atoms, one per structure, each with a SinglePointCalculator holding energy (eV),
        forces (eV/Å, ``[n_atoms, 3]``), stress (eV/Å³, Voigt ``[6]``) and dipole (e·Å,
        ``[3]``) where found; ``info["polarizability"]`` (e·Å²/V, ``[3, 3]``) and
        ``info["charge"]`` (e, int) where found; and ``info["nnpkit_source_index"]``, the
        structure's position in the source. Dipole and polarizability are looked up, under
        ``keys.dipole`` and ``keys.polarizability``, in the calculator results, ``info``,
        and a database row's key-value pairs and data.

    Raises:
        DataError: missing or unreadable source, a required label missing, a bad shape, a
            charge that is not an integer (naming the file, the structure and the key).
    """
    keys = keys or LabelKeys()
    unknown = [q for q in require if q not in QUANTITIES]
    if unknown:
        raise DataError(f"require={list(require)}: unknown quantities {unknown}; use {QUANTITIES}")
    name = os.fspath(source)
    target = _database_target(name)
    is_url = name.startswith(_DB_URL_PREFIXES)
    path = target[0] if target is not None else name
    if not is_url and not os.path.exists(path):
        raise DataError(f"{name}: no such file")

    rows: list[Any] | None = None
    images: list[Atoms]
    try:
        if target is not None:
            with _open_database(*target) as db:
                rows = list(db.select())
            images = [row.toatoms() for row in rows]
        else:
            read = ase.io.read(name, index=":")
            images = [read] if isinstance(read, Atoms) else list(read)
    except DataError:
        raise
    except database_errors() as exc:  # a bad file or database; programming errors propagate
        raise DataError(f"{name}: cannot read structures ({type(exc).__name__}: {exc})") from exc
    if not images:
        raise DataError(f"{name}: contains no structures")

    selected = _select(len(images), index, name)
    return [
        _labelled_copy(images[i], rows[i] if rows is not None else None, keys, require, name, i)
        for i in selected
    ]


def _writable_copy(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` whose calculator labels are in a SinglePointCalculator."""
    copy = atoms.copy()
    results = {} if atoms.calc is None else getattr(atoms.calc, "results", {})
    labels: dict[str, Any] = {
        q: np.copy(results[q]) for q in (*QUANTITIES, "dipole") if results.get(q) is not None
    }
    if "energy" in labels:
        labels["energy"] = float(labels["energy"])
    if labels:
        copy.calc = SinglePointCalculator(copy, **labels)
    return copy


def write_structures(path: str | os.PathLike, structures: Sequence[Atoms]) -> None:
    """Write structures to an extxyz file atomically, keeping their energy/forces/stress/dipole
    labels and their info (``polarizability`` ``[3, 3]``, ``charge``, names, ...).

    The file is written to a temporary file in the same directory, flushed to disk and then
    moved over ``path`` with :func:`os.replace`, so a reader never sees a half-written file and
    an existing file stays untouched if writing fails. The caller's Atoms are not modified.
    """
    copies = [_writable_copy(atoms) for atoms in structures]
    atomic_write(path, lambda tmp: ase.io.write(tmp, copies, format="extxyz"))


def write_database(
    url_or_path: str | os.PathLike, structures: Sequence[Atoms], **key_value_pairs: Any
) -> list[int]:
    """Append structures as rows to an ASE database (SQLite for a plain path).

    Calculator labels (energy, forces, stress) are stored as the row's standard properties;
    extra per-atom arrays (e.g. ``REF_forces``) and non-scalar info go into ``row.data`` and
    scalar info (e.g. ``REF_energy``) into the row's key-value pairs (:func:`is_row_key`;
    ``charge`` goes into the data), so :func:`read_structures` finds custom keys again.
    ``key_value_pairs`` are added to every row.

    Returns:
        The ids of the rows written.
    """
    name = os.fspath(url_or_path)
    target = _database_target(name) or (name, "db")
    ids: list[int] = []
    with _open_database(*target) as db:
        for atoms in structures:
            kvp: dict[str, Any] = {}
            data: dict[str, Any] = {}
            for key, value in atoms.info.items():
                if is_row_key(key, value):
                    kvp[key] = value.item() if isinstance(value, np.generic) else value
                else:
                    data[key] = value
            for key, value in atoms.arrays.items():
                if key not in _ATOMS_ARRAYS:
                    data[key] = np.copy(value)
            kvp.update(key_value_pairs)
            ids.append(db.write(_writable_copy(atoms), key_value_pairs=kvp, data=data))
    return ids
