"""The training set's statistics with the reference energies that ``statistics`` asks for."""

from __future__ import annotations

from collections.abc import Sequence

from ase import Atoms

from nnpkit.data.stats import DatasetStatistics, fit_statistics, present_elements
from nnpkit.training.config import StatisticsConfig

__all__ = ["training_statistics"]


def training_statistics(structures: Sequence[Atoms], config: StatisticsConfig
                        ) -> DatasetStatistics:
    """Dataset statistics of the training split, references per ``config``.

    ``fit``: least squares on the training energies; ``{symbol: eV}``: those values;
    ``isolated_atoms``: the free atoms computed with ``config.reference_method`` (see
    :mod:`nnpkit.labeling.isolated_atoms`). The source is recorded in the statistics
    (and so in the model file).
    """
    choice = config.reference_energies
    if choice == "fit":
        return fit_statistics(structures)
    if isinstance(choice, dict):
        return fit_statistics(structures, reference_energies_eV=choice,
                              reference_source="given")
    from nnpkit.labeling.isolated_atoms import isolated_atom_energies
    from nnpkit.labeling.methods import parse_method

    assert config.reference_method is not None  # the config validator ensures it
    method = parse_method(config.reference_method, **config.reference_method_options)
    energies = isolated_atom_energies(method, present_elements(structures))
    return fit_statistics(structures, reference_energies_eV=energies,
                          reference_source=f"isolated_atoms:{method.name}")
