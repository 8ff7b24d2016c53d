"""The kMC state and its clock: :class:`GrowthSimulation` drives one of the two engines.

``engine="grouped"`` (bond-counting rates only) uses class-based selection
(:mod:`engine_grouped`); ``engine="tree"`` runs any rate table over hop codes with a sum
tree over sites (:mod:`engine_tree`). Both are exact (rejection-free BKL) and advance the
clock by exponential waiting times ``−ln(u)/R_total``.
"""

from __future__ import annotations

import time

import numpy as np

from nnpkit.apps.growth import engine_grouped, engine_tree
from nnpkit.apps.growth.clock import seed_numba
from nnpkit.apps.growth.config import RatesConfig
from nnpkit.apps.growth.lattice import DIRECTIONS, FREE_HOP_CODE, N_CODES
from nnpkit.apps.growth.rates import arrhenius, barrier_table, bond_counting_rates
from nnpkit.errors import ConfigError

__all__ = ["GrowthSimulation", "warm_up_engines"]

_INT64_MAX = np.iinfo(np.int64).max


def warm_up_engines(engines: tuple[str, ...] = ("grouped", "tree")) -> float:
    """Compile ``engines`` and the observables on a tiny lattice; returns the seconds it
    took (the one-off JIT cost, kept out of every events-per-second figure)."""
    start = time.perf_counter()
    for engine in engines:
        sim = GrowthSimulation(6, 500.0, 1.0, RatesConfig(engine=engine), seed=0, warm=False)
        sim.run(max_events=20)
    from nnpkit.apps.growth.observables import count_islands

    count_islands(np.ones((4, 4), dtype=np.int64))
    return time.perf_counter() - start


