"""Collective variables and static biases (nnpkit.md.collective_variables, nnpkit.md.bias):
PLUMED's rational switching function against its closed form and finite differences, the
removable singularity at r = d0 + r0, coordination numbers on batches, the harmonic
restraint on a CN through the engine's force-field hook, the spherical wall and SumBias."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from nnpkit.errors import ConfigError
from nnpkit.md import bias as bias_module
from nnpkit.md.batched_state import BatchedState, state_from_atoms
from nnpkit.md.bias import BiasedForceField, HarmonicBias, SphericalWall, SumBias
from nnpkit.md.collective_variables import (
    CoordinationCV,
    DistanceCV,
    cv_of_atoms,
    switching_function,
)

#: (r0_A, d0_A, n, m): PLUMED's default m = 2n, a general pair, and n > m.
PARAMETERS = [(0.5, 0.0, 6, 0), (0.3, 2.0, 6, 10), (0.4, 1.0, 8, 4)]


def closed_form(r: np.ndarray, r0: float, d0: float, n: int, m: int) -> np.ndarray:
    """The textbook formula in numpy (undefined at r = d0 + r0), 1 for r <= d0."""
    m = 2 * n if m == 0 else m
    x = (r - d0) / r0
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (1 - x**n) / (1 - x**m)
    return np.where(r <= d0, 1.0, value)


def derivative(function, r: np.ndarray, step: float) -> np.ndarray:
    """Five-point central finite difference (error O(step⁴)) of a function of r."""
    return (8 * (function(r + step) - function(r - step))
            - (function(r + 2 * step) - function(r - 2 * step))) / (12 * step)


def torch_switching(r0: float, d0: float, n: int, m: int):
    def evaluate(r: np.ndarray) -> np.ndarray:
        return switching_function(torch.as_tensor(r), r0, d0, n, m).numpy()
    return evaluate


def autograd_switching(r: np.ndarray, r0: float, d0: float, n: int, m: int) -> np.ndarray:
    tensor = torch.as_tensor(r, dtype=torch.float64).requires_grad_(True)
    (gradient,) = torch.autograd.grad(switching_function(tensor, r0, d0, n, m).sum(), tensor)
    return gradient.numpy()


def sample_distances(r0: float, d0: float) -> np.ndarray:
    """Points on both sides of d0 and of d0 + r0, none within 1e-3 r0 of the singularity."""
    x = np.array([-0.5, 0.1, 0.37, 0.8, 0.95, 0.998, 1.002, 1.07, 1.6, 3.0, 11.0])
    return d0 + r0 * x


@pytest.mark.parametrize(("r0", "d0", "n", "m"), PARAMETERS)
def test_switching_function_matches_closed_form(r0: float, d0: float, n: int, m: int) -> None:
    r = sample_distances(r0, d0)
    value = switching_function(torch.as_tensor(r), r0, d0, n, m).numpy()
    # the closed form loses digits near x = 1 (1 - x^m ~ 1e-2 here): 1e-12 relative
    np.testing.assert_allclose(value, closed_form(r, r0, d0, n, m), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("r0", "d0", "n", "m"), PARAMETERS)
def test_switching_gradient_matches_finite_differences(r0: float, d0: float, n: int,
                                                       m: int) -> None:
    r = sample_distances(r0, d0)[1:]  # r <= d0 has zero slope: checked below
    numeric = derivative(torch_switching(r0, d0, n, m), r, step=1e-4 * r0)
    np.testing.assert_allclose(autograd_switching(r, r0, d0, n, m), numeric, rtol=1e-6)
    # s = 1 and flat below d0
    inside = np.array([d0 - 0.3, d0 - 1e-3])
    assert np.all(switching_function(torch.as_tensor(inside), r0, d0, n, m).numpy() == 1.0)
    assert np.all(autograd_switching(inside, r0, d0, n, m) == 0.0)


@pytest.mark.parametrize(("r0", "d0", "n", "m"), PARAMETERS)
def test_removable_singularity_has_its_limit(r0: float, d0: float, n: int, m: int) -> None:
    m_used = 2 * n if m == 0 else m
    at = np.array([d0 + r0])
    value = switching_function(torch.as_tensor(at), r0, d0, n, m).numpy()
    np.testing.assert_allclose(value, [n / m_used], rtol=1e-12, atol=0)
    slope = autograd_switching(at, r0, d0, n, m)
    assert np.isfinite(slope).all()
    # the limit: the analytic n(n - m)/(2 m r0), and finite differences of the closed form
    # from both sides (never evaluated at the singular point itself)
    analytic = n * (n - m_used) / (2 * m_used * r0)
    np.testing.assert_allclose(slope, [analytic], rtol=1e-12)
    h = 1e-4 * r0
    left = (closed_form(at - h, r0, d0, n, m) - closed_form(at - 2 * h, r0, d0, n, m)) / h
    right = (closed_form(at + 2 * h, r0, d0, n, m) - closed_form(at + h, r0, d0, n, m)) / h
    one_sided = 0.5 * (left + right)  # the O(h) errors of the two sides cancel
    np.testing.assert_allclose(slope, one_sided, rtol=1e-6)
    # just off the point, autograd is continuous with it
    near = at + np.array([-1e-9, 1e-9]) * r0
    np.testing.assert_allclose(autograd_switching(near, r0, d0, n, m), [analytic] * 2,
                               rtol=1e-6)


def test_default_m_is_twice_n_and_nothing_overflows() -> None:
    r = torch.linspace(0.0, 3.0, 31, dtype=torch.float64)
    assert torch.equal(switching_function(r, 0.5, 0.0, 6, 0),
                       switching_function(r, 0.5, 0.0, 6, 12))
    # m = 2n is 1 / (1 + x^n): one half at r = r0
    np.testing.assert_allclose(switching_function(r, 0.5, n=6).numpy(),
                               1 / (1 + (r.numpy() / 0.5) ** 6), rtol=1e-13)
    far = torch.tensor([1e4, 1e6], dtype=torch.float32, requires_grad=True)
    value = switching_function(far, 0.1, n=6, m=12)
    (gradient,) = torch.autograd.grad(value.sum(), far)
    assert torch.isfinite(value).all() and torch.isfinite(gradient).all()
    np.testing.assert_allclose(value.detach().numpy(), (0.1 / far.detach().numpy()) ** 6,
                               rtol=1e-5)
    for bad in ({"n": 0}, {"n": 6, "m": 6}, {"n": 2.5}):
        with pytest.raises(ConfigError, match="switching function"):
            switching_function(r, 0.5, **bad)
    with pytest.raises(ConfigError, match="r0_A > 0"):
        switching_function(r, 0.0)


def ion_with_waters(distances_A: list[float], seed: int) -> Atoms:
    """Na at the origin and one water per distance: its O at that distance in a random
    direction, the Hs 0.96 Å from O pointing away from the ion."""
    rng = np.random.default_rng(seed)
    symbols, positions = ["Na"], [np.zeros(3)]
    for distance in distances_A:
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        oxygen = distance * direction
        symbols += ["O", "H", "H"]
        positions += [oxygen, oxygen + 0.96 * direction + [0.3, 0, 0],
                      oxygen + 0.96 * direction - [0.3, 0, 0]]
    return Atoms(symbols, positions=positions)


def oxygens(atoms: Atoms) -> list[int]:
    return [atom.index for atom in atoms if atom.symbol == "O"]


def test_coordination_number_is_the_sum_of_switching_values() -> None:
    distances = [2.3, 2.45, 2.9, 3.3, 4.8]
    atoms = ion_with_waters(distances, seed=1)
    cv = CoordinationCV(0, oxygens(atoms), [len(atoms)], r0_A=3.0, n=6, m=12)
    expected = closed_form(np.asarray(distances), 3.0, 0.0, 6, 12).sum()
    assert cv_of_atoms(cv, atoms) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ConfigError, match="replicas of \\[16\\] atoms"):
        cv_of_atoms(cv, atoms[:-1])


def batch_of_clusters() -> list[Atoms]:
    """Three clusters of 3, 5 and 4 waters; the ion first, last and in the middle."""
    first = ion_with_waters([2.3, 2.5, 3.1], seed=2)
    second = ion_with_waters([2.2, 2.4, 2.6, 3.0, 3.6], seed=3)
    second = second[list(range(1, len(second))) + [0]]  # Na last
    third = ion_with_waters([2.35, 2.8, 2.45, 4.0], seed=4)
    third = third[list(range(1, 7)) + [0] + list(range(7, len(third)))]  # Na at 6
    for atoms in (first, second, third):
        atoms.rattle(0.05, seed=5)
    return [first, second, third]


def test_coordination_on_a_batch_equals_each_replica_alone() -> None:
    structures = batch_of_clusters()
    centers = [next(a.index for a in atoms if a.symbol == "Na") for atoms in structures]
    groups = [oxygens(atoms) for atoms in structures]
    parameters = {"r0_A": 2.8, "d0_A": 0.1, "n": 6, "m": 10}
    cv = CoordinationCV(centers, groups, [len(a) for a in structures], **parameters)
    state = state_from_atoms(structures)
    positions = state.positions.clone().requires_grad_(True)
    values = cv(positions, state.batch)
    (gradient,) = torch.autograd.grad(values.sum(), positions)
    bounds = np.cumsum([0] + [len(a) for a in structures])
    for b, atoms in enumerate(structures):
        alone = CoordinationCV(centers[b], groups[b], [len(atoms)], **parameters)
        single = torch.as_tensor(atoms.positions).requires_grad_(True)
        value = alone(single, torch.zeros(len(atoms), dtype=torch.long))
        (single_gradient,) = torch.autograd.grad(value.sum(), single)
        assert float(values[b].detach()) == pytest.approx(float(value[0].detach()), rel=1e-14)
        np.testing.assert_allclose(gradient[bounds[b]:bounds[b + 1]].numpy(),
                                   single_gradient.numpy(), rtol=1e-13, atol=1e-15)
    assert len(set(np.round(values.detach().numpy(), 6))) == 3  # three different CNs


def test_coordination_gradient_matches_finite_differences() -> None:
    atoms = ion_with_waters([2.3, 2.4, 2.6, 2.95, 3.4], seed=6)
    atoms.rattle(0.1, seed=7)
    cv = CoordinationCV(0, oxygens(atoms), [len(atoms)], r0_A=2.6, d0_A=0.2, n=6, m=10)
    batch = torch.zeros(len(atoms), dtype=torch.long)
    positions = torch.as_tensor(atoms.positions).requires_grad_(True)
    (gradient,) = torch.autograd.grad(cv(positions, batch).sum(), positions)
    numeric = np.zeros_like(atoms.positions)
    step = 1e-6
    for i in range(len(atoms)):
        for k in range(3):
            plus, minus = atoms.positions.copy(), atoms.positions.copy()
            plus[i, k] += step
            minus[i, k] -= step
            numeric[i, k] = (float(cv(torch.as_tensor(plus), batch)[0])
                             - float(cv(torch.as_tensor(minus), batch)[0])) / (2 * step)
    np.testing.assert_allclose(gradient.numpy(), numeric, rtol=1e-6, atol=1e-9)
    assert np.abs(numeric).max() > 0.1  # the check is not of zeros
    np.testing.assert_allclose(gradient.numpy().sum(axis=0), 0.0, atol=1e-12)


def test_bad_atom_indices_are_refused_naming_them() -> None:
    with pytest.raises(ConfigError, match="atom\\(s\\) \\[9\\] do not exist in replica 1"):
        CoordinationCV(0, [[1, 2], [1, 9]], [5, 7], r0_A=3.0)
    with pytest.raises(ConfigError, match="centre atom 2 is in its own group"):
        CoordinationCV(2, [1, 2, 3], [5], r0_A=3.0)
    with pytest.raises(ConfigError, match="2 index lists for 3 replicas"):
        CoordinationCV(0, [[1], [2]], [4, 4, 4], r0_A=3.0)
    with pytest.raises(ConfigError, match="DistanceCV second atom"):
        DistanceCV(0, 4, [4])
    with pytest.raises(ConfigError, match="CoordinationCV center: 2 indices for 3 replicas"):
        CoordinationCV([0, 1], [2], [4, 4, 4], r0_A=3.0)
    assert bias_module.DistanceCV is DistanceCV  # the old import keeps working


class ZeroForceField:
    """No forces, no energy: leaves only the bias in the engine's force-field hook."""

    def __call__(self, state: BatchedState, need_stress: bool) -> None:
        state.energy = torch.zeros(state.n_replicas, dtype=torch.float64)
        state.forces = torch.zeros_like(state.positions)


