"""Gaussian noise for the stochastic integrators: per-replica counters or one torch Generator.

:class:`CounterNoise` (the default) makes the noise of atom ``i`` of replica ``b`` at step
``t`` a pure function of ``(seed_b, t, stream, i)``: outputs of SplitMix64 (Steele, Lea &
Flood, OOPSLA 2014; Java's ``SplittableRandom``) indexed by those counters, and the
Box–Muller transform. So a replica follows the same trajectory alone or in any batch,
and a run can be restarted from its step count; it costs about 25 element-wise tensor
operations per step, with no loop over replicas or atoms.
:class:`GeneratorNoise` draws everything from one seeded :class:`torch.Generator` (one
``randn`` call per step): cheapest, but a replica's noise then depends on the batch.

Streams keep the uses apart: :data:`STREAM_LANGEVIN` for the atoms' Ornstein–Uhlenbeck
step, :data:`STREAM_BAROSTAT` for the cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["CounterNoise", "GeneratorNoise", "NoiseSource", "STREAM_LANGEVIN",
           "STREAM_BAROSTAT", "splitmix64"]

STREAM_LANGEVIN = 1
STREAM_BAROSTAT = 2

# SplitMix64 constants as signed int64 (torch has no uint64 arithmetic); sums and
# products wrap modulo 2^64 as for uint64.
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB
_MASK = {k: (1 << (64 - k)) - 1 for k in (27, 30, 31, 32)}


def _shift_right(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (x >> k) & _MASK[k]


def splitmix64(x: torch.Tensor) -> torch.Tensor:
    """The SplitMix64 output function of ``x + golden`` (int64 in, int64 out, bijective)."""
    z = x + _GOLDEN
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


class NoiseSource:
    """Standard normal numbers for the atoms [N, 3] and for the replicas [B, k]."""

    def bind(self, batch: torch.Tensor, n_replicas: int) -> None:
        """Precompute what :meth:`atoms` needs for this batch layout (batch [N])."""
        raise NotImplementedError

    def atoms(self, step: int, stream: int, dtype: torch.dtype) -> torch.Tensor:
        """Noise [N, 3] for the atoms bound with :meth:`bind`."""
        raise NotImplementedError

    def replicas(self, step: int, stream: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        """Noise [B, width], one row per replica."""
        raise NotImplementedError


def _wrap(value: int) -> int:
    """A Python integer as the int64 with the same low 64 bits."""
    return ((value + 2**63) % 2**64) - 2**63


class CounterNoise(NoiseSource):
    """Counter-based noise, reproducible per replica (see the module docstring).

    Replica b's key for step t and stream s is output ``t·4 + s`` of the SplitMix64 stream
    seeded with its seed; its atom component ``c = 3 i + axis`` gets output ``c`` of the
    stream seeded with that key, whose upper and lower 32 bits are the two uniforms of
    Box–Muller (so the normals are cut at 6.7 σ: probability 3e-11).

    Args:
        seeds: one integer seed per replica [B].
        device: where the noise is made.
    """

    def __init__(self, seeds: Sequence[int], device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.seed_keys = torch.tensor([_wrap(int(s)) for s in seeds], dtype=torch.long,
                                      device=self.device)  # [B]
        self._replica3: torch.Tensor | None = None
        self._counters3: torch.Tensor | None = None

    def bind(self, batch: torch.Tensor, n_replicas: int) -> None:
        if n_replicas != self.seed_keys.shape[0]:
            raise ValueError(f"{self.seed_keys.shape[0]} seeds for {n_replicas} replicas")
        batch = batch.to(self.device)
        first = torch.searchsorted(batch, torch.arange(n_replicas, device=self.device))  # [B]
        local = torch.arange(batch.shape[0], device=self.device) - first[batch]  # [N]
        self._replica3 = batch.repeat_interleave(3)  # [3N]
        component = (3 * local[:, None] + torch.arange(3, device=self.device)).reshape(-1)
        self._counters3 = component * _GOLDEN  # [3N], the stream's offsets

    @staticmethod
    def _normal(keys: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Box–Muller on the two 32-bit halves of one SplitMix64 output: [M] float64."""
        hashed = splitmix64(keys + offsets)
        upper = (_shift_right(hashed, 32).double() + 0.5) * 2.0**-32  # (0, 1)
        lower = (hashed & 0xFFFFFFFF).double() * 2.0**-32  # [0, 1)
        return torch.sqrt(-2.0 * torch.log(upper)) * torch.cos((2.0 * math.pi) * lower)

    def _step_keys(self, step: int, stream: int) -> torch.Tensor:
        """Per-replica keys for this step and stream [B]."""
        return splitmix64(self.seed_keys + _wrap((4 * int(step) + int(stream)) * _GOLDEN))

    def atoms(self, step: int, stream: int, dtype: torch.dtype) -> torch.Tensor:
        assert self._replica3 is not None and self._counters3 is not None, "call bind() first"
        keys = self._step_keys(step, stream)[self._replica3]  # [3N]
        return self._normal(keys, self._counters3).reshape(-1, 3).to(dtype)

    def replicas(self, step: int, stream: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        keys = self._step_keys(step, stream)  # [B]
        offsets = torch.arange(width, device=self.device) * _GOLDEN  # [k]
        return self._normal(keys[:, None], offsets[None, :]).to(dtype)  # [B, k]


class GeneratorNoise(NoiseSource):
    """All noise from one seeded :class:`torch.Generator` (fast; depends on the batch).

    Args:
        seed: the generator's seed.
        device: where the noise is made (the generator lives there).
    """

    def __init__(self, seed: int, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))
        self._n_atoms = 0
        self._n_replicas = 0

    def bind(self, batch: torch.Tensor, n_replicas: int) -> None:
        self._n_atoms, self._n_replicas = int(batch.shape[0]), int(n_replicas)

    def atoms(self, step: int, stream: int, dtype: torch.dtype) -> torch.Tensor:
        return torch.randn(self._n_atoms, 3, generator=self.generator, dtype=dtype,
                           device=self.device)

    def replicas(self, step: int, stream: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        return torch.randn(self._n_replicas, width, generator=self.generator, dtype=dtype,
                           device=self.device)
