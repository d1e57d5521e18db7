"""Tests of the resumable RBP-31 benchmark runner on generated demo data (two synthetic sets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import utrbert.runs.benchmark as bench
from utrbert.chapters.rbp_binding import collect_results, load_set_splits, rbp_results, run_benchmark
from utrbert.data.readers import list_rbp31_sets
from utrbert.data.synthetic import write_demo_data
from utrbert.models.finetuning import FinetuneConfig, encode_records, predict_scores
from utrbert.models.model import build_config, build_model, load_model
from utrbert.runs.benchmark import BenchmarkSettings, fine_tuned_model_path, item_path, settings_fingerprint
from utrbert.runs.builtin_methods import default_methods
from utrbert.runs.tables import auroc_table, item_provenance, summarise_benchmark
from utrbert.tokens.tokenization import KmerTokenizer

METHODS = default_methods().names()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rbp")
    data = write_demo_data(root / "data", seed=0, scale="smoke")
    checkpoint = root / "ckpt"
    build_model(build_config("tiny", k=3), task="mlm", seed=0).save_pretrained(checkpoint)
    KmerTokenizer(k=3).save_pretrained(checkpoint)
    return {"rbp31": data / "rbp31", "checkpoint": checkpoint, "root": root}


def _settings(demo: dict[str, Path], **changes) -> BenchmarkSettings:
    base = dict(
        max_train=200,
        seed=0,
        bert_size="tiny",
        pretrained=str(demo["checkpoint"]),
        finetune=FinetuneConfig(epochs=1, batch_size=32, peak_lr=1e-3, evals_per_epoch=1),
        cnn={"epochs": 2},
    )
    base.update(changes)
    return BenchmarkSettings(**base)


def test_every_method_sees_the_same_disjoint_splits(demo) -> None:
    name = list_rbp31_sets(demo["rbp31"])[0]
    splits = load_set_splits(demo["rbp31"], name, _settings(demo))
    assert len(splits.train) + len(splits.valid) == 200
    assert {r.id for r in splits.train}.isdisjoint(r.id for r in splits.valid)
    again = load_set_splits(demo["rbp31"], name, _settings(demo))
    assert [r.id for r in again.valid] == [r.id for r in splits.valid]
    assert splits.counts()["n_train_file"] == 300 and len(splits.test) == 100


def test_fingerprint_depends_only_on_the_methods_settings(demo) -> None:
    a, b = _settings(demo), _settings(demo, cnn={"epochs": 3})
    assert settings_fingerprint(a, "kmer_lr") == settings_fingerprint(b, "kmer_lr")
    assert settings_fingerprint(a, "cnn") != settings_fingerprint(b, "cnn")
    moved = _settings(demo, finetune=FinetuneConfig(epochs=1, batch_size=32, peak_lr=1e-3, evals_per_epoch=1, device="cuda"))
    assert settings_fingerprint(a, "scratch") == settings_fingerprint(moved, "scratch")
    with pytest.raises(ValueError, match="unknown method"):
        settings_fingerprint(a, "svm")


@pytest.mark.slow
def test_benchmark_writes_items_resumes_and_refuses_mixed_settings(demo, monkeypatch) -> None:
    results = demo["root"] / "results"
    names = list_rbp31_sets(demo["rbp31"])
    settings = _settings(demo, landscape_sets=(names[0],), embedding_sets=(names[0],), embedding_points=60)
    first = run_benchmark(demo["rbp31"], settings, results, max_items=3, order="method", progress=False, run_label="first")
    assert len(first) == 3
    # baselines first, method by method: the k-mer baseline of every set before the CNN of the first
    assert {(r["set"], r["method"]) for r in first} == {(names[0], "kmer_lr"), (names[1], "kmer_lr"), (names[0], "cnn")}
    records = run_benchmark(demo["rbp31"], settings, results, artifacts_dir=demo["root"] / "art", progress=False, run_label="second")
    assert len(records) == len(names) * len(METHODS)
    for name in names:
        for method in METHODS:
            item = json.loads(item_path(results, name, method).read_text())
            assert item["set"] == name and item["method"] == method
            assert 0 <= item["metrics"]["auroc"] <= 1 and "tuned" in item["metrics"]
            assert item["counts"]["n_test"] == 100
    bert = json.loads(item_path(results, names[0], "pretrained").read_text())
    landscape = bert["details"]["attention_landscape"]
    assert len(landscape["positive_mean"]) == 101 == len(landscape["negative_mean"])
    assert bert["details"]["model"]["init"] == "pretrained"
    umap = bert["details"]["umap"]
    assert len(umap["ids"]) == len(umap["x"]) == 60 and sum(umap["labels"]) == 12
    other = json.loads(item_path(results, names[1], "pretrained").read_text())["details"]
    assert "attention_landscape" not in other and "umap" not in other
    assert "umap" not in json.loads(item_path(results, names[0], "scratch").read_text())["details"]
    predictions = (demo["root"] / "art" / names[1] / "cnn.tsv").read_text().splitlines()
    assert predictions[0].split("\t") == ["id", "label", "score"] and len(predictions) == 101
    # the fine-tuned pretrained classifier is kept for later analyses and scores the test set as the item did
    saved = fine_tuned_model_path(demo["root"] / "art", names[1], "pretrained")
    classifier, tokenizer = load_model(saved, task="classification")
    card = json.loads((saved / "model_card.json").read_text())
    assert card["set"] == names[1] and card["fingerprint"] == settings_fingerprint(settings, "pretrained")
    item_scores = pd.read_csv(demo["root"] / "art" / names[1] / "pretrained.tsv", sep="\t")
    splits = load_set_splits(demo["rbp31"], names[1], settings)
    rescored = predict_scores(classifier, encode_records(splits.test, tokenizer), batch_size=32)
    assert np.allclose(rescored, item_scores["score"].to_numpy(), atol=2e-2)  # fp16 weights
    assert not fine_tuned_model_path(demo["root"] / "art", names[1], "scratch").exists()

    # nothing is recomputed when every item exists
    def fail(*args, **kwargs):
        raise AssertionError("an existing item was recomputed")

    monkeypatch.setattr(bench, "run_item", fail)
    again = run_benchmark(demo["rbp31"], settings, results, progress=False)
    assert [r["fingerprint"] for r in again] == [r["fingerprint"] for r in records]
    provenance = item_provenance(collect_results(results))
    assert provenance.set_index("run")["items"].to_dict() == {"first": 3, "second": len(records) - 3}

    # other settings never mix with existing items
    with pytest.raises(ValueError, match="other settings"):
        run_benchmark(demo["rbp31"], _settings(demo, max_train=150), results, methods=["kmer_lr"], progress=False)

    table = auroc_table(collect_results(results))
    assert list(table.columns) == list(METHODS) and list(table.index) == names
    summary = summarise_benchmark(collect_results(results))
    assert summary["complete_sets"] == len(names) and summary["missing_items"] == 0
    assert summary["mean_auroc"]["kmer_lr"] == pytest.approx(table["kmer_lr"].mean())
    assert f"{len(names)} of {len(names)} sets" in summary["text"]


def test_time_budget_stops_starting_new_items(demo) -> None:
    results = demo["root"] / "budget"
    done = run_benchmark(demo["rbp31"], _settings(demo), results, methods=["kmer_lr"], time_budget_s=0.0, progress=False)
    assert len(done) == 1  # every call computes one item at least, then the budget stops it
    assert len(list(results.glob("*/*.json"))) == 1


def test_test_subsample_is_stratified_and_recorded(demo) -> None:
    name = list_rbp31_sets(demo["rbp31"])[0]
    splits = load_set_splits(demo["rbp31"], name, _settings(demo, max_test=50))
    assert len(splits.test) == 50 and sum(r.label for r in splits.test) == 10
    assert splits.counts()["n_test_file"] == 100
    assert settings_fingerprint(_settings(demo, max_test=50), "cnn") != settings_fingerprint(_settings(demo), "cnn")


def test_corrupt_item_is_reported(demo) -> None:
    results = demo["root"] / "corrupt"
    name = list_rbp31_sets(demo["rbp31"])[0]
    path = item_path(results, name, "kmer_lr")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="corrupt benchmark item file"):
        run_benchmark(demo["rbp31"], _settings(demo), results, methods=["kmer_lr"], progress=False)


def test_summary_counts_missing_items_and_wins() -> None:
    def item(name: str, method: str, auroc: float) -> dict:
        metrics = {m: auroc for m in ("auroc", "auprc", "f1", "mcc", "acc")}
        metrics["tuned"] = {"f1": auroc, "mcc": auroc, "acc": auroc}
        return {"set": name, "method": method, "metrics": metrics}

    records = [item("1_A", m, v) for m, v in zip(METHODS, (0.7, 0.75, 0.72, 0.8))]
    records += [item("2_B", m, v) for m, v in zip(METHODS, (0.9, 0.85, 0.8, 0.78))]
    records += [item("3_C", "kmer_lr", 0.6)]
    summary = summarise_benchmark(records)
    assert summary["complete_sets"] == 2 and summary["missing_items"] == 3
    assert summary["pretrained_wins"] == ["1_A"]
    assert summary["mean_auroc"]["pretrained"] == pytest.approx(0.79)
    assert "does **not** beat" in summary["text"]
    assert np.isclose(summary["metrics"].loc["cnn", "tuned_mcc"], 0.8)
