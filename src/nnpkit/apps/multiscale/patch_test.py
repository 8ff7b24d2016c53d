"""The patch test: ghost forces of each coupling under uniform strains.

A block with the atomistic ball at its centre is clamped on all six faces at the uniform
deformation ``y = F X``; every free node is then at the configuration the exact
(atomistic) model holds in equilibrium, so any force on it is a ghost force of the
coupling. Expected, and tested: ``bqcf`` none (round-off), ``sharp`` of order one
(:func:`nnpkit.apps.multiscale.chain1d.sharp_ghost_force_analytic` gives its 1D value),
``bqce`` decaying with the handshake width ``L``. The derivation for ``bqce``: at a
uniform strain the site forces and the Cauchy–Born nodal forces both vanish with a
constant weight; a varying weight leaves, on each atom, the weight differences over its
neighbours: the first-order term (``∇w`` times the virial stress) cancels between the
atomistic and continuum parts, the second-order term does not, so the ghost force is of
order ``|∇²w| r_c² σ ∝ L⁻²`` on a general mesh (on the symmetric 1D chain the second-order
term cancels as well, leaving ``L⁻³``; see :mod:`nnpkit.apps.multiscale.chain1d`). That is
the asymptotic rate, for ``L`` well above the cutoff; measured with the 5 Å copper BPNN
between ``L`` = 5 and 10 Å the largest ghost force falls by a factor of 3.0 (slope −1.56),
since at these widths the weight still varies across one cutoff.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from tqdm.auto import tqdm

from nnpkit.apps.multiscale.coupling import COUPLINGS
from nnpkit.apps.multiscale.geometry import AtomisticRegion, FccBlock
from nnpkit.apps.multiscale.system import coupled_system
from nnpkit.models.potential import Potential

__all__ = ["UNIFORM_STRAINS", "ghost_forces", "patch_test"]

_ALL_FACES = ("x0", "x1", "y0", "y1", "z0", "z1")

#: Deformation gradients of the patch test, by name.
UNIFORM_STRAINS: dict[str, np.ndarray] = {
    "tension": np.diag([1.01, 1.0, 1.0]),
    "shear": np.array([[1.0, 0.01, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
    "mixed": np.array([[1.008, 0.004, -0.002], [0.003, 0.995, 0.005], [-0.001, 0.002, 1.006]]),
}


def ghost_forces(potential: Potential | Calculator, block: FccBlock, region: AtomisticRegion,
                 coupling: str, cell: Atoms, deformations: dict[str, np.ndarray],
                 cutoff_A: float | None = None) -> dict[str, float]:
    """The largest nodal force (eV/Å) on the free nodes at each uniform deformation."""
    system = coupled_system(potential, block, region, coupling, _ALL_FACES, cell,
                            cutoff_A=cutoff_A)
    nodes = system.mesh.nodes_A
    free = ~system.model.clamped
    result = {}
    for name, deformation in deformations.items():
        displacement = nodes @ (np.asarray(deformation) - np.eye(3)).T  # [n_nodes, 3]
        forces = system.model.evaluate(displacement).forces[free]
        result[name] = float(np.linalg.norm(forces, axis=1).max())
    return result


def patch_test(potential: Potential | Calculator, block: FccBlock, radius_A: float,
               blend_widths_A: Sequence[float], padding_A: float, cell: Atoms,
               couplings: Sequence[str] = COUPLINGS,
               deformations: dict[str, np.ndarray] | None = None,
               cutoff_A: float | None = None, progress: bool = True) -> dict:
    """Ghost forces of every coupling and handshake width, the ball at the block's centre.

    Returns:
        ``max_ghost_force_eV_per_A``: ``{coupling: largest over the strains}`` at the
        first width; ``table``: one row per (coupling, width) with the largest force per
        strain; ``bqce_width_slope``: the log-log slope of the bqce ghost force against
        the width (None with fewer than two widths or without bqce).
    """
    deformations = UNIFORM_STRAINS if deformations is None else deformations
    centre = tuple(float(x) for x in block.size_A / 2)
    rows = []
    jobs = [(c, w) for c in couplings for w in blend_widths_A]
    for coupling, width in tqdm(jobs, desc="patch test", disable=not progress):
        region = AtomisticRegion(centre_A=centre, radius_A=radius_A,  # type: ignore[arg-type]
                                 blend_width_A=width, padding_A=padding_A)
        forces = ghost_forces(potential, block, region, coupling, cell, deformations,
                              cutoff_A=cutoff_A)
        rows.append({"coupling": coupling, "blend_width_A": float(width),
                     "max_ghost_force_eV_per_A": max(forces.values()), "by_strain": forces})
    first = float(blend_widths_A[0])
    summary = {row["coupling"]: row["max_ghost_force_eV_per_A"] for row in rows
               if row["blend_width_A"] == first}
    bqce = [row for row in rows if row["coupling"] == "bqce"]
    slope = None
    if len(bqce) >= 2:
        widths = np.log([row["blend_width_A"] for row in bqce])
        values = np.log([row["max_ghost_force_eV_per_A"] for row in bqce])
        slope = float(np.polyfit(widths, values, 1)[0])
    return {"max_ghost_force_eV_per_A": summary, "blend_width_A": first, "table": rows,
            "bqce_width_slope": slope, "strains": {k: np.asarray(v).tolist()
                                                   for k, v in deformations.items()}}
