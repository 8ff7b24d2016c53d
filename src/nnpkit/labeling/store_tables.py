"""The dataset store's own tables, next to ASE's rows: unique hashes and claims (leases).

ASE's database has no unique constraints, so two labellers writing to one database would
store the same structure twice. The store therefore keeps two small tables in the same
database (SQLite or PostgreSQL), created if missing:

- ``nnpkit_hashes(hash PRIMARY KEY, row_id)``: one entry per stored structure (labelled
  or failed). A row is written only in the transaction that inserted its hash
  (``INSERT ... ON CONFLICT DO NOTHING``), so the database itself refuses a duplicate,
  whoever writes concurrently.
- ``nnpkit_claims(hash PRIMARY KEY, owner, expires_s)``: a lease on a structure being
  computed. A farm claims a structure before computing it, renews its leases while it
  works and drops them when the results are stored. A claim whose ``expires_s`` (Unix
  time, s, by the claimant's clock) has passed belongs to a farm that died (SIGKILL, lost
  node) and is taken over.

Every statement that locks several rows of one table locks them in sorted hash order, so
concurrent transactions on PostgreSQL cannot deadlock. On SQLite every writing transaction
starts with ``BEGIN IMMEDIATE`` (writers queue on the database lock for up to 60 s). The
tables are created with the database (:mod:`nnpkit.labeling.store_backends`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClaimResult", "StoreTables"]

#: Hashes per statement (SQLite allows 32766 parameters).
_BATCH = 500


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _batches(items: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(items))
    for start in range(0, len(ordered), _BATCH):
        yield ordered[start:start + _BATCH]


@dataclass
class ClaimResult:
    """What a claim found, per hash: now ``mine`` to compute, already ``stored``, or
    ``busy`` (leased to another owner, whose name is the value)."""

    mine: set[str] = field(default_factory=set)
    stored: set[str] = field(default_factory=set)
    busy: dict[str, str] = field(default_factory=dict)


class StoreTables:
    """The side tables of one store's ASE database ``db``
    (:func:`~nnpkit.labeling.store_backends.open_database`),
    with one connection kept open for the writing transactions."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._connection: Any = None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One transaction (a cursor) that ASE's ``db.write`` joins: committed at the end,
        rolled back on any error."""
        if self._connection is None:
            self._connection = self._db._connect()
        con = self._connection
        if isinstance(con, sqlite3.Connection):
            con.execute("BEGIN IMMEDIATE")
        self._db.connection, self._db.change_count = con, 0
        committed = False
        try:
            yield con.cursor()
            con.commit()
            committed = True
        finally:  # on any error (also an interrupt): roll back and drop the connection
            if not committed:
                self._connection = None  # a fresh connection next time (it may be broken)
                try:
                    con.rollback()
                    con.close()
                finally:
                    self._db.connection = None
        self._db.connection = None

    def _short(self, work: Callable[[Any], Any], write: bool = True) -> Any:
        """Run ``work(cursor)`` in a transaction on a connection of its own (other threads)."""
        con = self._db._connect()
        try:
            if write and isinstance(con, sqlite3.Connection):
                con.execute("BEGIN IMMEDIATE")
            result = work(con.cursor())
            con.commit()
            return result
        finally:
            con.close()

    @staticmethod
    def _select(cur: Any, sql: str, hashes: Iterable[str], *extra: Any) -> list[tuple]:
        rows: list[tuple] = []
        for batch in _batches(hashes):
            cur.execute(sql.format(_marks(len(batch))), (*batch, *extra))
            rows.extend(cur.fetchall())
        return rows

    def insert_hashes(self, cur: Any, hashes: Iterable[str]) -> set[str]:
        """Insert hashes (row id 0 until :meth:`set_rows`); returns those that were new."""
        new: set[str] = set()
        for batch in _batches(hashes):
            cur.execute(f"INSERT INTO nnpkit_hashes (hash, row_id) VALUES "
                        f"{', '.join(['(?, 0)'] * len(batch))} "
                        "ON CONFLICT (hash) DO NOTHING RETURNING hash", tuple(batch))
            new.update(row[0] for row in cur.fetchall())
        return new

    @staticmethod
    def set_rows(cur: Any, row_ids: dict[str, int]) -> None:
        """Link hashes to their ASE rows (one statement per batch)."""
        items = sorted(row_ids.items())
        for start in range(0, len(items), _BATCH):
            batch = items[start:start + _BATCH]
            cur.execute(f"WITH v(hash, row_id) AS (VALUES {', '.join(['(?, ?)'] * len(batch))}) "
                        "UPDATE nnpkit_hashes SET row_id = CAST(v.row_id AS INTEGER) FROM v "
                        "WHERE nnpkit_hashes.hash = v.hash",
                        tuple(v for hash_, row_id in batch for v in (hash_, str(row_id))))

    def claim(self, hashes: Iterable[str], owner: str, lease_s: float) -> ClaimResult:
        """Lease the hashes that are neither stored nor leased to a live owner, in one
        transaction. The stored check comes after the claim, so a structure stored while
        it was being claimed is seen as stored."""
        wanted = sorted(set(hashes))
        result = ClaimResult()
        with self.transaction() as cur:
            now = time.time()
            for batch in _batches(wanted):
                cur.execute("INSERT INTO nnpkit_claims (hash, owner, expires_s) VALUES "
                            f"{', '.join(['(?, ?, ?)'] * len(batch))} ON CONFLICT (hash) DO "
                            "UPDATE SET owner = excluded.owner, expires_s = excluded.expires_s "
                            "WHERE nnpkit_claims.expires_s < ?",
                            (*(v for h in batch for v in (h, owner, now + lease_s)), now))
            result.stored = {row[0] for row in self._select(
                cur, "SELECT hash FROM nnpkit_hashes WHERE hash IN ({})", wanted)}
            for hash_, holder in self._select(
                    cur, "SELECT hash, owner FROM nnpkit_claims WHERE hash IN ({})", wanted):
                if hash_ in result.stored:
                    continue
                if holder == owner:
                    result.mine.add(hash_)
                else:
                    result.busy[hash_] = holder
            self.release(cur, owner, result.stored)
        return result

    @staticmethod
    def release(cur: Any, owner: str, hashes: Iterable[str]) -> None:
        """Drop ``owner``'s claims on ``hashes`` (one row at a time, in sorted order)."""
        for hash_ in sorted(set(hashes)):
            cur.execute("DELETE FROM nnpkit_claims WHERE hash = ? AND owner = ?",
                        (hash_, owner))

    def renew(self, owner: str, hashes: Iterable[str], lease_s: float) -> None:
        """Extend ``owner``'s leases on ``hashes`` by ``lease_s`` from now (own connection,
        safe from a heartbeat thread)."""
        def work(cur: Any) -> None:
            expires = time.time() + lease_s
            for hash_ in sorted(set(hashes)):
                cur.execute("UPDATE nnpkit_claims SET expires_s = ? WHERE hash = ? AND "
                            "owner = ?", (expires, hash_, owner))

        self._short(work)

    def release_prefix(self, prefix: str) -> None:
        """Drop every claim whose owner starts with ``prefix`` (a farm giving up)."""
        def work(cur: Any) -> None:
            cur.execute("SELECT hash, owner FROM nnpkit_claims WHERE substr(owner, 1, ?) = ?",
                        (len(prefix), prefix))
            for hash_, owner in sorted(cur.fetchall()):
                cur.execute("DELETE FROM nnpkit_claims WHERE hash = ? AND owner = ?",
                            (hash_, owner))

        self._short(work)

    def state(self, hashes: Iterable[str]) -> tuple[set[str], set[str]]:
        """``(stored, claimable)`` among ``hashes``: claimable ones are neither stored nor
        leased to a live owner."""
        wanted = set(hashes)

        def work(cur: Any) -> tuple[set[str], set[str]]:
            stored = {row[0] for row in self._select(
                cur, "SELECT hash FROM nnpkit_hashes WHERE hash IN ({})", wanted)}
            live = {row[0] for row in self._select(
                cur, "SELECT hash FROM nnpkit_claims WHERE hash IN ({}) AND expires_s >= ?",
                wanted, time.time())}
            return stored, wanted - stored - live

        return self._short(work, write=False)

    def claims(self) -> list[tuple[str, str, float]]:
        """Every claim ``(hash, owner, expires_s)`` (monitoring and tests)."""
        def work(cur: Any) -> list[tuple[str, str, float]]:
            cur.execute("SELECT hash, owner, expires_s FROM nnpkit_claims ORDER BY hash")
            return [(str(h), str(o), float(e)) for h, o, e in cur.fetchall()]

        return self._short(work, write=False)

    def stored_count(self) -> int:
        """Number of hashes stored."""
        def work(cur: Any) -> int:
            cur.execute("SELECT COUNT(*) FROM nnpkit_hashes")
            return int(cur.fetchone()[0])

        return self._short(work, write=False)
