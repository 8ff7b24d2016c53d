"""``nnpkit multiscale patch-test`` and ``run`` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

from nnpkit.cli.main import main

MODEL = Path(__file__).resolve().parents[1] / "data" / "cu100_adatom.nnp"


def test_patch_test_json_reports_every_coupling(tmp_path, capsys) -> None:
    config = {"potential": str(MODEL), "couplings": ["bqcf", "sharp"],
              "block": {"symbol": "Cu", "n_cells": [12, 12, 12]}, "radius_A": 3.0,
              "blend_widths_A": [5.0], "output_dir": str(tmp_path / "out")}
    path = tmp_path / "patch.yaml"
    path.write_text(json.dumps(config))
    assert main(["multiscale", "patch-test", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    ghost = summary["max_ghost_force_eV_per_A"]
    assert set(ghost) == {"bqcf", "sharp"}
    assert ghost["bqcf"] < 1e-8  # patch-test consistent
    assert 0.05 < ghost["sharp"] < 0.2  # measured 0.075 eV/Å: ghost forces of order one
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
