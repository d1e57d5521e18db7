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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from utrbert.models.localization_head import multilabel_metrics
from utrbert.data.readers import DM3LOC_FOLD_LIST_BITS, LOCALIZATION_COMPARTMENTS
from utrbert.data.records import SequenceRecord

__all__ = ["COMPARTMENTS", "MACRO_COMPARTMENTS", "localization_labels", "subsample_mrnas", "restrict_folds", "fold_rows",
           "cross_fold_predictions", "fold_metrics", "head_and_tail", "kmer_lr_fit_predict", "length_fit_predict",
           "pooling_head_fit_predict", "fit_subsample", "cnn_fit_predict", "METHODS", "LocalizationSettings", "localization_methods",
           "LocalizationComparison", "compare_methods", "describe"]

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


def subsample_mrnas(records: Sequence[SequenceRecord], n: int | None, seed: int) -> list[SequenceRecord]:
    """A seeded random ``n`` of the mRNAs, in their input order (all of them when ``n`` is None or larger).

    >>> [r.id for r in subsample_mrnas([SequenceRecord(f"NM_{i}", "ACGU") for i in range(5)], 2, seed=0)]
    ['NM_3', 'NM_4']
    """
    if n is None or n >= len(records):
        return list(records)
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    keep = np.sort(np.random.default_rng(seed).choice(len(records), size=n, replace=False))
    return [records[i] for i in keep]


def restrict_folds(
    folds: Mapping[int, Mapping[str, Sequence[str]]], ids: Sequence[str]
) -> dict[int, dict[str, list[str]]]:
    """The folds with only ``ids`` kept (a stated subsample of the mRNAs), each part in its listed order.

    Raises when a part would be left empty, or when an id is in no fold at all.
    """
    keep = set(ids)
    listed = {name for parts in folds.values() for names in parts.values() for name in names}
    unknown = [i for i in ids if i not in listed]
    if unknown:
        raise KeyError(f"{len(unknown)} ids are in no fold, e.g. {unknown[:3]}")
    out: dict[int, dict[str, list[str]]] = {}
    for fold, parts in folds.items():
        out[fold] = {part: [name for name in names if name in keep] for part, names in parts.items()}
        empty = [part for part, names in out[fold].items() if not names]
        if empty:
            raise ValueError(f"fold {fold}: no kept mRNA in its {', '.join(empty)} part; keep more mRNAs")
    return out


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


def head_and_tail(sequence: str, segment_nt: int = 4000) -> str:
    """The first and last ``segment_nt`` nt joined (the whole sequence when it is at most twice as long).

    >>> head_and_tail("AACCGGUU", segment_nt=2), head_and_tail("ACGU", segment_nt=2)
    ('AAUU', 'ACGU')
    """
    from utrbert.models.localization_embeddings import segments

    return "".join(sequence[start:end] for start, end in segments(sequence, segment_nt))


def kmer_lr_fit_predict(sequences: Sequence[str], labels: np.ndarray, ks: Sequence[int] = (1, 2, 3, 4, 5),
                        C: float = 1e-3, seed: int = 0) -> FitPredict:
    """A k-mer-frequency logistic regression per compartment (features over each mRNA's whole sequence)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from utrbert.baselines.classifiers import kmer_frequency_features

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


def pooling_head_fit_predict(windows: np.ndarray, mask: np.ndarray, labels: np.ndarray, config: Any = None) -> FitPredict:
    """The multi-head attention pooling head on per-window features ``(mRNAs, windows, dims)``, early-stopped
    on each fold's valid part."""
    from utrbert.models.localization_head import HeadConfig, predict_pooling_head, train_pooling_head

    config = HeadConfig() if config is None else config

    def fit_predict(train: Sequence[int], valid: Sequence[int], test: Sequence[int]) -> np.ndarray:
        head = train_pooling_head((windows[train], mask[train], labels[train]), (windows[valid], mask[valid], labels[valid]),
                                  config)
        logger.info("pooling head: best epoch %d, valid macro AUROC %.3f", head.best_epoch, head.best_valid_macro_auroc)
        return predict_pooling_head(head, windows[test], mask[test])

    return fit_predict


