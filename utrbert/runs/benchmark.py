"""Benchmarks of binary classifiers on shared splits, one resumable (split, method) item at a time.

The RBP-31 chapter (:mod:`utrbert.chapters.rbp_binding`) and the m6A chapter (:mod:`utrbert.chapters.m6a`) both
run this protocol:

* every method of a split sees exactly the same records (:class:`SetSplits`: training, validation and test);
  the validation records drive early stopping and the tuned threshold, the test records are scored;
* a *method* is a name, a fit-and-score callable and the settings fields that determine its result
  (:class:`Method`); the methods of a run are a :class:`MethodRegistry`, and everything downstream (the item
  JSON, tables, plots, summaries, the chapter's results JSON) takes whatever methods it holds. The built-in
  four (k-mer logistic regression, CNN, BERT from scratch, pretrained BERT) are in
  :mod:`utrbert.runs.builtin_methods`; a notebook cell adds its own with :meth:`MethodRegistry.register`;
* each finished item is one JSON file in an :class:`~utrbert.runs.store.ItemStore`
  (``<results_dir>/<split>/<method>.json``: test metrics, counts, settings and their fingerprint, timing,
  device, versions), skipped when present with the same fingerprint and an error when present with another.

A method's fingerprint covers the fields every method shares (:func:`shared_fields`: subsampling, validation
fraction, seed) plus its own (:attr:`Method.fields`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from utrbert.data.records import SequenceRecord
from utrbert.models.finetuning import FinetuneConfig, binary_labels
from utrbert.models.metrics import evaluate_binary
from utrbert.runs.store import ItemStore, atomic_write_table, settings_digest

__all__ = [
    "BenchmarkSettings",
    "SetSplits",
    "ItemOutputs",
    "MethodScores",
    "Method",
    "MethodRegistry",
    "shared_fields",
    "settings_fingerprint",
    "item_key",
    "item_path",
    "fine_tuned_model_path",
    "attention_path",
    "run_item",
    "run_items",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchmarkSettings:
    """The settings of a benchmark run; each method's fingerprint covers the part that determines its result."""

    max_train: int | None = None
    valid_fraction: float = 0.1
    seed: int = 0
    bert_size: str = "tiny"
    k: int = 3
    pretrained: str | None = None  # checkpoint directory (recorded by name and content digest)
    finetune: FinetuneConfig = FinetuneConfig()
    cnn: dict[str, Any] = field(default_factory=dict)
    kmer_lr: dict[str, Any] = field(default_factory=dict)
    max_test: int | None = None  # stratified subsample of each test file (None: all, the protocol)
    attention_layers: tuple[int, ...] = (-1,)
    landscape_sets: tuple[str, ...] = ()  # sets whose BERT items also record the attention landscape
    embedding_sets: tuple[str, ...] = ()  # sets whose pretrained item also records a UMAP of [CLS] embeddings
    embedding_points: int = 2000

    def fingerprint_fields(self, method: str) -> dict[str, Any]:
        """The settings that determine the result of the registered method named ``method``
        (:meth:`Method.fingerprint_fields`; names are looked up in :data:`utrbert.runs.builtin_methods.METHODS`)."""
        return _method(method, None).fingerprint_fields(self)


def shared_fields(settings: BenchmarkSettings) -> dict[str, Any]:
    """The settings every method's result depends on: which records it trains, tunes and is tested on."""
    return {"max_train": settings.max_train, "max_test": settings.max_test, "valid_fraction": settings.valid_fraction,
            "seed": settings.seed}


@dataclass
class SetSplits:
    """Training, validation and test records of one split, as every method sees them."""

    name: str
    train: list[SequenceRecord]
    valid: list[SequenceRecord]
    test: list[SequenceRecord]
    n_train_file: int
    n_test_file: int

    def counts(self) -> dict[str, int]:
        return {
            "n_train": len(self.train),
            "n_valid": len(self.valid),
            "n_test": len(self.test),
            "n_train_file": self.n_train_file,
            "n_test_file": self.n_test_file,
            "train_positives": int(sum(r.label for r in self.train)),
            "test_positives": int(sum(r.label for r in self.test)),
        }


