"""Tests for nnpkit.md.runner: NVE energy conservation, NVT temperature, NPT, outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.io import read

from nnpkit.errors import ConfigError
from nnpkit.md import MDResult, plot_md_log, run_md


def _copper(repeat: int) -> Atoms:
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat, repeat, repeat))


def test_nve_conserves_energy_and_writes_trajectory(tmp_path: Path) -> None:
    atoms = _copper(2)  # 32 atoms
    before = atoms.positions.copy()
    calls: list[int] = []
    trajectory = tmp_path / "nve.extxyz"
    result = run_md(
        atoms, EMT(), temperature_K=300.0, steps=200, timestep_fs=1.0, ensemble="nve",
        trajectory=trajectory, log_interval=10, progress=False,
        observers=[(lambda: calls.append(1), 50)],
    )  # fmt: skip
    np.testing.assert_array_equal(atoms.positions, before)  # input untouched
    assert atoms.calc is None
    log = result.log
    assert len(log["time_fs"]) == 21 and log["time_fs"][-1] == pytest.approx(200.0)
    total = log["total_energy_eV"]
    assert np.abs(total - total[0]).max() / len(atoms) < 1e-3
    np.testing.assert_allclose(total, log["potential_energy_eV"] + log["kinetic_energy_eV"])
    assert log["temperature_K"][0] == pytest.approx(300.0, rel=0.5)
    assert np.ptp(log["volume_A3"]) == 0.0
    assert len(calls) == 5  # steps 0, 50, 100, 150, 200
    frames = read(trajectory, index=":")
    assert len(frames) == 21
    assert frames[-1].get_potential_energy() == pytest.approx(log["potential_energy_eV"][-1])
    assert frames[-1].get_forces().shape == (32, 3)
    np.testing.assert_allclose(frames[-1].positions, result.atoms.positions, atol=1e-6)


def test_nvt_reaches_target_temperature() -> None:
    atoms = _copper(3)  # 108 atoms
    result = run_md(
        atoms, EMT(), temperature_K=500.0, steps=1000, timestep_fs=2.0, ensemble="nvt",
        friction_per_fs=0.02, log_interval=5, seed=1, progress=False,
    )  # fmt: skip
    temperature = result.log["temperature_K"]
    mean_second_half = temperature[len(temperature) // 2 :].mean()
    assert mean_second_half == pytest.approx(500.0, rel=0.25)
    assert not result.atoms.constraints  # the MD's FixCom is not handed back


def test_npt_logs_volume_and_pressure(tmp_path: Path) -> None:
    atoms = _copper(2)
    result = run_md(
        atoms, EMT(), temperature_K=300.0, steps=100, timestep_fs=2.0, ensemble="npt",
        pressure_GPa=5.0, log_interval=5, progress=False,
    )  # fmt: skip
    volume = result.log["volume_A3"]
    assert np.ptp(volume) > 0.0  # the barostat moves the cell
    assert volume[-1] < volume[0]  # 5 GPa compresses copper
    assert np.all(np.isfinite(result.log["pressure_GPa"]))
    assert result.atoms.get_volume() == pytest.approx(volume[-1])
    png = tmp_path / "npt.png"
    plot_md_log(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_roundtrip_and_png_from_log(tmp_path: Path) -> None:
    result = run_md(
        molecule("H2O"), EMT(), temperature_K=100.0, steps=20, timestep_fs=0.5,
        ensemble="nvt", log_interval=5, progress=False,
    )  # fmt: skip
    assert "volume_A3" not in result.log  # molecule: no volume
    path = tmp_path / "md.json"
    result.to_json(path)
    loaded = MDResult.from_json(path)
    assert loaded.ensemble == "nvt" and loaded.settings["steps"] == 20
    np.testing.assert_allclose(loaded.log["temperature_K"], result.log["temperature_K"])
    np.testing.assert_allclose(loaded.atoms.positions, result.atoms.positions)
    png = tmp_path / "md.png"
    plot_md_log(loaded.log, png)
    assert png.stat().st_size > 1000


def test_bad_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="periodic"):
        run_md(molecule("H2O"), EMT(), 300.0, 10, 0.5, ensemble="npt", progress=False)
    with pytest.raises(ConfigError, match="ensemble"):
        run_md(_copper(1), EMT(), 300.0, 10, 0.5, ensemble="nph", progress=False)  # type: ignore[arg-type]
