"""Well-tempered metadynamics walkers in one batch on the analytic double well: the bias
converges to −(γ − 1)/γ F; a killed run resumes (hills cut back to the checkpoint)."""

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
    particles,
    well_energy,
)

from nnpkit.apps.solvation.metad import (
    HILLS_NAME,
    hills_bias,
    metadynamics_profile,
    run_metadynamics,
    truncate_hills,
)
from nnpkit.md.batched_state import BatchedState

pytestmark = pytest.mark.filterwarnings("ignore:.*no compiled path")


def _walkers(n_walkers: int) -> list:
    return particles([-1.0 if b % 2 == 0 else 1.0 for b in range(n_walkers)])


def _converged_deviation(n_walkers: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Shared-bias walkers (γ = 5, h = 0.2 kT, σ = 0.06 Å, a hill every 10 steps of 4 fs):
    the estimate minus U on [−1.3, 1.3] Å with the mean difference removed, and the
    estimate itself (kT)."""
    run = run_metadynamics(
        DoubleWell(BARRIER_eV), _walkers(n_walkers), XCoordinate([1] * n_walkers), n_walkers,
        height_eV=0.2 * KT_eV, sigma=0.06, bias_factor=5.0, pace_steps=10,
        grid=(-2.2, 2.2, 881), temperature_K=TEMPERATURE_K, timestep_fs=4.0, steps=steps,
        friction_per_fs=0.2, sample_interval=100, seed=0, progress=False)
    assert run.metadynamics is not None
    x = np.linspace(-1.3, 1.3, 53)
    free, _ = metadynamics_profile(run.metadynamics, x, steps)
    np.testing.assert_allclose(free, run.metadynamics.free_energy_estimate(x), atol=1e-9)
    deviation = (free - well_energy(x, BARRIER_eV)) / KT_eV
    return deviation - deviation.mean(), free / KT_eV


def test_metadynamics_converges_to_the_double_well_short() -> None:
    """16 walkers × 6000 steps (~7 s): within 0.5 kT of U (measured 0.44 kT: the bias still
    fluctuates by a hill height or two), and the barrier (F(0) − F(±1)) within 0.5 kT of
    4.5 kT. Plain −V (no γ/(γ−1)) would give a barrier of 3.6 kT; no bias at all, 0."""
    deviation, free = _converged_deviation(16, 6000)
    assert np.max(np.abs(deviation)) < 0.5
    barrier = free[26] - 0.5 * (free[6] + free[46])  # x = 0 against x = ±1 Å
    assert barrier == pytest.approx(4.5, abs=0.5)


@pytest.mark.slow
def test_metadynamics_converges_to_the_double_well() -> None:
    """32 walkers × 14 000 steps (~55 s): within 0.2 kT of U over [−1.3, 1.3] Å (measured
    0.135 kT)."""
    deviation, _ = _converged_deviation(32, 14_000)
    assert np.max(np.abs(deviation)) < 0.2


class _Killed(Exception):
    pass


def test_a_killed_metadynamics_run_resumes(tmp_path: Path) -> None:
    """Killed at step 250 (chunks of 100, a hill every 20 steps): the hills of steps 220
    and 240 laid after the last checkpoint (step 200) are cut from the file on the restart,
    which then ends where the uninterrupted run does (to rounding: the deposit's force
    update and a fresh evaluation add the same terms in another order)."""
    settings = dict(height_eV=0.5 * KT_eV, sigma=0.1, bias_factor=5.0, pace_steps=20,
                    temperature_K=TEMPERATURE_K, timestep_fs=4.0, steps=400,
                    friction_per_fs=0.2, sample_interval=10, chunk_steps=100, seed=2,
                    progress=False)
    model, cv = DoubleWell(BARRIER_eV), XCoordinate([1] * 3)
    whole = run_metadynamics(model, _walkers(3), cv, 3, run_dir=tmp_path / "whole",
                             **settings)

    def kill(state: BatchedState) -> None:
        if state.step == 250:
            raise _Killed

    with pytest.raises(_Killed):
        run_metadynamics(model, _walkers(3), cv, 3, run_dir=tmp_path / "killed",
                         observers=[(kill, 10)], **settings)
    hills_file = tmp_path / "killed" / HILLS_NAME
    steps_in_file = [int(line.split()[0]) for line in hills_file.read_text().splitlines()
                     if line and not line.startswith("#")]
    assert max(steps_in_file) == 240  # laid after the checkpoint at 200
    resumed = run_metadynamics(model, _walkers(3), cv, 3, run_dir=tmp_path / "killed",
                               **settings)
    assert resumed.resumed_from_step == 200 and resumed.metadynamics is not None
    assert whole.metadynamics is not None
    for key in ("step", "replica"):
        np.testing.assert_array_equal(resumed.metadynamics.hills[key],
                                      whole.metadynamics.hills[key])
    for key in ("center", "height_eV"):
        np.testing.assert_allclose(resumed.metadynamics.hills[key],
                                   whole.metadynamics.hills[key], rtol=0, atol=1e-9)
    np.testing.assert_allclose(resumed.cv, whole.cv, rtol=0, atol=1e-9)
    assert len(whole.metadynamics.hills["step"]) == 3 * 21  # steps 0, 20, ..., 400


def test_truncate_hills_and_the_sum_of_hills(tmp_path: Path) -> None:
    path = tmp_path / "HILLS"
    path.write_text("#! FIELDS step replica center height_eV\n0 0 0.0 1.0\n10 1 1.0 0.5\n"
                    "20 0 2.0 0.25\n30 1 3.")  # torn last line
    assert truncate_hills(path, 10) == 2
    assert path.read_text() == ("#! FIELDS step replica center height_eV\n0 0 0.0 1.0\n"
                                "10 1 1.0 0.5\n")
    hills = {"step": np.array([0, 10]), "replica": np.array([0, 1]),
             "center": np.array([0.0, 1.0]), "height_eV": np.array([1.0, 0.5])}
    np.testing.assert_allclose(hills_bias(hills, np.array([0.0]), 1.0),
                               [1.0 + 0.5 * np.exp(-0.5)])
    np.testing.assert_allclose(hills_bias(hills, np.array([0.0]), 1.0, until_step=5), [1.0])
    np.testing.assert_allclose(hills_bias(hills, np.array([1.0]), 1.0, replica=1), [0.5])


def test_metad_workflow_writes_the_summary(tmp_path: Path) -> None:
    """``solvation_metad`` on Na+ in 4 waters with a tiny random model: the summary's keys,
    the hills file (2 walkers × a hill every 20 steps of 120: 7 each), the profile on the
    sampled range with F min 0 and a most probable CN."""
    import json

    from double_well import tiny_ion_water_models

    from nnpkit.apps.solvation.workflow import solvation_metad

    model, _ = tiny_ion_water_models(tmp_path / "models")
    config = {
        "system": {"n_waters": 4}, "calculator": str(model),
        "cv": {"r0_A": 3.1, "n": 12, "m": 24},
        "metad": {"n_walkers": 2, "height_eV": 0.01, "sigma": 0.1, "bias_factor": 5,
                  "pace_steps": 20, "grid": [0.0, 5.0, 501], "profile_points": 21},
        "md": {"steps": 120, "equilibration_steps": 40, "chunk_steps": 40,
               "sample_interval": 5, "trajectory_interval": 10, "friction_per_fs": 0.05},
        "analysis": {"states": {"low": [0.0, 2.0], "high": [2.0, 4.0]},
                     "rdf_r_max_A": 6.0, "rdf_bins": 30},
        "output": str(tmp_path / "run"), "progress": False}
    summary = solvation_metad(config)
    assert summary["status"] == "complete" and summary["method"] == "metad"
    assert summary["hills"]["count"] == 2 * 7
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary
    rows = summary["profile"]
    assert len(rows) == 21 and set(rows[0]) == {"cn", "F_eV", "sigma_eV"}
    assert min(r["F_eV"] for r in rows) == 0.0
    assert isinstance(summary["most_probable_cn"], float)
    assert set(summary["delta_F_eV"]) == set(summary["delta_F_sigma_eV"])
    assert Path(summary["files"]["profile_png"]).stat().st_size > 0
