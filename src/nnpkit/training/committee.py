"""Committees: train N members with one call (loaded by :mod:`nnpkit.models.committee_file`).

``fit_committee(config, n_members)`` trains member k with seed ``training.seed + k`` into
``<output>/member_<k>/`` (each an ordinary run directory), on the same train/validation/
test split (that of ``training.seed``), optionally each on a bootstrap resample of the
training split, and then writes ``<output>/committee.json``::

    {"format": "nnpkit-committee", "format_version": 1,
     "members": ["member_0/model.nnp", ...], "seeds": [0, 1, ...], "bootstrap": false}

Member paths are relative to the JSON file, so a committee directory can be moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from nnpkit.errors import ConfigError
from nnpkit.models.committee_file import write_committee_file
from nnpkit.models.model_file import MODEL_FILENAME
from nnpkit.training.config import RunConfig
from nnpkit.training.dataset import PreparedData, prepare_data
from nnpkit.training.trainer import FitResult, fit

__all__ = ["CommitteeResult", "fit_committee"]


@dataclass
class CommitteeResult:
    """What :func:`fit_committee` produced.

    Attributes:
        run_dir: the committee directory (``config.output``).
        committee_path: its ``committee.json``.
        member_paths: the members' model files.
        test_metrics: each member's test metrics (from its ``metrics.json``).
        skipped: indices of members found finished and not retrained.
    """

    run_dir: Path
    committee_path: Path
    member_paths: list[Path]
    test_metrics: list[dict]
    skipped: list[int]


def _member_config(config: RunConfig, index: int) -> RunConfig:
    training = config.training.model_copy(update={"seed": config.training.seed + index})
    output = str(Path(config.output) / f"member_{index}")
    return config.model_copy(update={"training": training, "output": output})


def _bootstrap(data: PreparedData, seed: int) -> PreparedData:
    """The training split resampled with replacement (same size); other splits kept."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(data.train), size=len(data.train))
    return replace(data, train=[data.train[int(k)] for k in picks])


def fit_committee(config: RunConfig, n_members: int, bootstrap: bool = False
                  ) -> CommitteeResult:
    """Train a committee of ``n_members`` models of ``config`` and write ``committee.json``.

    Member k is trained with seed ``config.training.seed + k`` (initialisation and
    shuffling) into ``<output>/member_<k>/``; all members share the split of
    ``config.training.seed``, so their test sets agree. Resumable: a member whose
    ``model.nnp`` and ``metrics.json`` exist is skipped, one with only a checkpoint resumes.

    Args:
        config: the validated run config (``output`` becomes the committee directory).
        n_members: number of members, >= 2.
        bootstrap: train member k on a bootstrap resample (seeded by its seed) of the
            training split instead of the whole split.

    Raises:
        ConfigError: ``n_members`` < 2.
    """
    if n_members < 2:
        raise ConfigError(f"a committee needs at least 2 members, got {n_members}")
    run_dir = Path(config.output)
    dtype = torch.float64 if config.training.dtype == "float64" else torch.float32
    data: PreparedData | None = None
    member_paths, metrics, skipped = [], [], []
    for index in range(n_members):
        member = _member_config(config, index)
        member_dir = Path(member.output)
        model_path = member_dir / MODEL_FILENAME
        metrics_path = member_dir / "metrics.json"
        if model_path.is_file() and metrics_path.is_file():
            skipped.append(index)
        else:
            if data is None:
                data = prepare_data(config, dtype)
            member_data = _bootstrap(data, member.training.seed) if bootstrap else data
            result: FitResult = fit(member, resume=(member_dir / "checkpoint.pt").is_file(),
                                    data=member_data)
            model_path = result.model_path
        member_paths.append(model_path)
        metrics.append(json.loads(metrics_path.read_text())["test"])
    committee_path = write_committee_file(
        run_dir, member_paths, [config.training.seed + k for k in range(n_members)], bootstrap)
    return CommitteeResult(run_dir, committee_path, member_paths, metrics, skipped)
