"""Fine-tuning a BERT sequence classifier on labelled sequences (RBP binding sites, m6A sites).

The classifier is stock ``BertForSequenceClassification`` (a linear layer on the pooled [CLS] state),
initialised from a pretrained checkpoint (ours or a published 3UTRBERT one, :func:`utrbert.models.model.load_model`)
or from scratch (the paper's control). Defaults follow the paper: AdamW with peak learning rate 5e-5, linear
warm-up (10% of the steps) and linear decay, weight decay 0.01, dropout 0.1 (the BERT config's). Training stops
early when the validation AUROC has not improved for ``patience`` evaluations, and the best weights are kept.

Everything random is a pure function of ``seed``: the shuffling of each epoch, dropout at each step (run in a
forked generator, so the caller's global random state is untouched), the head's initialisation, the
train/validation split and the folds of cross-validation.

Sequences are encoded whole: a sequence longer than the model window raises (naming the record) instead of
being truncated.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from utrbert.models.metrics import binary_metrics, evaluate_binary
from utrbert.models.pretraining import _param_groups, _seeded_rng, autocast, check_precision, derived_seed
from utrbert.data.records import SequenceRecord
from utrbert.tokens.tokenization import KmerTokenizer

__all__ = [
    "FinetuneConfig",
    "EncodedSet",
    "FinetuneResult",
    "encode_records",
    "predict_sequences",
    "binary_labels",
    "require_both_classes",
    "stratified_subsample",
    "balanced_subsets",
    "split_train_valid",
    "finetune",
    "predict_scores",
    "cross_validate",
]

logger = logging.getLogger(__name__)

_SHUFFLE, _DROPOUT = 10, 11  # stream tags of derived_seed (distinct from pretraining's)


@dataclass(frozen=True)
class FinetuneConfig:
    """Optimisation settings of one fine-tuning run (defaults: the paper's)."""

    epochs: int = 3
    batch_size: int = 32
    peak_lr: float = 5e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    max_grad_norm: float | None = 1.0
    evals_per_epoch: int = 2
    patience: int = 3
    eval_batch_size: int = 256
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "evals_per_epoch", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.peak_lr <= 0:
            raise ValueError(f"peak_lr must be positive, got {self.peak_lr}")
        check_precision(self.precision, self.device)


@dataclass
class EncodedSet:
    """Token ids, attention masks and binary labels of a labelled set, with every record's id."""

    ids: list[str]
    input_ids: np.ndarray
    attention_mask: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not (len(self.input_ids) == len(self.attention_mask) == len(self.labels) == n):
            raise ValueError("ids, input_ids, attention_mask and labels must have the same length")

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, rows: np.ndarray | Sequence[int]) -> EncodedSet:
        """The records at ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return EncodedSet([self.ids[i] for i in rows], self.input_ids[rows], self.attention_mask[rows], self.labels[rows])


def encode_records(records: Sequence[SequenceRecord], tokenizer: KmerTokenizer, source: str = "records") -> EncodedSet:
    """Encode labelled records with the k-mer tokenizer; every label must be 0 or 1.

    Raises naming the record for a missing or non-binary label, a sequence shorter than k, or one longer than
    the model window (no truncation).

    >>> tok = KmerTokenizer(k=3)
    >>> enc = encode_records([SequenceRecord("a", "ACGUA", 1), SequenceRecord("b", "ACGU", 0)], tok)
    >>> enc.ids, enc.input_ids.tolist(), enc.labels.tolist()
    (['a', 'b'], [[2, 16, 50, 57, 3], [2, 16, 50, 3, 0]], [1, 0])
    """
    labels = binary_labels(records, source)
    encoding = tokenizer.encode_corpus([r.sequence for r in records], ids=[r.id for r in records])
    padded = encoding.padded()
    return EncodedSet(list(encoding.record_ids), padded["input_ids"], padded["attention_mask"], labels)


def binary_labels(records: Sequence[SequenceRecord], source: str = "records") -> np.ndarray:
    """The 0/1 labels of ``records``; raises naming the first record without a binary label.

    >>> binary_labels([SequenceRecord("a", "ACG", 1), SequenceRecord("b", "ACG", 0)]).tolist()
    [1, 0]
    """
    if not records:
        raise ValueError(f"{source}: no records")
    labels = []
    for record in records:
        if record.label is None:
            raise ValueError(f"{source}: record {record.id!r} has no label")
        if isinstance(record.label, tuple) or record.label not in (0, 1):
            raise ValueError(f"{source}: record {record.id!r} has label {record.label!r}; binary labels are 0 or 1")
        labels.append(int(record.label))
    return np.asarray(labels, dtype=np.int64)


def require_both_classes(labels: np.ndarray, source: str) -> None:
    """Raise naming ``source`` unless ``labels`` hold both classes (a classifier, and AUROC, need both)."""
    if len(np.unique(labels)) < 2:
        raise ValueError(f"{source}: every label is {int(labels[0])}; a classifier needs both classes")


def stratified_subsample(labels: Sequence[int] | np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted row indices of a seeded subsample of ``n`` rows with the label balance of the whole set.

    >>> rows = stratified_subsample([0] * 80 + [1] * 20, 10, seed=0)
    >>> len(rows), int((np.asarray([0] * 80 + [1] * 20)[rows] == 1).sum())
    (10, 2)
    """
    y = np.asarray(labels)
    if n >= len(y):
        return np.arange(len(y))
    if n < 1:
        raise ValueError(f"subsample size must be positive, got {n}")
    from sklearn.model_selection import train_test_split

    rows, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed % 2**32)
    return np.sort(rows)


