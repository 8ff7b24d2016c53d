"""Data-parallel training with PyTorch DDP through ``torchrun`` (gloo on CPU, nccl on GPU).

``nnpkit train CONFIG --distributed`` calls :func:`train_distributed`: outside ``torchrun``
it starts ``torchrun --standalone --nproc-per-node N -m nnpkit.training.distributed CONFIG``;
inside (``RANK``/``WORLD_SIZE`` set, e.g. under ``torchrun`` or a SLURM launcher) each
process runs :func:`fit_distributed`, i.e. :func:`nnpkit.training.fit` with a
:class:`DistributedContext`:

- every process builds the same model (same seed) and reads the same data;
- each global batch of ``training.batch_size`` structures (the single-process batch) is
  split across the processes, DistributedDataParallel averages the gradients, so every
  optimiser step sees the same batch as one process would (up to the ≤ N-1 structures per
  epoch trimmed so the processes get equal shares): the validation error agrees with a
  single-process run within noise;
- rank 0 alone writes the run directory, and decides when to stop (broadcast to all).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nnpkit.data.graph import AtomicGraph
from nnpkit.derivatives import compute_properties
from nnpkit.errors import ConfigError, TrainingError
from nnpkit.models.potential import Potential

__all__ = ["DistributedContext", "fit_distributed", "train_distributed", "in_torchrun"]


class _PropertiesModule(torch.nn.Module):
    """``forward`` = :func:`compute_properties` of the wrapped potential (what DDP wraps)."""

    def __init__(self, model: Potential) -> None:
        super().__init__()
        self.model = model

    def forward(self, graph: AtomicGraph, forces: bool, stress: bool,
                create_graph: bool) -> dict[str, torch.Tensor]:
        return compute_properties(self.model, graph, forces=forces, stress=stress,
                                  create_graph=create_graph)


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a torch.distributed process group.

    Attributes:
        rank: global rank, 0..world_size-1.
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU).
        device: this process's torch device.
    """

    rank: int
    world_size: int
    local_rank: int
    device: str

    @property
    def is_main(self) -> bool:
        """Rank 0, the process that writes files and decides when to stop."""
        return self.rank == 0

    def trim(self, order: torch.Tensor) -> torch.Tensor:
        """An epoch's order cut to a multiple of world_size (equal shares per process)."""
        return order[: len(order) - len(order) % self.world_size]

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch of structure indices."""
        return batch[self.rank::self.world_size]

    def wrap(self, model: Potential) -> torch.nn.Module:
        """A DistributedDataParallel module whose forward computes the model's properties.

        ``find_unused_parameters``: a process's share may lack an element, leaving that
        element's network without a gradient on that process.
        """
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(_PropertiesModule(model), device_ids=device_ids,
                                       find_unused_parameters=True)

    def agree(self, value: Any) -> Any:
        """Rank 0's ``value`` on every process (e.g. the stop decision)."""
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]


def in_torchrun() -> bool:
    """Whether this process was started by torchrun (or another launcher setting RANK)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _init_process_group(device: str) -> DistributedContext:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"training.device={device!r} but CUDA is not available")
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    return DistributedContext(rank, world, local_rank, device)


def fit_distributed(config_source: str | os.PathLike | dict,
                    overrides: list[str] | None = None, resume: bool = False) -> Any:
    """Run this process's part of a DDP training (call it in every torchrun process).

    Returns:
        The :class:`~nnpkit.training.FitResult` (test metrics only on rank 0).
    """
    from nnpkit.training.config import load_config
    from nnpkit.training.trainer import fit

    config = load_config(config_source, overrides)
    context = _init_process_group(config.training.device)
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
    from nnpkit.training.config import load_config

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
                   f"--nproc-per-node={nproc}", "-m", "nnpkit.training.distributed",
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
    """``python -m nnpkit.training.distributed CONFIG [--set K=V] [--resume]`` (per rank)."""
    parser = argparse.ArgumentParser(description="one torchrun process of nnpkit training")
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    fit_distributed(args.config, args.set, args.resume)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
