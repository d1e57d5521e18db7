"""Tests of the resumable k-mer size study on generated demo data (tiny models, a few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import utrbert.chapters.representations as study
from utrbert.data.corpus import utr3_from_mrnas
from utrbert.models.finetuning import FinetuneConfig
from utrbert.chapters.representations import (
    KmerSizeSettings,
    kmer_size_item_path,
    kmer_size_summary,
    kmer_size_table,
    run_kmer_size_study,
)
from utrbert.data.readers import list_rbp31_sets, read_dm3loc
from utrbert.data.registry import dataset_path
from utrbert.data.synthetic import write_demo_data


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("kmer_size")
    data = write_demo_data(root / "data", seed=0, scale="smoke")
    utrs, _ = utr3_from_mrnas(read_dm3loc(dataset_path("dm3loc", data)))
    return {"rbp31": data / "rbp31", "utrs": utrs, "root": root}


def _settings(demo: dict, **changes) -> KmerSizeSettings:
    base = dict(panel=tuple(list_rbp31_sets(demo["rbp31"])[:2]), model_size="tiny", window_nt=120, schedule="smoke",
                pretrain_steps=3, pretrain_batch_size=4, max_heldout_windows=8, max_train=120, max_test=60,
                finetune=FinetuneConfig(epochs=1, batch_size=32, peak_lr=1e-3, evals_per_epoch=1), umap_points=40)
    base.update(changes)
    return KmerSizeSettings(**base)


@pytest.fixture(scope="module")
def finished(demo) -> dict:
    settings = _settings(demo)
    results = demo["root"] / "results"
    records = run_kmer_size_study(demo["utrs"], demo["rbp31"], [3, 4], settings, results, demo["root"] / "artifacts", "test")
    return {"settings": settings, "results": results, "records": records}


def test_every_k_has_probe_finetuned_and_scratch_aurocs_per_panel_set(finished) -> None:
    records = finished["records"]
    assert [r["k"] for r in records] == [3, 4]
    for record in records:
        assert list(record["per_set"]) == list(finished["settings"].panel)
        for entry in record["per_set"].values():
            for value in (entry["probe"]["probe_auroc"], entry["probe_random_init"]["probe_auroc"],
                          entry["pretrained"]["auroc"], entry["scratch"]["auroc"]):
                assert 0.0 <= value <= 1.0
            # the random-start probe reads other vectors than the pretrained one (pretraining changed the weights)
            assert entry["probe_random_init"]["layers"] != entry["probe"]["layers"]
            assert sorted(entry["probe_random_init"]["layers"]) == ["0", "1", "2"]
            # layers 0 (embeddings) .. 2 of the tiny model, each with a probe and a silhouette
            assert sorted(entry["probe"]["layers"]) == ["0", "1", "2"]
        assert record["pretraining"]["steps"] == 3
        assert 0.0 <= record["pretraining"]["baselines"]["nucleotide_context"] <= 1.0


def test_the_umap_keeps_test_ids_and_labels_of_the_first_panel_set(finished) -> None:
    umap = finished["records"][0]["umap"]
    assert umap["set"] == finished["settings"].panel[0]
    assert len(umap["ids"]) == len(umap["labels"]) == len(umap["x"]) == 40
    assert set(umap["labels"]) == {0, 1}
    assert len(set(umap["ids"])) == 40


def test_finished_ks_are_read_back_not_recomputed(finished, demo, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("a finished k was recomputed")

    monkeypatch.setattr(study, "run_kmer_size_item", fail)
    again = run_kmer_size_study(demo["utrs"], demo["rbp31"], [3, 4], finished["settings"], finished["results"],
                                demo["root"] / "artifacts", "test")
    assert again == finished["records"]


def test_a_result_with_other_settings_is_refused(finished, demo) -> None:
    other = _settings(demo, pretrain_steps=4)
    with pytest.raises(ValueError, match="other settings"):
        run_kmer_size_study(demo["utrs"], demo["rbp31"], [3], other, finished["results"], demo["root"] / "artifacts")


def test_a_corrupt_result_names_the_file(demo, tmp_path) -> None:
    settings = _settings(demo)
    path = kmer_size_item_path(tmp_path, 3)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="k3.json: corrupt"):
        run_kmer_size_study(demo["utrs"], demo["rbp31"], [3], settings, tmp_path, tmp_path / "artifacts")


def test_a_wrong_k_is_refused_before_any_work(demo, tmp_path) -> None:
    with pytest.raises(ValueError):
        run_kmer_size_study(demo["utrs"], demo["rbp31"], [3, 9], _settings(demo), tmp_path, tmp_path / "artifacts")
    assert not list(tmp_path.glob("k*.json"))


def test_the_time_budget_stops_between_ks_after_at_least_one(demo, tmp_path) -> None:
    records = run_kmer_size_study(demo["utrs"], demo["rbp31"], [3, 4], _settings(demo), tmp_path, tmp_path / "artifacts",
                                  time_budget_s=0.0)
    assert [r["k"] for r in records] == [3]
    assert json.loads(kmer_size_item_path(tmp_path, 3).read_text())["k"] == 3


def test_settings_refuse_an_empty_or_repeated_panel() -> None:
    with pytest.raises(ValueError, match="at least one"):
        KmerSizeSettings(panel=())
    with pytest.raises(ValueError, match="twice"):
        KmerSizeSettings(panel=("a", "a"))


def test_settings_refuse_an_unknown_position_start() -> None:
    with pytest.raises(ValueError, match="position_init"):
        KmerSizeSettings(panel=("a",), position_init="learned")
    assert KmerSizeSettings(panel=("a",)).fingerprint(3) != KmerSizeSettings(panel=("a",), position_init="sinusoidal").fingerprint(3)


def test_the_position_start_reaches_the_pretrained_model(demo, tmp_path, monkeypatch) -> None:
    import utrbert.models.model as model_module
    from utrbert.models.model import sinusoidal_positions

    built = []
    original = model_module.build_model

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append((kwargs.get("position_init"), model.bert.embeddings.position_embeddings.weight.detach().clone()))
        raise RuntimeError("stop after the build")

    monkeypatch.setattr(model_module, "build_model", spy)
    with pytest.raises(RuntimeError, match="stop after the build"):
        run_kmer_size_study(demo["utrs"], demo["rbp31"], [3], _settings(demo, position_init="sinusoidal"), tmp_path,
                            tmp_path / "artifacts")
    (position_init, weights), = built
    assert position_init == "sinusoidal"
    table = sinusoidal_positions(weights.shape[0], weights.shape[1])
    assert np.allclose(weights.numpy(), np.asarray(table), atol=1e-6)


def test_tables_have_one_row_per_k_and_set_and_means_per_k(finished) -> None:
    table = kmer_size_table(finished["records"])
    assert len(table) == 4
    summary = kmer_size_summary(finished["records"])
    assert list(summary.index) == [3, 4]
    expected = table[table["k"] == 3]["pretrained"].mean()
    assert np.isclose(summary.loc[3, "pretrained"], expected)
    for record in finished["records"]:  # the step column reads each k's own curve and baseline
        curve, level = record["pretraining"]["curve"], record["pretraining"]["baselines"]["nucleotide_context"]
        reached = [e["step"] for e in curve if e["masked_accuracy"] >= level]
        step = summary.loc[record["k"], "step at context baseline"]
        assert (np.isnan(step) and not reached) or step == reached[0]
