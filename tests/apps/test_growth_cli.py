"""``nnpkit growth run|barriers`` through the registered subparsers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnpkit.apps.growth import GrowthRunConfig, RatesConfig, load_growth_config, run_growth
from nnpkit.cli.growth import register
from nnpkit.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "growth"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    register(commands)
    return parser.parse_args(argv)


def test_growth_run_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "lattice_size": 32, "temperature_K": 400.0, "coverage_ML": 0.3, "snapshots_ML": [0.1],
        "rates": {"diffusion_barrier_eV": 0.5}, "output": str(tmp_path / "run")}))
    args = _parse(["growth", "run", str(config), "--json", "--set", "seed=2"])
    assert args.handler(args) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("events", "simulated_time_s", "coverage_ML", "island_density_per_site",
                "roughness_ML", "events_per_second"):
        assert key in summary
    assert summary["coverage_ML"] == pytest.approx(0.3, abs=0.5 / 32**2)  # 307 atoms on 32²
    assert summary["simulated_time_s"] == pytest.approx(0.3, rel=0.1)  # F = 1 ML/s
    assert summary["events"] >= 307  # at least one deposition event per deposited atom
    for name in ("summary.json", "series.json", "config.json", "series.png",
                 "snapshot_final.png", "snapshot_0.10ML.png", "heights.npy"):
        assert (tmp_path / "run" / name).is_file(), name
    heights = np.load(tmp_path / "run" / "heights.npy")
    assert heights.sum() == round(0.3 * 32 * 32)


def test_growth_runs_on_the_barrier_model(tmp_path: Path) -> None:
    """kind: model builds the rate table from the network trained on the shipped catalogue
    (every code's rate is ν0·exp(−Ea/kT) of the network's barrier) and the tree engine
    runs on it to the target coverage (edge hops, Ea ≈ 0.2 eV, outpace free hops by ~10⁴,
    hence the high flux that keeps the event count small)."""
    from importlib import resources

    from nnpkit.apps.growth import BarrierConfig, BarrierModel, GrowthSimulation, build_barriers
    from nnpkit.apps.growth.lattice import N_CODES, decode_codes
    from nnpkit.apps.growth.rates import MIN_BARRIER_eV, arrhenius

    catalogue = str(resources.files("nnpkit.data") / "growth_cu100_catalogue.json")
    model = build_barriers(BarrierConfig(catalogue=catalogue, output=str(tmp_path),
                                         epochs=300, progress=False))["model"]
    rates = RatesConfig(kind="model", model=model, strain_percent=1.0)
    sim = GrowthSimulation(24, 300.0, 1.0e4, rates, seed=0)
    expected = arrhenius(np.maximum(BarrierModel.load(model).predict(
        decode_codes(np.arange(N_CODES)), 1.0), MIN_BARRIER_eV), 300.0, 1.0e13)
    np.testing.assert_allclose(sim._rate_table, expected, rtol=1e-12)
    config = GrowthRunConfig(lattice_size=24, temperature_K=300.0, flux_ML_per_s=1.0e4,
                             coverage_ML=0.2, max_events=3_000_000, output=None,
                             progress=False, rates=rates)
    summary = run_growth(config)
    assert summary["engine"] == "tree" and summary["events"] < 3_000_000
    assert summary["coverage_ML"] == pytest.approx(0.2, abs=0.5 / 24**2)
    assert summary["island_density_per_site"] > 0


def test_examples_validate_and_bad_keys_are_named(tmp_path: Path) -> None:
    from nnpkit.apps.growth import BarrierConfig

    for path in EXAMPLES.glob("*.yaml"):
        kind = BarrierConfig if path.name == "barriers.yaml" else GrowthRunConfig
        load_growth_config(path, kind)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"rates": {"diffusion_barrier": 0.4}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: rates.diffusion_barrier: unknown key"):
        load_growth_config(bad, GrowthRunConfig)
    with pytest.raises(ConfigError, match="max_time_s or max_events"):
        load_growth_config({"flux_ML_per_s": 0.0}, GrowthRunConfig)
    with pytest.raises(ConfigError, match="rates.model"):
        load_growth_config({"rates": {"kind": "model"}}, GrowthRunConfig)
