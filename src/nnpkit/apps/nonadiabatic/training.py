"""Fitting a diabatic network: from diabatic labels, or from adiabatic data only.

With diabatic labels the loss is the mean squared error of every matrix element. The
realistic case has only adiabatic energies (and perhaps gradients) from electronic
structure: the network's matrix is diagonalised and its eigenvalues (and Hellmann–Feynman
gradients ``U_i^T ∇H U_i``) are fitted ("diabatisation by ansatz").

Adiabatic data alone do not fix the diabatic matrix: any position-dependent rotation of
it has the same eigenvalues. The ansatz supplies what is missing, here in two parts:
the structure of :class:`~nnpkit.apps.nonadiabatic.networks.DiabaticMLP` (smooth diabats
and couplings from separate networks), and a smoothness penalty on the diabats (their
mean squared second derivative, by central differences at the training points, relative
to the energy scale) that makes the fitted diabats cross where the adiabats avoid each
other instead of following the adiabats' sharp bends. Its weight ``smoothness_weight`` is
the knob of the ansatz. All losses are in units of the data's energy scale.

Nonadiabatic couplings remove the ambiguity: with reference NACs ``d_ij`` (any sign per
geometry, as electronic-structure codes give them) the network's gap-scaled couplings
``h_ij = U_i^T ∇H U_j`` are fitted to ``d_ij (E_j - E_i)`` by the phase-free loss of
:mod:`nnpkit.apps.nonadiabatic.adiabatic_loss`, weighted by ``coupling_weight``. Where the
couplings form one connected region (Tully 1 and 3) the adiabatic data then fix the
diabatic matrix up to a constant rotation, which changes no observable; the relative sign
of separated coupling regions stays open (see :mod:`~nnpkit.apps.nonadiabatic.
adiabatic_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from nnpkit.apps.nonadiabatic.adiabatic_loss import (
    adiabatic_from_diabatic,
    gap_scaled_couplings,
    phase_free_coupling_loss,
)
from nnpkit.apps.nonadiabatic.networks import DiabaticMLP
from nnpkit.errors import ConfigError, DataError, TrainingError

__all__ = ["DiabaticTrainingConfig", "DiabaticData", "FitResult", "fit_diabatic_mlp"]


class DiabaticTrainingConfig(BaseModel):
    """Hyperparameters of fitting a :class:`DiabaticMLP`."""

    model_config = ConfigDict(extra="forbid")

    labels: Literal["diabatic", "adiabatic"] = Field(
        "adiabatic", description="Fit diabatic matrix elements or adiabatic energies.")
    hidden: list[int] = Field([32, 32], description="Hidden widths of each network.")
    activation: Literal["tanh", "silu", "softplus", "celu"] = Field(
        "tanh", description="Smooth activation.")
    epochs: int = Field(4000, ge=1, description="Full-batch Adam iterations.")
    lbfgs_steps: int = Field(
        200, ge=0, description="L-BFGS iterations after Adam (polishes to high accuracy).")
    learning_rate: float = Field(5e-3, gt=0, description="Initial Adam learning rate.")
    gradient_weight: float = Field(
        0.0, ge=0, description="Weight of adiabatic-gradient errors (bohr² · loss units).")
    coupling_weight: float = Field(
        0.0, ge=0, description="Weight of the phase-free error of the gap-scaled couplings "
                               "d_ij (E_j - E_i) (bohr² · loss units).")
    smoothness_weight: float = Field(
        1e-3, ge=0, description="Ansatz: weight of the diabats' squared curvature.")
    curvature_step_bohr: float = Field(0.05, gt=0, description="Step of the curvature stencil.")
    seed: int = Field(0, description="Seed of the weight initialisation.")
    progress: bool = Field(False, description="Show a tqdm progress bar.")


@dataclass(frozen=True)
class DiabaticData:
    """Training data at ``N`` geometries of ``d`` coordinates, ``n`` states (atomic units).

    Attributes:
        positions: ``[N, d]`` bohr.
        energies: ``[N, n]`` ascending adiabatic energies, Hartree (or None).
        gradients: ``[N, d, n]`` adiabatic gradients, Hartree/bohr (or None).
        diabatic: ``[N, n, n]`` diabatic matrices, Hartree (or None).
        couplings: ``[N, d, P]`` nonadiabatic couplings ``d_ij = <i|∂j/∂q>`` of the pairs
            ``i < j`` (``(0,1), (0,2), ..., (1,2), ...``), 1/bohr, any sign per geometry
            and pair (or None).
    """

    positions: np.ndarray
    energies: np.ndarray | None = None
    gradients: np.ndarray | None = None
    diabatic: np.ndarray | None = None
    couplings: np.ndarray | None = None

    def check(self, labels: str) -> None:
        """Raise :class:`DataError` naming the missing or misshapen array."""
        n_samples = self.positions.shape[0]
        needed = {"diabatic": self.diabatic, "adiabatic": self.energies}[labels]
        if needed is None:
            raise DataError(f"labels={labels!r} needs the "
                            f"{'diabatic' if labels == 'diabatic' else 'energies'} array")
        for name in ("energies", "gradients", "diabatic", "couplings"):
            value = getattr(self, name)
            if value is not None and (value.shape[0] != n_samples or
                                      not np.all(np.isfinite(value))):
                raise DataError(f"{name}: needs {n_samples} finite rows, got shape "
                                f"{value.shape}")
        n_states = needed.shape[-1]
        n_dim, n_pairs = self.positions.shape[1], n_states * (n_states - 1) // 2
        expected = {"energies": (n_samples, n_states), "gradients": (n_samples, n_dim, n_states),
                    "diabatic": (n_samples, n_states, n_states),
                    "couplings": (n_samples, n_dim, n_pairs)}
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise DataError(f"{name}: expected shape {shape}, got {value.shape}")

    def reference_energies(self) -> np.ndarray:
        """``[N, n]`` adiabatic energies: given, or the eigenvalues of the diabatic labels."""
        if self.energies is not None:
            return self.energies
        return np.linalg.eigvalsh(np.asarray(self.diabatic))


@dataclass
class FitResult:
    """A trained network and its training record (errors in Hartree)."""

    model: DiabaticMLP
    energy_rmse_au: float
    diabatic_rmse_au: float | None
    coupling_rmse_au: float | None = None
    """Phase-free RMSE of ``h_ij = d_ij (E_j - E_i)``, Hartree/bohr (when NACs are given)."""
    history: list[float] = field(default_factory=list)


def _curvature(model: DiabaticMLP, q: torch.Tensor, step: float) -> torch.Tensor:
    """Mean squared second derivative of the diabats along every axis, ``[]``."""
    total = q.new_zeros(())
    centre = torch.diagonal(model(q), dim1=-2, dim2=-1)  # [N, n]
    for axis in range(q.shape[1]):
        shift = torch.zeros_like(q)
        shift[:, axis] = step
        plus = torch.diagonal(model(q + shift), dim1=-2, dim2=-1)
        minus = torch.diagonal(model(q - shift), dim1=-2, dim2=-1)
        total = total + torch.mean(((plus - 2.0 * centre + minus) / step**2) ** 2)
    return total


def _adiabatic(model: DiabaticMLP, q: torch.Tensor, with_derivatives: bool
               ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Energies ``[N, n]``, and if asked gradients ``[N, d, n]`` and ``h`` ``[N, d, P]``."""
    if not with_derivatives:
        return torch.linalg.eigvalsh(model(q)), None, None
    return adiabatic_from_diabatic(*model.matrix_and_gradient(q))


