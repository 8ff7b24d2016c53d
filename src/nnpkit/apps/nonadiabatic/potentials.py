"""The diabatic-potential interface that surface hopping and the exact reference consume.

Anything with ``n_states``, ``n_dim``, ``masses_au()`` and ``evaluate(q) -> (H, dH)`` in
atomic units is a :class:`DiabaticPotential`: the analytic models of
:mod:`nnpkit.wavepackets.tully`, the learned :class:`~nnpkit.apps.nonadiabatic.networks.
DiabaticMLP` (through :class:`~nnpkit.apps.nonadiabatic.networks.NetworkPotential`) and
the atomistic :class:`~nnpkit.apps.nonadiabatic.molecular.MolecularDiabaticPotential`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from nnpkit.errors import ConfigError
from nnpkit.wavepackets.tully import MODEL_NAMES, DiabaticModel, model_by_name

__all__ = ["DiabaticPotential", "masses_of", "resolve_potential", "check_potential"]


@runtime_checkable
class DiabaticPotential(Protocol):
    """A diabatic Hamiltonian ``H_d(q)`` on ``n_dim`` coordinates, atomic units."""

    n_states: int
    n_dim: int

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``q [..., n_dim]`` bohr -> ``(H [..., n, n] Eh, dH [..., n_dim, n, n] Eh/bohr)``."""
        ...


def masses_of(potential: DiabaticPotential) -> np.ndarray:
    """Mass of every coordinate ``[n_dim]`` in electron masses.

    Uses ``potential.masses_au()`` when present, else the scalar ``potential.mass_au``.
    """
    if hasattr(potential, "masses_au"):
        masses = np.asarray(potential.masses_au(), dtype=np.float64)
    elif hasattr(potential, "mass_au"):
        masses = np.full(potential.n_dim, float(potential.mass_au))  # [n_dim]
    else:
        raise ConfigError(f"{type(potential).__name__} declares no mass (mass_au or masses_au)")
    masses = np.broadcast_to(masses, (potential.n_dim,)).copy()
    if not np.all(masses > 0):
        raise ConfigError(f"masses must be positive, got {masses}")
    return masses


def check_potential(potential: DiabaticPotential, q: np.ndarray) -> None:
    """Raise :class:`ConfigError` unless ``evaluate`` returns finite, symmetric, well-shaped H.

    Args:
        potential: the potential to check.
        q: ``[n_samples, n_dim]`` probe positions, bohr.
    """
    matrix, gradient = potential.evaluate(q)
    n, d = potential.n_states, potential.n_dim
    if matrix.shape != (q.shape[0], n, n) or gradient.shape != (q.shape[0], d, n, n):
        raise ConfigError(f"{type(potential).__name__}.evaluate returned shapes {matrix.shape}"
                          f" and {gradient.shape}; expected {(q.shape[0], n, n)} and "
                          f"{(q.shape[0], d, n, n)}")
    if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(gradient))):
        raise ConfigError(f"{type(potential).__name__} returned NaN or infinite values")
    if not np.allclose(matrix, np.swapaxes(matrix, -1, -2), atol=1e-10):
        raise ConfigError(f"{type(potential).__name__} returned a non-symmetric matrix")


def resolve_potential(model: str | Path) -> DiabaticPotential:
    """An analytic model by name (``tully1``..``tully3``, ``lvc2d``) or a saved network file.

    Raises:
        ConfigError / ModelFileError: unknown name, missing or invalid file (named).
    """
    name = str(model)
    if name in MODEL_NAMES:
        analytic: DiabaticModel = model_by_name(name)
        return analytic
    path = Path(name)
    if not path.exists():
        raise ConfigError(f"model {name!r} is neither one of {', '.join(MODEL_NAMES)} nor an "
                          f"existing diabatic model file")
    from nnpkit.apps.nonadiabatic.model_file import load_diabatic_model

    return load_diabatic_model(path)
