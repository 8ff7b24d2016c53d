"""Data-parallel training with PyTorch DDP (gloo on CPU, nccl on GPU): the process context.

This module holds what the trainer needs inside each process: :class:`DistributedContext`
(this rank's share of a batch, the DDP-wrapped model, the agreement on when to stop) and
:func:`init_context`. Starting processes (``torchrun``) and running :func:`~nnpkit.training.fit`
in each is :mod:`nnpkit.training.launch`, which imports the trainer; this module does not.

How a DDP step reproduces the single-process step:

- every process builds the same model (same seed), reads the same data and shuffles the
  epoch with the same generator, so all see the same global batches of
  ``training.batch_size`` structures (the single-process batches, nothing trimmed);
- each process evaluates its share of the batch (round-robin, so shares may differ by one
  structure and in atom counts) and divides its squared errors by the label counts of
  the *whole* global batch (:func:`~nnpkit.training.loss.weighted_loss` with
  ``normalization``), so the shares' losses add up to the single-process batch loss;
- DDP averages the gradients over the processes; each process multiplies its loss by
  ``world_size`` first, so the average is the gradient of that sum, i.e. the
  single-process gradient (to float rounding);
- a process whose share is empty (a last batch smaller than ``world_size``) evaluates the
  batch's first structure with weight 0, so that it still joins DDP's gradient all-reduce;
- the logged training loss is the sum over processes (:meth:`DistributedContext.sum`);
- rank 0 alone writes the run directory, and decides when to stop (broadcast to all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from nnpkit.data.graph import AtomicGraph
from nnpkit.derivatives import compute_properties
from nnpkit.errors import ConfigError
from nnpkit.models.potential import Potential

__all__ = ["DistributedContext", "in_torchrun", "init_context"]


class _PropertiesModule(torch.nn.Module):
    """``forward`` = :func:`compute_properties` of the wrapped potential (what DDP wraps)."""

    def __init__(self, model: Potential) -> None:
        super().__init__()
        self.model = model

    def forward(self, graph: AtomicGraph, forces: bool, stress: bool, create_graph: bool,
                dipole: bool = False, polarizability: bool = False
                ) -> dict[str, torch.Tensor]:
        return compute_properties(self.model, graph, forces=forces, stress=stress,
                                  create_graph=create_graph, dipole=dipole,
                                  polarizability=polarizability)


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

    def share(self, batch: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This process's share of a global batch of structure indices, and its loss factor.

        Returns:
            ``(indices, factor)``: every ``world_size``-th index from ``rank`` and
            ``factor = world_size`` (undoes DDP's averaging of the gradients); for an
            empty share, the batch's first index and ``factor = 0`` (a placeholder that
            only takes part in the all-reduce).
        """
        mine = batch[self.rank::self.world_size]
        if len(mine) == 0:
            return batch[:1], 0.0
        return mine, float(self.world_size)

    def wrap(self, model: Potential) -> torch.nn.Module:
        """A DistributedDataParallel module whose forward computes the model's properties.

        ``find_unused_parameters``: a process's share may lack an element, leaving that
        element's network without a gradient on that process.
        """
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(_PropertiesModule(model), device_ids=device_ids,
                                       find_unused_parameters=True)

    def sum(self, value: float) -> float:
        """The sum of ``value`` over all processes (float64 all-reduce)."""
        device = self.device if self.device.startswith("cuda") else "cpu"
        box = torch.tensor([value], dtype=torch.float64, device=device)
        torch.distributed.all_reduce(box)
        return float(box.item())

    def agree(self, value: Any) -> Any:
        """Rank 0's ``value`` on every process (e.g. the stop decision)."""
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]


def in_torchrun() -> bool:
    """Whether this process was started by torchrun (or another launcher setting RANK)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_context(device: str) -> DistributedContext:
    """Join the process group that ``RANK``/``WORLD_SIZE``/``MASTER_*`` describe.

    Args:
        device: ``training.device``; ``cuda`` becomes ``cuda:<LOCAL_RANK>`` (nccl),
            anything else uses gloo.

    Raises:
        ConfigError: a CUDA device is asked for but CUDA is not available.
    """
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
