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
from nnpkit.errors import ConfigError, DataError
from nnpkit.training.config import RunConfig, response_weights
from nnpkit.training.loss import has_dipole, has_polarizability
from nnpkit.training.reference_energies import training_statistics

__all__ = ["PreparedData", "prepare_data", "structures_to_graphs", "split_structures",
           "model_selection", "check_response_labels", "N_SELECT_ON_TRAIN"]

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


def check_response_labels(graphs: Sequence[AtomicGraph], config: RunConfig, source: str,
                          indices: Sequence[int] | None = None) -> None:
    """Refuse training graphs without the dipole/polarizability labels the loss asks for.

    Partial labels are refused rather than skipped: a ``training.dipole_weight`` above 0
    that silently trains on a fraction of the data hides a labelling failure.

    Args:
        graphs: the training structures, one graph each.
        config: the run config (its ``training.*_weight`` and ``data.*_key``).
        source: where they come from (the data file), for the message.
        indices: each graph's index in ``source`` (default: its position in ``graphs``).

    Raises:
        DataError: a graph lacks a label or is periodic, naming ``source``, the
            structure's index, the label key and the weight's key.
    """
    label_keys = {"dipole": config.data.dipole_key,
                  "polarizability": config.data.polarizability_key}
    present = {"dipole": has_dipole, "polarizability": has_polarizability}
    for name, weight in response_weights(config).items():
        missing = [k for k, graph in enumerate(graphs) if not bool(present[name](graph).all())]
        if not missing:
            continue
        first = graphs[missing[0]]
        index = missing[0] if indices is None else indices[missing[0]]
        problem = (f"is periodic (a {name} needs a molecule, pbc=False)"
                   if bool(first.pbc.any()) else f"has no {name} label {label_keys[name]!r}")
        more = f" (and {len(missing) - 1} more of {len(graphs)})" if len(missing) > 1 else ""
        raise DataError(
            f"{source}: training structure {index}{more} {problem}, but "
            f"training.{name}_weight={weight:g} needs it on every training structure; "
            f"label them or set training.{name}_weight: 0")


def prepare_data(config: RunConfig, dtype: torch.dtype = torch.float64,
                 structures: list[Atoms] | None = None, test: list[Atoms] | None = None
                 ) -> PreparedData:
    """Read (unless given), validate and split the data of ``config``; build the graphs."""
    data = config.data
    keys = LabelKeys(energy=data.energy_key, forces=data.forces_key, stress=data.stress_key,
                     dipole=data.dipole_key, polarizability=data.polarizability_key)
    given = structures
    source = data.train if given is None else "the training structures given"
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
    train_graphs = structures_to_graphs(train, cutoff, dtype, progress)
    # name a structure by its index in the file (nnpkit_source_index), or in the list given
    position = {id(atoms): k for k, atoms in enumerate(structures)}
    check_response_labels(train_graphs, config, source, [
        int(atoms.info.get("nnpkit_source_index", position[id(atoms)]))
        if given is None else position[id(atoms)] for atoms in train])
    return PreparedData(
        train=train_graphs,
        validation=structures_to_graphs(validation, cutoff, dtype, progress),
        test=structures_to_graphs(held_out, cutoff, dtype, progress),
        statistics=statistics,
    )
