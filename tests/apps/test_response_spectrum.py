"""The MD IR spectrum (dipole autocorrelation) and the ``nnpkit response ir`` workflow.

A synthetic cosine dipole must peak at its wavenumber, with the stated resolution; an NVE
run (ASE VelocityVerlet, 1 fs: 31 steps per period of the 1090 cm⁻¹ stretch) of the
fixed-charge diatomic of ``test_response_ir`` must peak at its harmonic frequency.
Velocity Verlet integrates a harmonic oscillator exactly at the shifted frequency
``ω' = (2/Δt)·arcsin(ωΔt/2)`` (+1.9 cm⁻¹ here; +18 cm⁻¹ for a 3600 cm⁻¹ O–H stretch at
0.5 fs), so the MD peaks are compared with ``ω'`` where the shift matters.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.io import write
from ase.md.verlet import VelocityVerlet

from apps.test_response_ir import FixedChargeSprings, diatomic, water_like
from nnpkit.apps.response.ir import harmonic_ir
from nnpkit.apps.response.ir_workflow import ir_spectrum
from nnpkit.apps.response.spectrum import (
    SPEED_OF_LIGHT_CM_PER_FS,
    dipole_autocorrelation,
    dipole_spectrum,
    quantum_correction_factor,
)
from nnpkit.errors import ConfigError


def _verlet_cm1(wavenumber_cm1: np.ndarray | float, timestep_fs: float) -> np.ndarray:
    """The frequency (cm⁻¹) at which Velocity Verlet integrates a harmonic mode."""
    omega = 2 * np.pi * SPEED_OF_LIGHT_CM_PER_FS * np.asarray(wavenumber_cm1)  # 1/fs
    shifted = 2 / timestep_fs * np.arcsin(omega * timestep_fs / 2)
    return shifted / (2 * np.pi * SPEED_OF_LIGHT_CM_PER_FS)


def _nve(atoms: Atoms, calc: FixedChargeSprings, steps: int, timestep_fs: float,
         stretch_A: float = 0.03) -> list[Atoms]:
    """NVE frames (every step) from ``atoms`` with atom 1 pulled ``stretch_A`` away from
    atom 0, at rest: a vibration without rotation. Each frame has info['time_fs']."""
    work = atoms.copy()
    bond = work.positions[1] - work.positions[0]
    work.positions[1] += stretch_A * bond / np.linalg.norm(bond)
    work.calc = calc
    frames: list[Atoms] = []

    def record() -> None:
        frame = Atoms(work.get_chemical_symbols(), positions=work.positions.copy())
        frame.info["time_fs"] = len(frames) * timestep_fs
        frame.info["energy_eV"] = work.get_potential_energy() + work.get_kinetic_energy()
        frames.append(frame)

    dynamics = VelocityVerlet(work, timestep=timestep_fs * units.fs)
    dynamics.attach(record, interval=1)
    dynamics.run(steps)
    return frames


@pytest.fixture(scope="module")
def diatomic_run() -> tuple[Atoms, FixedChargeSprings, list[Atoms]]:
    atoms, calc = diatomic()
    return atoms, calc, _nve(atoms, calc, steps=2000, timestep_fs=1.0)  # 2 ps


def _dipoles(frames: list[Atoms], calc: FixedChargeSprings) -> np.ndarray:
    return np.array([calc.charges_e @ frame.positions for frame in frames])  # [T, 3]


def test_autocorrelation_matches_the_direct_sum() -> None:
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(300, 3)) + np.array([1.0, -2.0, 0.5])  # [T, 3], nonzero mean
    correlation = dipole_autocorrelation(mu, max_lag=50)
    delta = mu - mu.mean(axis=0)
    direct = [np.mean(np.sum(delta[: len(mu) - lag] * delta[lag:], axis=1))
              for lag in range(51)]
    np.testing.assert_allclose(correlation, direct, rtol=1e-10, atol=1e-12)
    with pytest.raises(ConfigError, match=r"\[T >= 2, 3\]"):
        dipole_autocorrelation(mu[:, :2])


def test_a_noisy_cosine_peaks_at_its_wavenumber_with_the_stated_resolution() -> None:
    wavenumber_cm1, timestep_fs = 1234.0, 1.0
    time_fs = np.arange(8000) * timestep_fs
    direction = np.array([0.3, -0.8, 0.5])
    rng = np.random.default_rng(7)
    signal = (0.05 * np.cos(2 * np.pi * SPEED_OF_LIGHT_CM_PER_FS * wavenumber_cm1
                            * time_fs)[:, None] * direction)  # [T, 3]
    mu = signal + 0.02 * rng.normal(size=signal.shape)
    for window in ("hann", "rectangular"):
        spectrum = dipole_spectrum(mu, timestep_fs, max_lag_fs=1000.0, window=window)
        # resolution 1/(c·1000 fs) = 33 cm^-1 (Hann); the peak within a tenth of it
        assert abs(spectrum.peak_wavenumber_cm1() - wavenumber_cm1) < \
            0.1 * spectrum.resolution_cm1
        assert spectrum.intensity.max() == pytest.approx(1.0)
    hann = dipole_spectrum(mu, timestep_fs, max_lag_fs=1000.0)
    assert hann.resolution_cm1 == pytest.approx(33.36, rel=1e-3)
    # the stated resolution is the measured FWHM of the line (noise-free cosine)
    clean = dipole_spectrum(signal, timestep_fs, max_lag_fs=1000.0, grid_spacing_cm1=0.1)
    above = clean.wavenumbers_cm1[(clean.intensity >= 0.5)
                                  & (abs(clean.wavenumbers_cm1 - wavenumber_cm1) < 200)]
    assert above.max() - above.min() == pytest.approx(clean.resolution_cm1, rel=0.02)
    with pytest.raises(ConfigError, match="Nyquist"):
        dipole_spectrum(mu, timestep_fs, max_wavenumber_cm1=20000.0)
    with pytest.raises(ConfigError, match="window must be one of"):
        dipole_spectrum(mu, timestep_fs, window="blackman")


def test_quantum_corrections_have_their_closed_forms() -> None:
    wavenumbers = np.array([0.0, 208.5, 2000.0])  # cm^-1
    x = wavenumbers * 1.438777 / 300.0  # hcν̃/kT with c₂ = 1.438777 cm·K
    np.testing.assert_allclose(quantum_correction_factor(wavenumbers, 300.0, "harmonic"),
                               1.0)
    expected = {"standard": 2 * np.tanh(x[1:] / 2) / x[1:],
                "schofield": 2 * np.sinh(x[1:] / 2) / x[1:],
                "none": (1 - np.exp(-x[1:])) / x[1:]}
    for kind, values in expected.items():
        factor = quantum_correction_factor(wavenumbers, 300.0, kind)
        assert factor[0] == 1.0  # the classical limit
        np.testing.assert_allclose(factor[1:], values, rtol=1e-5)
    with pytest.raises(ConfigError, match="quantum_correction must be one of"):
        quantum_correction_factor(wavenumbers, 300.0, "kubo")


def test_nve_diatomic_peaks_at_the_harmonic_frequency(diatomic_run) -> None:
    atoms, calc, frames = diatomic_run
    energies = [frame.info["energy_eV"] for frame in frames]
    # NVE holds: Verlet's energy fluctuation is ~(ωΔt)²/8 = 5e-3 of the 13.5 meV
    assert np.ptp(energies) < 0.02 * 0.5 * 30.0 * 0.03 ** 2
    m1, m2 = atoms.get_masses()
    reduced = m1 * m2 / (m1 + m2)
    omega_per_fs = np.sqrt(30.0 / reduced) * units.fs  # sqrt(k/μ) in 1/fs (ASE units)
    harmonic_cm1 = omega_per_fs / (2 * np.pi * SPEED_OF_LIGHT_CM_PER_FS)
    assert harmonic_cm1 == pytest.approx(1090.46, rel=1e-4)
    spectrum = dipole_spectrum(_dipoles(frames, calc), 1.0)
    assert spectrum.max_lag_fs == pytest.approx(1000.0, abs=1.0)
    assert spectrum.resolution_cm1 == pytest.approx(33.36, rel=1e-3)
    # within a quarter of the resolution of the harmonic frequency ...
    assert abs(spectrum.peak_wavenumber_cm1() - harmonic_cm1) < 0.25 * spectrum.resolution_cm1
    # ... and within 1 cm^-1 of the frequency Verlet integrates at (+1.9 cm^-1)
    assert spectrum.peak_wavenumber_cm1() == pytest.approx(_verlet_cm1(harmonic_cm1, 1.0),
                                                           abs=1.0)


def test_md_absorption_integrates_to_the_harmonic_intensity(diatomic_run) -> None:
    """A 1-D harmonic vibration of energy E has ⟨ṙ²⟩ = E/μ: the absorption at the
    temperature E/k_B must integrate to the harmonic intensity q²/μ (km/mol)."""
    atoms, calc, frames = diatomic_run
    sticks = harmonic_ir(atoms, calc)
    energy_eV = 0.5 * 30.0 * 0.03 ** 2
    spectrum = dipole_spectrum(_dipoles(frames, calc), 1.0,
                               temperature_K=energy_eV / units.kB)
    assert spectrum.absorption_km_per_mol_cm1 is not None
    integral = np.trapezoid(spectrum.absorption_km_per_mol_cm1, spectrum.wavenumbers_cm1)
    # Verlet's trajectory runs at ω' with the same amplitude: ⟨ṙ²⟩ grows by (ω'/ω)²
    # = 1.0035; the finite run's leakage adds 0.6% (measured; 0.2% at 0.25 fs)
    verlet = (_verlet_cm1(sticks.frequencies_cm1[0], 1.0) / sticks.frequencies_cm1[0]) ** 2
    assert integral == pytest.approx(verlet * sticks.intensities_km_per_mol[0], rel=0.01)


def test_harmonic_sticks_and_md_peak_agree_for_the_diatomic(diatomic_run) -> None:
    atoms, calc, frames = diatomic_run
    sticks = harmonic_ir(atoms, calc)
    spectrum = dipole_spectrum(_dipoles(frames, calc), 1.0, max_lag_fs=1500.0)
    assert spectrum.resolution_cm1 == pytest.approx(22.24, rel=1e-3)
    assert abs(spectrum.peak_wavenumber_cm1() - sticks.frequencies_cm1[0]) < \
        0.25 * spectrum.resolution_cm1
    # nothing else in the MD spectrum: no overtone of a harmonic bond with linear dipole
    far = np.abs(spectrum.wavenumbers_cm1 - sticks.frequencies_cm1[0]) > 5 * \
        spectrum.resolution_cm1
    assert np.abs(spectrum.intensity[far]).max() < 0.02


def test_ir_workflow_writes_csv_png_json(tmp_path: Path) -> None:
    atoms, calc = water_like()
    frames = _nve(atoms, calc, steps=2000, timestep_fs=0.5, stretch_A=0.02)  # 1 ps
    trajectory = tmp_path / "md.extxyz"
    write(trajectory, frames)  # positions and time_fs only: dipoles from the calculator
    summary = ir_spectrum(calc, atoms, tmp_path / "out", md_trajectory=trajectory,
                          broadening_cm1=10.0)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["ir.csv", "ir.json", "ir.png"]
    assert (out / "ir.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "ir.json").read_text()) == summary
    reference = harmonic_ir(atoms, calc)
    np.testing.assert_allclose(summary["frequencies_cm1"], reference.frequencies_cm1)
    np.testing.assert_allclose(summary["intensities_km_per_mol"],
                               reference.intensities_km_per_mol)
    md = summary["md"]
    assert md["dipole_source"] == "calculator" and md["window"] == "hann"
    assert md["quantum_correction"] == "harmonic" and md["timestep_fs"] == 0.5
    assert md["resolution_cm1"] == pytest.approx(1 / (SPEED_OF_LIGHT_CM_PER_FS * 500.0),
                                                 rel=1e-3)  # 67 cm^-1
    # the MD peak sits on a harmonic mode, at the frequency Verlet integrates it with
    verlet = _verlet_cm1(np.array(summary["frequencies_cm1"]), 0.5)
    assert np.min(np.abs(verlet - md["peak_wavenumber_cm1"])) < 0.05 * md["resolution_cm1"]
    with open(out / "ir.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["wavenumber_cm1", "harmonic_km_per_mol_broadened", "md_intensity",
                       "md_absorption_km_per_mol_cm1"]
    table = np.array(rows[1:], dtype=float)  # [G, 4]
    assert np.trapezoid(table[:, 3], table[:, 0]) == pytest.approx(
        md["integrated_absorption_km_per_mol"], rel=1e-4)
    assert table[-1, 0] > 1.2 * max(summary["frequencies_cm1"]) - 1.0  # 1 cm^-1 grid
    assert max(table[:, 2]) == pytest.approx(1.0, rel=1e-6)
    # the broadened harmonic spectrum integrates to the summed intensity (Lorentz tails)
    assert np.trapezoid(table[:, 1], table[:, 0]) == pytest.approx(
        sum(summary["intensities_km_per_mol"]), rel=0.01)
    # no MD: a nan column; frames carrying a dipole are used as they are
    alone = ir_spectrum(calc, atoms, tmp_path / "alone")
    assert alone["md"] is None
    with open(tmp_path / "alone" / "ir.csv") as handle:
        assert np.all(np.isnan(np.array(list(csv.reader(handle))[1:], dtype=float)[:, 2:]))
    for frame in frames:
        frame.info["dipole"] = calc.charges_e @ frame.positions
    carried = ir_spectrum(calc, atoms, tmp_path / "carried", md_trajectory=frames)
    assert carried["md"]["dipole_source"] == "trajectory"
    assert carried["md"]["peak_wavenumber_cm1"] == pytest.approx(md["peak_wavenumber_cm1"],
                                                                 abs=1e-6)
    for frame in frames:
        del frame.info["time_fs"]
    with pytest.raises(ConfigError, match="md_timestep_fs"):
        ir_spectrum(calc, atoms, tmp_path / "x", md_trajectory=frames)
