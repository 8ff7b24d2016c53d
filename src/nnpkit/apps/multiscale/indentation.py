"""Contact: a rigid sphere pressed into the (100) surface, load against depth.

The system is first relaxed without the indenter (the free surface relaxes); the depth is
measured from the relaxed height of the surface atom on the indenter's axis. At each
depth the tip is lowered to ``surface − depth`` and the model relaxed from the previous
state; the load is the force the atoms exert on the sphere (positive in compression).
The same function runs the coupled model and the fully atomistic one (a region covering
the whole block), so the two curves come from one code path.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from nnpkit.apps.multiscale.solver import minimise
from nnpkit.apps.multiscale.system import CoupledSystem
from nnpkit.errors import ConfigError

__all__ = ["IndentationResult", "indent"]


@dataclass
class IndentationResult:
    """Load–displacement data of one model.

    Attributes:
        depths_A: indentation depths [n], Å.
        loads_eV_per_A: loads [n], eV/Å (1 eV/Å = 1.602 nN).
        contact_radius_A: radius of the contact (atoms inside the sphere) [n], Å.
        energies_eV: total energy at each depth [n] (NaN for bqcf).
        max_force_eV_per_A: the residual at each depth [n].
        n_evaluations: model evaluations at each depth (the first entry includes the
            relaxation without the indenter).
        surface_z_A: relaxed height of the surface on the axis, Å.
        wall_s: wall time of the whole run, s.
        degrees_of_freedom: counts from :meth:`CoupledSystem.degrees_of_freedom`.
        displacement_A: the nodal displacements at the deepest point [n_nodes, 3], Å.
    """

    depths_A: np.ndarray
    loads_eV_per_A: np.ndarray
    contact_radius_A: np.ndarray
    energies_eV: np.ndarray
    max_force_eV_per_A: np.ndarray
    n_evaluations: list[int]
    surface_z_A: float
    wall_s: float
    degrees_of_freedom: dict[str, int]
    displacement_A: np.ndarray = field(repr=False)

    def table(self) -> list[dict[str, float]]:
        """One JSON-ready row per depth."""
        return [{"depth_A": float(d), "load_eV_per_A": float(p), "load_nN": float(p) * 1.602176634,
                 "contact_radius_A": float(a), "energy_eV": float(e),
                 "max_force_eV_per_A": float(f)}
                for d, p, a, e, f in zip(self.depths_A, self.loads_eV_per_A,
                                         self.contact_radius_A, self.energies_eV,
                                         self.max_force_eV_per_A, strict=True)]


def _surface_height(system: CoupledSystem, positions: np.ndarray) -> float:
    """Height of the top-layer atom nearest the indenter's axis, Å."""
    indenter = system.model.indenter
    assert indenter is not None
    sites = system.mesh.atom_sites_A
    top = np.abs(sites[:, 2] - system.block.size_A[2]) < 1e-6
    lateral = np.hypot(sites[:, 0] - indenter.centre_x_A, sites[:, 1] - indenter.centre_y_A)
    nearest = np.flatnonzero(top)[np.argmin(lateral[top])]
    return float(positions[nearest, 2])


def indent(system: CoupledSystem, depths_A: Sequence[float], method: str = "lbfgs",
           fmax_eV_per_A: float = 1e-3, max_steps: int = 5000, progress: bool = True
           ) -> IndentationResult:
    """Press the system's indenter to each depth (increasing) and relax.

    Args:
        system: a coupled (or fully atomistic) system with an indenter.
        depths_A: depths below the relaxed surface, Å, increasing, positive.
        method: ``lbfgs`` or ``fire`` (``bqcf`` needs ``fire``).
        fmax_eV_per_A: force tolerance of every relaxation.
        max_steps: iteration limit per relaxation.
        progress: show a progress bar.

    Raises:
        ConfigError: no indenter, or depths not increasing and positive.
        ConvergenceError: a relaxation did not converge (nothing is returned for it).
    """
    if system.model.indenter is None:
        raise ConfigError("the system has no indenter")
    depths = np.asarray(depths_A, dtype=float)
    if len(depths) == 0 or depths.min() <= 0 or np.any(np.diff(depths) <= 0):
        raise ConfigError(f"depths_A must be positive and increasing, got {depths.tolist()}")
    start = time.perf_counter()
    relaxed = minimise(system.model, np.zeros((system.mesh.n_nodes, 3)), None, method=method,
                       fmax_eV_per_A=fmax_eV_per_A, max_steps=max_steps)
    surface = _surface_height(system, relaxed.evaluation.atom_positions_A)
    displacement, evaluations = relaxed.displacement_A, [relaxed.n_evaluations]
    loads, radii, energies, residuals = [], [], [], []
    for k, depth in enumerate(tqdm(depths, desc=f"indent ({system.model.coupling})",
                                   disable=not progress)):
        tip = surface - depth
        state = minimise(system.model, displacement, tip, method=method,
                         fmax_eV_per_A=fmax_eV_per_A, max_steps=max_steps)
        displacement = state.displacement_A
        positions = state.evaluation.atom_positions_A
        loads.append(state.evaluation.load_eV_per_A)
        radii.append(system.model.indenter.contact_radius_A(positions, tip))
        energies.append(state.evaluation.energy_eV)
        residuals.append(state.max_force_eV_per_A)
        if k == 0:
            evaluations[0] += state.n_evaluations
        else:
            evaluations.append(state.n_evaluations)
    return IndentationResult(
        depths_A=depths, loads_eV_per_A=np.asarray(loads), contact_radius_A=np.asarray(radii),
        energies_eV=np.asarray(energies), max_force_eV_per_A=np.asarray(residuals),
        n_evaluations=evaluations, surface_z_A=surface, wall_s=time.perf_counter() - start,
        degrees_of_freedom=system.degrees_of_freedom(), displacement_A=displacement)