@dataclass(frozen=True)
class ItemOutputs:
    """Where a method may keep more than its scores (None: nowhere): its fitted model and the [CLS] attention
    of the test positives (the ``pretrained`` method writes both; later chapters read them)."""

    model_dir: Path | None = None
    attention_file: Path | None = None


@dataclass(frozen=True)
class MethodScores:
    """What fitting a method on one split gives: test scores, validation scores, and details for the JSON."""

    test: np.ndarray
    valid: np.ndarray
    details: Mapping[str, Any] = field(default_factory=dict)


def _no_fields(settings: BenchmarkSettings) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Method:
    """One benchmark method.

    Attributes:
        name: Its name in item files, tables and plots (a folder-safe word: ``kmer_lr``, ``kmer_rf``).
        fit_score: ``(splits, settings, outputs) -> MethodScores``: fit on ``splits.train`` (``splits.valid`` for
            early stopping), score ``splits.test`` and ``splits.valid``.
        fields: ``settings -> dict`` of the settings that determine its result besides :func:`shared_fields`
            (hyperparameters, checkpoints by content). Everything that changes the scores must be in here, or
            a stored item will be reused for settings it was not computed with.
        label: Longer name for legends (default: ``name``).
        colour: Matplotlib colour for plots (default: one from the registry's palette).
        cheap: Whether a time-limited run computes it first (the baselines) before the expensive ones.
        keeps_model: Whether :func:`run_item` gives it :class:`ItemOutputs` places for its fitted model (with an
            artifacts folder) and its test positives' attention (the ``pretrained`` method, read by later chapters).
    """

    name: str
    fit_score: Callable[[SetSplits, BenchmarkSettings, ItemOutputs], MethodScores]
    fields: Callable[[BenchmarkSettings], Mapping[str, Any]] = _no_fields
    label: str = ""
    colour: str | None = None
    cheap: bool = True
    keeps_model: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"method name must be a word of letters, digits, '_' or '-', got {self.name!r}")

    def fingerprint_fields(self, settings: BenchmarkSettings) -> dict[str, Any]:
        """The settings that determine this method's result (device and run-time options excluded)."""
        return {**shared_fields(settings), **self.fields(settings)}

    def fingerprint(self, settings: BenchmarkSettings) -> str:
        """Digest of :meth:`fingerprint_fields` (:func:`utrbert.runs.store.settings_digest`)."""
        return settings_digest(self.fingerprint_fields(settings))


PALETTE = ("#8c8c8c", "#4c72b0", "#dd8452", "#c44e52", "#55a868", "#8172b2", "#937860", "#da8bc3", "#ccb974", "#64b5cd")
"""Colours given, in registration order, to methods that do not name one."""


