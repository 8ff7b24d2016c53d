"""Tests for nnpkit.md.runner: NVE energy conservation, outputs (extxyz, .traj, JSON, PNG),
continuing a run from its last frame, and bad settings. The ensembles' statistics (NVT
temperature, NPT pressure and volume, the Maxwell–Boltzmann draw) are in
test_md_ensembles.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.io import read

from nnpkit.errors import ConfigError
from nnpkit.md import MDResult, plot_md_log, run_md


def _copper(repeat: int) -> Atoms:
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat, repeat, repeat))


def _max_energy_deviation_per_atom(timestep_fs: float, steps: int) -> float:
    result = run_md(_copper(2), EMT(), temperature_K=300.0, steps=steps,
                    timestep_fs=timestep_fs, ensemble="nve", log_interval=1, progress=False)
    total = result.log["total_energy_eV"]
    return float(np.abs(total - total[0]).max() / 32)


def test_nve_conserves_energy_to_second_order_in_the_time_step() -> None:
    """Velocity Verlet's energy error is O(dt²): 32 EMT Cu atoms at 300 K over 200 fs
    deviate by 8·10⁻⁶ eV/atom at 1 fs and 3.2·10⁻⁵ at 2 fs (measured). Bound 3·10⁻⁵ at
    1 fs (4x margin), and halving the step must cut the error by 4 (3 to 5.5): forces
    from the wrong step or a first-order integrator give a ratio near 2 or a drift."""
    fine = _max_energy_deviation_per_atom(1.0, 200)
    coarse = _max_energy_deviation_per_atom(2.0, 100)
    assert fine < 3e-5
    assert 3.0 < coarse / fine < 5.5


def test_nve_log_observers_and_trajectory(tmp_path: Path) -> None:
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
    np.testing.assert_allclose(total, log["potential_energy_eV"] + log["kinetic_energy_eV"])
    # the logged temperature is 2 K / (3N k_B): no constraint in NVE, 3N degrees of freedom
    np.testing.assert_allclose(log["temperature_K"],
                               2 * log["kinetic_energy_eV"] / (3 * 32 * units.kB), rtol=1e-12)
    assert np.ptp(log["volume_A3"]) == 0.0
    assert len(calls) == 5  # steps 0, 50, 100, 150, 200
    frames = read(trajectory, index=":")
    assert len(frames) == 21
    assert [frame.info["time_fs"] for frame in frames] == pytest.approx(log["time_fs"])
    assert frames[-1].get_potential_energy() == pytest.approx(log["potential_energy_eV"][-1])
    assert frames[-1].get_forces().shape == (32, 3)
    np.testing.assert_allclose(frames[-1].positions, result.atoms.positions, atol=1e-6)
    np.testing.assert_allclose(frames[-1].get_momenta(), result.atoms.get_momenta(), atol=1e-6)


def test_last_step_is_logged_when_not_a_multiple_of_the_interval(tmp_path: Path) -> None:
    result = run_md(_copper(1), EMT(), 300.0, 7, 1.0, ensemble="nve", log_interval=5,
                    trajectory=tmp_path / "md.traj", progress=False)
    assert result.log["time_fs"].tolist() == [0.0, 5.0, 7.0]
    frames = read(tmp_path / "md.traj", index=":")
    assert [frame.info["time_fs"] for frame in frames] == [0.0, 5.0, 7.0]
    np.testing.assert_array_equal(frames[-1].positions, result.atoms.positions)


@pytest.mark.parametrize(("suffix", "atol"), [(".traj", 1e-12), (".extxyz", 1e-6)])
def test_continuing_from_the_last_frame_equals_one_run(tmp_path: Path, suffix: str,
                                                       atol: float) -> None:
    """NVE is deterministic: 10 + 10 steps continued from the trajectory's last frame (its
    positions and momenta) give the 20-step run. ``.traj`` stores float64, so to rounding;
    extxyz stores 8 decimals, so to 1e-6 Å after 10 more steps."""
    start = _copper(2)
    settings = {"temperature_K": 300.0, "timestep_fs": 1.0, "ensemble": "nve",
                "log_interval": 5, "progress": False, "seed": 4}
    straight = run_md(start, EMT(), steps=20, **settings)  # type: ignore[arg-type]
    path = tmp_path / f"md{suffix}"
    run_md(start, EMT(), steps=10, trajectory=path, **settings)  # type: ignore[arg-type]
    last = read(path, index=-1)
    assert last.info["time_fs"] == 10.0
    continued = run_md(last, EMT(), steps=10, trajectory=path, keep_momenta=True,
                       start_time_fs=10.0, append=True, **settings)  # type: ignore[arg-type]
    np.testing.assert_allclose(continued.atoms.positions, straight.atoms.positions,
                               rtol=0, atol=atol)
    np.testing.assert_allclose(continued.atoms.get_momenta(), straight.atoms.get_momenta(),
                               rtol=0, atol=atol)
    assert continued.log["time_fs"].tolist() == [10.0, 15.0, 20.0]
    frames = read(path, index=":")  # 0, 5, 10 then 15, 20: the restart frame is not repeated
    assert [frame.info["time_fs"] for frame in frames] == [0.0, 5.0, 10.0, 15.0, 20.0]


def test_npt_logs_the_pressure_of_its_frames(tmp_path: Path) -> None:
    """The logged pressure is -tr(σ)/3 with the ideal-gas term, of the logged state."""
    result = run_md(
        _copper(2), EMT(), temperature_K=300.0, steps=40, timestep_fs=2.0, ensemble="npt",
        pressure_GPa=5.0, log_interval=5, progress=False,
    )  # fmt: skip
    final = result.atoms.copy()
    final.calc = EMT()
    stress = final.get_stress(include_ideal_gas=True)
    assert result.log["pressure_GPa"][-1] == pytest.approx(
        -stress[:3].mean() / units.GPa, rel=1e-9)
    assert result.atoms.get_volume() == pytest.approx(result.log["volume_A3"][-1])
    png = tmp_path / "npt.png"
    plot_md_log(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_roundtrip_and_png_from_log(tmp_path: Path) -> None:
    result = run_md(
        molecule("H2O"), EMT(), temperature_K=100.0, steps=20, timestep_fs=0.5,
        ensemble="nvt", log_interval=5, progress=False,
    )  # fmt: skip
    assert "volume_A3" not in result.log  # molecule: no volume
    assert not result.atoms.constraints  # the MD's FixCom is not handed back
    path = tmp_path / "md.json"
    result.to_json(path)
    loaded = MDResult.from_json(path)
    assert loaded.ensemble == "nvt" and loaded.settings["steps"] == 20
    np.testing.assert_allclose(loaded.log["temperature_K"], result.log["temperature_K"])
    np.testing.assert_allclose(loaded.atoms.positions, result.atoms.positions)
    png = tmp_path / "md.png"
    plot_md_log(loaded.log, png)
    assert png.stat().st_size > 1000


def test_bad_settings_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="periodic"):
        run_md(molecule("H2O"), EMT(), 300.0, 10, 0.5, ensemble="npt", progress=False)
    with pytest.raises(ConfigError, match="ensemble"):
        run_md(_copper(1), EMT(), 300.0, 10, 0.5, ensemble="nph", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"md\.nc.*\.extxyz, \.xyz, \.traj"):
        run_md(_copper(1), EMT(), 300.0, 10, 0.5, trajectory=tmp_path / "md.nc",
               progress=False)
    with pytest.raises(ConfigError, match="no momenta"):
        run_md(_copper(1), EMT(), 300.0, 10, 0.5, keep_momenta=True, progress=False)
