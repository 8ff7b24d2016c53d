r"""Ghost forces of atomistic/continuum couplings on a 1D next-nearest-neighbour chain.

The one-dimensional model on which the 3D couplings of :mod:`nnpkit.apps.multiscale` are
verified, with every ghost force derived in closed form.

**Model.** Sites ``X_i = i a`` (i = 0..N-1), deformed positions ``y`` (Å), kept ordered so
the bond lengths are ``y_j - y_i`` (j > i). The atomistic site energy counts nearest (NN)
and next-nearest (NNN) neighbours, ``E_i = ½ Σ_{0<|j-i|≤2} φ(|y_j - y_i|)``; the Cauchy–Born
density per reference length is ``W(F) = [φ(Fa) + φ(2Fa)] / a`` and the continuum is P1
finite elements with a node on every site: element ``e = [e, e+1]`` has ``F_e =
(y_{e+1} - y_e)/a`` and energy ``a W(F_e) = φ(r_e) + φ(2 r_e)``, ``r_e = y_{e+1} - y_e``.
A blending function ``w`` (0 atomistic, 1 continuum) rises left to right: sites
``0..n_a-1`` have ``w = 0``; with width L sites, ``w_{n_a-1+m} = s(m/L)`` (m = 0..L), where s
is the quintic smoothstep ``6t⁵ - 15t⁴ + 10t³`` (C², the default) or the septic one
``-20t⁷ + 70t⁶ - 84t⁵ + 35t⁴`` (C³). The two outermost sites at each end (one interaction
range) are clamped at ``y = F X``; ghost forces are the forces on the free sites there.

* ``bqce``: ``E = Σ_i (1 - w_i) E_i + Σ_e w̄_e a W(F_e)`` with ``w̄_e = (w_e + w_{e+1})/2``,
  the element-midpoint value of the P1 interpolant of w. This choice counts every NN bond
  exactly once: its atomistic weight ``1 - (w_e + w_{e+1})/2`` plus ``w̄_e`` is 1.
* ``sharp`` (QCE): the same energy with the step ``w_i = [i ≥ n_a]``; this is
  ``Σ_{i<n_a} E_i + Σ_{i≥n_a} ½ a [W(F_{i-½}) + W(F_{i+½})]``: the interface lies between
  site n_a-1 (last atomistic) and n_a (first continuum) and its element counts one half.
* ``bqcf``: ``f_i = (1 - w_i) f_i^atom + w_i f_i^cont``, the forces of ``Σ_i E_i`` and of
  ``Σ_e a W(F_e)``; no energy.

**Ghost forces of the energy couplings (exact).** At ``y = F X`` every NN bond has length
``Fa`` and every NNN bond ``2Fa``. The NN bonds are counted once, so only NNN terms remain:
``Σ_i c_i φ(y_{i+2} - y_i) + Σ_e w̄_e φ(2 r_e)`` with ``c_i = 1 - (w_i + w_{i+2})/2``. With
``φ₂' = φ'(2Fa)``, ``∂E/∂y_k = φ₂' [c_{k-2} - c_k + 2 w̄_{k-1} - 2 w̄_k]``, hence

    f_k = φ₂' [ (w_{k+1} - w_{k-1}) - (w_{k+2} - w_{k-2}) / 2 ]          (exact, any w, any F)

For the step (sharp QCE) this gives ``(-½, +½, +½, -½) φ'(2Fa)`` on sites
``n_a-2, n_a-1, n_a, n_a+1`` (positive towards the continuum) and zero elsewhere: the
classical result. Its partial sums are ``G_k = Σ_{j≤k} f_j = -(φ₂'/2) [(w_{k+2} - w_{k+1})
- (w_k - w_{k-1})]``, so ``f`` is the discrete divergence of a "ghost stress" G (eV/Å in 1D).

**Decay with the blending width.** Taylor expansion in the site index (``w = s(·/L)``):
``G ≈ -φ₂' w''`` and ``f ≈ -φ₂' w'''``. Exactly, ``f_k = -φ₂' ∫ K(k - t) w'''(t) dt`` with a
kernel ``K ≥ 0`` of unit mass on [-2, 2], so ``|f_k| ≤ φ₂' max|s'''| / L³``. Therefore

    max|G| ≈ φ'(2Fa) max|s''| / L²   (W^{-1,∞} norm: rate L⁻², relative error O(L⁻²)),
    max|f| ≈ φ'(2Fa) max|s'''| / L³  (pointwise: rate L⁻³).

The pointwise rate is L⁻³, not L⁻², because the ghost force is a divergence of a stress of
order ``a² w''``. For the quintic, ``s'''`` jumps from 0 to 60 at the blend ends, which the
stencil smears: ``max|f| L³ / (60 φ₂')`` approaches 1 only as 1 - O(1/L) (0.73 at L = 32,
apparent slope ≈ -2.7 over L = 8..64); the septic has ``s''' = 0`` at its ends, takes
``max|s'''| = 52.5`` at t = ½ and reaches it to 1.2 % at L = 32. ``max|s''|`` is ``10/√3``
(quintic) and 7.513 (septic); max|G| is within 1 % of its prediction at L = 32 for both.

**BQCF.** At ``y = F X`` the atomistic force vanishes on every site with two neighbours on
each side and the continuum force on every interior node, so every free site has zero force.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.polynomial import Polynomial
from scipy.optimize import brentq

from nnpkit.errors import ConfigError, DataError

__all__ = [
    "BLENDING_POLYNOMIALS",
    "COUPLINGS",
    "N_CLAMPED_SITES",
    "MorsePair",
    "blending_weights",
    "blended_ghost_force_analytic",
    "blending_derivative_maxima",
    "chain_ghost_forces",
    "coupled_energy",
    "coupled_forces",
    "bqcf_forces",
    "ghost_force_decay",
    "sharp_ghost_force_analytic",
]

COUPLINGS = ("sharp", "bqce", "bqcf")
#: Clamped sites at each end: the interaction range (NNN) in sites.
N_CLAMPED_SITES = 2
#: Smoothstep coefficients (increasing powers of t): quintic (C²) and septic (C³).
BLENDING_POLYNOMIALS = {"quintic": (0.0, 0.0, 0.0, 10.0, -15.0, 6.0),
                        "septic": (0.0, 0.0, 0.0, 0.0, 35.0, -84.0, 70.0, -20.0)}


@dataclass(frozen=True)
class MorsePair:
    """Morse pair ``φ(r) = D[(1 - e^{-α(r - r0)})² - 1]`` (eV); Girifalco–Weizer Cu defaults."""

    depth_eV: float = 0.3429
    alpha_per_A: float = 1.3588
    r0_A: float = 2.866

    def energy(self, r_A: npt.ArrayLike) -> np.ndarray:
        """φ(r), eV; same shape as ``r_A`` (real or complex, for complex-step checks)."""
        decay = np.exp(-self.alpha_per_A * (np.asarray(r_A) - self.r0_A))
        return self.depth_eV * ((1.0 - decay) ** 2 - 1.0)

    def derivative(self, r_A: npt.ArrayLike) -> np.ndarray:
        """φ'(r), eV/Å; same shape as ``r_A``."""
        decay = np.exp(-self.alpha_per_A * (np.asarray(r_A) - self.r0_A))
        return 2.0 * self.depth_eV * self.alpha_per_A * decay * (1.0 - decay)

    def chain_spacing_A(self) -> float:
        """Equilibrium spacing a of the NNN chain: the root of ``φ'(a) + 2φ'(2a) = 0``, Å."""
        def stress(a: float) -> float:
            return float(self.derivative(a) + 2.0 * self.derivative(2.0 * a))
        return float(brentq(stress, 0.5 * self.r0_A, self.r0_A, xtol=1e-15, rtol=1e-15))


