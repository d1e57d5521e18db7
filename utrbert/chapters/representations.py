"""Chapter 07 (``notebooks/07_representations.ipynb``): the paper's k-mer size study (Fig. 6a, Supplementary Fig. 5): one model pretrained per k with identical
settings, then, on a fixed panel of RBP-31 sets, a linear probe of its frozen encoder, fine-tuning from it,
and the same architecture fine-tuned from scratch.

One k is one resumable unit (:func:`run_kmer_size_item`):

1. a corpus of 3'UTR windows tokenized with that k (:func:`utrbert.data.corpus.build_corpus`), a model of
   ``model_size`` pretrained with k-span masking (:func:`utrbert.models.pretraining.pretrain`) and its held-out masked
   accuracy next to the nucleotide-context baseline on the same masks;
2. for every panel set, on the same train/validation/test records (:func:`utrbert.chapters.rbp_binding.load_set_splits`):
   ``probe``, a logistic regression on the frozen encoder's ``[CLS]`` vectors of every layer (fitted on the
   training records, scored on the test records, with the silhouette of the two classes), and the same probe
   of the model's random start before pretraining (``probe_random_init``: what the architecture gives without
   any training, the control that says what pretraining added); ``pretrained``,
   fine-tuning from the checkpoint; ``scratch``, fine-tuning the same architecture from a random start;
3. a UMAP of the frozen last-layer ``[CLS]`` vectors of the first panel set's test records (the paper's
   Fig. 6b), stored as coordinates so the chapter needs no checkpoint to draw it.

The unit's JSON (``<results_dir>/k<k>.json``, an item of :class:`utrbert.runs.store.ItemStore`) is written when it
finishes and read back when its settings fingerprint matches; a file with other settings is an error, never
silently mixed in. Only the checkpoint
(under ``artifacts_dir``) is large, and it is not needed once the JSON exists.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from utrbert.models.finetuning import FinetuneConfig, binary_labels
from utrbert.data.records import SequenceRecord
from utrbert.runs.store import ItemStore, settings_digest

__all__ = ["KmerSizeSettings", "kmer_size_store", "kmer_size_item_path", "run_kmer_size_item", "run_kmer_size_study",
           "kmer_size_table", "kmer_size_summary", "first_step_reaching"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KmerSizeSettings:
    """Everything that determines one k's result (the fingerprint covers all of it except the device)."""

    panel: tuple[str, ...]  # RBP-31 set names
    model_size: str = "small"
    position_init: str = "random"  # start of the learned position embeddings (utrbert.models.model.build_model)
    window_nt: int = 510
    heldout_fraction: float = 0.05
    schedule: str = "cpu_small"
    pretrain_steps: int = 400
    pretrain_batch_size: int = 32
    pretrain_peak_lr: float = 1e-3
    max_heldout_windows: int = 500
    max_train: int | None = 2000  # stratified subsample of each set's training file (validation included)
    max_test: int | None = 2000  # stratified subsample of each set's test file
    valid_fraction: float = 0.1
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    umap_points: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.panel:
            raise ValueError("the panel needs at least one RBP-31 set")
        if len(set(self.panel)) != len(self.panel):
            raise ValueError(f"the panel names a set twice: {list(self.panel)}")
        from utrbert.models.model import POSITION_INITS

        if self.position_init not in POSITION_INITS:
            raise ValueError(f"position_init must be one of {POSITION_INITS}, got {self.position_init!r}")

    def fingerprint_fields(self, k: int) -> dict[str, Any]:
        fields = asdict(self)
        fields["finetune"] = {key: value for key, value in fields["finetune"].items() if key not in ("device", "eval_batch_size")}
        fields["panel"] = list(self.panel)
        return {"k": k, **fields}

    def fingerprint(self, k: int) -> str:
        """A short digest of :meth:`fingerprint_fields` (:func:`utrbert.runs.store.settings_digest`).

        >>> s = KmerSizeSettings(panel=("a",))
        >>> s.fingerprint(3) == s.fingerprint(4), s.fingerprint(3) == KmerSizeSettings(panel=("a",)).fingerprint(3)
        (False, True)
        """
        return settings_digest(self.fingerprint_fields(k))


