"""From a run config to graphs: read, validate, split, fit statistics, build graphs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from ase import Atoms
from tqdm.auto import tqdm

from nnpkit.data.graph import AtomicGraph, atoms_to_graph
from nnpkit.data.io import LabelKeys, read_structures
from nnpkit.data.splits import train_val_test_split
from nnpkit.data.stats import DatasetStatistics
from nnpkit.data.validate import validate_structures
from nnpkit.errors import ConfigError
from nnpkit.training.config import RunConfig
from nnpkit.training.reference_energies import training_statistics

__all__ = ["PreparedData", "prepare_data", "structures_to_graphs", "split_structures",
           "model_selection", "N_SELECT_ON_TRAIN"]

#: Training structures the best epoch is chosen on with ``training.select_on_train``.
N_SELECT_ON_TRAIN = 50


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
                     validation_fraction: float, test_fraction: float, seed: int,
                     validation: list[Atoms] | None = None
                     ) -> tuple[list[Atoms], list[Atoms], list[Atoms]]:
    """Train/validation/test lists; an explicit test or validation set is used as given
    and nothing is held out of ``structures`` for it."""
    test_share = 0.0 if test is not None else test_fraction
    val_share = 0.0 if validation is not None else validation_fraction
    train_idx, val_idx, test_idx = train_val_test_split(
        len(structures), val_share, test_share, seed)
    pick = [structures[int(k)] for k in train_idx]
    held_out = test if test is not None else [structures[int(k)] for k in test_idx]
    chosen = validation if validation is not None else [structures[int(k)] for k in val_idx]
    return pick, chosen, held_out


def model_selection(config: RunConfig, n_validation: int) -> str:
    """What the best epoch is chosen on: ``"validation"``, or ``"train"`` (opted in, warned).

    Raises:
        ConfigError: no validation data and ``training.select_on_train`` is false.
    """
    if n_validation > 0:
        return "validation"
    if not config.training.select_on_train:
        raise ConfigError(
            "data.validation_fraction is 0 and data.validation is not set: the best epoch "
            "and the learning-rate schedule would be chosen on training data. Hold out data "
            "(data.validation_fraction: 0.1), give data.validation: <file>, or accept the "
            "bias with training.select_on_train: true")
    warnings.warn(
        f"training.select_on_train: no validation data, the best epoch is chosen on the "
        f"first {N_SELECT_ON_TRAIN} TRAINING structures; its error is biased low and the "
        f"model may be overfitted (recorded as model_selection: train in metrics.json)",
        UserWarning, stacklevel=3)
    return "train"


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
    given_validation = None
    if data.validation is not None:
        given_validation = read_structures(data.validation, keys)  # checked below
    train, validation, held_out = split_structures(
        structures, test, data.validation_fraction, data.test_fraction, config.training.seed,
        given_validation)
    statistics = training_statistics(train, config.statistics)
    validate_structures(held_out, data.test or data.train, data.min_distance_A,
                        elements=statistics.elements)
    if given_validation is not None:
        validate_structures(given_validation, str(data.validation), data.min_distance_A,
                            elements=statistics.elements)
    cutoff = config.model.cutoff_A
    progress = config.training.progress
    return PreparedData(
        train=structures_to_graphs(train, cutoff, dtype, progress),
        validation=structures_to_graphs(validation, cutoff, dtype, progress),
        test=structures_to_graphs(held_out, cutoff, dtype, progress),
        statistics=statistics,
    )
