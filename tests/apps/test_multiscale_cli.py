"""``nnpkit multiscale patch-test`` and ``run`` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

from nnpkit.cli.main import main

MODEL = Path(__file__).resolve().parents[1] / "data" / "cu100_adatom.nnp"


def test_patch_test_json_reports_every_coupling(tmp_path, capsys) -> None:
    # bqcf only: the sharp and bqce values are asserted in test_multiscale_coupling.py
    config = {"potential": str(MODEL), "couplings": ["bqcf"],
              "block": {"symbol": "Cu", "n_cells": [10, 10, 10]}, "radius_A": 2.0,
              "blend_widths_A": [5.0], "output_dir": str(tmp_path / "out")}
    path = tmp_path / "patch.yaml"
    path.write_text(json.dumps(config))
    assert main(["multiscale", "patch-test", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    ghost = summary["max_ghost_force_eV_per_A"]
    assert set(ghost) == {"bqcf"}
    assert ghost["bqcf"] < 1e-8  # patch-test consistent
    assert set(summary["table"][0]["by_strain"]) == {"tension", "shear", "mixed"}
    assert (tmp_path / "out" / "patch_test.json").is_file()
    assert (tmp_path / "out" / "ghost_forces.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_refuses_a_region_reaching_the_clamped_faces(tmp_path, capsys) -> None:
    config = {"potential": str(MODEL), "block": {"n_cells": [6, 6, 4]},
              "region": {"radius_A": 7.0, "blend_width_A": 5.0},
              "output_dir": str(tmp_path / "out")}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config))
    assert main(["multiscale", "run", str(path), "--json"]) != 0
    assert "reaches the clamped boundary" in capsys.readouterr().err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_run_names_unknown_keys_and_bad_values(tmp_path, capsys) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("coupling: bqce\nblend: 3\n")
    assert main(["multiscale", "run", str(path), "--set", "coupling=wrong"]) != 0
    error = capsys.readouterr().err
    assert "run.yaml: blend: unknown key" in error
    assert "run.yaml: coupling: Input should be 'bqce', 'bqcf' or 'sharp'" in error


def test_run_writes_the_load_curve_the_dofs_and_the_pngs(tmp_path, capsys) -> None:
    config = {"potential": str(MODEL), "coupling": "bqce",
              "block": {"symbol": "Cu", "n_cells": [8, 8, 4]},
              "region": {"radius_A": 4.0, "blend_width_A": 5.0, "fine_margin_A": 0.0},
              "indenter": {"radius_A": 8.0, "depths_A": [0.3]},
              "minimiser": {"fmax_eV_per_A": 0.01}, "fully_atomistic_reference": False,
              "hertz_max_depth_A": 0.3, "output_dir": str(tmp_path / "out")}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config))
    assert main(["multiscale", "run", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    (row,) = summary["coupled"]["load_displacement"]
    assert row["depth_A"] == 0.3
    assert row["max_force_eV_per_A"] <= 0.01
    # measured 0.460 eV/Å; Hertz with the Cauchy–Born (Vlassak–Nix) modulus of 137.7 GPa
    # gives (4/3) E* √R d^1.5 = 0.53 eV/Å at d = 0.3 Å, R = 8 Å: within 25 % of it
    hertz = summary["hertz"]
    assert abs(row["load_eV_per_A"] / (4 / 3 * hertz["cauchy_born_indentation_modulus_GPa"]
                                       / 160.21766208 * 8 ** 0.5 * 0.3 ** 1.5) - 1) < 0.25
    assert abs(hertz["cauchy_born_indentation_modulus_GPa"] - 137.7) < 1.0
    dofs = summary["coupled"]["degrees_of_freedom"]
    assert dofs["free_dofs"] < 3 * dofs["lattice_sites"] / 2
    for name in ("load_displacement", "displacement_field", "regions"):
        assert Path(summary["files"][name]).read_bytes()[:4] == b"\x89PNG"
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["coupled"] == summary["coupled"]
