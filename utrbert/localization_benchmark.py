"""Localization on the authors' folds: labels, fold indices, and the compared methods evaluated alike.

**Labels.** Six compartments as in DM3Loc's fold lists and the paper: nucleus, exosome, cytosol, ribosome,
membrane, ER, where **cytosol is the FASTA label's bit 3 ("Cytoplasm")**: bit 2 ("Cytosol") is a subset of
bit 3 and the fold lists drop bit 2 (see ``localization/dm3loc/MANIFEST.md``); the paper merged cytoplasm with
cytosol. Exosome is positive for 99% of mRNAs: it is reported, but left out of the macro means
(:data:`MACRO_COMPARTMENTS`).

**Protocol.** For each of the 5 folds a method is fitted on the fold's train part (the valid part for early
stopping or model choice) and scores its test part; every mRNA in a test part is scored once, and metrics are
computed on the pooled test predictions (the 19 mRNAs in no test part are left out and counted).

>>> localization_labels([SequenceRecord("NM_1", "ACGU", (1, 1, 0, 1, 0, 0, 1))]).tolist()
[[1, 1, 1, 0, 0, 1]]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .localization_head import multilabel_metrics
from .readers import DM3LOC_FOLD_LIST_BITS, LOCALIZATION_COMPARTMENTS
from .records import SequenceRecord

__all__ = ["COMPARTMENTS", "MACRO_COMPARTMENTS", "localization_labels", "fold_rows", "cross_fold_predictions",
           "fold_metrics", "kmer_lr_fit_predict", "length_fit_predict", "describe"]

logger = logging.getLogger(__name__)

COMPARTMENTS: tuple[str, ...] = ("nucleus", "exosome", "cytosol", "ribosome", "membrane", "ER")
"""The six compartments, in fold-list order (cytosol = FASTA bit 3, "Cytoplasm")."""

MACRO_COMPARTMENTS: tuple[str, ...] = ("nucleus", "cytosol", "ribosome", "membrane", "ER")
"""Compartments averaged in the macro means (exosome, 99% positive, is reported on its own)."""

FitPredict = Callable[[Sequence[int], Sequence[int], Sequence[int]], np.ndarray]


def localization_labels(records: Sequence[SequenceRecord]) -> np.ndarray:
    """``(n, 6)`` 0/1 labels in :data:`COMPARTMENTS` order from 7-bit DM3Loc labels (raises naming a record)."""
    rows = []
    for record in records:
        label = record.label
        if not isinstance(label, tuple) or len(label) != len(LOCALIZATION_COMPARTMENTS):
            raise ValueError(f"record {record.id!r}: expected a {len(LOCALIZATION_COMPARTMENTS)}-bit label, got {label!r}")
        rows.append([label[i] for i in DM3LOC_FOLD_LIST_BITS])
    return np.array(rows, dtype=np.int64)


def fold_rows(folds: Mapping[int, Mapping[str, Sequence[str]]], ids: Sequence[str]) -> dict[int, dict[str, np.ndarray]]:
    """Fold lists of ids -> row indices into ``ids`` (KeyError naming an id that is not there)."""
    index = {name: i for i, name in enumerate(ids)}
    out: dict[int, dict[str, np.ndarray]] = {}
    for fold, parts in folds.items():
        out[fold] = {}
        for part, names in parts.items():
            missing = [n for n in names if n not in index]
            if missing:
                raise KeyError(f"fold {fold} {part}: {len(missing)} ids not among the mRNAs, e.g. {missing[:3]}")
            out[fold][part] = np.array([index[n] for n in names], dtype=np.int64)
    return out


def cross_fold_predictions(
    n: int, n_labels: int, folds: Mapping[int, Mapping[str, np.ndarray]], fit_predict: FitPredict
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled test scores ``(n, n_labels)`` (NaN for rows in no test part) and the fold of each row (-1)."""
    scores = np.full((n, n_labels), np.nan)
    fold_of = np.full(n, -1, dtype=np.int64)
    for fold in sorted(folds):
        parts = folds[fold]
        test = parts["test"]
        if np.any(fold_of[test] >= 0):
            raise ValueError(f"fold {fold}: test rows already tested in another fold")
        scores[test] = fit_predict(parts["train"], parts["valid"], test)
        fold_of[test] = fold
        logger.info("fold %d: %d train, %d valid, %d test", fold, len(parts["train"]), len(parts["valid"]), len(test))
    return scores, fold_of


def fold_metrics(labels: np.ndarray, scores: np.ndarray, fold_of: np.ndarray) -> pd.DataFrame:
    """Per-compartment AUROC/AUPRC on the pooled test predictions, with ``macro`` over :data:`MACRO_COMPARTMENTS`."""
    tested = fold_of >= 0
    table = multilabel_metrics(labels[tested], scores[tested], COMPARTMENTS)
    macro = table.loc[list(MACRO_COMPARTMENTS)]
    table.loc["macro"] = {"auroc": macro["auroc"].mean(), "auprc": macro["auprc"].mean(), "positives": np.nan,
                          "n": int(tested.sum())}
    table.attrs["untested"] = int((~tested).sum())
    return table


def _per_compartment(make_model: Callable[[], Any], x_train: np.ndarray, x_test: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """One binary classifier per compartment column; a column constant in training scores its training rate."""
    out = np.zeros((len(x_test), y_train.shape[1]))
    for j in range(y_train.shape[1]):
        y = y_train[:, j]
        if len(np.unique(y)) < 2:
            out[:, j] = y.mean()
            continue
        out[:, j] = make_model().fit(x_train, y).predict_proba(x_test)[:, 1]
    return out


def kmer_lr_fit_predict(sequences: Sequence[str], labels: np.ndarray, ks: Sequence[int] = (1, 2, 3, 4, 5),
                        C: float = 1e-3, seed: int = 0) -> FitPredict:
    """A k-mer-frequency logistic regression per compartment (features over each mRNA's whole sequence)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from .baselines import kmer_frequency_features

    features = kmer_frequency_features(sequences, ks).toarray()

    def fit_predict(train: Sequence[int], valid: Sequence[int], test: Sequence[int]) -> np.ndarray:
        scaler = StandardScaler().fit(features[train])
        x_train, x_test = scaler.transform(features[train]), scaler.transform(features[test])
        return _per_compartment(lambda: LogisticRegression(C=C, max_iter=2000, random_state=seed), x_train, x_test,
                                labels[train])

    return fit_predict


def length_fit_predict(lengths: Sequence[int], labels: np.ndarray) -> FitPredict:
    """The length-only baseline: logistic regression on log length per compartment (a known shortcut)."""
    from sklearn.linear_model import LogisticRegression

    x = np.log(np.asarray(lengths, dtype=np.float64))[:, None]

    def fit_predict(train: Sequence[int], valid: Sequence[int], test: Sequence[int]) -> np.ndarray:
        return _per_compartment(LogisticRegression, x[train], x[test], labels[train])

    return fit_predict


def describe(table: pd.DataFrame) -> dict[str, Any]:
    """A JSON-ready ``{compartment: {auroc, auprc}}`` of a :func:`fold_metrics` table."""
    return {name: {"auroc": float(row["auroc"]), "auprc": float(row["auprc"])} for name, row in table.iterrows()}