def kmer_size_store(results_dir: str | os.PathLike[str]) -> ItemStore:
    """The k-mer size study's items: ``<results_dir>/k<k>.json``."""
    return ItemStore(results_dir, "k-mer size item")


def kmer_size_item_path(results_dir: str | os.PathLike[str], k: int) -> Path:
    """``<results_dir>/k<k>.json``."""
    return kmer_size_store(results_dir).path(f"k{k}")


def _initial_model(k: int, settings: KmerSizeSettings) -> Any:
    """The randomly initialised masked-LM model one k's pretraining starts from (the same weights every call)."""
    from utrbert.models.model import build_config, build_model

    return build_model(build_config(settings.model_size, k=k), task="mlm", seed=settings.seed,
                       position_init=settings.position_init)


def _pretrain(utrs: Sequence[SequenceRecord], k: int, settings: KmerSizeSettings, run_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """Pretrain one k's model; return it, its tokenizer and the pretraining record."""
    from utrbert.data.corpus import build_corpus
    from utrbert.tokens.masking import KmerSpanMaskingCollator
    from utrbert.baselines.mlm import score_baselines
    from utrbert.models.pretraining import PretrainingConfig, evaluate_mlm, fixed_masks, pretrain
    from utrbert.tokens.tokenization import KmerTokenizer

    corpus = build_corpus(utrs, k=k, window_nt=settings.window_nt, heldout_fraction=settings.heldout_fraction, seed=settings.seed)
    tokenizer = KmerTokenizer(k=k)
    collator = KmerSpanMaskingCollator(tokenizer, mlm_probability=0.15, seed=settings.seed)
    model = _initial_model(k, settings)
    config = PretrainingConfig.from_schedule(
        settings.schedule, device=settings.finetune.device, precision=settings.finetune.precision, seed=settings.seed,
        max_steps=settings.pretrain_steps, batch_size=settings.pretrain_batch_size, peak_lr=settings.pretrain_peak_lr,
    )
    train, heldout = corpus.splits["train"], corpus.splits["heldout"]
    started = time.perf_counter()
    result = pretrain(model, collator, train.input_ids.astype(np.int64), train.attention_mask.astype(np.int64), config,
                      run_dir, tokenizer=tokenizer, resume=True, progress=False)
    minutes = (time.perf_counter() - started) / 60
    ids = heldout.input_ids[: settings.max_heldout_windows].astype(np.int64)
    mask = heldout.attention_mask[: settings.max_heldout_windows].astype(np.int64)
    scores = evaluate_mlm(model, collator, ids, mask, seed=settings.seed)
    inputs, labels = fixed_masks(collator, ids, settings.seed)
    baselines = score_baselines(train.input_ids.astype(np.int64), inputs, labels, k)
    record = {
        "heldout_masked_accuracy": scores["masked_accuracy"],
        "heldout_perplexity": scores["perplexity"],
        "baselines": {name: value["masked_accuracy"] for name, value in baselines.items()},
        "steps": config.max_steps,
        "tokens_seen": int(sum(entry["tokens"] for entry in result.log)),
        "minutes": minutes,
        "corpus": corpus.provenance["counts"],
        "curve": [{"step": e["step"], "loss": e["loss"], "masked_accuracy": e["masked_accuracy"]} for e in result.log],
    }
    return model, tokenizer, record


def _probe(model: Any, tokenizer: Any, splits: Any, settings: KmerSizeSettings) -> dict[str, Any]:
    """Linear probe and silhouette of every layer's frozen ``[CLS]`` vectors (train rows -> test rows)."""
    from utrbert.interpret.representations import layer_embeddings, separation_scores

    sequences = [r.sequence for r in (*splits.train, *splits.test)]
    labels = np.concatenate([binary_labels(splits.train, f"{splits.name} train"), binary_labels(splits.test, f"{splits.name} test")])
    vectors = layer_embeddings(model, tokenizer, sequences, device=settings.finetune.device)
    n_train = len(splits.train)
    table = separation_scores(vectors, labels, np.arange(n_train), np.arange(n_train, len(sequences)), seed=settings.seed)
    last = max(vectors)
    return {"layers": {str(layer): {"probe_auroc": float(row["probe_auroc"]), "silhouette": float(row["silhouette"])}
                       for layer, row in table.iterrows()},
            "probe_auroc": float(table.loc[last, "probe_auroc"]), "last_layer": int(last),
            "_test_vectors": vectors[last][n_train:], "_test_labels": labels[n_train:]}


def run_kmer_size_item(
    utrs: Sequence[SequenceRecord],
    rbp31_root: str | os.PathLike[str],
    k: int,
    settings: KmerSizeSettings,
    results_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str],
    run_label: str = "",
) -> dict[str, Any]:
    """Pretrain, probe and fine-tune for one k; write and return its record (see the module docstring)."""
    from utrbert.interpret.embedding_maps import umap_2d
    from utrbert.models.model import export_checkpoint
    from utrbert.runs.provenance import environment
    from utrbert.chapters.rbp_binding import load_set_splits
    from utrbert.runs.benchmark import BenchmarkSettings
    from utrbert.runs.builtin_methods import fine_tune_item

    started = time.perf_counter()
    out = Path(artifacts_dir) / f"k{k}"
    model, tokenizer, pretraining = _pretrain(utrs, k, settings, out / "run")
    checkpoint = export_checkpoint(model, tokenizer, out / "model", {
        "what": f"k-mer size study: {settings.model_size} model pretrained with k={k}",
        "fingerprint": settings.fingerprint(k), **{key: pretraining[key] for key in ("heldout_masked_accuracy", "baselines", "steps")},
    })
    bench = BenchmarkSettings(max_train=settings.max_train, max_test=settings.max_test, valid_fraction=settings.valid_fraction,
                              seed=settings.seed, bert_size=settings.model_size, k=k, pretrained=str(checkpoint),
                              finetune=settings.finetune)
    random_start = _initial_model(k, settings)  # the weights pretraining started from
    per_set: dict[str, Any] = {}
    umap_result: dict[str, Any] | None = None
    for index, name in enumerate(settings.panel):
        splits = load_set_splits(rbp31_root, name, bench)
        probe = _probe(model, tokenizer, splits, settings)
        vectors, labels = probe.pop("_test_vectors"), probe.pop("_test_labels")
        if index == 0:
            rng = np.random.default_rng(settings.seed)
            rows = np.sort(rng.choice(len(labels), min(settings.umap_points, len(labels)), replace=False))
            coords, params = umap_2d(vectors[rows], seed=settings.seed)
            umap_result = {"set": name, "ids": [splits.test[i].id for i in rows], "labels": labels[rows].tolist(),
                           "x": coords[:, 0].round(4).tolist(), "y": coords[:, 1].round(4).tolist(), **params}
        random_probe = _probe(random_start, tokenizer, splits, settings)
        for key in ("_test_vectors", "_test_labels"):
            random_probe.pop(key)
        entry = {"probe": probe, "probe_random_init": random_probe, "counts": splits.counts()}
        for method in ("pretrained", "scratch"):
            run = fine_tune_item(method, splits, bench)
            entry[method] = {key: run.metrics[key] for key in ("auroc", "auprc", "mcc", "f1", "acc")}
        per_set[name] = entry
        logger.info("k=%d %s: probe %.3f (random start %.3f), pretrained %.3f, scratch %.3f", k, name, probe["probe_auroc"],
                    random_probe["probe_auroc"], entry["pretrained"]["auroc"], entry["scratch"]["auroc"])
    record = {
        "k": k,
        "fingerprint": settings.fingerprint(k),
        "settings": settings.fingerprint_fields(k),
        "pretraining": pretraining,
        "per_set": per_set,
        "umap": umap_result,
        "seconds": time.perf_counter() - started,
        "run_label": run_label,
        "environment": environment(settings.finetune.device),
    }
    return kmer_size_store(results_dir).write(f"k{k}", record)  # exactly what a later run reads back


