"""The Gaussian-process surface: derivative kernels, fitting, prediction, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from nnpkit.apps.quantum.gp import GaussianProcessPES
from nnpkit.apps.quantum.gp_kernels import joint_covariance
from nnpkit.apps.quantum.potentials import Morse, MullerBrown
from nnpkit.errors import DataError, ModelFileError


def test_derivative_kernel_blocks_equal_autograd_derivatives() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(3, 2, dtype=torch.float64, generator=generator)
    b = torch.randn(4, 2, dtype=torch.float64, generator=generator)
    lengthscales = torch.tensor([0.7, 1.3], dtype=torch.float64)
    signal = torch.tensor(1.5, dtype=torch.float64)
    joint = joint_covariance(a, b, lengthscales, signal, True, True)  # [3 + 6, 4 + 8]
    assert joint.shape == (9, 12)

    def kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return signal * torch.exp(-0.5 * (((x - y) / lengthscales) ** 2).sum())

    for i in range(3):
        for j in range(4):
            left, right = a[i], b[j]
            value_gradient = jacobian(lambda y, x0=left: kernel(x0, y), right)
            gradient_value = jacobian(lambda x, y0=right: kernel(x, y0), left)
            both = jacobian(lambda y, x0=left: jacobian(lambda x: kernel(x, y), x0,
                                                        create_graph=True), right)
            torch.testing.assert_close(joint[i, 4 + 2 * j: 6 + 2 * j], value_gradient)
            torch.testing.assert_close(joint[3 + 2 * i: 5 + 2 * i, j], gradient_value)
            torch.testing.assert_close(joint[3 + 2 * i: 5 + 2 * i, 4 + 2 * j: 6 + 2 * j], both)
    values_only = joint_covariance(a, b, lengthscales, signal, False, False)
    torch.testing.assert_close(values_only, joint[:3, :4])


def test_gradients_make_the_surface_more_accurate_and_uncertainty_is_honest() -> None:
    morse = Morse()
    points = np.linspace(1.3, 3.5, 8)[:, None]
    dense = np.linspace(1.35, 3.45, 300)[:, None]
    plain = GaussianProcessPES.fit(points, morse(points))
    informed = GaussianProcessPES.fit(points, morse(points), morse.gradient(points))
    error_plain = np.abs(plain(dense) - morse(dense)).max()
    error_informed = np.abs(informed(dense) - morse(dense)).max()
    assert error_informed < 0.05 * error_plain
    mean, std = plain.predict(dense)
    assert std is not None and np.mean(np.abs(mean - morse(dense)) < 3 * std) > 0.9
    _, at_data = plain.predict(points)
    assert at_data is not None and at_data.max() < 1e-3 * std.max()
    # the analytic gradient of the mean is the derivative of the mean
    step = 1e-5
    numeric = (plain(dense + step) - plain(dense - step)) / (2 * step)
    np.testing.assert_allclose(plain.gradient(dense)[:, 0], numeric, atol=1e-6)


def test_2d_fit_recovers_muller_brown_and_round_trips_through_a_file(tmp_path) -> None:
    surface = MullerBrown()
    lower, upper = np.array([-1.0, 0.0]), np.array([0.8, 1.6])
    points = lower + np.random.default_rng(1).uniform(size=(40, 2)) * (upper - lower)
    model = GaussianProcessPES.fit(points, surface(points), surface.gradient(points),
                                   metadata={"bounds": [lower.tolist(), upper.tolist()]})
    test = lower + np.random.default_rng(2).uniform(size=(500, 2)) * (upper - lower)
    rms = np.sqrt(np.mean((model(test) - surface(test)) ** 2))
    assert rms < 0.05 * np.std(surface(test))  # 40 random points with gradients
    path = model.save(tmp_path / "mb.safetensors")
    loaded = GaussianProcessPES.load(path)
    np.testing.assert_array_equal(loaded(test), model(test))
    assert loaded.default_bounds() == ([-1.0, 0.0], [0.8, 1.6])
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="integrity checksum mismatch|unreadable"):
        GaussianProcessPES.load(path)


def test_bad_training_data_is_named() -> None:
    with pytest.raises(DataError, match="at least 2"):
        GaussianProcessPES.fit(np.zeros((1, 1)), np.zeros(1))
    with pytest.raises(DataError, match="energies are not finite at index 2"):
        GaussianProcessPES.fit(np.arange(4.0)[:, None], np.array([0.0, 1.0, np.nan, 2.0]))
    with pytest.raises(ModelFileError, match="not found"):
        GaussianProcessPES.load("/nonexistent/gp.safetensors")
