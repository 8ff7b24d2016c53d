"""A neural diabatic Hamiltonian on model coordinates, and its adapter to surface hopping.

:class:`DiabaticMLP` maps coordinates ``q [B, d]`` (bohr) to a symmetric ``[B, n, n]``
matrix (Hartree): one smooth MLP for the ``n`` diagonal elements (the diabats) and one for
the ``n(n-1)/2`` couplings, on standardised inputs, with outputs in units of a fitted
energy scale. Keeping diabats and couplings in separate networks lets training regularise
them differently (see :mod:`nnpkit.apps.nonadiabatic.training`).

:class:`NetworkPotential` wraps any module ``q -> H`` as a numpy
:class:`~nnpkit.apps.nonadiabatic.potentials.DiabaticPotential`; ``dH/dq`` comes from
forward-mode differentiation through the MLPs in the same pass
(:func:`mlp_with_jacobian`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nnpkit.errors import ConfigError
from nnpkit.nn.mlp import MLP

__all__ = ["DiabaticMLP", "NetworkPotential", "symmetric_from_elements"]


def symmetric_from_elements(diagonal: torch.Tensor, couplings: torch.Tensor) -> torch.Tensor:
    """Assemble ``[B, n, n]`` from diagonals ``[B, n]`` and upper couplings ``[B, n(n-1)/2]``.

    Couplings fill the strict upper triangle row by row (``(0,1), (0,2), ..., (1,2), ...``)
    and are mirrored; the result is differentiable in both inputs.
    """
    n = diagonal.shape[-1]
    n_pairs = n * (n - 1) // 2
    # constant linear maps onto the flattened matrix (vmap- and autograd-friendly)
    place_diagonal = diagonal.new_zeros(n, n * n)  # [n, n*n]
    place_diagonal[torch.arange(n), torch.arange(n) * (n + 1)] = 1.0
    flat = diagonal @ place_diagonal  # [B, n*n]
    if n_pairs:
        rows, cols = torch.triu_indices(n, n, offset=1)
        place_coupling = diagonal.new_zeros(n_pairs, n * n)  # [n_pairs, n*n]
        place_coupling[torch.arange(n_pairs), rows * n + cols] = 1.0
        place_coupling[torch.arange(n_pairs), cols * n + rows] = 1.0
        flat = flat + couplings[..., :n_pairs] @ place_coupling
    return flat.reshape(diagonal.shape[:-1] + (n, n))


def _activation_derivative(layer: nn.Module, pre: torch.Tensor) -> torch.Tensor:
    """Derivative of a supported activation at its input ``pre``."""
    if isinstance(layer, nn.Tanh):
        return 1.0 - torch.tanh(pre) ** 2
    if isinstance(layer, nn.SiLU):
        sigmoid = torch.sigmoid(pre)
        return sigmoid * (1.0 + pre * (1.0 - sigmoid))
    if isinstance(layer, nn.Softplus):
        return torch.sigmoid(pre)
    if isinstance(layer, nn.CELU):
        return torch.where(pre > 0, torch.ones_like(pre), torch.exp(pre))
    raise ConfigError(f"no derivative rule for activation {type(layer).__name__}")


def mlp_with_jacobian(mlp: MLP, x: torch.Tensor, tangents: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """An MLP's output and its derivatives along ``tangents``, in one forward pass.

    Args:
        mlp: an :class:`~nnpkit.nn.mlp.MLP` (Linear and activation layers).
        x: inputs ``[B, in]``.
        tangents: input derivatives ``[B, d, in]`` (d directions, e.g. ``dx/dq``).

    Returns:
        ``(y [B, out], dy [B, d, out])``.
    """
    value, derivative = x, tangents
    for layer in mlp:
        if isinstance(layer, nn.Linear):
            value = layer(value)
            derivative = derivative @ layer.weight.T
        else:
            derivative = derivative * _activation_derivative(layer, value)[:, None, :]
            value = layer(value)
    return value, derivative


class DiabaticMLP(nn.Module):
    """``H_d(q)``: MLP diabats and MLP couplings on standardised coordinates.

    Args:
        n_states: number of electronic states ``n``.
        n_dim: number of coordinates ``d``.
        hidden: hidden widths of each of the two networks.
        activation: smooth activation (``tanh``, ``silu``, ``softplus``, ``celu``).
        mass_au: nuclear mass of every coordinate, electron masses (stored for dynamics).
    """

    kind = "mlp"
    input_mean: torch.Tensor
    input_scale: torch.Tensor
    energy_shift: torch.Tensor
    energy_scale: torch.Tensor
    coupling_scale: torch.Tensor
    masses: torch.Tensor

    def __init__(self, n_states: int, n_dim: int, hidden: Sequence[int] = (32, 32),
                 activation: str = "tanh", mass_au: float | Sequence[float] = 2000.0) -> None:
        super().__init__()
        if n_states < 1 or n_dim < 1:
            raise ConfigError(f"need n_states >= 1 and n_dim >= 1, got {n_states}, {n_dim}")
        self.n_states, self.n_dim = int(n_states), int(n_dim)
        self.hidden, self.activation = [int(h) for h in hidden], activation
        self.diabats = MLP(n_dim, self.hidden, n_states, activation)
        n_pairs = n_states * (n_states - 1) // 2
        self.couplings = MLP(n_dim, self.hidden, max(n_pairs, 1), activation)
        self.register_buffer("input_mean", torch.zeros(n_dim))  # [d]
        self.register_buffer("input_scale", torch.ones(n_dim))  # [d]
        self.register_buffer("energy_shift", torch.zeros(()))
        self.register_buffer("energy_scale", torch.ones(()))
        self.register_buffer("coupling_scale", torch.ones(()))
        masses = torch.as_tensor(np.broadcast_to(np.asarray(mass_au, float), (n_dim,)).copy())
        self.register_buffer("masses", masses)  # [d]

    @torch.no_grad()
    def fit_normalization(self, q: torch.Tensor, energies: torch.Tensor,
                          couplings: torch.Tensor | None = None) -> None:
        """Standardise inputs ``q [N, d]``; scale the diabats to ``energies`` ``[N, ...]``
        and the couplings to ``couplings`` ``[N, ...]`` (default: the energy scale)."""
        self.input_mean.copy_(q.mean(0))
        self.input_scale.copy_(q.std(0).clamp_min(1e-6))
        self.energy_shift.fill_(float(energies.mean()))
        self.energy_scale.fill_(max(float(energies.std()), 1e-8))
        coupling_scale = (float(couplings.abs().max()) if couplings is not None
                          and couplings.numel() else float(self.energy_scale))
        self.coupling_scale.fill_(max(coupling_scale, 1e-8))

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """``q [B, d]`` bohr -> ``H [B, n, n]`` Hartree."""
        x = (q - self.input_mean) / self.input_scale  # [B, d]
        diagonal = self.diabats(x) * self.energy_scale + self.energy_shift  # [B, n]
        couplings = self.couplings(x) * self.coupling_scale  # [B, n_pairs]
        return symmetric_from_elements(diagonal, couplings[..., : self.n_pairs])

    def matrix_and_gradient(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q [B, d]`` bohr -> ``(H [B, n, n] Eh, dH/dq [B, d, n, n] Eh/bohr)``, one pass."""
        x = (q - self.input_mean) / self.input_scale  # [B, d]
        tangents = torch.diag_embed(1.0 / self.input_scale).expand(q.shape[0], -1, -1)
        diagonal, d_diagonal = mlp_with_jacobian(self.diabats, x, tangents)  # [B, n], [B, d, n]
        couplings, d_couplings = mlp_with_jacobian(self.couplings, x, tangents)
        pairs = self.n_pairs
        matrix = symmetric_from_elements(diagonal * self.energy_scale + self.energy_shift,
                                         couplings[..., :pairs] * self.coupling_scale)
        gradient = symmetric_from_elements(d_diagonal * self.energy_scale,
                                           d_couplings[..., :pairs] * self.coupling_scale)
        return matrix, gradient

    @property
    def n_pairs(self) -> int:
        """Number of independent couplings ``n(n-1)/2``."""
        return self.n_states * (self.n_states - 1) // 2

    def hyperparameters(self) -> dict:
        """JSON-ready constructor arguments (stored in the model file)."""
        return {"n_states": self.n_states, "n_dim": self.n_dim, "hidden": self.hidden,
                "activation": self.activation, "mass_au": self.masses.tolist()}


