"""A method added from outside the package, as a notebook cell would, reaches every output of the RBP and m6A
chapters: item files, tables, plots, summaries and the chapter's results JSON. Runs on the smoke profile's
fine-tuning settings and synthetic data (utrbert.data.synthetic)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from utrbert.book.plotting import plot_method_comparison
from utrbert.book.runner import load_profile
from utrbert.chapters.m6a import M6aProtocol, m6a_auroc_table, m6a_summary, run_m6a_benchmark
from utrbert.chapters.rbp_binding import collect_results, rbp_results, run_benchmark
from utrbert.data.readers import list_rbp31_sets
from utrbert.data.synthetic import write_demo_data
from utrbert.models.finetuning import FinetuneConfig
from utrbert.runs.benchmark import BenchmarkSettings, Method, MethodScores, item_path
from utrbert.runs.builtin_methods import METHODS, default_methods, register_method, sklearn_kmer_method
from utrbert.runs.provenance import write_results
from utrbert.runs.tables import auroc_table, summarise_benchmark

REPO_ROOT = Path(__file__).resolve().parents[1]


def _gc_logistic(splits, settings, outputs) -> MethodScores:
    """A method written in a notebook: logistic regression on GC content and length."""

    def features(records):
        return np.array([[sum(c in "GC" for c in r.sequence) / len(r.sequence), len(r.sequence) / 100] for r in records])

    model = LogisticRegression(random_state=settings.seed).fit(features(splits.train), [r.label for r in splits.train])
    return MethodScores(model.predict_proba(features(splits.test))[:, 1], model.predict_proba(features(splits.valid))[:, 1],
                        {"features": ["gc", "length"]})


def _notebook_methods():
    """What a student's cell does: the built-in baseline, a scikit-learn model on k-mers, a hand-written method."""
    methods = default_methods().select(["kmer_lr"])
    methods.register(sklearn_kmer_method("kmer_rf", lambda seed: RandomForestClassifier(20, random_state=seed),
                                         params={"n_estimators": 20}, ks=(1, 2, 3), label="k-mer random forest"))
    methods.register(Method("gc_logistic", _gc_logistic, lambda s: {"gc_logistic": {"features": ["gc", "length"]}},
                            colour="#000000"))
    return methods


def _smoke_settings(stem: str) -> BenchmarkSettings:
    """The smoke profile's training-set size and seed for ``stem``, with a one-epoch tiny fine-tuning config."""
    profile = load_profile("smoke", REPO_ROOT / "profiles")
    params = {**profile["defaults"], **profile["notebooks"][stem]}
    return BenchmarkSettings(max_train=params["max_train"], seed=params["seed"],
                             finetune=FinetuneConfig(epochs=1, seed=params["seed"]))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_data(tmp_path_factory.mktemp("registry") / "data", seed=0, scale="smoke")


def test_a_registered_method_reaches_the_rbp_items_table_plot_summary_and_results_json(data: Path, tmp_path: Path) -> None:
    methods, settings = _notebook_methods(), _smoke_settings("03_rbp_binding")
    names = list_rbp31_sets(data / "rbp31")
    results = tmp_path / "results"
    records = run_benchmark(data / "rbp31", settings, results / "rbp31", methods=methods, progress=False)
    assert len(records) == len(names) * 3

    item = json.loads(item_path(results / "rbp31", names[0], "kmer_rf").read_text())
    assert item["method"] == "kmer_rf" and item["settings"]["kmer_rf"] == {"n_estimators": 20, "ks": [1, 2, 3]}
    assert item["fingerprint"] == methods["kmer_rf"].fingerprint(settings) and 0 <= item["metrics"]["auroc"] <= 1

    table = auroc_table(records, methods)
    assert list(table.columns) == ["kmer_lr", "kmer_rf", "gc_logistic"] and list(table.index) == names
    summary = summarise_benchmark(records, methods)
    assert set(summary["mean_auroc"]) == {"kmer_lr", "kmer_rf", "gc_logistic"}
    assert "`kmer_rf`" in summary["text"] and "`gc_logistic`" in summary["text"]
    # a reader that does not know the new methods still shows them (registered ones first), never drops them
    assert list(auroc_table(collect_results(results / "rbp31"))) == ["kmer_lr", "gc_logistic", "kmer_rf"]

    ax = plot_method_comparison(table, colours=methods.colours())
    legend = {text.get_text() for text in ax.get_legend().get_texts()}
    assert legend == {"kmer_lr", "kmer_rf", "gc_logistic"}
    assert methods.colours()["gc_logistic"] == "#000000" and len(set(methods.colours().values())) == 3
    plt.close(ax.figure)

    path = write_results(results, "rbp", rbp_results(records, methods, settings, profile="smoke"), {"profile": "smoke"})
    written = json.loads(path.read_text())
    assert written["chapter"] == "rbp"
    values = written["values"]
    assert set(values["mean_auroc"]) == {"kmer_lr", "kmer_rf", "gc_logistic"}
    assert values["settings"]["gc_logistic"]["gc_logistic"] == {"features": ["gc", "length"]}
    assert all(set(per_set) == {"kmer_lr", "kmer_rf", "gc_logistic"} for per_set in values["per_set"].values())


