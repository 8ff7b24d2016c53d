"""The outcome of a batched MD run, and the per-replica seeds.

:class:`BatchedMDResult` holds every replica's final structure and the per-replica log;
:meth:`BatchedMDResult.replica` turns one replica into the
:class:`~nnpkit.md.runner.MDResult` that ``run_md`` returns (for ``to_json`` and
``plot_md_log``). :func:`replica_seeds` derives independent seeds from one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from nnpkit.errors import ConfigError
from nnpkit.md.runner import MDResult

__all__ = ["BatchedMDResult", "replica_seeds"]


@dataclass
class BatchedMDResult:
    """The outcome of :func:`run_batched_md`.

    Attributes:
        atoms: final structure of each replica (copies with momenta, no calculator).
        log: ``time_fs`` [n_log] and per-replica columns [n_log, B] (see
            :class:`~nnpkit.md.observers.EnergyLogger`).
        ensemble: ``"nve"``, ``"nvt"`` or ``"npt"``.
        settings: the run's arguments, with the per-replica ``seeds``.
        uncertainty: with a guard, ``{"history": [(step, [B])], "flags": [(step, replica,
            value)]}``; else None.
        neighbor_builds: replica neighbour lists built (nnpkit models only; else 0).
    """

    atoms: list[Atoms]
    log: dict[str, np.ndarray]
    ensemble: str
    settings: dict[str, Any] = field(default_factory=dict)
    uncertainty: dict[str, Any] | None = None
    neighbor_builds: int = 0

    def replica(self, index: int) -> MDResult:
        """Replica ``index`` as the :class:`~nnpkit.md.runner.MDResult` of ``run_md``
        (1-D columns; ``volume_A3`` only where periodic), e.g. for ``to_json``."""
        log = {name: (values if values.ndim == 1 else values[:, index])
               for name, values in self.log.items()}
        if "volume_A3" in log and np.isnan(log["volume_A3"]).all():
            del log["volume_A3"]
        return MDResult(atoms=self.atoms[index], log=log, ensemble=self.ensemble,
                        settings=dict(self.settings))


def replica_seeds(seed: int | Sequence[int], n_replicas: int) -> list[int]:
    """Per-replica seeds: the given list, or ``numpy.random.SeedSequence(seed).spawn(B)``
    (independent streams; replica 0 of a run with seed s has the seed of a 1-replica run
    with seed s)."""
    if not isinstance(seed, int | np.integer):
        seeds = [int(s) for s in seed]
        if len(seeds) != n_replicas:
            raise ConfigError(f"{len(seeds)} seeds for {n_replicas} replicas")
        return seeds
    children = np.random.SeedSequence(int(seed)).spawn(n_replicas)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in children]