def run_kmer_size_study(
    utrs: Sequence[SequenceRecord],
    rbp31_root: str | os.PathLike[str],
    ks: Sequence[int],
    settings: KmerSizeSettings,
    results_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str],
    run_label: str = "",
    time_budget_s: float | None = None,
) -> list[dict[str, Any]]:
    """Run every k without a result; stop starting new ks after ``time_budget_s`` (at least one per call).

    Returns the records of every finished k, in ``ks`` order.
    """
    from utrbert.tokens.kmers import check_k

    ks = [check_k(k) for k in ks]
    store = kmer_size_store(results_dir)  # corrupt files and other settings are errors
    done = {k: record for k in ks if (record := store.read(f"k{k}", settings.fingerprint(k)))}
    started, computed = time.perf_counter(), 0
    for k in ks:
        if k in done:
            continue
        if time_budget_s is not None and computed and time.perf_counter() - started > time_budget_s:
            logger.info("time budget used: %d ks left for a later run", sum(k not in done for k in ks))
            break
        done[k] = run_kmer_size_item(utrs, rbp31_root, k, settings, results_dir, artifacts_dir, run_label)
        computed += 1
    return [done[k] for k in ks if k in done]


def kmer_size_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per (k, set): test AUROC of the frozen probe (pretrained, and of the random start), fine-tuned from
    pretraining, and from scratch.

    >>> record = {"k": 3, "per_set": {"s": {"probe": {"probe_auroc": 0.6}, "probe_random_init": {"probe_auroc": 0.55},
    ...           "pretrained": {"auroc": 0.8}, "scratch": {"auroc": 0.7}}}}
    >>> kmer_size_table([record]).to_dict(orient="records")
    [{'k': 3, 'set': 's', 'probe': 0.6, 'probe_random_init': 0.55, 'pretrained': 0.8, 'scratch': 0.7}]
    """
    columns = ["k", "set", "probe", "probe_random_init", "pretrained", "scratch"]
    rows = [{"k": r["k"], "set": name, "probe": entry["probe"]["probe_auroc"],
             "probe_random_init": entry["probe_random_init"]["probe_auroc"], "pretrained": entry["pretrained"]["auroc"],
             "scratch": entry["scratch"]["auroc"]} for r in records for name, entry in r["per_set"].items()]
    return pd.DataFrame(rows, columns=columns)


def first_step_reaching(curve: Sequence[dict[str, Any]], level: float) -> float:
    """The first logged step whose training masked accuracy is at least ``level``; NaN if none is.

    >>> curve = [{"step": 20, "masked_accuracy": 0.14}, {"step": 40, "masked_accuracy": 0.33}, {"step": 60, "masked_accuracy": 0.31}]
    >>> first_step_reaching(curve, 0.32), first_step_reaching(curve, 0.5)
    (40.0, nan)
    """
    return next((float(entry["step"]) for entry in curve if entry["masked_accuracy"] >= level), float("nan"))


def kmer_size_summary(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per k: mean AUROCs over the panel, the pretraining's held-out accuracy against the context baseline, and
    the first logged step at which the training batches reached that baseline (NaN: not within the run)."""
    table = kmer_size_table(records)
    means = table.groupby("k")[["probe", "probe_random_init", "pretrained", "scratch"]].mean()
    pre = pd.DataFrame({r["k"]: {"heldout accuracy": r["pretraining"]["heldout_masked_accuracy"],
                                 "context baseline": r["pretraining"]["baselines"]["nucleotide_context"],
                                 "step at context baseline": first_step_reaching(r["pretraining"]["curve"],
                                                                                 r["pretraining"]["baselines"]["nucleotide_context"]),
                                 "pretraining tokens": r["pretraining"]["tokens_seen"]} for r in records}).T
    pre.index.name = "k"
    return means.join(pre)
