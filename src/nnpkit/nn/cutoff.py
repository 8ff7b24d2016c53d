"""Smooth cutoff functions f_c(r): 1 at r=0, 0 with zero slope at r=r_c."""

from __future__ import annotations

import math

import torch

__all__ = ["cosine_cutoff"]


def cosine_cutoff(distance: torch.Tensor, cutoff_radius: float) -> torch.Tensor:
    """Behler's cosine cutoff ``0.5 (cos(π r / r_c) + 1)`` for r < r_c, else 0.

    Args:
        distance: distances, any shape, Å.
        cutoff_radius: r_c, Å.

    Returns:
        Tensor of the same shape as ``distance``; continuous with a continuous first
        derivative at r_c, so forces are continuous.
    """
    inside = distance < cutoff_radius
    value = 0.5 * (torch.cos(distance * (math.pi / cutoff_radius)) + 1.0)
    return torch.where(inside, value, torch.zeros_like(value))
