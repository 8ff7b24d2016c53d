"""One-dimensional scattering with surface hopping: Tully's experiment, batched.

An ensemble starts on the lower adiabatic state far to the left, sampled from the Wigner
distribution of the Gaussian wavepacket that the exact reference
(:mod:`nnpkit.apps.nonadiabatic.exact`) propagates, ``σ_x = 20/k`` by default (Tully's
choice), or with the fixed position and momentum of Tully's original runs. A trajectory
is finished once it leaves ``|x| > exit_bohr`` moving outward; the branching ratios are
the fractions transmitted (x > 0) and reflected (x < 0) on each adiabatic state, with
binomial standard errors ``sqrt(P(1-P)/N)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from nnpkit.apps.nonadiabatic.dynamics import FSSHResult, run_fssh
from nnpkit.apps.nonadiabatic.fssh import FSSHConfig
from nnpkit.apps.nonadiabatic.potentials import DiabaticPotential, masses_of
from nnpkit.errors import ConfigError

__all__ = ["ScatteringResult", "packet_width", "start_position", "initial_ensemble",
           "auto_time_step", "fssh_scattering", "branching_ratios"]

#: |x| (bohr) beyond which a trajectory moving outward has left the interaction region.
EXIT_BOHR = 10.0


def packet_width(momentum_au: float) -> float:
    """Position width σ_x (bohr) of the incoming Gaussian packet: Tully's 20/k."""
    return 20.0 / momentum_au


def start_position(momentum_au: float) -> float:
    """Centre of the incoming packet, bohr: far enough left that it starts outside."""
    return -max(15.0, EXIT_BOHR + 3.5 * packet_width(momentum_au))


def auto_time_step(momentum_au: float, mass_au: float) -> float:
    """A time step (au) moving the packet ~0.02 bohr per step, within [0.25, 8] au."""
    return float(np.clip(0.02 * mass_au / momentum_au, 0.25, 8.0))


def initial_ensemble(momentum_au: float, n_trajectories: int, rng: np.random.Generator,
                     sampling: Literal["wigner", "fixed"] = "wigner"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Initial positions and momenta, each ``[N, 1]`` (bohr, au)."""
    x0, sigma = start_position(momentum_au), packet_width(momentum_au)
    if sampling == "fixed":
        return (np.full((n_trajectories, 1), x0),  # [N, 1]
                np.full((n_trajectories, 1), momentum_au))  # [N, 1]
    positions = rng.normal(x0, sigma, (n_trajectories, 1))  # [N, 1]
    momenta = rng.normal(momentum_au, 0.5 / sigma, (n_trajectories, 1))  # [N, 1]
    return positions, momenta


@dataclass(frozen=True)
class ScatteringResult:
    """Branching ratios of a scattering ensemble.

    Attributes:
        transmission: ``[n]`` probability to leave at x > 0 on adiabatic state i.
        reflection: ``[n]`` probability to leave at x < 0 on state i.
        transmission_stderr, reflection_stderr: ``[n]`` binomial standard errors.
        n_trajectories: ensemble size.
        momentum_au: mean initial momentum, au.
        dynamics: the full :class:`FSSHResult` (populations against time).
    """

    transmission: np.ndarray
    reflection: np.ndarray
    transmission_stderr: np.ndarray
    reflection_stderr: np.ndarray
    n_trajectories: int
    momentum_au: float
    dynamics: FSSHResult

    def as_dict(self) -> dict:
        """JSON-ready summary; two-state names ``transmission_lower`` etc. where n = 2."""
        n = len(self.transmission)
        labels = ["lower", "upper"] if n == 2 else [str(i) for i in range(n)]
        out: dict = {"momentum_au": self.momentum_au, "n_trajectories": self.n_trajectories}
        stderr: dict = {}
        for side, values, errors in (("transmission", self.transmission,
                                      self.transmission_stderr),
                                     ("reflection", self.reflection, self.reflection_stderr)):
            for label, value, error in zip(labels, values, errors, strict=True):
                out[f"{side}_{label}"] = float(value)
                stderr[f"{side}_{label}"] = float(error)
        out["stderr"] = stderr
        out["hops_per_trajectory"] = float(np.mean(self.dynamics.final.hops))
        out["frustrated_per_trajectory"] = float(np.mean(self.dynamics.final.frustrated_hops))
        out["max_energy_drift_au"] = self.dynamics.max_energy_drift_au
        return out


def branching_ratios(positions: np.ndarray, active: np.ndarray, n_states: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transmission/reflection per state and their standard errors from final states.

    Args:
        positions: ``[N, 1]`` final positions, bohr.
        active: ``[N]`` final active states.

    Returns:
        ``(transmission [n], reflection [n], transmission_stderr [n], reflection_stderr [n])``.
    """
    n = len(active)
    right = positions[:, 0] > 0.0
    transmission = np.bincount(active[right], minlength=n_states) / n  # [n]
    reflection = np.bincount(active[~right], minlength=n_states) / n  # [n]
    def error(p: np.ndarray) -> np.ndarray:
        return np.sqrt(p * (1.0 - p) / n)
    return transmission, reflection, error(transmission), error(reflection)


def fssh_scattering(potential: DiabaticPotential, momentum_au: float, n_trajectories: int,
                    config: FSSHConfig | None = None, dt_au: float | None = None,
                    sampling: Literal["wigner", "fixed"] = "wigner",
                    max_time_au: float | None = None) -> ScatteringResult:
    """Tully scattering by FSSH: start on the lower state at the left, moving right.

    Args:
        potential: a one-dimensional diabatic potential (atomic units).
        momentum_au: mean initial momentum k, au (positive).
        n_trajectories: ensemble size.
        config: FSSH settings; ``config.dt_au`` is replaced by ``dt_au`` or the automatic
            step unless ``dt_au`` is given.
        dt_au: time step, au (default :func:`auto_time_step`).
        sampling: ``wigner`` (the exact reference's packet) or ``fixed`` (x0, k exactly).
        max_time_au: time limit (default: generous, 6 crossing times of the box).
    """
    if potential.n_dim != 1:
        raise ConfigError(f"scattering needs a one-dimensional model, got n_dim="
                          f"{potential.n_dim}")
    if not momentum_au > 0 or n_trajectories < 1:
        raise ConfigError(f"need momentum_au > 0 and n_trajectories >= 1, got {momentum_au} "
                          f"and {n_trajectories}")
    config = config or FSSHConfig()
    mass = float(masses_of(potential)[0])
    config = config.model_copy(update={"dt_au": dt_au or auto_time_step(momentum_au, mass)})
    rng = np.random.default_rng(config.seed + 7919)  # sampling stream != hopping stream
    positions, momenta = initial_ensemble(momentum_au, n_trajectories, rng, sampling)
    crossing_time = (abs(start_position(momentum_au)) + EXIT_BOHR) * mass / momentum_au
    limit = max_time_au or 6.0 * crossing_time

    def finished(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return ((x[:, 0] > EXIT_BOHR) & (p[:, 0] > 0)) | ((x[:, 0] < -EXIT_BOHR) & (p[:, 0] < 0))

    dynamics = run_fssh(potential, positions, momenta, config, limit, initial_state=0,
                        finished=finished)
    ratios = branching_ratios(dynamics.final.positions, dynamics.final.active,
                              potential.n_states)
    return ScatteringResult(*ratios, n_trajectories=n_trajectories,
                            momentum_au=float(momentum_au), dynamics=dynamics)
