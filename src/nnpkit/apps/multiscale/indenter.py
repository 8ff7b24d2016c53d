"""A rigid spherical indenter: the repulsive wall of Kelchner, Plimpton & Hamilton.

Kelchner, Plimpton & Hamilton, Phys. Rev. B 58, 11085 (1998): every atom at a distance
``r`` from the sphere's centre feels ``V(r) = K (R − r)³`` for ``r < R`` and nothing outside,
so the energy and its first two derivatives are continuous at the sphere's surface. The
force on atom i is ``f_i = 3 K (R − r_i)² r̂_i`` (radially outward from the centre).

Geometry (z up): the centre is at ``(centre_x_A, centre_y_A, tip_z_A + radius_A)``;
``tip_z_A`` is the height of the sphere's lowest point, so indenting a surface at height
``z_s`` to a depth ``d`` means ``tip_z_A = z_s − d``. The *load* is the force the indenter
feels from the atoms, taken positive in compression: ``P = −Σ_i f_i,z = −∂E/∂tip_z_A``
(lowering the tip raises the energy). Distances are plain Cartesian distances: no minimum
image is taken, so the sphere must not reach across a periodic boundary.

Units: Å, eV, eV/Å; stiffness ``K`` in eV/Å³.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from nnpkit.errors import ConfigError, DataError

__all__ = ["SphericalIndenter", "IndenterCalculator"]


def _positions_array(positions: np.ndarray) -> np.ndarray:
    array = np.asarray(positions, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise DataError(f"indenter: positions must have shape [n, 3], got {array.shape}")
    return array


@dataclass(frozen=True)
class SphericalIndenter:
    """Rigid sphere, repulsive wall of Kelchner, Plimpton & Hamilton (PRB 58, 11085 (1998)):
    V(r) = K (R − r)³ for r < R, else 0; r = distance of an atom from the sphere's centre.

    The sphere's centre is at (centre_x_A, centre_y_A, tip_z_A + radius_A): tip_z_A is the
    height of its lowest point; indenting means lowering tip_z_A below the surface (z up).

    Attributes:
        radius_A: R, the sphere's radius (Å), > 0.
        centre_x_A, centre_y_A: the lateral position of the sphere's axis (Å).
        stiffness_eV_per_A3: K (eV/Å³), > 0.
    """

    radius_A: float
    centre_x_A: float
    centre_y_A: float
    stiffness_eV_per_A3: float = 10.0

    def __post_init__(self) -> None:
        for name in ("radius_A", "stiffness_eV_per_A3", "centre_x_A", "centre_y_A"):
            value = getattr(self, name)
            if not np.isfinite(value):
                raise ConfigError(f"indenter: {name} must be finite, got {value!r}")
        if not self.radius_A > 0:
            raise ConfigError(f"indenter: radius_A must be > 0, got {self.radius_A!r}")
        if not self.stiffness_eV_per_A3 > 0:
            raise ConfigError(
                f"indenter: stiffness_eV_per_A3 must be > 0, got {self.stiffness_eV_per_A3!r}")

    def centre_A(self, tip_z_A: float) -> np.ndarray:
        """The sphere's centre [3] (Å) when its lowest point is at height ``tip_z_A``."""
        return np.array([self.centre_x_A, self.centre_y_A, float(tip_z_A) + self.radius_A])

    def energy(self, positions: torch.Tensor, tip_z_A: float) -> torch.Tensor:
        """Σ_i K (R − r_i)³ over the atoms inside the sphere, a differentiable scalar (eV).

        ``positions``: [n, 3] Å (any float dtype / device; the result has the same).
        An atom exactly at the centre has an undefined gradient (never met in practice).
        """
        centre = torch.as_tensor(self.centre_A(tip_z_A), dtype=positions.dtype,
                                 device=positions.device)  # [3]
        distance = torch.linalg.vector_norm(positions - centre, dim=-1)  # [n]
        penetration = torch.clamp(self.radius_A - distance, min=0.0)  # [n]
        return self.stiffness_eV_per_A3 * (penetration ** 3).sum()

    def _penetration(self, positions: np.ndarray, tip_z_A: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        offsets = _positions_array(positions) - self.centre_A(tip_z_A)  # [n, 3]
        distance = np.linalg.norm(offsets, axis=1)  # [n]
        penetration = np.clip(self.radius_A - distance, 0.0, None)  # [n]
        return offsets, distance, penetration

    def energy_and_forces(self, positions: np.ndarray, tip_z_A: float
                          ) -> tuple[float, np.ndarray]:
        """The energy (eV) and the analytic forces [n, 3] (eV/Å) of the atoms at ``positions``
        ([n, 3] Å). The input is not modified."""
        offsets, distance, penetration = self._penetration(positions, tip_z_A)
        energy = float(self.stiffness_eV_per_A3 * np.sum(penetration ** 3))
        magnitude = 3.0 * self.stiffness_eV_per_A3 * penetration ** 2  # [n], −dV/dr
        safe = np.where(distance > 0.0, distance, 1.0)  # r̂ undefined at the centre: force 0
        forces = (magnitude / safe)[:, None] * offsets  # [n, 3]
        forces[distance == 0.0] = 0.0
        return energy, forces

    def load_eV_per_A(self, positions: np.ndarray, tip_z_A: float) -> float:
        """The load P = −Σ_i f_i,z (eV/Å): the reaction the indenter feels from the atoms,
        positive in compression (an atom pushed down, f_z < 0, adds to it). Equals
        −∂E/∂tip_z_A."""
        _, forces = self.energy_and_forces(positions, tip_z_A)
        return float(-forces[:, 2].sum())

    def contact_atoms(self, positions: np.ndarray, tip_z_A: float) -> np.ndarray:
        """Boolean [n]: the atoms inside the sphere (r < R), those that feel it."""
        _, distance, _ = self._penetration(positions, tip_z_A)
        return distance < self.radius_A

    def contact_radius_A(self, positions: np.ndarray, tip_z_A: float) -> float:
        """The largest lateral distance (Å) of a contact atom from the sphere's axis; 0.0 when
        no atom touches the sphere."""
        array = _positions_array(positions)
        inside = self.contact_atoms(array, tip_z_A)
        if not inside.any():
            return 0.0
        lateral = array[inside, :2] - np.array([self.centre_x_A, self.centre_y_A])  # [k, 2]
        return float(np.linalg.norm(lateral, axis=1).max())


class IndenterCalculator(Calculator):
    """ASE calculator of the indenter's energy and forces alone (implemented_properties energy,
    forces), to be summed with any calculator through ase.calculators.mixing.SumCalculator for
    a fully atomistic reference run. ``tip_z_A`` is settable (changing it resets the results).

    Positions are used as they are (no wrapping or minimum image).
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, indenter: SphericalIndenter, tip_z_A: float) -> None:
        super().__init__()
        if not isinstance(indenter, SphericalIndenter):
            raise ConfigError(
                f"IndenterCalculator: indenter must be a SphericalIndenter, got "
                f"{type(indenter).__name__}")
        self.indenter = indenter
        self._tip_z_A = self._checked_tip(tip_z_A)

    @staticmethod
    def _checked_tip(tip_z_A: float) -> float:
        value = float(tip_z_A)
        if not np.isfinite(value):
            raise ConfigError(f"IndenterCalculator: tip_z_A must be finite, got {tip_z_A!r}")
        return value

    @property
    def tip_z_A(self) -> float:
        """The height (Å) of the sphere's lowest point."""
        return self._tip_z_A

    @tip_z_A.setter
    def tip_z_A(self, value: float) -> None:
        self._tip_z_A = self._checked_tip(value)
        self.reset()

    def load_eV_per_A(self, atoms: Atoms) -> float:
        """The load (eV/Å, positive in compression) on the indenter from ``atoms``."""
        return self.indenter.load_eV_per_A(atoms.get_positions(), self._tip_z_A)

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None,
                  system_changes: list[str] = all_changes) -> None:
        """Fill ``self.results`` with the indenter's energy (eV) and forces [n, 3] (eV/Å)."""
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        energy, forces = self.indenter.energy_and_forces(self.atoms.get_positions(),
                                                         self._tip_z_A)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
