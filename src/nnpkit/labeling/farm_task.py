"""The labelling farm's task, run on a Dask worker: hash, claim, compute and store a chunk.

Everything per structure happens on the worker, so the client only schedules: the worker
hashes its structures (:func:`~nnpkit.labeling.store.structure_hash`), leases those that
are neither stored nor leased to a live owner (:meth:`DatasetStore.claim`), computes them
while a heartbeat thread renews the leases every third of ``lease_s``, and writes the
results in one transaction that skips anything stored meanwhile and drops the leases. A
worker keeps one store (one database connection) per thread. A structure's total charge is
its ``info["charge"]`` (checked against the method first, :meth:`MethodSpec.charge_of`),
and a charge the method does not already give enters its hash.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ase import Atoms

from nnpkit.errors import ConfigError
from nnpkit.labeling.methods import MethodSpec
from nnpkit.labeling.reference import label_each
from nnpkit.labeling.store import DatasetStore, structure_hash

__all__ = ["LabelRecord", "label_chunk"]

_LOCAL = threading.local()


@dataclass(frozen=True)
class LabelRecord:
    """What became of one input structure in a farm task.

    Attributes:
        index: the structure's position in the input.
        structure_hash: its :func:`~nnpkit.labeling.store.structure_hash`.
        state: ``"computed"`` or ``"failed"`` (computed and stored by this task),
            ``"stored"`` (already in the store) or ``"busy"`` (leased to ``holder``).
        error: the failure's ``"ExceptionType: message"``, else None.
        holder: owner of the lease when busy, else None.
        seconds: wall time of the calculation, s (0 when not computed here).
    """

    index: int
    structure_hash: str
    state: str
    error: str | None = None
    holder: str | None = None
    seconds: float = 0.0


def _store(location: str) -> DatasetStore:
    """This thread's store for ``location`` (opened once, its connection kept)."""
    stores: dict[str, DatasetStore] = _LOCAL.__dict__.setdefault("stores", {})
    if location not in stores:
        stores[location] = DatasetStore(location)
    return stores[location]


@contextmanager
def _heartbeat(store: DatasetStore, owner: str, hashes: list[str],
               lease_s: float) -> Iterator[None]:
    """Renew ``owner``'s leases on ``hashes`` every ``lease_s / 3`` while the block runs."""
    if not hashes:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 3.0):
            store.renew(owner, hashes, lease_s)

    thread = threading.Thread(target=beat, name="nnpkit-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def label_chunk(location: str, items: list[tuple[int, Atoms]], spec: MethodSpec,
                properties: Sequence[str], owner: str, lease_s: float) -> list[LabelRecord]:
    """Label a chunk of ``(index, atoms)`` into the store at ``location`` (on a worker).

    Args:
        location: :attr:`DatasetStore.location` (absolute SQLite path or URL).
        items: the structures with their input positions.
        spec: the reference method (a failure is retried once with safer settings).
        properties: what to compute.
        owner: the lease owner, unique to this task.
        lease_s: lease duration, s (renewed while computing).

    Returns:
        One :class:`LabelRecord` per item, in order; an item repeating a structure of the
        chunk gets the record of its first occurrence (under its own index).

    Raises:
        ConfigError: a structure's ``info["charge"]`` is not an integer or disagrees with
            the method (:meth:`MethodSpec.charge_of`); the message names its index.
    """
    for index, atoms in items:  # bad input: refused before anything is claimed
        try:
            spec.charge_of(atoms)
        except ConfigError as error:
            raise ConfigError(f"structure {index}: {error}") from error
    store = _store(location)
    settings = spec.settings()
    structures = dict(items)
    hashes = {index: structure_hash(atoms, settings) for index, atoms in items}
    claim = store.claim(hashes.values(), owner, lease_s)
    first: dict[str, int] = {}
    for index, _ in items:
        if hashes[index] in claim.mine:
            first.setdefault(hashes[index], index)
    with _heartbeat(store, owner, sorted(first), lease_s):
        outcomes = list(label_each([(i, structures[i]) for i in first.values()], spec,
                                   properties))
    written = store.add_new(outcomes, structures, hashes, spec, owner=owner)
    by_hash = {hashes[o.index]: o for o in outcomes}
    records = []
    for index, _ in items:
        hash_ = hashes[index]
        outcome = by_hash.get(hash_)
        if hash_ in written and outcome is not None:
            state = "computed" if outcome.atoms is not None else "failed"
            records.append(LabelRecord(index, hash_, state, outcome.error,
                                       seconds=outcome.seconds))
        elif hash_ in claim.busy:
            records.append(LabelRecord(index, hash_, "busy", holder=claim.busy[hash_]))
        else:  # stored before the claim, or (an expired lease taken over) meanwhile
            records.append(LabelRecord(index, hash_, "stored"))
    return records
