"""The labelling farm: reference calculations on Dask workers, written into a dataset store.

:func:`label_to_store` sends the structures in chunks to Dask workers; each task
(:func:`~nnpkit.labeling.farm_task.label_chunk`) hashes its structures, leases those not
yet stored, computes them and writes them to the store itself, in one transaction per
chunk. The client only schedules and counts, so its cores stay free for the workers.

Several farms (processes, machines) may label into one store at once: the store refuses
duplicate hashes and its leases keep two farms from computing the same structure. A farm
waits for the structures it finds leased to another one, and takes them over if that
farm's lease expires (it was killed). Interrupting loses at most the chunks in flight,
and a rerun computes exactly what is missing: nothing is lost, nothing stored twice.

The farm is a Dask ``LocalCluster`` (one single-threaded worker process per core) unless a
scheduler address is given, e.g. of a SLURM cluster started with dask-jobqueue.
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from ase import Atoms
from tqdm.auto import tqdm

from nnpkit.errors import ConfigError
from nnpkit.labeling.farm_task import LabelRecord, label_chunk
from nnpkit.labeling.methods import MethodSpec, parse_method
from nnpkit.labeling.store import DatasetStore

__all__ = ["LabelReport", "LabelRecord", "label_to_store", "farm_client", "label_chunk"]

#: Largest default chunk: structures per task (and per store transaction). 16 rather than
#: 32: the last chunks finish unevenly, and with 2 workers on 800 biphenyls (GFN2, ~8 ms
#: each) a 32-structure tail cost ~5 % of the run (docs/benchmarks.md, farm scaling).
_MAX_CHUNK = 16


@dataclass
class LabelReport:
    """What :func:`label_to_store` did.

    Attributes:
        db: the store's URL (password redacted).
        method: the method name.
        n_input: structures given.
        n_computed: newly labelled successfully by this farm.
        n_failed: newly failed (recorded with their error, after one retry).
        n_existing: skipped because in the store already (labelled or failed, before this
            run or by another farm meanwhile).
        n_duplicates: skipped because they repeat an earlier input structure.
        failures: ``{"index", "error"}`` of the new failures (index into the input).
        wall_s: wall time, s.
        n_workers: workers of the farm.
    """

    db: str
    method: str
    n_input: int
    n_computed: int = 0
    n_failed: int = 0
    n_existing: int = 0
    n_duplicates: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    n_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@contextmanager
def farm_client(scheduler: str | None = None, n_workers: int | None = None,
                processes: bool = True) -> Iterator[Any]:
    """A Dask client: on ``scheduler`` if given, else on a new LocalCluster.

    Args:
        scheduler: address of a running Dask scheduler (``tcp://host:8786``).
        n_workers: LocalCluster workers (default: the usable cores); one thread each.
        processes: LocalCluster workers as processes (True; GIL-free scaling) or threads.

    Raises:
        ConfigError: Dask distributed is not installed, or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise ConfigError("the labelling farm needs Dask: `pip install dask[distributed]` "
                          "(or `pip install nnpkit[farm]`)") from error
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({error})"
                              ) from error
        with client:
            yield client
        return
    if n_workers is None:
        n_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if n_workers < 1:
        raise ConfigError(f"n_workers must be >= 1, got {n_workers}")
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _n_workers(client: Any) -> int:
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))


def label_to_store(
    structures: Sequence[Atoms],
    method: str | MethodSpec,
    db: str | os.PathLike,
    properties: Sequence[str] = ("energy", "forces", "stress"),
    scheduler: str | None = None,
    n_workers: int | None = None,
    chunk_size: int | None = None,
    processes: bool = True,
    client: Any = None,
    progress: bool = True,
    on_record: Callable[[LabelRecord], None] | None = None,
    lease_s: float = 120.0,
) -> LabelReport:
    """Label structures on a Dask farm into a dataset store, idempotently and safely next
    to other farms on the same store.

    Args:
        structures: the structures (not modified); labels are energy (eV), forces
            ([n_atoms, 3], eV/Å) and, for fully periodic cells, stress ([6], eV/Å³); with
            a PySCF method of option ``field_response=True`` also the dipole ([3], e·Å)
            and the polarizability ([3, 3], e·Å²/V, kept in ``info["polarizability"]``);
            with ``sa-casscf/<basis>`` also the energies, forces and couplings of every
            state (``info["state_energies"]``, ``arrays["state_forces"]``,
            ``arrays["nacs"]``; :mod:`nnpkit.labeling.excited_states`).
        method: a method string (``gfn2``, ``pbe/def2-svp``, ``emt``, ...) or a
            :class:`MethodSpec` (e.g. from :func:`~nnpkit.labeling.methods.ase_method`).
        db: the store's database path or URL (SQLite or PostgreSQL).
        properties: what to compute (``energy``, ``forces``, ``stress``, ``dipole``,
            ``polarizability``, ``states``); a method with ``field_response=True`` adds
            ``dipole`` and ``polarizability``, an ``sa-casscf`` method ``states``.
        scheduler: address of an existing Dask scheduler; None: a LocalCluster.
        n_workers: LocalCluster workers (default: usable cores).
        chunk_size: structures per task and per store transaction (default: about 4 tasks
            per worker, at most 16).
        processes: LocalCluster workers as processes (default) or threads.
        client: an open Dask client to use instead (e.g. one per active-learning run).
        progress: show a tqdm progress bar.
        on_record: called in the client with the :class:`LabelRecord` of each input
            structure once it is settled (stored by this farm or found stored).
        lease_s: how long a lease on a structure being computed lasts, s (renewed every
            third of it while computing): the delay before another farm takes over the
            structures of a farm that was killed.

    Returns:
        A :class:`LabelReport` with the counts and the new failures; returns when every
        input structure is in the store (computed here or by another farm).

    Raises:
        ConfigError: unknown method (listing the available ones), bad settings.
        DataError: the store cannot be opened (the message names the URL, no password).
    """
    spec = parse_method(method) if isinstance(method, str) else method
    if spec.options.get("field_response"):
        properties = (*properties,
                      *(name for name in ("dipole", "polarizability") if name not in properties))
    if spec.kind == "casscf" and "states" not in properties:
        properties = (*properties, "states")
    if lease_s <= 0:
        raise ConfigError(f"lease_s must be > 0, got {lease_s}")
    store = DatasetStore(db)
    started = time.perf_counter()
    report = LabelReport(db=store.display_url, method=spec.name, n_input=len(structures))
    if structures:
        context = _given(client) if client is not None else farm_client(
            scheduler, n_workers, processes)
        with context as active:
            report.n_workers = _n_workers(active)
            records = _run(active, structures, spec, store, properties, chunk_size, lease_s,
                           report, progress, on_record)
        _count(records, report)
    report.wall_s = time.perf_counter() - started
    return report


