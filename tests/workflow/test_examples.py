"""The examples run (small sizes) so they never rot."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_copper_example_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    monkeypatch.setattr(sys, "argv", ["copper_potential.py", "--out", str(tmp_path),
                                      "--quick"])
    runpy.run_path(str(EXAMPLES / "copper_potential.py"), run_name="__main__")
    summary = json.loads(capsys.readouterr().out)
    # even a 15-epoch model puts the EMT lattice constant (3.59 Å) within 2 %
    assert abs(summary["relaxed_lattice_constant_A"] - 3.59) < 0.07
    assert summary["test"]["forces_mae_meV_per_A"] < 150
