"""A diatomic collision through an avoided crossing: exact wavepacket and surface hopping.

In a full collision (``direction="in"``) the fragments approach along the bond coordinate
``R`` on a chosen adiabatic state, pass the crossing region, bounce off the repulsive wall
and leave; in a half collision (``direction="out"``, as after a photo-excitation or from
the bottom of a well) the packet starts inside and crosses the coupling region once on its
way out. The branching ratio is the probability of leaving on each adiabatic state (e.g.
ions against neutral atoms for an ionic/covalent crossing). Both methods start from the
same Gaussian packet, centred at ``start_bohr`` with width ``sigma_bohr`` and mean momentum
``∓sqrt(2 μ E_kin)``:

* :func:`exact_collision` propagates it with the multi-state split-operator propagator on
  ``[r_min, r_max]``; a quadratic absorber in the outer ``absorber_bohr`` removes the
  outgoing flux, and every removed density is projected onto the local adiabatic states
  and booked to that exit channel. In a full collision the wall at ``r_min`` must lie above
  the packet's energy on every state (checked), so nothing reaches the periodic image; in
  a half collision a second absorber in the inner ``absorber_bohr`` removes anything that
  turns back, reported as ``returned``.
* :func:`fssh_collision` runs surface hopping on trajectories sampled from the packet's
  Wigner distribution; a trajectory is finished once it is outside ``exit_bohr`` moving
  out, and its active state is its channel (binomial standard errors).

Atomic units throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft
from pydantic import BaseModel, ConfigDict, Field

from nnpkit.apps.nonadiabatic.adiabatic import align_phases
from nnpkit.apps.nonadiabatic.dynamics import FSSHResult, run_fssh
from nnpkit.apps.nonadiabatic.exact import absorb_until_gone
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential, masses_of
from nnpkit.errors import ConfigError
from nnpkit.wavepackets.grid import Grid
from nnpkit.wavepackets.split_operator import SplitOperator

__all__ = ["CollisionConfig", "CollisionResult", "exact_collision", "fssh_collision"]


class CollisionConfig(BaseModel):
    """Where the packet starts and the numerics of both methods (bohr, au)."""

    model_config = ConfigDict(extra="forbid")

    r_min_bohr: float = Field(gt=0, description="Inner end of the grid (behind the wall).")
    r_max_bohr: float = Field(gt=0, description="Outer end of the grid (end of the absorber).")
    start_bohr: float = Field(gt=0, description="Centre of the initial packet.")
    direction: Literal["in", "out"] = Field(
        "in", description="Full collision (moving in, off the wall) or half (moving out).")
    sigma_bohr: float = Field(0.3, gt=0, description="Position width of the packet.")
    absorber_bohr: float = Field(2.0, gt=0, description="Width of the outer absorber.")
    points_per_wavelength: float = Field(10.0, gt=2, description="Grid resolution.")
    dt_au: float | None = Field(None, gt=0, description="Wavepacket step (default: automatic).")
    tolerance: float = Field(1e-4, gt=0, description="Stop when this much norm remains.")
    max_time_au: float = Field(2.0e5, gt=0, description="Time limit of both methods.")
    progress: bool = Field(False, description="Show a tqdm progress bar.")


@dataclass(frozen=True)
class CollisionResult:
    """Exit probabilities per adiabatic state.

    Attributes:
        exit: ``[n]`` probability of leaving on adiabatic state i.
        stderr: ``[n]`` standard errors (0 for the exact method).
        unfinished: fraction still inside at the time limit (remaining norm, or
            trajectories), not included in ``exit``.
        method: ``"exact"`` or ``"fssh"``.
        details: numerics (grid points, steps, energy drift, hops).
    """

    exit: np.ndarray
    stderr: np.ndarray
    unfinished: float
    method: str
    details: dict

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {"method": self.method, "exit": self.exit.tolist(),
                "stderr": self.stderr.tolist(), "unfinished": self.unfinished, **self.details}


def _check_geometry(config: CollisionConfig) -> None:
    inner, outer = config.r_min_bohr, config.r_max_bohr - config.absorber_bohr
    if config.direction == "out":
        inner += config.absorber_bohr
    if not inner + 3 * config.sigma_bohr < config.start_bohr < outer - 3 * config.sigma_bohr:
        raise ConfigError(f"the packet at {config.start_bohr} ± 3×{config.sigma_bohr} bohr must "
                          f"lie between r_min = {inner} and the absorber at {outer} bohr")


def _start_momentum(potential: DiabaticPotential, config: CollisionConfig,
                    kinetic_energy_au: float) -> tuple[float, float]:
    """``(k, mass)``: inward momentum magnitude (au) of the packet, and the reduced mass."""
    if not kinetic_energy_au > 0:
        raise ConfigError(f"kinetic_energy_au must be positive, got {kinetic_energy_au}")
    if potential.n_dim != 1:
        raise ConfigError(f"a diatomic collision needs a one-coordinate model, got "
                          f"n_dim = {potential.n_dim}")
    mass = float(masses_of(potential)[0])
    return float(np.sqrt(2.0 * mass * kinetic_energy_au)), mass


def exact_collision(potential: DiabaticPotential, kinetic_energy_au: float, initial_state: int,
                    config: CollisionConfig) -> CollisionResult:
    """Exit probabilities from the exact wavepacket (see the module docstring).

    Args:
        potential: one-coordinate diabatic potential (R in bohr, Hartree).
        kinetic_energy_au: mean kinetic energy of the packet at ``start_bohr``, Hartree.
        initial_state: adiabatic state the packet starts on.
        config: grid, packet and time settings.
    """
    _check_geometry(config)
    k, mass = _start_momentum(potential, config, kinetic_energy_au)
    r_probe = np.linspace(config.r_min_bohr, config.r_max_bohr, 4001)[:, None]
    energies = np.linalg.eigvalsh(potential.evaluate(r_probe)[0])  # [P, n]
    start_index = int(np.argmin(np.abs(r_probe[:, 0] - config.start_bohr)))
    total = float(energies[start_index, initial_state]) + kinetic_energy_au
    if config.direction == "in" and float(energies[0].min()) < total + 0.01:
        raise ConfigError(f"the wall at r_min = {config.r_min_bohr} bohr "
                          f"({energies[0].min():.4f} Eh) is below the packet's energy "
                          f"{total:.4f} Eh (+0.01); lower r_min")
    p_max = np.sqrt(2.0 * mass * (total - float(energies[:, 0].min()))) + 6.0 / config.sigma_bohr
    spacing = 2.0 * np.pi / (config.points_per_wavelength * p_max)
    length = config.r_max_bohr - config.r_min_bohr
    n_points = scipy.fft.next_fast_len(int(np.ceil(length / spacing)))
    grid = Grid([config.r_min_bohr], [config.r_max_bohr], [n_points])
    r = grid.axes[0]  # [N]
    matrix = potential.evaluate(r[:, None])[0]  # [N, n, n]
    _, vectors = np.linalg.eigh(matrix)
    for i in range(1, len(r)):  # continuous adiabatic states along R
        vectors[i] = align_phases(vectors[i], vectors[i - 1])
    # the packet only explores energies up to its largest kinetic energy: walls far above
    # it carry no density, so they need not set the step
    dt = config.dt_au or 0.2 / (p_max**2 / (2.0 * mass))
    sign = -1.0 if config.direction == "in" else 1.0
    packet = np.exp(-((r - config.start_bohr) ** 2) / (4.0 * config.sigma_bohr**2)
                    + 1j * sign * k * r)
    psi = vectors[:, :, initial_state].T * packet[None, :]  # [n, N]
    psi = psi / np.sqrt(np.sum(grid.integrate(np.abs(psi) ** 2)))
    # a constant shift keeps the phases small; it changes nothing physical
    shifted = matrix - total * np.eye(matrix.shape[-1])
    propagator = SplitOperator(grid, np.moveaxis(shifted, 0, -1), mass, dt)
    depth = np.clip((r - (config.r_max_bohr - config.absorber_bohr)) / config.absorber_bohr,
                    0.0, None)
    inner = r < config.r_min_bohr + config.absorber_bohr  # [N]
    if config.direction == "out":  # the inner absorber
        depth = depth + np.clip((config.r_min_bohr + config.absorber_bohr - r)
                                / config.absorber_bohr, 0.0, None)
    speed = p_max / mass
    absorber = 3.0 * np.log(1e6) * speed / (2.0 * config.absorber_bohr) * depth**2  # [N]
    chunk = 4
    keep = np.exp(-absorber * dt * chunk)
    n_chunks = int(np.ceil(config.max_time_au / (dt * chunk)))
    absorbed, psi, norm, time = absorb_until_gone(propagator, psi, vectors, keep, chunk,
                                                  n_chunks, config.tolerance, config.progress)
    booked = absorbed[:, ~inner].sum(axis=1)
    returned = float(absorbed[:, inner].sum())
    return CollisionResult(booked, np.zeros_like(booked), norm, "exact",
                           {"grid_points": int(n_points), "dt_au": float(dt),
                            "time_au": float(time), "energy_au": total,
                            "returned": returned})


def fssh_collision(potential: DiabaticPotential, kinetic_energy_au: float, initial_state: int,
                   n_trajectories: int, config: CollisionConfig,
                   fssh: FSSHConfig | None = None, exit_bohr: float | None = None
                   ) -> tuple[CollisionResult, FSSHResult]:
    """Exit probabilities by surface hopping from the packet's Wigner distribution.

    Args:
        potential, kinetic_energy_au, initial_state, config: as :func:`exact_collision`.
        n_trajectories: ensemble size.
        fssh: surface-hopping settings (time step, decoherence, seed).
        exit_bohr: a trajectory beyond this moving out is finished (default: the packet
            start plus three widths in a full collision, the outer absorber in a half one).

    Returns:
        ``(CollisionResult, FSSHResult)``.
    """
    _check_geometry(config)
    k, mass = _start_momentum(potential, config, kinetic_energy_au)
    fssh = fssh or FSSHConfig(progress=False)
    rng = np.random.default_rng(fssh.seed + 7919)
    positions = rng.normal(config.start_bohr, config.sigma_bohr, (n_trajectories, 1))
    sign = -1.0 if config.direction == "in" else 1.0
    momenta = rng.normal(sign * k, 0.5 / config.sigma_bohr, (n_trajectories, 1))
    limit = exit_bohr or (config.start_bohr + 3.0 * config.sigma_bohr if config.direction == "in"
                          else config.r_max_bohr - config.absorber_bohr)

    inner = config.r_min_bohr + config.absorber_bohr

    def exited(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return (x[:, 0] > limit) & (p[:, 0] > 0)

    def finished(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        if config.direction == "in":
            return exited(x, p)
        return exited(x, p) | (x[:, 0] < inner)  # turned back: the inner absorber

    dynamics = run_fssh(potential, positions, momenta, fssh, config.max_time_au,
                        initial_state=initial_state, finished=finished)
    final = dynamics.final
    done = exited(final.positions, final.momenta)
    counts = np.bincount(final.active[done], minlength=potential.n_states) / n_trajectories
    stderr = np.sqrt(counts * (1.0 - counts) / n_trajectories)
    returned = float(np.mean(final.positions[:, 0] < inner)) if config.direction == "out" else 0.0
    details = {"n_trajectories": n_trajectories, "dt_au": fssh.dt_au, "returned": returned,
               "hops_per_trajectory": float(np.mean(final.hops)),
               "max_energy_drift_au": dynamics.max_energy_drift_au}
    return (CollisionResult(counts, stderr, float(1.0 - done.mean()) - returned, "fssh",
                            details),
            dynamics)
