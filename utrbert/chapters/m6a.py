"""Chapter 05 (``notebooks/05_m6a.ipynb``): the m6A benchmark on MST-m6A, per cell line, resumable per item.

Every (data set, method) item is computed by :func:`utrbert.runs.benchmark.run_item` with the same methods as
the RBP benchmark (default: the built-in four of :mod:`utrbert.runs.builtin_methods`; a notebook cell can
register more), the same metrics, JSON and item store, on windows cropped to
``window`` nt around the candidate adenosine (41 in the paper). A folder of your own sets (``<name>/test.*``,
``<name>/train.*`` optional, windows of one odd length centred on the candidate A) runs the same way
(:func:`~utrbert.data.readers.list_mst_m6a_datasets`). Data sets with a train file use it (subsampled to
``max_train``, a seeded validation split) and report on their test file; data sets with only a test file use
stratified ``n_folds``-fold cross-validation over it, one item per fold (``<name>_fold<i>``), and report the
mean over folds. The window, folds and seed are recorded in ``<results_dir>/protocol.json``; results made with
another protocol are an error, never mixed in. Record ids become ``<data set>_<split>:<id>`` (the files' own
ids, ``Positive_12``, repeat across files).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from utrbert.data.records import SequenceRecord
from utrbert.models.finetuning import binary_labels, split_train_valid, stratified_subsample
from utrbert.runs.benchmark import BenchmarkSettings, MethodRegistry, SetSplits, run_items
from utrbert.runs.builtin_methods import resolve_methods
from utrbert.runs.store import atomic_write_json

__all__ = ["M6aProtocol", "read_m6a_windows", "m6a_splits", "run_m6a_benchmark", "m6a_auroc_table", "m6a_summary",
           "choose_analysis_sets", "optional_dm3loc"]

logger = logging.getLogger(__name__)


class M6aProtocol(dict):
    """``window``, ``n_folds`` and ``seed``: what, beyond the benchmark settings, determines an m6A item."""

    def __init__(self, window: int = 41, n_folds: int = 5, seed: int = 0) -> None:
        if window < 5 or window % 2 == 0:
            raise ValueError(f"window must be odd and at least 5, got {window}")
        if n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {n_folds}")
        super().__init__(window=window, n_folds=n_folds, seed=seed)


def _folds(records: Sequence[SequenceRecord], n_folds: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedKFold

    labels = binary_labels(records, "cross-validation records")
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros(len(labels)), labels)]


def _file_ids(records: Sequence[SequenceRecord], prefix: str) -> list[SequenceRecord]:
    """MST-m6A ids (``Positive_12``) repeat across files: make them ``<data set>_<split>:<id>``."""
    from dataclasses import replace

    return [replace(r, id=f"{prefix}:{r.id}") for r in records]


def read_m6a_windows(root: str | os.PathLike[str], name: str, split: str, window: int | None) -> list[SequenceRecord]:
    """One MST-m6A file (or a set of your own, :func:`~utrbert.data.readers.list_mst_m6a_datasets`) cropped to
    ``window`` nt (None: the whole windows; ``meta["centre"]`` is the candidate A), ids ``<name>_<split>:<id>``
    (the ids every analysis joins on)."""
    from utrbert.data.readers import read_mst_m6a

    return _file_ids(read_mst_m6a(root, name, split, window), f"{name}_{split}")


def m6a_splits(root: str | os.PathLike[str], name: str, settings: BenchmarkSettings, protocol: M6aProtocol) -> list[SetSplits]:
    """The splits every method sees for one MST-m6A data set: one, or one per cross-validation fold."""
    from utrbert.data.readers import list_mst_m6a_datasets

    available = list_mst_m6a_datasets(root)
    if name not in available:
        raise KeyError(f"no MST-m6A data set {name!r}; available: {sorted(available)}")
    test_file = read_m6a_windows(root, name, "test", protocol["window"])
    if "train" in available[name]:
        train_file = read_m6a_windows(root, name, "train", protocol["window"])
        train = train_file
        if settings.max_train is not None and settings.max_train < len(train):
            rows = stratified_subsample(binary_labels(train, f"{name} train"), settings.max_train, settings.seed)
            train = [train[i] for i in rows]
        train, valid = split_train_valid(train, settings.valid_fraction, settings.seed)
        return [SetSplits(name, train, valid, test_file, len(train_file), len(test_file))]
    out = []
    for fold, test_rows in enumerate(_folds(test_file, protocol["n_folds"], protocol["seed"])):
        chosen = set(test_rows.tolist())
        rest = [r for i, r in enumerate(test_file) if i not in chosen]
        if settings.max_train is not None and settings.max_train < len(rest):
            rows = stratified_subsample(binary_labels(rest, f"{name} fold {fold}"), settings.max_train, settings.seed)
            rest = [rest[i] for i in rows]
        train, valid = split_train_valid(rest, settings.valid_fraction, settings.seed)
        out.append(SetSplits(f"{name}_fold{fold}", train, valid, [test_file[i] for i in test_rows],
                             len(test_file) - len(test_rows), len(test_rows)))
    return out


def choose_analysis_sets(
    analysis_sets: Sequence[str], names: Sequence[str], available: dict[str, tuple[str, ...]], own_sets: bool
) -> tuple[list[str], str]:
    """The data sets whose fine-tuned classifier is read in the analysis sections (those of ``analysis_sets`` run
    here with a train file), and a sentence for the page.

    In a folder of your own sets (``own_sets``), when ``analysis_sets`` names none of them, every set of the folder
    with a train file is analysed instead, and the sentence says so.
    """
    chosen = [n for n in analysis_sets if n in names and "train" in available[n]]
    if chosen or not own_sets:
        return chosen, ""
    chosen = [n for n in names if "train" in available[n]]
    if not chosen:
        return [], "No set of this folder has a train file: the analysis sections have no classifier to read."
    return chosen, (f"`analysis_sets` ({', '.join(analysis_sets) or 'none'}) names none of this folder's sets with a "
                    f"train file: the sections below analyse all of them ({', '.join(chosen)}).")


def optional_dm3loc(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The DM3Loc folder of the data directory (``data_dir`` or ``$UTRBERT_DATA``), or None when there is no data
    directory or no DM3Loc in it (the sections that place sites on mRNAs are then skipped)."""
    from utrbert.data.readers import DM3LOC_FASTA_NAME
    from utrbert.data.registry import DatasetNotFoundError, dataset_path

    try:
        path = dataset_path("dm3loc", data_dir)
    except DatasetNotFoundError:
        return None
    return path if (path / DM3LOC_FASTA_NAME).is_file() else None


