"""The body and the atomistic region: an fcc block, a sphere of atoms and its blending.

The body is a block of ``n_cells`` conventional fcc cells, ``[0, L_x] × [0, L_y] × [0, L_z]``
with ``L = n_cells · a``, faces included, so its top ``z = L_z`` is a full (100) plane.
The atomistic region is a ball (a hemisphere when its centre lies on the surface) of
radius ``radius_A``: there the blending function ``w`` is 0 (atomistic); it rises to 1
(continuum) across a handshake shell of width ``blend_width_A`` with the quintic
smoothstep ``w(t) = 6t⁵ − 15t⁴ + 10t³``, ``t = (|X − c| − r) / width``, which is C²: its
second derivative, bounded by ``5.77 / width²``, sets the ghost forces of the blended
energy coupling (``∝ width⁻²``, :mod:`nnpkit.apps.multiscale.chain1d`). Beyond the
handshake, a padding shell of ``padding_A`` keeps full atoms (``w = 1``) so that every
atom with ``w < 1`` sees a complete environment: one cutoff for the energy couplings (site
energies reach one cutoff), two for the force-based one (forces reach two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnpkit.errors import ConfigError

__all__ = ["FccBlock", "AtomisticRegion", "smoothstep"]

_FCC_BASIS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])

#: Lattice sites closer than this are the same point, Å.
SITE_TOLERANCE_A: float = 1e-6


@dataclass(frozen=True)
class FccBlock:
    """A block of fcc crystal in its cubic axes.

    Attributes:
        symbol: chemical symbol of the atoms.
        lattice_constant_A: cubic lattice constant a, Å.
        n_cells: conventional cells along x, y, z.
    """

    symbol: str
    lattice_constant_A: float
    n_cells: tuple[int, int, int]

    def __post_init__(self) -> None:
        if self.lattice_constant_A <= 0:
            raise ConfigError(f"lattice_constant_A must be positive, got {self.lattice_constant_A}")
        if len(self.n_cells) != 3 or min(self.n_cells) < 1:
            raise ConfigError(f"n_cells must be three positive integers, got {self.n_cells}")

    @property
    def size_A(self) -> np.ndarray:
        """Edge lengths [3], Å."""
        return np.asarray(self.n_cells, dtype=float) * self.lattice_constant_A

    def sites(self) -> np.ndarray:
        """All lattice sites of the closed block [n, 3], Å, sorted by (z, y, x)."""
        ranges = [np.arange(0, n + 1) for n in self.n_cells]
        cells = np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, 3)
        points = (cells[:, None, :] + _FCC_BASIS[None]).reshape(-1, 3) * self.lattice_constant_A
        inside = np.all(points <= self.size_A + SITE_TOLERANCE_A, axis=1)
        points = points[inside]
        order = np.lexsort((points[:, 0], points[:, 1], points[:, 2]))
        return points[order]

    def on_faces(self, points: np.ndarray, faces: tuple[str, ...]) -> np.ndarray:
        """Which points [n] (bool) lie on the named faces (``x0 x1 y0 y1 z0 z1``)."""
        size = self.size_A
        result = np.zeros(len(points), dtype=bool)
        for face in faces:
            if face not in {"x0", "x1", "y0", "y1", "z0", "z1"}:
                raise ConfigError(f"unknown face {face!r}; faces are x0 x1 y0 y1 z0 z1")
            axis = "xyz".index(face[0])
            value = 0.0 if face[1] == "0" else size[axis]
            result |= np.abs(points[:, axis] - value) < SITE_TOLERANCE_A
        return result


def smoothstep(t: np.ndarray) -> np.ndarray:
    """The quintic smoothstep ``6t⁵ − 15t⁴ + 10t³`` on [0, 1], clamped outside; C²."""
    s = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    return s * s * s * (s * (6.0 * s - 15.0) + 10.0)


@dataclass(frozen=True)
class AtomisticRegion:
    """A ball of atoms blended into the continuum.

    Attributes:
        centre_A: centre c [3], Å (on the top surface for indentation: a hemisphere).
        radius_A: radius r of the fully atomistic ball (w = 0), Å.
        blend_width_A: width of the handshake shell where w goes from 0 to 1, Å.
        padding_A: width of the shell of full atoms (w = 1) beyond the handshake, Å.
    """

    centre_A: tuple[float, float, float]
    radius_A: float
    blend_width_A: float
    padding_A: float

    def __post_init__(self) -> None:
        for name in ("radius_A", "padding_A"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.blend_width_A <= 0:
            raise ConfigError(f"blend_width_A must be positive, got {self.blend_width_A}")

    @property
    def atom_radius_A(self) -> float:
        """Radius within which lattice sites are atoms (w < 1 or padding), Å."""
        return self.radius_A + self.blend_width_A + self.padding_A

    def distance_A(self, points: np.ndarray) -> np.ndarray:
        """Distance [n] of each point [n, 3] from the centre, Å."""
        return np.linalg.norm(np.asarray(points, dtype=float) - np.asarray(self.centre_A), axis=1)

    def weights(self, points: np.ndarray) -> np.ndarray:
        """The blending function w [n] at points [n, 3]: 0 atomistic, 1 continuum."""
        return smoothstep((self.distance_A(points) - self.radius_A) / self.blend_width_A)

    def sharp_weights(self, points: np.ndarray) -> np.ndarray:
        """The sharp-interface indicator [n]: 0 inside the ball, 1 outside."""
        return (self.distance_A(points) >= self.radius_A).astype(float)

    def check_cutoff(self, cutoff_A: float, padding_cutoffs: int = 2) -> None:
        """Refuse a handshake narrower than the cutoff, or a padding narrower than
        ``padding_cutoffs`` cutoffs (energies reach one cutoff, forces two)."""
        if self.blend_width_A < cutoff_A:
            raise ConfigError(
                f"blend_width_A = {self.blend_width_A} Å is smaller than the potential's "
                f"cutoff {cutoff_A} Å: the blended coupling needs a handshake at least one "
                f"cutoff wide")
        if self.padding_A < padding_cutoffs * cutoff_A:
            raise ConfigError(
                f"padding_A = {self.padding_A} Å is smaller than {padding_cutoffs} × the "
                f"cutoff ({padding_cutoffs * cutoff_A} Å): atoms with w < 1 would miss "
                f"neighbours that their {'forces' if padding_cutoffs > 1 else 'energies'} "
                f"depend on")
