"""The IR spectrum of a molecular-dynamics run, from its dipole autocorrelation.

From the dipoles ``μ(t)`` ([T, 3], e·Å) sampled every ``dt`` (fs):

1. ``C(τ) = ⟨δμ(t)·δμ(t+τ)⟩_t`` for lags ``0 ≤ τ ≤ τ_max`` ((e·Å)²), ``δμ = μ − ⟨μ⟩``, by
   FFT (zero-padded to ``2T``, so it is the linear, not circular, correlation) and with
   the unbiased normalisation ``1/(T − τ)``.
2. A lag window ``w(τ)``: ``"hann"`` (default) ``w = cos²(πτ/(2τ_max))``, the right half
   of a Hann window over ``[−τ_max, τ_max]``; or ``"rectangular"`` (``w = 1``). The line
   of a pure cosine then has a full width at half maximum (the stated resolution) of
   ``1/(c·τ_max)`` (Hann) or ``0.603/(c·τ_max)`` (rectangular) in cm⁻¹.
3. ``Ĉ(ν̃) = ∫_{−τ_max}^{τ_max} w(|τ|) C(|τ|) exp(−2πi c ν̃ τ) dτ`` on a zero-padded grid
   (spacing ``grid_spacing_cm1``, default 1 cm⁻¹; wavenumbers ``ν̃`` in cm⁻¹, ``c`` in cm/fs).
4. The absorption ``α(ν̃)n(ν̃) ∝ ν̃ (1 − e^{−x}) Q(x) Ĉ(ν̃)``, ``x = hcν̃/(k_B T)``, with the
   quantum correction ``Q`` that maps the classical correlation onto the quantum one
   (Ramírez et al., J. Chem. Phys. 121, 3973 (2004)). Written as ``ν̃² Ĉ(ν̃) · F(x)``,
   ``F = (1 − e^{−x}) Q(x)/x``:

   - ``"harmonic"`` (default): ``Q = x/(1 − e^{−x})``, ``F = 1``: the classical
     ``ν̃² Ĉ(ν̃)``, i.e. the spectrum of the time derivative ``μ̇``; exact for a harmonic
     system with a linear dipole, and so directly comparable with the harmonic sticks;
   - ``"standard"``: ``Q = 2/(1 + e^{−x})``, ``F = 2 tanh(x/2)/x``;
   - ``"schofield"``: ``Q = e^{x/2}``, ``F = 2 sinh(x/2)/x``;
   - ``"none"``: ``Q = 1``, ``F = (1 − e^{−x})/x``.

The result is normalised to unit maximum over ``0 < ν̃ ≤ max_wavenumber_cm1``
(``intensity``). For a classical trajectory in equilibrium at ``temperature_K`` it is also
given in absolute units (``absorption_km_per_mol_cm1``, km/mol per cm⁻¹): a harmonic mode
has ``⟨Q̇_k²⟩ = k_B T``, so the one-sided spectral density of ``μ̇``,
``P(ν̃) = 2c·(2πcν̃)²·Ĉ(ν̃)`` with ``∫₀^∞ P dν̃ = ⟨|δμ̇|²⟩``, divided by ``k_B T`` integrates
over a band to ``Σ_k |∂μ/∂Q_k|²`` (e²/amu; ``(e·Å/fs)²/eV = 103.64 e²/amu``), the harmonic
intensity, converted with :data:`~nnpkit.apps.response.ir.KM_PER_MOL_PER_E2_AMU` (and
times ``F``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units as ase_units

from nnpkit.apps.response.ir import KM_PER_MOL_PER_E2_AMU
from nnpkit.errors import ConfigError

__all__ = ["MDSpectrum", "dipole_autocorrelation", "dipole_spectrum",
           "quantum_correction_factor", "SPEED_OF_LIGHT_CM_PER_FS", "WINDOWS",
           "QUANTUM_CORRECTIONS"]

#: c in cm/fs (2.99792458·10⁻⁵): a frequency ν (1/fs) is the wavenumber ν/c (cm⁻¹).
SPEED_OF_LIGHT_CM_PER_FS: float = ase_units._c * 100.0 * 1e-15
#: hc/k_B in cm·K (second radiation constant, 1.4388): ``x = this · ν̃ / T``.
_HC_OVER_K_CM_K: float = ase_units._hplanck * ase_units._c * 100.0 / ase_units._k
#: FWHM of a pure cosine's line, in units of ``1/(c·τ_max)``.
WINDOWS: dict[str, float] = {"hann": 1.0, "rectangular": 0.6034}
QUANTUM_CORRECTIONS = ("harmonic", "standard", "schofield", "none")


@dataclass
class MDSpectrum:
    """An MD IR spectrum and the settings that made it."""

    wavenumbers_cm1: np.ndarray  # [G] from 0 to max_wavenumber_cm1
    intensity: np.ndarray        # [G] unit maximum over ν̃ > 0
    timestep_fs: float
    n_frames: int
    max_lag_fs: float
    window: str
    quantum_correction: str
    temperature_K: float
    resolution_cm1: float        # FWHM of a pure cosine's line with this window and lag
    grid_spacing_cm1: float
    #: [G] km/mol per cm⁻¹ if the run is classical and in equilibrium at temperature_K
    absorption_km_per_mol_cm1: np.ndarray | None = None

    def peak_wavenumber_cm1(self, low_cm1: float = 0.0,
                            high_cm1: float = np.inf) -> float:
        """The wavenumber (cm⁻¹) of the highest point in ``(low_cm1, high_cm1]``,
        refined by a parabola through it and its neighbours."""
        inside = np.flatnonzero((self.wavenumbers_cm1 > low_cm1)
                                & (self.wavenumbers_cm1 <= high_cm1))
        if len(inside) == 0:
            raise ConfigError(f"no spectrum points in ({low_cm1}, {high_cm1}] cm^-1")
        k = int(inside[np.argmax(self.intensity[inside])])
        if 0 < k < len(self.intensity) - 1:
            left, mid, right = self.intensity[k - 1:k + 2]
            curvature = left - 2 * mid + right
            if curvature < 0:
                shift = 0.5 * (left - right) / curvature
                return float(self.wavenumbers_cm1[k] + shift * self.grid_spacing_cm1)
        return float(self.wavenumbers_cm1[k])

    def settings(self) -> dict:
        """JSON-ready settings: window, quantum correction, resolution, lag, timestep."""
        return {"timestep_fs": self.timestep_fs, "n_frames": self.n_frames,
                "max_lag_fs": self.max_lag_fs, "window": self.window,
                "quantum_correction": self.quantum_correction,
                "temperature_K": self.temperature_K,
                "resolution_cm1": self.resolution_cm1,
                "grid_spacing_cm1": self.grid_spacing_cm1,
                "normalisation": "unit maximum (intensity); km/mol per cm^-1 for a "
                                 "classical run in equilibrium at temperature_K "
                                 "(absorption)",
                "formula": "nu^2 * FT[w * C](nu) * F(x), F = (1 - exp(-x)) Q(x) / x, "
                           "x = h c nu / (k T)"}


def dipole_autocorrelation(dipoles_eA: np.ndarray, max_lag: int | None = None
                           ) -> np.ndarray:
    """``C(τ) = ⟨δμ(t)·δμ(t+τ)⟩`` for ``τ = 0 … max_lag`` steps ((e·Å)², ``[max_lag + 1]``),
    mean removed, unbiased (``1/(T − τ)``), from dipoles ``[T, 3]`` (e·Å), by FFT.

    Raises:
        ConfigError: fewer than 2 frames, not ``[T, 3]``, or ``max_lag`` not in ``[0, T)``.
    """
    mu = np.asarray(dipoles_eA, dtype=float)
    if mu.ndim != 2 or mu.shape[1] != 3 or len(mu) < 2:
        raise ConfigError(f"dipoles must be [T >= 2, 3], got shape {mu.shape}")
    n_frames = len(mu)
    max_lag = n_frames - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < n_frames:
        raise ConfigError(f"max_lag must be in [0, {n_frames}), got {max_lag}")
    delta = mu - mu.mean(axis=0)                                  # [T, 3]
    size = 1 << int(np.ceil(np.log2(2 * n_frames)))               # ≥ 2T: no wrap-around
    transform = np.fft.rfft(delta, n=size, axis=0)                # [size/2 + 1, 3]
    products = np.fft.irfft(np.abs(transform) ** 2, n=size, axis=0).sum(axis=1)  # [size]
    lags = np.arange(max_lag + 1)
    return products[:max_lag + 1] / (n_frames - lags)             # [max_lag + 1]


def quantum_correction_factor(wavenumbers_cm1: np.ndarray, temperature_K: float,
                              kind: str = "harmonic") -> np.ndarray:
    """``F(x)`` ([G]) multiplying the classical ``ν̃² Ĉ(ν̃)`` (see the module docstring),
    ``x = hcν̃/(k_B T)``; ``F → 1`` as ``x → 0`` for every ``kind``.

    Raises:
        ConfigError: an unknown ``kind`` or ``temperature_K <= 0``.
    """
    if kind not in QUANTUM_CORRECTIONS:
        raise ConfigError(f"quantum_correction must be one of {QUANTUM_CORRECTIONS}, "
                          f"got {kind!r}")
    if not temperature_K > 0:
        raise ConfigError(f"temperature_K must be > 0, got {temperature_K}")
    x = np.abs(np.asarray(wavenumbers_cm1, dtype=float)) * _HC_OVER_K_CM_K / temperature_K
    safe = np.where(x > 1e-12, x, 1.0)
    if kind == "harmonic":
        factor = np.ones_like(x)
    elif kind == "standard":
        factor = 2.0 * np.tanh(safe / 2.0) / safe
    elif kind == "schofield":
        factor = 2.0 * np.sinh(np.minimum(safe, 1400.0) / 2.0) / safe
    else:
        factor = -np.expm1(-safe) / safe
    return np.where(x > 1e-12, factor, 1.0)


def dipole_spectrum(dipoles_eA: np.ndarray, timestep_fs: float,
                    max_lag_fs: float | None = None, window: str = "hann",
                    quantum_correction: str = "harmonic", temperature_K: float = 300.0,
                    max_wavenumber_cm1: float = 4000.0,
                    grid_spacing_cm1: float = 1.0) -> MDSpectrum:
    """The IR spectrum of dipoles ``[T, 3]`` (e·Å) sampled every ``timestep_fs`` (fs).

    Args:
        dipoles_eA: the dipole of every frame, ``[T, 3]`` (e·Å), equally spaced in time.
        timestep_fs: time between frames (fs).
        max_lag_fs: the longest lag of the correlation (fs); default half the run,
            ``(T − 1)·dt/2``. Resolution (FWHM) ``WINDOWS[window]/(c·τ_max)`` cm⁻¹.
        window: ``"hann"`` or ``"rectangular"``.
        quantum_correction: ``"harmonic"``, ``"standard"``, ``"schofield"``, ``"none"``.
        temperature_K: the temperature of the run (K), for the quantum correction.
        max_wavenumber_cm1: the upper end of the grid (cm⁻¹), below the Nyquist limit
            ``1/(2c·dt)``.
        grid_spacing_cm1: the largest spacing of the (zero-padded) grid (cm⁻¹).

    Returns:
        :class:`MDSpectrum` on ``0 … max_wavenumber_cm1``, unit maximum.

    Raises:
        ConfigError: a bad argument (shape, timestep, lag, window, correction, grid).
    """
    if not timestep_fs > 0:
        raise ConfigError(f"timestep_fs must be > 0, got {timestep_fs}")
    if window not in WINDOWS:
        raise ConfigError(f"window must be one of {sorted(WINDOWS)}, got {window!r}")
    n_frames = len(np.asarray(dipoles_eA))
    max_lag = (n_frames - 1) // 2 if max_lag_fs is None else int(round(max_lag_fs
                                                                       / timestep_fs))
    if not 1 <= max_lag < n_frames:
        raise ConfigError(f"max_lag_fs must be between {timestep_fs} fs and the run "
                          f"({(n_frames - 1) * timestep_fs} fs), got {max_lag_fs}")
    nyquist_cm1 = 1.0 / (2.0 * SPEED_OF_LIGHT_CM_PER_FS * timestep_fs)
    if not 0 < max_wavenumber_cm1 < nyquist_cm1:
        raise ConfigError(f"max_wavenumber_cm1 must be in (0, {nyquist_cm1:.0f}) cm^-1 "
                          f"(the Nyquist limit of a {timestep_fs} fs step), got "
                          f"{max_wavenumber_cm1}")
    if not grid_spacing_cm1 > 0:
        raise ConfigError(f"grid_spacing_cm1 must be > 0, got {grid_spacing_cm1}")
    correlation = dipole_autocorrelation(dipoles_eA, max_lag)        # [L + 1]
    lags = np.arange(max_lag + 1)
    weights = (np.cos(0.5 * np.pi * lags / max_lag) ** 2 if window == "hann"
               else np.ones(max_lag + 1))                             # [L + 1]
    windowed = correlation * weights
    needed = int(np.ceil(1.0 / (SPEED_OF_LIGHT_CM_PER_FS * timestep_fs
                                * grid_spacing_cm1)))
    size = 1 << int(np.ceil(np.log2(max(needed, 2 * max_lag + 2))))
    # the even extension: Ĉ = dt·(2·Re Σ_τ≥0 c_τ e^{−iωτ} − c_0)
    transform = timestep_fs * (2.0 * np.fft.rfft(windowed, n=size).real - windowed[0])
    wavenumbers = np.fft.rfftfreq(size, d=timestep_fs) / SPEED_OF_LIGHT_CM_PER_FS  # [G']
    inside = wavenumbers <= max_wavenumber_cm1
    wavenumbers, transform = wavenumbers[inside], transform[inside]   # [G]
    intensity = (wavenumbers ** 2 * transform
                 * quantum_correction_factor(wavenumbers, temperature_K,
                                             quantum_correction))  # [G]
    # P(ν̃)/(k_B T): (e·Å/fs)²/eV per cm⁻¹ → e²/amu per cm⁻¹ (1/fs² = 1/units.fs² eV/amu/Å²)
    absorption = (2.0 * SPEED_OF_LIGHT_CM_PER_FS * (2.0 * np.pi * SPEED_OF_LIGHT_CM_PER_FS)
                  ** 2 * intensity / (ase_units.kB * temperature_K) / ase_units.fs ** 2
                  * KM_PER_MOL_PER_E2_AMU)  # [G] km/mol per cm⁻¹
    peak = np.max(intensity[1:]) if len(intensity) > 1 else 0.0
    if peak > 0:
        intensity = intensity / peak
    max_lag_time = max_lag * timestep_fs
    return MDSpectrum(wavenumbers_cm1=wavenumbers, intensity=intensity,
                      timestep_fs=float(timestep_fs), n_frames=n_frames,
                      max_lag_fs=float(max_lag_time), window=window,
                      quantum_correction=quantum_correction,
                      temperature_K=float(temperature_K),
                      resolution_cm1=WINDOWS[window] / (SPEED_OF_LIGHT_CM_PER_FS
                                                        * max_lag_time),
                      grid_spacing_cm1=float(wavenumbers[1] - wavenumbers[0]),
                      absorption_km_per_mol_cm1=absorption)