def _check_protocol(results_dir: Path, protocol: M6aProtocol) -> None:
    path = results_dir / "protocol.json"
    if path.is_file():
        existing = json.loads(path.read_text(encoding="utf-8"))
        if existing != dict(protocol):
            raise ValueError(f"{results_dir} holds m6A results made with protocol {existing}, not {dict(protocol)}")
    else:
        atomic_write_json(path, dict(protocol))


def run_m6a_benchmark(
    root: str | os.PathLike[str],
    settings: BenchmarkSettings,
    results_dir: str | os.PathLike[str],
    names: Sequence[str] | None = None,
    methods: MethodRegistry | Sequence[str] | None = None,
    protocol: M6aProtocol | None = None,
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
    time_budget_s: float | None = None,
) -> list[dict[str, Any]]:
    """Compute every missing item (cheap methods of every data set first, then BERT); returns all finished items.

    ``methods``: a registry or names of built-in methods (default: all four). Stops starting new items after
    ``time_budget_s`` (at least one per call). Items carry ``dataset`` (the data set's name) besides ``set`` (the
    split's name, ``<name>_fold<i>`` for cross-validated ones).
    """
    from utrbert.data.readers import list_mst_m6a_datasets

    protocol = protocol or M6aProtocol()
    registry = resolve_methods(methods)
    results = Path(results_dir)
    _check_protocol(results, protocol)
    names = list(names) if names is not None else sorted(list_mst_m6a_datasets(root))
    plan: list[tuple[str, SetSplits, str]] = []
    for name in names:
        for splits in m6a_splits(root, name, settings, protocol):
            plan += [(name, splits, m) for m in registry.names()]
    plan.sort(key=lambda item: (not registry[item[2]].cheap, names.index(item[0])))
    found = run_items([(splits.name, (lambda s=splits: s), method) for _, splits, method in plan], registry, settings,
                      results, artifacts_dir, run_label, time_budget_s=time_budget_s, desc="m6A items")
    return [{**found[(splits.name, method)], "dataset": name} for name, splits, method in plan
            if (splits.name, method) in found]