@contextmanager
def _given(client: Any) -> Iterator[Any]:
    yield client


def _run(client: Any, structures: Sequence[Atoms], spec: MethodSpec, store: DatasetStore,
         properties: Sequence[str], chunk_size: int | None, lease_s: float,
         report: LabelReport, progress: bool,
         on_record: Callable[[LabelRecord], None] | None) -> dict[int, LabelRecord]:
    """Submit the chunks, collect the records, wait for (or take over) the structures
    leased elsewhere; on any error or interrupt cancel the tasks and drop this farm's
    leases."""
    from distributed import as_completed

    n = len(structures)
    if chunk_size is None:
        chunk_size = min(_MAX_CHUNK, max(1, math.ceil(n / (4 * report.n_workers))))
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    farm_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}/"
    poll_s = min(5.0, max(0.05, lease_s / 10.0))
    records: dict[int, LabelRecord] = {}
    hashes: dict[int, str] = {}
    submit: list[int] = list(range(n))
    waiting: list[int] = []
    futures: list[Any] = []
    round_ = 0

    def settle(record: LabelRecord) -> None:
        records[record.index] = record
        bar.update(1)
        if on_record is not None:
            on_record(record)

    with tqdm(total=n, desc=f"labelling ({spec.name})", unit="structure",
              disable=not progress) as bar:
        finished = False
        try:
            while submit or waiting:
                if submit:
                    futures = [client.submit(
                        label_chunk, store.location,
                        [(i, structures[i]) for i in submit[start:start + chunk_size]],
                        spec, tuple(properties), f"{farm_id}{round_}.{k}", lease_s,
                        pure=False) for k, start in enumerate(range(0, len(submit),
                                                                    chunk_size))]
                    round_, submit = round_ + 1, []
                    for future in as_completed(futures):
                        for record in future.result():
                            hashes[record.index] = record.structure_hash
                            if record.state == "busy":
                                waiting.append(record.index)
                            else:
                                settle(record)
                if waiting:  # leased elsewhere: stored since, free again, or still busy
                    stored, claimable = store.claim_state({hashes[i] for i in waiting})
                    for i in waiting:
                        if hashes[i] in stored:
                            settle(LabelRecord(i, hashes[i], "stored"))
                    submit = [i for i in waiting if hashes[i] in claimable]
                    waiting = [i for i in waiting
                               if i not in records and hashes[i] not in claimable]
                    if waiting and not submit:
                        time.sleep(poll_s)
            finished = True
        finally:  # on any error (also Ctrl-C): stop the tasks, free this farm's leases
            if not finished:
                client.cancel(futures)
                store.release_claims(farm_id)
    return records


def _count(records: dict[int, LabelRecord], report: LabelReport) -> None:
    """Fill the report's counts: per structure (hash), the first computation of this farm
    is computed or failed and its other copies duplicates; one that this farm did not
    compute is existing, every copy."""
    groups: dict[str, list[LabelRecord]] = {}
    for index in sorted(records):
        groups.setdefault(records[index].structure_hash, []).append(records[index])
    for group in groups.values():
        mine = [r for r in group if r.state in ("computed", "failed")]
        if not mine:
            report.n_existing += len(group)
            continue
        report.n_duplicates += len(group) - 1
        if mine[0].state == "computed":
            report.n_computed += 1
        else:
            report.n_failed += 1
            report.failures.append({"index": mine[0].index, "error": mine[0].error})
