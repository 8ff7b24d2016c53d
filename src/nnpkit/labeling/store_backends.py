"""The ASE databases behind the dataset store: SQLite and PostgreSQL, opened race-free.

:func:`open_database` gives ASE's own database classes with what concurrent writers need:
the schema (ASE's tables and the store's, :mod:`nnpkit.labeling.store_tables`) is created
under a lock (SQLite's write lock; a PostgreSQL advisory lock), so two farms opening a new
store at once do not both create it; no lock file (the database's transactions order the
writers); SQLite in write-ahead-log mode; on PostgreSQL the id of the row this session
inserted (``currval``; the backend's ``last_value`` may be another writer's row) and a
rollback on its connection.
"""

from __future__ import annotations

import functools
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ase.db.sqlite import SQLite3Database

from nnpkit.errors import DataError

__all__ = ["open_database", "temporary_postgres_database"]

#: Key of the PostgreSQL advisory lock that serialises creating the tables.
_PG_INIT_LOCK = 0x6E6E706B  # "nnpk"
_CREATE_HASHES = ("CREATE TABLE nnpkit_hashes (hash TEXT PRIMARY KEY, "
                  "row_id INTEGER NOT NULL)")
_BACKFILL_HASHES = ("INSERT INTO nnpkit_hashes (hash, row_id) SELECT value, MIN(id) "
                    "FROM text_key_values WHERE key = 'nnpkit_hash' GROUP BY value")
_CREATE_CLAIMS = ("CREATE TABLE IF NOT EXISTS nnpkit_claims (hash TEXT PRIMARY KEY, "
                  "owner TEXT NOT NULL, expires_s DOUBLE PRECISION NOT NULL)")


def _create_tables(cur: Any, hashes_exist: bool) -> None:
    """Create the side tables; a store written before they existed gets its hashes
    indexed from its rows (the first row of a repeated hash wins)."""
    if not hashes_exist:
        cur.execute(_CREATE_HASHES)
        cur.execute(_BACKFILL_HASHES)
    cur.execute(_CREATE_CLAIMS)


class _SQLiteStoreDatabase(SQLite3Database):  # type: ignore[misc]
    """ASE's SQLite database, created race-free (under the write lock) with the side tables,
    in write-ahead-log mode: readers do not block the writer, and a commit does not wait
    for the disk (``synchronous=NORMAL``: a power cut may lose the last commits, which a
    rerun recomputes; a crashed process loses nothing committed)."""

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(str(self.filename), timeout=60)
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    def _initialize(self, con: sqlite3.Connection) -> None:
        if self.initialized:
            return
        if not con.in_transaction:
            con.execute("PRAGMA journal_mode=WAL")
        con.execute("BEGIN IMMEDIATE")
        committed = False
        try:
            super()._initialize(con)  # commits when it created ASE's tables
            if not con.in_transaction:
                con.execute("BEGIN IMMEDIATE")
            exists = con.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                                 "AND name = 'nnpkit_hashes'").fetchone()[0]
            _create_tables(con, bool(exists))
            con.commit()
            committed = True
        finally:  # on any error (also an interrupt) the schema change is rolled back
            if not committed:
                con.rollback()


@functools.cache
def _postgres_class() -> type[Any]:
    """ASE's PostgreSQL database (ase-db-backends), created race-free with the side tables,
    with a rollback, and with the id of the row this session inserted (``currval``: the
    backend's ``last_value`` of the sequence may be another writer's row)."""
    try:
        from ase_db_backends.postgresql import Connection, PostgreSQLDatabase
    except ImportError as error:
        raise DataError("a postgresql:// dataset store needs psycopg2 and ase-db-backends: "
                        "`pip install nnpkit[postgres]`") from error
    from psycopg2 import connect

    class _PGConnection(Connection):  # type: ignore[misc]
        def rollback(self) -> None:
            self.con.rollback()

    class _PostgreSQLStoreDatabase(PostgreSQLDatabase):  # type: ignore[misc]
        def _connect(self) -> _PGConnection:
            return _PGConnection(connect(self.filename))

        def get_last_id(self, cur: Any) -> int:
            cur.execute("SELECT currval('systems_id_seq')")
            return int(cur.fetchone()[0])

        def _initialize(self, con: Any) -> None:
            if self.initialized:
                return
            cur = con.cursor()
            cur.execute("SELECT pg_advisory_lock(?)", (_PG_INIT_LOCK,))
            try:
                super()._initialize(con)
                cur = con.cursor()
                cur.execute("SELECT to_regclass('nnpkit_hashes') IS NOT NULL")
                _create_tables(cur, bool(cur.fetchone()[0]))
                con.commit()
            finally:
                con.rollback()
                con.cursor().execute("SELECT pg_advisory_unlock(?)", (_PG_INIT_LOCK,))
                con.commit()

    return _PostgreSQLStoreDatabase


def open_database(name: str, db_type: str) -> Any:
    """An ASE database of the store: ``db_type`` ``"db"`` (SQLite file ``name``) or
    ``"extract_from_name"`` with a ``postgresql://`` URL. No lock file: the database's own
    transactions order concurrent writers.

    Raises:
        DataError: another database type (JSON, MySQL), or the PostgreSQL driver is missing.
    """
    if db_type == "db":
        return _SQLiteStoreDatabase(name, create_indices=True, use_lock_file=False)
    if db_type == "extract_from_name" and name.startswith(("postgresql://", "postgres://")):
        return _postgres_class()(name)
    raise DataError(f"{name}: the dataset store needs SQLite (a .db path) or PostgreSQL "
                    "(postgresql://...); ASE's JSON and MySQL databases have no transactions "
                    "it can rely on")


@contextmanager
def temporary_postgres_database(server_url: str, prefix: str = "nnpkit_tmp") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server at ``server_url`` (whose user may
    create databases), yielded as its URL and dropped afterwards (tests, benchmarks)."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    def admin(statement: str) -> None:
        connection = psycopg2.connect(server_url)
        try:
            connection.autocommit = True
            connection.cursor().execute(statement)
        finally:
            connection.close()

    admin(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
