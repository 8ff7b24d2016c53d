"""Multi-layer perceptrons."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "ACTIVATIONS"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "celu": nn.CELU,
    "softplus": nn.Softplus,
}


class MLP(nn.Sequential):
    """A feed-forward network ``in → hidden... → out`` with a smooth activation.

    Smooth activations keep forces (first derivatives) and their training gradients
    (second derivatives) continuous.
    """

    def __init__(
        self, in_features: int, hidden: Sequence[int], out_features: int = 1,
        activation: str = "silu",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {sorted(ACTIVATIONS)}")
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        layers.append(nn.Linear(width, out_features))
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return super().forward(x)
