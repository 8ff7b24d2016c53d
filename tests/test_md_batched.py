"""Tests for the batched MD engine (nnpkit.md.batched_runner and its parts): agreement with
ASE's velocity Verlet, batches against single runs, energy drift, Langevin temperature,
the bias hook, the neighbour list, the observers and the committee guard."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.io import read
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from conftest import build_small_model, copper_cubic, ethanol
from scipy import integrate

from nnpkit.calculators import CommitteeCalculator, NNPCalculator
from nnpkit.calculators.ase_calculator import FastPathNotice
from nnpkit.errors import ConfigError, UnknownElementError
from nnpkit.md import run_batched_md, run_md
from nnpkit.md.batched_neighbors import BatchedNeighborList
from nnpkit.md.batched_result import replica_seeds
from nnpkit.md.batched_state import BatchedState, state_from_atoms, thermal_momenta
from nnpkit.md.bias import DistanceCV, HarmonicBias
from nnpkit.md.forces import ModelForceField
from nnpkit.md.integrators import LangevinParameters, langevin_init, langevin_step
from nnpkit.md.noise import CounterNoise, splitmix64
from nnpkit.md.observers import ReplicaUncertaintyExceeded
from nnpkit.models.committee import Committee
from nnpkit.neighbors import neighbor_list

MOLECULE_ELEMENTS = ["H", "C", "O"]


def _molecules() -> list[Atoms]:
    """Three molecules of different sizes (9, 3 and 6 atoms), rattled."""
    structures = [ethanol(), molecule("H2O"), molecule("CH3OH")]
    for seed, atoms in enumerate(structures[1:]):
        atoms.rattle(0.05, seed=10 + seed)
    return structures


def _coppers() -> list[Atoms]:
    """Periodic copper cells of 4, 32 and 1 atoms (the last two shorter than the cutoff)."""
    big = bulk("Cu", "fcc", a=3.65, cubic=True).repeat(2)
    big.rattle(0.05, seed=6)
    return [copper_cubic(), big, bulk("Cu", "fcc", a=3.6)]


def _with_momenta(structures: Sequence[Atoms], kelvin: float, seed: int) -> list[Atoms]:
    out = []
    for b, atoms in enumerate(structures):
        atoms = atoms.copy()
        atoms.set_momenta(thermal_momenta([atoms], [kelvin], [seed + b])[0])
        out.append(atoms)
    return out


@pytest.mark.parametrize("fast_path", [True, False], ids=["compiled", "autograd"])
@pytest.mark.parametrize("structure", [ethanol, lambda: _coppers()[1]], ids=["ethanol", "cu32"])
def test_reproduces_ase_velocity_verlet_float64(structure: Callable[[], Atoms],
                                                fast_path: bool) -> None:
    atoms = structure()
    elements = sorted(set(atoms.get_chemical_symbols()))
    model = build_small_model(MOLECULE_ELEMENTS if "C" in elements else ["Cu"])
    (atoms,) = _with_momenta([atoms], 400.0, seed=1)
    reference = atoms.copy()
    reference.calc = NNPCalculator(model, dtype=torch.float64, fast_path=fast_path)
    VelocityVerlet(reference, timestep=0.5 * units.fs).run(100)
    result = run_batched_md(model, [atoms], ensemble="nve", timestep_fs=0.5, steps=100,
                            velocities="keep", dtype=torch.float64, progress=False,
                            fast_path=fast_path)
    # Same operations in the same order: only summation-order rounding (1e-15 Å) differs;
    # an integrator error (e.g. a wrong half kick) would show at 1e-4 Å.
    np.testing.assert_allclose(result.atoms[0].positions, reference.positions, rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.atoms[0].get_momenta(), reference.get_momenta(), rtol=0,
                               atol=1e-8)
    assert result.log["potential_energy_eV"][-1, 0] == pytest.approx(
        reference.get_potential_energy(), abs=1e-8)


def test_ase_fallback_runs_emt_like_ase() -> None:
    atoms = _with_momenta([_coppers()[1]], 300.0, seed=2)[0]
    reference = atoms.copy()
    reference.calc = EMT()
    VelocityVerlet(reference, timestep=1.0 * units.fs).run(50)
    result = run_batched_md(EMT(), [atoms, atoms], ensemble="nve", timestep_fs=1.0, steps=50,
                            velocities="keep", progress=False)
    for b in range(2):  # both replicas through one shared EMT: same as ASE to rounding
        np.testing.assert_allclose(result.atoms[b].positions, reference.positions, atol=1e-8)


def test_compiled_forces_equal_autograd_on_a_mixed_batch() -> None:
    # The compiled path evaluates the whole batch in one call, its pairs carrying their
    # Cartesian offsets; it must give autograd's forces (1e-12 in float64, as the fast
    # path's own tests) and so the same trajectory (1e-9 Å after 50 steps).
    structures = _with_momenta(_coppers(), 300.0, seed=4)
    model = build_small_model(["Cu"])
    runs = [run_batched_md(model, structures, ensemble="nve", timestep_fs=1.0, steps=50,
                           velocities="keep", dtype=torch.float64, progress=False,
                           fast_path=fast) for fast in (True, False)]
    for compiled, autograd in zip(runs[0].atoms, runs[1].atoms, strict=True):
        np.testing.assert_allclose(compiled.positions, autograd.positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(runs[0].log["potential_energy_eV"],
                               runs[1].log["potential_energy_eV"], rtol=0, atol=1e-9)


def _single_runs_agree(model: object, structures: list[Atoms], tolerance: float,
                       **settings: object) -> None:
    """A batch equals each replica run alone (positions, momenta, cells, logs)."""
    seeds = [11, 22, 33][: len(structures)]
    temperatures = [200.0, 400.0, 800.0][: len(structures)]
    batch = run_batched_md(model, structures, temperature_K=temperatures, seed=seeds,
                           progress=False, **settings)  # type: ignore[arg-type]
    for b, atoms in enumerate(structures):
        alone = run_batched_md(model, [atoms], temperature_K=temperatures[b], seed=[seeds[b]],
                               progress=False, **settings)  # type: ignore[arg-type]
        np.testing.assert_allclose(batch.atoms[b].positions, alone.atoms[0].positions,
                                   rtol=0, atol=tolerance)
        np.testing.assert_allclose(batch.atoms[b].get_momenta(), alone.atoms[0].get_momenta(),
                                   rtol=0, atol=tolerance)
        np.testing.assert_allclose(batch.atoms[b].cell.array, alone.atoms[0].cell.array,
                                   rtol=0, atol=tolerance)
        np.testing.assert_allclose(batch.log["total_energy_eV"][:, b],
                                   alone.log["total_energy_eV"][:, 0], rtol=0, atol=tolerance)


# Replicas interact with nothing but their own atoms, and the per-replica counter noise
# makes their random numbers independent of the batch, so a batch reproduces single runs
# up to the rounding of batched sums (1e-15); 1e-10 after 60-100 steps allows for the
# growth of that rounding in chaotic dynamics and still catches any cross-talk (1e-3).
@pytest.mark.parametrize("ensemble", ["nve", "nvt"])
def test_batch_of_molecules_reproduces_single_runs(ensemble: str) -> None:
    _single_runs_agree(build_small_model(MOLECULE_ELEMENTS), _molecules(), 1e-10,
                       ensemble=ensemble, steps=100, timestep_fs=0.5, friction_per_fs=0.05,
                       dtype=torch.float64)


@pytest.mark.parametrize("barostat", ["isotropic", "anisotropic"])
def test_npt_batch_of_cells_reproduces_single_runs(barostat: str) -> None:
    _single_runs_agree(build_small_model(["Cu"]), _coppers(), 1e-10, ensemble="npt",
                       steps=60, timestep_fs=2.0, friction_per_fs=0.02, pressure_GPa=1.0,
                       barostat=barostat, barostat_time_fs=100.0, barostat_interval=5,
                       dtype=torch.float64)


def _drift_eV_per_atom(steps: int, fast_path: bool) -> tuple[float, float]:
    """Linear drift of the total energy over the run and its largest excursion, eV/atom."""
    result = run_batched_md(build_small_model(MOLECULE_ELEMENTS), [ethanol()], ensemble="nve",
                            temperature_K=300.0, timestep_fs=0.5, steps=steps, log_interval=10,
                            seed=3, dtype=torch.float32, progress=False, fast_path=fast_path)
    total = result.log["total_energy_eV"][:, 0] / 9
    time = result.log["time_fs"]
    slope = np.polyfit(time, total, 1)[0]
    return float(abs(slope) * time[-1]), float(np.abs(total - total[0]).max())


# Ethanol, float32 state and model (the compiled path computes its geometry in float64,
# autograd all in float32), 300 K, 0.5 fs. Measured drifts: 2.4e-7 (compiled) and 1.5e-7
# (autograd) eV/atom over 2,000 steps, 1.1e-6 and 7.8e-7 over 10^4 steps; the largest
# excursion, the 0.5 fs Verlet shadow-energy fluctuation, 8.7e-6 eV/atom. Bounds: drift
# below 1e-5 eV/atom (10x the 10^4-step value) and excursions below 1e-4 eV/atom. A
# half kick 1 % too long already drifts by 1.3e-4 eV/atom in 2,000 steps (measured).
def test_nve_energy_drift_float32_over_10k_steps() -> None:
    # The 10^4 steps (5 ps), through the compiled path (2 s).
    drift, excursion = _drift_eV_per_atom(10_000, fast_path=True)
    assert drift < 1e-5
    assert excursion < 1e-4


def test_nve_energy_drift_float32_autograd() -> None:
    # All-float32 autograd: 2,000 steps in the default suite (2 s), 10^4 under slow.
    drift, excursion = _drift_eV_per_atom(2000, fast_path=False)
    assert drift < 1e-5
    assert excursion < 1e-4


@pytest.mark.slow
def test_nve_energy_drift_float32_autograd_10k_steps() -> None:
    drift, excursion = _drift_eV_per_atom(10_000, fast_path=False)
    assert drift < 1e-5
    assert excursion < 1e-4


@functools.cache
def _relaxed_ethanol() -> Atoms:
    """Ethanol at a minimum of the small model (BFGS, 0.01 eV/Å).

    The untrained model's minimum is far from the real geometry: started from ethanol's,
    the molecule slides down by eV over the first picosecond, which heats any thermostat
    above its target. From the minimum the run is in equilibrium from the start.
    """
    atoms = ethanol()
    atoms.calc = NNPCalculator(build_small_model(MOLECULE_ELEMENTS), dtype=torch.float64)
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=500)
    atoms.calc = None
    return atoms


def test_langevin_mean_temperature_of_a_ladder_in_one_batch() -> None:
    temperatures = [200.0, 500.0, 1000.0]
    per_temperature = 6
    structures = [_relaxed_ethanol() for _ in temperatures for _ in range(per_temperature)]
    ladder = [t for t in temperatures for _ in range(per_temperature)]
    friction, timestep, steps, skip = 0.1, 0.5, 1500, 100
    result = run_batched_md(build_small_model(MOLECULE_ELEMENTS), structures, ensemble="nvt",
                            temperature_K=ladder, timestep_fs=timestep, steps=steps,
                            friction_per_fs=friction, log_interval=1, seed=5,
                            dtype=torch.float32, progress=False)
    samples = result.log["temperature_K"][skip:]  # [n, B]
    # Canonical band: with 3N = 27 kinetic degrees of freedom the instantaneous temperature
    # has relative standard deviation sqrt(2/27) = 0.27. Langevin friction γ refreshes the
    # momenta at rate γ, so the kinetic energy's integrated autocorrelation time is about
    # 1/(2γ) (free particles and harmonic modes alike); taking 1/γ = 10 fs to be safe, each
    # replica gives (steps - skip)·dt / (2/γ) = 700 fs / 20 fs = 35 independent samples,
    # 6 replicas per temperature 210: the mean's relative standard error is
    # 0.27/sqrt(210) = 1.9 %. Band: 4 standard errors (7.5 %), p < 1e-4 per temperature.
    # The O(dt²) BAOAB bias of the kinetic temperature is below 1 % at 0.5 fs. Typical
    # bugs are far outside: sqrt(1 - c) for sqrt(1 - c²) doubles T, a mass or replica
    # mix-up changes it by factors.
    relative_error = np.sqrt(2 / 27) / np.sqrt(per_temperature * (steps - skip)
                                               * timestep * friction / 2)
    for k, target in enumerate(temperatures):
        mean = samples[:, k * per_temperature:(k + 1) * per_temperature].mean()
        assert abs(mean / target - 1) < 4 * relative_error, (target, mean)


def test_harmonic_distance_restraint_mean_matches_analytic() -> None:
    # Two H atoms 10 Å apart, beyond the model's 5 Å cutoff, so only the restraint acts on
    # their distance r: p(r) ∝ r² exp(-k (r - r0)² / 2kT), here with sqrt(kT/k) = 1 Å
    # (r < 5 Å is 5 standard deviations away). Its mean exceeds r0 by about
    # 2kT/(k r0) = 0.2 Å (the r² Jacobian); computed exactly by quadrature.
    kelvin, spring, center, replicas = 300.0, 0.025, 10.0, 48
    bias = HarmonicBias(DistanceCV(0, 1, [2] * replicas), center=center, spring_constant=spring)
    records: list[np.ndarray] = []
    observer = (lambda state: records.append(
        bias.collective_variable(state.positions, state.batch).cpu().numpy()), 5)
    dimer = Atoms("H2", positions=[[0, 0, 0], [center, 0, 0]])
    result = run_batched_md(build_small_model(MOLECULE_ELEMENTS), [dimer] * replicas,
                            ensemble="nvt", temperature_K=kelvin, timestep_fs=5.0, steps=400,
                            friction_per_fs=0.02, bias=bias, log_interval=5, seed=9,
                            observers=[observer], dtype=torch.float64, progress=False)
    kT = units.kB * kelvin
    density = lambda r: r**2 * np.exp(-spring * (r - center) ** 2 / (2 * kT))  # noqa: E731
    expected = (integrate.quad(lambda r: r * density(r), 0, 30)[0]
                / integrate.quad(density, 0, 30)[0])
    distances = np.asarray(records)[10:]  # [n, B], the first 250 fs skipped
    assert distances.min() > 5.0  # the atoms never came within the model's cutoff
    # the logged bias energy is the restraint's: ½ k (r - r0)²
    np.testing.assert_allclose(result.log["bias_energy_eV"][10:],
                               0.5 * spring * (distances - center) ** 2, rtol=1e-10)
    # Independent replicas: the spread of their means is the standard error (no
    # assumption on the correlation time). It must be small enough to tell the analytic
    # mean from the naive r0; band: 4 standard errors.
    per_replica = distances.mean(axis=0)
    standard_error = per_replica.std(ddof=1) / np.sqrt(replicas)
    assert standard_error < 0.25 * (expected - center)
    assert abs(per_replica.mean() - expected) < 4 * standard_error


def test_counter_noise_is_splitmix64_and_standard_normal() -> None:
    # SplitMix64's first output for seed 0 is 0xE220A8397B1DCDAF (the reference C code);
    # torch's int64 arithmetic must wrap like uint64 for it to come out.
    assert splitmix64(torch.tensor([0])).item() == 0xE220A8397B1DCDAF - 2**64
    sizes = torch.tensor([5, 200_000, 100_000])
    noise = CounterNoise([11, 22, 33])
    noise.bind(torch.repeat_interleave(torch.arange(3), sizes), 3)
    sample = noise.atoms(step=7, stream=1, dtype=torch.float64)  # [N, 3]
    z = sample[5:].flatten()  # 9e5 values: moments to ~1e-3
    # bands of ~5 standard errors: mean (SE 1/sqrt(n)), variance (sqrt(2/n)), kurtosis
    # (sqrt(96/n)), neighbour correlation (1/sqrt(n))
    n = z.numel()
    assert abs(z.mean()) < 5 / n**0.5
    assert abs(z.var() - 1) < 5 * (2 / n) ** 0.5
    assert abs((z**4).mean() - 3) < 5 * (96 / n) ** 0.5
    assert abs((z[1:] * z[:-1]).mean()) < 5 / n**0.5
    # replica 2's noise does not depend on the other replicas, nor on its position
    alone = CounterNoise([33])
    alone.bind(torch.zeros(100_000, dtype=torch.long), 1)
    assert torch.equal(alone.atoms(7, 1, torch.float64), sample[200_005:])
    assert not torch.equal(alone.atoms(8, 1, torch.float64), sample[200_005:])


@pytest.mark.parametrize("variable_cell", [False, True])
def test_batched_neighbor_list_equals_a_fresh_list(variable_cell: bool) -> None:
    structures = _coppers() + [ethanol()]
    sizes = torch.tensor([len(a) for a in structures])
    batch = torch.repeat_interleave(torch.arange(len(structures)), sizes)
    positions = torch.tensor(np.concatenate([a.positions for a in structures]))
    cell = torch.tensor(np.stack([a.cell.array for a in structures]))
    pbc = torch.tensor(np.stack([a.pbc for a in structures]))
    neighbors = BatchedNeighborList(5.0, skin=0.5, variable_cell=variable_cell)
    generator = torch.Generator().manual_seed(0)
    # With a deforming cell the atoms hardly move (0.002 Å per call) while the cells
    # shrink by 0.4 % per call and shear: image pairs of the 1-atom cell come closer with no
    # atom moving, which only the deformation term of the validity check sees.
    rattle = 0.002 if variable_cell else 0.03
    for _ in range(40):
        positions = positions + rattle * torch.randn(positions.shape, generator=generator,
                                                     dtype=torch.float64)
        if variable_cell:
            strain = 0.002 * torch.randn(3, 3, generator=generator, dtype=torch.float64)
            deformation = 0.996 * torch.eye(3, dtype=torch.float64) + strain
            moved = batch < 3
            positions[moved] = positions[moved] @ deformation
            cell[:3] = cell[:3] @ deformation
        edges, shifts = neighbors.update(positions, cell, pbc, batch, sizes)
        expected = []
        offset = 0
        for b, size in enumerate(sizes.tolist()):
            i, j, s = neighbor_list(positions[offset:offset + size].numpy(), cell[b].numpy(),
                                    pbc[b].numpy(), 5.0)
            expected += list(zip((i + offset).tolist(), (j + offset).tolist(),
                                 map(tuple, s.tolist()), strict=True))
            offset += size
        got = list(zip(edges[0].tolist(), edges[1].tolist(),
                       map(tuple, shifts.long().tolist()), strict=True))
        assert sorted(got) == sorted(expected)  # exactly the pairs of a fresh list
    assert neighbors.n_rebuild_calls < 40  # and the lists were reused between calls


def test_observers_write_trajectories_and_logs(tmp_path: Path) -> None:
    structures = _molecules()[:2]
    paths = [tmp_path / "a.extxyz", tmp_path / "b.traj"]
    result = run_batched_md(build_small_model(MOLECULE_ELEMENTS), structures, ensemble="nvt",
                            steps=40, log_interval=10, trajectory=paths, trajectory_interval=20,
                            dtype=torch.float64, progress=False)
    assert result.log["temperature_K"].shape == (5, 2)  # steps 0, 10, ..., 40
    np.testing.assert_allclose(result.log["time_fs"], [0, 5, 10, 15, 20])
    for b, path in enumerate(paths):
        frames = read(path, index=":")
        assert len(frames) == 3  # steps 0, 20, 40
        assert frames[-1].get_potential_energy() == pytest.approx(
            result.log["potential_energy_eV"][-1, b])
        np.testing.assert_allclose(frames[-1].positions, result.atoms[b].positions, atol=1e-6)
    templated = run_batched_md(build_small_model(MOLECULE_ELEMENTS), structures, steps=10,
                               log_interval=10, trajectory=tmp_path / "r{replica}.extxyz",
                               dtype=torch.float64, progress=False)
    assert [len(read(tmp_path / f"r{b}.extxyz", index=":")) for b in range(2)] == [2, 2]
    assert templated.settings["seeds"] == replica_seeds(0, 2)
    with pytest.raises(ConfigError, match="one trajectory path for 2 replicas"):
        run_batched_md(build_small_model(MOLECULE_ELEMENTS), structures, steps=1,
                       trajectory=tmp_path / "x.extxyz", progress=False)
    single = result.replica(1)
    assert "volume_A3" not in single.log and single.log["temperature_K"].shape == (5,)
    single.to_json(tmp_path / "log.json")


def _committee() -> Committee:
    first = build_small_model(MOLECULE_ELEMENTS)
    second = build_small_model(MOLECULE_ELEMENTS)
    torch.manual_seed(7)
    for parameter in second.element_networks.parameters():
        parameter.data += 0.05 * torch.randn_like(parameter)
    return Committee([first, second])


@pytest.mark.filterwarnings("ignore::nnpkit.calculators.ase_calculator.FastPathNotice")
def test_committee_guard_matches_the_calculator_and_stops_the_replica() -> None:
    committee = _committee()
    structures = _molecules()
    result = run_batched_md(committee, structures, ensemble="nvt", steps=20, log_interval=10,
                            max_force_std=1e6, uncertainty_action="flag", dtype=torch.float64,
                            progress=False)
    step, values = result.uncertainty["history"][-1]
    assert step == 20 and values.shape == (3,)
    calculator = CommitteeCalculator(committee, dtype=torch.float64)
    for b, atoms in enumerate(result.atoms):
        # same definition as the calculator's (max over atoms of sqrt(Σ var)), 1e-10 eV/Å
        assert values[b] == pytest.approx(calculator.get_property("max_force_std", atoms),
                                          abs=1e-10)
    # the ASE fallback over the committee calculator gives the same spread (step 0: same
    # start; the calculator is the reference of the definition)
    through_ase = run_batched_md(CommitteeCalculator(committee, dtype=torch.float64),
                                 structures, ensemble="nvt", steps=0, max_force_std=1e6,
                                 uncertainty_action="flag", progress=False)
    np.testing.assert_allclose(through_ase.uncertainty["history"][0][1],
                               result.uncertainty["history"][0][1], rtol=0, atol=1e-10)
    threshold = float(np.sort(values)[1]) * 0.999  # two replicas above it at step 20
    first_step, first_values = next((step, v) for step, v in result.uncertainty["history"]
                                    if (v > threshold).any())
    with pytest.raises(ReplicaUncertaintyExceeded) as stop:
        run_batched_md(committee, structures, ensemble="nvt", steps=20, log_interval=10,
                       max_force_std=threshold, dtype=torch.float64, progress=False)
    # the same seeded run, stopped at the first check with a replica above the threshold
    assert stop.value.step == first_step
    assert stop.value.replica == int(np.flatnonzero(first_values > threshold)[0])
    assert f"replica {stop.value.replica}" in str(stop.value)
    assert stop.value.result.log["temperature_K"].shape == (first_step // 10 + 1, 3)


def _committee_without_compiled_path() -> Committee:
    """A committee with a member that has no compiled path (an equivariant model)."""
    from nnpkit.models.registry import build_model, model_config_class

    first = build_small_model(MOLECULE_ELEMENTS)
    config = model_config_class("equivariant").model_validate(
        {"kind": "equivariant", "cutoff_A": first.cutoff, "n_channels": 4, "n_layers": 1,
         "l_max": 1})
    return Committee([first, build_model(config, MOLECULE_ELEMENTS, None)])


def test_bad_input_names_the_replica() -> None:
    model = build_small_model(["Cu"])
    with pytest.raises(ConfigError, match="fast_path=True.*committee member 1"):
        run_batched_md(_committee_without_compiled_path(), [ethanol()], steps=1,
                       fast_path=True, progress=False)
    with pytest.warns(FastPathNotice, match="autograd"):  # a one-line notice, then autograd
        run_batched_md(_committee_without_compiled_path(), [ethanol()], steps=1,
                       progress=False)
    with pytest.raises(UnknownElementError, match=r"replica\(s\) \[1\]"):
        run_batched_md(model, [copper_cubic(), ethanol()], steps=1, progress=False)
    with pytest.raises(ConfigError, match=r"replica\(s\) \[1\]"):
        run_batched_md(model, [copper_cubic(), Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]])],
                       ensemble="npt", steps=1, progress=False)
    with pytest.raises(ConfigError, match="3 values for 2 replicas"):
        run_batched_md(model, [copper_cubic()] * 2, temperature_K=[1.0, 2.0, 3.0], steps=1,
                       progress=False)


def test_seeds_and_generator_noise() -> None:
    # replica 0 of a batch seeded s has the seed of a one-replica run seeded s, and the
    # replicas' seeds differ
    assert replica_seeds(5, 3)[0] == replica_seeds(5, 1)[0]
    assert len(set(replica_seeds(5, 3))) == 3
    # the one-Generator noise is seeded: the same batch and seed give the same run
    model = build_small_model(MOLECULE_ELEMENTS)
    runs = [run_batched_md(model, _molecules(), ensemble="nvt", steps=20, noise="generator",
                           seed=4, dtype=torch.float64, progress=False) for _ in range(2)]
    for first, second in zip(runs[0].atoms, runs[1].atoms, strict=True):
        np.testing.assert_array_equal(first.positions, second.positions)


def test_a_restart_continues_the_uninterrupted_run(tmp_path: Path) -> None:
    # With counter noise and the step count carried over, 20 + 20 steps from the last
    # frames (momenta kept) equal 40 steps in one go, to rounding (1e-10 Å); frames are
    # appended with a continuing time axis, and the last step is always logged.
    model, structures = build_small_model(MOLECULE_ELEMENTS), _molecules()[:2]
    settings = {"ensemble": "nvt", "timestep_fs": 0.5, "friction_per_fs": 0.05, "seed": 8,
                "log_interval": 10, "dtype": torch.float64, "progress": False}
    whole = run_batched_md(model, structures, steps=40, **settings)
    paths = [tmp_path / "a.extxyz", tmp_path / "b.extxyz"]
    first = run_batched_md(model, structures, steps=25, trajectory=paths, **settings)
    np.testing.assert_allclose(first.log["time_fs"], [0, 5, 10, 12.5])  # last step logged
    second = run_batched_md(model, first.atoms, steps=15, velocities="keep", start_step=25,
                            trajectory=paths, append=True, **settings)
    for joined, direct in zip(second.atoms, whole.atoms, strict=True):
        np.testing.assert_allclose(joined.positions, direct.positions, rtol=0, atol=1e-10)
    frames = read(paths[0], index=":")
    assert [frame.info["time_fs"] for frame in frames] == [0, 5, 10, 12.5, 17.5, 20]


def test_an_npt_restart_between_barostat_moves_continues_the_run() -> None:
    # The barostat moves on the absolute step count (every 5 steps here), so a restart at
    # step 12 (between two moves) follows the uninterrupted run, cell included, to 1e-10.
    model, structures = build_small_model(["Cu"]), _coppers()[:2]
    settings = {"ensemble": "npt", "timestep_fs": 2.0, "friction_per_fs": 0.02,
                "pressure_GPa": 1.0, "barostat_time_fs": 100.0, "barostat_interval": 5,
                "seed": 3, "log_interval": 4, "dtype": torch.float64, "progress": False}
    whole = run_batched_md(model, structures, steps=24, **settings)
    first = run_batched_md(model, structures, steps=12, **settings)
    second = run_batched_md(model, first.atoms, steps=12, velocities="keep", start_step=12,
                            **settings)
    for joined, direct, start in zip(second.atoms, whole.atoms, structures, strict=True):
        np.testing.assert_allclose(joined.cell.array, direct.cell.array, rtol=0, atol=1e-10)
        np.testing.assert_allclose(joined.positions, direct.positions, rtol=0, atol=1e-10)
        assert abs(direct.get_volume() - start.get_volume()) > 1e-3  # the cells moved


@pytest.mark.parametrize(("structure", "ensemble"),
                         [(ethanol, "nvt"), (copper_cubic, "nve"), (copper_cubic, "npt")])
def test_a_replica_has_the_log_columns_of_run_md(structure: Callable[[], Atoms],
                                                 ensemble: str) -> None:
    # nnpkit md writes either engine's log with MDResult.to_json and plot_md_log, so one
    # replica of the batched engine must have exactly run_md's columns, [n_log] each
    model = build_small_model(MOLECULE_ELEMENTS if structure is ethanol else ["Cu"])
    batched = run_batched_md(model, [structure()], ensemble=ensemble, steps=7, log_interval=5,
                             progress=False).replica(0)
    reference = run_md(structure(), NNPCalculator(build_small_model(
        MOLECULE_ELEMENTS if structure is ethanol else ["Cu"])), 300.0, 7, 0.5,
        ensemble=ensemble, log_interval=5, progress=False)  # type: ignore[arg-type]
    assert set(batched.log) == set(reference.log)
    for name, values in batched.log.items():
        assert values.shape == reference.log[name].shape == (3,), name
    np.testing.assert_allclose(batched.log["time_fs"], [0.0, 2.5, 3.5])


def test_a_slab_reproduces_ase_velocity_verlet_float64() -> None:
    # A surface slab (periodic in x and y only), as nnpkit md may be given: the engine's
    # neighbour lists handle mixed periodicity like the calculator's (1e-8 Å, 60 steps);
    # a missed periodic image would change the forces by 0.1 eV/Å and more.
    from ase.build import fcc100

    slab = fcc100("Cu", (2, 2, 3), a=3.61, vacuum=6.0)
    slab.rattle(0.05, seed=9)
    assert slab.pbc.tolist() == [True, True, False]
    model = build_small_model(["Cu"])
    (atoms,) = _with_momenta([slab], 300.0, seed=4)
    reference = atoms.copy()
    reference.calc = NNPCalculator(model, dtype=torch.float64)
    VelocityVerlet(reference, timestep=1.0 * units.fs).run(60)
    result = run_batched_md(model, [atoms], ensemble="nve", timestep_fs=1.0, steps=60,
                            velocities="keep", dtype=torch.float64, progress=False)
    np.testing.assert_allclose(result.atoms[0].positions, reference.positions, rtol=0, atol=1e-8)
    assert "volume_A3" not in result.replica(0).log  # as run_md: no volume for a slab


def _langevin_setup(kelvin: list[float], noise: CounterNoise, dtype: torch.dtype
                    ) -> tuple[BatchedState, LangevinParameters, ModelForceField]:
    structures = _with_momenta(_molecules(), 300.0, seed=5)
    state = state_from_atoms(structures, dtype=dtype)
    force_field = ModelForceField(build_small_model(MOLECULE_ELEMENTS), state)
    parameters = langevin_init(state, force_field, 0.5, kelvin, [0.01, 0.05, 0.2], noise)
    return state, parameters, force_field


def test_langevin_coefficients_are_kept_and_follow_changes() -> None:
    # decay c = exp(-γ dt) and spread sqrt((1 - c²) m kB T) per atom, computed once and
    # recomputed after an in-place temperature swap (replica exchange), a new friction
    # tensor, a new time step or a write through a numpy view; checked against the
    # formula (1e-14 relative).
    state, parameters, _ = _langevin_setup([100.0, 200.0, 400.0], CounterNoise([1, 2, 3]),
                                           torch.float64)
    masses, batch = state.masses.numpy(), state.batch.numpy()

    def check(kelvin: list[float], friction_per_fs: list[float], timestep_fs: float) -> None:
        inverse_mass, decay, spread = parameters.coefficients(state)
        c = np.exp(-np.asarray(friction_per_fs)[batch] * timestep_fs)
        np.testing.assert_allclose(decay.numpy()[:, 0], c, rtol=1e-14, atol=0)
        np.testing.assert_allclose(
            spread.numpy()[:, 0], np.sqrt((1 - c**2) * masses * units.kB
                                          * np.asarray(kelvin)[batch]), rtol=1e-14, atol=0)
        np.testing.assert_allclose(inverse_mass.numpy()[:, 0], 1 / masses, rtol=1e-15)

    check([100.0, 200.0, 400.0], [0.01, 0.05, 0.2], 0.5)
    first = parameters.coefficients(state)
    assert all(a is b for a, b in zip(first, parameters.coefficients(state), strict=True))
    parameters.temperature_K[[0, 2]] = parameters.temperature_K[[2, 0]]  # a swap in place
    check([400.0, 200.0, 100.0], [0.01, 0.05, 0.2], 0.5)
    parameters.friction_per_fs = torch.tensor([0.1, 0.1, 0.1], dtype=torch.float64)
    check([400.0, 200.0, 100.0], [0.1, 0.1, 0.1], 0.5)
    parameters.timestep = 2.0 * units.fs
    check([400.0, 200.0, 100.0], [0.1, 0.1, 0.1], 2.0)
    parameters.temperature_K.numpy()[1] = 250.0  # a write torch's version counter misses
    check([400.0, 250.0, 100.0], [0.1, 0.1, 0.1], 2.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_langevin_with_compiled_noise_equals_torch_noise_bit_for_bit(
        dtype: torch.dtype) -> None:
    # 30 BAOAB steps of three molecules with the numba counter noise and with the torch
    # reference: the same bits (the kernel's only job is speed).
    runs = []
    for compiled in (True, False):
        state, parameters, force_field = _langevin_setup(
            [100.0, 300.0, 900.0], CounterNoise([4, 5, 6], compiled=compiled), dtype)
        for _ in range(30):
            langevin_step(state, parameters, force_field)
        runs.append(state)
    assert torch.equal(runs[0].positions, runs[1].positions)
    assert torch.equal(runs[0].momenta, runs[1].momenta)
    assert not torch.equal(runs[0].positions, state_from_atoms(_molecules(), dtype).positions)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_neighbor_kernel_keeps_the_pairs_of_the_torch_distance_check(
        dtype: torch.dtype) -> None:
    # Dimers straddling the 4.9 Å cutoff by a few units in the last place of the engine's
    # precision, plus periodic copper: the CPU kernel keeps exactly the pairs that the
    # torch expression ((r_j - r_i) + offset)² < cutoff² keeps in that precision, and
    # candidate_arrays gives every stored pair, with offsets = shifts @ cell.
    eps = float(torch.finfo(dtype).eps)
    dimers = [Atoms("H2", positions=[[0, 0, 0], [4.9 * (1 + k * eps), 0, 0]])
              for k in range(-3, 4)]
    structures = dimers + _coppers()
    sizes = torch.tensor([len(a) for a in structures])
    batch = torch.repeat_interleave(torch.arange(len(structures)), sizes)
    positions = torch.tensor(np.concatenate([a.positions for a in structures]), dtype=dtype)
    cell = torch.tensor(np.stack([a.cell.array for a in structures]), dtype=dtype)
    pbc = torch.tensor(np.stack([a.pbc for a in structures]))
    neighbors = BatchedNeighborList(4.9, skin=0.5)
    edges, shifts = neighbors.update(positions, cell, pbc, batch, sizes)
    stored = neighbors._edges
    vectors = (positions[stored[1]] - positions[stored[0]]
               + torch.einsum("ek,ekl->el", neighbors._shifts, cell[batch[stored[0]]]))
    expected = stored[:, (vectors * vectors).sum(dim=1) < 4.9**2]
    assert torch.equal(edges, expected)
    kept_dimers = [k for k in range(-3, 4) if bool((edges[0] == 2 * (k + 3)).any())]
    assert kept_dimers == [-3, -2, -1]  # 4.9 Å itself is out
    centre, neighbour, offsets = neighbors.candidate_arrays(positions, cell, pbc, batch,
                                                            sizes)
    np.testing.assert_array_equal(np.stack([centre, neighbour]), stored.numpy())
    assert offsets.dtype == np.float64
    np.testing.assert_allclose(offsets, torch.einsum(
        "ek,ekl->el", neighbors._shifts.double(), cell.double()[batch[stored[0]]]).numpy(),
        atol=1e-5)
    within = (vectors * vectors).sum(dim=1) < 4.9**2
    np.testing.assert_array_equal(offsets[within.numpy()], neighbors.offsets.double().numpy())
    assert len(centre) > edges.shape[1]  # the skin's pairs are there too


def _observed_state(structures: Sequence[Atoms], seed: int) -> BatchedState:
    """A float64 state of ``structures`` with random momenta, forces, energies and a bias
    energy that is zero for the first replica (so its frames carry no bias key)."""
    state = state_from_atoms(structures, dtype=torch.float64)
    rng = np.random.default_rng(seed)
    state.momenta = torch.tensor(rng.normal(size=state.positions.shape))
    state.forces = torch.tensor(rng.normal(size=state.positions.shape))
    state.energy = torch.tensor(rng.normal(size=len(structures)))
    state.bias_energy = torch.tensor([0.0] + [0.25] * (len(structures) - 1))
    state.step = 7
    return state


def _frames_as_before(state: BatchedState, templates: Sequence[Atoms],
                      timestep_fs: float) -> list[Atoms]:
    """The frames the writer wrote before it formatted extxyz itself: state_to_atoms
    copies with a SinglePointCalculator, info["time_fs"] and a non-zero bias energy."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from nnpkit.md.batched_state import state_to_atoms

    frames = state_to_atoms(state, templates)
    bounds = np.concatenate([[0], np.cumsum(state.n_atoms.numpy())])
    for b, frame in enumerate(frames):
        frame.calc = SinglePointCalculator(
            frame, energy=float(state.energy[b]),
            forces=state.forces.numpy()[bounds[b]:bounds[b + 1]])
        frame.info["time_fs"] = state.step * timestep_fs
        if float(state.bias_energy[b]) != 0.0:
            frame.info["bias_energy_eV"] = float(state.bias_energy[b])
    return frames


