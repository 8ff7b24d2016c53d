"""Gaussian noise for the stochastic integrators: per-replica counters or one torch Generator.

:class:`CounterNoise` (the default) makes the noise of atom ``i`` of replica ``b`` at step
``t`` a pure function of ``(seed_b, t, stream, i)``: outputs of SplitMix64 (Steele, Lea &
Flood, OOPSLA 2014; Java's ``SplittableRandom``) indexed by those counters, and the
Box–Muller transform. So a replica follows the same trajectory alone or in any batch,
and a run can be restarted from its step count. On the CPU the integer part (hashing,
the two uniforms) is one numba kernel (:func:`counter_uniforms`) and the transform is four
torch operations; elsewhere, and as the reference, all of it is element-wise torch
operations (:func:`splitmix64` on int64). Both give the same bits: the uniforms are exact
in either, and the transform is the same torch calls (torch's ``log``, ``sqrt`` and ``cos``
are not libm's, so the transform stays in torch).
:class:`GeneratorNoise` draws everything from one seeded :class:`torch.Generator` (one
``randn`` call per step): a replica's noise then depends on the batch.

Streams keep the uses apart: :data:`STREAM_LANGEVIN` for the atoms' Ornstein–Uhlenbeck
step, :data:`STREAM_BAROSTAT` for the cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from numba import njit

__all__ = ["CounterNoise", "GeneratorNoise", "NoiseSource", "STREAM_LANGEVIN",
           "STREAM_BAROSTAT", "splitmix64", "counter_uniforms"]

STREAM_LANGEVIN = 1
STREAM_BAROSTAT = 2

# SplitMix64 constants as signed int64 (torch has no uint64 arithmetic); sums and
# products wrap modulo 2^64 as for uint64.
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB
_MASK = {k: (1 << (64 - k)) - 1 for k in (27, 30, 31, 32)}
# the same constants as uint64 for the numba kernel
_GOLDEN_U64 = np.uint64(0x9E3779B97F4A7C15)
_MIX1_U64 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2_U64 = np.uint64(0x94D049BB133111EB)
_LOW32_U64 = np.uint64(0xFFFFFFFF)
_TWO_PI = 2.0 * math.pi
_TWO_TO_MINUS_32 = 2.0**-32


def _shift_right(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (x >> k) & _MASK[k]


def splitmix64(x: torch.Tensor) -> torch.Tensor:
    """The SplitMix64 output function of ``x + golden`` (int64 in, int64 out, bijective)."""
    z = x + _GOLDEN
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


@njit(cache=True, inline="always")
def _splitmix64_u64(x):  # noqa: ANN001, ANN202
    """:func:`splitmix64` of one uint64 (numba; uint64 arithmetic wraps)."""
    z = x + _GOLDEN_U64
    z = (z ^ (z >> np.uint64(30))) * _MIX1_U64
    z = (z ^ (z >> np.uint64(27))) * _MIX2_U64
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def counter_uniforms(seed_keys, step_offset, key_index, offsets, upper,
                     angle):  # noqa: ANN001, ANN201
    """The two Box–Muller inputs of every counter, written into ``upper`` and ``angle``.

    Args:
        seed_keys: replica seeds [B], uint64.
        step_offset: ``(4 t + stream) · golden`` mod 2^64, uint64.
        key_index: the replica of each output [M], int64.
        offsets: ``counter · golden`` mod 2^64 of each output [M], uint64.
        upper: out [M], float64: ``(hi32 + 0.5) 2^-32`` in (0, 1).
        angle: out [M], float64: ``2π · lo32 2^-32`` in [0, 2π).
    """
    keys = np.empty(seed_keys.shape[0], dtype=np.uint64)
    for b in range(seed_keys.shape[0]):
        keys[b] = _splitmix64_u64(seed_keys[b] + step_offset)
    for m in range(key_index.shape[0]):
        hashed = _splitmix64_u64(keys[key_index[m]] + offsets[m])
        upper[m] = (np.float64(hashed >> np.uint64(32)) + 0.5) * _TWO_TO_MINUS_32
        angle[m] = _TWO_PI * (np.float64(hashed & _LOW32_U64) * _TWO_TO_MINUS_32)


def _box_muller(upper: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``sqrt(-2 log u) cos(angle)`` [M], float64 (torch's functions in both paths)."""
    return torch.log(upper).mul_(-2.0).sqrt_().mul_(torch.cos(angle))


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
        compiled: make the uniforms with the numba kernel (:func:`counter_uniforms`);
            None: on the CPU. False: element-wise torch (the reference; any device). The
            two give identical numbers.
    """

    def __init__(self, seeds: Sequence[int], device: str | torch.device = "cpu",
                 compiled: bool | None = None) -> None:
        self.device = torch.device(device)
        if compiled and self.device.type != "cpu":
            raise ValueError(f"the compiled counter noise runs on the CPU, not {self.device}")
        self.compiled = self.device.type == "cpu" if compiled is None else bool(compiled)
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
        upper = (_shift_right(hashed, 32).double() + 0.5) * _TWO_TO_MINUS_32  # (0, 1)
        lower = (hashed & 0xFFFFFFFF).double() * _TWO_TO_MINUS_32  # [0, 1)
        return _box_muller(upper, _TWO_PI * lower)

    def _step_keys(self, step: int, stream: int) -> torch.Tensor:
        """Per-replica keys for this step and stream [B]."""
        return splitmix64(self.seed_keys + _wrap((4 * int(step) + int(stream)) * _GOLDEN))

    def _compiled_normal(self, step: int, stream: int, key_index: torch.Tensor,
                         offsets: torch.Tensor) -> torch.Tensor:
        """:meth:`_normal` of the step keys gathered by ``key_index`` [M], via the kernel."""
        size = key_index.shape[0]
        upper, angle = np.empty(size), np.empty(size)
        step_offset = np.uint64(((4 * int(step) + int(stream)) * _GOLDEN) % 2**64)
        counter_uniforms(self.seed_keys.numpy().view(np.uint64), step_offset,
                         key_index.numpy(), offsets.numpy().view(np.uint64), upper, angle)
        return _box_muller(torch.from_numpy(upper), torch.from_numpy(angle))

    def atoms(self, step: int, stream: int, dtype: torch.dtype) -> torch.Tensor:
        assert self._replica3 is not None and self._counters3 is not None, "call bind() first"
        if self.compiled:
            values = self._compiled_normal(step, stream, self._replica3, self._counters3)
        else:
            keys = self._step_keys(step, stream)[self._replica3]  # [3N]
            values = self._normal(keys, self._counters3)
        return values.view(-1, 3).to(dtype)

    def replicas(self, step: int, stream: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        n_replicas = self.seed_keys.shape[0]
        offsets = torch.arange(width, device=self.device) * _GOLDEN  # [k]
        if self.compiled:
            key_index = torch.arange(n_replicas).repeat_interleave(width)  # [B k]
            values = self._compiled_normal(step, stream, key_index, offsets.repeat(n_replicas))
            return values.view(n_replicas, width).to(dtype)
        keys = self._step_keys(step, stream)  # [B]
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
