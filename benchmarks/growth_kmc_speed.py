"""kMC speed of nnpkit.apps.growth: events per second against lattice size, one thread.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/growth_kmc_speed.py [--quick]

Both engines run the same bond-counting model (E_d = 0.55 eV, E_b = 0.25 eV, 450 K,
F = 1 ML/s, D/F ≈ 7e6) on a surface pre-grown for twice the timed number of events (up to
0.2 ML); the tree engine also runs the rate table of the barrier network trained on the
shipped Cu(100) NEB catalogue (300 K, F = 10⁴ ML/s: its edge hops, Ea ≈ 0.2 eV, would
otherwise take all events).
JIT compilation is done before timing and reported separately. The peer figure, kmos
(~6.6e5 events/s), is the number quoted in the issue, not measured here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, set_thread_env  # noqa: E402

OUT = Path(__file__).parent / "out" / "growth_kmc_speed"
KMOS_QUOTED_EVENTS_PER_S = 6.6e5


def measure(engine: str, size: int, events: int, rates_kind: str = "bond_counting",
            model: str | None = None, temperature_K: float = 450.0, flux: float = 1.0) -> dict:
    from nnpkit.apps.growth import GrowthSimulation, RatesConfig

    rates = RatesConfig(engine=engine, kind=rates_kind, model=model,
                        diffusion_barrier_eV=0.55, bond_energy_eV=0.25)
    sim = GrowthSimulation(size, temperature_K, flux, rates, seed=0)
    sim.run(until_coverage_ML=0.2, max_events=2 * events)  # pre-growth: adatoms and islands
    start = time.perf_counter()
    done = sim.run(max_events=events)
    seconds = time.perf_counter() - start
    return {"engine": engine, "rates": rates_kind, "lattice_size": size, "events": done,
            "temperature_K": temperature_K, "flux_ML_per_s": flux,
            "seconds": seconds, "events_per_second": done / seconds,
            "coverage_ML": sim.coverage_ML,
            "ratio_to_kmos_quoted": done / seconds / KMOS_QUOTED_EVENTS_PER_S}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    set_thread_env(1)
    from importlib import resources

    from nnpkit.apps.growth import BarrierConfig, build_barriers, warm_up_engines

    jit_seconds = warm_up_engines()
    sizes = [64, 128] if args.quick else [64, 128, 256, 512]
    grouped_events, tree_events = (1_000_000, 100_000) if args.quick else (10_000_000, 1_000_000)
    rows = [measure("grouped", size, grouped_events) for size in sizes]
    rows += [measure("tree", size, tree_events) for size in sizes]
    catalogue = str(resources.files("nnpkit.data") / "growth_cu100_catalogue.json")
    model = build_barriers(BarrierConfig(catalogue=catalogue, output=str(OUT / "barriers"),
                                         progress=False))["model"]
    rows += [measure("tree", size, tree_events, "model", model, 300.0, 1.0e4) for size in sizes]
    for row in rows:
        print(f"{row['engine']:8s} {row['rates']:14s} L={row['lattice_size']:4d} "
              f"{row['events_per_second']:.3g} events/s", flush=True)
    result = {"machine": machine_info(), "threads": 1, "jit_seconds": jit_seconds,
              "kmos_quoted_events_per_s": KMOS_QUOTED_EVENTS_PER_S, "rows": rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(result, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.6))
    for engine, kind in (("grouped", "bond_counting"), ("tree", "bond_counting"),
                         ("tree", "model")):
        subset = [r for r in rows if r["engine"] == engine and r["rates"] == kind]
        axis.plot([r["lattice_size"] for r in subset],
                  [r["events_per_second"] for r in subset], "o-", label=f"{engine}, {kind}")
    axis.axhline(KMOS_QUOTED_EVENTS_PER_S, color="k", ls="--", label="kmos (quoted)")
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("lattice size L (L×L)")
    axis.set_ylabel("events / s (1 thread)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(OUT / "events_per_second.png", dpi=110)


if __name__ == "__main__":
    main()