def test_trajectory_writer_writes_the_bytes_of_ase_io_write(tmp_path: Path) -> None:
    # The writer formats extxyz frames itself; each file must hold exactly the bytes that
    # ase.io.write gives for the frames the writer used to build (info and tags of the
    # template kept, Lattice for cells, the bias energy where non-zero, NPT cell moves),
    # and the .traj files the same values. The last template (an "energy" key in its
    # info, which ASE refuses) goes through ASE's writer and must fail as ASE does.
    from ase.io import write

    from nnpkit.md.observers import TrajectoryWriter

    labelled = ethanol()
    labelled.info.update(label="start", charge=0)
    labelled.set_tags(np.arange(len(labelled)))
    templates = [labelled, _coppers()[0], molecule("H2O"), _coppers()[2]]
    state = _observed_state(templates, seed=3)
    paths = [tmp_path / f"r{b}.extxyz" for b in range(len(templates))]
    traj_paths = [tmp_path / f"r{b}.traj" for b in range(len(templates))]
    writers = [TrajectoryWriter(paths, templates, 1, 0.5),
               TrajectoryWriter(traj_paths, templates, 1, 0.5)]
    expected = [tmp_path / f"expected{b}.extxyz" for b in range(len(templates))]
    frames_written: list[list[Atoms]] = [[] for _ in templates]
    for move in range(3):
        state.cell = state.cell * (1.0 + 0.01 * move)  # an NPT-like cell change
        state.step += 5
        for writer in writers:
            writer(state)
        for b, frame in enumerate(_frames_as_before(state, templates, 0.5)):
            write(expected[b], frame, format="extxyz", append=move > 0)
            frames_written[b].append(frame)
    for writer in writers:
        writer.close()
    for b in range(len(templates)):
        assert paths[b].read_bytes() == expected[b].read_bytes(), f"replica {b}"
        for frame, reference in zip(read(traj_paths[b], index=":"), frames_written[b],
                                    strict=True):
            np.testing.assert_array_equal(frame.positions, reference.positions)
            np.testing.assert_array_equal(frame.get_momenta(), reference.get_momenta())
            np.testing.assert_array_equal(frame.cell.array, reference.cell.array)
            np.testing.assert_array_equal(frame.get_forces(), reference.get_forces())
            assert frame.get_potential_energy() == reference.get_potential_energy()
            assert frame.info == reference.info
    assert b"bias_energy_eV" not in paths[0].read_bytes()  # zero bias: no key
    assert b"Lattice=" in paths[1].read_bytes() and b"tags:I:1" in paths[0].read_bytes()
    odd = ethanol()
    odd.info["energy"] = 1.0
    odd_writer = TrajectoryWriter([tmp_path / "odd.extxyz"], [odd], 1, 0.5)
    with pytest.raises(KeyError, match="already exists"):  # as ase.io.write refuses it
        odd_writer(_observed_state([odd], seed=4))
    odd_writer.close()


