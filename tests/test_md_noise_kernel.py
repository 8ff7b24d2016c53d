"""The numba counter-noise kernel gives exactly the bits of the torch reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnpkit.md.noise import CounterNoise, counter_uniforms, splitmix64

SHAPES = [[1], [9], [9, 3, 6], [1, 1, 1, 1, 1], [5, 2000, 1000]]
SEEDS = [[0], [7], [11, 22, 33], [2**63 - 1, -1, 0, 2**64 + 5, 12345], [3, -9, 2**40]]
STEPS = [0, 1, 7, 1000, 2**40 + 3]


def _pair(sizes: list[int], seeds: list[int]) -> tuple[CounterNoise, CounterNoise]:
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    compiled, reference = CounterNoise(seeds), CounterNoise(seeds, compiled=False)
    for noise in (compiled, reference):
        noise.bind(batch, len(sizes))
    return compiled, reference


def _textbook(seed: int, step: int, stream: int, counter: int) -> float:
    """One normal from Python integers: SplitMix64 of uint64 and Box–Muller (libm)."""
    def mix(x: int) -> int:
        z = (x + 0x9E3779B97F4A7C15) % 2**64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        return z ^ (z >> 31)
    key = mix((seed + (4 * step + stream) * 0x9E3779B97F4A7C15) % 2**64)
    hashed = mix((key + counter * 0x9E3779B97F4A7C15) % 2**64)
    upper, lower = ((hashed >> 32) + 0.5) * 2.0**-32, (hashed & 0xFFFFFFFF) * 2.0**-32
    return math.sqrt(-2.0 * math.log(upper)) * math.cos(2.0 * math.pi * lower)


@pytest.mark.parametrize(("sizes", "seeds"), list(zip(SHAPES, SEEDS, strict=True)))
def test_compiled_atom_noise_equals_the_torch_reference_exactly(sizes: list[int],
                                                               seeds: list[int]) -> None:
    compiled, reference = _pair(sizes, seeds)
    assert compiled.compiled and not reference.compiled
    for step in STEPS:
        for stream in (1, 2):
            for dtype in (torch.float64, torch.float32):
                got = compiled.atoms(step, stream, dtype)
                expected = reference.atoms(step, stream, dtype)
                assert got.shape == (sum(sizes), 3) and got.dtype == dtype
                assert torch.equal(got, expected)  # bit for bit


@pytest.mark.parametrize(("sizes", "seeds"), list(zip(SHAPES, SEEDS, strict=True)))
def test_compiled_replica_noise_equals_the_torch_reference_exactly(sizes: list[int],
                                                                  seeds: list[int]) -> None:
    compiled, reference = _pair(sizes, seeds)
    for step in STEPS:
        for width in (1, 3, 4):
            got = compiled.replicas(step, 2, width, torch.float64)
            assert got.shape == (len(sizes), width)
            assert torch.equal(got, reference.replicas(step, 2, width, torch.float64))


def test_the_uniforms_are_splitmix64_of_the_counters() -> None:
    # The kernel's integer part against torch's int64 splitmix64 and against Python
    # integers; the normals against libm to rounding (torch's log/cos are not libm's).
    seeds, step, stream = [5, -3], 12, 1
    noise = CounterNoise(seeds)
    noise.bind(torch.tensor([0, 0, 1]), 2)
    values = noise.atoms(step, stream, torch.float64).flatten().tolist()  # [9]
    counters = [0, 1, 2, 3, 4, 5, 0, 1, 2]
    owners = [0, 0, 0, 0, 0, 0, 1, 1, 1]
    for value, counter, owner in zip(values, counters, owners, strict=True):
        assert value == pytest.approx(_textbook(seeds[owner] % 2**64, step, stream, counter),
                                      rel=1e-14, abs=1e-14)
    upper, angle = np.empty(2), np.empty(2)
    golden = 0x9E3779B97F4A7C15
    counter_uniforms(np.array([5], dtype=np.uint64), np.uint64((4 * step + stream) * golden
                                                                % 2**64),
                     np.array([0, 0]), np.array([0, golden], dtype=np.uint64), upper, angle)
    key = splitmix64(torch.tensor([5]) + ((4 * step + stream) * golden + 2**63) % 2**64 - 2**63)
    for counter in (0, 1):
        hashed = int(splitmix64(key + (counter * golden + 2**63) % 2**64 - 2**63)) % 2**64
        assert upper[counter] == ((hashed >> 32) + 0.5) * 2.0**-32
        assert angle[counter] == 2.0 * math.pi * ((hashed & 0xFFFFFFFF) * 2.0**-32)


def test_compiled_noise_refuses_other_devices() -> None:
    with pytest.raises(ValueError, match="CPU"):
        CounterNoise([1], device="meta", compiled=True)