class NetworkPotential:
    """A :class:`DiabaticMLP` seen as a numpy diabatic potential (atomic units).

    Args:
        module: e.g. a trained :class:`DiabaticMLP` (evaluated in float64, eval mode; the
            caller's module is not modified: a float64 copy is kept).
        chunk_size: evaluate at most this many geometries at once.
    """

    def __init__(self, module: DiabaticMLP, chunk_size: int = 65536) -> None:
        import copy

        self.module = copy.deepcopy(module).double().eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.n_states, self.n_dim = module.n_states, module.n_dim
        self.chunk_size = int(chunk_size)


    def masses_au(self) -> np.ndarray:
        """Mass per coordinate ``[d]``, electron masses."""
        return self.module.masses.numpy().copy()

    def evaluate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``q [..., d]`` bohr -> ``(H [..., n, n] Eh, dH [..., d, n, n] Eh/bohr)``."""
        q = np.asarray(q, dtype=np.float64)
        if q.shape[-1] != self.n_dim:
            raise ConfigError(f"positions must be [..., {self.n_dim}], got {q.shape}")
        flat = torch.from_numpy(q.reshape(-1, self.n_dim))  # [B, d]
        matrices, gradients = [], []
        with torch.no_grad():
            for start in range(0, max(flat.shape[0], 1), self.chunk_size):
                value, jac = self.module.matrix_and_gradient(flat[start:start + self.chunk_size])
                matrices.append(value)  # [b, n, n]
                gradients.append(jac)  # [b, d, n, n]
        n, d = self.n_states, self.n_dim
        matrix = torch.cat(matrices).numpy().reshape(q.shape[:-1] + (n, n))
        gradient = torch.cat(gradients).numpy().reshape(q.shape[:-1] + (d, n, n))
        return matrix, gradient
