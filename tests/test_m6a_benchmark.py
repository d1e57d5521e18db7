"""The m6A benchmark on generated MST-m6A files: fixed train/test and cross-validated data sets, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import utrbert.runs.benchmark as benchmark
from utrbert.models.finetuning import FinetuneConfig
from utrbert.chapters.m6a import M6aProtocol, m6a_auroc_table, m6a_splits, run_m6a_benchmark
from utrbert.models.model import build_config, build_model
from utrbert.runs.benchmark import BenchmarkSettings
from utrbert.data.synthetic import write_demo_data
from utrbert.tokens.tokenization import KmerTokenizer


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("m6a")
    data = write_demo_data(root / "data", seed=0, scale="smoke")
    checkpoint = root / "ckpt"
    build_model(build_config("tiny", k=3), task="mlm", seed=0).save_pretrained(checkpoint)
    KmerTokenizer(k=3).save_pretrained(checkpoint)
    settings = BenchmarkSettings(max_train=200, seed=0, bert_size="tiny", pretrained=str(checkpoint),
                                 finetune=FinetuneConfig(epochs=1, batch_size=32, peak_lr=1e-3, evals_per_epoch=1),
                                 cnn={"epochs": 2})
    return {"root": root, "m6a": data / "m6a" / "mst_m6a", "settings": settings}


def test_splits_crop_windows_and_cross_validate_test_only_sets(demo) -> None:
    protocol = M6aProtocol(window=41, n_folds=3)
    fixed = m6a_splits(demo["m6a"], "DemoCellA", demo["settings"], protocol)
    assert len(fixed) == 1 and {len(r.sequence) for r in fixed[0].test} == {41}
    assert all(r.sequence[20] == "A" for r in fixed[0].train + fixed[0].test)
    assert fixed[0].test[0].id.startswith("DemoCellA_test:") and fixed[0].train[0].id.startswith("DemoCellA_train:")
    folds = m6a_splits(demo["m6a"], "DemoCellC", demo["settings"], protocol)
    assert [f.name for f in folds] == ["DemoCellC_fold0", "DemoCellC_fold1", "DemoCellC_fold2"]
    tested = [r.id for f in folds for r in f.test]
    assert len(tested) == len(set(tested)) == folds[0].n_train_file + folds[0].n_test_file  # each record tested once
    for f in folds:
        assert not {r.id for r in f.test} & {r.id for r in f.train + f.valid}
    with pytest.raises(KeyError, match="no MST-m6A"):
        m6a_splits(demo["m6a"], "Nowhere", demo["settings"], protocol)
    with pytest.raises(ValueError, match="odd"):
        M6aProtocol(window=40)


@pytest.mark.slow
def test_benchmark_runs_every_item_resumes_and_refuses_another_protocol(demo, monkeypatch) -> None:
    results = demo["root"] / "results"
    protocol = M6aProtocol(window=41, n_folds=2)
    records = run_m6a_benchmark(demo["m6a"], demo["settings"], results, protocol=protocol, methods=["kmer_lr", "scratch"])
    assert {(r["dataset"], r["method"]) for r in records} >= {("DemoCellA", "kmer_lr"), ("DemoCellC", "scratch")}
    assert len(records) == 2 * 2 + 2 * 2  # (two fixed sets + one cross-validated set in two folds) x two methods
    table = m6a_auroc_table(records, ["kmer_lr", "scratch"])
    assert list(table.index) == ["DemoCellA", "DemoCellB", "DemoCellC"] and table.loc["DemoCellC", "n_folds"] == 2
    folds = [r["metrics"]["auroc"] for r in records if r["dataset"] == "DemoCellC" and r["method"] == "kmer_lr"]
    assert table.loc["DemoCellC", "kmer_lr"] == pytest.approx(np.mean(folds))
    assert table.loc["DemoCellA", "kmer_lr"] > 0.6  # the DRACH context separates the demo classes (180 windows)
    monkeypatch.setattr(benchmark, "run_item", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = run_m6a_benchmark(demo["m6a"], demo["settings"], results, protocol=protocol, methods=["kmer_lr", "scratch"])
    assert len(again) == len(records)
    with pytest.raises(ValueError, match="protocol"):
        run_m6a_benchmark(demo["m6a"], demo["settings"], results, protocol=M6aProtocol(window=31, n_folds=2))
    assert json.loads((results / "protocol.json").read_text()) == {"n_folds": 2, "seed": 0, "window": 41}


def test_a_missing_fold_leaves_the_mean_empty() -> None:
    records = [{"dataset": "X", "set": f"X_fold{i}", "method": "kmer_lr", "metrics": {"auroc": 0.7}} for i in range(3)]
    records += [{"dataset": "X", "set": "X_fold0", "method": "cnn", "metrics": {"auroc": 0.6}}]
    table = m6a_auroc_table(records, ["kmer_lr", "cnn"])
    assert table.loc["X", "kmer_lr"] == pytest.approx(0.7) and np.isnan(table.loc["X", "cnn"])
