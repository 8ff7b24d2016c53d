"""Stochastic cell rescaling for NPT over a batch: isotropic and per-axis (anisotropic).

The barostat is the stochastic cell rescaling of Bernetti & Bussi (J. Chem. Phys. 153,
114107 (2020)); the per-axis form is the diagonal case of its anisotropic version (Del
Tatto, Raiteri, Bernetti & Bussi, Appl. Sci. 12, 1139 (2022)). It is integrated as the
paper's Euler scheme in the log-volume ε = ln V (isotropic) or in the log-lengths
λ_a = ln|h_a| of the three cell vectors (per axis; the angles are kept), scaling positions
with the cell and momenta inversely (``r → r μ``, ``p → p μ⁻ᵀ``, ``h → h μ``):

    isotropic: dε = -(β/τ) (P0 - P) dt + sqrt(2 kT β dt / (V τ)) ξ
    per axis:  dλ_a = -(β/3τ) (P0 - P̃_aa) dt + sqrt(2 kT β dt / (3 V τ)) ξ_a

with P the instantaneous pressure (tensor: kinetic tensor and virial), P̃ = h P h⁻¹, β the
compressibility parameter and τ the time constant. Why this samples NPT: in the variables
(ε or λ, scaled positions s = r h⁻¹, scaled momenta q = p hᵀ) the Jacobian of
(V, r, p) → (ε, s, q) is V (the V^N of the positions cancels the V^-N of the momenta),
so the target density is ``exp(-(U + K + P0 V)/kT) V`` (for the per-axis form: over
dL_1 dL_2 dL_3 of the lengths at fixed angles). With the V-dependent mobility
D = kTβ/(Vτ), the Itô drift ``D' - D ∂(U + K + P0 V - kT ε)/∂ε / kT`` is exactly the
drift above (the Jacobian's -kT/V cancels D' = -D), and the update has zero probability
flux in that density. The atoms' thermostat (Langevin) leaves it invariant at fixed cell,
so the composition does too. The Euler step's error is O(dt): with a = β B Δt/τ (B the
bulk modulus, Δt the time between moves) the volume variance is too large by 1/(1 - a/2)
(0.7 % for copper with the defaults), the mean unaffected to first order.

The move needs the stress of the current positions and changes them, so
:func:`cell_rescale_step` re-evaluates the forces after scaling (one extra force call per
barostat move; with ``interval`` 10 that is 10 % more calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from ase import units

from nnpkit.errors import ConfigError
from nnpkit.md.batched_state import BatchedState, pressure_tensor, volume
from nnpkit.md.integrators import ForceField, per_replica
from nnpkit.md.noise import STREAM_BAROSTAT, NoiseSource

__all__ = ["BarostatParameters", "barostat_init", "cell_rescale_step"]

BarostatMode = Literal["isotropic", "anisotropic"]


@dataclass
class BarostatParameters:
    """Stochastic cell rescaling settings (see the module docstring).

    Attributes:
        pressure_GPa: target pressure per replica [B], GPa.
        mode: ``"isotropic"`` (one scaling factor) or ``"anisotropic"`` (the three cell
            vectors' lengths independently, angles kept).
        time_constant_fs: τ, fs.
        compressibility_per_GPa: β, 1/GPa (only β/τ matters; the volume relaxes in about
            τ · β_true/β).
        interval: MD steps between barostat moves (each move spans ``interval`` steps).
        timestep: one MD step, ASE time units.
        noise: the noise source (stream :data:`~nnpkit.md.noise.STREAM_BAROSTAT`).
    """

    pressure_GPa: torch.Tensor
    mode: BarostatMode
    time_constant_fs: float
    compressibility_per_GPa: float
    interval: int
    timestep: float
    noise: NoiseSource


def barostat_init(state: BatchedState, timestep_fs: float,
                  pressure_GPa: float | Sequence[float] | torch.Tensor,
                  noise: NoiseSource, mode: BarostatMode = "isotropic",
                  time_constant_fs: float = 500.0, compressibility_per_GPa: float = 0.01,
                  interval: int = 10) -> BarostatParameters:
    """Check the replicas and settings; the parameters for :func:`cell_rescale_step`.

    The default β (0.01/GPa) is that of a stiff solid (copper: 0.007/GPa); for liquids use
    ~0.5/GPa (water), or the volume relaxes slowly.

    Raises:
        ConfigError: a replica not periodic along all three axes (named), an unknown mode,
            τ, β or the interval out of range.
    """
    not_periodic = (~state.pbc.all(dim=1)).nonzero().flatten().tolist()
    if not_periodic:
        raise ConfigError(f"NPT needs cells periodic in all three directions; replica(s) "
                          f"{not_periodic} are not")
    if mode not in ("isotropic", "anisotropic"):
        raise ConfigError(f"unknown barostat mode {mode!r}; choose 'isotropic' or "
                          f"'anisotropic'")
    if not (time_constant_fs > 0 and compressibility_per_GPa > 0 and interval >= 1):
        raise ConfigError(f"need time_constant_fs > 0, compressibility_per_GPa > 0 and "
                          f"interval >= 1; got {time_constant_fs}, {compressibility_per_GPa}, "
                          f"{interval}")
    return BarostatParameters(
        per_replica(pressure_GPa, state.n_replicas, "pressure_GPa", state.positions.device),
        mode, float(time_constant_fs), float(compressibility_per_GPa), int(interval),
        float(timestep_fs) * units.fs, noise)


def _deformation(state: BatchedState, parameters: BarostatParameters,
                 temperature_K: torch.Tensor) -> torch.Tensor:
    """The barostat move's deformation μ per replica [B, 3, 3], float64 (``h' = h μ``)."""
    dt = parameters.interval * parameters.timestep
    tau = parameters.time_constant_fs * units.fs
    beta = parameters.compressibility_per_GPa / units.GPa  # Å³/eV
    kT = units.kB * temperature_K.double()  # [B], eV
    target = parameters.pressure_GPa * units.GPa  # [B], eV/Å³
    vol = volume(state)  # [B], Å³
    pressure = pressure_tensor(state).double()  # [B, 3, 3], eV/Å³
    cell = state.cell.double()  # [B, 3, 3]
    if parameters.mode == "isotropic":
        xi = parameters.noise.replicas(state.step, STREAM_BAROSTAT, 1, torch.float64)[:, 0]
        scalar = torch.diagonal(pressure, dim1=1, dim2=2).mean(dim=1)  # [B]
        d_epsilon = (-(beta / tau) * (target - scalar) * dt
                     + torch.sqrt(2.0 * kT * beta * dt / (vol * tau)) * xi)  # [B]
        eye = torch.eye(3, dtype=torch.float64, device=cell.device)
        return torch.exp(d_epsilon / 3.0)[:, None, None] * eye  # [B, 3, 3]
    xi = parameters.noise.replicas(state.step, STREAM_BAROSTAT, 3, torch.float64)  # [B, 3]
    inverse = torch.linalg.inv(cell)  # [B, 3, 3]
    along_axes = torch.einsum("bai,bij,bja->ba", cell, pressure, inverse)  # diag(h P h⁻¹)
    d_lambda = (-(beta / (3.0 * tau)) * (target[:, None] - along_axes) * dt
                + torch.sqrt(2.0 * kT * beta * dt / (3.0 * vol * tau))[:, None] * xi)  # [B, 3]
    stretched = torch.exp(d_lambda)[:, :, None] * cell  # rows scaled: D h, [B, 3, 3]
    return inverse @ stretched  # μ = h⁻¹ D h


def cell_rescale_step(state: BatchedState, parameters: BarostatParameters,
                      temperature_K: torch.Tensor, force_field: ForceField,
                      need_stress: bool = False) -> BatchedState:
    """One barostat move of every replica, then the forces of the moved positions.

    Uses the stress of the current step (computed first if ``state.stress`` is older).

    Args:
        state: the replicas (all fully periodic).
        parameters: from :func:`barostat_init`.
        temperature_K: the thermostat's temperature per replica [B], K.
        force_field: the force field (called once, or twice if the stress was stale).
        need_stress: compute the stress of the moved positions too.
    """
    if state.stress_step != state.step:
        force_field(state, True)
    mu = _deformation(state, parameters, temperature_K)  # [B, 3, 3]
    dtype = state.positions.dtype
    mu_inverse_t = torch.linalg.inv(mu).transpose(1, 2)  # μ⁻ᵀ, [B, 3, 3]
    state.positions = torch.einsum("ni,nij->nj", state.positions.double(),
                                   mu[state.batch]).to(dtype)  # [N, 3]
    state.momenta = torch.einsum("ni,nij->nj", state.momenta.double(),
                                 mu_inverse_t[state.batch]).to(dtype)  # [N, 3]
    state.cell = (state.cell.double() @ mu).to(dtype)  # [B, 3, 3]
    force_field(state, need_stress)
    return state
