"""Built-in analytic potentials in atomic units, with their analytic reference answers.

Every potential is a frozen dataclass with ``n_dim``, ``__call__(coordinates)`` and
``gradient(coordinates)`` for coordinates ``[..., n_dim]`` in bohr (energies in Hartree),
and ``default_bounds()`` giving a box that holds the interesting region. Where quantum
mechanics has a closed form it is a method: :meth:`Morse.levels` and
:meth:`Eckart.transmission`. Tully's scattering models come from
:mod:`nnpkit.wavepackets.tully` as multi-state :class:`TullyPotential` wrappers.

The Müller–Brown surface is in its own (dimensionless) units, scaled by ``scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from ase import units

from nnpkit.errors import ConfigError

__all__ = ["Potential", "Morse", "Eckart", "DoubleWell", "Harmonic", "MullerBrown",
           "TullyPotential", "BUILTIN_POTENTIALS", "builtin_potential", "evaluate_on_grid"]


class Potential(Protocol):
    """A single-surface potential: Hartree from bohr, coordinates ``[..., n_dim]``."""

    n_dim: int

    def __call__(self, coordinates: np.ndarray) -> np.ndarray: ...

    def default_bounds(self) -> tuple[list[float], list[float]]: ...


def _coordinates(coordinates: np.ndarray, n_dim: int, name: str) -> np.ndarray:
    values = np.asarray(coordinates, dtype=float)
    if values.ndim == 0 or values.shape[-1] != n_dim:
        raise ConfigError(f"{name} needs coordinates of shape [..., {n_dim}], "
                          f"got {values.shape}")
    return values


@dataclass(frozen=True)
class Morse:
    """``V(r) = D (1 - exp(-a (r - r0)))^2``; defaults: the O-H bond (D 0.1994 Eh)."""

    depth: float = 0.1994
    width: float = 1.189
    r0: float = 1.821
    n_dim: int = field(default=1, init=False)

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        r = _coordinates(coordinates, 1, "morse")[..., 0]
        return self.depth * (1.0 - np.exp(-self.width * (r - self.r0))) ** 2

    def gradient(self, coordinates: np.ndarray) -> np.ndarray:
        r = _coordinates(coordinates, 1, "morse")[..., 0]
        decay = np.exp(-self.width * (r - self.r0))
        return (2.0 * self.depth * self.width * (1.0 - decay) * decay)[..., None]

    def default_bounds(self) -> tuple[list[float], list[float]]:
        return [self.r0 - 0.9 / self.width], [self.r0 + 2.5 / self.width]

    def levels(self, mass_au: float, n_levels: int) -> np.ndarray:
        """Analytic levels ``w(v+1/2) - [w(v+1/2)]^2/(4D)``, ``[n_levels]`` Hartree.

        Raises:
            ConfigError: if the well holds fewer than ``n_levels`` bound states.
        """
        omega = self.width * np.sqrt(2.0 * self.depth / mass_au)
        n_bound = int(np.floor(np.sqrt(2.0 * mass_au * self.depth) / self.width - 0.5)) + 1
        if n_levels > n_bound:
            raise ConfigError(f"this Morse well holds only {n_bound} bound levels, "
                              f"asked for {n_levels}")
        quanta = omega * (np.arange(n_levels) + 0.5)  # [n_levels]
        return quanta - quanta**2 / (4.0 * self.depth)


@dataclass(frozen=True)
class Eckart:
    """Symmetric Eckart barrier ``V(x) = height / cosh^2(x / width)``."""

    height: float = 0.016
    width: float = 1.0
    n_dim: int = field(default=1, init=False)

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        x = _coordinates(coordinates, 1, "eckart")[..., 0]
        return self.height / np.cosh(x / self.width) ** 2

    def gradient(self, coordinates: np.ndarray) -> np.ndarray:
        x = _coordinates(coordinates, 1, "eckart")[..., 0] / self.width
        return (-2.0 * self.height * np.tanh(x) / np.cosh(x) ** 2 / self.width)[..., None]

    def default_bounds(self) -> tuple[list[float], list[float]]:
        return [-12.0 * self.width], [12.0 * self.width]

    def transmission(self, mass_au: float, energies: np.ndarray) -> np.ndarray:
        """Exact transmission probability (Landau & Lifshitz §25), ``[n_energies]``.

        ``T = sinh^2(pi k a) / (sinh^2(pi k a) + cosh^2(pi/2 sqrt(8 m V0 a^2 - 1)))``
        with ``k = sqrt(2 m E)`` (``cos`` instead of ``cosh`` when ``8 m V0 a^2 < 1``),
        evaluated in a form that does not overflow.
        """
        energies = np.asarray(energies, dtype=float)
        if np.any(energies <= 0):
            raise ConfigError("Eckart transmission needs energies > 0 (above the asymptote)")
        kappa = np.pi * np.sqrt(2.0 * mass_au * energies) * self.width  # [n_energies]
        strength = 8.0 * mass_au * self.height * self.width**2 - 1.0
        if strength >= 0:
            beta = 0.5 * np.pi * np.sqrt(strength)
            # cosh^2(beta) / sinh^2(kappa) = exp(2(beta-kappa)) ((1+e^-2b)/(1-e^-2k))^2
            ratio = np.exp(2.0 * (beta - kappa)) * (
                (1.0 + np.exp(-2.0 * beta)) / -np.expm1(-2.0 * kappa)) ** 2
        else:
            ratio = np.cos(0.5 * np.pi * np.sqrt(-strength)) ** 2 / np.sinh(kappa) ** 2
        return 1.0 / (1.0 + ratio)


@dataclass(frozen=True)
class DoubleWell:
    """Symmetric double well ``V(x) = barrier ((x/x0)^2 - 1)^2``, minima at ``+-x0``."""

    barrier: float = 0.0064
    x0: float = 1.0
    n_dim: int = field(default=1, init=False)

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        x = _coordinates(coordinates, 1, "double_well")[..., 0]
        return self.barrier * ((x / self.x0) ** 2 - 1.0) ** 2

    def gradient(self, coordinates: np.ndarray) -> np.ndarray:
        x = _coordinates(coordinates, 1, "double_well")[..., 0]
        return (4.0 * self.barrier * ((x / self.x0) ** 2 - 1.0) * x / self.x0**2)[..., None]

    def default_bounds(self) -> tuple[list[float], list[float]]:
        return [-2.5 * self.x0], [2.5 * self.x0]


@dataclass(frozen=True)
class Harmonic:
    """``V = sum_d m w_d^2 (x_d - c_d)^2 / 2`` with ``mass`` only setting the curvature."""

    omega: tuple[float, ...] = (0.01,)
    mass: float = 1836.15
    centre: tuple[float, ...] = (0.0,)

    @property
    def n_dim(self) -> int:
        return len(self.omega)

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        x = _coordinates(coordinates, self.n_dim, "harmonic") - np.asarray(self.centre)
        return 0.5 * self.mass * np.sum(np.asarray(self.omega) ** 2 * x**2, axis=-1)

    def gradient(self, coordinates: np.ndarray) -> np.ndarray:
        x = _coordinates(coordinates, self.n_dim, "harmonic") - np.asarray(self.centre)
        return self.mass * np.asarray(self.omega) ** 2 * x

    def default_bounds(self) -> tuple[list[float], list[float]]:
        half = 6.0 / np.sqrt(self.mass * np.asarray(self.omega))
        return list(np.asarray(self.centre) - half), list(np.asarray(self.centre) + half)


_MB_A = np.array([-200.0, -100.0, -170.0, 15.0])
_MB_a = np.array([-1.0, -1.0, -6.5, 0.7])
_MB_b = np.array([0.0, 0.0, 11.0, 0.6])
_MB_c = np.array([-10.0, -10.0, -6.5, 0.7])
_MB_X = np.array([1.0, 0.0, -0.5, -1.0])
_MB_Y = np.array([0.0, 0.5, 1.5, 1.0])


@dataclass(frozen=True)
class MullerBrown:
    """The Müller–Brown surface (Theor. Chim. Acta 53, 75 (1979)) times ``scale``."""

    scale: float = 1.0
    n_dim: int = field(default=2, init=False)

    def _terms(self, coordinates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xy = _coordinates(coordinates, 2, "muller_brown")
        dx = xy[..., 0, None] - _MB_X  # [..., 4]
        dy = xy[..., 1, None] - _MB_Y  # [..., 4]
        terms = _MB_A * np.exp(_MB_a * dx**2 + _MB_b * dx * dy + _MB_c * dy**2)  # [..., 4]
        return terms, dx, dy

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return self.scale * self._terms(coordinates)[0].sum(axis=-1)

    def gradient(self, coordinates: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            terms, dx, dy = self._terms(coordinates)
        gx = np.sum(terms * (2 * _MB_a * dx + _MB_b * dy), axis=-1)
        gy = np.sum(terms * (_MB_b * dx + 2 * _MB_c * dy), axis=-1)
        return self.scale * np.stack([gx, gy], axis=-1)

    def default_bounds(self) -> tuple[list[float], list[float]]:
        return [-1.5, -0.3], [1.1, 2.0]


@dataclass(frozen=True)
class TullyPotential:
    """Tully's model ``number`` (1, 2, 3) as a two-state diabatic potential (1D)."""

    number: int = 1
    n_dim: int = field(default=1, init=False)

    def _model(self) -> Any:
        from nnpkit.wavepackets.tully import tully_model

        return tully_model(int(self.number))

    @property
    def n_states(self) -> int:
        return int(self._model().n_states)

    def matrix(self, coordinates: np.ndarray) -> np.ndarray:
        """Diabatic matrices ``[..., n_states, n_states]`` Hartree at ``[..., 1]`` bohr."""
        x = _coordinates(coordinates, 1, f"tully{self.number}")[..., 0]
        return np.asarray(self._model().matrix(x))

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        """The lower adiabatic surface, ``[...]`` Hartree."""
        return np.linalg.eigvalsh(self.matrix(coordinates))[..., 0]

    def default_bounds(self) -> tuple[list[float], list[float]]:
        return [-25.0], [25.0]