def m6a_auroc_table(records: Sequence[dict[str, Any]], methods: MethodRegistry | Sequence[str] | None = None) -> pd.DataFrame:
    """Test AUROC per data set (rows) and method (columns: registered ones in order, then any other method with
    items); cross-validated data sets: the mean over folds, present only when every fold is finished
    (``n_folds`` column says how many items went into each row)."""
    registry = resolve_methods(methods)
    frame = pd.DataFrame([{"dataset": r["dataset"], "split": r["set"], "method": r["method"],
                           "auroc": r["metrics"]["auroc"]} for r in records])
    if frame.empty:
        return pd.DataFrame(columns=registry.names())
    table = frame.pivot_table(index="dataset", columns="method", values="auroc", aggfunc="mean")
    counts = frame.groupby("dataset")["split"].nunique()
    per_method = frame.pivot_table(index="dataset", columns="method", values="split", aggfunc="nunique")
    table = table.where(per_method.reindex_like(table).eq(counts, axis=0))  # a fold missing: no mean yet
    table = table.reindex(columns=registry.order(table.columns))
    table["n_folds"] = counts.where(counts > 1, 0)
    return table


def m6a_summary(
    records: Sequence[dict[str, Any]], methods: MethodRegistry | Sequence[str] | None = None, n_items_expected: int | None = None
) -> dict[str, Any]:
    """The chapter's summary of the benchmark, for every method with items (registered ones first).

    Returns ``table`` (data sets x methods AUROC, :func:`m6a_auroc_table` without ``n_folds``), ``complete``
    (the data sets with every method), ``mean_auroc`` and ``wins`` (method -> data sets where it is best) over
    those, ``auroc`` (the table as JSON-ready nested dicts) and ``text`` (Markdown).
    """
    table = m6a_auroc_table(records, methods).drop(columns="n_folds", errors="ignore")
    complete = table.dropna()
    names = list(table.columns)
    expected = f" of {n_items_expected}" if n_items_expected is not None else ""
    lines = [f"{len(records)}{expected} items finished; {len(complete)} of {len(table)} data sets have every method."]
    mean_auroc: dict[str, float] = {}
    wins: dict[str, int] = {}
    if len(complete):
        mean_auroc = {m: float(complete[m].mean()) for m in names}
        best = complete.idxmax(axis=1).value_counts()
        wins = {m: int(best.get(m, 0)) for m in names}
        lines.append("Mean AUROC over those: " + ", ".join(f"`{m}` {mean_auroc[m]:.3f}" for m in names) + ".")
        lines.append("Best method per data set: " + ", ".join(f"`{m}` {wins[m]}" for m in names) + ".")
    return {
        "table": table,
        "complete": complete,
        "mean_auroc": mean_auroc,
        "wins": wins,
        "auroc": {name: {m: (None if pd.isna(v) else float(v)) for m, v in row.items()} for name, row in table.iterrows()},
        "text": " ".join(lines),
    }
