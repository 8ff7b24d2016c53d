"""Physics of the kMC engines: detailed balance, Langmuir adatom density, adatom diffusion,
and agreement of the grouped and tree engines on the same bond-counting rates."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from ase.units import kB

from nnpkit.apps.growth import GrowthSimulation, RatesConfig
from nnpkit.apps.growth.lattice import N_CODES, bond_counting_barriers
from nnpkit.apps.growth.rates import arrhenius
from nnpkit.errors import ConfigError

ENGINES = ("grouped", "tree")


def bond_energy(heights: np.ndarray, bond_eV: float) -> float:
    """H = −E_b Σ_<ij> min(h_i, h_j) over periodic nearest-neighbour bonds, eV."""
    return -bond_eV * float(np.minimum(heights, np.roll(heights, 1, 0)).sum()
                            + np.minimum(heights, np.roll(heights, 1, 1)).sum())


def canonical(heights: np.ndarray) -> tuple[bytes, int]:
    """A translation-invariant key of a periodic height map and its orbit size."""
    shifted = {np.roll(heights, (a, b), (0, 1)).tobytes()
               for a in range(heights.shape[0]) for b in range(heights.shape[1])}
    return min(shifted), len(shifted)


@pytest.mark.parametrize("engine", ENGINES)
def test_detailed_balance_on_a_small_lattice(engine: str) -> None:
    """Without deposition, state dwell fractions follow Boltzmann and every transition is
    balanced by its reverse (E_b = 0.1 eV, E_ES = 0.05 eV, 600 K, 3×3 with 3 adatoms)."""
    rates = RatesConfig(engine=engine, diffusion_barrier_eV=0.3, bond_energy_eV=0.1,
                        step_edge_barrier_eV=0.05)
    start = np.zeros((3, 3), dtype=np.int64)
    start[0, :] = 1
    sim = GrowthSimulation(3, 600.0, 0.0, rates, seed=3, heights=start)
    dwell: dict[bytes, float] = defaultdict(float)
    energy: dict[bytes, float] = {}
    orbit: dict[bytes, int] = {}
    transitions: dict[tuple[bytes, bytes], int] = defaultdict(int)
    state = sim.heights
    for _ in range(60_000):
        before = sim.time_s
        sim.run(max_events=1)
        key, orbit_size = canonical(state)
        dwell[key] += sim.time_s - before
        energy[key] = bond_energy(state, 0.1)
        orbit[key] = orbit_size
        new = sim.heights
        transitions[(state.tobytes(), new.tobytes())] += 1
        state = new
    total = sum(dwell.values())
    kT = kB * 600.0
    # Boltzmann: dwell fractions of the most visited state classes (modulo translation,
    # weighted by their number of distinct translations) relative to the most visited one.
    ranked = sorted(dwell, key=dwell.get, reverse=True)[:6]
    reference = ranked[0]
    for key in ranked[1:]:
        measured = dwell[key] / dwell[reference]
        expected = orbit[key] / orbit[reference] * np.exp(-(energy[key] - energy[reference])
                                                          / kT)
        assert measured == pytest.approx(expected, rel=0.15), (measured, expected)
    # Detailed balance: the most frequent transitions occur as often as their reverses.
    frequent = sorted(transitions, key=transitions.get, reverse=True)[:10]
    for a, b in frequent:
        forward, backward = transitions[(a, b)], transitions[(b, a)]
        assert abs(forward - backward) <= 4 * np.sqrt(forward + backward) + 2
    assert len(dwell) > 5 and dwell[reference] / total > 0.05


@pytest.mark.parametrize("engine", ENGINES)
def test_langmuir_adatom_density_on_a_terrace(engine: str) -> None:
    """A straight step is the reservoir (μ = −2E_b); on flat terrace sites the adatom
    occupation θ = n_ad/(n_ad + n_empty) must follow Langmuir, θ = K/(1+K),
    K = exp(−2E_b/kT) (here K ≈ 0.030): within 12 %."""
    bond, temperature = 0.1, 660.0
    length = 24
    start = np.zeros((length, length), dtype=np.int64)
    start[: length // 2, :] = 1  # two straight steps (periodic stripe)
    rates = RatesConfig(engine=engine, diffusion_barrier_eV=0.25, bond_energy_eV=bond)
    sim = GrowthSimulation(length, temperature, 0.0, rates, seed=11, heights=start)
    hop = float(arrhenius(0.25, temperature, 1e13))
    sim.run(until_time_s=3000 / hop)  # equilibrate
    adatoms = empty = 0
    for _ in range(1500):
        sim.run(until_time_s=sim.time_s + 20 / hop)
        h = sim.heights
        neighbours = [np.roll(h, shift, axis) for shift in (1, -1) for axis in (0, 1)]
        flat = np.all([n == neighbours[0] for n in neighbours[1:]], axis=0)
        adatoms += int(np.sum(flat & (h == neighbours[0] + 1)))
        empty += int(np.sum(flat & (h == neighbours[0])))
    K = np.exp(-2 * bond / (kB * temperature))
    theta = adatoms / (adatoms + empty)
    assert theta == pytest.approx(K / (1 + K), rel=0.12), (theta, K / (1 + K))


@pytest.mark.parametrize("engine", ENGINES)
def test_lone_adatom_diffusion_coefficient(engine: str) -> None:
    """The MSD of one adatom gives D = Γa² per direction (Γ: hop rate per direction):
    <Δx²> = <Δy²> = 2Γτ over windows τ; within 8 %."""
    length, temperature = 48, 500.0
    start = np.zeros((length, length), dtype=np.int64)
    start[length // 2, length // 2] = 1
    rates = RatesConfig(engine=engine, diffusion_barrier_eV=0.4, bond_energy_eV=0.6)
    sim = GrowthSimulation(length, temperature, 0.0, rates, seed=5, heights=start)
    gamma = float(arrhenius(0.4, temperature, 1e13))
    window = 6.0 / gamma
    position = np.array(np.unravel_index(np.argmax(sim.heights), (length, length)))
    steps = []
    for _ in range(4000):
        sim.run(until_time_s=sim.time_s + window)
        new = np.array(np.unravel_index(np.argmax(sim.heights), (length, length)))
        steps.append((new - position + length // 2) % length - length // 2)  # minimum image
        position = new
    msd = np.mean(np.asarray(steps, dtype=float) ** 2, axis=0)  # [2]: <Δx²>, <Δy²>
    diffusion = msd / (2 * window)  # sites²/s per direction
    assert diffusion == pytest.approx([gamma, gamma], rel=0.08)
    assert np.abs(sim.heights).sum() == 1 + 0  # substrate frozen, one adatom


def test_engines_agree_on_total_rates_after_many_events() -> None:
    """The incremental class (grouped) and sum-tree (tree) bookkeeping equal a fresh
    rebuild, and the two engines give the same total rate on the same surface."""
    rng = np.random.default_rng(0)
    heights = rng.integers(-1, 3, size=(16, 16))
    rates = RatesConfig(diffusion_barrier_eV=0.35, bond_energy_eV=0.12, step_edge_barrier_eV=0.07)
    for engine in ENGINES:
        sim = GrowthSimulation(16, 550.0, 2.0, rates.model_copy(update={"engine": engine}),
                               seed=1, heights=heights)
        sim.run(max_events=20_000)
        assert sim.free_hop_rate == pytest.approx(float(arrhenius(0.35, 550.0, 1e13)))
        for other in ENGINES:
            fresh = GrowthSimulation(16, 550.0, 2.0,
                                     rates.model_copy(update={"engine": other}),
                                     heights=sim.heights, warm=False)
            assert fresh.total_rate == pytest.approx(sim.total_rate, rel=1e-10)


def test_tree_engine_runs_any_rate_table_and_rejects_bad_ones() -> None:
    table = arrhenius(bond_counting_barriers(0.9, 0.2), 500.0, 1e13)
    sim = GrowthSimulation(8, 500.0, 1.0, RatesConfig(engine="tree"), rate_table=table)
    sim.run(until_coverage_ML=0.5)
    assert sim.coverage_ML == pytest.approx(0.5)
    assert sim.heights.sum() == 32
    with pytest.raises(ConfigError, match="rate_table"):
        GrowthSimulation(8, 500.0, 1.0, RatesConfig(engine="tree"), warm=False,
                         rate_table=np.full(N_CODES, -1.0))
    with pytest.raises(ConfigError, match="grouped"):
        GrowthSimulation(8, 500.0, 1.0, RatesConfig(engine="grouped"), warm=False,
                         rate_table=table)
    with pytest.raises(ConfigError, match="shape"):
        GrowthSimulation(8, 500.0, 1.0, warm=False, heights=np.zeros((4, 4)))
