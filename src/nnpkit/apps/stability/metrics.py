"""Classification metrics of stability predictions, as matbench-discovery defines them.

"Stable" is the positive class. The discovery acceleration factor is
``DAF = precision / prevalence``: how many times more stable structures a screen
guided by the model finds per structure calculated than random selection would, with
``prevalence`` the fraction of truly stable structures in the evaluated set.
"""

from __future__ import annotations

import numpy as np

from nnpkit.errors import DataError

__all__ = ["classification_metrics", "top_fraction_threshold"]


def classification_metrics(y_true: np.ndarray, probability: np.ndarray,
                           threshold: float = 0.5) -> dict:
    """F1, precision, recall, accuracy, ROC-AUC, prevalence and DAF of one prediction.

    Args:
        y_true: true labels [n], True (or 1) = stable.
        probability: predicted probability of being stable [n], in [0, 1].
        threshold: predicted stable where ``probability >= threshold``.

    Returns:
        A JSON-ready dict with ``f1``, ``precision``, ``recall``, ``accuracy``,
        ``roc_auc`` (None when ``y_true`` holds one class only), ``prevalence``,
        ``daf`` (0 when nothing is predicted stable; None when nothing is truly stable),
        ``n``, ``n_stable_true`` and ``n_predicted_stable``. Precision, recall and F1
        are 0 where undefined (no predicted or no true positives), without warnings.

    Raises:
        DataError: empty or mismatched inputs, non-binary labels, NaN probabilities.
    """
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = np.asarray(y_true)
    scores = np.asarray(probability, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != scores.shape or len(labels) == 0:
        raise DataError(f"y_true {labels.shape} and probability {scores.shape} must be "
                        "non-empty 1D arrays of equal length")
    if not np.isin(labels, (0, 1)).all():
        raise DataError("y_true must be boolean or 0/1 (True = stable)")
    if not np.isfinite(scores).all():
        raise DataError("probability contains NaN or infinite values")
    labels = labels.astype(bool)
    predicted = scores >= threshold
    n_stable = int(labels.sum())
    prevalence = n_stable / len(labels)
    precision = float(precision_score(labels, predicted, zero_division=0))
    single_class = n_stable in (0, len(labels))
    return {
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "precision": precision,
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "roc_auc": None if single_class else float(roc_auc_score(labels, scores)),
        "prevalence": float(prevalence),
        "daf": precision / prevalence if prevalence > 0 else None,
        "n": int(len(labels)),
        "n_stable_true": n_stable,
        "n_predicted_stable": int(predicted.sum()),
    }


def top_fraction_threshold(probability: np.ndarray, fraction: float) -> float:
    """The probability above which the top ``fraction`` of candidates lie.

    The decision rule of a discovery campaign: rank the candidates and call the expected
    share of stable ones (the training prevalence) stable. It needs no calibration at the
    tails, which matters when stable structures are rare.
    """
    probability = np.asarray(probability, dtype=float)
    if probability.size == 0:
        raise DataError("no candidates to rank")
    n_top = int(round(float(np.clip(fraction, 0.0, 1.0)) * probability.size))
    if n_top == 0:
        return float(np.nextafter(probability.max(), np.inf))
    return float(np.sort(probability)[::-1][n_top - 1])