def engine_energy_and_forces(force_field: BiasedForceField, structures: list[Atoms],
                             positions: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    state = state_from_atoms(structures)
    if positions is not None:
        state.positions = torch.as_tensor(positions)
    force_field(state, False)
    return state.energy.numpy(), state.forces.numpy()


def finite_difference_forces(energy, positions: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """−∂(Σ_b E_b)/∂r by central differences, [N, 3]."""
    forces = np.zeros_like(positions)
    for i in range(len(positions)):
        for k in range(3):
            plus, minus = positions.copy(), positions.copy()
            plus[i, k] += step
            minus[i, k] -= step
            forces[i, k] = -(energy(plus).sum() - energy(minus).sum()) / (2 * step)
    return forces


def test_harmonic_bias_on_coordination_gives_engine_forces_of_its_energy() -> None:
    structures = batch_of_clusters()[:2]
    centers = [0, len(structures[1]) - 1]
    cv = CoordinationCV(centers, [oxygens(a) for a in structures],
                        [len(a) for a in structures], r0_A=2.7, n=6, m=12)
    bias = HarmonicBias(cv, center=[1.5, 4.5], spring_constant=[2.0, 0.7])
    force_field = BiasedForceField(ZeroForceField(), bias)
    start = np.concatenate([a.positions for a in structures])
    energy, forces = engine_energy_and_forces(force_field, structures)
    cn = cv(torch.as_tensor(start), state_from_atoms(structures).batch).numpy()
    np.testing.assert_allclose(energy, 0.5 * np.array([2.0, 0.7]) * (cn - [1.5, 4.5]) ** 2,
                               rtol=1e-12)
    numeric = finite_difference_forces(
        lambda r: engine_energy_and_forces(force_field, structures, r)[0], start)
    np.testing.assert_allclose(forces, numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(forces).max() > 0.05


def cluster_pair() -> list[Atoms]:
    """Two replicas of 4 and 3 atoms, some beyond a 2 Å wall around their centroid."""
    first = Atoms("OHHO", positions=[[0, 0, 0], [0.9, 0.3, 0], [-0.4, 2.6, 0.2],
                                     [0.2, -0.5, 3.1]])
    second = Atoms("NaOH", positions=[[1, 1, 1], [1.5, 0.8, 0.9], [4.0, 1.2, 0.7]])
    return [first, second]


def test_spherical_wall_is_zero_inside_and_conservative_outside() -> None:
    structures = cluster_pair()
    masses = np.concatenate([a.get_masses() for a in structures])
    wall = SphericalWall([4, 3], radius_A=[2.0, 1.5], spring_constant_eV_per_A2=3.0,
                         masses_amu=masses)
    force_field = BiasedForceField(ZeroForceField(), wall)
    start = np.concatenate([a.positions for a in structures])
    energy, forces = engine_energy_and_forces(force_field, structures)
    assert (energy > 0.1).all()
    numeric = finite_difference_forces(
        lambda r: engine_energy_and_forces(force_field, structures, r)[0], start)
    np.testing.assert_allclose(forces, numeric, rtol=1e-6, atol=1e-8)
    # translation invariance: the same energy and forces anywhere, no net force
    shifted = start + np.array([3.0, -7.0, 11.0])
    energy_shifted, forces_shifted = engine_energy_and_forces(force_field, structures, shifted)
    np.testing.assert_allclose(energy_shifted, energy, rtol=1e-12)
    np.testing.assert_allclose(forces_shifted, forces, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(forces[:4].sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(forces[4:].sum(axis=0), 0.0, atol=1e-12)
    # inside: exactly nothing, even with an atom at the centre
    inside = [Atoms("H3", positions=[[0, 0, 0], [0.5, 0, 0], [-0.5, 0, 0]])]
    quiet = BiasedForceField(ZeroForceField(), SphericalWall([3], 1.0, 3.0))
    energy_inside, forces_inside = engine_energy_and_forces(quiet, inside)
    assert energy_inside.tolist() == [0.0] and np.all(forces_inside == 0.0)


def test_spherical_wall_energy_closed_form_and_atom_selection() -> None:
    # two atoms at ±d along x around the centroid, only they selected: E = ½ k 2 (d - R)²
    atoms = Atoms("H3", positions=[[-2.5, 0, 0], [2.5, 0, 0], [9.0, 9.0, 9.0]])
    wall = SphericalWall([3], radius_A=1.0, spring_constant_eV_per_A2=0.4, atoms=[0, 1])
    energy, forces = wall(torch.as_tensor(atoms.positions), torch.zeros(3, dtype=torch.long))
    assert float(energy[0]) == pytest.approx(0.5 * 0.4 * 2 * 1.5**2, rel=1e-14)
    np.testing.assert_allclose(forces.numpy(), [[0.6, 0, 0], [-0.6, 0, 0], [0, 0, 0]],
                               atol=1e-14)
    with pytest.raises(ConfigError, match="atom\\(s\\) \\[5\\] do not exist in replica 0"):
        SphericalWall([3], 1.0, 0.4, atoms=[0, 5])
    with pytest.raises(ConfigError, match="spring constant > 0"):
        SphericalWall([3], 1.0, 0.0)


def test_sum_bias_adds_energies_and_forces() -> None:
    structures = cluster_pair()
    batch = state_from_atoms(structures).batch
    positions = torch.as_tensor(np.concatenate([a.positions for a in structures]))
    wall = SphericalWall([4, 3], 1.5, 2.0)
    restraint = HarmonicBias(DistanceCV(0, 1, [4, 3]), center=1.0, spring_constant=5.0)
    energy, forces = SumBias(wall, restraint)(positions, batch)
    parts = [bias(positions, batch) for bias in (wall, restraint)]
    np.testing.assert_allclose(energy.numpy(), (parts[0][0] + parts[1][0]).numpy(), rtol=1e-14)
    np.testing.assert_allclose(forces.numpy(), (parts[0][1] + parts[1][1]).numpy(), rtol=1e-14)
    assert (parts[0][0] > 0).all() and (parts[1][0] > 0).all()
