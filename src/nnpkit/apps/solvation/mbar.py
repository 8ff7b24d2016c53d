"""Unbiased free-energy profiles from umbrella windows with MBAR (pymbar 4).

Window k restrains a collective variable s with ``w_k(s) = ½ K_k (s − s0_k)²`` (eV).
All windows run at one temperature, so the reduced potential of sample n in state k is
``u_kn = β w_k(s_n)`` plus the unbiased ``β U(x_n)``, which is common to every state and
drops out of MBAR; the unbiased state is ``u_n = 0``. Before MBAR each window's series is
decorrelated (``pymbar.timeseries``: statistical inefficiency g, then every g-th sample).
The profile is ``F(bin) = −kT ln(P_bin / Δ_bin)`` (divided by the bin width, so unequal
bins give a density), shifted to min 0, with ``P_bin`` MBAR's free energy of the unbiased
state confined to the bin (``compute_perturbed_free_energies`` with ``u = 0`` inside and
+∞ outside), and σ its analytical uncertainty relative to the lowest bin; named states
(CV intervals) are confined states alike. (pymbar 4.0's ``FES`` histogram uncertainties
were not used: they came out independent of the bin and of the reference bin.) The
overlap matrix (Klimovich, Shirts & Mobley, J. Comput. Aided Mol. Des. 29, 397 (2015)) of
neighbouring windows (in the order of their centres) below ``min_overlap`` gives a
:class:`PoorOverlapWarning` naming them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import units

from nnpkit.apps.solvation.timeseries import (
    decorrelated_indices,
    pymbar_module,
    quiet_pymbar,
    statistical_inefficiency,
)
from nnpkit.errors import ConfigError, DataError

__all__ = ["UmbrellaProfile", "PoorOverlapWarning", "UnsampledStateWarning",
           "umbrella_free_energy", "statistical_inefficiency", "decorrelated_indices",
           "state_free_energy_differences",
           "poor_overlap_pairs", "harmonic_reduced_potentials"]


class PoorOverlapWarning(UserWarning):
    """Neighbouring umbrella windows overlap too little for a reliable profile."""


class UnsampledStateWarning(UserWarning):
    """A named state holds no sample: it has no free energy."""


def harmonic_reduced_potentials(samples: np.ndarray, centers: np.ndarray,
                                spring_constants: np.ndarray, temperature_K: float
                                ) -> np.ndarray:
    """``u_kn = β ½ K_k (s_n − s0_k)²`` [K, n] of samples [n] in every window."""
    beta = 1.0 / (units.kB * temperature_K)
    deviation = samples[None, :] - centers[:, None]  # [K, n]
    return beta * 0.5 * spring_constants[:, None] * deviation**2


def poor_overlap_pairs(overlap: np.ndarray, centers: np.ndarray, min_overlap: float
                       ) -> list[tuple[int, int, float]]:
    """``(i, j, O_ij)`` of windows adjacent in ``centers`` order with ``O_ij < min_overlap``."""
    order = np.argsort(centers, kind="stable")
    pairs = zip(order[:-1], order[1:], strict=True)
    return [(int(i), int(j), float(overlap[i, j])) for i, j in pairs
            if overlap[i, j] < min_overlap]


def state_free_energy_differences(u_kn: np.ndarray, n_k: np.ndarray
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """MBAR's dimensionless ``Δf_ij = f_j − f_i`` [K, K] and its uncertainty [K, K]
    (analytical) from reduced potentials ``u_kn`` [K, N] (samples ordered by window)."""
    with quiet_pymbar():
        mbar = pymbar_module().MBAR(u_kn, np.asarray(n_k, dtype=int), solver_protocol="robust")
        result = mbar.compute_free_energy_differences()
    return np.asarray(result["Delta_f"]), np.asarray(result["dDelta_f"])


@dataclass
class UmbrellaProfile:
    """The unbiased profile along s from umbrella windows.

    Attributes:
        bin_centers: [n_bins], the CV's unit; ``bin_edges`` [n_bins + 1].
        free_energy_eV: F per bin [n_bins], min 0; NaN where no sample fell.
        sigma_eV: its MBAR uncertainty (relative to the minimum) [n_bins], eV.
        overlap: [K, K] MBAR overlap matrix.
        poor_overlap: ``(i, j, O_ij)`` of neighbouring windows below ``min_overlap``.
        statistical_inefficiency: g per window [K].
        n_decorrelated: samples per window used [K].
        temperature_K: the windows' temperature.
        state_free_energy_eV: F of each named CV interval (``states``), min over them 0.
        delta_F_eV: ``{"A->B": (F_B − F_A, σ)}`` for the requested pairs, eV.
        centers, spring_constants: the windows [K] (CV unit, eV per unit²).
        window_free_energies: MBAR's dimensionless f_k of the windows [K] (f_0 = 0).
    """

    bin_centers: np.ndarray
    bin_edges: np.ndarray
    free_energy_eV: np.ndarray
    sigma_eV: np.ndarray
    overlap: np.ndarray
    poor_overlap: list[tuple[int, int, float]]
    statistical_inefficiency: np.ndarray
    n_decorrelated: np.ndarray
    temperature_K: float
    state_free_energy_eV: dict[str, float] = field(default_factory=dict)
    delta_F_eV: dict[str, tuple[float, float]] = field(default_factory=dict)
    centers: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spring_constants: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_free_energies: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def unbiased_weights(self, cv_values: np.ndarray, counts: np.ndarray | None = None
                         ) -> np.ndarray:
        """MBAR's weights of the unbiased state for configurations with these CV values
        [n] drawn from the windows (``counts`` [K] per window; default the decorrelated
        samples, for other draws such as trajectory frames give theirs), normalised:
        ``w ∝ 1 / Σ_k N_k exp(f_k − β w_k(s))``."""
        s = np.asarray(cv_values, dtype=float).ravel()
        n_k = self.n_decorrelated if counts is None else np.asarray(counts, dtype=float)
        u_kn = harmonic_reduced_potentials(s, self.centers, self.spring_constants,
                                           self.temperature_K)  # [K, n]
        with np.errstate(divide="ignore"):  # a window without draws: log 0 = −inf
            exponent = np.log(n_k)[:, None] + self.window_free_energies[:, None] - u_kn
        top = exponent.max(axis=0)
        log_w = -(top + np.log(np.exp(exponent - top).sum(axis=0)))  # [n]
        weights = np.exp(log_w - log_w.max())
        return weights / weights.sum()

    def rows(self) -> list[dict[str, float | None]]:
        """``[{"cn", "F_eV", "sigma_eV"}]`` per bin (None where F is undefined)."""
        def plain(value: float) -> float | None:
            return float(value) if np.isfinite(value) else None
        return [{"cn": float(c), "F_eV": plain(f), "sigma_eV": plain(s)} for c, f, s in
                zip(self.bin_centers, self.free_energy_eV, self.sigma_eV, strict=True)]


def _check_windows(samples: list[np.ndarray], centers: np.ndarray,
                   spring_constants: np.ndarray, ids: list[int]) -> None:
    if len(samples) != len(centers) or len(spring_constants) != len(centers):
        raise ConfigError(f"{len(samples)} sample series for {len(centers)} window centres "
                          f"and {len(spring_constants)} spring constants")
    empty = [ids[k] for k, series in enumerate(samples) if series.size < 2]
    if empty:
        raise DataError(f"umbrella window(s) {empty} have fewer than 2 samples")
    order = np.argsort(centers, kind="stable")
    for i, j in zip(order[:-1], order[1:], strict=True):  # disjoint ranges: MBAR cannot join them
        if samples[i].max() < samples[j].min() or samples[j].max() < samples[i].min():
            raise DataError(
                f"umbrella windows {ids[i]} (centre {centers[i]:g}, samples "
                f"{samples[i].min():.3g}..{samples[i].max():.3g}) and {ids[j]} (centre "
                f"{centers[j]:g}, samples "
                f"{samples[j].min():.3g}..{samples[j].max():.3g}) do not overlap; add windows "
                f"between them or soften the springs")


def _confined(x_n: np.ndarray, intervals: Sequence[tuple[float, float]]) -> np.ndarray:
    """Reduced potentials [L, N] of the unbiased state confined to each ``[low, high)``:
    0 inside, +inf outside (MBAR's weights of those samples vanish)."""
    u_ln = np.zeros((len(intervals), x_n.size))
    for row, (low, high) in enumerate(intervals):
        u_ln[row, ~((x_n >= low) & (x_n < high))] = np.inf
    return u_ln


def _bin_free_energies(mbar: Any, x_n: np.ndarray, edges: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Dimensionless ``−ln(P_bin/Δ_bin)`` [n_bins], min 0, and its uncertainty relative
    to the lowest bin (MBAR's perturbed free energies of the confined states); NaN for
    empty bins."""
    counts = np.histogram(x_n, edges)[0]
    filled = np.flatnonzero(counts > 0)
    f = np.full(counts.size, np.nan)
    df = np.full(counts.size, np.nan)
    if filled.size == 0:
        return f, df
    u_ln = _confined(x_n, [(edges[i], edges[i + 1]) for i in filled])
    with quiet_pymbar():
        result = mbar.compute_perturbed_free_energies(u_ln)
    delta, sigma = np.asarray(result["Delta_f"]), np.asarray(result["dDelta_f"])
    values = delta[0] + np.log(np.diff(edges)[filled])  # per unit of the CV
    lowest = int(np.argmin(values))
    f[filled] = values - values[lowest]
    df[filled] = sigma[lowest]
    return f, df


def _state_differences(mbar: Any, x_n: np.ndarray, states: Mapping[str, tuple[float, float]],
                       pairs: Sequence[tuple[str, str]], kT: float
                       ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """F of each CV interval (the unbiased state confined to it) and ΔF of the pairs;
    states without a sample are left out (with an :class:`UnsampledStateWarning`)."""
    names = [name for name in states
             if ((x_n >= states[name][0]) & (x_n < states[name][1])).any()]
    empty = [name for name in states if name not in names]
    if empty:
        warnings.warn(f"no sample falls in state(s) {', '.join(empty)} "
                      f"({[states[n] for n in empty]}); sampled {x_n.min():.3g}.."
                      f"{x_n.max():.3g}: left out of the state free energies",
                      UnsampledStateWarning, stacklevel=3)
    pairs = [(a, b) for a, b in pairs if a in names and b in names]
    if not names:
        return {}, {}
    u_ln = _confined(x_n, [states[name] for name in names])
    with quiet_pymbar():
        result = mbar.compute_perturbed_free_energies(u_ln)
    delta, sigma = np.asarray(result["Delta_f"]), np.asarray(result["dDelta_f"])
    f = delta[0] - delta[0].min()
    values = {name: float(kT * f[row]) for row, name in enumerate(names)}
    differences = {}
    for first, second in pairs:
        i, j = names.index(first), names.index(second)
        differences[f"{first}->{second}"] = (float(kT * delta[i, j]), float(kT * sigma[i, j]))
    return values, differences


def umbrella_free_energy(cv_samples: Sequence[np.ndarray], centers: Sequence[float] | np.ndarray,
                         spring_constants: float | Sequence[float] | np.ndarray,
                         temperature_K: float,
                         bins: int | Sequence[float] = 30, min_overlap: float = 0.03,
                         decorrelate: bool = True,
                         states: Mapping[str, tuple[float, float]] | None = None,
                         delta_pairs: Sequence[tuple[str, str]] | None = None,
                         warn: bool = True, window_ids: Sequence[int] | None = None
                         ) -> UmbrellaProfile:
    """F(s) of the unbiased state from umbrella windows by MBAR.

    Args:
        cv_samples: per window, its CV time series [n_k] (equilibration already removed).
        centers: window centres s0 [K], the CV's unit.
        spring_constants: K per window [K] (or one), eV per CV unit².
        temperature_K: the windows' temperature, K.
        bins: number of equal bins over the sampled range, or the bin edges.
        min_overlap: neighbouring windows with a smaller MBAR overlap are warned about.
        decorrelate: keep every g-th sample of each window (else all samples).
        states: named CV intervals ``{name: (low, high)}`` for free energies of states.
        delta_pairs: ``(A, B)`` pairs for ΔF = F_B − F_A; default consecutive ``states``.
        warn: issue the :class:`PoorOverlapWarning` (the pairs are in the result anyway).
        window_ids: the windows' numbers in messages and ``poor_overlap`` (default 0..K−1;
            e.g. the original numbers when some windows were left out).

    Raises:
        ConfigError: mismatched lengths, a state pair naming an unknown state.
        DataError: a window with < 2 samples, neighbouring windows with disjoint samples
            (named). A state with no sample is left out with an UnsampledStateWarning.
    """
    series = [np.asarray(s, dtype=float).ravel() for s in cv_samples]
    s0 = np.asarray(centers, dtype=float).ravel()
    k = np.broadcast_to(np.asarray(spring_constants, dtype=float), s0.shape).copy()
    ids = list(range(s0.size)) if window_ids is None else [int(i) for i in window_ids]
    _check_windows(series, s0, k, ids)
    inefficiency = np.array([statistical_inefficiency(s) if decorrelate else 1.0
                             for s in series])
    kept = [s[decorrelated_indices(s, g)] if decorrelate else s
            for s, g in zip(series, inefficiency, strict=True)]
    n_k = np.array([s.size for s in kept])
    x_n = np.concatenate(kept)  # [N], ordered by window as MBAR expects
    edges = (np.linspace(x_n.min(), x_n.max() + 1e-12, bins + 1) if isinstance(bins, int)
             else np.asarray(bins, dtype=float))
    kT = units.kB * temperature_K
    u_kn = harmonic_reduced_potentials(x_n, s0, k, temperature_K)
    with quiet_pymbar():
        mbar = pymbar_module().MBAR(u_kn, n_k, solver_protocol="robust")
        overlap = (np.asarray(mbar.compute_overlap()["matrix"]) if s0.size > 1
                   else np.ones((1, 1)))  # pymbar's overlap needs two states
    centres = 0.5 * (edges[1:] + edges[:-1])
    f, df = _bin_free_energies(mbar, x_n, edges)
    names = dict(states or {})
    pairs = (list(delta_pairs) if delta_pairs is not None
             else list(zip(names, list(names)[1:], strict=False)))
    unknown = sorted({name for pair in pairs for name in pair} - set(names))
    if unknown:
        raise ConfigError(f"delta_F pair(s) name unknown state(s) {unknown}; states: "
                          f"{sorted(names)}")
    state_f, delta = _state_differences(mbar, x_n, names, pairs, kT)
    poor = [(ids[i], ids[j], o) for i, j, o in poor_overlap_pairs(overlap, s0, min_overlap)]
    if poor and warn:
        centre_of = dict(zip(ids, s0, strict=True))
        listed = "; ".join(f"windows {i} and {j} (centres {centre_of[i]:g}, {centre_of[j]:g}):"
                           f" {o:.3g}" for i, j, o in poor)
        warnings.warn(f"umbrella windows overlap less than {min_overlap:g}: {listed}",
                      PoorOverlapWarning, stacklevel=2)
    return UmbrellaProfile(
        bin_centers=centres, bin_edges=edges, free_energy_eV=kT * f, sigma_eV=kT * df,
        overlap=overlap, poor_overlap=poor, statistical_inefficiency=inefficiency,
        n_decorrelated=n_k, temperature_K=float(temperature_K),
        state_free_energy_eV=state_f, delta_F_eV=delta, centers=s0, spring_constants=k,
        window_free_energies=np.asarray(mbar.f_k, dtype=float))
