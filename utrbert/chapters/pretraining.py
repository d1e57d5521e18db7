"""Chapter 02 (pretraining): the pretraining-budget curve, and the ladder of checkpoints it is measured on.

Does 3'UTR pretraining help, and how much per unit of compute? The long run of the book's recipe
(:mod:`utrbert.models.pretraining_recipe`) keeps checkpoints at a few token budgets (a *ladder*); each is exported
as an fp16 checkpoint ``<ladder root>/tokens-<budget>/utrbert-small-k3`` (every rung has the reference
checkpoint's name, so a rung and the reference checkpoint with the same weights are the same input to the
benchmarks' fingerprints). For the random start and every rung the chapter measures

* held-out masked-k-mer accuracy on windows of genes never trained on (128 nt, the training length, and the
  paper's 510 nt), beside the nucleotide-context baseline;
* test AUROC of fine-tuning on a fixed panel of RBP-31 sets with the RBP chapter's settings (its ``pretrained``
  method with the rung as the checkpoint; at the random start this is the chapter's ``scratch`` method, the same
  architecture from its random initialisation), with k-mer logistic regression as the reference line;
* a frozen-embedding probe: a logistic regression on the mean of the last layer's k-mer vectors, without
  fine-tuning (what the representation alone carries).

Fine-tuning items are RBP-benchmark items (:func:`utrbert.chapters.rbp_binding.run_benchmark`), one folder per
rung, resumable; probe items live in one :class:`~utrbert.runs.store.ItemStore`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from utrbert.data.records import SequenceRecord

__all__ = [
    "PANEL_SETS",
    "BudgetPoint",
    "budget_tag",
    "heldout_windows",
    "masked_accuracy",
    "card_heldout_accuracy",
    "export_ladder_checkpoint",
    "budget_panel",
    "budget_probe",
    "budget_curve_rows",
]

logger = logging.getLogger(__name__)

PANEL_SETS: tuple[int, ...] = (1, 3, 5, 6, 8, 17, 23, 24)
"""The fixed panel of RBP-31 sets (numbers): AGO1234, Ago2 clusters, AGO2 CLIP-seq, eIF4AIII_1, ELAVL1, HNRNPC,
PUM2, QKI - three Argonaute sets and five RBPs with sequence preferences."""

REFERENCE_NAME = "utrbert-small-k3"


@dataclass(frozen=True)
class BudgetPoint:
    """One point of the budget curve: a label, the tokens seen and the checkpoint (None: the random start)."""

    label: str
    tokens: int
    checkpoint: str | None = None


def budget_tag(tokens: float) -> str:
    """A folder-name tag for a token budget: two significant digits (three or more above 100) and a unit.

    >>> [budget_tag(t) for t in (0, 1_040, 2_080, 5_936_242, 20_000_000, 71_300_000, 130_000_000, 13.1e9)]
    ['tokens-0', 'tokens-1k', 'tokens-2.1k', 'tokens-5.9M', 'tokens-20M', 'tokens-71M', 'tokens-130M', 'tokens-13G']
    """
    if tokens <= 0:
        return "tokens-0"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0)):
        if tokens >= scale or unit == "":
            value = tokens / scale
            text = f"{value:.0f}" if value >= 100 else f"{value:.2g}"
            return f"tokens-{text}{unit}"
    raise AssertionError("unreachable")


def heldout_windows(
    utrs: Sequence[SequenceRecord], k: int, window_nt: int, heldout_fraction: float = 0.05, seed: int = 0,
    max_windows: int = 2000,
) -> dict[str, np.ndarray]:
    """Held-out windows (genes never trained on) of ``window_nt`` nt, and the training windows' ids for baselines.

    The split is :func:`utrbert.data.corpus.build_corpus`'s, so it is the pretraining run's split whatever the
    window length.
    """
    from utrbert.data.corpus import build_corpus

    corpus = build_corpus(utrs, k=k, window_nt=window_nt, heldout_fraction=heldout_fraction, seed=seed)
    heldout = corpus.splits["heldout"]
    return {
        "input_ids": heldout.input_ids[:max_windows].astype(np.int64),
        "attention_mask": heldout.attention_mask[:max_windows].astype(np.int64),
        "train_ids": corpus.splits["train"].input_ids.astype(np.int64),
    }


def masked_accuracy(
    model: Any, k: int, windows: Mapping[str, np.ndarray], seed: int = 0, with_baselines: bool = False
) -> dict[str, float]:
    """Held-out masked-k-mer accuracy of ``model`` on fixed seeded k-span masks (and of the baselines if asked)."""
    from utrbert.baselines.mlm import score_baselines
    from utrbert.models.pretraining import evaluate_mlm, fixed_masks
    from utrbert.tokens.masking import KmerSpanMaskingCollator
    from utrbert.tokens.tokenization import KmerTokenizer

    collator = KmerSpanMaskingCollator(KmerTokenizer(k=k), mlm_probability=0.15, seed=seed)
    scores = {"model": evaluate_mlm(model, collator, windows["input_ids"], windows["attention_mask"], seed=seed)[
        "masked_accuracy"]}
    if with_baselines:
        inputs, labels = fixed_masks(collator, windows["input_ids"], seed)
        baselines = score_baselines(windows["train_ids"], inputs, labels, k)
        scores.update({name: values["masked_accuracy"] for name, values in baselines.items()})
    return scores


def card_heldout_accuracy(checkpoint: str | os.PathLike[str], window_nt: int) -> dict[str, float] | None:
    """A ladder rung's held-out masked accuracies from its model card (``{"trained": ..., "510nt": ...}``, as
    :func:`export_ladder_checkpoint` measured them), or None when the card does not hold both."""
    import json

    card_path = Path(checkpoint) / "model_card.json"
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    accuracy = card.get("heldout_masked_accuracy")
    if not isinstance(accuracy, dict) or f"{window_nt}nt" not in accuracy or "510nt" not in accuracy:
        return None
    return {"trained": float(accuracy[f"{window_nt}nt"]), "510nt": float(accuracy["510nt"])}


def export_ladder_checkpoint(
    run_dir: str | os.PathLike[str], step: int, ladder_root: str | os.PathLike[str],
    windows: Mapping[int, Mapping[str, np.ndarray]], seed: int = 0, name: str = REFERENCE_NAME,
) -> Path:
    """Export the run's ``checkpoint-<step>`` as ``<ladder_root>/tokens-<budget>/<name>`` (fp16) with a
    model card that holds the held-out masked accuracy on each window length of ``windows`` (nt -> windows).

    A rung already exported from the same step is returned as it is; another checkpoint in its place is an error.
    """
    import json

    from utrbert.models.model import load_model
    from utrbert.models.pretraining_recipe import RUN_FILE, export_run_checkpoint

    run = Path(run_dir)
    plan = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
    tokens = plan["init_tokens_seen"] + round(plan["tokens_per_step"] * step)
    target = Path(ladder_root) / budget_tag(tokens) / name
    card_path = target / "model_card.json"
    if card_path.is_file():  # exported before: the same rung of the same run is not exported twice
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("run_step") == step and card.get("init_tokens_seen") == plan["init_tokens_seen"]:
            return target
        raise ValueError(f"{target} holds another checkpoint (step {card.get('run_step')}); move it away first")
    model, tokenizer = load_model(run / f"checkpoint-{step}", task="mlm")
    accuracy = {f"{nt}nt": masked_accuracy(model, tokenizer.k, w, seed)["model"] for nt, w in windows.items()}
    card = {"heldout_masked_accuracy": accuracy, "ladder": f"rung of the run {run.name} at step {step}"}
    return export_run_checkpoint(run, step, target, card)


def budget_panel(
    points: Sequence[BudgetPoint],
    rbp31_root: str | os.PathLike[str],
    settings: Any,
    results_root: str | os.PathLike[str],
    reference_results: str | os.PathLike[str],
    panel: Sequence[str],
    artifacts_root: str | os.PathLike[str] | None = None,
    run_label: str = "",
    time_budget_s: float | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Fine-tuning items of every point on the panel: ``{label: records}``.

    A checkpoint's items are the RBP benchmark's ``pretrained`` method with ``settings.pretrained`` set to it,
    under ``<results_root>/<tokens tag>``; the random start's are the ``scratch`` items, and the k-mer reference
    the ``kmer_lr`` items, of ``reference_results`` (the RBP chapter's folder, same settings). Missing items are
    computed (resumable; ``time_budget_s`` stops starting new ones).
    """
    from dataclasses import replace

    from utrbert.chapters.rbp_binding import run_benchmark

    found: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    for point in points:
        left = None if time_budget_s is None else max(1.0, time_budget_s - (time.monotonic() - started))
        if point.checkpoint is None:
            found[point.label] = run_benchmark(rbp31_root, settings, reference_results, sets=panel, methods=["scratch"],
                                               run_label=run_label, time_budget_s=left, progress=False)  # fmt: skip
            continue
        tag = budget_tag(point.tokens)
        found[point.label] = run_benchmark(
            rbp31_root, replace(settings, pretrained=point.checkpoint), Path(results_root) / tag, sets=panel,
            methods=["pretrained"], artifacts_dir=None if artifacts_root is None else Path(artifacts_root) / tag,
            run_label=run_label, time_budget_s=left, progress=False,
        )  # fmt: skip
    found["k-mer LR"] = run_benchmark(rbp31_root, settings, reference_results, sets=panel, methods=["kmer_lr"],
                                      run_label=run_label, progress=False)  # fmt: skip
    return found


