"""The rates worked example (examples/rates/) end to end at CI size, and its structures.

The quick run trains a seconds-long committee, so it checks that the chain runs and that
the EMT half reproduces the known EMT numbers, not the potential's accuracy (that is the
benchmark, benchmarks/rates_example.py). It takes minutes: marked slow.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "rates"


def _module(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_structures_are_what_the_script_builds(tmp_path: Path) -> None:
    from ase.io import read

    paths = _module("build_structures").main(["--out", str(tmp_path)])
    assert len(paths) == 10
    for stem, path in paths.items():
        built, shipped = read(path), read(EXAMPLE / "structures" / f"{stem}.extxyz")
        assert built.get_chemical_formula() == shipped.get_chemical_formula()
        np.testing.assert_allclose(built.positions, shipped.positions, atol=1e-8)
    pair = read(paths["nn_pair"])
    # two N in neighbouring hollows, d = a/√2 apart, after the 36 slab atoms (extxyz: 1e-8 Å)
    assert pair.get_chemical_symbols()[36:] == ["N", "N"]
    assert pair.get_distance(36, 37, mic=True) == pytest.approx(3.5898 / math.sqrt(2), abs=1e-7)


@pytest.mark.slow
def test_quick_example_runs_the_whole_chain(tmp_path: Path) -> None:
    summary = _module("run_example").run_example(tmp_path / "run", quick=True)
    comparison = summary["comparison"]
    barriers = comparison["barriers"]
    # EMT pairing hops (5 images, fmax 0.05): 0.142 and 0.124 eV at fmax 0.02
    assert barriers["N_pairing"]["barrier_forward_eV"]["emt"] == pytest.approx(0.142, abs=0.01)
    assert barriers["O_pairing"]["barrier_forward_eV"]["emt"] == pytest.approx(0.124, abs=0.01)
    assert comparison["formation_energies_eV"]["N*"]["emt"] == pytest.approx(-0.452, abs=0.005)
    assert [row["temperature_K"] for row in comparison["tof"]] == [450.0, 550.0]
    for row in comparison["tof"]:
        p = row["tof_potential_percentiles_per_s"]
        assert row["tof_emt_per_s"] > 0 and p["5"] <= p["50"] <= p["95"]
    assert summary["training"]["n_failed"] == 0
    assert (tmp_path / "run" / "summary.json").is_file()


def test_example_chain_on_emt_through_the_cli(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    """The example's two commands on the reference method (EMT), as the README gives them:
    both NEBs converge with one imaginary mode at the saddle, the barriers are EMT's
    pairing hops (0.142 and 0.124 eV, measured at fmax 0.02), the energies file feeds
    ``rates tof`` unchanged, and the steady state obeys the sum rule of the DRC."""
    import json

    from nnpkit.cli.main import main

    assert main(["rates", "neb", str(EXAMPLE / "neb.yaml"), "--json",
                 "--set", f"output={tmp_path / 'neb'}"]) == 0
    neb = json.loads(capsys.readouterr().out)
    assert neb["complete"] is True
    for step, barrier in (("N_pairing", 0.142), ("O_pairing", 0.124)):
        assert neb["steps"][step]["converged"] is True
        assert neb["steps"][step]["n_imaginary_modes_saddle"] == 1
        assert neb["steps"][step]["barrier_forward_eV"] == pytest.approx(barrier, abs=0.005)
    assert main(["rates", "tof", str(EXAMPLE / "kinetics.yaml"), "--json",
                 "--set", f"energies={neb['energies_file']}",
                 "--set", f"output={tmp_path / 'tof'}"]) == 0
    tof = json.loads(capsys.readouterr().out)
    # ±1e-4 kT central differences of a steady state solved to ~1e-10 relative: ~1e-6
    assert tof["drc_sum_transition_states"] == pytest.approx(1.0, abs=1e-5)
    sites = {"NN**": 2, "OO**": 2}  # a pair in neighbouring hollows holds two sites
    assert sum(sites.get(name, 1) * theta for name, theta in tof["coverages"].items()) == \
        pytest.approx(1.0, abs=1e-9)
    assert tof["tof_per_s"] == pytest.approx(9.0e4, rel=0.05)  # 500 K, 10 mbar NO
    assert (tmp_path / "tof" / "tof_vs_temperature.png").is_file()
