"""One fine-tuning run on labelled records: a checkpoint (or a fresh model) in, test metrics and predictions out.

:func:`run_finetune` fine-tunes from a checkpoint or from scratch, scores the test records and returns the
metrics (test metrics at threshold 0.5 and at the validation-chosen threshold, counts, settings, provenance),
per-record predictions and the model; :func:`run_balanced_finetune` is the paper's protocol for unbalanced
training sets; :func:`write_run` writes ``metrics.json`` and ``predictions.tsv``. The RBP and m6A benchmarks and
``python -m utrbert finetune`` (:mod:`utrbert.cli.finetune`) all run this.

Records read from files: TRAIN/VALID/TEST are FASTA (labels in the headers, e.g. ``class:1`` or ``label=1``) or TSV/CSV tables with
``sequence`` and ``label`` columns, sequences raw or as space-separated k-mers (the original 3UTRBERT files).
Without ``--valid``, a seeded label-stratified 10% of TRAIN is the validation split (early stopping and the
tuned threshold). ``--max-train N`` uses a seeded stratified subsample of N records of TRAIN (before the
validation split is taken from it). The run writes ``DIR/metrics.json`` (test metrics at threshold 0.5 and at
the validation-chosen threshold, counts, settings and provenance) and ``DIR/predictions.tsv`` (``id``,
``label``, ``score``: one row per test record). ``--balanced`` applies the paper's protocol for unbalanced
training sets: one model per balanced subset, scores averaged (:func:`run_balanced_finetune`).

"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from utrbert.runs.store import atomic_write_json, atomic_write_table

if TYPE_CHECKING:  # torch and transformers are imported when a run starts, not on import
    import pandas as pd

    from utrbert.models.finetuning import FinetuneConfig
    from utrbert.data.records import SequenceRecord
    from utrbert.tokens.tokenization import KmerTokenizer

__all__ = ["SIZES", "FinetuneRun", "run_finetune", "run_balanced_finetune", "write_run"]

logger = logging.getLogger(__name__)

SIZES: tuple[str, ...] = ("tiny", "mini", "small", "base")
"""Model sizes the command offers (the keys of :data:`utrbert.models.model.MODEL_SIZES`)."""


def _model_and_tokenizer(
    model_dir: str | os.PathLike[str] | None, size: str, k: int | None, seed: int
) -> tuple[Any, KmerTokenizer, dict[str, Any]]:
    from utrbert.models.model import build_config, build_model, load_model
    from utrbert.tokens.tokenization import KmerTokenizer

    if model_dir is not None:
        model, tokenizer = load_model(model_dir, task="classification", num_labels=2, seed=seed)
        if k is not None and k != tokenizer.k:
            raise ValueError(f"--k {k} does not match the checkpoint {model_dir}, which uses k={tokenizer.k}")
        return model, tokenizer, {"init": "pretrained", "model_dir": str(model_dir), "k": tokenizer.k}
    k = 3 if k is None else k
    model = build_model(build_config(size, k=k), task="classification", num_labels=2, seed=seed)
    return model, KmerTokenizer(k=k), {"init": "scratch", "size": size, "k": k}


@dataclass
class FinetuneRun:
    """One fine-tuning run: test metrics (the ``metrics.json`` content), test predictions, and the model."""

    metrics: dict[str, Any]
    predictions: pd.DataFrame
    model: Any
    tokenizer: KmerTokenizer
    valid_scores: Any


def run_finetune(
    train_records: Sequence[SequenceRecord],
    test_records: Sequence[SequenceRecord],
    valid_records: Sequence[SequenceRecord] | None = None,
    *,
    model_dir: str | os.PathLike[str] | None = None,
    size: str = "tiny",
    k: int | None = None,
    config: FinetuneConfig | None = None,
    max_train: int | None = None,
    valid_fraction: float = 0.1,
    progress: bool = True,
) -> FinetuneRun:
    """Fine-tune from ``model_dir`` (or from scratch with ``size`` and ``k``) and score the test records.

    Returns the metrics written to ``metrics.json``, the per-record test predictions and the fine-tuned model
    (best validation weights).
    """
    import pandas as pd

    from utrbert.models.finetuning import (
        FinetuneConfig,
        binary_labels,
        encode_records,
        finetune,
        predict_scores,
        split_train_valid,
        stratified_subsample,
    )
    from utrbert.models.metrics import evaluate_binary
    from utrbert.models.model import MODEL_SIZES
    from utrbert.runs.provenance import environment

    config = FinetuneConfig() if config is None else config
    if size not in MODEL_SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of {sorted(MODEL_SIZES)}")
    train_records = list(train_records)
    n_train_file = len(train_records)
    if max_train is not None and max_train < len(train_records):
        rows = stratified_subsample(binary_labels(train_records, "training set"), max_train, config.seed)
        train_records = [train_records[i] for i in rows]
    if valid_records is None:
        train_records, valid_records = split_train_valid(train_records, valid_fraction, config.seed)
        valid_source = f"stratified {valid_fraction:.0%} of TRAIN (seed {config.seed})"
    else:
        valid_source = "VALID"
    model, tokenizer, origin = _model_and_tokenizer(model_dir, size, k, config.seed)
    train = encode_records(train_records, tokenizer, source="training set")
    valid = encode_records(list(valid_records), tokenizer, source="validation set")
    test = encode_records(list(test_records), tokenizer, source="test set")
    overlap = set(test.ids) & (set(train.ids) | set(valid.ids))
    if overlap:
        logger.warning("%d test ids also occur in the training or validation set (e.g. %r)", len(overlap), sorted(overlap)[0])
    result = finetune(model, train, valid, config, progress=progress)
    valid_scores = predict_scores(result.model, valid, config.eval_batch_size, config.device, config.precision)
    test_scores = predict_scores(result.model, test, config.eval_batch_size, config.device, config.precision)
    metrics = evaluate_binary(test.labels, test_scores, valid.labels, valid_scores)
    n_parameters = sum(p.numel() for p in result.model.parameters())
    metrics.update(
        {
            "n_train": len(train),
            "n_valid": len(valid),
            "n_test": len(test),
            "n_train_file": n_train_file,
            "valid_source": valid_source,
            "model": {**origin, "n_parameters": n_parameters, "hidden_size": result.model.config.hidden_size,
                      "num_hidden_layers": result.model.config.num_hidden_layers},
            "training": result.summary(),
            "environment": environment(config.device),
        }
    )
    predictions = pd.DataFrame({"id": test.ids, "label": test.labels, "score": test_scores})
    return FinetuneRun(metrics, predictions, result.model, tokenizer, valid_scores)


def run_balanced_finetune(
    train_records: Sequence[SequenceRecord],
    test_records: Sequence[SequenceRecord],
    valid_records: Sequence[SequenceRecord] | None = None,
    *,
    config: FinetuneConfig | None = None,
    max_train: int | None = None,
    valid_fraction: float = 0.1,
    **model_options: Any,
) -> FinetuneRun:
    """The paper's balancing protocol for unbalanced training sets: one model per :func:`balanced_subsets`
    subset of TRAIN (every model on the same validation split), test and validation scores averaged.

    ``metrics["balanced"]`` records the number of models and each subset's size; ``model`` is the last model.
    """
    import numpy as np

    from utrbert.models.finetuning import FinetuneConfig, balanced_subsets, binary_labels, split_train_valid, stratified_subsample
    from utrbert.models.metrics import evaluate_binary

    config = FinetuneConfig() if config is None else config
    train_records = list(train_records)
    n_train_file = len(train_records)
    if max_train is not None and max_train < len(train_records):
        rows = stratified_subsample(binary_labels(train_records, "training set"), max_train, config.seed)
        train_records = [train_records[i] for i in rows]
    valid_source = "VALID"
    if valid_records is None:  # one validation split for every model, taken before balancing
        train_records, valid_records = split_train_valid(train_records, valid_fraction, config.seed)
        valid_source = f"stratified {valid_fraction:.0%} of TRAIN (seed {config.seed})"
    subsets = balanced_subsets(binary_labels(train_records, "training set"), config.seed)
    runs = []
    for number, rows in enumerate(subsets):
        logger.info("balanced model %d of %d: %d training records", number + 1, len(subsets), len(rows))
        runs.append(run_finetune([train_records[i] for i in rows], test_records, valid_records, config=config,
                                 progress=False, **model_options))
    test_scores = np.mean([r.predictions["score"].to_numpy() for r in runs], axis=0)
    valid_scores = np.mean([np.asarray(r.valid_scores) for r in runs], axis=0)
    last = runs[-1]
    metrics = evaluate_binary(last.predictions["label"].to_numpy(), test_scores,
                              binary_labels(list(valid_records), "validation set"), valid_scores)
    metrics.update({key: last.metrics[key] for key in ("n_valid", "n_test", "model", "environment")})
    metrics.update({"n_train": len(train_records), "n_train_file": n_train_file, "valid_source": valid_source,
                    "balanced": {"n_models": len(subsets), "subset_sizes": [len(rows) for rows in subsets],
                                 "protocol": "majority class split into minority-sized chunks; scores averaged"},
                    "training": [r.metrics["training"] for r in runs]})
    predictions = last.predictions.assign(score=test_scores)
    return FinetuneRun(metrics, predictions, last.model, last.tokenizer, valid_scores)


def write_run(out_dir: str | os.PathLike[str], metrics: dict[str, Any], predictions: pd.DataFrame) -> Path:
    """Write ``metrics.json`` and ``predictions.tsv`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "metrics.json", metrics, indent=2, allow_nan=True)
    atomic_write_table(predictions, out / "predictions.tsv", sep="\t", index=False, float_format="%.6g")
    return out
