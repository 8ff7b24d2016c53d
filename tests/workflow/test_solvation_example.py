"""The Na+/water example (examples/solvation/na_water_end_to_end.py): its cluster, that the
farm's GFN2 labels carry the total charge +1, its config, and (slow) the whole chain at
a tiny size (8 waters, 2 windows, seconds-long training): that it runs end to end and
writes every result, not the accuracy of the profile (that is the benchmark,
benchmarks/solvation_na_water.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "solvation"


def _example():  # noqa: ANN202
    sys.path.insert(0, str(EXAMPLE))
    spec = importlib.util.spec_from_file_location("na_water_end_to_end",
                                                  EXAMPLE / "na_water_end_to_end.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cluster_has_a_first_shell_and_no_overlaps() -> None:
    example = _example()
    atoms = example.build_cluster(24, seed=0)
    assert atoms.get_chemical_formula() == "H48NaO24"
    assert atoms.info["charge"] == 1
    oxygens = example.oxygen_indices(atoms)
    d_na_o = np.linalg.norm(atoms.positions[oxygens] - atoms.positions[0], axis=1)
    np.testing.assert_allclose(np.sort(d_na_o)[:6], 2.4, atol=1e-12)  # the octahedron
    assert np.sort(d_na_o)[6] >= 3.9
    # no two atoms of different molecules closer than 1.5 Å (O-O >= 2.75 Å by construction)
    molecule = np.array([0] + [1 + k // 3 for k in range(72)])
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
    other = molecule[:, None] != molecule[None, :]
    assert d[other].min() > 1.5
    # CN = Σ 1/(1 + (r/r0)^12) over the O (n=12, m=24 reduces to this)
    from nnpkit.md import cv_of_atoms

    cfg = example.NaWaterConfig()
    expected = float(np.sum(1.0 / (1.0 + (d_na_o / cfg.r0_A) ** 12)))
    assert cv_of_atoms(example.make_cv(cfg, atoms, 1), atoms) == pytest.approx(expected,
                                                                               rel=1e-10)


def test_farm_labels_carry_the_total_charge(tmp_path: Path) -> None:
    pytest.importorskip("tblite")
    from ase import Atoms
    from ase.build import molecule
    from tblite.ase import TBLite

    from nnpkit.labeling import DatasetStore, label_to_store

    example = _example()
    water = molecule("H2O")
    ion = Atoms("Na", positions=[[0.0, 0.0, water.positions[0, 2] + 2.3]])
    pair = water + ion
    report = label_to_store([pair], example.gfn2_spec(), tmp_path / "l.sqlite",
                            properties=("energy", "forces"), n_workers=1, processes=False,
                            progress=False)
    assert report.n_computed == 1
    stored = DatasetStore(tmp_path / "l.sqlite").structures("gfn2")[0]
    charged, neutral = pair.copy(), pair.copy()
    charged.calc = TBLite(method="GFN2-xTB", charge=1, verbosity=0)
    neutral.calc = TBLite(method="GFN2-xTB", charge=0, verbosity=0)
    assert stored.get_potential_energy() == pytest.approx(charged.get_potential_energy(),
                                                          abs=1e-6)
    assert abs(charged.get_potential_energy() - neutral.get_potential_energy()) > 1.0


def test_config_refuses_unknown_keys(tmp_path: Path) -> None:
    from nnpkit.errors import ConfigError
    from nnpkit.typed_config import load_typed_config

    example = _example()
    cfg = load_typed_config(EXAMPLE / "na_water_full.yaml", example.NaWaterConfig)
    assert cfg.n_waters == 24 and len(cfg.windows) == 9
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_water: 24\n")
    with pytest.raises(ConfigError, match="n_water"):
        load_typed_config(bad, example.NaWaterConfig)


@pytest.mark.slow
def test_quick_chain_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("tblite")
    example = _example()
    out = tmp_path / "run"
    assert example.main([str(EXAMPLE / "na_water_full.yaml"), "--out", str(out),
                         "--quick"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {r["cn"] for r in summary["bins"]} == {5.25, 5.75, 6.25}
    assert summary["literature_aimd_cn_range"] == [5, 6]
    al = json.loads((out / "al.json").read_text())
    # 40 GFN2 steps with a frame every 5 (step 0 included): 9 labels, none failed
    assert al["labels"][0]["n_computed"] == 9 and al["labels"][0]["n_failed"] == 0
    assert len(al["rounds"][0]["spread_max_per_window"]) == 1  # one window at --quick
    for name in ("profile.png", "rdf.png", "windows.png"):
        assert (out / name).stat().st_size > 1000
    # a second call finds every stage done and changes nothing
    before = (out / "summary.json").read_text()
    assert example.main([str(EXAMPLE / "na_water_full.yaml"), "--out", str(out),
                         "--quick"]) == 0
    assert (out / "summary.json").read_text() == before
