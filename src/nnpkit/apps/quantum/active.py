"""Active learning of a Gaussian-process surface: ask the reference where the GP is unsure.

Start from a few space-filling points, then repeatedly refit the GP and evaluate the
reference at the candidate point of largest predictive standard deviation inside the
*region that matters*: everywhere, or (with ``energy_cutoff``) weighted to where the
surface could lie below the cutoff: the std is multiplied by 1 where
``mean - 2 std <= cutoff`` and by a weight decaying exponentially with the energy above
it (the tunnelling tails of the wavefunctions still matter a little). Points that are surely
high in energy are seldom asked for, yet an unexplored corner stays relevant until one
point there proves it high. Stop when the largest std in the region is below ``tolerance`` or the
``budget`` of reference calls is spent.

A reference is any callable ``reference(q [n_dim]) -> energy`` or, with gradients,
``-> (energy, gradient [n_dim])`` (e.g. an analytic potential, or
:func:`nnpkit.apps.quantum.scan.ScanReference` around an ASE calculator). For the
comparison the issue asks for, :func:`learn_by_placement` fits the same GP to uniform or
random points with the same budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.stats.qmc
from tqdm.auto import tqdm

from nnpkit.apps.quantum.gp import GaussianProcessPES
from nnpkit.errors import REFERENCE_FAILURES, ConfigError, LabelingError

__all__ = ["ActiveLearningResult", "candidate_points", "initial_points", "learn_actively",
           "learn_by_placement", "reference_from_potential"]

Reference = Callable[[np.ndarray], Any]
Bounds = tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]


@dataclass
class ActiveLearningResult:
    """The fitted GP, its training data and one history row per added point."""

    model: GaussianProcessPES
    points: np.ndarray
    energies: np.ndarray
    gradients: np.ndarray | None
    history: list[dict] = field(default_factory=list)
    converged: bool = False


def reference_from_potential(potential: Any, use_gradients: bool) -> Reference:
    """Wrap an analytic potential (``potential(q [..., n_dim])``, ``.gradient``) as a reference."""
    def reference(point: np.ndarray) -> Any:
        energy = float(potential(point[None])[0])
        return (energy, np.asarray(potential.gradient(point[None])[0])) if use_gradients \
            else energy
    return reference


def _check_bounds(bounds: Bounds) -> tuple[np.ndarray, ...]:
    lower, upper = (np.atleast_1d(np.asarray(b, dtype=float)) for b in bounds)
    if lower.shape != upper.shape or np.any(upper <= lower):
        raise ConfigError(f"bounds must be (lower, upper) with upper > lower, got {bounds}")
    return lower, upper


def candidate_points(bounds: Bounds,
                     resolution: int | None = None) -> np.ndarray:
    """A regular grid over ``bounds``, ``[n_candidates, n_dim]`` (default 801/101/31 per axis)."""
    lower, upper = _check_bounds(bounds)
    count = resolution or {1: 801, 2: 101}.get(len(lower), 31)
    axes = [np.linspace(low, high, count) for low, high in zip(lower, upper, strict=True)]
    return np.stack([m.reshape(-1) for m in np.meshgrid(*axes, indexing="ij")], axis=-1)


def initial_points(bounds: Bounds, n_points: int,
                   placement: str = "uniform", seed: int = 0) -> np.ndarray:
    """``[n_points, n_dim]`` points: ``uniform`` (cell centres of a regular grid, or a Halton
    sequence when ``n_points`` is no perfect power) or ``random`` (seeded)."""
    lower, upper = _check_bounds(bounds)
    if placement == "random":
        unit = np.random.default_rng(seed).uniform(size=(n_points, len(lower)))
    elif placement == "uniform" and len(lower) == 1:
        unit = ((np.arange(n_points) + 0.5) / n_points)[:, None]
    elif placement == "uniform":
        side = int(np.round(n_points ** (1.0 / len(lower))))
        if side ** len(lower) == n_points:
            centres = (np.arange(side) + 0.5) / side
            axes = np.meshgrid(*[centres] * len(lower), indexing="ij")
            unit = np.stack([a.reshape(-1) for a in axes], axis=-1)
        else:
            unit = scipy.stats.qmc.Halton(len(lower), scramble=False).random(n_points + 1)[1:]
    else:
        raise ConfigError(f"placement must be 'uniform' or 'random', got {placement!r}")
    return lower + unit * (upper - lower)


def _evaluate(reference: Reference, point: np.ndarray, use_gradients: bool
              ) -> tuple[float, np.ndarray | None]:
    try:
        answer = reference(np.array(point, dtype=float))
    except REFERENCE_FAILURES as error:  # a failed calculation: name the point
        raise LabelingError(f"reference failed at {point.tolist()}: {error}") from error
    if use_gradients:
        if not isinstance(answer, tuple) or len(answer) != 2:
            raise LabelingError("with gradients the reference must return (energy, gradient)")
        gradient = np.asarray(answer[1], dtype=float).reshape(len(point))
        return float(answer[0]), gradient
    return float(answer[0] if isinstance(answer, tuple) else answer), None


def _fit(points: list, energies: list, gradients: list, use_gradients: bool,
         metadata: dict) -> GaussianProcessPES:
    return GaussianProcessPES.fit(np.asarray(points), np.asarray(energies),
                                  np.asarray(gradients) if use_gradients else None,
                                  metadata=metadata)


def _relevance(mean: np.ndarray, std: np.ndarray, cutoff: float | None,
               softness: float | None, energies: list) -> np.ndarray:
    """Weight ``[n_c]``: 1 where ``mean - 2 std <= cutoff``, decaying exponentially above."""
    if cutoff is None:
        return np.ones_like(mean)
    width = softness if softness is not None else 0.25 * max(cutoff - min(energies), 1e-12)
    excess = np.maximum(mean - 2.0 * std - cutoff, 0.0)
    return np.exp(-excess / width)


def _near(candidates: np.ndarray, points: np.ndarray, lower: np.ndarray,
          upper: np.ndarray) -> np.ndarray:
    """Candidates within 1e-3 of the box size of a training point (their std is ~0)."""
    scaled = (candidates[:, None, :] - points[None, :, :]) / (upper - lower)
    return np.min(np.max(np.abs(scaled), axis=-1), axis=1) < 1e-3


def _most_informative(model: GaussianProcessPES, candidates: np.ndarray, weighted: np.ndarray,
                      std: np.ndarray, n_reference: int = 1500, n_trial: int = 200) -> np.ndarray:
    """The candidate whose energy would most reduce the relevance-weighted variance.

    Integrated variance reduction ``sum_r w_r cov(r, x)^2 / var(x)`` over up to
    ``n_reference`` evenly strided candidates ``r`` (weights ``w = (weighted / std)^2``,
    the squared relevance), tried for the ``n_trial`` candidates of largest weighted std.
    """
    relevance = np.divide(weighted, std, out=np.zeros_like(std), where=std > 0) ** 2
    stride = max(1, len(candidates) // n_reference)
    reference = candidates[::stride]
    reference_weight = relevance[::stride]  # [n_r]
    trial = np.argsort(weighted)[::-1][:n_trial]
    trial = trial[weighted[trial] > 0]
    covariance = model.posterior_covariance(reference, candidates[trial])  # [n_r, n_t]
    variance = np.maximum(std[trial] ** 2, 1e-300)
    reduction = reference_weight @ covariance**2 / variance  # [n_t]
    return candidates[trial[int(np.argmax(reduction))]]


def learn_actively(reference: Reference, bounds: Bounds,
                   use_gradients: bool = False, n_initial: int = 3, budget: int = 15,
                   tolerance: float | None = None, energy_cutoff: float | None = None,
                   energy_softness: float | None = None, acquisition: str = "integrated",
                   resolution: int | None = None, metadata: dict | None = None,
                   progress: bool = False) -> ActiveLearningResult:
    """Learn a GP surface over ``bounds`` with at most ``budget`` reference calls.

    Args:
        reference: ``q [n_dim] -> energy`` or ``-> (energy, gradient [n_dim])``.
        bounds: ``(lower [n_dim], upper [n_dim])`` of the region to learn.
        use_gradients: Train on gradients too (the reference must return them).
        n_initial: Space-filling starting points (see :func:`initial_points`).
        budget: Largest number of reference calls.
        tolerance: Stop when the largest predictive std in the region is below this
            (energy units); ``None`` spends the whole budget.
        energy_cutoff: Weight the std by 1 where ``mean - 2 std <= energy_cutoff`` and by
            ``exp(-(mean - 2 std - cutoff) / energy_softness)`` above it.
        energy_softness: Energy width of that decay; default a quarter of the range from
            the lowest sampled energy to the cutoff.
        acquisition: ``"max_std"`` (the point of largest weighted std) or ``"integrated"``
            (the point that most reduces the relevance-weighted variance summed over the
            region: avoids spending points on the box edges).
        resolution: Candidate points per axis (:func:`candidate_points`).
        metadata: Saved with the model (``bounds`` is added).
        progress: Show a progress bar.
    """
    if acquisition not in ("max_std", "integrated"):
        raise ConfigError(f"acquisition must be 'max_std' or 'integrated', got {acquisition!r}")
    if not 2 <= n_initial <= budget:
        raise ConfigError(f"need 2 <= n_initial ({n_initial}) <= budget ({budget})")
    lower, upper = _check_bounds(bounds)
    meta = {**(metadata or {}), "bounds": [lower.tolist(), upper.tolist()],
            "energy_cutoff": energy_cutoff, "use_gradients": use_gradients}
    candidates = candidate_points((lower, upper), resolution)  # [n_c, n_dim]
    points, energies, gradients = [], [], []
    for point in initial_points((lower, upper), n_initial):
        energy, gradient = _evaluate(reference, point, use_gradients)
        points.append(point)
        energies.append(energy)
        gradients.append(gradient)
    history: list[dict] = []
    converged = False
    bar = tqdm(total=budget, initial=n_initial, desc="active GP", disable=not progress,
               leave=False)
    while True:
        model = _fit(points, energies, gradients, use_gradients, meta)
        mean, std = model.predict(candidates)
        assert std is not None
        weighted = std * _relevance(mean, std, energy_cutoff, energy_softness, energies)
        weighted[_near(candidates, np.asarray(points), lower, upper)] = 0.0
        worst = float(np.max(weighted))
        history.append({"n_points": len(points), "max_weighted_std": worst,
                        "max_std": float(np.max(std))})
        if tolerance is not None and worst < tolerance:
            converged = True
            break
        if len(points) >= budget:
            break
        if acquisition == "max_std":
            choice = candidates[np.argmax(weighted)]
        else:
            choice = _most_informative(model, candidates, weighted, std)
        energy, gradient = _evaluate(reference, choice, use_gradients)
        points.append(choice)
        energies.append(energy)
        gradients.append(gradient)
        bar.update(1)
    bar.close()
    return ActiveLearningResult(model, np.asarray(points), np.asarray(energies),
                                np.asarray(gradients) if use_gradients else None, history,
                                converged)


def learn_by_placement(reference: Reference, bounds: Bounds,
                       n_points: int, placement: str = "uniform", use_gradients: bool = False,
                       seed: int = 0, metadata: dict | None = None) -> GaussianProcessPES:
    """The same GP fitted to ``n_points`` uniform or random points (the baseline)."""
    lower, upper = _check_bounds(bounds)
    points = initial_points((lower, upper), n_points, placement, seed)
    answers = [_evaluate(reference, point, use_gradients) for point in points]
    meta = {**(metadata or {}), "bounds": [lower.tolist(), upper.tolist()],
            "placement": placement, "use_gradients": use_gradients}
    return _fit(list(points), [a[0] for a in answers], [a[1] for a in answers], use_gradients,
                meta)
