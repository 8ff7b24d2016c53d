"""Gaussian-process regression of a potential energy surface in a few coordinates.

:class:`GaussianProcessPES` learns ``V(q)`` from energies and, where given, gradients
(derivative kernels of :mod:`nnpkit.apps.quantum.gp_kernels`), with a squared-exponential
kernel with one lengthscale per coordinate, chosen together with the signal and noise
amplitudes by maximising the log marginal likelihood (L-BFGS-B from several starts).
Prediction gives the mean, the standard deviation and the gradient of the mean; a fitted
GP is saved as a safetensors file with an integrity checksum (:mod:`nnpkit.tensor_file`;
the checksum catches corruption, not deliberate edits), never a pickle.

Why plain PyTorch and not GPyTorch: the surfaces here have tens to a few hundred
observations in one to three coordinates, where an exact Cholesky solve in float64 is
both fastest and most accurate; GPyTorch's strengths (conjugate-gradient/Lanczos solvers,
variational GPs for 10^5+ points, GPU batching) are not needed, its derivative-kernel
support (``RBFKernelGrad``) offers no per-block noise and works in float32 by default,
and plain torch keeps nnpkit free of another dependency. Torch autograd gives the exact
hyperparameter gradients of the likelihood, which scipy's L-BFGS-B then follows.

Units are whatever the caller uses consistently; inside ``nnpkit.apps.quantum`` that is
bohr and Hartree (``metadata`` records them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.optimize
import torch

from nnpkit.apps.quantum.gp_kernels import joint_covariance
from nnpkit.errors import DataError
from nnpkit.tensor_file import load_tensor_file, save_tensor_file

__all__ = ["GaussianProcessPES", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "nnpkit-gp-pes"
FORMAT_VERSION = 1
_DTYPE = torch.float64


@dataclass
class _Hyper:
    """Hyperparameters in normalised units (inputs / input_scale, energies / energy_scale)."""

    lengthscales: np.ndarray
    signal_std: float
    energy_noise: float
    gradient_noise: float

    def pack(self) -> np.ndarray:
        return np.log(np.concatenate([self.lengthscales, [self.signal_std, self.energy_noise,
                                                          self.gradient_noise]]))

    @classmethod
    def unpack(cls, values: np.ndarray) -> _Hyper:
        v = np.exp(values)
        return cls(v[:-3], float(v[-3]), float(v[-2]), float(v[-1]))


@dataclass
class GaussianProcessPES:
    """An exact GP surface. Build it with :meth:`fit`; all arrays are float64.

    Attributes:
        points: ``[n, n_dim]`` training coordinates. energies: ``[n]``.
        gradients: ``[n, n_dim]`` or ``None`` (energies only).
        metadata: free JSON-ready dict saved with the model (units, bounds, names).
    """

    points: np.ndarray
    energies: np.ndarray
    gradients: np.ndarray | None
    hyper: _Hyper
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.array(self.points, dtype=float).reshape(len(self.energies), -1)
        self.energies = np.array(self.energies, dtype=float)
        self._offset = float(np.mean(self.energies))
        self._energy_scale = float(np.std(self.energies)) or 1.0
        low, high = self.points.min(axis=0), self.points.max(axis=0)
        self._centre = 0.5 * (low + high)  # [n_dim]
        self._input_scale = np.where(high > low, 0.5 * (high - low), 1.0)  # [n_dim]
        self._factorise()

    # ------------------------------------------------------------------ construction
    @property
    def energy_scale(self) -> float:
        """Standard deviation of the training energies (the unit of the signal std)."""
        return self._energy_scale

    @property
    def input_scale(self) -> np.ndarray:
        """Half the data range per coordinate, ``[n_dim]`` (the unit of the lengthscales)."""
        return self._input_scale

    @property
    def n_dim(self) -> int:
        return int(self.points.shape[1])

    @property
    def n_observations(self) -> int:
        """Energies plus gradient components."""
        return self.energies.size + (0 if self.gradients is None else self.gradients.size)

    def _targets(self) -> torch.Tensor:
        values = (self.energies - self._offset) / self._energy_scale  # [n]
        parts = [values]
        if self.gradients is not None:
            parts.append((self.gradients * self._input_scale / self._energy_scale).reshape(-1))
        return torch.as_tensor(np.concatenate(parts), dtype=_DTYPE)

    def _scaled(self, points: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((points - self._centre) / self._input_scale, dtype=_DTYPE)

    def _covariance(self, log_params: torch.Tensor) -> torch.Tensor:
        params = torch.exp(log_params)
        lengthscales, signal = params[: self.n_dim], params[self.n_dim] ** 2
        x = self._scaled(self.points)
        with_gradients = self.gradients is not None
        matrix = joint_covariance(x, x, lengthscales, signal, with_gradients, with_gradients)
        n = len(self.energies)
        noise = torch.full((matrix.shape[0],), 1.0, dtype=_DTYPE) * params[-1] ** 2
        noise[:n] = params[-2] ** 2
        return matrix + torch.diag(noise)

    def log_marginal_likelihood(self, log_params: torch.Tensor | None = None) -> torch.Tensor:
        """log p(y | hyperparameters) of the normalised targets (scalar tensor)."""
        if log_params is None:
            log_params = torch.as_tensor(self.hyper.pack(), dtype=_DTYPE)
        targets = self._targets()
        cholesky, info = torch.linalg.cholesky_ex(self._covariance(log_params))
        if int(info) != 0:
            return torch.tensor(-1e30, dtype=_DTYPE) + 0.0 * log_params.sum()
        alpha = torch.cholesky_solve(targets[:, None], cholesky)[:, 0]
        return (-0.5 * targets @ alpha - torch.log(torch.diagonal(cholesky)).sum()
                - 0.5 * len(targets) * np.log(2 * np.pi))

    def _factorise(self) -> None:
        log_params = torch.as_tensor(self.hyper.pack(), dtype=_DTYPE)
        covariance = self._covariance(log_params)
        cholesky, info = torch.linalg.cholesky_ex(covariance)
        if int(info) != 0:
            raise DataError("GP covariance is not positive definite (duplicate points?)")
        self._cholesky = cholesky
        self._alpha = torch.cholesky_solve(self._targets()[:, None], cholesky)[:, 0]

    @classmethod
    def fit(cls, points: np.ndarray, energies: np.ndarray, gradients: np.ndarray | None = None,
            noise_floor: float = 1e-6, noise_ceiling: float = 1e-3,
            restarts: tuple[float, ...] = (0.3, 1.0, 3.0),
            metadata: dict | None = None) -> GaussianProcessPES:
        """Fit hyperparameters by maximising the marginal likelihood.

        Args:
            points: ``[n, n_dim]`` coordinates (bohr inside apps.quantum).
            energies: ``[n]`` energies (Hartree). gradients: ``[n, n_dim]`` or ``None``.
            noise_floor: Smallest noise std, relative to the energy spread (a jitter for
                deterministic references).
            noise_ceiling: Largest noise std, relative to the energy spread: small for
                deterministic references, so that few points are never explained as noise.
            restarts: Initial lengthscales (in units of half the data range) to start from.
            metadata: Saved with the model.

        Raises:
            DataError: on mismatched shapes, non-finite values or fewer than 2 points.
        """
        points = np.asarray(points, dtype=float)
        energies = np.asarray(energies, dtype=float).reshape(-1)
        points = points.reshape(len(energies), -1)
        if len(energies) < 2:
            raise DataError(f"a GP needs at least 2 points, got {len(energies)}")
        if gradients is not None:
            gradients = np.asarray(gradients, dtype=float).reshape(points.shape)
        for name, array in (("points", points), ("energies", energies), ("gradients", gradients)):
            if array is not None and not np.all(np.isfinite(array)):
                bad = int(np.argwhere(~np.isfinite(array.reshape(len(energies), -1)))[0][0])
                raise DataError(f"GP training {name} are not finite at index {bad}")
        n_dim = points.shape[1]
        start = _Hyper(np.ones(n_dim), 1.0, noise_floor, noise_floor)
        model = cls(points, energies, gradients, start, dict(metadata or {}))
        if not 0 < noise_floor <= noise_ceiling:
            raise DataError(f"need 0 < noise_floor ({noise_floor}) <= noise_ceiling "
                            f"({noise_ceiling})")
        noise = (np.log(noise_floor), np.log(noise_ceiling))
        bounds = [(np.log(0.02), np.log(50.0))] * n_dim + [(np.log(0.05), np.log(20.0)),
                                                           noise, noise]

        def objective(values: np.ndarray) -> tuple[float, np.ndarray]:
            log_params = torch.tensor(values, dtype=_DTYPE, requires_grad=True)
            loss = -model.log_marginal_likelihood(log_params)
            loss.backward()
            assert log_params.grad is not None
            return float(loss.detach()), log_params.grad.numpy().copy()

        best: tuple[float, np.ndarray] | None = None
        for lengthscale in restarts:
            guess = min(10 * noise_floor, noise_ceiling)
            initial = _Hyper(np.full(n_dim, lengthscale), 1.0, guess, guess).pack()
            result = scipy.optimize.minimize(objective, initial, jac=True, method="L-BFGS-B",
                                             bounds=bounds)
            if np.isfinite(result.fun) and (best is None or result.fun < best[0]):
                best = (float(result.fun), result.x)
        assert best is not None
        model.hyper = _Hyper.unpack(best[1])
        model._factorise()
        return model

    # ------------------------------------------------------------------ prediction
    def predict(self, points: np.ndarray, return_std: bool = True, chunk: int = 20000
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictive mean ``[m]`` and std ``[m]`` (or ``None``) at ``points`` ``[m, n_dim]``."""
        points = np.asarray(points, dtype=float).reshape(-1, self.n_dim)
        params = np.exp(self.hyper.pack())
        lengthscales = torch.as_tensor(params[: self.n_dim], dtype=_DTYPE)
        signal = float(params[self.n_dim]) ** 2
        means, stds = [], []
        train = self._scaled(self.points)
        for begin in range(0, len(points), chunk):
            x = self._scaled(points[begin:begin + chunk])
            cross = joint_covariance(x, train, lengthscales, torch.tensor(signal, dtype=_DTYPE),
                                     False, self.gradients is not None)  # [m, n_obs]
            means.append((cross @ self._alpha).numpy())
            if return_std:
                solved = torch.linalg.solve_triangular(self._cholesky, cross.T, upper=False)
                variance = torch.clamp(signal - torch.sum(solved**2, dim=0), min=0.0)
                stds.append(torch.sqrt(variance).numpy())
        mean = np.concatenate(means) * self._energy_scale + self._offset if means else np.zeros(0)
        std = (np.concatenate(stds) * self._energy_scale if stds else np.zeros(0)) \
            if return_std else None
        return mean, std

    def posterior_covariance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Posterior covariance of the energies at ``a`` ``[m_a, n_dim]``, ``b`` ``[m_b, n_dim]``.

        Returns ``[m_a, m_b]`` in energy units squared.
        """
        params = np.exp(self.hyper.pack())
        lengthscales = torch.as_tensor(params[: self.n_dim], dtype=_DTYPE)
        signal = torch.tensor(float(params[self.n_dim]) ** 2, dtype=_DTYPE)
        train = self._scaled(self.points)
        with_gradients = self.gradients is not None
        x_a, x_b = self._scaled(np.asarray(a, float)), self._scaled(np.asarray(b, float))
        prior = joint_covariance(x_a, x_b, lengthscales, signal, False, False)
        solved_a = torch.linalg.solve_triangular(self._cholesky, joint_covariance(
            x_a, train, lengthscales, signal, False, with_gradients).T, upper=False)
        solved_b = torch.linalg.solve_triangular(self._cholesky, joint_covariance(
            x_b, train, lengthscales, signal, False, with_gradients).T, upper=False)
        return ((prior - solved_a.T @ solved_b) * self._energy_scale**2).numpy()

    def __call__(self, coordinates: np.ndarray) -> np.ndarray:
        """Mean energy at ``[..., n_dim]`` -> ``[...]`` (the potential protocol)."""
        coordinates = np.asarray(coordinates, dtype=float)
        mean, _ = self.predict(coordinates.reshape(-1, self.n_dim), return_std=False)
        return mean.reshape(coordinates.shape[:-1])

    def gradient(self, coordinates: np.ndarray) -> np.ndarray:
        """Gradient of the mean at ``[..., n_dim]`` -> ``[..., n_dim]`` (derivative kernel)."""
        coordinates = np.asarray(coordinates, dtype=float)
        x = self._scaled(coordinates.reshape(-1, self.n_dim))
        params = np.exp(self.hyper.pack())
        cross = joint_covariance(x, self._scaled(self.points),
                                 torch.as_tensor(params[: self.n_dim], dtype=_DTYPE),
                                 torch.tensor(float(params[self.n_dim]) ** 2, dtype=_DTYPE),
                                 True, self.gradients is not None)[len(x):]
        scaled = (cross @ self._alpha).numpy().reshape(-1, self.n_dim)
        return (scaled * self._energy_scale / self._input_scale).reshape(coordinates.shape)

    def default_bounds(self) -> tuple[list[float], list[float]]:
        """The box recorded at fit time (``metadata['bounds']``), else the data range."""
        if "bounds" in self.metadata:
            lower, upper = self.metadata["bounds"]
            return list(lower), list(upper)
        return list(self.points.min(axis=0)), list(self.points.max(axis=0))

    @property
    def hyperparameters(self) -> dict[str, float | list[float]]:
        """Fitted lengthscales (input units), signal and noise std (energy units)."""
        return {"lengthscales": (self.hyper.lengthscales * self._input_scale).tolist(),
                "signal_std": self.hyper.signal_std * self._energy_scale,
                "energy_noise_std": self.hyper.energy_noise * self._energy_scale,
                "gradient_noise_std": self.hyper.gradient_noise * self._energy_scale}

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the training data, hyperparameters and metadata (safetensors with an
        integrity checksum, atomically)."""
        tensors = {"points": torch.as_tensor(self.points), "energies": torch.as_tensor(
            self.energies), "log_hyper": torch.as_tensor(self.hyper.pack())}
        if self.gradients is not None:
            tensors["gradients"] = torch.as_tensor(self.gradients)
        return save_tensor_file(path, tensors, {"n_dim": self.n_dim, **self.metadata},
                                FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def load(cls, path: str | os.PathLike) -> GaussianProcessPES:
        """Read a file written by :meth:`save` (raises ModelFileError naming the file)."""
        tensors, metadata = load_tensor_file(path, FORMAT_NAME, FORMAT_VERSION)
        metadata.pop("n_dim", None)
        gradients = tensors["gradients"].numpy() if "gradients" in tensors else None
        return cls(tensors["points"].numpy(), tensors["energies"].numpy(), gradients,
                   _Hyper.unpack(tensors["log_hyper"].numpy()), metadata)