def fit_subsample(train: Sequence[int], valid: Sequence[int], max_train: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded ``max_train`` of a fold's train rows and the same fraction of its valid rows (sorted; all rows when
    ``max_train`` is None or not smaller), for a method too slow to fit on every training mRNA.

    >>> train, valid = fit_subsample(range(100), range(100, 140), max_train=10, seed=0)
    >>> len(train), len(valid), set(train) <= set(range(100)), set(valid) <= set(range(100, 140))
    (10, 4, True, True)
    """
    train, valid = np.asarray(train, dtype=np.int64), np.asarray(valid, dtype=np.int64)
    if max_train is None or max_train >= len(train):
        return train, valid
    if max_train < 1:
        raise ValueError(f"max_train must be positive, got {max_train}")
    rng = np.random.default_rng(seed)
    kept_valid = max(1, round(len(valid) * max_train / len(train)))
    return (np.sort(rng.choice(train, size=max_train, replace=False)),
            np.sort(rng.choice(valid, size=min(kept_valid, len(valid)), replace=False)))


def cnn_fit_predict(sequences: Sequence[str], labels: np.ndarray, seed: int = 0, max_train: int | None = None,
                    **cnn: Any) -> FitPredict:
    """The one-hot CNN of the RBP benchmark with one output per compartment (sequence only), early-stopped on
    each fold's valid part; ``sequences`` are what it reads (e.g. :func:`head_and_tail` of each mRNA).

    ``max_train``: fit on a seeded subsample of each fold's train part (and the same fraction of its valid part,
    :func:`fit_subsample`); the whole test part is scored either way."""
    from utrbert.baselines.classifiers import CnnClassifier

    def fit_predict(train: Sequence[int], valid: Sequence[int], test: Sequence[int]) -> np.ndarray:
        train, valid = fit_subsample(train, valid, max_train, seed)
        model = CnnClassifier(seed=seed, progress=False, **cnn)
        model.fit([sequences[i] for i in train], labels[train], [sequences[i] for i in valid], labels[valid])
        return model.predict_scores([sequences[i] for i in test])

    return fit_predict


METHODS: dict[str, str] = {
    "embedding_head": "frozen BERT window embeddings (mean-pooled last layer) -> multi-head attention pooling head",
    "attention_head": "per-window [CLS] attention pooled by k-mer (4^k features) -> the same pooling head",
    "cnn": "one-hot CNN over the same head + tail nucleotides (sequence only), one output per compartment",
    "kmer_lr": "k-mer frequencies of the whole mRNA -> logistic regression per compartment",
    "length": "log mRNA length -> logistic regression per compartment (a shortcut to know about)",
}
"""The compared methods, in the chapter's order (the paper's Supplementary Fig. 3 comparisons and baselines)."""


@dataclass(frozen=True)
class LocalizationSettings:
    """What the compared methods are fitted with (recorded with the results)."""

    head: Any = None  # a HeadConfig; None: the defaults
    cnn: Mapping[str, Any] = field(default_factory=lambda: {"filters": 64, "width": 10, "hidden": 32, "epochs": 8,
                                                           "patience": 3, "batch_size": 32, "predict_batch_size": 64})
    kmer_ks: tuple[int, ...] = (1, 2, 3, 4, 5)
    kmer_C: float = 1e-3
    segment_nt: int = 4000
    seed: int = 0
    cnn_max_train: int | None = None  # the CNN fits on a seeded subsample of each fold's train part (None: all)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        from utrbert.models.localization_head import HeadConfig

        head = self.head if self.head is not None else HeadConfig(seed=self.seed)
        return {"head": asdict(head), "cnn": dict(self.cnn), "kmer_ks": list(self.kmer_ks), "kmer_C": self.kmer_C,
                "segment_nt": self.segment_nt, "seed": self.seed, "cnn_max_train": self.cnn_max_train}


def localization_methods(
    embeddings: Any, sequences: Sequence[str], labels: np.ndarray, settings: LocalizationSettings,
    methods: Sequence[str] = tuple(METHODS),
) -> dict[str, FitPredict]:
    """The fit-predict function of each of ``methods`` (:data:`METHODS`) on the same rows.

    ``embeddings`` is a :class:`~utrbert.models.localization_embeddings.MrnaEmbeddings` whose ids are the rows;
    ``sequences`` the whole mRNAs in that order (the CNN reads their :func:`head_and_tail`).
    """
    from utrbert.models.localization_embeddings import pad_windows
    from utrbert.models.localization_head import HeadConfig

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if len(sequences) != len(labels) or len(embeddings.ids) != len(labels):
        raise ValueError(f"{len(embeddings.ids)} embedded mRNAs, {len(sequences)} sequences, {len(labels)} label rows")
    head = settings.head if settings.head is not None else HeadConfig(seed=settings.seed)
    out: dict[str, FitPredict] = {}
    for name in methods:
        if name in ("embedding_head", "attention_head"):
            windows, mask = pad_windows(embeddings, features="hidden" if name == "embedding_head" else "attention")
            out[name] = pooling_head_fit_predict(windows, mask, labels, head)
        elif name == "cnn":
            out[name] = cnn_fit_predict([head_and_tail(s, settings.segment_nt) for s in sequences], labels,
                                        seed=settings.seed, max_train=settings.cnn_max_train, **settings.cnn)
        elif name == "kmer_lr":
            out[name] = kmer_lr_fit_predict(sequences, labels, settings.kmer_ks, settings.kmer_C, settings.seed)
        else:
            out[name] = length_fit_predict([len(s) for s in sequences], labels)
    return out


@dataclass
class LocalizationComparison:
    """Each method's pooled cross-fold test scores and metrics (and those on an independent test set)."""

    ids: list[str]
    methods: list[str]
    scores: dict[str, np.ndarray]
    fold_of: np.ndarray
    tables: dict[str, pd.DataFrame]
    seconds: dict[str, float]
    independent: dict[str, pd.DataFrame] = field(default_factory=dict)
    independent_scores: dict[str, np.ndarray] = field(default_factory=dict)

    def table(self, metric: str = "auroc", independent: bool = False) -> pd.DataFrame:
        """Compartments (and ``macro``) x methods."""
        tables = self.independent if independent else self.tables
        return pd.DataFrame({name: tables[name][metric] for name in self.methods if name in tables}).astype(float)

    def to_json(self) -> dict[str, Any]:
        """``{method: {compartment: {auroc, auprc}}}`` (cross-fold), the independent test set when given."""
        out: dict[str, Any] = {"cross_fold": {name: describe(self.tables[name]) for name in self.methods},
                               "seconds": dict(self.seconds), "n_tested": int((self.fold_of >= 0).sum())}
        if self.independent:
            out["independent_test"] = {name: describe(table) for name, table in self.independent.items()}
        return out


