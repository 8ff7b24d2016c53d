"""The labelling farm: reference calculations on Dask workers, written into a dataset store.

:func:`label_to_store` hashes every structure (:func:`~nnpkit.labeling.store.structure_hash`),
skips those already in the store with the same method settings and duplicates within the
input (both counted), sends the rest in chunks to Dask workers and writes each result to
the store as soon as it arrives. Interrupting loses at most the chunks in flight, and a
rerun computes exactly what is missing: nothing is lost, nothing is computed twice.

The farm is a Dask ``LocalCluster`` (one single-threaded worker process per core) unless a
scheduler address is given, e.g. of a SLURM cluster started with dask-jobqueue.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from ase import Atoms
from tqdm.auto import tqdm

from nnpkit.errors import ConfigError
from nnpkit.labeling.methods import MethodSpec, parse_method
from nnpkit.labeling.reference import LabelOutcome, label_each
from nnpkit.labeling.store import DatasetStore

__all__ = ["LabelReport", "label_to_store", "farm_client", "label_chunk"]


@dataclass
class LabelReport:
    """What :func:`label_to_store` did.

    Attributes:
        db: the store's URL (password redacted).
        method: the method name.
        n_input: structures given.
        n_computed: newly labelled successfully.
        n_failed: newly failed (recorded with their error, after one retry).
        n_existing: skipped because already in the store (labelled or failed).
        n_duplicates: skipped because they repeat an earlier input structure.
        failures: ``{"index", "error"}`` of the new failures (index into the input).
        wall_s: wall time, s.
        n_workers: workers of the farm (0 when nothing had to be computed).
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


def label_chunk(items: list[tuple[int, Atoms]], spec: MethodSpec,
                properties: Sequence[str]) -> list[LabelOutcome]:
    """Label a chunk of ``(index, atoms)`` on a worker (retry with safer settings inside)."""
    return list(label_each(items, spec, properties))


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
    on_record: Callable[[LabelOutcome], None] | None = None,
) -> LabelReport:
    """Label structures on a Dask farm into a dataset store, idempotently.

    Args:
        structures: the structures (not modified); labels are energy (eV), forces
            ([n_atoms, 3], eV/Å) and, for fully periodic cells, stress ([6], eV/Å³).
        method: a method string (``gfn2``, ``pbe/def2-svp``, ``emt``, ...) or a
            :class:`MethodSpec` (e.g. from :func:`~nnpkit.labeling.methods.ase_method`).
        db: the store's ASE database path or URL.
        properties: what to compute.
        scheduler: address of an existing Dask scheduler; None: a LocalCluster.
        n_workers: LocalCluster workers (default: usable cores).
        chunk_size: structures per task (default: about 4 tasks per worker, at most 16).
        processes: LocalCluster workers as processes (default) or threads.
        client: an open Dask client to use instead (e.g. one per active-learning run).
        progress: show a tqdm progress bar.
        on_record: called with each outcome after it is written (monitoring, tests).

    Returns:
        A :class:`LabelReport` with the counts and the new failures.

    Raises:
        ConfigError: unknown method (listing the available ones), bad settings.
        DataError: the store cannot be opened (the message names the URL, no password).
    """
    spec = parse_method(method) if isinstance(method, str) else method
    store = DatasetStore(db)
    started = time.perf_counter()
    report = LabelReport(db=store.display_url, method=spec.name, n_input=len(structures))
    known = store.status_by_hash()
    hashes = store.hashes_of(structures, spec)
    seen: set[str] = set()
    todo: list[int] = []
    for index, structure_id in enumerate(hashes):
        if structure_id in known:
            report.n_existing += 1
        elif structure_id in seen:
            report.n_duplicates += 1
        else:
            seen.add(structure_id)
            todo.append(index)
    if todo:
        context = _given(client) if client is not None else farm_client(
            scheduler, n_workers, processes)
        with context as active:
            report.n_workers = _n_workers(active)
            _run(active, todo, structures, hashes, spec, store, properties, chunk_size,
                 report, progress, on_record)
    report.wall_s = time.perf_counter() - started
    return report


@contextmanager
def _given(client: Any) -> Iterator[Any]:
    yield client


def _run(client: Any, todo: list[int], structures: Sequence[Atoms], hashes: list[str],
         spec: MethodSpec, store: DatasetStore, properties: Sequence[str],
         chunk_size: int | None, report: LabelReport, progress: bool,
         on_record: Callable[[LabelOutcome], None] | None) -> None:
    """Submit the chunks, write every outcome as it arrives, cancel the rest on interrupt."""
    from distributed import as_completed

    if chunk_size is None:
        chunk_size = min(16, max(1, math.ceil(len(todo) / (4 * report.n_workers))))
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    chunks = [todo[start:start + chunk_size] for start in range(0, len(todo), chunk_size)]
    futures = [client.submit(label_chunk, [(i, structures[i]) for i in chunk], spec,
                             tuple(properties), pure=False) for chunk in chunks]
    try:
        with tqdm(total=len(todo), desc=f"labelling ({spec.name})", unit="structure",
                  disable=not progress) as bar:
            for future in as_completed(futures):
                outcomes = future.result()
                store.add(outcomes, structures, hashes, spec)  # one transaction per chunk
                for outcome in outcomes:
                    if outcome.atoms is None:
                        report.n_failed += 1
                        report.failures.append({"index": outcome.index,
                                                "error": outcome.error})
                    else:
                        report.n_computed += 1
                    bar.update(1)
                    if on_record is not None:
                        on_record(outcome)
    finally:
        client.cancel(futures)
