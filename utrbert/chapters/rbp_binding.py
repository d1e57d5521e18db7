"""The RBP-31 benchmark: four methods side by side on the same splits, resumable one (set, method) at a time.

Protocol (iONMF / iDeepS): train on ``training_sample_0``, report on ``test_sample_0`` of each of the 31 sets.
Every method of a set sees exactly the same records: the training file, optionally subsampled (seeded,
label-stratified, ``max_train``), then split into training and validation records (``valid_fraction``,
seeded, stratified). The validation records drive early stopping and the tuned threshold; the whole test
file is scored.

Methods (:data:`METHODS`):

* ``kmer_lr`` -- k-mer (k = 1..6) frequencies + logistic regression (:class:`utrbert.baselines.classifiers.KmerLogisticRegression`);
* ``cnn`` -- a DeepBind/iDeepE-style CNN on one-hot sequence (:class:`utrbert.baselines.classifiers.CnnClassifier`);
* ``scratch`` -- BERT fine-tuned from a random initialisation (the paper's control);
* ``pretrained`` -- the same BERT fine-tuned from a pretrained checkpoint.

Each finished item is written to ``<results_dir>/<set>/<method>.json`` (test metrics, counts, settings, the
settings' fingerprint, timing, device and versions) and skipped when present with the same fingerprint, so a
run can stop at any point and continue later, on another machine. An item with a *different* fingerprint is
an error, never silently mixed into a table. Predictions go to ``<artifacts_dir>/<set>/<method>.tsv``.

For the BERT items of the sets in ``landscape_sets`` the JSON also holds the mean [CLS] attention per
nucleotide over positive and negative test windows (the paper's Fig. 2c "attention landscape"; see
:mod:`utrbert.interpret.attention`), and for the ``pretrained`` items of ``embedding_sets`` a 2-D UMAP of [CLS]
embeddings of a test subsample. These extras do not change an item's metrics, so they are not part of the
fingerprint: an item computed before a set was added to those lists simply has no extras.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from utrbert.models.finetuning import FinetuneConfig, binary_labels, split_train_valid, stratified_subsample
from utrbert.models.metrics import evaluate_binary
from utrbert.data.records import SequenceRecord

__all__ = [
    "METHODS",
    "BenchmarkSettings",
    "SetSplits",
    "load_set_splits",
    "settings_fingerprint",
    "item_path",
    "fine_tuned_model_path",
    "attention_path",
    "positive_attention",
    "classifier_card",
    "fine_tune_item",
    "run_item",
    "run_benchmark",
    "collect_results",
    "auroc_table",
    "attention_landscapes",
    "item_provenance",
    "summarise_benchmark",
]

logger = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("kmer_lr", "cnn", "scratch", "pretrained")
"""Benchmark methods, in table order."""
_BASELINES = ("kmer_lr", "cnn")


@dataclass(frozen=True)
class BenchmarkSettings:
    """Everything that determines a benchmark item's result (its fingerprint covers all of it)."""

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
        """The settings that matter for ``method`` (device and run-time options excluded)."""
        shared = {"max_train": self.max_train, "max_test": self.max_test, "valid_fraction": self.valid_fraction,
                  "seed": self.seed}
        if method == "kmer_lr":
            return {**shared, "kmer_lr": self.kmer_lr}
        if method == "cnn":
            return {**shared, "cnn": self.cnn}
        tuning = {key: value for key, value in asdict(self.finetune).items() if key not in ("device", "precision", "eval_batch_size")}
        bert = {**shared, "finetune": tuning, "precision": self.finetune.precision}
        if method == "scratch":
            return {**bert, "bert_size": self.bert_size, "k": self.k}
        if method == "pretrained":
            if self.pretrained is None:
                raise ValueError("the 'pretrained' method needs BenchmarkSettings.pretrained (a checkpoint directory)")
            from utrbert.models.model import checkpoint_identity

            return {**bert, "pretrained": checkpoint_identity(self.pretrained)}
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def settings_fingerprint(settings: BenchmarkSettings, method: str) -> str:
    """A short digest of the settings that determine ``method``'s result.

    >>> a = settings_fingerprint(BenchmarkSettings(max_train=100), "kmer_lr")
    >>> a == settings_fingerprint(BenchmarkSettings(max_train=100, bert_size="small"), "kmer_lr")
    True
    >>> a == settings_fingerprint(BenchmarkSettings(max_train=200), "kmer_lr")
    False
    """
    text = json.dumps(settings.fingerprint_fields(method), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class SetSplits:
    """Training, validation and test records of one RBP-31 set, as every method sees them."""

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


def item_path(results_dir: str | os.PathLike[str], set_name: str, method: str) -> Path:
    """Where the result of one (set, method) item lives: ``<results_dir>/<set>/<method>.json``."""
    return Path(results_dir) / set_name / f"{method}.json"


def fine_tuned_model_path(artifacts_dir: str | os.PathLike[str], set_name: str, method: str) -> Path:
    """Where :func:`run_item` writes the fine-tuned classifier of a ``pretrained`` item (fp16, with its card)."""
    return Path(artifacts_dir) / set_name / f"{method}_model"


def _sequences(records: Sequence[SequenceRecord]) -> list[str]:
    return [r.sequence for r in records]


def _fit_baseline(method: str, splits: SetSplits, settings: BenchmarkSettings) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from utrbert.baselines.classifiers import CnnClassifier, KmerLogisticRegression

    device = settings.finetune.device
    if method == "kmer_lr":
        model: Any = KmerLogisticRegression(**{"seed": settings.seed, **settings.kmer_lr}, progress=False)
    else:
        model = CnnClassifier(**{"seed": settings.seed, "device": device, **settings.cnn}, progress=False)
    model.fit(
        _sequences(splits.train),
        binary_labels(splits.train),
        _sequences(splits.valid),
        binary_labels(splits.valid),
    )
    return model.predict_scores(_sequences(splits.test)), model.predict_scores(_sequences(splits.valid)), model.describe()


def _bert_extras(
    method: str, model: Any, tokenizer: Any, splits: SetSplits, settings: BenchmarkSettings
) -> dict[str, Any]:
    """For chosen sets: the attention landscape over the test windows and a UMAP of [CLS] embeddings."""
    from utrbert.interpret.attention import cls_attention, cls_embeddings

    labels = binary_labels(splits.test)
    extras: dict[str, Any] = {}
    if splits.name in settings.landscape_sets:
        encoding = tokenizer.encode_corpus(_sequences(splits.test), ids=[r.id for r in splits.test])
        attention = cls_attention(model, encoding, layers=settings.attention_layers, device=settings.finetune.device, progress=False)
        per_nt = attention.nucleotide_scores()
        extras["attention_landscape"] = {
            "layers": list(settings.attention_layers),
            "positive_mean": np.nanmean(per_nt[labels == 1], axis=0).round(6).tolist(),
            "negative_mean": np.nanmean(per_nt[labels == 0], axis=0).round(6).tolist(),
            "n_positive": int((labels == 1).sum()),
            "n_negative": int((labels == 0).sum()),
        }
    if splits.name in settings.embedding_sets and method == "pretrained":
        rows = stratified_subsample(labels, settings.embedding_points, settings.seed)
        subset = tokenizer.encode_corpus([splits.test[i].sequence for i in rows], ids=[splits.test[i].id for i in rows])
        embedded = cls_embeddings(model, subset, device=settings.finetune.device, progress=False)
        extras["umap"] = _umap(embedded.embeddings, [int(labels[i]) for i in rows], list(embedded.ids), settings.seed)
    return extras


def _umap(embeddings: np.ndarray, labels: list[int], ids: list[str], seed: int) -> dict[str, Any]:
    from utrbert.interpret.embedding_maps import umap_2d

    coords, params = umap_2d(embeddings, seed)
    return {"ids": ids, "labels": labels, "x": coords[:, 0].round(4).tolist(), "y": coords[:, 1].round(4).tolist(),
            "params": params}


def attention_path(results_dir: str | os.PathLike[str], set_name: str) -> Path:
    """Where a ``pretrained`` item writes the [CLS] attention of its test positives (committed like the item):
    ``<results_dir>_attention/<set>.npz`` beside the item folders, so ``<results_dir>/*/*.json`` stays items only.

    >>> attention_path("results/rbp31", "23_PARCLIP_PUM2_hg19").as_posix()
    'results/rbp31_attention/23_PARCLIP_PUM2_hg19.npz'
    """
    directory = Path(results_dir)
    return directory.with_name(directory.name + "_attention") / f"{set_name}.npz"


HEAD_SUMMARY_POSITIVES = 500
"""Test positives whose layer x head [CLS] entropy a ``pretrained`` item records."""


def positive_attention(
    model: Any, tokenizer: Any, positives: Sequence[SequenceRecord], layers: Sequence[int], device: str,
    head_positives: int = HEAD_SUMMARY_POSITIVES, batch_size: int = 64,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-nucleotide [CLS] attention (Eq. 8, ``layers``) of ``positives`` and a layer x head normalised-entropy
    summary of the first ``head_positives`` of them: ``(id -> scores, info)``."""
    from utrbert.interpret.attention import cls_attention, head_summary

    encoding = tokenizer.encode_corpus([r.sequence for r in positives], ids=[r.id for r in positives])
    attention = cls_attention(model, encoding, batch_size=batch_size, layers=tuple(layers), device=device, progress=False)
    first = positives[:head_positives]
    heads = head_summary(model, tokenizer.encode_corpus([r.sequence for r in first], ids=[r.id for r in first]),
                         batch_size=batch_size, device=device, statistic="normalized_entropy", progress=False)
    info = {"layers": list(attention.layers), "layers_requested": list(layers), "heads": list(attention.heads),
            "k": attention.k, "mean_special_fraction": float(np.mean(attention.special_fraction)),
            "head_normalized_entropy": np.round(heads.to_numpy(), 5).tolist(), "head_summary_positives": len(first)}
    return attention.nucleotide_score_map(), info


def classifier_card(splits: SetSplits, settings: BenchmarkSettings, method: str, test_auroc: float) -> dict[str, Any]:
    """The model card of a fine-tuned item classifier (its fingerprint says which settings made it)."""
    return {"task": "RBP-31 binding-site classifier", "set": splits.name, "method": method,
            "fingerprint": settings_fingerprint(settings, method), "settings": settings.fingerprint_fields(method),
            "test_auroc": test_auroc, "counts": splits.counts()}


def fine_tune_item(method: str, splits: SetSplits, settings: BenchmarkSettings) -> Any:
    """Fine-tune the ``scratch`` or ``pretrained`` BERT of one item (a :class:`~utrbert.models.finetune_run.FinetuneRun`)."""
    from utrbert.models.finetune_run import run_finetune

    return run_finetune(
        splits.train,
        splits.test,
        splits.valid,
        model_dir=settings.pretrained if method == "pretrained" else None,
        size=settings.bert_size,
        k=None if method == "pretrained" else settings.k,
        config=settings.finetune,
        progress=False,
    )


def pretrained_classifier(splits: SetSplits, settings: BenchmarkSettings, artifacts_dir: str | os.PathLike[str] | None) -> tuple[Any, Any, str]:
    """The set's fine-tuned ``pretrained`` classifier: the copy :func:`run_item` saved under ``artifacts_dir``
    when its fingerprint matches these settings, else fine-tuned again now (and saved there)."""
    from utrbert.models.model import export_checkpoint, load_model

    wanted = settings_fingerprint(settings, "pretrained")
    path = fine_tuned_model_path(artifacts_dir, splits.name, "pretrained") if artifacts_dir is not None else None
    if path is not None and (path / "model_card.json").is_file():
        card = json.loads((path / "model_card.json").read_text(encoding="utf-8"))
        if card.get("fingerprint") == wanted:
            model, tokenizer = load_model(path, task="classification")
            return model, tokenizer, "saved by the benchmark"
        logger.warning("%s: saved classifier has other settings (%s, wanted %s); fine-tuning again",
                       splits.name, card.get("fingerprint"), wanted)
    run = fine_tune_item("pretrained", splits, settings)
    if path is not None:
        export_checkpoint(run.model, run.tokenizer, path, classifier_card(splits, settings, "pretrained", run.metrics["auroc"]))
    return run.model, run.tokenizer, "fine-tuned again (no saved classifier)"


def _fit_bert(
    method: str, splits: SetSplits, settings: BenchmarkSettings, save_model_to: Path | None = None,
    save_attention_to: Path | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from utrbert.models.model import export_checkpoint
    from utrbert.interpret.score_files import write_scores

    run = fine_tune_item(method, splits, settings)
    info = {key: run.metrics[key] for key in ("model", "training")}
    info.update(_bert_extras(method, run.model, run.tokenizer, splits, settings))
    if save_model_to is not None:  # the fine-tuned classifier, for later analyses (attention, motifs)
        export_checkpoint(run.model, run.tokenizer, save_model_to, classifier_card(splits, settings, method, run.metrics["auroc"]))
    if save_attention_to is not None:  # the test positives' attention, so motif analyses need no model
        positives = [r for r in splits.test if r.label == 1]
        scores, attention_info = positive_attention(run.model, run.tokenizer, positives, settings.attention_layers,
                                                    settings.finetune.device)
        provenance = {"set": splits.name, "fingerprint": settings_fingerprint(settings, method),
                      "what": "[CLS] attention per nucleotide of the test positives (Eq. 8; k-mers averaged)",
                      **attention_info}
        write_scores(scores, save_attention_to, provenance, npz_dtype="float16")
    return run.predictions["score"].to_numpy(), np.asarray(run.valid_scores), info


def run_item(
    splits: SetSplits,
    method: str,
    settings: BenchmarkSettings,
    results_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
) -> dict[str, Any]:
    """Fit and score one method on one set, write its JSON (and predictions); return the JSON content."""
    from utrbert.runs.provenance import environment

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    started = time.perf_counter()
    if method in ("kmer_lr", "cnn"):
        test_scores, valid_scores, info = _fit_baseline(method, splits, settings)
    else:
        keep = artifacts_dir is not None and method == "pretrained"  # the model later analyses (motifs) read
        save_to = fine_tuned_model_path(artifacts_dir, splits.name, method) if keep else None
        attention_to = attention_path(results_dir, splits.name) if method == "pretrained" else None
        test_scores, valid_scores, info = _fit_bert(method, splits, settings, save_to, attention_to)
    seconds = time.perf_counter() - started
    test_labels = binary_labels(splits.test)
    metrics = evaluate_binary(test_labels, test_scores, binary_labels(splits.valid), valid_scores)
    record = {
        "set": splits.name,
        "method": method,
        "metrics": metrics,
        "counts": splits.counts(),
        "fingerprint": settings_fingerprint(settings, method),
        "settings": settings.fingerprint_fields(method),
        "seconds": seconds,
        "run_label": run_label,
        "environment": environment(settings.finetune.device),
        "details": info,
    }
    path = item_path(results_dir, splits.name, method)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    if artifacts_dir is not None:
        out = Path(artifacts_dir) / splits.name
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"id": [r.id for r in splits.test], "label": test_labels, "score": test_scores}).to_csv(
            out / f"{method}.tsv", sep="\t", index=False, float_format="%.6g"
        )
    logger.info("%s %s: test AUROC %.4f (%.0f s)", splits.name, method, metrics["auroc"], seconds)
    return record


def _existing(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: corrupt result file ({error}); delete it to recompute the item") from error
    if record.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path} was computed with other settings (fingerprint {record.get('fingerprint')} != {fingerprint}); "
            "use another results directory or delete the old results"
        )
    return record


def run_benchmark(
    rbp31_root: str | os.PathLike[str],
    settings: BenchmarkSettings,
    results_dir: str | os.PathLike[str],
    sets: Iterable[str] | None = None,
    methods: Sequence[str] = METHODS,
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
    max_items: int | None = None,
    time_budget_s: float | None = None,
    order: str = "set",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run every missing (set, method) item; finished items are read back, not recomputed.

    ``max_items`` stops after computing that many new items, ``time_budget_s`` stops starting new items once
    that many seconds have passed (an item that has started is finished, and every call computes at least one
item, so repeated calls always progress); call again to continue.
    ``order="set"`` computes set by set; ``order="method"`` computes the cheap baselines of every set first,
    then the BERT methods set by set (so a partial run has complete scratch/pretrained pairs), which is what a
    time-limited run wants. Returns the records of every existing item, in
    :func:`collect_results` order.
    """
    from tqdm.auto import tqdm

    from utrbert.data.readers import list_rbp31_sets

    if order not in ("set", "method"):
        raise ValueError(f"order must be 'set' or 'method', got {order!r}")
    names = list(sets) if sets is not None else list_rbp31_sets(rbp31_root)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    fingerprints = {method: settings_fingerprint(settings, method) for method in methods}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name in names:
        for method in methods:
            existing = _existing(item_path(results_dir, name, method), fingerprints[method])
            if existing is not None:
                found[(name, method)] = existing
    todo = [(n, m) for n in names for m in methods if (n, m) not in found]
    if order == "method":  # every baseline item first, then set by set the BERT pair (scratch, pretrained)
        def rank(item: tuple[str, str]) -> tuple[int, int, int]:
            name, method = item
            if method in _BASELINES:
                return (0, methods.index(method), names.index(name))
            return (1, names.index(name), methods.index(method))

        todo.sort(key=rank)
    started, computed = time.perf_counter(), 0
    cached: tuple[str, SetSplits] | None = None
    for name, method in tqdm(todo, desc="RBP-31 items", unit="item", disable=not progress or None):
        if max_items is not None and computed >= max_items:
            break
        if time_budget_s is not None and computed and time.perf_counter() - started > time_budget_s:
            logger.info("time budget of %.0f s used: %d items left for a later run", time_budget_s, len(todo) - computed)
            break
        if cached is None or cached[0] != name:
            cached = (name, load_set_splits(rbp31_root, name, settings))
        found[(name, method)] = run_item(cached[1], method, settings, results_dir, artifacts_dir, run_label)
        computed += 1
    order_of = {m: i for i, m in enumerate(METHODS)}
    return [found[key] for key in sorted(found, key=lambda key: (names.index(key[0]), order_of[key[1]]))]


def collect_results(results_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every item JSON under ``results_dir`` (sorted by set and method order)."""
    order = {m: i for i, m in enumerate(METHODS)}
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(results_dir).glob("*/*.json"))]
    return sorted(records, key=lambda r: (*_set_order(r["set"]), order.get(r["method"], 99)))


def _set_order(name: str) -> tuple[int, str]:
    """Sort key of an RBP-31 set folder name ``<number>_<experiment>``: by number, as the readers list them.

    >>> sorted(["10_B", "2_A", "demo"], key=_set_order)
    ['demo', '2_A', '10_B']
    """
    number = name.split("_")[0]
    return (int(number) if number.isdigit() else 0, name)


def auroc_table(records: Sequence[dict[str, Any]], metric: str = "auroc") -> pd.DataFrame:
    """Sets x methods table of a test metric (columns in :data:`METHODS` order, missing items as NaN).

    >>> rows = [{"set": "1_A", "method": "cnn", "metrics": {"auroc": 0.8}},
    ...         {"set": "1_A", "method": "kmer_lr", "metrics": {"auroc": 0.7}}]
    >>> auroc_table(rows).round(2).to_dict("records")
    [{'kmer_lr': 0.7, 'cnn': 0.8}]
    """
    frame = pd.DataFrame([{"set": r["set"], "method": r["method"], metric: r["metrics"][metric]} for r in records])
    if frame.empty:
        return pd.DataFrame(columns=list(METHODS))
    table = frame.pivot(index="set", columns="method", values=metric)
    table = table[[m for m in METHODS if m in table.columns]]
    table.columns.name = None
    return table.loc[sorted(table.index, key=_set_order)]


def attention_landscapes(records: Sequence[dict[str, Any]], method: str = "pretrained") -> dict[str, dict[str, Any]]:
    """Set -> attention landscape (mean [CLS] attention per nucleotide, positives and negatives) of ``method``."""
    return {
        r["set"]: r["details"]["attention_landscape"]
        for r in records
        if r["method"] == method and "attention_landscape" in r.get("details", {})
    }


def item_provenance(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Which execution produced which items: one row per (run label, device, commit), with its item count.

    >>> rows = [{"set": "1_A", "method": "cnn", "run_label": "cpu", "seconds": 2.0,
    ...          "environment": {"device": "CPU", "git_commit": "abc", "date": "2026-12-01T10:00:00+00:00"}}]
    >>> item_provenance(rows)[["run", "items", "sets"]].to_dict("records")
    [{'run': 'cpu', 'items': 1, 'sets': 1}]
    """
    rows = [
        {
            "run": r.get("run_label", ""),
            "device": r["environment"].get("device", ""),
            "commit": r["environment"].get("git_commit", ""),
            "date": r["environment"].get("date", "")[:10],
            "method": r["method"],
            "set": r["set"],
            "seconds": r.get("seconds", float("nan")),
        }
        for r in records
    ]
    if not rows:
        return pd.DataFrame(columns=["run", "device", "commit", "date", "items", "sets", "methods", "compute_minutes"])
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["run", "device", "commit", "date"], sort=True)
    return grouped.agg(
        items=("set", "size"),
        sets=("set", "nunique"),
        methods=("method", lambda m: ", ".join(x for x in METHODS if x in set(m))),
        compute_minutes=("seconds", lambda t: round(float(np.nansum(t)) / 60, 1)),
    ).reset_index()


_SUMMARY_METRICS = ("auroc", "auprc", "f1", "mcc", "acc")


def summarise_benchmark(records: Sequence[dict[str, Any]], methods: Sequence[str] = METHODS) -> dict[str, Any]:
    """Means over the sets that have every method, wins of ``pretrained``, and a plain-language verdict.

    Returns ``mean_auroc`` (method -> mean), ``metrics`` (a methods x metrics frame, threshold metrics at 0.5
    and ``tuned_*`` at the validation-chosen threshold), ``complete_sets``, ``missing_items``,
    ``pretrained_wins`` (sets where ``pretrained`` has the highest AUROC) and ``text`` (Markdown).
    """
    table = auroc_table(records)
    methods = [m for m in methods if m in table.columns]
    complete = table[methods].dropna() if methods else table
    n_sets = len(table)
    missing = int(table[methods].isna().sum().sum()) if methods else 0
    by_item = {(r["set"], r["method"]): r["metrics"] for r in records}
    metric_rows = {}
    for method in methods:
        values: dict[str, float] = {}
        for name in _SUMMARY_METRICS:
            values[name] = float(np.mean([by_item[(s, method)][name] for s in complete.index])) if len(complete) else float("nan")
        for name in ("f1", "mcc", "acc"):
            tuned = [by_item[(s, method)].get("tuned", {}).get(name) for s in complete.index]
            values[f"tuned_{name}"] = float(np.mean(tuned)) if tuned and None not in tuned else float("nan")
        metric_rows[method] = values
    metrics = pd.DataFrame.from_dict(metric_rows, orient="index")
    mean_auroc = {m: float(complete[m].mean()) for m in methods} if len(complete) else {}
    wins: list[str] = []
    lines = [f"**{len(complete)} of {n_sets} sets** have a result for every method ({missing} items missing)."]
    if len(complete):
        ranking = sorted(mean_auroc, key=mean_auroc.get, reverse=True)
        lines.append("Mean test AUROC over those sets: " + ", ".join(f"`{m}` {mean_auroc[m]:.3f}" for m in ranking) + ".")
        if "pretrained" in methods and len(methods) > 1:
            others = [m for m in methods if m != "pretrained"]
            best_other = complete[others].max(axis=1)
            wins = [str(s) for s in complete.index[complete["pretrained"] > best_other]]
            beats_mean = all(mean_auroc["pretrained"] > mean_auroc[m] for m in others)
            verdict = "beats" if beats_mean else "does **not** beat"
            lines.append(
                f"The pretrained model {verdict} every other method on the mean AUROC and has the highest AUROC on "
                f"**{len(wins)} of {len(complete)}** sets."
            )
            if "scratch" in methods:
                gain = complete["pretrained"] - complete["scratch"]
                lines.append(
                    f"Against the same model trained from scratch, pretraining changes the AUROC by {gain.mean():+.3f} "
                    f"on average ({int((gain > 0).sum())} of {len(complete)} sets better)."
                )
    return {
        "mean_auroc": mean_auroc,
        "metrics": metrics,
        "complete_sets": len(complete),
        "missing_items": missing,
        "pretrained_wins": wins,
        "text": " ".join(lines),
    }