_PER_EV, _PER_A = 1.0 / units.Hartree, 1.0 / units.Bohr

#: Built-in names -> (class, {public parameter name: (field, multiply-by to get a.u.)}).
#: Public parameters use eV and Å (the CLI's units); ``*_au`` names are taken as is.
BUILTIN_POTENTIALS: dict[str, tuple[type, dict[str, tuple[str, float]]]] = {
    "morse": (Morse, {"depth_eV": ("depth", _PER_EV), "width_per_A": ("width", units.Bohr),
                      "r0_A": ("r0", _PER_A)}),
    "eckart": (Eckart, {"height_eV": ("height", _PER_EV), "width_A": ("width", _PER_A)}),
    "double_well": (DoubleWell, {"barrier_eV": ("barrier", _PER_EV), "x0_A": ("x0", _PER_A)}),
    "muller_brown": (MullerBrown, {"scale": ("scale", 1.0)}),
    "tully1": (TullyPotential, {}), "tully2": (TullyPotential, {}),
    "tully3": (TullyPotential, {}),
}


def builtin_potential(name: str, params: dict[str, float] | None = None) -> Any:
    """A built-in potential from its name and public-unit parameters.

    Args:
        name: ``morse``, ``eckart``, ``double_well``, ``muller_brown``, ``tully1..3``.
        params: e.g. ``{"depth_eV": 4.6, "width_per_A": 2.2, "r0_A": 0.97}`` (eV, Å), or
            the atomic-unit field names with an ``_au`` suffix (``{"depth_au": 0.2}``).

    Raises:
        ConfigError: naming an unknown potential or parameter.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in BUILTIN_POTENTIALS:
        raise ConfigError(f"unknown potential {name!r}; built-ins: {', '.join(BUILTIN_POTENTIALS)}")
    cls, table = BUILTIN_POTENTIALS[key]
    if cls is TullyPotential:
        if params:
            raise ConfigError(f"{key} takes no parameters, got {sorted(params)}")
        return TullyPotential(int(key[-1]))
    fields = {value[0] for value in table.values()}
    kwargs: dict[str, float] = {}
    for param, value in (params or {}).items():
        if param in table:
            attribute, factor = table[param]
            kwargs[attribute] = float(value) * factor
        elif param.endswith("_au") and param[:-3] in fields:
            kwargs[param[:-3]] = float(value)
        else:
            known = sorted(table) + sorted(f"{f}_au" for f in fields)
            raise ConfigError(f"potential {key}: unknown parameter {param!r}; known: "
                              f"{', '.join(known)}")
    return cls(**kwargs)


def evaluate_on_grid(potential: Any, mesh: list[np.ndarray]) -> np.ndarray:
    """A potential on grid coordinates ``mesh`` (``n_dim`` arrays ``[*shape]``).

    Returns ``[*shape]`` for a single surface, ``[n_states, n_states, *shape]`` for a
    multi-state potential with a ``matrix`` method.
    """
    points = np.stack(mesh, axis=-1)  # [*shape, n_dim]
    if hasattr(potential, "matrix"):
        return np.moveaxis(np.asarray(potential.matrix(points)), (-2, -1), (0, 1))
    return np.asarray(potential(points), dtype=float)
