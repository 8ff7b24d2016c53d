"""Atomic file writes (layer 0): a reader or a crash never sees half a file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "remove_stale_temporaries"]


_SUFFIX = ".tmp"


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)``, flush it to disk, then move it onto ``path`` atomically.

    The temporary file lives in the target's directory (created if missing), so the final
    :func:`os.replace` is atomic; on any error the temporary file is removed and an existing
    ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` left in ``directory``
    (``.<name>.<random>.tmp``): a process killed between creating one and moving it into
    place (SIGKILL, power loss) cannot remove it itself. Call it only where no other
    process is writing into ``directory``. Returns the removed paths."""
    removed = sorted(Path(directory).glob(f".*{_SUFFIX}"))
    for stale in removed:
        stale.unlink(missing_ok=True)
    return removed
