"""Energy-resolved transmission probabilities by flux, from one wavepacket (1D).

A Gaussian wavepacket starts in the flat left asymptote on one adiabatic channel and is
propagated with :class:`~nnpkit.wavepackets.split_operator.SplitOperator` between two
Manolopoulos transmission-free absorbing potentials (J. Chem. Phys. 117, 9552 (2002)).
At a dividing point ``x_f`` past the interaction region the wavefunction and its
(spectral) derivative are Fourier transformed from time to energy on the fly,
``psi(x_f, E) = int_0^inf dt exp(iEt) psi(x_f, t)``, and the transmission into each open
adiabatic channel ``a`` follows from the energy-resolved flux
``j_a(E) = Im[psi_a^* dpsi_a/dx] / m`` as

    T_a(E) = j_a(E) k_in(E) / (2 pi m |phi(k_in)|^2),

where ``phi(k)`` is the momentum amplitude of the initial packet and
``k_in = sqrt(2 m (E - eps_in))`` (Tannor, *Introduction to Quantum Mechanics*, ch. 11).
One propagation gives ``T(E)`` over the whole energy width of the packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
from tqdm.auto import tqdm

from nnpkit.apps.quantum.potentials import evaluate_on_grid
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid
from nnpkit.wavepackets.split_operator import SplitOperator

__all__ = ["TransmissionResult", "manolopoulos_cap", "transmission_spectrum"]

_CAP_C, _CAP_A, _CAP_B = 2.62206, 0.112449, 0.00828735


@dataclass(frozen=True)
class TransmissionResult:
    """Transmission per energy: ``total`` ``[n_energies]``, ``by_channel`` ``[n_ch, n_E]``.

    ``energies`` in Hartree; ``absorbed_fraction`` is the norm that left the grid through
    the absorbers (1 when the propagation ran to completion).
    """

    energies: np.ndarray
    total: np.ndarray
    by_channel: np.ndarray
    grid: Grid
    n_steps: int
    absorbed_fraction: float


def manolopoulos_cap(x: np.ndarray, start: float, k_min: float, mass_au: float,
                     direction: int = 1) -> np.ndarray:
    """Transmission-free CAP ``W(x)`` (Hartree) beginning at ``start``, ``[len(x)]``.

    It is one de Broglie wavelength ``2 pi / k_min`` long and reflects less than ~1% of
    the flux at kinetic energies above ``k_min^2/2m`` (less at higher energies). It
    diverges at its far end; ``direction`` +1 absorbs towards larger x, -1 towards smaller.
    """
    delta = _CAP_C / (4.0 * np.pi)
    energy_min = k_min**2 / (2.0 * mass_au)
    depth = 2.0 * delta * k_min * direction * (np.asarray(x, dtype=float) - start)
    inside = (depth > 0) & (depth < _CAP_C)
    y = np.where(inside, depth, 1.0)
    values = energy_min * (_CAP_A * y - _CAP_B * y**3 + 4.0 / (_CAP_C - y) ** 2
                           - 4.0 / (_CAP_C + y) ** 2)
    return np.where(inside, values, np.where(depth >= _CAP_C, 1e6 * energy_min, 0.0))


def _channels(potential: Any, x: float) -> tuple[np.ndarray, np.ndarray]:
    """Adiabatic energies ``[n_ch]`` and vectors ``[n_states, n_ch]`` at ``x`` (bohr)."""
    if hasattr(potential, "matrix"):
        matrix = np.asarray(potential.matrix(np.array([[x]])))[0]
        return np.linalg.eigh(matrix)
    return np.array([float(potential(np.array([[x]]))[0])]), np.ones((1, 1))


def _energy_groups(k_in: np.ndarray, max_ratio: float) -> list[np.ndarray]:
    """Indices of ``k_in`` split into groups with ``max(k) / min(k) <= max_ratio``."""
    order = np.argsort(k_in)
    groups: list[list[int]] = [[int(order[0])]]
    for index in order[1:]:
        if k_in[index] > max_ratio * k_in[groups[-1][0]]:
            groups.append([])
        groups[-1].append(int(index))
    return [np.asarray(group) for group in groups]


def transmission_spectrum(potential: Any, mass_au: float, energies_au: np.ndarray,
                          initial_channel: int = 0,
                          interaction_region: tuple[float, float] | None = None,
                          points_per_wavelength: float = 12.0, dt_au: float | None = None,
                          max_time_au: float | None = None, tolerance: float = 1e-12,
                          progress: bool = False) -> TransmissionResult:
    """Transmission probabilities ``T(E)`` from the left for a 1D potential.

    Energies are covered by as few Gaussian packets as keep each packet's momentum
    spread below ``k_centre / 8`` (so no slow, hard-to-absorb components): one packet
    spans incoming momenta within a factor 2.2 (kinetic energies within ~4.8).

    Args:
        potential: A 1D potential (``potential(coords [..., 1]) -> [...]`` Hartree) or a
            multi-state one with ``matrix(coords) -> [..., n, n]``.
        mass_au: Mass in electron masses.
        energies_au: Total energies ``[n_E]``, Hartree, above the incoming asymptote.
        initial_channel: Adiabatic channel of the incoming packet (0 = lowest).
        interaction_region: ``(lower, upper)`` bohr outside which the potential is flat;
            default ``potential.default_bounds()``.
        points_per_wavelength: Grid density at the highest local momentum.
        dt_au: Time step; default a tenth of the period of the highest energy involved.
        max_time_au: Propagation limit per packet; default 20 passages of the slowest one.
        tolerance: Stop when the norm left between the absorbers falls below this.
        progress: Show a progress bar.

    Returns:
        A :class:`TransmissionResult` (``grid``, ``n_steps``, ``absorbed_fraction`` of the
        last packet; ``n_steps`` summed over packets).
    """
    energies = np.atleast_1d(np.asarray(energies_au, dtype=float))  # [n_E]
    lower, upper = (interaction_region if interaction_region is not None
                    else (potential.default_bounds()[0][0], potential.default_bounds()[1][0]))
    in_levels, _ = _channels(potential, lower)
    if not 0 <= initial_channel < len(in_levels):
        raise ConfigError(f"initial_channel {initial_channel} out of range 0..{len(in_levels)-1}")
    if np.any(energies <= in_levels[initial_channel]):
        raise ConfigError(f"energies must lie above the incoming asymptote "
                          f"{in_levels[initial_channel]:.6g} Eh")
    k_in = np.sqrt(2.0 * mass_au * (energies - in_levels[initial_channel]))
    by_channel = np.zeros((len(in_levels), len(energies)))  # [n_ch, n_E]
    n_steps = 0
    result = None
    for group in _energy_groups(k_in, 2.2):
        result = _one_packet(potential, mass_au, energies[group], initial_channel,
                             (lower, upper), points_per_wavelength, dt_au, max_time_au,
                             tolerance, progress)
        by_channel[:, group] = result.by_channel
        n_steps += result.n_steps
    assert result is not None
    return TransmissionResult(energies, by_channel.sum(axis=0), by_channel, result.grid,
                              n_steps, result.absorbed_fraction)


def _one_packet(potential: Any, mass_au: float, energies: np.ndarray, initial_channel: int,
                region: tuple[float, float], points_per_wavelength: float,
                dt_au: float | None, max_time_au: float | None, tolerance: float,
                progress: bool) -> TransmissionResult:
    """One Gaussian packet covering ``energies`` ``[n_E]`` (see transmission_spectrum)."""
    lower, upper = region
    in_levels, in_vectors = _channels(potential, lower)
    k_in = np.sqrt(2.0 * mass_au * (energies - in_levels[initial_channel]))  # [n_E]
    k_low, k_high = float(k_in.min()), float(k_in.max())
    k_centre = 0.5 * (k_low + k_high)
    sigma_k = min(max((k_high - k_low) / 6.0, 0.05 * k_centre), k_centre / 8.0)
    sigma_x = 1.0 / (2.0 * sigma_k)
    k_cap = 0.125 * k_low  # a CAP 8 wavelengths long: reflection ~1e-5 at k_low
    cap_length = 2.0 * np.pi / k_cap
    x_start = lower - 7.0 * sigma_x
    x_flux = upper + 1.0
    grid_lower, grid_upper = x_start - 7.0 * sigma_x - cap_length, x_flux + 2.0 + cap_length
    probe = np.linspace(lower, upper, 2001)[:, None]  # [2001, 1]
    lowest = (np.linalg.eigvalsh(np.asarray(potential.matrix(probe)))[:, 0].min()
              if hasattr(potential, "matrix") else float(np.min(potential(probe))))
    k_top = np.sqrt(2.0 * mass_au * (energies.max() - min(lowest, in_levels.min()))) + 4 * sigma_k
    n_points = scipy.fft.next_fast_len(int(np.ceil(
        (grid_upper - grid_lower) * k_top * points_per_wavelength / (2.0 * np.pi))))
    n_points += n_points % 2
    grid = Grid([grid_lower], [grid_upper], [n_points])
    x = grid.axes[0]
    values = evaluate_on_grid(potential, grid.mesh())
    cap = (manolopoulos_cap(x, x_start - 7.0 * sigma_x, k_cap, mass_au, direction=-1)
           + manolopoulos_cap(x, x_flux + 2.0, k_cap, mass_au, direction=1))
    e_top = k_top**2 / (2.0 * mass_au) + float(np.max(np.abs(values)))
    step = dt_au if dt_au is not None else 2.0 * np.pi / e_top / 40.0
    propagator = SplitOperator(grid, values, mass_au, step, absorbing=cap)

    packet = ((2.0 * np.pi * sigma_x**2) ** -0.25
              * np.exp(-((x - x_start) ** 2) / (4.0 * sigma_x**2) + 1j * k_centre * (x - x_start)))
    psi0 = in_vectors[:, initial_channel][:, None] * packet[None]  # [n_states, n_points]
    phi_in = grid.spacing[0] / np.sqrt(2.0 * np.pi) * (
        np.exp(-1j * np.outer(k_in, x)) @ packet)  # [n_E]
    flux_index = int(np.argmin(np.abs(x - x_flux)))
    k_grid = grid.momenta()[0]
    k_grid[n_points // 2] = 0.0  # the Nyquist mode has no derivative
    derivative_row = scipy.fft.fft(1j * k_grid * np.exp(1j * k_grid * (x[flux_index] - x[0]))
                                   / n_points)  # [n_points]
    out_levels, out_vectors = _channels(potential, float(x[flux_index]))

    slowest = k_low / mass_au
    limit = max_time_au if max_time_au is not None else 20.0 * (grid_upper - grid_lower) / slowest
    n_max = int(np.ceil(limit / step))
    rotation = np.exp(1j * energies * step)  # [n_E]
    phase = np.ones_like(rotation)
    value_e = 0.5 * step * psi0[:, flux_index][:, None] * phase  # [n_states, n_E]
    slope_e = 0.5 * step * (psi0 @ derivative_row)[:, None] * phase
    inside = cap == 0
    done = 0
    remaining = 1.0
    bar = tqdm(total=n_max, desc="wavepacket", disable=not progress, leave=False)
    for done, psi in propagator.iterate(psi0, n_max, every=1):
        phase = phase * rotation
        value_e = value_e + step * psi[:, flux_index][:, None] * phase
        slope_e = slope_e + step * (psi @ derivative_row)[:, None] * phase
        bar.update(1)
        if done % 200 == 0:
            remaining = float(np.sum(np.abs(psi[:, inside]) ** 2) * grid.spacing[0])
            if remaining < tolerance:
                break
    bar.close()
    value_a = out_vectors.T @ value_e  # [n_ch, n_E]
    slope_a = out_vectors.T @ slope_e
    flux = np.imag(np.conj(value_a) * slope_a) / mass_au  # [n_ch, n_E]
    by_channel = flux * k_in / (2.0 * np.pi * mass_au * np.abs(phi_in) ** 2)
    by_channel = np.where(energies[None, :] > out_levels[:, None], by_channel, 0.0)
    return TransmissionResult(energies, by_channel.sum(axis=0), by_channel, grid, done,
                              1.0 - remaining)
