"""Binary classification metrics, reported the way the paper does (AUROC, AUPRC, F1, MCC, accuracy).

Threshold-free metrics (AUROC, AUPRC) use the scores directly. Threshold metrics (F1, MCC, accuracy) are
reported twice: at the fixed threshold 0.5 and at a threshold chosen on a *validation* split (never on the
test split), so a reader sees both the default operating point and a tuned one.

>>> scores = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
>>> scores["auroc"], scores["acc"], scores["n"], scores["n_positive"]
(0.75, 0.5, 4, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    matthews_corrcoef,
    roc_auc_score,
)

__all__ = [
    "THRESHOLD_METRICS",
    "binary_metrics",
    "choose_threshold",
    "evaluate_binary",
]

THRESHOLD_METRICS: tuple[str, ...] = ("f1", "mcc", "acc")
"""Metrics that depend on a decision threshold."""


def _checked(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
        raise ValueError(f"labels and scores must be 1-D of equal length, got shapes {y.shape} and {s.shape}")
    if len(y) == 0:
        raise ValueError("no labels to score")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"binary labels must be 0 or 1, got values {sorted(set(y.tolist()))[:5]}")
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} scores are NaN or infinite")
    y = y.astype(np.int64)
    if y.min() == y.max():
        raise ValueError(f"AUROC needs both classes; every label is {int(y[0])}")
    return y, s


def binary_metrics(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """AUROC, AUPRC and, at ``threshold`` (score >= threshold is positive), F1, MCC and accuracy.

    >>> m = binary_metrics([0, 1, 0, 1], [0.2, 0.8, 0.3, 0.7])
    >>> m["auroc"], m["auprc"], m["f1"], m["mcc"], m["acc"], m["threshold"]
    (1.0, 1.0, 1.0, 1.0, 1.0, 0.5)
    """
    y, s = _checked(labels, scores)
    predicted = (s >= threshold).astype(np.int64)
    return {
        "auroc": float(roc_auc_score(y, s)),
        "auprc": float(average_precision_score(y, s)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "mcc": float(matthews_corrcoef(y, predicted)),
        "acc": float(accuracy_score(y, predicted)),
        "threshold": float(threshold),
        "n": int(len(y)),
        "n_positive": int(y.sum()),
    }


def choose_threshold(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, criterion: str = "mcc"
) -> float:
    """The score threshold that maximises ``criterion`` (``"mcc"`` or ``"f1"``) on these (validation) labels.

    Candidates are midpoints between consecutive distinct scores (plus one below the minimum); ties go to the
    lowest threshold.

    >>> choose_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    0.25
    """
    if criterion not in ("mcc", "f1"):
        raise ValueError(f"criterion must be 'mcc' or 'f1', got {criterion!r}")
    y, s = _checked(labels, scores)
    distinct = np.unique(s)
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2])
    # vectorised confusion counts for every candidate: sort once, count positives above each cut
    order = np.argsort(s)
    sorted_scores, sorted_labels = s[order], y[order]
    below = np.searchsorted(sorted_scores, candidates, side="left")  # items predicted negative
    positives_below = np.concatenate([[0], np.cumsum(sorted_labels)])[below]
    total_pos = int(y.sum())
    tp = total_pos - positives_below
    fp = (len(y) - below) - tp
    fn = positives_below
    tn = below - fn
    tp, fp, fn, tn = (a.astype(np.float64) for a in (tp, fp, fn, tn))
    if criterion == "f1":
        value = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    else:
        denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        value = np.divide(tp * tn - fp * fn, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(candidates[int(np.argmax(value))])


def evaluate_binary(
    labels: Sequence[int] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    valid_labels: Sequence[int] | np.ndarray | None = None,
    valid_scores: Sequence[float] | np.ndarray | None = None,
    criterion: str = "mcc",
) -> dict[str, Any]:
    """Test metrics at threshold 0.5 (top-level keys) and, given validation scores, at a tuned threshold.

    The tuned metrics are under ``"tuned"`` (``f1``, ``mcc``, ``acc`` and the ``threshold`` chosen on the
    validation split by ``criterion``).

    >>> result = evaluate_binary([0, 1, 0, 1], [0.6, 0.9, 0.55, 0.8], [0, 1], [0.6, 0.8])
    >>> result["acc"], result["tuned"]["acc"], result["tuned"]["threshold"]
    (0.5, 1.0, 0.7)
    """
    result = binary_metrics(labels, scores)
    if (valid_labels is None) != (valid_scores is None):
        raise ValueError("give both valid_labels and valid_scores, or neither")
    if valid_labels is not None:
        threshold = choose_threshold(valid_labels, valid_scores, criterion)  # type: ignore[arg-type]
        tuned = binary_metrics(labels, scores, threshold)
        result["tuned"] = {name: tuned[name] for name in (*THRESHOLD_METRICS, "threshold")}
        result["tuned"]["criterion"] = criterion
    return result
