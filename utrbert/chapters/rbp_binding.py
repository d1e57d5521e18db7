"""Chapter 03 (``notebooks/03_rbp_binding.ipynb``): the RBP-31 benchmark, resumable one (set, method) at a time.

Protocol (iONMF / iDeepS): train on ``training_sample_0``, report on ``test_sample_0`` of each of the 31 sets.
Every method of a set sees exactly the same records: the training file, optionally subsampled (seeded,
label-stratified, ``max_train``), then split into training and validation records (``valid_fraction``,
seeded, stratified). The validation records drive early stopping and the tuned threshold; the whole test
file is scored.

The methods are a :class:`~utrbert.runs.benchmark.MethodRegistry` (default: the four built-in ones of
:mod:`utrbert.runs.builtin_methods`; a notebook cell can register more). Each finished item is written to
``<results_dir>/<set>/<method>.json`` by the item store (:mod:`utrbert.runs.store`) and skipped when present with
the same fingerprint, so a run can stop at any point and continue later, on another machine. An item with a
*different* fingerprint is an error, never silently mixed into a table. Predictions go to
``<artifacts_dir>/<set>/<method>.tsv``.

For the BERT items of the sets in ``landscape_sets`` the JSON also holds the mean [CLS] attention per
nucleotide over positive and negative test windows (the paper's Fig. 2c "attention landscape"; see
:mod:`utrbert.interpret.attention`), and for the ``pretrained`` items of ``embedding_sets`` a 2-D UMAP of [CLS]
embeddings of a test subsample. These extras do not change an item's metrics, so they are not part of the
fingerprint: an item computed before a set was added to those lists simply has no extras.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

from utrbert.models.finetuning import binary_labels, split_train_valid, stratified_subsample
from utrbert.runs.benchmark import BenchmarkSettings, MethodRegistry, SetSplits, run_items
from utrbert.runs.builtin_methods import resolve_methods
from utrbert.runs.store import ItemStore
from utrbert.runs.tables import split_order

__all__ = ["load_set_splits", "run_benchmark", "collect_results", "rbp_results"]

logger = logging.getLogger(__name__)


def load_set_splits(rbp31_root: str | os.PathLike[str], set_name: str, settings: BenchmarkSettings) -> SetSplits:
    """Read one set and cut the shared train/validation split (subsampled to ``max_train`` first)."""
    from utrbert.data.readers import read_rbp31_split

    train_file = read_rbp31_split(rbp31_root, set_name, "train")
    test = read_rbp31_split(rbp31_root, set_name, "test")
    train = train_file
    if settings.max_train is not None and settings.max_train < len(train_file):
        rows = stratified_subsample(binary_labels(train_file, f"{set_name} train"), settings.max_train, settings.seed)
        train = [train_file[i] for i in rows]
    train, valid = split_train_valid(train, settings.valid_fraction, settings.seed)
    n_test_file = len(test)
    if settings.max_test is not None and settings.max_test < len(test):
        rows = stratified_subsample(binary_labels(test, f"{set_name} test"), settings.max_test, settings.seed)
        test = [test[i] for i in rows]
    return SetSplits(set_name, train, valid, test, len(train_file), n_test_file)


def run_benchmark(
    rbp31_root: str | os.PathLike[str],
    settings: BenchmarkSettings,
    results_dir: str | os.PathLike[str],
    sets: Iterable[str] | None = None,
    methods: MethodRegistry | Sequence[str] | None = None,
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
    max_items: int | None = None,
    time_budget_s: float | None = None,
    order: str = "set",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run every missing (set, method) item; finished items are read back, not recomputed.

    ``methods`` is a registry (a notebook's, with its own methods) or names of built-in methods (default: all
    four). ``max_items`` stops after computing that many new items, ``time_budget_s`` stops starting new items
    once that many seconds have passed (an item that has started is finished, and every call computes at least
    one item, so repeated calls always progress); call again to continue. ``order="set"`` computes set by set;
    ``order="method"`` computes the cheap methods (:attr:`~utrbert.runs.benchmark.Method.cheap`) of every set
    first, then the others set by set (so a partial run has complete scratch/pretrained pairs), which is what a
    time-limited run wants. Returns the records of every existing item, by set and then method order.
    """
    from utrbert.data.readers import list_rbp31_sets

    if order not in ("set", "method"):
        raise ValueError(f"order must be 'set' or 'method', got {order!r}")
    registry = resolve_methods(methods)
    names = list(sets) if sets is not None else list_rbp31_sets(rbp31_root)
    method_names = registry.names()
    plan = [(n, m) for n in names for m in method_names]
    if order == "method":  # every cheap item first, then set by set the expensive ones (scratch, pretrained)
        def rank(item: tuple[str, str]) -> tuple[int, int, int]:
            name, method = item
            if registry[method].cheap:
                return (0, method_names.index(method), names.index(name))
            return (1, names.index(name), method_names.index(method))

        plan.sort(key=rank)

    def loader(name: str) -> Any:
        return lambda: load_set_splits(rbp31_root, name, settings)

    found = run_items([(n, loader(n), m) for n, m in plan], registry, settings, results_dir, artifacts_dir, run_label,
                      max_items=max_items, time_budget_s=time_budget_s, progress=progress, desc="RBP-31 items")
    return [found[key] for key in sorted(found, key=lambda key: (names.index(key[0]), method_names.index(key[1])))]


def collect_results(results_dir: str | os.PathLike[str], methods: MethodRegistry | None = None) -> list[dict[str, Any]]:
    """Every item under ``results_dir`` whatever its settings (sorted by set, then registered method order)."""
    store = ItemStore(results_dir, "RBP-31 item")
    records = [store.load(key) for key in store.keys("*/*.json")]
    order = resolve_methods(methods).order({r["method"] for r in records})
    return sorted(records, key=lambda r: (split_order(r["set"]), order.index(r["method"])))


def rbp_results(
    records: Sequence[dict[str, Any]], methods: MethodRegistry, settings: BenchmarkSettings, **extra: Any
) -> dict[str, Any]:
    """What the chapter writes to ``results/rbp.json``: per-set AUROC of every method, means, wins, metrics, each
    registered method's settings, which run made which items, and ``extra`` (profile, device)."""
    from utrbert.runs.tables import auroc_table, item_provenance, summarise_benchmark

    table = auroc_table(records, methods)
    summary = summarise_benchmark(records, methods)
    return {
        "per_set": {name: {m: float(v) for m, v in row.dropna().items()} for name, row in table.iterrows()},
        "mean_auroc": summary["mean_auroc"],
        "complete_sets": summary["complete_sets"],
        "missing_items": summary["missing_items"],
        "pretrained_wins": summary["pretrained_wins"],
        "metrics": summary["metrics"].to_dict(orient="index"),
        "settings": {m.name: m.fingerprint_fields(settings) for m in methods},
        "runs": item_provenance(records, methods).to_dict(orient="records"),
        **extra,
    }