def fit_diabatic_mlp(data: DiabaticData, config: DiabaticTrainingConfig | None = None,
                     mass_au: float | list[float] = 2000.0) -> FitResult:
    """Train a :class:`DiabaticMLP` (float64, full batch) on ``data``.

    Returns:
        :class:`FitResult` with the RMSE of the adiabatic energies (and of the diabatic
        elements when diabatic labels are given) on the training points.

    Raises:
        DataError: missing or malformed labels. TrainingError: the loss became NaN.
    """
    config = config or DiabaticTrainingConfig()
    data.check(config.labels)
    torch.manual_seed(config.seed)
    q = torch.as_tensor(data.positions, dtype=torch.float64)  # [N, d]
    reference = data.diabatic if config.labels == "diabatic" else data.energies
    assert reference is not None
    n_states = reference.shape[-1]
    model = DiabaticMLP(n_states, q.shape[1], config.hidden, config.activation,
                        mass_au).double()
    target = torch.as_tensor(reference, dtype=torch.float64)
    if config.labels == "diabatic":
        rows, cols = torch.triu_indices(n_states, n_states, offset=1)
        diagonals = torch.diagonal(target, dim1=-2, dim2=-1)  # [N, n]
        model.fit_normalization(q, diagonals, target[:, rows, cols])
        # every element in units of its own scale: small diabatic gaps are fitted as
        # accurately as large couplings
        element_scale = torch.full((n_states, n_states), float(model.coupling_scale),
                                   dtype=torch.float64)
        element_scale.fill_diagonal_(float(model.energy_scale))
    else:
        model.fit_normalization(q, target)
        element_scale = torch.full((n_states, n_states), float(model.energy_scale),
                                   dtype=torch.float64)
    scale2 = float(model.energy_scale) ** 2
    use_gradients = config.gradient_weight > 0 and data.gradients is not None
    if config.gradient_weight > 0 and data.gradients is None:
        raise ConfigError("gradient_weight > 0 but the data carry no gradients")
    if config.coupling_weight > 0 and data.couplings is None:
        raise ConfigError("coupling_weight > 0 but the data carry no couplings (NACs)")
    use_couplings = config.coupling_weight > 0
    target_gradients = (torch.as_tensor(data.gradients, dtype=torch.float64)
                        if use_gradients else None)
    reference_energies = torch.as_tensor(data.reference_energies(), dtype=torch.float64)
    target_couplings = (None if data.couplings is None else gap_scaled_couplings(
        torch.as_tensor(data.couplings, dtype=torch.float64), reference_energies))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs,
                                                          config.learning_rate * 0.01)
    def objective() -> torch.Tensor:
        couplings = None
        if config.labels == "diabatic":
            loss = torch.mean(((model(q) - target) / element_scale) ** 2)
            if use_couplings:
                _, _, couplings = _adiabatic(model, q, True)
        else:
            energies, gradients, couplings = _adiabatic(model, q,
                                                        use_gradients or use_couplings)
            loss = torch.mean((energies - target) ** 2) / scale2
            if use_gradients and gradients is not None and target_gradients is not None:
                loss = loss + config.gradient_weight * torch.mean(
                    (gradients - target_gradients) ** 2) / scale2
        if couplings is not None and target_couplings is not None:
            loss = loss + config.coupling_weight * phase_free_coupling_loss(
                couplings, target_couplings) / scale2
        if config.smoothness_weight > 0:
            loss = loss + config.smoothness_weight * _curvature(
                model, q, config.curvature_step_bohr) / scale2
        return loss

    history: list[float] = []
    for epoch in tqdm(range(config.epochs), disable=not config.progress, desc="fit"):
        optimizer.zero_grad()
        loss = objective()
        if not torch.isfinite(loss):
            raise TrainingError(f"diabatic fit: loss is {float(loss)} at epoch {epoch}")
        loss.backward()
        optimizer.step()
        schedule.step()
        if epoch % 50 == 0 or epoch == config.epochs - 1:
            history.append(float(loss.detach()))
    if config.lbfgs_steps:
        polish = torch.optim.LBFGS(model.parameters(), max_iter=config.lbfgs_steps,
                                   line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                   tolerance_change=1e-15, history_size=50)

        def closure() -> torch.Tensor:
            polish.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        polish.step(closure)
        final = float(objective().detach())
        if not np.isfinite(final):
            raise TrainingError("diabatic fit: loss became NaN during L-BFGS")
        history.append(final)
    model.eval()
    with torch.no_grad():
        matrix = model(q)
        fitted, _, couplings = _adiabatic(model, q, target_couplings is not None)
    energy_rmse = float(torch.sqrt(torch.mean((fitted - reference_energies) ** 2)))
    diabatic_rmse = (float(np.sqrt(np.mean((matrix.numpy() - data.diabatic) ** 2)))
                     if data.diabatic is not None else None)
    coupling_rmse = (None if couplings is None or target_couplings is None else float(
        torch.sqrt(phase_free_coupling_loss(couplings, target_couplings).clamp_min(0.0)
                   / q.shape[1])))
    return FitResult(model, energy_rmse, diabatic_rmse, coupling_rmse, history)
