"""Growth physics against known answers: nucleation scaling, growth modes, learned barriers.

    OMP_NUM_THREADS=1 python benchmarks/growth_verification.py [--quick]

1. Saturation island density for irreversible aggregation (i* = 1) at D/F = 1e5…1e8:
   the fitted exponent against rate-equation theory (1/3); log–log plot.
2. Growth modes on 128×128 to 4 ML (450 K, F = 1 ML/s, E_b = 0.25 eV): layer-by-layer at
   D/F ≈ 7e6 without a step-edge barrier, mounds with E_ES = 0.25 eV, rough at D/F ≈ 60;
   step density and roughness against coverage, and surface snapshots.
3. The barrier network on the shipped Cu(100) EMT NEB catalogue: held-out MAE (meV)
   against the NEB barriers, with the linear fit as a baseline; parity plot.

Writes ``benchmarks/out/growth_verification/results.json`` and the PNG files beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, set_thread_env  # noqa: E402

OUT = Path(__file__).parent / "out" / "growth_verification"


def nucleation(quick: bool) -> dict:
    import numpy as np

    from nnpkit.apps.growth.nucleation import saturation_island_density, scaling_exponent

    ratios = np.array([1e5, 1e6, 1e7] if quick else [1e5, 1e6, 1e7, 1e8])
    sizes = [256, 384, 512, 512][: len(ratios)]
    densities = np.array([saturation_island_density(r, size) for r, size in
                          zip(ratios, sizes, strict=True)])
    exponent = scaling_exponent(ratios, densities)
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.6, 3.6))
    axis.loglog(ratios, densities, "o", label="kMC")
    fit = densities[0] * (ratios / ratios[0]) ** (-exponent)
    axis.loglog(ratios, fit, "-", label=f"fit: χ = {exponent:.3f}")
    axis.loglog(ratios, densities[0] * (ratios / ratios[0]) ** (-1 / 3), "k--",
                label="theory: χ = 1/3")
    axis.set(xlabel="D/F", ylabel="saturation island density (per site)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(OUT / "nucleation_scaling.png", dpi=110)
    plt.close(figure)
    return {"D_over_F": ratios.tolist(), "lattice_sizes": sizes,
            "island_density_per_site": densities.tolist(), "exponent": exponent,
            "theory": 1 / 3, "within_0.05": bool(abs(exponent - 1 / 3) <= 0.05)}


def growth_modes(quick: bool) -> dict:
    from nnpkit.apps.growth import GrowthRunConfig, RatesConfig, run_growth
    from nnpkit.apps.growth.observables import oscillation_contrast
    from nnpkit.apps.growth.plots import plot_growth_modes

    size = 64 if quick else 128
    cases = {"layer_by_layer": (0.0, 0.55), "mounds_ES_0.25eV": (0.25, 0.55),
             "rough_low_D_over_F": (0.0, 1.0)}
    rows, curves = {}, []
    for name, (step_edge, diffusion) in cases.items():
        config = GrowthRunConfig(
            lattice_size=size, temperature_K=450.0, coverage_ML=4.0, observe_every_ML=0.05,
            snapshots_ML=[1.0, 2.5], output=str(OUT / name), progress=False,
            rates=RatesConfig(diffusion_barrier_eV=diffusion, bond_energy_eV=0.25,
                              step_edge_barrier_eV=step_edge))
        result = run_growth(config)
        series = result["series"]
        rows[name] = {"E_ES_eV": step_edge, "E_d_eV": diffusion,
                      "D_over_F": result["D_over_F"],
                      "oscillation_contrast": oscillation_contrast(series["coverage_ML"],
                                                                   series["step_density"]),
                      "roughness_ML_at_4ML": result["roughness_ML"],
                      "events": result["events"],
                      "events_per_second": result["events_per_second"]}
        curves.append((f"{name} (D/F={result['D_over_F']:.2g})", series))
    plot_growth_modes(curves, OUT / "growth_modes.png")
    return rows


def barriers() -> dict:
    from importlib import resources

    from nnpkit.apps.growth import BarrierConfig, build_barriers

    catalogue = str(resources.files("nnpkit.data") / "growth_cu100_catalogue.json")
    summary = build_barriers(BarrierConfig(catalogue=catalogue, output=str(OUT / "barriers"),
                                           progress=False))
    keys = ("n_environments", "n_failed", "n_train", "n_test", "train_mae_meV",
            "test_mae_meV", "test_rmse_meV", "linear_test_mae_meV", "barrier_range_eV")
    return {key: summary[key] for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    set_thread_env(1)
    import matplotlib

    matplotlib.use("Agg")
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine_info(), "nucleation": nucleation(args.quick),
              "growth_modes": growth_modes(args.quick), "barrier_model": barriers()}
    (OUT / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({key: value for key, value in result.items() if key != "machine"},
                     indent=2))


if __name__ == "__main__":
    main()
