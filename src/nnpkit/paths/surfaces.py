"""The Cu(100) adatom diffusion paths: hop and exchange, the reference NEB test systems.

Both builders return the *unrelaxed* ideal-lattice end points ``(initial, final)`` of one
path, as new Atoms, deterministically (no randomness, the same atoms in the same order):

- the slab is ``ase.build.fcc100("Cu", (size, size, layers), a=a_A, vacuum=vacuum_A,
  orthogonal=True)``: square cell of side ``size·d`` (``d = a/√2``, the surface
  nearest-neighbour distance), periodic in x and y, ``vacuum_A`` above and below; atoms
  ordered layer by layer from the bottom, the top layer's atom ``(i, j)`` at
  ``(i·d, j·d)`` in-plane;
- the bottom ``fixed_layers`` layers carry one ``FixAtoms`` constraint;
- the adatom is the **last** atom, at the four-fold hollow ``(½d, ½d)``, ``a/2`` above
  the top layer (where the next fcc layer would put it).

**Hop**: the adatom moves to the neighbouring hollow ``(3/2·d, ½d)``.
**Exchange**: the adatom sinks into the top-layer site ``(d, d)`` while the atom there
(index :func:`exchange_partner_index`) pops out to the hollow diagonally across,
``(3/2·d, 3/2·d)``; every other atom stays.

:data:`EMT_HOP_BARRIER_eV` and :data:`EMT_EXCHANGE_BARRIER_eV` are the EMT barriers of
the default builders (``size=3, layers=3, fixed_layers=1``, ``a_A`` = EMT's), measured
to 1 meV with ``run_neb(initial, final, EMT, n_images=11, fmax_eV_per_A=2e-4)``
(end points relaxed to the same fmax); the saddles have one imaginary mode (hop
≈ 57i cm⁻¹, exchange ≈ 55i cm⁻¹ over the free atoms). Both end points of each path are
equivalent by symmetry, so the forward and reverse barriers are equal.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from nnpkit.errors import ConfigError

__all__ = ["EMT_CU_LATTICE_CONSTANT_A", "EMT_HOP_BARRIER_eV", "EMT_EXCHANGE_BARRIER_eV",
           "cu100_slab", "cu100_adatom_hop", "cu100_adatom_exchange",
           "exchange_partner_index", "moving_atoms"]

#: fcc Cu lattice constant (Å) minimising ASE's EMT bulk energy (3.58983, to 1e-4 Å).
EMT_CU_LATTICE_CONSTANT_A = 3.5898
#: EMT barrier (eV) of the default hop path, relaxed end points, climbing-image NEB
#: (0.411627 eV at 7, 9 and 11 images, fmax 1e-3, 5e-4 and 2e-4 eV/Å).
EMT_HOP_BARRIER_eV = 0.4116
#: EMT barrier (eV) of the default exchange path, relaxed end points, climbing-image NEB
#: (1.043306 eV at 7, 9 and 11 images, fmax 1e-3, 5e-4 and 2e-4 eV/Å).
EMT_EXCHANGE_BARRIER_eV = 1.0433


def _check(size: int, layers: int, fixed_layers: int) -> None:
    if size < 3:
        raise ConfigError(f"size must be at least 3 (the exchange path spans 3 columns), "
                          f"got {size}")
    if layers < 2 or not 0 <= fixed_layers < layers:
        raise ConfigError(f"need layers >= 2 and 0 <= fixed_layers < layers, got "
                          f"layers={layers}, fixed_layers={fixed_layers}")


def cu100_slab(a_A: float = EMT_CU_LATTICE_CONSTANT_A, size: int = 3, layers: int = 3,
               fixed_layers: int = 1, vacuum_A: float = 8.0) -> Atoms:
    """The clean Cu(100) slab of ``size × size × layers`` atoms (``FixAtoms`` on the
    bottom ``fixed_layers``), as described in the module docstring."""
    from ase.build import fcc100

    _check(size, layers, fixed_layers)
    slab = fcc100("Cu", size=(size, size, layers), a=a_A, vacuum=vacuum_A, orthogonal=True)
    per_layer = size * size
    slab.set_tags(np.zeros(len(slab), dtype=int))
    slab.set_constraint(FixAtoms(indices=range(fixed_layers * per_layer)))
    return slab


def _with_adatom(slab: Atoms, xy: tuple[float, float], height_A: float) -> Atoms:
    top = float(slab.positions[-1, 2])
    atoms = slab + Atoms("Cu", positions=[(xy[0], xy[1], top + height_A)])
    atoms.set_constraint([constraint.copy() for constraint in slab.constraints])
    return atoms


def cu100_adatom_hop(a_A: float = EMT_CU_LATTICE_CONSTANT_A, size: int = 3,
                     layers: int = 3, fixed_layers: int = 1,
                     vacuum_A: float = 8.0) -> tuple[Atoms, Atoms]:
    """End points of the hollow → neighbouring-hollow hop of a Cu adatom on Cu(100).

    Args:
        a_A: fcc lattice constant (Å); the default is EMT's.
        size: surface cell of ``size × size`` atoms (≥ 3).
        layers: atomic layers of the slab; ``fixed_layers`` of them (bottom) are fixed.
        vacuum_A: vacuum on each side of the slab (Å).

    Returns:
        ``(initial, final)``, ``size²·layers + 1`` atoms each, the adatom last, at
        ``(½d, ½d)`` and ``(3/2·d, ½d)``, ``a_A/2`` above the top layer.
    """
    slab = cu100_slab(a_A, size, layers, fixed_layers, vacuum_A)
    d = a_A / math.sqrt(2)
    return (_with_adatom(slab, (0.5 * d, 0.5 * d), a_A / 2),
            _with_adatom(slab, (1.5 * d, 0.5 * d), a_A / 2))


def exchange_partner_index(size: int = 3, layers: int = 3) -> int:
    """Index of the surface atom that the exchange path pushes out: the top-layer atom
    ``(1, 1)`` (``fcc100`` orders the atoms of a layer x fastest)."""
    return size * size * (layers - 1) + size + 1


def cu100_adatom_exchange(a_A: float = EMT_CU_LATTICE_CONSTANT_A, size: int = 3,
                          layers: int = 3, fixed_layers: int = 1,
                          vacuum_A: float = 8.0) -> tuple[Atoms, Atoms]:
    """End points of the exchange path of a Cu adatom on Cu(100).

    The adatom (last atom) starts at the hollow ``(½d, ½d)`` and ends in the top-layer
    site ``(d, d)``; the atom of that site (:func:`exchange_partner_index`) ends at the
    hollow ``(3/2·d, 3/2·d)``, ``a_A/2`` above the top layer. Arguments as
    :func:`cu100_adatom_hop`.
    """
    slab = cu100_slab(a_A, size, layers, fixed_layers, vacuum_A)
    d = a_A / math.sqrt(2)
    partner = exchange_partner_index(size, layers)
    site = slab.positions[partner].copy()
    initial = _with_adatom(slab, (0.5 * d, 0.5 * d), a_A / 2)
    final = initial.copy()
    final.positions[-1] = site
    final.positions[partner] = site + (0.5 * d, 0.5 * d, a_A / 2)
    return initial, final


def moving_atoms(initial: Atoms, final: Atoms, within_A: float = 0.0) -> list[int]:
    """Indices of the atoms that differ between the end points, plus every atom within
    ``within_A`` (Å, minimum image) of one of them; ascending."""
    moved = np.nonzero(np.linalg.norm(final.positions - initial.positions, axis=1)
                       > 1e-6)[0]
    if within_A <= 0 or len(moved) == 0:
        return [int(i) for i in moved]
    distances = initial.get_all_distances(mic=True)[moved]  # [n_moved, n_atoms]
    return [int(i) for i in np.nonzero((distances <= within_A).any(axis=0))[0]]
