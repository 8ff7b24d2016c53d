"""Launching DDP training: ``torchrun`` processes that each run :func:`~nnpkit.training.fit`.

``nnpkit train CONFIG --distributed`` calls :func:`train_distributed`: outside ``torchrun``
it starts ``torchrun --standalone --nproc-per-node N -m nnpkit.training.launch CONFIG``;
inside (``RANK``/``WORLD_SIZE`` set, e.g. under ``torchrun`` or a SLURM launcher) each
process runs :func:`fit_distributed`, i.e. :func:`nnpkit.training.fit` with a
:class:`~nnpkit.training.distributed.DistributedContext`. How the processes share each
batch so that training matches a single process is described in
:mod:`nnpkit.training.distributed`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nnpkit.errors import ConfigError, TrainingError
from nnpkit.training.config import load_config
from nnpkit.training.distributed import in_torchrun, init_context
from nnpkit.training.trainer import FitResult, fit

__all__ = ["fit_distributed", "train_distributed", "main"]


def fit_distributed(config_source: str | os.PathLike | dict,
                    overrides: list[str] | None = None, resume: bool = False) -> FitResult:
    """Run this process's part of a DDP training (call it in every torchrun process).

    Returns:
        The :class:`~nnpkit.training.FitResult` (test metrics only on rank 0).
    """
    config = load_config(config_source, overrides)
    context = init_context(config.training.device)
    training = config.training.model_copy(update={
        "device": context.device, "progress": config.training.progress and context.is_main})
    try:
        with warnings.catch_warnings():
            # DDP's bucket-layout hint for the [1, H] output layers: harmless, only noise
            warnings.filterwarnings("ignore", message="Grad strides do not match")
            result = fit(config.model_copy(update={"training": training}), resume=resume,
                         distributed=context)
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()
    return result


def train_distributed(config_path: str | os.PathLike, overrides: Sequence[str] = (),
                      nproc: int = 2, resume: bool = False) -> dict[str, Any]:
    """Train with DDP on ``nproc`` processes; what ``nnpkit train --distributed`` calls.

    Inside torchrun this process trains its share; otherwise torchrun is started with
    ``nproc`` processes on this machine and waited for.

    Returns:
        ``{"run_dir", "world_size", "epochs", "stop_reason", "test"}`` from the run
        directory's ``metrics.json``.

    Raises:
        ConfigError: ``nproc`` < 1, or the config is invalid.
        TrainingError: a training process failed (its exit code is named).
    """
    config = load_config(config_path, list(overrides))  # fail early on a bad config
    if in_torchrun():
        result = fit_distributed(config_path, list(overrides), resume)
        world = int(os.environ["WORLD_SIZE"])
        if int(os.environ["RANK"]) != 0:
            return {"run_dir": str(result.run_dir), "world_size": world}
    else:
        if nproc < 1:
            raise ConfigError(f"--nproc must be >= 1, got {nproc}")
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={nproc}", "-m", "nnpkit.training.launch",
                   os.fspath(config_path)]
        for override in overrides:
            command += ["--set", override]
        if resume:
            command.append("--resume")
        completed = subprocess.run(command, check=False)
        if completed.returncode != 0:
            raise TrainingError(f"distributed training failed (torchrun exit code "
                                f"{completed.returncode}); see the messages above")
        world = nproc
    summary = json.loads((Path(config.output) / "metrics.json").read_text())
    return {"run_dir": config.output, "world_size": world, "epochs": summary["epochs"],
            "stop_reason": summary["stop_reason"], "test": summary["test"]}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nnpkit.training.launch CONFIG [--set K=V] [--resume]`` (per rank)."""
    parser = argparse.ArgumentParser(description="one torchrun process of nnpkit training")
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    fit_distributed(args.config, args.set, args.resume)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