def balanced_subsets(labels: Sequence[int] | np.ndarray, seed: int) -> list[np.ndarray]:
    """The paper's balancing protocol: the majority class split at random into chunks of about the minority's
    size, each chunk joined with every minority record; sorted row indices per subset. No record is dropped:
    the chunks are ``round(majority / minority)`` near-equal parts of the majority (one subset, everything,
    when the classes are already within a factor 1.5).

    >>> [len(rows) for rows in balanced_subsets([1] * 10 + [0] * 30, seed=0)]
    [20, 20, 20]
    """
    y = np.asarray(labels)
    require_both_classes(y, "balanced subsets")
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    minority, majority = (positives, negatives) if len(positives) <= len(negatives) else (negatives, positives)
    parts = max(1, round(len(majority) / len(minority)))
    shuffled = np.random.default_rng(seed).permutation(majority)
    return [np.sort(np.concatenate([minority, chunk])) for chunk in np.array_split(shuffled, parts)]


def split_train_valid(
    records: Sequence[SequenceRecord], valid_fraction: float = 0.1, seed: int = 0
) -> tuple[list[SequenceRecord], list[SequenceRecord]]:
    """A seeded, label-stratified split of ``records`` into training and validation records (order kept)."""
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    labels = binary_labels(records, "records to split")
    n_valid = max(2, round(valid_fraction * len(records)))
    if n_valid >= len(records):
        raise ValueError(f"{len(records)} records are too few to split off a validation set")
    valid_rows = set(stratified_subsample(labels, n_valid, seed).tolist())
    train = [r for i, r in enumerate(records) if i not in valid_rows]
    valid = [r for i, r in enumerate(records) if i in valid_rows]
    return train, valid


