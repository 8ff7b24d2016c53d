"""Exact quantum scattering on a 1D diabatic model: branching ratios from a wavepacket.

A Gaussian packet ``exp(-(x-x0)²/(4σ²) + i k x)`` on the lower adiabatic state (σ = 20/k,
the packet that :mod:`~nnpkit.apps.nonadiabatic.scattering` samples FSSH from) is
propagated with the multi-state split-operator propagator of
:mod:`nnpkit.wavepackets.split_operator`. Absorbing masks ``exp(-W(x) dt)`` (quadratic
``W`` in the outer ``absorber_bohr`` of each side) remove the outgoing flux; every removed
density is projected onto the local adiabatic states and booked as transmitted (x > 0) or
reflected (x < 0) per state. The run stops when less than ``tolerance`` of the norm is
left; what remains is booked by its position. Atomic units throughout.

The grid is sized from the physics: the spacing resolves the largest momentum that the
packet can reach (initial spread plus the largest potential-energy drop), the box holds
the packet start plus both absorbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential, masses_of
from nnpkit.apps.nonadiabatic.scattering import EXIT_BOHR, packet_width, start_position
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid
from nnpkit.wavepackets.split_operator import SplitOperator

__all__ = ["WavepacketConfig", "ExactScattering", "scattering_grid", "exact_scattering",
           "absorb_until_gone"]


class WavepacketConfig(BaseModel):
    """Numerical settings of the exact scattering calculation (atomic units)."""

    model_config = ConfigDict(extra="forbid")

    points_per_wavelength: float = Field(
        8.0, gt=2, description="Grid points per shortest de Broglie wavelength.")
    dt_au: float | None = Field(
        None, gt=0, description="Time step, au (default: 0.1 / the largest energy scale).")
    absorber_bohr: float = Field(30.0, gt=0, description="Width of each absorbing region, bohr.")
    absorber_strength: float = Field(
        1.0, gt=0, description="Scale of the absorber strength (1: absorbs the fastest "
                               "reachable momentum to ~1e-6 over the region).")
    tolerance: float = Field(1e-5, gt=0, description="Stop when this much norm remains.")
    max_time_au: float | None = Field(
        None, gt=0, description="Time limit, au (default: 10 crossing times).")
    steps_per_check: int = Field(4, ge=1, description="Propagator steps between masks.")
    progress: bool = Field(False, description="Show a tqdm progress bar.")


@dataclass(frozen=True)
class ExactScattering:
    """Exact branching ratios of a scattering packet.

    Attributes:
        transmission: ``[n]`` probability to leave at x > 0 on adiabatic state i.
        reflection: ``[n]`` probability to leave at x < 0 on adiabatic state i.
        remaining_norm: norm left on the grid at the end (booked by position).
        energy_au: packet energy ``<H>`` at the start, Hartree.
        grid_points, dt_au, time_au: numerics used.
    """

    transmission: np.ndarray
    reflection: np.ndarray
    remaining_norm: float
    energy_au: float
    grid_points: int
    dt_au: float
    time_au: float

    def as_dict(self) -> dict:
        """JSON-ready: ``transmission_lower`` ... for two states, ``transmission_<i>`` else."""
        n = len(self.transmission)
        labels = ["lower", "upper"] if n == 2 else [str(i) for i in range(n)]
        out: dict = {}
        for side, values in (("transmission", self.transmission),
                             ("reflection", self.reflection)):
            out.update({f"{side}_{label}": float(value)
                        for label, value in zip(labels, values, strict=True)})
        out.update(remaining_norm=self.remaining_norm, energy_au=self.energy_au,
                   grid_points=self.grid_points, dt_au=self.dt_au, time_au=self.time_au)
        return out


def scattering_grid(potential: DiabaticPotential, momentum_au: float,
                    config: WavepacketConfig) -> tuple[Grid, float]:
    """Grid for the packet of momentum ``momentum_au`` and the largest momentum (1/bohr)."""
    mass = float(masses_of(potential)[0])
    x0, sigma = start_position(momentum_au), packet_width(momentum_au)
    inner = max(abs(x0) + 4.0 * sigma, EXIT_BOHR + 5.0)  # packet start and interaction
    half_width = inner + config.absorber_bohr
    probe = np.linspace(-half_width, half_width, 4001)[:, None]  # [P, 1]
    energies = np.linalg.eigvalsh(potential.evaluate(probe)[0])  # [P, n]
    start_energy = float(np.linalg.eigvalsh(potential.evaluate(np.array([[x0]]))[0])[0, 0])
    drop = max(0.0, start_energy - float(energies[:, 0].min()))
    p_max = np.sqrt((momentum_au + 6.0 * 0.5 / sigma) ** 2 + 2.0 * mass * drop)
    spacing = 2.0 * np.pi / (config.points_per_wavelength * p_max)
    n_points = scipy.fft.next_fast_len(int(np.ceil(2.0 * half_width / spacing)))
    return Grid([-half_width], [half_width], [n_points]), float(p_max)


def _absorber(x: np.ndarray, half_width: float, config: WavepacketConfig,
              speed: float) -> np.ndarray:
    """Quadratic absorbing potential ``[N]`` (Hartree) in the outer ``absorber_bohr``."""
    depth = np.clip((np.abs(x) - (half_width - config.absorber_bohr)) / config.absorber_bohr,
                    0.0, None)  # [N], 0..1
    # ∫ 2W/v dx over the region = 2 W0 L / (3 v) = ln(1e6) for the reference speed
    strength = config.absorber_strength * 3.0 * np.log(1e6) * speed / (
        2.0 * config.absorber_bohr)
    return strength * depth**2


def absorb_until_gone(propagator: SplitOperator, psi: np.ndarray, vectors: np.ndarray,
                      keep: np.ndarray, chunk: int, n_chunks: int, tolerance: float,
                      progress: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Propagate ``psi [n, N]`` in chunks of ``chunk`` steps, multiplying by the absorbing
    mask ``keep [N]`` after each, until less than ``tolerance`` of the norm is left.

    Every removed density is projected onto the local adiabatic states ``vectors [N, n, n]``
    (columns) and accumulated per grid point, so callers book it by region.

    Returns:
        ``(absorbed [n, N] probability per adiabatic state and point, psi, norm left,
        time au)``.
    """
    grid = propagator.grid
    removed = 1.0 - keep**2  # [N]
    absorbed = np.zeros((vectors.shape[-1], grid.shape[0]))
    norm, time = 1.0, 0.0
    for _ in tqdm(range(n_chunks), disable=not progress, desc="wavepacket"):
        psi = propagator.propagate(psi, chunk)
        time += chunk * propagator.dt_au
        adiabatic = np.einsum("xki,kx->ix", vectors, psi)  # [n, N]
        absorbed += np.abs(adiabatic) ** 2 * removed * grid.spacing[0]
        psi = psi * keep
        norm = float(np.sum(grid.integrate(np.abs(psi) ** 2)))
        if norm < tolerance:
            break
    return absorbed, psi, norm, time


