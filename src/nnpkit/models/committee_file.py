"""The committee file: ``committee.json`` naming member model files (layer 2).

Written by :func:`nnpkit.training.committee.fit_committee`::

    {"format": "nnpkit-committee", "format_version": 1,
     "members": ["member_0/model.nnp", ...], "seeds": [0, 1, ...], "bootstrap": false}

Member paths are relative to the JSON file, so a committee directory can be moved.
Loading reads JSON and model files only (no code, no training imports).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from nnpkit.errors import ModelFileError
from nnpkit.file_writes import atomic_write
from nnpkit.models.committee import Committee
from nnpkit.models.model_file import load_model

__all__ = ["COMMITTEE_FILENAME", "committee_file", "load_committee", "write_committee_file"]

COMMITTEE_FILENAME = "committee.json"
COMMITTEE_FORMAT = "nnpkit-committee"
COMMITTEE_FORMAT_VERSION = 1


def write_committee_file(run_dir: str | os.PathLike, member_paths: list[Path],
                         seeds: list[int], bootstrap: bool) -> Path:
    """Write ``<run_dir>/committee.json`` (atomically) for the given member model files."""
    run_dir = Path(run_dir)
    document = {
        "format": COMMITTEE_FORMAT, "format_version": COMMITTEE_FORMAT_VERSION,
        "members": [Path(path).relative_to(run_dir).as_posix() for path in member_paths],
        "seeds": list(seeds), "bootstrap": bootstrap,
    }
    committee_path = run_dir / COMMITTEE_FILENAME
    text = json.dumps(document, indent=2)
    atomic_write(committee_path, lambda tmp: Path(tmp).write_text(text))
    return committee_path


def committee_file(path: str | os.PathLike) -> Path | None:
    """The ``committee.json`` that ``path`` names (the file or its directory), else None."""
    path = Path(path)
    if path.is_dir():
        path = path / COMMITTEE_FILENAME
    return path if path.name.endswith(".json") and path.is_file() else None


def load_committee(path: str | os.PathLike, device: str | torch.device = "cpu",
                   dtype: torch.dtype | None = None) -> Committee:
    """Load a committee from its ``committee.json`` or the directory holding it.

    Each member is read with :func:`~nnpkit.models.model_file.load_model` (safe: no code
    is executed). Returns a :class:`Committee` in eval mode on ``device``, in ``dtype``
    (default: the members' stored precision).

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
            model = load_model(member_path, device=device, dtype=dtype)
        except ModelFileError as error:
            raise ModelFileError(f"{json_path}: committee member {index}: {error}") from error
        members.append(model)
        sources.append(str(member_path))
    try:
        committee = Committee(members, sources)
    except ModelFileError as error:
        raise ModelFileError(f"{json_path}: {error}") from error
    return committee.eval()
