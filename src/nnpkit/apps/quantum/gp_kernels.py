"""Squared-exponential covariances between values and gradients of a Gaussian process.

For ``k(a, b) = s^2 exp(-sum_d (a_d - b_d)^2 / (2 l_d^2))`` the derivative kernels are

    cov(f(a), df(b)/db_e)        =  k (a_e - b_e) / l_e^2
    cov(df(a)/da_d, f(b))        = -k (a_d - b_d) / l_d^2
    cov(df(a)/da_d, df(b)/db_e)  =  k (delta_de / l_d^2 - (a_d - b_d)(a_e - b_e) / (l_d^2 l_e^2))

:func:`joint_covariance` assembles them into one block matrix over observations ordered
as all values first, then all gradients row by row (``[n]`` then ``[n * n_dim]``). Written
in plain PyTorch so the marginal likelihood is differentiable in the hyperparameters.
"""

from __future__ import annotations

import torch

__all__ = ["squared_exponential", "joint_covariance"]


def squared_exponential(a: torch.Tensor, b: torch.Tensor, lengthscales: torch.Tensor,
                        signal_variance: torch.Tensor, differences: bool = True
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Kernel matrix and scaled differences.

    Args:
        a: ``[n_a, n_dim]`` inputs. b: ``[n_b, n_dim]`` inputs.
        lengthscales: ``[n_dim]``. signal_variance: scalar ``s^2``.
        differences: Also return ``(a - b) / l^2``; without them, large value-only blocks
            use the matrix-product form ``|a|^2 + |b|^2 - 2 a.b`` of the squared distance
            (a GEMM instead of an ``[n_a, n_b, n_dim]`` temporary).

    Returns:
        ``k`` ``[n_a, n_b]`` and ``(a - b) / l^2`` ``[n_a, n_b, n_dim]`` (or ``None``).
    """
    if not differences and a.shape[0] * b.shape[0] > 100_000:
        a_scaled, b_scaled = a / lengthscales, b / lengthscales  # [n_a, d], [n_b, d]
        squared = ((a_scaled**2).sum(-1)[:, None] + (b_scaled**2).sum(-1)[None, :]
                   - 2.0 * a_scaled @ b_scaled.T).clamp_min(0.0)  # [n_a, n_b]
        return signal_variance * torch.exp(-0.5 * squared), None
    difference = a[:, None, :] - b[None, :, :]  # [n_a, n_b, n_dim]
    scaled = difference / lengthscales**2  # [n_a, n_b, n_dim]
    kernel = signal_variance * torch.exp(-0.5 * torch.sum(difference * scaled, dim=-1))
    return kernel, scaled


def joint_covariance(a: torch.Tensor, b: torch.Tensor, lengthscales: torch.Tensor,
                     signal_variance: torch.Tensor, a_gradients: bool,
                     b_gradients: bool) -> torch.Tensor:
    """Covariance between [values (, gradients)] at ``a`` and [values (, gradients)] at ``b``.

    Returns:
        ``[n_a * (1 + n_dim * a_gradients), n_b * (1 + n_dim * b_gradients)]``; gradient
        rows/columns follow the value block, ordered point-major (point i, axis d at
        ``n + i * n_dim + d``).
    """
    n_a, n_dim = a.shape
    n_b = b.shape[0]
    kernel, scaled = squared_exponential(a, b, lengthscales, signal_variance,
                                         differences=a_gradients or b_gradients)
    rows = [kernel]
    if scaled is None:
        return kernel
    if b_gradients:
        value_gradient = (kernel[:, :, None] * scaled).reshape(n_a, n_b * n_dim)
        rows = [torch.cat([kernel, value_gradient], dim=1)]
    if not a_gradients:
        return rows[0]
    gradient_value = -(kernel[:, :, None] * scaled).permute(0, 2, 1).reshape(n_a * n_dim, n_b)
    if not b_gradients:
        return torch.cat([rows[0], gradient_value], dim=0)
    inverse_squared = torch.diag(1.0 / lengthscales**2)  # [n_dim, n_dim]
    curvature = (inverse_squared[None, None] - scaled[:, :, :, None] * scaled[:, :, None, :])
    gradient_gradient = (kernel[:, :, None, None] * curvature)  # [n_a, n_b, n_dim, n_dim]
    gradient_gradient = gradient_gradient.permute(0, 2, 1, 3).reshape(n_a * n_dim, n_b * n_dim)
    bottom = torch.cat([gradient_value, gradient_gradient], dim=1)
    return torch.cat([rows[0], bottom], dim=0)