def budget_probe(
    point: BudgetPoint, model: Any, tokenizer: Any, rbp31_root: str | os.PathLike[str], set_name: str,
    store_root: str | os.PathLike[str], n_train: int = 1000, n_test: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """Frozen-embedding probe of ``model`` on one set: logistic regression on the last layer's mean k-mer vector,
    fitted on ``n_train`` stratified training windows and scored on ``n_test`` stratified test windows (an item
    of the store under ``store_root``, keyed by the point's tokens tag and the set)."""
    from utrbert.data.readers import read_rbp31_split
    from utrbert.models.finetuning import binary_labels, stratified_subsample
    from utrbert.interpret.representations import layer_embeddings, separation_scores
    from utrbert.models.model import checkpoint_identity
    from utrbert.runs.store import ItemStore, settings_digest

    settings = {
        "checkpoint": None if point.checkpoint is None else checkpoint_identity(point.checkpoint),
        "random_start": point.checkpoint is None, "pooling": "mean", "layer": "last", "n_train": n_train,
        "n_test": n_test, "seed": seed, "set": set_name,
    }  # fmt: skip
    fingerprint = settings_digest(settings)
    store = ItemStore(store_root, "budget probe item")
    key = f"{budget_tag(point.tokens)}/{set_name}"
    existing = store.read(key, fingerprint)
    if existing is not None:
        return existing
    train = read_rbp31_split(rbp31_root, set_name, "train")
    test = read_rbp31_split(rbp31_root, set_name, "test")
    train = [train[i] for i in stratified_subsample(binary_labels(train, f"{set_name} train"), n_train, seed)]
    test = [test[i] for i in stratified_subsample(binary_labels(test, f"{set_name} test"), n_test, seed)]
    sequences = [r.sequence for r in (*train, *test)]
    labels = np.concatenate([binary_labels(train), binary_labels(test)])
    vectors = layer_embeddings(model, tokenizer, sequences, pooling="mean")
    last = max(vectors)
    table = separation_scores({last: vectors[last]}, labels, np.arange(len(train)), np.arange(len(train), len(labels)),
                              seed=seed)  # fmt: skip
    record = {"fingerprint": fingerprint, "settings": settings, "label": point.label, "tokens": point.tokens,
              "probe_auroc": float(table.loc[last, "probe_auroc"])}  # fmt: skip
    return store.write(key, record)


def budget_curve_rows(
    points: Sequence[BudgetPoint],
    heldout: Mapping[str, Mapping[str, float]],
    panel_records: Mapping[str, Sequence[Mapping[str, Any]]],
    probes: Mapping[str, Sequence[Mapping[str, Any]]],
    panel: Sequence[str],
) -> list[dict[str, Any]]:
    """One row per point: tokens, held-out accuracies (``heldout[label]``: ``"trained"`` for the training window
    length, ``"510nt"``), panel mean AUROC (only when every panel set is done) and probe mean AUROC;
    ``panel_sets_done`` says how many sets the panel mean could use."""
    rows = []
    for point in points:
        aurocs = {r["set"]: r["metrics"]["auroc"] for r in panel_records.get(point.label, [])}
        probe = {r["settings"]["set"]: r["probe_auroc"] for r in probes.get(point.label, [])}
        complete = all(name in aurocs for name in panel)
        rows.append({
            "label": point.label,
            "tokens": point.tokens,
            "checkpoint": point.checkpoint,
            "heldout_masked_accuracy": heldout[point.label]["trained"],
            "heldout_510nt_masked_accuracy": heldout[point.label]["510nt"],
            "panel_auroc_mean": float(np.mean([aurocs[n] for n in panel])) if complete else None,
            "panel_sets_done": len([n for n in panel if n in aurocs]),
            "panel_auroc": {n: aurocs[n] for n in panel if n in aurocs},
            "probe_auroc_mean": float(np.mean([probe[n] for n in panel])) if all(n in probe for n in panel) else None,
            "probe_auroc": {n: probe[n] for n in panel if n in probe},
        })  # fmt: skip
    return rows
