"""The three entry points of ``nnpkit stability``: build a dataset, train, predict."""

from __future__ import annotations

import os
from collections.abc import Callable

from ase.calculators.calculator import Calculator

from nnpkit.apps.stability.config import StabilityDatasetConfig
from nnpkit.apps.stability.dataset import build_dataset
from nnpkit.apps.stability.model import StabilityModel
from nnpkit.data.io import STRUCTURE_FILE_ERRORS
from nnpkit.errors import DataError

__all__ = ["dataset_from_config", "predict_file"]


def _calculator_factory(method: str) -> Callable[[], Calculator] | None:
    """None for EMT (the dataset's default); otherwise a trained nnpkit potential."""
    if method.lower() == "emt":
        return None
    from nnpkit.calculators import load_calculator

    load_calculator(method)  # fail early, naming the path, if it is not a model
    return lambda: load_calculator(method)


def dataset_from_config(config: StabilityDatasetConfig) -> dict:
    """Build, label and save the alloy dataset; returns a JSON-ready summary."""
    dataset = build_dataset(
        elements=tuple(config.elements), max_species=config.max_species,
        method="emt", threshold_eV_per_atom=config.threshold_eV_per_atom, seed=config.seed,
        progress=config.progress, calculator_factory=_calculator_factory(config.method),
        include_unconverged=config.include_unconverged)
    dataset.save(config.output)
    return {"output": config.output, "method": config.method, **dataset.to_json_summary()}


def predict_file(model: str | os.PathLike, structures: str | os.PathLike) -> list[dict]:
    """Per structure of an ASE-readable file: formula, probability stable, predicted label."""
    from ase.io import read

    stability = StabilityModel.load(model)
    if not os.path.isfile(structures):
        raise DataError(f"structure file not found: {structures}")
    try:
        frames = read(os.fspath(structures), index=":")
    except STRUCTURE_FILE_ERRORS as error:  # what ASE raises for a bad file
        raise DataError(f"{structures}: cannot read structures ({error})") from error
    frames = frames if isinstance(frames, list) else [frames]
    probability = stability.predict_proba(frames)
    return [{"index": i, "formula": atoms.get_chemical_formula(),
             "probability_stable": float(p), "stable": bool(p >= stability.decision_threshold)}
            for i, (atoms, p) in enumerate(zip(frames, probability, strict=True))]