def _smoothstep(blending: str) -> Polynomial:
    if blending not in BLENDING_POLYNOMIALS:
        raise ConfigError(f"blending {blending!r} is not one of {sorted(BLENDING_POLYNOMIALS)}")
    return Polynomial(BLENDING_POLYNOMIALS[blending])


def blending_derivative_maxima(blending: str = "quintic") -> tuple[float, float]:
    """``(max|s''|, max|s'''|)`` on [0, 1] of the smoothstep, from its critical points."""
    step = _smoothstep(blending)
    maxima = []
    for order in (2, 3):
        derivative = step.deriv(order)
        roots = np.asarray(derivative.deriv().roots(), dtype=complex)  # critical points
        inside = roots[(np.abs(roots.imag) < 1e-12) & (roots.real >= 0) & (roots.real <= 1)]
        candidates = np.concatenate([[0.0, 1.0], inside.real])
        maxima.append(float(np.max(np.abs(derivative(candidates)))))
    return maxima[0], maxima[1]


def blending_weights(n_sites: int, n_atomistic: int, blend_width_sites: int,
                     blending: str = "quintic") -> np.ndarray:
    """w per site, [n_sites]: 0 on sites < n_atomistic, ``s(m/L)`` on site n_atomistic-1+m."""
    if blend_width_sites < 1:
        raise ConfigError(f"blend_width_sites must be >= 1, got {blend_width_sites}")
    offset = (np.arange(n_sites) - (n_atomistic - 1)) / blend_width_sites  # [n_sites]
    return _smoothstep(blending)(np.clip(offset, 0.0, 1.0))