def _trimmed(input_ids: np.ndarray, attention_mask: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch cut to its longest row (padding beyond it changes nothing), as tensors on ``device``."""
    width = int(attention_mask.sum(axis=1).max())
    ids = torch.as_tensor(input_ids[:, :width], dtype=torch.long, device=device)
    mask = torch.as_tensor(attention_mask[:, :width], dtype=torch.long, device=device)
    return ids, mask


@torch.no_grad()
def predict_scores(
    model: nn.Module,
    data: EncodedSet,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    progress: bool = False,
) -> np.ndarray:
    """P(label = 1) for every record of ``data`` (softmax of a two-logit head, or sigmoid of a one-logit head)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    model.to(device)
    check_precision(precision, str(device))
    scores = []
    starts = range(0, len(data), batch_size)
    for start in tqdm(starts, desc="predict", unit="batch", disable=not progress or None):
        ids, mask = _trimmed(data.input_ids[start : start + batch_size], data.attention_mask[start : start + batch_size], device)
        with autocast(precision, device):
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        if logits.shape[-1] == 1:
            scores.append(torch.sigmoid(logits[:, 0]).cpu())
        else:
            scores.append(torch.softmax(logits, dim=-1)[:, 1].cpu())
    model.train(was_training)
    return torch.cat(scores).numpy().astype(np.float64)


@dataclass
class FinetuneResult:
    """What a run produced: the model with its best weights loaded, the evaluation history and timing."""

    model: nn.Module
    history: list[dict[str, Any]]
    best_step: int
    best_valid_auroc: float
    steps: int
    stopped_early: bool
    train_seconds: float
    config: FinetuneConfig
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no weights)."""
        return {
            "best_step": self.best_step,
            "best_valid_auroc": self.best_valid_auroc,
            "steps": self.steps,
            "stopped_early": self.stopped_early,
            "train_seconds": self.train_seconds,
            "config": asdict(self.config),
            "history": self.history,
            **self.extra,
        }


def predict_sequences(
    model: nn.Module,
    tokenizer: KmerTokenizer,
    sequences: Sequence[str],
    ids: Sequence[str] | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """P(label = 1) of unlabelled sequences (raises naming the record for a bad alphabet or a sequence
    longer than the model window; nothing is truncated)."""
    encoding = tokenizer.encode_corpus(list(sequences), ids=None if ids is None else list(ids))
    padded = encoding.padded()
    data = EncodedSet(list(encoding.record_ids), padded["input_ids"], padded["attention_mask"],
                      np.zeros(len(encoding.record_ids), dtype=np.int64))
    return predict_scores(model, data, batch_size=batch_size, device=device, precision=precision)


def finetune(
    model: nn.Module,
    train: EncodedSet,
    valid: EncodedSet,
    config: FinetuneConfig = FinetuneConfig(),
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ``model`` (a two-label sequence classifier) on ``train``, stopping early on ``valid`` AUROC.

    The validation set is scored ``evals_per_epoch`` times per epoch; training stops after ``patience``
    evaluations without a better AUROC, and the weights of the best evaluation are loaded back into ``model``.
    """
    from transformers import get_linear_schedule_with_warmup

    require_both_classes(train.labels, "training set")
    require_both_classes(valid.labels, "validation set")
    if getattr(model.config, "num_labels", 2) != 2:
        raise ValueError(f"binary fine-tuning needs a two-label head, the model has {model.config.num_labels}")
    device = torch.device(config.device)
    model.to(device)
    n = len(train)
    batches_per_epoch = math.ceil(n / config.batch_size)
    total_steps = batches_per_epoch * config.epochs
    eval_steps = sorted(
        {min(batches_per_epoch, math.ceil(batches_per_epoch * (j + 1) / config.evals_per_epoch)) for j in range(config.evals_per_epoch)}
    )
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.weight_decay),
        lr=config.peak_lr,
        betas=config.betas,
        eps=config.eps,
        fused=device.type == "cuda",
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, round(config.warmup_fraction * total_steps), total_steps)
    history: list[dict[str, Any]] = []
    best_auroc, best_step, best_state, stale = -math.inf, 0, None, 0
    step, stopped_early, running_loss, running_n = 0, False, 0.0, 0
    started = time.perf_counter()
    bar = tqdm(total=total_steps, desc="fine-tune", unit="step", disable=not progress or None)
    for epoch in range(config.epochs):
        order = np.random.default_rng(derived_seed(config.seed, _SHUFFLE, epoch)).permutation(n)
        for index in range(batches_per_epoch):
            rows = order[index * config.batch_size : (index + 1) * config.batch_size]
            model.train()
            ids, mask = _trimmed(train.input_ids[rows], train.attention_mask[rows], device)
            labels = torch.as_tensor(train.labels[rows], dtype=torch.long, device=device)
            with _seeded_rng(derived_seed(config.seed, _DROPOUT, step), device), autocast(config.precision, device):
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
            loss = F.cross_entropy(logits, labels)
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running_loss += loss.item() * len(rows)
            running_n += len(rows)
            bar.update(1)
            if index + 1 in eval_steps:
                scores = predict_scores(model, valid, config.eval_batch_size, device, config.precision)
                auroc = binary_metrics(valid.labels, scores)["auroc"]
                record = {
                    "step": step,
                    "epoch": epoch + (index + 1) / batches_per_epoch,
                    "train_loss": running_loss / running_n,
                    "valid_auroc": auroc,
                    "lr": scheduler.get_last_lr()[0],
                    "seconds": time.perf_counter() - started,
                }
                history.append(record)
                bar.set_postfix(loss=f"{record['train_loss']:.3f}", valid_auroc=f"{auroc:.3f}")
                running_loss, running_n = 0.0, 0
                if auroc > best_auroc:
                    best_auroc, best_step, stale = auroc, step, 0
                    best_state = {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}
                else:
                    stale += 1
                    if stale >= config.patience:
                        stopped_early = True
                        break
        if stopped_early:
            logger.info("stopped early at step %d: no better validation AUROC for %d evaluations", step, config.patience)
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FinetuneResult(
        model=model,
        history=history,
        best_step=best_step,
        best_valid_auroc=float(best_auroc),
        steps=step,
        stopped_early=stopped_early,
        train_seconds=time.perf_counter() - started,
        config=config,
    )


