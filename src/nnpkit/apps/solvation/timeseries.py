"""Time-series statistics of MD samples, and pymbar imported quietly.

The statistical inefficiency ``g = 1 + 2 Σ_t (1 − t/N) C(t)`` of a series (pymbar's
``timeseries``, Chodera et al., J. Chem. Theory Comput. 3, 26 (2007)) says how many
correlated samples make one independent one; :func:`decorrelated_indices` keeps every g-th.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["statistical_inefficiency", "decorrelated_indices", "quiet_pymbar", "pymbar_module"]


@contextmanager
def quiet_pymbar() -> Iterator[None]:
    """pymbar logs two banners (no JAX; the timeseries caveat) when first imported, and its
    solver passes scipy options it does not know (an ``OptimizeWarning``): keep them off
    stderr (and so off a ``--json`` pipeline's terminal); the log level is restored."""
    logger = logging.getLogger("pymbar")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unknown solver options")
            yield
    finally:
        logger.setLevel(level)


def pymbar_module() -> Any:
    """The ``pymbar`` package (with ``pymbar.timeseries``), imported quietly."""
    with quiet_pymbar():
        import pymbar
        import pymbar.timeseries  # noqa: F401 - the submodule, for attribute access
    return pymbar


def statistical_inefficiency(series: np.ndarray) -> float:
    """g = 1 + 2 Σ_t (1 − t/N) C(t) of a time series [n] (pymbar), ≥ 1; 1 for a constant
    series (nothing to correlate)."""
    values = np.asarray(series, dtype=float)
    if values.size < 2 or np.ptp(values) == 0.0:
        return 1.0
    return float(pymbar_module().timeseries.statistical_inefficiency(values))


def decorrelated_indices(series: np.ndarray, g: float | None = None) -> np.ndarray:
    """Indices of effectively independent samples of ``series`` [n]: every g-th (pymbar's
    ``subsample_correlated_data``; g estimated when not given)."""
    values = np.asarray(series, dtype=float)
    g = statistical_inefficiency(values) if g is None else float(g)
    if values.size == 0:
        return np.zeros(0, dtype=int)
    return np.asarray(pymbar_module().timeseries.subsample_correlated_data(values, g=g), dtype=int)
