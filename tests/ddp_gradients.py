"""Test harness shared by the DDP tests: one epoch's loss and the gradient of its last
batch, in one process and split over 2 gloo ranks (an SGD step with lr 0 keeps the
weights, so the gradients left after the epoch are those of its last batch)."""

from __future__ import annotations

import socket
from pathlib import Path

import torch

from nnpkit.data.graph import AtomicGraph
from nnpkit.models.registry import build_model
from nnpkit.training.config import RunConfig
from nnpkit.training.distributed import DistributedContext
from nnpkit.training.trainer import _train_epoch


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def epoch_gradient(config: RunConfig, elements: list[str], state: dict,
                   graphs: list[AtomicGraph], batch_size: int,
                   context: DistributedContext | None) -> tuple[float, torch.Tensor]:
    """The loss of one epoch over ``graphs`` in order and the gradient of its last batch."""
    config = config.model_copy(deep=True)
    config.training.batch_size = batch_size
    model = build_model(config.model, elements).double()
    model.load_state_dict(state)
    parallel = None if context is None else (context, context.wrap(model))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss = _train_epoch(model, None, optimizer, graphs, torch.arange(len(graphs)), config,
                        parallel)
    gradient = torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                          for p in model.parameters()])
    return loss, gradient


def _rank(rank: int, port: int, config: RunConfig, elements: list[str], state: dict,
          graphs: list[AtomicGraph], batch_sizes: dict[str, int], out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                         rank=rank, world_size=2)
    try:
        context = DistributedContext(rank, 2, rank, "cpu")
        results = {name: epoch_gradient(config, elements, state, graphs, size, context)
                   for name, size in batch_sizes.items()}
    finally:
        torch.distributed.destroy_process_group()
    torch.save(results, Path(out) / f"rank{rank}.pt")


def two_rank_gradients(config: RunConfig, elements: list[str], state: dict,
                       graphs: list[AtomicGraph], batch_sizes: dict[str, int],
                       out: Path) -> list[dict[str, tuple[float, torch.Tensor]]]:
    """:func:`epoch_gradient` for each named batch size on each of 2 gloo ranks."""
    torch.multiprocessing.spawn(_rank, args=(free_port(), config, elements, state, graphs,
                                             batch_sizes, str(out)), nprocs=2, join=True)
    return [torch.load(out / f"rank{rank}.pt") for rank in range(2)]
