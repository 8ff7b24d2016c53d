"""Hertz contact of a rigid sphere on a crystal: the effective modulus and the load law.

A rigid sphere of radius R pressed to a depth d into an elastic half-space carries the
load ``P = (4/3) E* √R d^{3/2}`` (Hertz), with ``E* = E/(1 − ν²)`` for an isotropic solid.
For a crystal two values of the modulus are given by :func:`indentation_modulus_GPa`:

* **Hill**: the isotropic Hill average (mean of the Voigt and Reuss bounds) of the 6×6
  stiffness gives E and ν, then E* = E/(1 − ν²).
* **Vlassak–Nix** (J. Mech. Phys. Solids 42, 1223 (1994); in the form of Vlassak,
  Ciavarella, Barber & Wang, JMPS 51, 1701 (2003)): with the contact taken as circular, the
  indentation modulus of the anisotropic half-space whose surface normal is the z axis of C's
  frame is ``M = 4π / ∮ [L⁻¹(θ)]_zz dθ``, where L(θ) is the Barnett–Lothe tensor of the
  in-plane direction θ: ``L = −(1/π) ∫_0^π (R T⁻¹ Rᵀ − Q) dψ`` over the rotated pair
  (n(ψ), m(ψ)), with Q = (nn), R = (nm), T = (mm) and (ab)_ik = a_j C_ijkl b_l.
  ``[L⁻¹]_zz/k`` is the in-phase normal compliance of a surface traction wave of wavenumber
  k along θ, so M reduces to E/(1 − ν²) for an isotropic solid (exactly, checked in the
  tests) and is exact for any symmetry within the circular-contact approximation. Both
  integrands are smooth and periodic, so the midpoint rule used here converges
  exponentially. For fcc(100) pass C in the cubic frame ([100], [010], [001]).

Units: moduli GPa, lengths Å, loads eV/Å (1 eV/Å³ = 160.21766208 GPa).
"""

from __future__ import annotations

import numpy as np

from nnpkit.errors import ConfigError, DataError
from nnpkit.paths.moduli import elastic_moduli
from nnpkit.paths.voigt import voigt_to_tensor
from nnpkit.units import EV_PER_A3_TO_GPA

__all__ = ["indentation_modulus_GPa", "vlassak_nix_modulus_GPa", "hertz_load_eV_per_A",
           "fit_hertz"]

