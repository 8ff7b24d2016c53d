"""Umbrella windows in one batch on the analytic double well: MBAR recovers F(x) = U(x);
a killed run resumes to the uninterrupted one; bad settings are refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from double_well import (
    TEMPERATURE_K,
    BARRIER_eV,
    DoubleWell,
    KT_eV,
    XCoordinate,
    bin_free_energy,
    particles,
    tiny_ion_water_models,
)

from nnpkit.apps.solvation.mbar import umbrella_free_energy
from nnpkit.apps.solvation.umbrella import CHECKPOINT_NAME, run_umbrella
from nnpkit.errors import ConfigError
from nnpkit.md.batched_state import BatchedState

pytestmark = pytest.mark.filterwarnings("ignore:.*no compiled path")


def _windows(n_windows: int) -> tuple[np.ndarray, list]:
    centres = np.linspace(-1.4, 1.4, n_windows)
    return centres, particles(list(centres))


def test_umbrella_mbar_recovers_the_double_well() -> None:
    """16 windows (K = 2 eV/Å², spacing 0.19 Å: neighbouring overlaps ≈ 0.2) of an H atom
    in h[(x/a)² − 1]² with h = 4.5 kT, Langevin at 300 K (γ = 0.2/fs, dt = 4 fs: BAOAB's
    configurational error is far below the noise here), 20 000 steps in one batch.

    F(x) = U(x) + const (the y, z integrals factor out; see tests/double_well.py), so each
    26-bin histogram value over [−1.3, 1.3] Å must equal the exact bin average of U up to
    one constant (fitted as the mean difference), within 0.1 kT. The profile spans 4.5 kT,
    so a missing unbiasing (the windows' flat histograms), a wrong β or a sign error miss by
    whole kT. Measured: max deviation 0.053 kT, MBAR σ ≤ 0.094 kT, neighbour overlaps ≥ 0.21.
    """
    centres, structures = _windows(16)
    run = run_umbrella(DoubleWell(BARRIER_eV), structures, XCoordinate([1] * 16), centres,
                       2.0, temperature_K=TEMPERATURE_K, timestep_fs=4.0, steps=20_000,
                       friction_per_fs=0.2, sample_interval=2, seed=1, progress=False)
    assert run.cv.shape == (10_001, 16) and run.sample_steps[-1] == 20_000
    edges = np.linspace(-1.3, 1.3, 27)
    profile = umbrella_free_energy(run.samples(equilibration_steps=400), centres, 2.0,
                                   TEMPERATURE_K, bins=edges)
    deviation = (profile.free_energy_eV - bin_free_energy(edges, BARRIER_eV, TEMPERATURE_K))
    deviation -= deviation.mean()
    assert np.max(np.abs(deviation)) < 0.1 * KT_eV
    assert np.ptp(profile.free_energy_eV) == pytest.approx(
        np.ptp(bin_free_energy(edges, BARRIER_eV, TEMPERATURE_K)), abs=0.2 * KT_eV)
    assert profile.poor_overlap == []
    assert np.all(profile.statistical_inefficiency > 1.2)  # sampled every 2 steps: correlated


class _Killed(Exception):
    pass


def test_a_killed_umbrella_run_resumes_to_the_uninterrupted_run(tmp_path: Path) -> None:
    """Chunks of 100 steps; the first attempt is killed at step 250 (inside the third
    chunk, after two checkpoints). Started again, it continues from step 200 and ends
    bit-identical to an uninterrupted run: the CV series, positions and momenta, and the
    window trajectories (one part per chunk, the killed chunk's part never published)."""
    centres, structures = _windows(4)
    settings = dict(temperature_K=TEMPERATURE_K, timestep_fs=4.0, steps=400,
                    friction_per_fs=0.2, sample_interval=10, chunk_steps=100,
                    trajectory_interval=50, seed=3, progress=False)
    model, cv = DoubleWell(BARRIER_eV), XCoordinate([1] * 4)
    whole = run_umbrella(model, structures, cv, centres, 2.0, run_dir=tmp_path / "whole",
                         **settings)

    def kill(state: BatchedState) -> None:
        if state.step == 250:
            raise _Killed

    with pytest.raises(_Killed):
        run_umbrella(model, structures, cv, centres, 2.0, run_dir=tmp_path / "killed",
                     observers=[(kill, 10)], **settings)
    with np.load(tmp_path / "killed" / CHECKPOINT_NAME) as checkpoint:
        assert int(checkpoint["step"]) == 200
    resumed = run_umbrella(model, structures, cv, centres, 2.0, run_dir=tmp_path / "killed",
                           **settings)
    assert resumed.resumed_from_step == 200 and resumed.completed_steps == 400
    np.testing.assert_array_equal(resumed.sample_steps, np.arange(0, 401, 10))
    np.testing.assert_array_equal(resumed.cv, whole.cv)
    for a, b in zip(resumed.atoms, whole.atoms, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.get_momenta(), b.get_momenta())
    for window in range(4):
        parts = sorted((tmp_path / "killed" / "windows" / f"window_{window:02d}").iterdir())
        assert [p.name for p in parts] == [f"part_{c:05d}.extxyz" for c in range(4)]
        for part in parts:
            twin = tmp_path / "whole" / "windows" / f"window_{window:02d}" / part.name
            assert part.read_text() == twin.read_text()
    again = run_umbrella(model, structures, cv, centres, 2.0, run_dir=tmp_path / "killed",
                         **settings)  # nothing left to do
    assert again.resumed_from_step == 400
    np.testing.assert_array_equal(again.cv, whole.cv)
    with pytest.raises(ConfigError, match="different seed"):
        run_umbrella(model, structures, cv, centres, 2.0, run_dir=tmp_path / "killed",
                     **{**settings, "seed": 4})


def test_bad_settings_are_refused() -> None:
    centres, structures = _windows(3)
    model, cv = DoubleWell(BARRIER_eV), XCoordinate([1] * 3)
    with pytest.raises(ConfigError, match=r"sample_interval \(30\) must be >= 1 and divide "
                                          r"chunk_steps \(100\)"):
        run_umbrella(model, structures, cv, centres, 2.0, steps=200, chunk_steps=100,
                     sample_interval=30, progress=False)
    with pytest.raises(ConfigError, match="2 structures for 3 umbrella windows"):
        run_umbrella(model, structures[:2], cv, centres, 2.0, steps=10, progress=False)


# -- the workflow: Na+ in a few waters on a tiny (untrained) model ---------------------------

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_ion_water_models(tmp_path_factory.mktemp("solvation_models"))


def _workflow_config(calculator: Path, output: Path, **changes: object) -> dict:
    config = {
        "system": {"n_waters": 4}, "calculator": str(calculator),
        "cv": {"r0_A": 3.1, "n": 12, "m": 24},
        "windows": {"centers": [1.6, 1.8, 2.0, 2.2], "spring_constant": 0.5},
        "md": {"steps": 120, "equilibration_steps": 40, "chunk_steps": 40,
               "sample_interval": 5, "trajectory_interval": 10, "friction_per_fs": 0.05},
        "analysis": {"bins": 10, "states": {"low": [1.5, 1.9], "high": [1.9, 2.3]},
                     "rdf_r_max_A": 6.0, "rdf_bins": 30},
        "output": str(output), "progress": False}
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def test_umbrella_workflow_writes_the_summary(tiny_models: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    """The summary has the keys the CLI prints (most_probable_cn, profile rows of cn/F/σ,
    delta_F_eV between the named states), matches summary.json, and the CSV and PNGs are
    written; running the same config again resumes at the end and gives the same profile."""
    import json

    from nnpkit.apps.solvation.workflow import solvation_umbrella

    model, _ = tiny_models
    config = _workflow_config(model, tmp_path / "run")
    summary = solvation_umbrella(config)
    assert summary["status"] == "complete" and summary["completed_steps"] == 120
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary
    rows = summary["profile"]
    assert len(rows) == 10 and set(rows[0]) == {"cn", "F_eV", "sigma_eV"}
    assert min(r["F_eV"] for r in rows if r["F_eV"] is not None) == 0.0
    assert isinstance(summary["most_probable_cn"], float)
    assert set(summary["delta_F_eV"]) <= {"low->high"}
    assert [w["index"] for w in summary["windows"]] == [0, 1, 2, 3]
    assert all(w["n_samples"] == 17 for w in summary["windows"])  # steps 40, 45, ..., 120
    for name in ("profile_csv", "rdf_csv", "profile_png", "rdf_png", "window_histograms_png"):
        assert Path(summary["files"][name]).stat().st_size > 0
    assert (tmp_path / "run" / "profile.csv").read_text().startswith("cn,F_eV,sigma_eV\n")
    assert summary["shell"]["n_frames"] == 4 * 9  # frames at 20, 25, ..., 60 fs
    again = solvation_umbrella(config)
    assert again["resumed_from_step"] == 120 and again["profile"] == rows


def test_committee_spread_flags_or_stops_the_windows(tiny_models: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    """Two random members disagree by far more than 1e-3 eV/Å: with "flag" every window is
    reported (and, left out, no profile is made, or kept on request); with "stop" the run
    stops at the first check, naming the window and the step."""
    from nnpkit.apps.solvation.workflow import solvation_umbrella

    _, committee = tiny_models
    guard = {"max_force_std_eV_per_A": 1e-3, "action": "flag", "interval": 20}
    flagged = solvation_umbrella(_workflow_config(committee, tmp_path / "flag",
                                                  uncertainty=guard))
    assert flagged["status"] == "flagged" and flagged["profile"] == []
    assert [f["replica"] for f in flagged["flagged"]] == [0, 1, 2, 3]
    assert all(f["max_force_std_eV_per_A"] > 1e-3 for f in flagged["flagged"])
    kept = solvation_umbrella(_workflow_config(  # one window: nothing to overlap with
        committee, tmp_path / "keep", uncertainty={**guard, "use_flagged_windows": True},
        windows={"centers": [2.0]}))
    assert kept["status"] == "complete" and len(kept["profile"]) == 10
    assert kept["windows"][0]["used"] and kept["windows"][0]["max_force_std_eV_per_A"] > 1e-3
    stopped = solvation_umbrella(_workflow_config(committee, tmp_path / "stop",
                                                  uncertainty={**guard, "action": "stop"}))
    assert stopped["status"] == "stopped" and stopped["stopped"]["replica"] == 0
    assert stopped["stopped"]["step"] == 0 and stopped["profile"] == []


def test_bad_input_is_refused_by_name(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    from nnpkit.apps.solvation.workflow import solvation_umbrella

    model, _ = tiny_models
    with pytest.raises(ConfigError, match="species Cl is not in the structure"):
        solvation_umbrella(_workflow_config(model, tmp_path / "a", cv={"group": "Cl"}))
    with pytest.raises(ConfigError, match=r"atom\(s\) \[99\] do not exist in the structure"):
        solvation_umbrella(_workflow_config(model, tmp_path / "b", cv={"center": 99}))
    with pytest.raises(ConfigError, match=r"cv.group: atom\(s\) \[40\] do not exist"):
        solvation_umbrella(_workflow_config(model, tmp_path / "c",
                                            cv={"kind": "distance", "group": [1, 40]}))
    with pytest.raises(ConfigError, match="a distance CV needs exactly one atom, got 4"):
        solvation_umbrella(_workflow_config(model, tmp_path / "c2", cv={"kind": "distance"}))
    with pytest.raises(ConfigError, match="species K is not in"):
        solvation_umbrella(_workflow_config(model, tmp_path / "d", cv={"center": "K"}))
    with pytest.raises(ConfigError, match="needs a committee"):
        solvation_umbrella(_workflow_config(model, tmp_path / "e",
                                            uncertainty={"max_force_std_eV_per_A": 0.1}))
    with pytest.raises(ConfigError, match="delta_F.*unknown state"):
        solvation_umbrella(_workflow_config(model, tmp_path / "f",
                                            analysis={"delta_F": [["low", "nowhere"]]}))
    with pytest.raises(ConfigError, match="unknown key"):
        solvation_umbrella(_workflow_config(model, tmp_path / "g", windows={"width": 1}))


def test_the_example_configs_are_valid() -> None:
    """The shipped configs validate, and the GFN2 one resolves to one tblite calculator
    per window with the ion's charge."""
    from nnpkit.apps.solvation.config import load_metad_config, load_umbrella_config
    from nnpkit.apps.solvation.sampling import make_force_field

    examples = Path(__file__).parents[2] / "examples" / "solvation"
    gfn2 = load_umbrella_config(examples / "umbrella_gfn2.yaml")
    load_umbrella_config(examples / "umbrella_model.yaml")
    load_metad_config(examples / "metad_model.yaml")
    assert len(gfn2.windows.center_values()) == 17
    force_field = make_force_field(gfn2, 3)
    assert len(force_field.model) == 3 and not force_field.is_committee
    assert force_field.model[0] is not force_field.model[1]


def test_cli_umbrella_json_is_the_workflow_summary(tiny_models: tuple[Path, Path],
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """``nnpkit solvation umbrella CONFIG --json`` prints one object with the issue's keys,
    equal to the summary.json the workflow wrote."""
    import json

    import yaml

    from nnpkit.cli.main import main

    model, _ = tiny_models
    path = tmp_path / "umbrella.yaml"
    path.write_text(yaml.safe_dump(_workflow_config(model, tmp_path / "run")))
    assert main(["solvation", "umbrella", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"most_probable_cn", "profile", "delta_F_eV"} <= set(printed)
    assert printed == json.loads((tmp_path / "run" / "summary.json").read_text())