class MethodRegistry:
    """The methods of a benchmark, in table order.

    >>> from utrbert.runs.benchmark import Method, MethodRegistry
    >>> noop = lambda splits, settings, outputs: None
    >>> registry = MethodRegistry([Method("a", noop), Method("b", noop, colour="red")])
    >>> registry.names(), registry.colours()["b"], "a" in registry
    (['a', 'b'], 'red', True)
    """

    def __init__(self, methods: Iterable[Method] = ()) -> None:
        self._methods: dict[str, Method] = {}
        for method in methods:
            self.register(method)

    def register(self, method: Method, *, replace: bool = False) -> Method:
        """Add ``method`` at the end (``replace=True``: put it in place of a method of the same name)."""
        if not isinstance(method, Method):
            raise TypeError(f"register a utrbert.runs.benchmark.Method, not {type(method).__name__}")
        if method.name in self._methods and not replace:
            raise ValueError(f"a method named {method.name!r} is already registered; pass replace=True to swap it")
        self._methods[method.name] = method
        return method

    def __getitem__(self, name: str) -> Method:
        try:
            return self._methods[name]
        except KeyError:
            raise ValueError(f"unknown method {name!r}; registered: {self.names()}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[Method]:
        return iter(self._methods.values())

    def __len__(self) -> int:
        return len(self._methods)

    def __repr__(self) -> str:
        return f"MethodRegistry({self.names()})"

    def names(self) -> list[str]:
        return list(self._methods)

    def remove(self, name: str) -> Method:
        """Take the method named ``name`` out of the registry (unknown names are an error)."""
        method = self[name]
        del self._methods[name]
        return method

    def select(self, names: Iterable[str]) -> MethodRegistry:
        """A registry of the named methods, in the order given (unknown names are an error)."""
        return MethodRegistry(self[name] for name in names)

    def colours(self) -> dict[str, str]:
        """Method -> plot colour: its own, else the next palette colour not taken by a method that names one."""
        taken = {m.colour for m in self if m.colour}
        free = iter([c for c in PALETTE if c not in taken] + list(PALETTE))
        return {m.name: m.colour or next(free) for m in self}

    def labels(self) -> dict[str, str]:
        return {m.name: m.label or m.name for m in self}

    def order(self, names: Iterable[str]) -> list[str]:
        """``names`` in registration order; names not registered (items of other runs) follow, sorted, so a
        table never drops a method it has results for."""
        found = set(names)
        return [n for n in self.names() if n in found] + sorted(found - set(self._methods))


def settings_fingerprint(settings: BenchmarkSettings, method: Method | str, methods: MethodRegistry | None = None) -> str:
    """Fingerprint of ``method``'s result under ``settings`` (a name is looked up in ``methods``, default the
    shared registry :data:`utrbert.runs.builtin_methods.METHODS`).

    >>> from utrbert.runs.benchmark import BenchmarkSettings
    >>> a = settings_fingerprint(BenchmarkSettings(max_train=100), "kmer_lr")
    >>> a == settings_fingerprint(BenchmarkSettings(max_train=100, bert_size="small"), "kmer_lr")
    True
    >>> a == settings_fingerprint(BenchmarkSettings(max_train=200), "kmer_lr")
    False
    """
    return _method(method, methods).fingerprint(settings)


def _method(method: Method | str, methods: MethodRegistry | None) -> Method:
    if isinstance(method, Method):
        return method
    if methods is None:
        from utrbert.runs.builtin_methods import METHODS

        methods = METHODS
    return methods[method]


def item_key(split_name: str, method: str) -> str:
    """The store key of one (split, method) item: ``<split>/<method>``."""
    return f"{split_name}/{method}"


def item_path(results_dir: str | os.PathLike[str], set_name: str, method: str) -> Path:
    """Where the result of one (set, method) item lives: ``<results_dir>/<set>/<method>.json``."""
    return ItemStore(results_dir).path(item_key(set_name, method))


def fine_tuned_model_path(artifacts_dir: str | os.PathLike[str], set_name: str, method: str) -> Path:
    """Where :func:`run_item` keeps the fine-tuned classifier of a ``pretrained`` item (fp16, with its card)."""
    return Path(artifacts_dir) / set_name / f"{method}_model"


def attention_path(results_dir: str | os.PathLike[str], set_name: str) -> Path:
    """Where a ``pretrained`` item writes the [CLS] attention of its test positives (committed like the item):
    ``<results_dir>_attention/<set>.npz`` beside the item folders, so ``<results_dir>/*/*.json`` stays items only.

    >>> attention_path("results/rbp31", "23_PARCLIP_PUM2_hg19").as_posix()
    'results/rbp31_attention/23_PARCLIP_PUM2_hg19.npz'
    """
    directory = Path(results_dir)
    return directory.with_name(directory.name + "_attention") / f"{set_name}.npz"


def _outputs(method: Method, splits: SetSplits, results_dir: Path, artifacts_dir: str | os.PathLike[str] | None) -> ItemOutputs:
    """Where a method that keeps its model (:attr:`Method.keeps_model`) puts it and its test positives' attention."""
    if not method.keeps_model:
        return ItemOutputs()
    model_dir = fine_tuned_model_path(artifacts_dir, splits.name, method.name) if artifacts_dir is not None else None
    return ItemOutputs(model_dir=model_dir, attention_file=attention_path(results_dir, splits.name))


def run_item(
    splits: SetSplits,
    method: Method | str,
    settings: BenchmarkSettings,
    results_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
    methods: MethodRegistry | None = None,
) -> dict[str, Any]:
    """Fit and score one method on one split, store its JSON (and predictions); return the stored record."""
    from utrbert.runs.provenance import environment

    method = _method(method, methods)
    started = time.perf_counter()
    scores = method.fit_score(splits, settings, _outputs(method, splits, Path(results_dir), artifacts_dir))
    seconds = time.perf_counter() - started
    test_labels = binary_labels(splits.test)
    test_scores = np.asarray(scores.test, dtype=float)
    if test_scores.shape != (len(splits.test),):
        raise ValueError(f"method {method.name!r} on {splits.name}: {test_scores.shape} test scores for "
                         f"{len(splits.test)} test records")
    metrics = evaluate_binary(test_labels, test_scores, binary_labels(splits.valid), np.asarray(scores.valid, dtype=float))
    record = {
        "set": splits.name,
        "method": method.name,
        "metrics": metrics,
        "counts": splits.counts(),
        "fingerprint": method.fingerprint(settings),
        "settings": method.fingerprint_fields(settings),
        "seconds": seconds,
        "run_label": run_label,
        "environment": environment(settings.finetune.device),
        "details": dict(scores.details),
    }
    stored = ItemStore(results_dir, "benchmark item").write(item_key(splits.name, method.name), record)
    if artifacts_dir is not None:
        out = Path(artifacts_dir) / splits.name
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_table(pd.DataFrame({"id": [r.id for r in splits.test], "label": test_labels, "score": test_scores}),
                           out / f"{method.name}.tsv", sep="\t", index=False, float_format="%.6g")
    logger.info("%s %s: test AUROC %.4f (%.0f s)", splits.name, method.name, metrics["auroc"], seconds)
    return stored


def run_items(
    plan: Sequence[tuple[str, Callable[[], SetSplits], str]],
    methods: MethodRegistry,
    settings: BenchmarkSettings,
    results_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
    max_items: int | None = None,
    time_budget_s: float | None = None,
    progress: bool = False,
    desc: str = "items",
) -> dict[tuple[str, str], dict[str, Any]]:
    """Compute every missing item of ``plan`` in its order; read back the finished ones.

    ``plan`` lists ``(split name, splits loader, method name)``; the loader is called only when an item of that
    split must be computed (consecutive items of one split share one load). ``max_items`` stops after that many
    new items, ``time_budget_s`` stops starting new items once that many seconds have passed (at least one per
    call, so repeated calls always progress). Returns ``(split, method) -> record`` of every finished item.

    Raises:
        MixedSettingsError: when a stored item has other settings (before anything is computed).
    """
    from tqdm.auto import tqdm

    store = ItemStore(results_dir, "benchmark item")
    fingerprints = {m.name: m.fingerprint(settings) for m in methods}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name, _, method in plan:
        existing = store.read(item_key(name, method), fingerprints[method])
        if existing is not None:
            found[(name, method)] = existing
    todo = [(name, load, method) for name, load, method in plan if (name, method) not in found]
    started, computed = time.perf_counter(), 0
    cached: tuple[str, SetSplits] | None = None
    for name, load, method in tqdm(todo, desc=desc, unit="item", disable=not progress or None):
        if max_items is not None and computed >= max_items:
            break
        if time_budget_s is not None and computed and time.perf_counter() - started > time_budget_s:
            logger.info("time budget of %.0f s used: %d items left for a later run", time_budget_s, len(todo) - computed)
            break
        if cached is None or cached[0] != name:
            cached = (name, load())
        found[(name, method)] = run_item(cached[1], methods[method], settings, results_dir, artifacts_dir, run_label)
        computed += 1
    return found