def _check_stiffness(stiffness_GPa: np.ndarray) -> np.ndarray:
    c = np.array(stiffness_GPa, dtype=np.float64)  # copy: [6, 6]
    if c.shape != (6, 6) or not np.all(np.isfinite(c)):
        raise DataError(f"stiffness_GPa must be a finite 6×6 matrix, got shape {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-6, atol=1e-9 * np.abs(c).max()):
        raise DataError("stiffness_GPa is not symmetric")
    if np.linalg.eigvalsh(0.5 * (c + c.T)).min() <= 0.0:
        raise DataError("stiffness_GPa is not positive definite (the crystal is unstable)")
    return 0.5 * (c + c.T)


def vlassak_nix_modulus_GPa(stiffness_GPa: np.ndarray, n_angles: int = 96) -> float:
    """The Vlassak–Nix indentation modulus M (GPa) of the surface normal to z of C's frame,
    ``M = 4π / ∮ [L⁻¹(θ)]_zz dθ`` (module docstring); ``n_angles`` midpoint nodes in θ and ψ."""
    c4 = voigt_to_tensor(_check_stiffness(stiffness_GPa))
    if n_angles < 8:
        raise ConfigError(f"n_angles must be >= 8, got {n_angles}")
    nodes = (np.arange(n_angles) + 0.5) * np.pi / n_angles  # [k], midpoints of [0, π)
    theta = nodes[:, None]  # [k, 1] in-plane direction of the wave
    psi = nodes[None, :]  # [1, k] rotation in the plane of n(θ) and the normal
    zeros = np.zeros_like(theta + psi)
    n0 = np.stack([np.cos(theta) + zeros, np.sin(theta) + zeros, zeros], axis=-1)  # [k, k, 3]
    m0 = np.broadcast_to(np.array([0.0, 0.0, 1.0]), n0.shape)  # [k, k, 3]
    n = np.cos(psi)[..., None] * n0 + np.sin(psi)[..., None] * m0  # [k, k, 3]
    m = -np.sin(psi)[..., None] * n0 + np.cos(psi)[..., None] * m0  # [k, k, 3]
    q = np.einsum("abi,ijkl,abl->abjk", n, c4, n)  # [k, k, 3, 3]
    r = np.einsum("abi,ijkl,abl->abjk", n, c4, m)  # [k, k, 3, 3]
    t = np.einsum("abi,ijkl,abl->abjk", m, c4, m)  # [k, k, 3, 3]
    r_tinv_rt = r @ np.linalg.solve(t, np.swapaxes(r, -1, -2))  # [k, k, 3, 3]
    barnett_lothe = -(r_tinv_rt - q).mean(axis=1)  # [k, 3, 3]: L(θ) = −(1/π)∫_0^π … dψ
    compliance_zz = np.linalg.inv(barnett_lothe)[:, 2, 2]  # [k], GPa⁻¹
    # ∮ over [0, 2π) = 2π × the mean over [0, π) (L(θ + π) = L(θ)).
    return float(2.0 / compliance_zz.mean())


def indentation_modulus_GPa(stiffness_GPa: np.ndarray) -> dict[str, float]:
    """Effective modulus of a rigid sphere on the crystal of stiffness ``stiffness_GPa``
    ([6, 6] Voigt, GPa, order xx yy zz yz xz xy, not modified).

    Hill: E and ν from the Voigt–Reuss–Hill averages of
    :func:`nnpkit.paths.moduli.elastic_moduli`, E* = E/(1 − ν²).
    Vlassak–Nix: computed for the surface normal to z of C's frame (any symmetry; for a cubic
    (100) surface pass C in the cube frame), see :func:`vlassak_nix_modulus_GPa`.

    Returns: ``youngs_modulus_GPa``, ``poisson_ratio``, ``effective_modulus_GPa`` (Hill E*),
    ``bulk_modulus_GPa``, ``shear_modulus_GPa`` (Hill), ``voigt_shear_modulus_GPa``,
    ``reuss_shear_modulus_GPa``, ``vlassak_nix_modulus_GPa``.
    """
    c = _check_stiffness(stiffness_GPa)
    moduli = elastic_moduli(c)
    youngs, poisson = moduli["youngs_modulus_GPa"], moduli["poisson_ratio"]
    return {
        "youngs_modulus_GPa": youngs,
        "poisson_ratio": poisson,
        "effective_modulus_GPa": float(youngs / (1.0 - poisson ** 2)),
        "bulk_modulus_GPa": moduli["bulk_modulus_hill_GPa"],
        "shear_modulus_GPa": moduli["shear_modulus_hill_GPa"],
        "voigt_shear_modulus_GPa": moduli["shear_modulus_voigt_GPa"],
        "reuss_shear_modulus_GPa": moduli["shear_modulus_reuss_GPa"],
        "vlassak_nix_modulus_GPa": vlassak_nix_modulus_GPa(c),
    }


def _check_radius(radius_A: float) -> float:
    if not (np.isfinite(radius_A) and radius_A > 0):
        raise ConfigError(f"hertz: radius_A must be > 0, got {radius_A!r}")
    return float(radius_A)


def hertz_load_eV_per_A(depth_A: np.ndarray, radius_A: float,
                        effective_modulus_GPa: float) -> np.ndarray:
    """P = (4/3) E* √R d^{3/2} in eV/Å (1 eV/Å³ = 160.21766208 GPa); ``depth_A`` [n] Å, a
    negative depth (no contact) gives 0."""
    radius = _check_radius(radius_A)
    depth = np.clip(np.asarray(depth_A, dtype=np.float64), 0.0, None)  # [n]
    modulus_eV_per_A3 = float(effective_modulus_GPa) / EV_PER_A3_TO_GPA
    return 4.0 / 3.0 * modulus_eV_per_A3 * np.sqrt(radius) * depth ** 1.5


def fit_hertz(depth_A: np.ndarray, load_eV_per_A: np.ndarray, radius_A: float,
              max_depth_A: float) -> dict[str, float]:
    """Least-squares fit of P = c·d^{3/2} over 0 < d ≤ max_depth_A.

    ``depth_A``, ``load_eV_per_A``: [n] (not modified). Returns ``coefficient_eV_per_A5_2``
    (c, eV/Å^{5/2}), ``effective_modulus_GPa`` (c = (4/3) E* √R), ``n_points``,
    ``rms_relative_residual`` (rms(P − c d^{3/2}) / rms(P) over the points) and ``exponent``,
    the slope of the free power-law fit of log P against log d over the points with P > 0
    (≈ 1.5 for a Hertzian contact; NaN with fewer than two such points).
    """
    radius = _check_radius(radius_A)
    depth = np.asarray(depth_A, dtype=np.float64).ravel()
    load = np.asarray(load_eV_per_A, dtype=np.float64).ravel()
    if depth.shape != load.shape:
        raise DataError(f"fit_hertz: {depth.size} depths but {load.size} loads")
    if not (np.all(np.isfinite(depth)) and np.all(np.isfinite(load))):
        raise DataError("fit_hertz: depths and loads must be finite")
    chosen = (depth > 0.0) & (depth <= max_depth_A)
    if not chosen.any():
        raise DataError(f"fit_hertz: no depth in (0, {max_depth_A}] Å to fit")
    d, p = depth[chosen], load[chosen]
    basis = d ** 1.5  # [k]
    coefficient = float(basis @ p / (basis @ basis))
    residual = p - coefficient * basis
    scale = np.sqrt(np.mean(p ** 2))
    positive = p > 0.0
    exponent = (float(np.polyfit(np.log(d[positive]), np.log(p[positive]), 1)[0])
                if np.count_nonzero(positive) >= 2 else float("nan"))
    return {
        "coefficient_eV_per_A5_2": coefficient,
        "effective_modulus_GPa": coefficient * 0.75 / np.sqrt(radius) * EV_PER_A3_TO_GPA,
        "n_points": int(chosen.sum()),
        "rms_relative_residual": float(np.sqrt(np.mean(residual ** 2)) / scale)
        if scale > 0 else float("nan"),
        "exponent": exponent,
    }