def exact_scattering(potential: DiabaticPotential, momentum_au: float,
                     config: WavepacketConfig | None = None) -> ExactScattering:
    """Transmission and reflection per adiabatic state for a packet starting on state 0.

    Args:
        potential: a one-dimensional diabatic potential (atomic units).
        momentum_au: mean momentum k of the incoming packet, au.
        config: numerical settings.
    """
    config = config or WavepacketConfig()
    if potential.n_dim != 1 or not momentum_au > 0:
        raise ConfigError("exact scattering needs a 1D model and momentum_au > 0")
    mass = float(masses_of(potential)[0])
    grid, p_max = scattering_grid(potential, momentum_au, config)
    x = grid.axes[0]  # [N]
    matrix = potential.evaluate(x[:, None])[0]  # [N, n, n]
    _, vectors = np.linalg.eigh(matrix)  # [N, n, n] local adiabatic states
    energy_scale = float(np.abs(matrix).max()) + p_max**2 / (2.0 * mass)
    dt = config.dt_au or 0.1 / energy_scale
    x0, sigma = start_position(momentum_au), packet_width(momentum_au)
    start_vector = np.linalg.eigh(potential.evaluate(np.array([[x0]]))[0])[1][0, :, 0]  # [n]
    packet = np.exp(-((x - x0) ** 2) / (4.0 * sigma**2) + 1j * momentum_au * x)  # [N]
    psi = start_vector[:, None] * packet[None, :]  # [n, N]
    psi /= np.sqrt(np.sum(grid.integrate(np.abs(psi) ** 2)))
    propagator = SplitOperator(grid, np.moveaxis(matrix, 0, -1), mass, dt)
    # <T> of the Gaussian plus the (asymptotically flat) lower adiabat at the start
    energy = (momentum_au**2 + 0.25 / sigma**2) / (2.0 * mass) + float(
        np.linalg.eigvalsh(potential.evaluate(np.array([[x0]]))[0])[0, 0])
    # calibrated on the fastest momentum, so nothing wraps around the periodic box
    absorber = _absorber(x, float(grid.upper[0]), config, p_max / mass)  # [N]
    chunk = config.steps_per_check
    keep = np.exp(-absorber * dt * chunk)  # [N]
    right = x > 0.0
    crossing_time = 2.0 * float(grid.upper[0]) * mass / momentum_au
    max_time = config.max_time_au or 10.0 * crossing_time
    n_chunks = int(np.ceil(max_time / (dt * chunk)))
    absorbed, psi, norm, time = absorb_until_gone(propagator, psi, vectors, keep, chunk,
                                                  n_chunks, config.tolerance, config.progress)
    adiabatic = np.einsum("xki,kx->ix", vectors, psi)
    absorbed += np.abs(adiabatic) ** 2 * grid.spacing[0]  # what is left, by position
    transmission = absorbed[:, right].sum(axis=1)
    reflection = absorbed[:, ~right].sum(axis=1)
    return ExactScattering(transmission, reflection, norm, float(energy), grid.shape[0],
                           float(dt), time)