def _bond_lengths(positions_A: np.ndarray, offset: int) -> np.ndarray:
    lengths = positions_A[offset:] - positions_A[:-offset]  # [n_sites - offset]
    if np.any(np.real(lengths) <= 0):
        raise DataError("the chain is not ordered: a bond length y_j - y_i (j > i) is <= 0")
    return lengths


def coupled_energy(positions_A: np.ndarray, weights: np.ndarray, pair: MorsePair) -> complex:
    """BQCE energy ``Σ (1 - w_i) E_i + Σ_e w̄_e a W(F_e)``, eV; positions and weights [N].

    ``weights`` = 0 everywhere gives the atomistic energy, a step gives sharp QCE.
    """
    site = np.zeros(len(positions_A), dtype=np.result_type(positions_A, float))  # [N]
    for offset in (1, 2):
        bond = pair.energy(_bond_lengths(positions_A, offset))
        site[offset:] += 0.5 * bond
        site[:-offset] += 0.5 * bond
    stretch = _bond_lengths(positions_A, 1)  # [N - 1]
    element = pair.energy(stretch) + pair.energy(2.0 * stretch)
    element_weights = 0.5 * (weights[1:] + weights[:-1])  # [N - 1]
    return np.sum((1.0 - weights) * site) + np.sum(element_weights * element)


def coupled_forces(positions_A: np.ndarray, weights: np.ndarray, pair: MorsePair) -> np.ndarray:
    """``-∂E/∂y`` of :func:`coupled_energy`, eV/Å, [N] (hand-assembled chain rule)."""
    gradient = np.zeros(len(positions_A))  # [N]
    for offset in (1, 2):
        bond_weight = 1.0 - 0.5 * (weights[offset:] + weights[:-offset])
        slope = bond_weight * pair.derivative(_bond_lengths(positions_A, offset))
        gradient[offset:] += slope
        gradient[:-offset] -= slope
    stretch = _bond_lengths(positions_A, 1)
    slope = 0.5 * (weights[1:] + weights[:-1]) * (
        pair.derivative(stretch) + 2.0 * pair.derivative(2.0 * stretch))
    gradient[1:] += slope
    gradient[:-1] -= slope
    return -gradient


def bqcf_forces(positions_A: np.ndarray, weights: np.ndarray, pair: MorsePair) -> np.ndarray:
    """``(1 - w_i) f_i^atom + w_i f_i^cont``, eV/Å, [N]."""
    atomistic = coupled_forces(positions_A, np.zeros_like(weights), pair)
    continuum = coupled_forces(positions_A, np.ones_like(weights), pair)
    return (1.0 - weights) * atomistic + weights * continuum


def _check_geometry(n_sites: int, n_atomistic: int, blend_width_sites: int) -> None:
    # The ghost-force support is sites n_a-2 .. n_a+L; keep one free site of margin each side.
    if n_atomistic - 2 <= N_CLAMPED_SITES or n_atomistic + blend_width_sites >= (
            n_sites - N_CLAMPED_SITES - 1):
        raise ConfigError(
            f"n_sites={n_sites}, n_atomistic={n_atomistic}, blend_width_sites={blend_width_sites}: "
            f"the blending region touches the {N_CLAMPED_SITES} clamped sites at an end")