class GrowthSimulation:
    """Kinetic Monte Carlo on an ``L×L`` solid-on-solid fcc(100) surface.

    Args:
        lattice_size: ``L``.
        temperature_K: substrate temperature.
        flux_ML_per_s: deposition flux F (0: no deposition).
        rates: barrier source (:class:`RatesConfig`).
        seed: random seed of the kMC.
        heights: starting ``[L, L]`` column heights (copied); default flat at 0.
        rate_table: override: per-direction hop rates over all codes, ``[N_CODES]`` 1/s
            (tree engine).
        warm: compile the engines first so that :attr:`engine_seconds` excludes JIT time.
    """

    def __init__(self, lattice_size: int, temperature_K: float, flux_ML_per_s: float,
                 rates: RatesConfig | None = None, seed: int = 0,
                 heights: np.ndarray | None = None, rate_table: np.ndarray | None = None,
                 warm: bool = True) -> None:
        rates = rates or RatesConfig()
        if flux_ML_per_s < 0:
            raise ConfigError(f"flux_ML_per_s must be ≥ 0, got {flux_ML_per_s}")
        if heights is None:
            heights = np.zeros((lattice_size, lattice_size), dtype=np.int64)
        heights = np.array(heights, dtype=np.int64)  # own copy, [L, L]
        if heights.shape != (lattice_size, lattice_size):
            raise ConfigError(f"heights has shape {heights.shape}, expected "
                              f"({lattice_size}, {lattice_size})")
        engine = rates.engine
        if engine == "auto":
            engine = "grouped" if rates.kind == "bond_counting" and rate_table is None else "tree"
        if engine == "grouped" and (rates.kind != "bond_counting" or rate_table is not None):
            raise ConfigError("engine 'grouped' needs bond-counting rates; use 'tree'")
        self.engine = engine
        if warm:
            warm_up_engines((engine,))
        self.lattice_size = lattice_size
        self.temperature_K = temperature_K
        self.flux_ML_per_s = float(flux_ML_per_s)
        self.base_level = int(heights.min())
        self.time_s = 0.0
        self.events = 0
        self.deposits = 0
        self.engine_seconds = 0.0
        seed_numba(seed)
        n_sites = lattice_size * lattice_size
        if engine == "grouped":
            self._rate_in, self._rate_inter = bond_counting_rates(rates, temperature_K)
            self._flat = heights.reshape(-1).copy()  # [N]
            i, j = np.divmod(np.arange(n_sites), lattice_size)  # [N], [N]
            self._neighbors = np.stack(
                [((i + dx) % lattice_size) * lattice_size + (j + dy) % lattice_size
                 for dx, dy in DIRECTIONS], axis=1).astype(np.int64)  # [N, 4]
            self._members = np.zeros((engine_grouped.N_CLASSES, n_sites), dtype=np.int64)
            self._count = np.zeros(engine_grouped.N_CLASSES, dtype=np.int64)
            self._class = np.zeros(n_sites, dtype=np.int64)  # [N]
            self._position = np.zeros(n_sites, dtype=np.int64)  # [N]
            engine_grouped.init_grouped(self._flat, self._neighbors, self._members,
                                        self._count, self._class, self._position)
        else:
            if rate_table is None:
                rate_table = arrhenius(barrier_table(rates), temperature_K, rates.prefactor_Hz)
            rate_table = np.array(rate_table, dtype=np.float64)  # [N_CODES]
            if rate_table.shape != (N_CODES,) or not np.all(np.isfinite(rate_table)) \
                    or np.any(rate_table < 0):
                raise ConfigError(f"rate_table must be [{N_CODES}] finite rates ≥ 0")
            self._rate_table = rate_table
            self._heights = heights
            self._tree = np.zeros(2 * engine_tree.tree_size(n_sites))  # [2M]
            engine_tree.init_tree(self._heights, self._rate_table, self._tree)

    @property
    def heights(self) -> np.ndarray:
        """A copy of the current column heights, ``[L, L]`` int (ML)."""
        if self.engine == "grouped":
            return self._flat.reshape(self.lattice_size, self.lattice_size).copy()
        return self._heights.copy()

    def deposits_for(self, coverage_ML: float) -> int:
        """Number of deposited atoms that makes ``coverage_ML`` (rounded to whole atoms)."""
        return int(round(coverage_ML * self.lattice_size**2))

    def reached(self, coverage_ML: float) -> bool:
        """Whether the deposit has reached ``coverage_ML`` (to the nearest whole atom)."""
        return self.deposits >= self.deposits_for(coverage_ML)

    @property
    def coverage_ML(self) -> float:
        """Deposited amount, ML."""
        return self.deposits / self.lattice_size**2

    def run(self, max_events: int | None = None, until_time_s: float | None = None,
            until_coverage_ML: float | None = None) -> int:
        """Advance until any given limit is reached; returns the events done.

        ``until_time_s`` is an absolute clock value; the clock is left exactly there when it
        is the limit that stops the run (the pending event is not executed, which is exact
        for a Markov process).
        """
        if max_events is None and until_time_s is None and until_coverage_ML is None:
            raise ConfigError("run() needs max_events, until_time_s or until_coverage_ML")
        events_cap = _INT64_MAX if max_events is None else int(max_events)
        stop = np.inf if until_time_s is None else float(until_time_s)
        deposits_cap = _INT64_MAX if until_coverage_ML is None else \
            max(0, self.deposits_for(until_coverage_ML) - self.deposits)
        start = time.perf_counter()
        if self.engine == "grouped":
            events, self.time_s, deposits = engine_grouped.run_grouped(
                self._flat, self._neighbors, self._rate_in, self._rate_inter, self._members,
                self._count, self._class, self._position, self.flux_ML_per_s, self.time_s,
                events_cap, stop, deposits_cap)
        else:
            events, self.time_s, deposits = engine_tree.run_tree(
                self._heights, self._rate_table, self._tree, self.flux_ML_per_s, self.time_s,
                events_cap, stop, deposits_cap)
        self.engine_seconds += time.perf_counter() - start
        self.events += events
        self.deposits += deposits
        return int(events)

    @property
    def total_rate(self) -> float:
        """Sum of all hop rates and the deposition rate, 1/s (from the incremental state)."""
        deposition = self.flux_ML_per_s * self.lattice_size**2
        if self.engine == "grouped":
            class_rates = np.array([(4 - k) * self._rate_in[n] + k * self._rate_inter[n]
                                    for n in range(5) for k in range(5)])  # [25]
            return float(deposition + self._count @ class_rates)
        return float(deposition + self._tree[1])

    @property
    def free_hop_rate(self) -> float:
        """Hop rate Γ of a lone adatom per direction, 1/s (``D = Γa²``)."""
        if self.engine == "grouped":
            return float(self._rate_in[0])
        return float(self._rate_table[FREE_HOP_CODE])

    @property
    def events_per_second(self) -> float:
        """Events per second of engine wall time (JIT compilation excluded)."""
        return self.events / self.engine_seconds if self.engine_seconds > 0 else 0.0
