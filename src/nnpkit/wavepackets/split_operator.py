"""Split-operator FFT propagation of wavepackets on one or several coupled states.

Strang splitting ``exp(-iV dt/2) exp(-iT dt) exp(-iV dt/2)`` (atomic units, hbar = 1):
the kinetic factor is diagonal in momentum space (one forward and one inverse FFT over
the grid axes per step), the potential factor is diagonal in position space for one state
and, for ``n_states`` coupled diabatic states, an ``n x n`` unitary at every grid point,
computed once by diagonalising the potential matrix there (vectorised ``numpy.linalg.eigh``).
A complex absorbing potential ``W(x) >= 0`` enters the potential half steps as
``exp(-W dt/2)``. The scheme is second order in ``dt``, unitary without a CAP, and
time-reversible: a step with ``-dt`` undoes a step with ``dt`` to round-off.

Consecutive potential half steps are merged inside :meth:`SplitOperator.propagate`, so a
step costs two FFTs and two elementwise products. With ``imaginary_time=True`` the same
machinery applies ``exp(-H tau)`` (for ground and excited states by relaxation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import scipy.fft

from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid

__all__ = ["SplitOperator", "potential_exponential"]


def potential_exponential(potential: np.ndarray, factor: complex, n_dim: int) -> np.ndarray:
    """``exp(factor * V)`` at every grid point.

    Args:
        potential: ``[*shape]`` (one state) or ``[n, n, *shape]`` real symmetric, Hartree.
        factor: e.g. ``-1j * dt / 2`` (real time) or ``-tau / 2`` (imaginary time).
        n_dim: Number of grid axes (the trailing axes of ``potential``).

    Returns:
        Complex array of the same shape as ``potential``.
    """
    if potential.ndim == n_dim:
        return np.exp(factor * potential)
    n_states = potential.shape[0]
    matrices = np.moveaxis(potential, (0, 1), (-2, -1))  # [*shape, n, n]
    values, vectors = np.linalg.eigh(matrices)  # [*shape, n], [*shape, n, n]
    weighted = vectors * np.exp(factor * values)[..., None, :]  # [*shape, n, n]
    exponential = weighted @ np.swapaxes(vectors, -1, -2)  # [*shape, n, n]
    result = np.moveaxis(exponential, (-2, -1), (0, 1))  # [n, n, *shape]
    assert result.shape[:2] == (n_states, n_states)
    return np.ascontiguousarray(result)


class SplitOperator:
    """Second-order split-operator propagator on a :class:`Grid` (atomic units).

    Args:
        grid: The spatial grid (bohr).
        potential: ``[*grid.shape]`` for one state or ``[n_states, n_states, *grid.shape]``
            real symmetric diabatic matrix, Hartree.
        mass_au: Mass in electron masses, one value or one per grid axis.
        dt_au: Time step in atomic units of time (negative propagates backwards); with
            ``imaginary_time`` the imaginary-time step ``tau``.
        absorbing: Optional complex absorbing potential ``W >= 0``, ``[*grid.shape]``,
            Hartree, the same on every state.
        imaginary_time: Apply ``exp(-H tau)`` instead of ``exp(-i H dt)`` (no CAP allowed).

    Attributes:
        n_states: Number of coupled states (1 for a single surface).
        grid, dt_au, masses: As given (``masses`` is ``[n_dim]``).
    """

    def __init__(self, grid: Grid, potential: np.ndarray, mass_au: float | Sequence[float],
                 dt_au: float, absorbing: np.ndarray | None = None,
                 imaginary_time: bool = False) -> None:
        potential = np.asarray(potential, dtype=float)
        if potential.shape == grid.shape:
            self.n_states = 1
        elif (potential.ndim == grid.n_dim + 2 and potential.shape[2:] == grid.shape
              and potential.shape[0] == potential.shape[1]):
            self.n_states = potential.shape[0]
            if not np.allclose(potential, np.swapaxes(potential, 0, 1), rtol=0, atol=1e-12):
                raise ConfigError("potential matrix [n_states, n_states, *grid] is not symmetric")
        else:
            raise ConfigError(f"potential has shape {potential.shape}; expected {grid.shape} "
                              f"or [n_states, n_states, *{grid.shape}]")
        if not np.all(np.isfinite(potential)):
            raise ConfigError("potential contains NaN or infinite values")
        if not np.isfinite(dt_au) or dt_au == 0:
            raise ConfigError(f"dt_au must be finite and non-zero, got {dt_au}")
        self.grid = grid
        self.dt_au = float(dt_au)
        self.masses = grid.masses(mass_au)
        self.imaginary_time = bool(imaginary_time)
        self._potential = potential.copy()
        self._kinetic = grid.kinetic_energy(self.masses)  # [*shape] Hartree
        self._axes = tuple(range(1, grid.n_dim + 1))
        factor = -self.dt_au if self.imaginary_time else -1j * self.dt_au
        self._kinetic_factor = np.exp(factor * self._kinetic)  # [*shape]
        half = potential_exponential(potential, factor / 2, grid.n_dim)
        full = potential_exponential(potential, factor, grid.n_dim)
        if absorbing is not None:
            if self.imaginary_time:
                raise ConfigError("an absorbing potential makes no sense in imaginary time")
            absorbing = np.asarray(absorbing, dtype=float)
            if absorbing.shape != grid.shape or np.any(absorbing < 0):
                raise ConfigError(f"absorbing potential must be >= 0 with shape {grid.shape}, "
                                  f"got shape {absorbing.shape}")
            half = half * np.exp(-absorbing * abs(self.dt_au) / 2)
            full = full * np.exp(-absorbing * abs(self.dt_au))
        self._half = half
        self._full = full

    # ------------------------------------------------------------------ helpers
    def _check(self, psi: np.ndarray) -> tuple[np.ndarray, bool]:
        psi = np.asarray(psi)
        if psi.shape == (self.n_states, *self.grid.shape):
            return psi.astype(complex, copy=True), False
        if self.n_states == 1 and psi.shape == self.grid.shape:
            return psi.astype(complex)[None].copy(), True
        raise ConfigError(f"psi has shape {psi.shape}; expected "
                          f"{(self.n_states, *self.grid.shape)}")

    def _apply_potential(self, psi: np.ndarray, factor: np.ndarray) -> np.ndarray:
        if self.n_states == 1:
            psi *= factor
            return psi
        mixed = np.zeros_like(psi)  # [n_states, *shape]
        for i in range(self.n_states):
            for j in range(self.n_states):
                mixed[i] += factor[i, j] * psi[j]
        return mixed

    def _apply_kinetic(self, psi: np.ndarray) -> np.ndarray:
        psi = scipy.fft.fftn(psi, axes=self._axes, workers=1, overwrite_x=True)
        psi *= self._kinetic_factor
        return scipy.fft.ifftn(psi, axes=self._axes, workers=1, overwrite_x=True)

    def _run(self, psi: np.ndarray, n_steps: int) -> np.ndarray:
        """``n_steps`` merged steps on a private copy ``psi`` ``[n_states, *shape]``."""
        if n_steps <= 0:
            return psi
        psi = self._apply_potential(psi, self._half)
        for step in range(n_steps):
            psi = self._apply_kinetic(psi)
            psi = self._apply_potential(psi, self._full if step < n_steps - 1 else self._half)
        return psi

    # ------------------------------------------------------------------ public API
    def step(self, psi: np.ndarray) -> np.ndarray:
        """One step: ``psi`` ``[n_states, *grid.shape]`` complex -> a new array, same shape."""
        return self.propagate(psi, 1)

    def propagate(self, psi: np.ndarray, n_steps: int) -> np.ndarray:
        """``n_steps`` steps of ``psi`` ``[n_states, *grid.shape]``; returns a new array.

        A one-state ``psi`` of shape ``grid.shape`` is accepted and returned in that shape.
        The input is never modified.
        """
        if n_steps < 0:
            raise ConfigError(f"n_steps must be >= 0, got {n_steps}")
        work, squeeze = self._check(psi)
        out = self._run(work, int(n_steps))
        return out[0] if squeeze else out

    def iterate(self, psi: np.ndarray, n_steps: int, every: int = 1
                ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(step, psi)`` after every ``every`` steps up to ``n_steps`` (inclusive).

        The yielded array ``[n_states, *grid.shape]`` is owned by the iterator; copy it to
        keep it. Potential half steps are merged within each chunk of ``every`` steps.
        """
        if every < 1:
            raise ConfigError(f"every must be >= 1, got {every}")
        work, _ = self._check(psi)
        done = 0
        while done < n_steps:
            chunk = min(every, n_steps - done)
            work = self._run(work, chunk)
            done += chunk
            yield done, work

    def norm(self, psi: np.ndarray) -> float:
        """``<psi|psi>`` summed over states (dimensionless)."""
        work, _ = self._check(psi)
        return float(np.sum(self.grid.integrate(np.abs(work) ** 2)))

    def populations(self, psi: np.ndarray) -> np.ndarray:
        """Population of each diabatic state, ``[n_states]``."""
        work, _ = self._check(psi)
        return np.atleast_1d(self.grid.integrate(np.abs(work) ** 2))

    def energy(self, psi: np.ndarray) -> float:
        """``<psi|H|psi> / <psi|psi>`` in Hartree (the Hermitian H; the CAP is excluded)."""
        work, _ = self._check(psi)
        weight = float(np.sum(np.abs(work) ** 2))
        if weight == 0:
            raise ConfigError("energy of a zero wavefunction is undefined")
        momentum = scipy.fft.fftn(work, axes=self._axes, workers=1)
        kinetic = float(np.sum(self._kinetic * np.abs(momentum) ** 2)) / self.grid.size
        if self.n_states == 1:
            potential = float(np.sum(self._potential * np.abs(work[0]) ** 2))
        else:
            potential = float(np.real(np.sum(np.einsum(
                "i...,ij...,j...->...", work.conj(), self._potential, work))))
        return (kinetic + potential) / weight
