"""nnpkit's NEB driver (:func:`nnpkit.paths.run_neb`) through nnpkit's calculator finds a
barrier known independently.

The potential is an nnpkit :class:`Potential` of an analytic surface: a Morse pair
potential with a smooth cosine cutoff, evaluated by ``NNPCalculator`` (neighbour list,
autograd forces, float64) like any trained model. An adatom hops between two hollow sites
of a fixed square lattice, periodic in the plane. By the mirror symmetry of the hop the
saddle is the bridge site, so the barrier is

    min_z E(bridge, z) - min_z E(hollow, z),

two one-dimensional minimisations of the same closed form in numpy (scipy's bounded
Brent), with no NEB, no neighbour list and no autograd involved. The minimum energy path
is not the straight line between the end points: the adatom rises by 0.33 Å at the
bridge, so the images must relax out of the interpolation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.constraints import FixAtoms
from scipy.optimize import minimize_scalar

from nnpkit.calculators import NNPCalculator
from nnpkit.data.graph import AtomicGraph, edge_vectors
from nnpkit.models.potential import Potential
from nnpkit.paths import run_neb

pytestmark = pytest.mark.filterwarnings("ignore:nnpkit. inference with autograd")

#: Morse well depth (eV), width (1/Å), equilibrium distance (Å); cutoff radius (Å).
DEPTH_eV, WIDTH_PER_A, R0_A, CUTOFF_A = 0.4, 1.6, 2.6, 6.0
SPACING_A, N_SIDE = 2.55, 4  # the square lattice: 4 x 4 atoms per cell, 2.55 Å apart


class MorseSurface(Potential):
    """Σ_pairs D [(1 - e^{-α (r - r0)})² - 1] · (cos(π r / r_c) + 1) / 2, half per atom."""

    kind = "morse-test"

    def __init__(self) -> None:
        super().__init__(["Cu"], CUTOFF_A)

    def atomic_energies(self, graph: AtomicGraph) -> torch.Tensor:
        r = torch.linalg.norm(edge_vectors(graph), dim=1)  # [E], each pair twice
        pair = DEPTH_eV * ((1 - torch.exp(-WIDTH_PER_A * (r - R0_A))) ** 2 - 1) \
            * 0.5 * (torch.cos(torch.pi * r / CUTOFF_A) + 1)
        return graph.positions.new_zeros(len(graph.positions)).index_add(
            0, graph.edge_index[0], 0.5 * pair)


def _pair_numpy(r: np.ndarray) -> np.ndarray:
    smooth = 0.5 * (np.cos(np.pi * r / CUTOFF_A) + 1) * (r < CUTOFF_A)
    return DEPTH_eV * ((1 - np.exp(-WIDTH_PER_A * (r - R0_A))) ** 2 - 1) * smooth


def _substrate() -> Atoms:
    positions = [(i * SPACING_A, j * SPACING_A, 0.0) for i in range(N_SIDE)
                 for j in range(N_SIDE)]
    length = N_SIDE * SPACING_A
    return Atoms(f"Cu{len(positions)}", positions=positions, cell=[length, length, 30.0],
                 pbc=(True, True, False))


def _adatom_energy(x: float, y: float, z: float) -> float:
    """The adatom's interaction with every substrate atom and periodic image, eV."""
    length = N_SIDE * SPACING_A
    images = np.array([(i * length, j * length, 0.0) for i in range(-3, 4)
                       for j in range(-3, 4)])  # [49, 3]: 3 cells beyond the 6 Å cutoff
    lattice = (_substrate().positions[None, :, :] + images[:, None, :]).reshape(-1, 3)
    return float(_pair_numpy(np.linalg.norm(lattice - [x, y, z], axis=1)).sum())


def _lowest(x: float, y: float) -> tuple[float, float]:
    """(height, energy) of the adatom's minimum over z at (x, y)."""
    best = minimize_scalar(lambda z: _adatom_energy(x, y, z), bounds=(0.5, 3.5),
                           method="bounded", options={"xatol": 1e-9})
    return float(best.x), float(best.fun)


HOLLOW = (0.5 * SPACING_A, 0.5 * SPACING_A)
BRIDGE = (1.0 * SPACING_A, 0.5 * SPACING_A)
OTHER_HOLLOW = (1.5 * SPACING_A, 0.5 * SPACING_A)


def _with_adatom(x: float, y: float, z: float) -> Atoms:
    atoms = _substrate() + Atoms("Cu", positions=[(x, y, z)])
    atoms.set_constraint(FixAtoms(indices=range(N_SIDE * N_SIDE)))
    return atoms


def test_calculator_energy_is_the_closed_form() -> None:
    """The calculator's adatom energy is the numpy closed form (to rounding), so the NEB
    below runs on the surface the barrier was computed for."""
    calculator = NNPCalculator(MorseSurface(), dtype=torch.float64)
    substrate = _substrate()
    substrate.calc = calculator
    baseline = substrate.get_potential_energy()
    for x, y, z in [(*HOLLOW, 1.8), (*BRIDGE, 2.1), (0.3, 1.1, 2.4)]:
        atoms = _with_adatom(x, y, z)
        atoms.calc = NNPCalculator(MorseSurface(), dtype=torch.float64)
        assert atoms.get_potential_energy() - baseline == pytest.approx(
            _adatom_energy(x, y, z), abs=1e-10)


def test_climbing_image_neb_converges_to_the_known_barrier() -> None:
    z_hollow, e_hollow = _lowest(*HOLLOW)
    z_bridge, e_bridge = _lowest(*BRIDGE)
    barrier = e_bridge - e_hollow  # 0.3127 eV
    assert z_bridge - z_hollow > 0.3  # the path is curved: straight-line images are wrong
    # 4 images (even: none sits on the saddle by symmetry); the interpolated images lie
    # at the hollow height, 0.33 Å below the path at the bridge, so the forces must act
    result = run_neb(_with_adatom(*HOLLOW, z_hollow), _with_adatom(*OTHER_HOLLOW, z_hollow),
                     lambda: NNPCalculator(MorseSurface(), dtype=torch.float64), n_images=4,
                     fmax_eV_per_A=1e-3, max_steps=1000, relax_end_points=False)
    assert result.converged and result.max_force_eV_per_A < 1e-3
    energies = np.array(result.energies_eV)
    images = result.images
    # Tolerance 1 meV: at the converged climbing image |F| < 1e-3 eV/Å, and the energy
    # error of a stationary point found to that force is ~F²/k, far below 1 meV; a wrong
    # force (sign, factor) or a non-climbing NEB (with 4 images the highest sits 0.1 of
    # the path from the saddle) misses by tens of meV.
    assert energies.max() - energies[0] == pytest.approx(barrier, abs=1e-3)
    assert energies[-1] - energies[0] == pytest.approx(0.0, abs=1e-9)  # equivalent sites
    saddle = images[int(np.argmax(energies))].positions[-1]
    np.testing.assert_allclose(saddle, [*BRIDGE, z_bridge], atol=0.01)  # Å
