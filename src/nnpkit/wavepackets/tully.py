"""Analytic diabatic model Hamiltonians in atomic units: Tully's three models and a 2D LVC.

Tully, J. Chem. Phys. 93, 1061 (1990): three one-dimensional two-state scattering models
(simple avoided crossing, dual avoided crossing, extended coupling with reflection), all
with mass 2000 m_e. The fourth model is a two-dimensional linear-vibronic-coupling (LVC)
conical intersection: two harmonic diabats with opposite linear shifts along the tuning
coordinate x and a coupling linear in the coupling coordinate y.

Positions are in bohr, energies in Hartree. The models are numpy-vectorised over any
leading batch shape. Atomic units live only here and in ``nnpkit.apps.nonadiabatic``.

>>> model = tully_model(1)
>>> model.matrix(np.linspace(-10, 10, 5)).shape
(5, 2, 2)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from nnpkit.errors import ConfigError

__all__ = [
    "DiabaticModel",
    "SimpleAvoidedCrossing",
    "DualAvoidedCrossing",
    "ExtendedCoupling",
    "LinearVibronicCoupling",
    "tully_model",
    "model_by_name",
    "MODEL_NAMES",
]

#: Names accepted by :func:`model_by_name`.
MODEL_NAMES: tuple[str, ...] = ("tully1", "tully2", "tully3", "lvc2d")


class DiabaticModel(ABC):
    """An analytic diabatic Hamiltonian ``H_d(q)`` in atomic units.

    Attributes:
        name: short model name (``"tully1"`` ...).
        n_states: number of electronic states ``n``.
        n_dim: number of nuclear coordinates.
        mass_au: nuclear mass in electron masses (the same for every coordinate).
    """

    name: str = ""
    n_states: int = 2
    n_dim: int = 1
    mass_au: float = 2000.0

    @abstractmethod
    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Diabatic matrix and its gradient at positions ``q``.

        Args:
            q: positions in bohr, shape ``[..., n_dim]``.

        Returns:
            ``(H [..., n, n], dH [..., n_dim, n, n])`` in Hartree and Hartree/bohr.
        """

    def _as_coordinates(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.n_dim == 1:
            return x[..., None]  # [..., 1]
        if x.ndim == 0 or x.shape[-1] != self.n_dim:
            raise ConfigError(
                f"model {self.name!r} needs positions of shape [..., {self.n_dim}], "
                f"got {x.shape}")
        return x

    def matrix(self, x: np.ndarray) -> np.ndarray:
        """Diabatic matrix in Hartree.

        Args:
            x: positions in bohr: shape ``[...]`` for a 1D model, ``[..., n_dim]`` otherwise.

        Returns:
            ``[..., n, n]`` symmetric matrices.
        """
        return self.evaluate(self._as_coordinates(x))[0]

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Gradient of the diabatic matrix in Hartree/bohr.

        Args:
            x: positions in bohr: shape ``[...]`` for a 1D model, ``[..., n_dim]`` otherwise.

        Returns:
            ``[..., n, n]`` (d/dx) for a 1D model, ``[..., n_dim, n, n]`` otherwise.
        """
        gradient = self.evaluate(self._as_coordinates(x))[1]
        return gradient[..., 0, :, :] if self.n_dim == 1 else gradient


def _assemble(v11: np.ndarray, v22: np.ndarray, v12: np.ndarray) -> np.ndarray:
    out = np.empty(v11.shape + (2, 2))  # [..., 2, 2]
    out[..., 0, 0] = v11
    out[..., 1, 1] = v22
    out[..., 0, 1] = v12
    out[..., 1, 0] = v12
    return out


@dataclass(frozen=True)
class SimpleAvoidedCrossing(DiabaticModel):
    """Tully model 1: V11 = A(1 - e^{-B|x|}) sign(x), V22 = -V11, V12 = C e^{-D x^2}."""

    a: float = 0.01
    b: float = 1.6
    c: float = 0.005
    d: float = 1.0
    name: str = "tully1"
    mass_au: float = 2000.0

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(q, dtype=np.float64)[..., 0]
        decay = np.exp(-self.b * np.abs(x))
        v11 = np.sign(x) * self.a * (1.0 - decay)
        dv11 = self.a * self.b * decay
        v12 = self.c * np.exp(-self.d * x * x)
        dv12 = -2.0 * self.d * x * v12
        return (_assemble(v11, -v11, v12),
                _assemble(dv11, -dv11, dv12)[..., None, :, :])


@dataclass(frozen=True)
class DualAvoidedCrossing(DiabaticModel):
    """Tully model 2: V11 = 0, V22 = -A e^{-B x^2} + E0, V12 = C e^{-D x^2}."""

    a: float = 0.10
    b: float = 0.28
    c: float = 0.015
    d: float = 0.06
    e0: float = 0.05
    name: str = "tully2"
    mass_au: float = 2000.0

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(q, dtype=np.float64)[..., 0]
        well = self.a * np.exp(-self.b * x * x)
        v12 = self.c * np.exp(-self.d * x * x)
        zero = np.zeros_like(x)
        return (_assemble(zero, self.e0 - well, v12),
                _assemble(zero, 2.0 * self.b * x * well, -2.0 * self.d * x * v12)[
                    ..., None, :, :])


@dataclass(frozen=True)
class ExtendedCoupling(DiabaticModel):
    """Tully model 3: V11 = A, V22 = -A, V12 = B e^{Cx} (x<0), B(2 - e^{-Cx}) (x>0)."""

    a: float = 6e-4
    b: float = 0.1
    c: float = 0.9
    name: str = "tully3"
    mass_au: float = 2000.0

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(q, dtype=np.float64)[..., 0]
        decay = np.exp(-self.c * np.abs(x))
        v12 = np.where(x < 0.0, self.b * decay, self.b * (2.0 - decay))
        dv12 = self.b * self.c * decay
        v11 = np.full_like(x, self.a)
        zero = np.zeros_like(x)
        return (_assemble(v11, -v11, v12),
                _assemble(zero, zero, dv12)[..., None, :, :])


@dataclass(frozen=True)
class LinearVibronicCoupling(DiabaticModel):
    """Two-state, two-mode LVC conical intersection (tuning mode x, coupling mode y).

    V11 = E1 + kappa1 x + k (x^2 + y^2)/2, V22 = E2 + kappa2 x + k (x^2 + y^2)/2,
    V12 = lam y. The intersection lies at y = 0, x = (E2 - E1)/(kappa1 - kappa2)
    (0.25 bohr with the defaults), reached with ~8 mEh of excess energy when a packet
    starts on the upper state at the origin. k = M w^2 with w = 0.005 Eh, M = 2000.
    """

    e1: float = 0.0
    e2: float = 0.02
    kappa1: float = 0.04
    kappa2: float = -0.04
    force_constant: float = 0.05
    lam: float = 0.01
    name: str = "lvc2d"
    n_dim: int = 2
    mass_au: float = 2000.0

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = np.asarray(q, dtype=np.float64)
        x, y = q[..., 0], q[..., 1]
        harmonic = 0.5 * self.force_constant * (x * x + y * y)
        v11 = self.e1 + self.kappa1 * x + harmonic
        v22 = self.e2 + self.kappa2 * x + harmonic
        hessian_x = self.force_constant * x
        gradient = np.empty(q.shape[:-1] + (2, 2, 2))  # [..., n_dim, 2, 2]
        gradient[..., 0, :, :] = _assemble(self.kappa1 + hessian_x,
                                           self.kappa2 + hessian_x, np.zeros_like(x))
        gradient[..., 1, :, :] = _assemble(self.force_constant * y, self.force_constant * y,
                                           np.full_like(y, self.lam))
        return _assemble(v11, v22, self.lam * y), gradient


def tully_model(number: int) -> DiabaticModel:
    """Tully's model ``number`` (1, 2 or 3) with the parameters of Tully (1990)."""
    models: dict[int, DiabaticModel] = {1: SimpleAvoidedCrossing(), 2: DualAvoidedCrossing(),
                                        3: ExtendedCoupling()}
    if number not in models:
        raise ConfigError(f"Tully model number must be 1, 2 or 3, got {number!r}")
    return models[number]


def model_by_name(name: str) -> DiabaticModel:
    """Analytic model from its name: ``tully1``, ``tully2``, ``tully3`` or ``lvc2d``."""
    if name == "lvc2d":
        return LinearVibronicCoupling()
    if name in MODEL_NAMES:
        return tully_model(int(name[-1]))
    raise ConfigError(f"unknown analytic model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