def cross_validate(
    records: Sequence[SequenceRecord],
    tokenizer: KmerTokenizer,
    make_model: Callable[[int], nn.Module],
    n_folds: int = 5,
    valid_fraction: float = 0.1,
    config: FinetuneConfig = FinetuneConfig(),
    progress: bool = True,
) -> dict[str, Any]:
    """Stratified k-fold cross-validation: each fold is the test set once, its rest is split into train/valid.

    ``make_model(fold)`` returns a fresh classifier for each fold. Returns per-fold test metrics (at 0.5 and at
    the validation-chosen threshold), their means, and the out-of-fold score of every record keyed by id.
    """
    from sklearn.model_selection import StratifiedKFold

    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    data = encode_records(records, tokenizer, source="cross-validation set")
    require_both_classes(data.labels, "cross-validation set")
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=config.seed % 2**32)
    per_fold: list[dict[str, Any]] = []
    oof = np.full(len(data), np.nan)
    for fold, (rest, test_rows) in enumerate(folds.split(np.zeros(len(data)), data.labels)):
        n_valid = max(2, round(valid_fraction * len(rest)))
        valid_local = stratified_subsample(data.labels[rest], n_valid, derived_seed(config.seed, fold))
        train_local = np.setdiff1d(np.arange(len(rest)), valid_local)
        train, valid, test = data.subset(rest[train_local]), data.subset(rest[valid_local]), data.subset(test_rows)
        fold_config = FinetuneConfig(**{**asdict(config), "seed": derived_seed(config.seed, fold) % 2**31})
        result = finetune(make_model(fold), train, valid, fold_config, progress=progress)
        valid_scores = predict_scores(result.model, valid, config.eval_batch_size, config.device, config.precision)
        test_scores = predict_scores(result.model, test, config.eval_batch_size, config.device, config.precision)
        oof[test_rows] = test_scores
        metrics = evaluate_binary(test.labels, test_scores, valid.labels, valid_scores)
        per_fold.append({"fold": fold, "n_train": len(train), "n_valid": len(valid), "n_test": len(test), **metrics})
    names = ("auroc", "auprc", "f1", "mcc", "acc")
    mean = {name: float(np.mean([m[name] for m in per_fold])) for name in names}
    return {"folds": per_fold, "mean": mean, "out_of_fold_scores": dict(zip(data.ids, oof.tolist()))}
