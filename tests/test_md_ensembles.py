"""Statistical mechanics of nnpkit.md.run_md: the initial Maxwell–Boltzmann draw, the NVT
mean temperature and its fluctuation, the Langevin friction in 1/fs, and NPT's mean
pressure and volume against the model's own equation of state.

EMT copper (ASE's own calculator) is the model: the tests check the MD engine, so the
potential must be cheap and independently implemented. Every tolerance is derived from the
fluctuations of the ensemble and the length of the run (see the comments); the runs are
seeded, so each test is deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from scipy import stats
from scipy.optimize import brentq

from nnpkit.md import run_md
from nnpkit.md.runner import make_dynamics


def _copper(a_A: float, repeat: int) -> Atoms:
    return bulk("Cu", "fcc", a=a_A, cubic=True).repeat(repeat)


def _block_standard_error(series: np.ndarray, block: int) -> float:
    """Standard error of the mean of a correlated series from means of blocks of ``block``
    samples (blocks longer than the correlation time are independent)."""
    n_blocks = len(series) // block
    means = series[: n_blocks * block].reshape(n_blocks, block).mean(axis=1)
    return float(means.std(ddof=1) / np.sqrt(n_blocks))


# --- the initial velocities ------------------------------------------------------------------


def test_initial_velocities_are_maxwell_boltzmann() -> None:
    """With the centre-of-mass motion removed, 2 K / (k_B T) of N equal masses is χ² with
    3N - 3 degrees of freedom: the drawn temperature has mean T and relative spread
    sqrt(2 / (3N - 3)) = 7.9 % for N = 108."""
    target_K, n_draws = 300.0, 300
    atoms = _copper(3.61, 3)
    dof = 3 * len(atoms) - 3
    ratios = []
    for seed in range(n_draws):
        work = atoms.copy()
        make_dynamics(work, "nvt", target_K, 1.0, rng=np.random.default_rng(seed))
        np.testing.assert_allclose(work.get_momenta().sum(axis=0), 0.0, atol=1e-12)
        ratios.append(2.0 * work.get_kinetic_energy() / (dof * units.kB * target_K))
        assert work.get_temperature() == pytest.approx(ratios[-1] * target_K, rel=1e-12)
    ratios = np.asarray(ratios)
    # mean of 300 draws: standard error 0.079 / sqrt(300) = 0.0046; 4 σ band = 1.8 %
    # (a draw at T/2 or 2T, or with 3N instead of 3N - 3 degrees of freedom at N = 4,
    # falls far outside)
    assert abs(ratios.mean() - 1.0) < 4 * np.sqrt(2 / dof / n_draws)
    # the whole distribution is χ²(3N - 3) / (3N - 3): Kolmogorov–Smirnov p > 0.001
    assert stats.kstest(ratios * dof, stats.chi2(dof).cdf).pvalue > 1e-3
    # and one draw's velocity components are N(0, k_B T / m): KS on its 324 components
    work = atoms.copy()
    make_dynamics(work, "nve", target_K, 1.0, rng=np.random.default_rng(7))
    scaled = work.get_velocities() * np.sqrt(work.get_masses()[:, None] / (units.kB * target_K))
    assert stats.kstest(scaled.ravel(), "norm").pvalue > 1e-3


# --- NVT -------------------------------------------------------------------------------------


def test_nvt_mean_temperature_and_canonical_fluctuation() -> None:
    """Langevin NVT of 32 EMT Cu atoms at 500 K, 2500 steps of 4 fs (10 ps).

    Tolerance: in the canonical ensemble the kinetic temperature of 3N - 3 = 93 degrees of
    freedom fluctuates by sqrt(2/93) = 14.7 % per sample; its integrated correlation time
    here is about 5 steps (20 fs, block averages), so 2400 samples give a standard error
    of the mean of ~1 %. The 3 % band is three standard errors (measured on this run
    below); a 10-ps run of 3 seeds x 10^4 steps gave -0.2 ± 0.1 %, so the 4 fs step adds
    no visible bias. The fluctuation itself must be canonical within 20 % (a velocity-
    rescaling or Berendsen-like thermostat would suppress it).
    """
    target_K, n_atoms = 500.0, 32
    result = run_md(_copper(3.59, 2), EMT(), temperature_K=target_K, steps=2500,
                    timestep_fs=4.0, ensemble="nvt", friction_per_fs=0.02, log_interval=1,
                    seed=1, progress=False)
    temperature = result.log["temperature_K"][100:]  # 400 fs = 8 / γ of equilibration
    standard_error = _block_standard_error(temperature, 100) / target_K
    assert standard_error < 0.012  # the run is long enough for a 3 % claim (~3 σ)
    assert temperature.mean() == pytest.approx(target_K, rel=0.03)
    canonical = np.sqrt(2.0 / (3 * n_atoms - 3))
    assert temperature.std() / target_K == pytest.approx(canonical, rel=0.2)


class _FreeParticles(Calculator):
    """No forces at all: Langevin dynamics of an ideal gas."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


