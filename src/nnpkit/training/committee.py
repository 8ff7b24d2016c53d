"""Committees: train N members with one call, and load them back.

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
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from nnpkit.atomic import atomic_write
from nnpkit.errors import ConfigError, ModelFileError
from nnpkit.models.committee import Committee
from nnpkit.training.config import RunConfig
from nnpkit.training.dataset import PreparedData, prepare_data
from nnpkit.training.model_file import MODEL_FILENAME, load_model
from nnpkit.training.trainer import FitResult, fit

__all__ = ["COMMITTEE_FILENAME", "CommitteeResult", "fit_committee", "load_committee",
           "committee_file"]

COMMITTEE_FILENAME = "committee.json"
COMMITTEE_FORMAT = "nnpkit-committee"
COMMITTEE_FORMAT_VERSION = 1


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
    document = {
        "format": COMMITTEE_FORMAT, "format_version": COMMITTEE_FORMAT_VERSION,
        "members": [path.relative_to(run_dir).as_posix() for path in member_paths],
        "seeds": [config.training.seed + k for k in range(n_members)],
        "bootstrap": bootstrap,
    }
    committee_path = run_dir / COMMITTEE_FILENAME
    text = json.dumps(document, indent=2)
    atomic_write(committee_path, lambda tmp: Path(tmp).write_text(text))
    return CommitteeResult(run_dir, committee_path, member_paths, metrics, skipped)


def committee_file(path: str | os.PathLike) -> Path | None:
    """The ``committee.json`` that ``path`` names (the file or its directory), else None."""
    path = Path(path)
    if path.is_dir():
        path = path / COMMITTEE_FILENAME
    return path if path.name.endswith(".json") and path.is_file() else None


def load_committee(path: str | os.PathLike, device: str | torch.device = "cpu") -> Committee:
    """Load a committee from its ``committee.json`` or the directory holding it.

    Each member is read with :func:`~nnpkit.training.model_file.load_model` (safe: no code
    is executed). Returns a float32 :class:`Committee` in eval mode on ``device``.

    Raises:
        ModelFileError: no committee file, a malformed one, a missing or invalid member
            file, or members that disagree on elements or cutoff (naming the member).
    """
    json_path = committee_file(path)
    if json_path is None:
        raise ModelFileError(f"no {COMMITTEE_FILENAME} at {path}")
    try:
        document = json.loads(json_path.read_text())
    except (OSError, ValueError) as error:
        raise ModelFileError(f"{json_path}: not a readable committee file ({error})") from error
    if not isinstance(document, dict) or document.get("format") != COMMITTEE_FORMAT:
        raise ModelFileError(f"{json_path}: not an nnpkit committee file")
    if document.get("format_version") != COMMITTEE_FORMAT_VERSION:
        raise ModelFileError(f"{json_path}: unknown committee format version "
                             f"{document.get('format_version')!r}")
    entries = document.get("members")
    if not isinstance(entries, list) or not entries:
        raise ModelFileError(f"{json_path}: 'members' must be a non-empty list of model files")
    members, sources = [], []
    for index, entry in enumerate(entries):
        member_path = json_path.parent / str(entry)
        try:
            model, _ = load_model(member_path, device=device)
        except ModelFileError as error:
            raise ModelFileError(f"{json_path}: committee member {index}: {error}") from error
        members.append(model)
        sources.append(str(member_path))
    try:
        committee = Committee(members, sources)
    except ModelFileError as error:
        raise ModelFileError(f"{json_path}: {error}") from error
    return committee.eval()
