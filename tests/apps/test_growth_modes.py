"""Growth modes: layer-by-layer growth (step density oscillating with period 1 ML, smooth
front) at high D/F without a step-edge barrier; rough multilayer growth with a large
Ehrlich–Schwoebel barrier or at small D/F. A plot of the three is written (about 20 s)."""

from __future__ import annotations

from pathlib import Path

from nnpkit.apps.growth import GrowthRunConfig, RatesConfig, run_growth
from nnpkit.apps.growth.observables import oscillation_contrast
from nnpkit.apps.growth.plots import plot_growth_modes


def grow(step_edge_eV: float, diffusion_eV: float, seed: int = 0) -> dict:
    """4 ML on 48×48 at 450 K, F = 1 ML/s, E_b = 0.25 eV."""
    config = GrowthRunConfig(
        lattice_size=48, temperature_K=450.0, coverage_ML=4.0, observe_every_ML=0.05,
        output=None, progress=False, seed=seed,
        rates=RatesConfig(diffusion_barrier_eV=diffusion_eV, bond_energy_eV=0.25,
                          step_edge_barrier_eV=step_edge_eV))
    return run_growth(config)["series"]


def test_layer_by_layer_versus_rough_growth(tmp_path: Path) -> None:
    smooth = grow(0.0, 0.55)  # D/F ≈ 7e6
    mounds = grow(0.25, 0.55)  # large Ehrlich–Schwoebel barrier
    rough = grow(0.0, 1.0)  # D/F ≈ 60
    plot_growth_modes([("E_ES=0, D/F≈7e6", smooth), ("E_ES=0.25 eV", mounds),
                       ("D/F≈60", rough)], tmp_path / "modes.png")
    assert (tmp_path / "modes.png").stat().st_size > 10_000
    assert oscillation_contrast(smooth["coverage_ML"], smooth["step_density"]) > 0.6
    assert smooth["roughness_ML"][-1] < 0.7
    for series in (mounds, rough):
        assert oscillation_contrast(series["coverage_ML"], series["step_density"]) < 0.5
        assert series["roughness_ML"][-1] > 0.6
        assert series["roughness_ML"][-1] > 10 * smooth["roughness_ML"][-1]
