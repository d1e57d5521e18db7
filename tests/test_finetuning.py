"""Tests of binary fine-tuning: encoding, learning, determinism, early stopping, CV and the ``finetune`` CLI."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from utrbert.__main__ import build_parser, main
from utrbert.models.finetune_run import run_finetune
from utrbert.models.finetuning import (
    FinetuneConfig,
    cross_validate,
    encode_records,
    finetune,
    predict_scores,
    predict_sequences,
    split_train_valid,
    stratified_subsample,
)
from utrbert.tokens.kmers import SequenceError, seq_to_kmers
from utrbert.models.metrics import binary_metrics
from utrbert.models.model import build_config, build_model
from utrbert.data.records import SequenceRecord
from utrbert.data.synthetic import make_binary_dataset
from utrbert.tokens.tokenization import KmerTokenizer

FAST = FinetuneConfig(epochs=4, batch_size=16, peak_lr=3e-3, evals_per_epoch=1, patience=4)


@pytest.fixture(scope="module")
def records() -> list[SequenceRecord]:
    """600 synthetic 60-nt sequences, half of them carrying a planted PUM-like motif."""
    return make_binary_dataset(600, 60, positive_fraction=0.5, seed=0)


@pytest.fixture(scope="module")
def tokenizer() -> KmerTokenizer:
    return KmerTokenizer(k=3)


def _model(seed: int = 0) -> torch.nn.Module:
    return build_model(build_config("tiny", k=3), task="classification", seed=seed)


def test_encode_records_rejects_missing_and_non_binary_labels(tokenizer: KmerTokenizer) -> None:
    with pytest.raises(ValueError, match="'b' has no label"):
        encode_records([SequenceRecord("a", "ACGU", 1), SequenceRecord("b", "ACGU")], tokenizer)
    with pytest.raises(ValueError, match="'c' has label 2"):
        encode_records([SequenceRecord("c", "ACGU", 2)], tokenizer)
    with pytest.raises(ValueError, match="no records"):
        encode_records([], tokenizer)


def test_encode_records_never_truncates_or_drops(tokenizer: KmerTokenizer) -> None:
    with pytest.raises(SequenceError, match="'long'.*exceed"):
        encode_records([SequenceRecord("ok", "ACGU" * 10, 0), SequenceRecord("long", "ACGU" * 200, 1)], tokenizer)
    with pytest.raises(SequenceError, match="'short'"):
        encode_records([SequenceRecord("short", "AC", 0)], tokenizer)


def test_stratified_split_keeps_balance_and_every_record(records: list[SequenceRecord]) -> None:
    train, valid = split_train_valid(records, 0.2, seed=3)
    assert len(train) + len(valid) == len(records)
    assert {r.id for r in train}.isdisjoint(r.id for r in valid)
    assert sum(r.label for r in valid) == len(valid) // 2
    assert [r.id for r in split_train_valid(records, 0.2, seed=3)[1]] == [r.id for r in valid]
    assert [r.id for r in split_train_valid(records, 0.2, seed=4)[1]] != [r.id for r in valid]
    rows = stratified_subsample([r.label for r in records], 100, seed=0)
    assert len(rows) == len(set(rows.tolist())) == 100


def test_finetuning_learns_a_planted_motif(records: list[SequenceRecord], tokenizer: KmerTokenizer) -> None:
    train, valid = split_train_valid(records[:500], 0.2, seed=0)
    test = encode_records(records[500:], tokenizer)
    result = finetune(_model(), encode_records(train, tokenizer), encode_records(valid, tokenizer), FAST, progress=False)
    untrained = binary_metrics(test.labels, predict_scores(_model(), test))["auroc"]
    trained = binary_metrics(test.labels, predict_scores(result.model, test))["auroc"]
    assert trained > 0.75
    assert trained > untrained + 0.15
    assert len(result.history) == FAST.epochs
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_best_weights_are_restored(records: list[SequenceRecord], tokenizer: KmerTokenizer) -> None:
    train, valid = split_train_valid(records[:300], 0.2, seed=0)
    valid_set = encode_records(valid, tokenizer)
    result = finetune(_model(), encode_records(train, tokenizer), valid_set, FAST, progress=False)
    rescored = binary_metrics(valid_set.labels, predict_scores(result.model, valid_set))["auroc"]
    assert rescored == pytest.approx(result.best_valid_auroc, abs=1e-12)
    assert result.best_valid_auroc == max(h["valid_auroc"] for h in result.history)


def test_finetuning_is_deterministic_and_leaves_global_rng_alone(records, tokenizer) -> None:
    train, valid = split_train_valid(records[:200], 0.2, seed=0)
    train_set, valid_set = encode_records(train, tokenizer), encode_records(valid, tokenizer)
    config = FinetuneConfig(epochs=1, batch_size=16, peak_lr=1e-3, evals_per_epoch=1)
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    first = predict_scores(finetune(_model(), train_set, valid_set, config, progress=False).model, valid_set)
    assert torch.equal(torch.random.get_rng_state(), before)
    second = predict_scores(finetune(_model(), train_set, valid_set, config, progress=False).model, valid_set)
    other = predict_scores(
        finetune(_model(), train_set, valid_set, FinetuneConfig(**{**config.__dict__, "seed": 1}), progress=False).model,
        valid_set,
    )
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_early_stopping_after_patience_evaluations(records, tokenizer) -> None:
    train, valid = split_train_valid(records[:200], 0.2, seed=0)
    frozen = FinetuneConfig(epochs=10, batch_size=16, peak_lr=1e-12, evals_per_epoch=1, patience=2)
    result = finetune(_model(), encode_records(train, tokenizer), encode_records(valid, tokenizer), frozen, progress=False)
    assert result.stopped_early
    assert len(result.history) == 3  # the first sets the best, two more without improvement stop the run
    assert result.steps < 10 * len(train) / 16


def test_finetune_rejects_a_single_class_training_set(records, tokenizer) -> None:
    negatives = [r for r in records if r.label == 0][:50]
    with pytest.raises(ValueError, match="training set: every label is 0"):
        finetune(_model(), encode_records(negatives, tokenizer), encode_records(records[:50], tokenizer), FAST, progress=False)


def test_padding_does_not_change_scores(tokenizer: KmerTokenizer) -> None:
    model = _model()
    short = [SequenceRecord("s", "ACGUACGUAGGCUA", 0), SequenceRecord("t", "UUGACG", 1)]
    alone = predict_scores(model, encode_records(short[:1], tokenizer))
    together = predict_scores(model, encode_records(short, tokenizer))
    assert alone[0] == pytest.approx(together[0], abs=1e-5)


def test_cross_validation_scores_every_record_once(records, tokenizer) -> None:
    subset = records[:150]
    config = FinetuneConfig(epochs=1, batch_size=16, peak_lr=1e-3, evals_per_epoch=1)
    result = cross_validate(subset, tokenizer, lambda fold: _model(fold), n_folds=3, config=config, progress=False)
    assert sorted(result["out_of_fold_scores"]) == sorted(r.id for r in subset)
    assert all(0 <= s <= 1 for s in result["out_of_fold_scores"].values())
    assert sum(fold["n_test"] for fold in result["folds"]) == len(subset)
    assert all(fold["n_train"] + fold["n_valid"] + fold["n_test"] == len(subset) for fold in result["folds"])
    assert result["mean"]["auroc"] == pytest.approx(np.mean([f["auroc"] for f in result["folds"]]))


# ----- run_finetune and the command line ------------------------------------------------------------------


def _write_fasta(path: Path, records: list[SequenceRecord]) -> Path:
    path.write_text("".join(f">{r.id} class:{r.label}\n{r.sequence.replace('U', 'T')}\n" for r in records))
    return path


def _write_kmer_tsv(path: Path, records: list[SequenceRecord], k: int = 3) -> Path:
    rows = pd.DataFrame(
        {"id": [r.id for r in records], "sequence": [" ".join(seq_to_kmers(r.sequence, k)) for r in records],
         "label": [r.label for r in records]}
    )
    rows.to_csv(path, sep="\t", index=False)
    return path


def test_cli_defaults_match_the_config() -> None:
    args = build_parser().parse_args(["finetune", "--train", "a.fa", "--test", "b.fa", "--out", "o"])
    defaults = {f.name: f.default for f in fields(FinetuneConfig)}
    assert (args.epochs, args.batch_size, args.lr, args.seed) == (
        defaults["epochs"], defaults["batch_size"], defaults["peak_lr"], defaults["seed"]
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "--train", "a", "--test", "b", "--out", "o", "--model", "m", "--scratch"])


@pytest.mark.slow
def test_cli_fasta_and_kmer_tsv_give_identical_runs(tmp_path: Path, records: list[SequenceRecord]) -> None:
    train, test = records[:240], records[500:560]
    outputs = {}
    for name, writer in (("fasta", _write_fasta), ("tsv", _write_kmer_tsv)):
        suffix = ".fa" if name == "fasta" else ".tsv"
        train_path = writer(tmp_path / f"train_{name}{suffix}", train)
        test_path = writer(tmp_path / f"test_{name}{suffix}", test)
        out = tmp_path / f"out_{name}"
        code = main(["-q", "finetune", "--train", str(train_path), "--test", str(test_path), "--out", str(out),
                     "--scratch", "--epochs", "1", "--max-train", "200", "--seed", "5"])
        assert code == 0
        outputs[name] = out
    metrics = json.loads((outputs["fasta"] / "metrics.json").read_text())
    for key in ("auroc", "auprc", "f1", "mcc", "acc", "n_train", "n_test"):
        assert key in metrics
    assert metrics["n_test"] == 60 and metrics["n_train"] + metrics["n_valid"] == 200
    assert metrics["model"]["init"] == "scratch" and 0 <= metrics["tuned"]["threshold"] <= 1
    fasta = pd.read_csv(outputs["fasta"] / "predictions.tsv", sep="\t")
    tsv = pd.read_csv(outputs["tsv"] / "predictions.tsv", sep="\t")
    assert list(fasta.columns) == ["id", "label", "score"]
    assert fasta["id"].tolist() == [r.id for r in test] == tsv["id"].tolist()
    assert fasta["label"].tolist() == [r.label for r in test]
    np.testing.assert_allclose(fasta["score"], tsv["score"], atol=1e-6)


def test_cli_reports_a_bad_record_and_fails(tmp_path: Path, records, caplog: pytest.LogCaptureFixture) -> None:
    good = _write_fasta(tmp_path / "train.fa", records[:40])
    bad = tmp_path / "test.fa"
    bad.write_text(">ok class:0\nACGTACGT\n>broken class:1\nACGTXQACGT\n")
    code = main(["finetune", "--train", str(good), "--test", str(bad), "--out", str(tmp_path / "out"), "--epochs", "1"])
    assert code == 2
    assert "broken" in caplog.text
    assert not (tmp_path / "out").exists()


def test_run_from_a_pretrained_checkpoint(tmp_path: Path, records) -> None:
    mlm = build_model(build_config("tiny", k=4), task="mlm", seed=0)
    mlm.save_pretrained(tmp_path / "ckpt")
    KmerTokenizer(k=4).save_pretrained(tmp_path / "ckpt")
    config = FinetuneConfig(epochs=1, batch_size=16, peak_lr=1e-3, evals_per_epoch=1)
    run = run_finetune(records[:120], records[500:540], model_dir=tmp_path / "ckpt", config=config, progress=False)
    assert run.metrics["model"]["init"] == "pretrained" and run.metrics["model"]["k"] == 4
    assert run.predictions["id"].tolist() == [r.id for r in records[500:540]]
    assert run.tokenizer.k == 4 and not run.model.training
    with pytest.raises(ValueError, match="k=4"):
        run_finetune(records[:120], records[500:540], model_dir=tmp_path / "ckpt", k=3, config=config, progress=False)


def test_predict_sequences_scores_unlabelled_sequences_like_labelled_ones(tokenizer: KmerTokenizer) -> None:
    model = _model()
    records = [SequenceRecord("s", "ACGUACGUAGGCUA", 0), SequenceRecord("t", "UUGACG", 1)]
    labelled = predict_scores(model, encode_records(records, tokenizer))
    unlabelled = predict_sequences(model, tokenizer, [r.sequence for r in records], [r.id for r in records])
    np.testing.assert_allclose(unlabelled, labelled, atol=1e-6)
    with pytest.raises(SequenceError, match="bad_1"):
        predict_sequences(model, tokenizer, ["ACGU", "ACXGU"], ["good", "bad_1"])


def test_balanced_subsets_cover_every_record_and_keep_the_minority_in_each() -> None:
    from utrbert.models.finetuning import balanced_subsets

    labels = np.array([1] * 13 + [0] * 50)
    subsets = balanced_subsets(labels, seed=1)
    assert len(subsets) == 4  # round(50 / 13)
    negatives = [set(rows[labels[rows] == 0].tolist()) for rows in subsets]
    assert all(set(np.flatnonzero(labels == 1)) <= set(rows.tolist()) for rows in subsets)
    assert set().union(*negatives) == set(np.flatnonzero(labels == 0))  # nothing dropped
    assert sum(len(n) for n in negatives) == 50  # disjoint chunks
    assert all(abs(len(n) - 13) <= 1 for n in negatives)
    assert [r.tolist() for r in balanced_subsets(labels, seed=1)] == [r.tolist() for r in subsets]  # seeded
    assert len(balanced_subsets(np.array([1] * 10 + [0] * 12), seed=0)) == 1  # already balanced: one subset
    with pytest.raises(ValueError, match="both classes"):
        balanced_subsets(np.zeros(5, dtype=int), seed=0)


@pytest.mark.slow
def test_cli_balanced_protocol_averages_one_model_per_subset(tmp_path: Path) -> None:
    records = make_binary_dataset(400, 60, positive_fraction=0.2, seed=3)
    train, test = records[:300], records[300:]
    train_path, test_path = _write_fasta(tmp_path / "train.fa", train), _write_fasta(tmp_path / "test.fa", test)
    out = tmp_path / "out"
    code = main(["-q", "finetune", "--train", str(train_path), "--test", str(test_path), "--out", str(out),
                 "--scratch", "--epochs", "1", "--seed", "2", "--balanced"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    n_positive = sum(r.label for r in train) - round(0.1 * sum(r.label for r in train))  # minus the validation split
    assert metrics["balanced"]["n_models"] == len(metrics["training"]) >= 3
    assert all(size >= 2 * n_positive - len(metrics["balanced"]["subset_sizes"]) for size in metrics["balanced"]["subset_sizes"])
    predictions = pd.read_csv(out / "predictions.tsv", sep="\t")
    assert predictions["id"].tolist() == [r.id for r in test] and predictions["score"].between(0, 1).all()
    assert metrics["n_test"] == 100 and 0 <= metrics["auroc"] <= 1
