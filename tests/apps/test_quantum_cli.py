"""The ``nnpkit gp`` and ``nnpkit quantum`` subcommands, in-process."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from ase import units

from nnpkit.apps.quantum.potentials import Eckart, Morse
from nnpkit.apps.quantum.workflow import AMU_AU
from nnpkit.cli.quantum import register
from nnpkit.errors import ConfigError


def run(argv: list[str], capsys) -> dict:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    register(commands)
    args = parser.parse_args(argv)
    assert args.handler(args) == 0
    return json.loads(capsys.readouterr().out)


def test_levels_json_matches_the_analytic_morse(capsys) -> None:
    summary = run(["quantum", "levels", "--potential", "morse", "--params", "depth_eV=4.0",
                   "width_per_A=2.2", "r0_A=0.97", "--mass-amu", "0.95", "--n", "4", "--json"],
                  capsys)
    morse = Morse(depth=4.0 / units.Hartree, width=2.2 * units.Bohr, r0=0.97 / units.Bohr)
    exact = morse.levels(0.95 * AMU_AU, 4) * units.Hartree
    np.testing.assert_allclose(summary["levels_eV"], exact, rtol=1e-6)
    assert summary["n_points"] >= 64 and summary["grid_change_eV"] < 1e-5


def test_transmission_json_matches_the_analytic_eckart(capsys) -> None:
    summary = run(["quantum", "transmission", "--potential", "eckart", "--params",
                   "height_eV=0.4", "width_A=0.5", "--mass-amu", "1.008", "--energies-eV",
                   "0.25", "0.4", "0.6", "--json", "--no-progress"], capsys)
    eckart = Eckart(height=0.4 / units.Hartree, width=0.5 / units.Bohr)
    exact = eckart.transmission(1.008 * AMU_AU, np.array([0.25, 0.4, 0.6]) / units.Hartree)
    assert summary["energies_eV"] == [0.25, 0.4, 0.6]
    np.testing.assert_allclose(summary["transmission"], exact, rtol=0.01)


def test_gp_fit_then_levels_from_the_gp_file(tmp_path, capsys) -> None:
    out = tmp_path / "morse_gp.safetensors"
    fitted = run(["gp", "fit", "--reference", "morse", "--active", "--gradients", "--budget",
                  "8", "--energy-cutoff-eV", "2.72", "--out", str(out), "--no-progress",
                  "--json"], capsys)
    assert fitted["n_points"] == 8 and out.exists()
    assert (tmp_path / "morse_gp.png").stat().st_size > 10_000
    png = tmp_path / "waves.png"
    learned = run(["quantum", "levels", "--potential", str(out), "--mass-amu", "0.9483",
                   "--n", "5", "--json", "--plot", str(png)], capsys)
    exact = Morse().levels(0.9483 * AMU_AU, 5) * units.Hartree
    error_cm = np.max(np.abs(np.array(learned["levels_eV"]) - exact)) / units.invcm
    assert error_cm < 1.0 and png.stat().st_size > 10_000


def test_errors_name_the_problem(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["quantum", "levels", "--potential", "morse", "--params",
                              "depth=1", "--mass-amu", "1", "--json"])
    with pytest.raises(ConfigError, match="unknown parameter 'depth'"):
        args.handler(args)
    args = parser.parse_args(["quantum", "transmission", "--potential", "muller_brown",
                              "--mass-amu", "1", "--energies-eV", "0.1", "--json"])
    with pytest.raises(ConfigError, match="1D"):
        args.handler(args)
    bad = tmp_path / "scan.yaml"
    bad.write_text("structure: H2O\nbudgte: 3\n")
    args = parser.parse_args(["gp", "fit", "--reference", str(bad), "--out",
                              str(tmp_path / "x.safetensors")])
    with pytest.raises(ConfigError, match="budgte: unknown key"):
        args.handler(args)