@pytest.mark.parametrize("friction_per_fs", [0.005, 0.02])
def test_langevin_friction_is_per_femtosecond(friction_per_fs: float) -> None:
    """Free particles started at rest heat up as T(t) = T (1 - exp(-2 γ t)).

    2000 atoms: the noise on T is sqrt(2 / 6000) = 1.8 % of T per sample; fitting
    -ln(1 - T(t)/T) over t ≤ 1/(2γ), where 1 - T/T ≥ 0.37, gives the rate to ~2 %. The 10 %
    band catches friction in the wrong unit (ASE time is 10.18 fs) or a factor 2.
    """
    target_K, timestep_fs = 300.0, 1.0
    atoms = Atoms("Cu2000", positions=np.zeros((2000, 3)), cell=[50.0] * 3, pbc=True)
    atoms.calc = _FreeParticles()
    dynamics = make_dynamics(atoms, "nvt", target_K, timestep_fs,
                             friction_per_fs=friction_per_fs, rng=np.random.default_rng(3))
    atoms.set_momenta(np.zeros((len(atoms), 3)), apply_constraint=False)
    temperatures: list[float] = []
    dynamics.attach(lambda: temperatures.append(atoms.get_temperature()), interval=1)
    n_steps = int(round(0.5 / friction_per_fs / timestep_fs))
    dynamics.run(n_steps)
    time_fs = np.arange(n_steps + 1) * timestep_fs
    rate = np.polyfit(time_fs[1:], -np.log(1.0 - np.asarray(temperatures[1:]) / target_K), 1)[0]
    assert rate == pytest.approx(2.0 * friction_per_fs, rel=0.1)


# --- NPT -------------------------------------------------------------------------------------


def _emt_copper_volume_at(pressure_GPa: float) -> float:
    """Volume per atom (Å³) where EMT copper's static equation of state gives
    ``pressure_GPa``: Birch–Murnaghan fit of E(V) on 9 cubic cells, P = -dE/dV."""
    volumes, energies = [], []
    for a_A in np.linspace(3.48, 3.64, 9):
        atoms = _copper(a_A, 1)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume() / len(atoms))
        energies.append(atoms.get_potential_energy() / len(atoms))
    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    eos.fit()

    def pressure(volume: float, step: float = 1e-4) -> float:  # GPa, -dE/dV
        energy_plus = eos.func(volume + step, *eos.eos_parameters)
        energy_minus = eos.func(volume - step, *eos.eos_parameters)
        return float(-(energy_plus - energy_minus) / (2 * step) / units.GPa)

    # the fit reproduces EMT's own stress at a compressed cell to 0.05 GPa
    check = _copper(3.55, 1)
    check.calc = EMT()
    assert pressure(check.get_volume() / 4) == pytest.approx(
        -check.get_stress()[:3].mean() / units.GPa, abs=0.05)
    return brentq(lambda volume: pressure(volume) - pressure_GPa, min(volumes), max(volumes))


def test_npt_mean_pressure_and_volume_match_the_equation_of_state() -> None:
    """MTK NPT of 32 EMT Cu atoms at 5 GPa and 20 K, started 5.3 % too large in volume.

    Volume: at 20 K the classical thermal expansion of copper, 3 γ k_B T / (B V) with
    γ ≈ 2 and B ≈ 155 GPa at 5 GPa, is 0.1 % (measured: +0.10 to +0.11 % over 4 seeds),
    and the volume fluctuates by sqrt(k_B T V κ) / V = 0.2 % per sample around it: the
    static equation of state must hold to 0.3 % (0.5 GPa through B). Pressure: the mean
    instantaneous pressure (virial + kinetic) of MTK NPT is the target; it fluctuates by
    0.3 GPa per sample with a correlation time below the 100 steps of pdamp, so the 600
    production samples give a standard error ≤ 0.1 GPa: band ±0.2 GPa. A pressure in the
    wrong unit or with the wrong sign, or a barostat that stays put (5.3 % off), fails.
    The short barostat time (200 fs; ASE recommends 1000 steps) makes the test fast; a
    shorter one (100 fs) is unstable while the cell is far from equilibrium.
    """
    target_GPa = 5.0
    start = _copper(3.61, 2)
    result = run_md(start, EMT(), temperature_K=20.0, steps=1000, timestep_fs=2.0,
                    ensemble="npt", pressure_GPa=target_GPa, tdamp_fs=100.0,
                    pdamp_fs=200.0, log_interval=1, seed=0, progress=False)
    production = slice(400, None)  # after 800 fs, 4 barostat times
    volume = result.log["volume_A3"][production] / len(start)
    expected = _emt_copper_volume_at(target_GPa)
    assert start.get_volume() / len(start) > 1.05 * expected  # the barostat has work to do
    assert volume.mean() == pytest.approx(expected, rel=3e-3)
    assert result.log["pressure_GPa"][production].mean() == pytest.approx(target_GPa, abs=0.2)