def test_a_registered_method_reaches_the_m6a_items_table_and_summary(data: Path, tmp_path: Path) -> None:
    methods, settings = _notebook_methods(), _smoke_settings("05_m6a")
    records = run_m6a_benchmark(data / "m6a" / "mst_m6a", settings, tmp_path / "m6a", methods=methods,
                                protocol=M6aProtocol(window=41, n_folds=2))
    assert {r["method"] for r in records} == {"kmer_lr", "kmer_rf", "gc_logistic"}
    stored = json.loads(item_path(tmp_path / "m6a", "DemoCellA", "gc_logistic").read_text())
    assert stored["details"] == {"features": ["gc", "length"]}
    summary = m6a_summary(records, methods, n_items_expected=len(records))
    assert list(summary["table"].columns) == ["kmer_lr", "kmer_rf", "gc_logistic"]
    assert set(summary["mean_auroc"]) == {"kmer_lr", "kmer_rf", "gc_logistic"}
    assert all(set(row) == {"kmer_lr", "kmer_rf", "gc_logistic"} for row in summary["auroc"].values())
    assert "`kmer_rf`" in summary["text"] and sum(summary["wins"].values()) == len(summary["complete"])


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    methods = _notebook_methods()
    with pytest.raises(ValueError, match="already registered"):
        methods.register(Method("kmer_rf", _gc_logistic))
    with pytest.raises(ValueError, match="unknown method 'svm'"):
        methods.select(["svm"])
    with pytest.raises(ValueError, match="method name"):
        Method("two words", _gc_logistic)
    replaced = methods.register(Method("kmer_rf", _gc_logistic), replace=True)
    assert methods["kmer_rf"] is replaced and methods.names() == ["kmer_lr", "kmer_rf", "gc_logistic"]


def test_a_method_registered_by_name_works_where_chapters_pass_names(data: Path, tmp_path: Path) -> None:
    """The chapters' ``methods`` parameter is a list of names: a registered name works there like a built-in one."""
    method = sklearn_kmer_method("kmer_rf_shared", lambda seed: RandomForestClassifier(10, random_state=seed),
                                 params={"n_estimators": 10}, ks=(1, 2))
    register_method(method)
    try:
        settings = _smoke_settings("03_rbp_binding")
        names = ["kmer_lr", "kmer_rf_shared"]
        records = run_benchmark(data / "rbp31", settings, tmp_path / "rbp31", methods=names, progress=False)
        assert list(auroc_table(records)) == names  # registered order, nothing dropped
        assert settings.fingerprint_fields("kmer_rf_shared") == method.fingerprint_fields(settings)
        assert "kmer_rf_shared" in summarise_benchmark(records, names)["mean_auroc"]
        m6a = run_m6a_benchmark(data / "m6a" / "mst_m6a", _smoke_settings("05_m6a"), tmp_path / "m6a", names=["DemoCellA"],
                                methods=names, protocol=M6aProtocol(window=41, n_folds=2))
        assert list(m6a_auroc_table(m6a, names).drop(columns="n_folds")) == names
    finally:
        METHODS.remove("kmer_rf_shared")
    assert "kmer_rf_shared" not in METHODS
