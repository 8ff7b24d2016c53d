"""Uniform periodic grids for wavepacket dynamics and grid eigenstates (atomic units).

A :class:`Grid` is the product of ``n_dim`` uniform axes with the upper endpoint
excluded, so it is exactly the point set a discrete Fourier transform assumes: the
spectral kinetic energy of :class:`~nnpkit.wavepackets.split_operator.SplitOperator` and
the sinc-DVR / Fourier-grid Hamiltonians of :mod:`nnpkit.apps.quantum.eigenstates` both
live on it. Coordinates are in bohr, momenta are angular wavenumbers in 1/bohr.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnpkit.errors import ConfigError

__all__ = ["Grid", "Values"]

#: Per-axis values: a sequence of floats or a 1D array.
Values = Sequence[float] | np.ndarray


class Grid:
    """A uniform grid ``lower[d] + spacing[d] * i``, ``i = 0 .. n_points[d] - 1`` (bohr).

    Args:
        lower: Lower bound per axis, bohr, length ``n_dim`` (1, 2 or 3 in practice).
        upper: Upper bound per axis, bohr (excluded: the grid is periodic).
        n_points: Points per axis; even sizes (ideally powers of two) make the FFT fastest.

    Attributes:
        axes: ``n_dim`` arrays, each ``[n_points[d]]``, bohr.
        shape: ``tuple(n_points)``.
        spacing: ``[n_dim]`` point spacing per axis, bohr.
        n_dim: Number of axes.

    Raises:
        ConfigError: if the lengths differ, a bound pair is not increasing, or an axis has
            fewer than 2 points.
    """

    def __init__(self, lower: Values, upper: Values, n_points: Sequence[int]) -> None:
        lower_arr = np.atleast_1d(np.asarray(lower, dtype=float))  # [n_dim]
        upper_arr = np.atleast_1d(np.asarray(upper, dtype=float))  # [n_dim]
        counts = [int(n) for n in np.atleast_1d(np.asarray(n_points))]
        if not (lower_arr.ndim == upper_arr.ndim == 1 and len(lower_arr) == len(upper_arr)
                == len(counts)):
            raise ConfigError(f"grid: lower {list(lower_arr)}, upper {list(upper_arr)} and "
                              f"n_points {counts} must have the same length")
        for axis, (low, high, count) in enumerate(zip(lower_arr, upper_arr, counts, strict=True)):
            if not np.isfinite(low) or not np.isfinite(high) or not high > low:
                raise ConfigError(f"grid axis {axis}: upper ({high}) must exceed lower ({low})")
            if count < 2:
                raise ConfigError(f"grid axis {axis}: needs at least 2 points, got {count}")
        self.lower = lower_arr
        self.upper = upper_arr
        self.n_dim = len(counts)
        self.shape: tuple[int, ...] = tuple(counts)
        self.spacing = (upper_arr - lower_arr) / np.asarray(counts, dtype=float)  # [n_dim]
        self.axes: list[np.ndarray] = [
            low + step * np.arange(count, dtype=float)  # [n_points[d]]
            for low, step, count in zip(lower_arr, self.spacing, counts, strict=True)]

    def __repr__(self) -> str:
        return (f"Grid(lower={self.lower.tolist()}, upper={self.upper.tolist()}, "
                f"n_points={list(self.shape)})")

    @property
    def size(self) -> int:
        """Total number of grid points, ``prod(shape)``."""
        return int(np.prod(self.shape))

    @property
    def cell_volume(self) -> float:
        """Volume of one grid cell, ``prod(spacing)`` (bohr^n_dim)."""
        return float(np.prod(self.spacing))

    def mesh(self) -> list[np.ndarray]:
        """Coordinates of every point: ``n_dim`` arrays, each ``[*shape]``, bohr (``ij``)."""
        return [np.array(values) for values in np.meshgrid(*self.axes, indexing="ij")]

    def points(self) -> np.ndarray:
        """All grid points as rows, ``[size, n_dim]`` bohr, in C (row-major) order."""
        return np.stack([values.reshape(-1) for values in self.mesh()], axis=-1)

    def momenta(self) -> list[np.ndarray]:
        """Angular wavenumbers per axis in FFT order: ``n_dim`` arrays ``[n_points[d]]``, 1/bohr."""
        return [2.0 * np.pi * np.fft.fftfreq(count, d=step)
                for count, step in zip(self.shape, self.spacing, strict=True)]

    def kinetic_energy(self, mass_au: float | Values) -> np.ndarray:
        """Kinetic energy ``sum_d k_d^2 / (2 m_d)`` on the momentum grid, ``[*shape]`` Hartree.

        Args:
            mass_au: One mass for all axes or one per axis, electron masses.
        """
        masses = self.masses(mass_au)
        total = np.zeros(self.shape)  # [*shape]
        for axis, (k_values, mass) in enumerate(zip(self.momenta(), masses, strict=True)):
            view = [1] * self.n_dim
            view[axis] = -1
            total = total + (k_values**2 / (2.0 * mass)).reshape(view)
        return total

    def masses(self, mass_au: float | Values) -> np.ndarray:
        """Broadcast a mass (or one per axis) to ``[n_dim]``; checks it is positive."""
        masses = np.broadcast_to(np.asarray(mass_au, dtype=float), (self.n_dim,)).copy()
        if masses.shape != (self.n_dim,) or not np.all(masses > 0):
            raise ConfigError(f"mass_au must be positive, one value or one per axis "
                              f"({self.n_dim}), got {mass_au}")
        return masses

    def integrate(self, density: np.ndarray) -> float | np.ndarray:
        """Sum over the last ``n_dim`` axes times the cell volume.

        Args:
            density: ``[..., *shape]`` values on the grid.

        Returns:
            A float for a ``[*shape]`` input, else an array of the leading shape ``[...]``.
        """
        density = np.asarray(density)
        if density.shape[density.ndim - self.n_dim:] != self.shape:
            raise ConfigError(f"integrate: trailing shape {density.shape} does not end with "
                              f"the grid shape {self.shape}")
        axes = tuple(range(density.ndim - self.n_dim, density.ndim))
        total = density.sum(axis=axes) * self.cell_volume
        return total.item() if np.ndim(total) == 0 else total

    def refined(self, factor: int = 2) -> Grid:
        """The same box with ``factor`` times as many points per axis (convergence checks)."""
        return Grid(self.lower, self.upper, [count * factor for count in self.shape])
