"""Ghost forces of the 1D NNN Morse chain (Cu, Girifalco–Weizer) against the blending width.

    OMP_NUM_THREADS=1 python benchmarks/multiscale_chain.py

For sharp QCE: the largest ghost force against the analytic ``φ'(2Fa)/2``. For BQCE
(quintic C² and septic C³ smoothsteps) at L = 2..128 sites: the largest pointwise ghost force
max|f| and ghost stress max|Σ f| (W^{-1,∞} norm) with their predictions
``φ'(2Fa) max|s'''|/L³`` and ``φ'(2Fa) max|s''|/L²`` and log-log slopes fitted over
L = 4..32 (the widths the issue names) and 8..64. For BQCF: the largest ghost force.
Strains F = 1, 1.01, 0.98. Writes ``benchmarks/out/multiscale_chain.json`` and ``.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, machine_info, reproduce_command, set_thread_env, write_results  # noqa: E402

WIDTHS = [2, 4, 8, 16, 32, 64, 128]
STRETCHES = [1.0, 1.01, 0.98]


def fitted_slope(widths: list[int], values: list[float], low: int, high: int) -> float:
    import numpy as np

    chosen = [(w, v) for w, v in zip(widths, values, strict=True) if low <= w <= high]
    x, y = np.log([c[0] for c in chosen]), np.log([c[1] for c in chosen])
    return float(np.polyfit(x, y, 1)[0])


def main() -> None:
    set_thread_env(1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from nnpkit.apps.multiscale.chain1d import (
        MorsePair,
        chain_ghost_forces,
        ghost_force_decay,
        sharp_ghost_force_analytic,
    )

    pair = MorsePair()
    spacing = pair.chain_spacing_A()
    results: dict = {"command": reproduce_command("multiscale_chain.py"), "machine": machine_info(),
                     "pair": {"depth_eV": pair.depth_eV, "alpha_per_A": pair.alpha_per_A,
                              "r0_A": pair.r0_A}, "spacing_A": spacing, "strains": {}}
    for stretch in STRETCHES:
        sharp = chain_ghost_forces("sharp", 60, stretch, 1, pair, spacing_A=spacing)
        analytic = sharp_ghost_force_analytic(pair, stretch, spacing)
        entry: dict = {
            "sharp": {"max_ghost_force_eV_per_A": float(np.max(np.abs(sharp))),
                      "analytic_eV_per_A": float(np.max(np.abs(analytic))),
                      "forces_on_sites_n_a-2..n_a+1_eV_per_A": sharp[28:32].tolist(),
                      "analytic_forces_eV_per_A": analytic.tolist()},
            "bqcf_max_ghost_force_eV_per_A": max(
                float(np.max(np.abs(chain_ghost_forces("bqcf", 2 * w + 40, stretch, w, pair,
                                                       spacing_A=spacing)))) for w in WIDTHS),
        }
        for blending in ("quintic", "septic"):
            decay = ghost_force_decay(pair, WIDTHS, stretch, blending=blending)
            for key, values in (("force", decay["max_ghost_force_eV_per_A"]),
                                ("stress", decay["max_ghost_stress_eV_per_A"])):
                decay[f"slope_{key}_L4_32"] = fitted_slope(WIDTHS, values, 4, 32)
                decay[f"slope_{key}_L8_64"] = fitted_slope(WIDTHS, values, 8, 64)
                decay[f"measured_over_predicted_{key}"] = (
                    np.array(values) / np.array(decay[f"predicted_{key}_eV_per_A"])).tolist()
            entry[f"bqce_{blending}"] = decay
        results["strains"][str(stretch)] = entry
    path = write_results("multiscale_chain", results)

    entry = results["strains"]["1.0"]
    widths = np.array(WIDTHS, dtype=float)
    figure, axis = plt.subplots(figsize=(5.6, 4.2))
    for blending, colour in (("quintic", "C0"), ("septic", "C1")):
        decay = entry[f"bqce_{blending}"]
        axis.loglog(widths, decay["max_ghost_force_eV_per_A"], "o-", color=colour,
                    label=f"BQCE {blending} max|f|: slope "
                          f"{decay['slope_force_L8_64']:.2f} (L 8–64)")
        axis.loglog(widths, decay["predicted_force_eV_per_A"], ":", color=colour,
                    label=f"φ'(2a) max|s'''|/L³ ({blending})")
        axis.loglog(widths, decay["max_ghost_stress_eV_per_A"], "s--", color=colour, mfc="none",
                    label=f"BQCE {blending} max|Σf|: slope {decay['slope_stress_L8_64']:.2f}")
    axis.loglog([1.0], [entry["sharp"]["max_ghost_force_eV_per_A"]], "k*", ms=12,
                label=f"sharp QCE {entry['sharp']['max_ghost_force_eV_per_A']:.4g} eV/Å")
    axis.axhline(entry["sharp"]["analytic_eV_per_A"], color="k", lw=0.8,
                 label="analytic φ'(2a)/2")
    axis.set(xlabel="blending width L (sites)", ylabel="ghost force (eV/Å)",
             title="NNN Morse Cu chain, F = 1 (BQCF: 0 to 1e-13)")
    axis.legend(fontsize=6.5, loc="lower left")
    figure.tight_layout()
    figure.savefig(OUT_DIR / "multiscale_chain.png", dpi=120)
    plt.close(figure)
    print(f"wrote {path}")
    for stretch, item in results["strains"].items():
        quintic, septic = item["bqce_quintic"], item["bqce_septic"]
        print(f"F={stretch}: sharp {item['sharp']['max_ghost_force_eV_per_A']:.6g} "
              f"(analytic {item['sharp']['analytic_eV_per_A']:.6g}); "
              f"bqcf {item['bqcf_max_ghost_force_eV_per_A']:.2g}; quintic slopes force "
              f"{quintic['slope_force_L4_32']:.3f}/{quintic['slope_force_L8_64']:.3f}, stress "
              f"{quintic['slope_stress_L4_32']:.3f}/{quintic['slope_stress_L8_64']:.3f}; septic "
              f"force {septic['slope_force_L4_32']:.3f}/{septic['slope_force_L8_64']:.3f}")


if __name__ == "__main__":
    main()