def test_energy_logger_rows_equal_the_state_functions_bit_for_bit() -> None:
    # The logger computes the kinetic energy once, keeps the volume while the cell stays
    # and copies all columns at once: each value must still equal the state functions'.
    from nnpkit.md.batched_state import kinetic_energy, pressure_tensor, temperature, volume
    from nnpkit.md.observers import EnergyLogger
    from nnpkit.units import EV_PER_A3_TO_GPA

    state = _observed_state([*_coppers(), ethanol()], seed=5)
    state.stress = torch.tensor(np.random.default_rng(6).normal(size=(4, 3, 3)))
    logger = EnergyLogger(1, 0.5, pressure=True, bias=True)
    expected: dict[str, list[np.ndarray]] = {name: [] for name in logger.columns
                                             if name != "time_fs"}
    for move in range(3):
        if move == 2:
            state.cell = state.cell * 1.02  # the volume must follow the cell
        logger(state)
        kinetic = kinetic_energy(state)
        pressure = torch.diagonal(pressure_tensor(state), dim1=1, dim2=2).mean(dim=1)
        for name, value in [("potential_energy_eV", state.energy),
                            ("kinetic_energy_eV", kinetic),
                            ("total_energy_eV", state.energy + kinetic),
                            ("temperature_K", temperature(state)), ("volume_A3", volume(state)),
                            ("pressure_GPa", pressure * EV_PER_A3_TO_GPA),
                            ("bias_energy_eV", state.bias_energy)]:
            expected[name].append(value.numpy())
    arrays = logger.arrays()
    for name, values in expected.items():
        np.testing.assert_array_equal(arrays[name], np.array(values), err_msg=name)
    assert np.isnan(arrays["volume_A3"][:, 3]).all()  # the molecule has no volume
    np.testing.assert_allclose(arrays["volume_A3"][2, :3], 1.02**3 * arrays["volume_A3"][0, :3],
                               rtol=1e-12)


