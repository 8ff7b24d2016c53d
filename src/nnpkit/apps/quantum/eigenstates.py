"""Grid eigenstates: sinc-DVR / Fourier-grid diagonalisation and imaginary-time relaxation.

Two independent routes to the bound states of ``H = T + V`` on a :class:`Grid`
(atomic units), so each checks the other:

* :func:`grid_eigenstates` diagonalises the Hamiltonian in the sinc discrete variable
  representation (Colbert & Miller, J. Chem. Phys. 96, 1982 (1992)) or the periodic
  Fourier grid (Marston & Balint-Kurti, J. Chem. Phys. 91, 3571 (1989)). Both converge
  exponentially with the grid density. Small problems use a dense ``eigh``; large
  multi-dimensional ones a sparse sinc-DVR matrix with Lanczos iterations (``eigsh``).
* :func:`imaginary_time_eigenstates` relaxes a block of trial functions with the
  split-operator ``exp(-H tau)`` and a Rayleigh–Ritz step with the exact grid ``H``
  after every chunk, so the energies are variational and insensitive to ``tau``.

Several coupled states are supported: ``potential`` ``[n_states, n_states, *shape]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from tqdm.auto import tqdm

from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid
from nnpkit.wavepackets.split_operator import SplitOperator

__all__ = ["Eigenstates", "sinc_dvr_kinetic", "fourier_grid_kinetic", "grid_hamiltonian",
           "apply_hamiltonian", "grid_eigenstates", "imaginary_time_eigenstates"]

#: Largest Hamiltonian (grid points x states) diagonalised densely.
DENSE_LIMIT = 3000


@dataclass(frozen=True)
class Eigenstates:
    """Energies ``[n_levels]`` (Hartree) and wavefunctions ``[n_levels, n_states, *shape]``.

    Wavefunctions are real and normalised: ``grid.integrate(|psi|^2).sum() == 1``.
    """

    energies: np.ndarray
    wavefunctions: np.ndarray
    grid: Grid


def sinc_dvr_kinetic(n_points: int, spacing: float, mass_au: float) -> np.ndarray:
    """Colbert–Miller sinc-DVR kinetic matrix ``[n_points, n_points]``, Hartree."""
    index = np.arange(n_points)
    difference = index[:, None] - index[None, :]  # [n, n]
    with np.errstate(divide="ignore"):
        off_diagonal = 2.0 * (-1.0) ** difference / difference.astype(float) ** 2
    matrix = np.where(difference == 0, np.pi**2 / 3.0, off_diagonal)  # [n, n]
    return matrix / (2.0 * mass_au * spacing**2)


def fourier_grid_kinetic(n_points: int, spacing: float, mass_au: float) -> np.ndarray:
    """Periodic Fourier-grid kinetic matrix ``F^-1 diag(k^2/2m) F``, ``[n, n]`` Hartree."""
    k = 2.0 * np.pi * np.fft.fftfreq(n_points, d=spacing)  # [n]
    columns = scipy.fft.ifft((k**2 / (2.0 * mass_au))[:, None]
                             * scipy.fft.fft(np.eye(n_points), axis=0), axis=0)  # [n, n]
    matrix = columns.real
    return 0.5 * (matrix + matrix.T)


def _potential_states(grid: Grid, potential: np.ndarray) -> np.ndarray:
    potential = np.asarray(potential, dtype=float)
    if potential.shape == grid.shape:
        return potential[None, None]  # [1, 1, *shape]
    if potential.shape[2:] == grid.shape and potential.shape[0] == potential.shape[1]:
        return potential
    raise ConfigError(f"potential has shape {potential.shape}; expected {grid.shape} or "
                      f"[n_states, n_states, *{grid.shape}]")


def grid_hamiltonian(grid: Grid, potential: np.ndarray, mass_au: float | Sequence[float],
                     kinetic: str = "sinc_dvr", sparse: bool = False
                     ) -> np.ndarray | scipy.sparse.csr_matrix:
    """The grid Hamiltonian ``[n_states * size, n_states * size]`` (state-major order).

    Args:
        grid: The grid (bohr).
        potential: ``[*shape]`` or ``[n_states, n_states, *shape]`` Hartree.
        mass_au: One mass or one per axis (electron masses).
        kinetic: ``"sinc_dvr"`` or ``"fourier"`` (periodic).
        sparse: Return a CSR matrix (Kronecker sums of the 1D kinetic matrices).
    """
    blocks = _potential_states(grid, potential)
    n_states = blocks.shape[0]
    builder = {"sinc_dvr": sinc_dvr_kinetic, "fourier": fourier_grid_kinetic}.get(kinetic)
    if builder is None:
        raise ConfigError(f"kinetic must be 'sinc_dvr' or 'fourier', got {kinetic!r}")
    masses = grid.masses(mass_au)
    total = scipy.sparse.csr_matrix((grid.size, grid.size))
    for axis in range(grid.n_dim):
        factors = [scipy.sparse.identity(count, format="csr") for count in grid.shape]
        factors[axis] = scipy.sparse.csr_matrix(
            builder(grid.shape[axis], grid.spacing[axis], masses[axis]))
        term = factors[0]
        for factor in factors[1:]:
            term = scipy.sparse.kron(term, factor, format="csr")
        total = total + term
    hamiltonian = scipy.sparse.kron(scipy.sparse.identity(n_states), total, format="csr")
    coupling = scipy.sparse.bmat([[scipy.sparse.diags(blocks[i, j].reshape(-1))
                                   for j in range(n_states)] for i in range(n_states)])
    hamiltonian = (hamiltonian + coupling).tocsr()
    return hamiltonian if sparse else hamiltonian.toarray()


def apply_hamiltonian(grid: Grid, potential: np.ndarray, mass_au: float | Sequence[float],
                      psi: np.ndarray) -> np.ndarray:
    """``H psi`` with the spectral (FFT) kinetic energy, ``psi`` ``[..., n_states, *shape]``."""
    blocks = _potential_states(grid, potential)
    axes = tuple(range(psi.ndim - grid.n_dim, psi.ndim))
    kinetic = grid.kinetic_energy(mass_au)
    result = scipy.fft.ifftn(kinetic * scipy.fft.fftn(psi, axes=axes, workers=1), axes=axes,
                             workers=1)
    letters = "xyz"[: grid.n_dim]
    result = result + np.einsum(f"ij{letters},...j{letters}->...i{letters}", blocks, psi)
    return result.real if np.isrealobj(psi) else result


def _normalised(grid: Grid, vectors: np.ndarray, n_states: int) -> np.ndarray:
    """Columns ``[n_states*size, n]`` -> wavefunctions ``[n, n_states, *shape]``, normed."""
    waves = vectors.T.reshape(vectors.shape[1], n_states, *grid.shape)
    return waves / np.sqrt(grid.cell_volume)


def grid_eigenstates(grid: Grid, potential: np.ndarray, mass_au: float | Sequence[float],
                     n_levels: int, kinetic: str = "sinc_dvr") -> Eigenstates:
    """Lowest ``n_levels`` eigenstates by diagonalising the grid Hamiltonian.

    Dense ``eigh`` up to :data:`DENSE_LIMIT` basis functions, else a sparse sinc-DVR
    matrix and Lanczos iterations for the smallest eigenvalues.
    """
    blocks = _potential_states(grid, potential)
    n_states = blocks.shape[0]
    dimension = n_states * grid.size
    if not 1 <= n_levels <= dimension:
        raise ConfigError(f"n_levels must be in 1..{dimension}, got {n_levels}")
    if dimension <= DENSE_LIMIT:
        hamiltonian = grid_hamiltonian(grid, blocks, mass_au, kinetic)
        energies, vectors = scipy.linalg.eigh(hamiltonian, subset_by_index=[0, n_levels - 1])
    else:
        if kinetic != "sinc_dvr":
            raise ConfigError(f"grids beyond {DENSE_LIMIT} points need kinetic='sinc_dvr'")
        hamiltonian = grid_hamiltonian(grid, blocks, mass_au, kinetic, sparse=True)
        # Lanczos for the smallest algebraic eigenvalues: a sparse matrix-vector product per
        # iteration is far cheaper than the fill-in of a shift-invert factorisation.
        energies, vectors = scipy.sparse.linalg.eigsh(
            hamiltonian, k=n_levels, which="SA", ncv=min(dimension - 1, max(2 * n_levels + 1, 40)))
        order = np.argsort(energies)
        energies, vectors = energies[order], vectors[:, order]
    return Eigenstates(np.asarray(energies), _normalised(grid, vectors, n_states), grid)


def imaginary_time_eigenstates(grid: Grid, potential: np.ndarray,
                               mass_au: float | Sequence[float], n_levels: int,
                               tau_au: float, tolerance_au: float = 1e-10,
                               max_steps: int = 200_000, chunk: int = 20, seed: int = 0,
                               progress: bool = False) -> Eigenstates:
    """Lowest ``n_levels`` eigenstates by block imaginary-time relaxation.

    A block of ``n_levels + 2`` random trial functions is propagated by ``exp(-H tau)``
    (split operator) in chunks of ``chunk`` steps; after each chunk the block is
    orthonormalised and rotated to the Ritz vectors of the exact grid ``H`` (spectral
    kinetic energy). Stops when the ``n_levels`` Ritz energies change by less than
    ``tolerance_au`` (Hartree) between chunks.

    Raises:
        ConfigError: if not converged within ``max_steps``.
    """
    blocks = _potential_states(grid, potential)
    n_states = blocks.shape[0]
    squeezed = blocks[0, 0] if n_states == 1 else blocks
    propagator = SplitOperator(grid, squeezed, mass_au, tau_au, imaginary_time=True)
    n_block = n_levels + 2
    generator = np.random.default_rng(seed)
    block = generator.standard_normal((n_block, n_states, *grid.shape))  # [n_block, n_s, *shape]
    previous = np.full(n_levels, np.inf)
    energies = previous
    bar = tqdm(total=max_steps, desc="imaginary time", disable=not progress, leave=False)
    for _ in range(0, max_steps, chunk):
        block = np.stack([propagator.propagate(member, chunk).real for member in block])
        flat = block.reshape(n_block, -1)
        overlap = flat @ flat.T  # [n_block, n_block]
        applied = apply_hamiltonian(grid, blocks, mass_au, block).reshape(n_block, -1)
        projected = flat @ applied.T
        ritz, rotation = scipy.linalg.eigh(0.5 * (projected + projected.T), overlap)
        block = (rotation.T @ flat).reshape(block.shape)
        energies = ritz[:n_levels]
        bar.update(chunk)
        if np.max(np.abs(energies - previous)) < tolerance_au:
            bar.close()
            norms = np.atleast_1d(grid.integrate(np.sum(block[:n_levels] ** 2, axis=1)))
            waves = block[:n_levels] / np.sqrt(norms).reshape(-1, *[1] * (grid.n_dim + 1))
            return Eigenstates(energies, waves, grid)
        previous = energies
    bar.close()
    raise ConfigError(f"imaginary-time relaxation not converged to {tolerance_au} Eh in "
                      f"{max_steps} steps (last change {np.max(np.abs(energies - previous))})")