def compare_methods(
    ids: Sequence[str],
    labels: np.ndarray,
    folds: Mapping[int, Mapping[str, np.ndarray]],
    methods: Mapping[str, FitPredict],
    independent: Mapping[str, np.ndarray] | None = None,
) -> LocalizationComparison:
    """Every method on the same folds, one after another; ``independent`` (``train``, ``valid``, ``test``
    rows, the test rows in no fold) adds one more fit per method, scored on that independent test set."""
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} ids but {len(labels)} label rows")
    fold_of = None
    result = LocalizationComparison(list(ids), list(methods), {}, np.zeros(0, dtype=np.int64), {}, {})
    in_folds = np.zeros(len(ids), dtype=bool)
    for parts in folds.values():
        for rows in parts.values():
            in_folds[rows] = True
    if independent is not None and in_folds[independent["test"]].any():
        raise ValueError("the independent test rows must be in no fold")
    for name, fit_predict in methods.items():
        start = time.perf_counter()
        scores, fold_of = cross_fold_predictions(len(ids), labels.shape[1], folds, fit_predict)
        result.scores[name] = scores
        result.tables[name] = fold_metrics(labels[in_folds], scores[in_folds], fold_of[in_folds])
        if independent is not None:
            test = independent["test"]
            predicted = fit_predict(independent["train"], independent["valid"], test)
            result.independent_scores[name] = predicted
            result.independent[name] = fold_metrics(labels[test], predicted, np.zeros(len(test), dtype=np.int64))
        result.seconds[name] = round(time.perf_counter() - start, 1)
        logger.info("%s: macro AUROC %.3f (%.0f s)", name, result.tables[name].loc["macro", "auroc"], result.seconds[name])
    result.fold_of = fold_of if fold_of is not None else np.full(len(ids), -1)
    return result


def describe(table: pd.DataFrame) -> dict[str, Any]:
    """A JSON-ready ``{compartment: {auroc, auprc}}`` of a :func:`fold_metrics` table."""
    return {name: {"auroc": float(row["auroc"]), "auprc": float(row["auprc"])} for name, row in table.iterrows()}
