"""From a run config to graphs: read, validate, split, fit statistics, build graphs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from ase import Atoms
from tqdm.auto import tqdm

from nnpkit.data.graph import AtomicGraph, atoms_to_graph
from nnpkit.data.io import LabelKeys, read_structures
from nnpkit.data.splits import train_val_test_split
from nnpkit.data.stats import DatasetStatistics, fit_statistics
from nnpkit.data.validate import validate_structures
from nnpkit.training.config import RunConfig

__all__ = ["PreparedData", "prepare_data", "structures_to_graphs", "split_structures"]


@dataclass
class PreparedData:
    """Graphs of the three splits and the training set's statistics."""

    train: list[AtomicGraph]
    validation: list[AtomicGraph]
    test: list[AtomicGraph]
    statistics: DatasetStatistics

    def to(self, device: str | torch.device, dtype: torch.dtype) -> PreparedData:
        """All graphs moved/cast (returns a new object)."""
        def move(graphs: list[AtomicGraph]) -> list[AtomicGraph]:
            return [graph.to(device, dtype) for graph in graphs]

        return replace(self, train=move(self.train), validation=move(self.validation),
                       test=move(self.test))


def structures_to_graphs(structures: Sequence[Atoms], cutoff: float,
                         dtype: torch.dtype = torch.float64, progress: bool = False
                         ) -> list[AtomicGraph]:
    """One graph per structure, with neighbour lists within ``cutoff`` Å."""
    return [atoms_to_graph(atoms, cutoff, dtype) for atoms in
            tqdm(structures, desc="neighbour lists", disable=not progress, leave=False)]


def split_structures(structures: list[Atoms], test: list[Atoms] | None,
                     validation_fraction: float, test_fraction: float, seed: int
                     ) -> tuple[list[Atoms], list[Atoms], list[Atoms]]:
    """Train/validation/test lists; with an explicit test set only validation is held out."""
    test_share = 0.0 if test is not None else test_fraction
    train_idx, val_idx, test_idx = train_val_test_split(
        len(structures), validation_fraction, test_share, seed)
    pick = [structures[int(k)] for k in train_idx]
    held_out = test if test is not None else [structures[int(k)] for k in test_idx]
    return pick, [structures[int(k)] for k in val_idx], held_out


def prepare_data(config: RunConfig, dtype: torch.dtype = torch.float64,
                 structures: list[Atoms] | None = None, test: list[Atoms] | None = None
                 ) -> PreparedData:
    """Read (unless given), validate and split the data of ``config``; build the graphs."""
    data = config.data
    keys = LabelKeys(energy=data.energy_key, forces=data.forces_key, stress=data.stress_key)
    if structures is None:
        structures = read_structures(data.train, keys)
        validate_structures(structures, data.train, data.min_distance_A)
    if test is None and data.test is not None:
        test = read_structures(data.test, keys)
        validate_structures(test, data.test, data.min_distance_A)
    train, validation, held_out = split_structures(
        structures, test, data.validation_fraction, data.test_fraction, config.training.seed)
    statistics = fit_statistics(train)
    validate_structures(held_out, data.test or data.train, data.min_distance_A,
                        elements=statistics.elements)
    cutoff = config.model.cutoff_A
    progress = config.training.progress
    return PreparedData(
        train=structures_to_graphs(train, cutoff, dtype, progress),
        validation=structures_to_graphs(validation, cutoff, dtype, progress),
        test=structures_to_graphs(held_out, cutoff, dtype, progress),
        statistics=statistics,
    )