def chain_ghost_forces(coupling: str, n_sites: int, stretch: float, blend_width_sites: int,
                       pair: MorsePair, *, n_atomistic: int | None = None,
                       spacing_A: float | None = None, blending: str = "quintic") -> np.ndarray:
    """Forces on the sites at the uniform state ``y = F X``, eV/Å, [n_sites].

    ``coupling`` is one of :data:`COUPLINGS` ("sharp" ignores ``blend_width_sites``);
    ``stretch`` is F; ``n_atomistic`` (default: centres the blend) is the number of w = 0
    sites; ``spacing_A`` defaults to :meth:`MorsePair.chain_spacing_A`. Clamped sites read 0.
    """
    if coupling not in COUPLINGS:
        raise ConfigError(f"coupling {coupling!r} is not one of {list(COUPLINGS)}")
    width = 1 if coupling == "sharp" else blend_width_sites
    if n_atomistic is None:
        n_atomistic = (n_sites - width) // 2 + 1
    _check_geometry(n_sites, n_atomistic, width)
    spacing = pair.chain_spacing_A() if spacing_A is None else spacing_A
    positions = stretch * spacing * np.arange(n_sites, dtype=float)  # [n_sites]
    weights = blending_weights(n_sites, n_atomistic, width, blending)
    if coupling == "bqcf":
        forces = bqcf_forces(positions, weights, pair)
    else:
        forces = coupled_forces(positions, weights, pair)
    forces[:N_CLAMPED_SITES] = 0.0
    forces[-N_CLAMPED_SITES:] = 0.0
    return forces


def sharp_ghost_force_analytic(pair: MorsePair, stretch: float, spacing_A: float) -> np.ndarray:
    """Sharp-QCE ghost forces ``φ'(2Fa) (-½, ½, ½, -½)``, eV/Å, [4], on sites n_a-2 .. n_a+1."""
    return pair.derivative(2.0 * stretch * spacing_A) * np.array([-0.5, 0.5, 0.5, -0.5])


def blended_ghost_force_analytic(weights: np.ndarray, pair: MorsePair, stretch: float,
                                 spacing_A: float) -> np.ndarray:
    """``φ'(2Fa)[(w_{k+1} - w_{k-1}) - (w_{k+2} - w_{k-2})/2]``, eV/Å, [N] (0 on 2 end sites)."""
    forces = np.zeros(len(weights))  # [N]
    forces[2:-2] = (weights[3:-1] - weights[1:-3]) - 0.5 * (weights[4:] - weights[:-4])
    return pair.derivative(2.0 * stretch * spacing_A) * forces


def ghost_force_decay(pair: MorsePair, widths: list[int], stretch: float = 1.0, *,
                      blending: str = "quintic", margin_sites: int = 8) -> dict:
    """BQCE ghost forces against the blending width L (sites), with fitted log-log slopes.

    Returns lists over ``widths``: ``max_ghost_force_eV_per_A`` (max_k |f_k|) and
    ``max_ghost_stress_eV_per_A`` (max_k |Σ_{j≤k} f_j|, the W^{-1,∞} norm), their
    predictions ``φ'(2Fa) max|s'''|/L³`` and ``φ'(2Fa) max|s''|/L²``, and the slopes of
    least-squares fits of log(max) on log(L) (``slope_force``, ``slope_stress``).
    """
    spacing = pair.chain_spacing_A()
    nnn_slope = float(pair.derivative(2.0 * stretch * spacing))
    second, third = blending_derivative_maxima(blending)
    forces_max, stress_max = [], []
    for width in widths:
        n_sites = width + 2 * (margin_sites + N_CLAMPED_SITES)
        forces = chain_ghost_forces("bqce", n_sites, stretch, width, pair,
                                    spacing_A=spacing, blending=blending)
        forces_max.append(float(np.max(np.abs(forces))))
        stress_max.append(float(np.max(np.abs(np.cumsum(forces)))))
    log_widths = np.log(np.asarray(widths, dtype=float))
    return {
        "widths_sites": list(widths), "stretch": stretch, "blending": blending,
        "spacing_A": spacing, "nnn_pair_derivative_eV_per_A": nnn_slope,
        "max_ghost_force_eV_per_A": forces_max, "max_ghost_stress_eV_per_A": stress_max,
        "predicted_force_eV_per_A": [nnn_slope * third / w**3 for w in widths],
        "predicted_stress_eV_per_A": [nnn_slope * second / w**2 for w in widths],
        "slope_force": float(np.polyfit(log_widths, np.log(forces_max), 1)[0]),
        "slope_stress": float(np.polyfit(log_widths, np.log(stress_max), 1)[0]),
    }