def test_stress_is_computed_at_the_steps_of_every_observer_that_needs_it() -> None:
    # The intervals of stress-needing observers are worked out once: an observer asking
    # for the stress every 3 steps gets a stress of its own step, one that does not ask
    # (every 2 steps) sees none computed at steps that are not multiples of 3.
    seen: list[tuple[int, int]] = []

    class NeedsStress:
        interval, needs_stress = 3, True

        def __call__(self, state: BatchedState) -> None:
            seen.append((state.step, state.stress_step))

    plain: list[tuple[int, int]] = []
    run_batched_md(build_small_model(["Cu"]), [copper_cubic()], ensemble="nvt", steps=12,
                   log_interval=12, observers=[NeedsStress(), (lambda s: plain.append(
                       (s.step, s.stress_step)), 2)], dtype=torch.float64, progress=False)
    assert seen == [(k, k) for k in range(0, 13, 3)]
    assert [(step, last) for step, last in plain if step % 3] == [
        (2, 0), (4, 3), (8, 6), (10, 9)]


def test_progress_bar_counts_the_steps_and_shows_the_temperature() -> None:
    # The bar computes the temperature only when it is redrawn; the first call always
    # shows it, and the count follows the state's steps from the first call on.
    from nnpkit.md.batched_state import temperature
    from nnpkit.md.observers import ProgressBar

    state = _observed_state([ethanol(), molecule("H2O")], seed=8)
    state.step = 40
    bar = ProgressBar(30, 10, disable=False)
    bar(state)
    assert bar.bar.postfix == f"T_K={float(temperature(state).mean()):.0f}"
    for step in (50, 60, 70):
        state.step = step
        bar(state)
    assert bar.bar.n == 30
    bar.close()
    quiet = ProgressBar(30, 10, disable=True)
    quiet(state)  # a disabled bar does nothing, and fails at nothing
    quiet.close()
