"""The scorecard (utrbert.chapters.scorecard): verdicts follow the numbers in the results files."""

from __future__ import annotations

import copy
from html import escape
import json
from pathlib import Path
from typing import Any

import pytest

from utrbert.chapters.scorecard import (
    CLAIMS,
    VERDICTS,
    checkpoint_table,
    read_results,
    results_provenance,
    scorecard,
    scorecard_for_readers,
)

SETS = [f"{i}_SET" for i in range(1, 9)]


def _results(pretrained_edge: float = 0.05) -> dict[str, dict[str, Any]]:
    """Results of every chapter in the shape the chapters write, with pretrained ahead by ``pretrained_edge``."""
    per_set = {s: {"pretrained": 0.80 + pretrained_edge + 0.001 * i, "scratch": 0.80 + 0.002 * i,
                   "kmer_lr": 0.79, "cnn": 0.75} for i, s in enumerate(SETS)}
    means = {m: sum(row[m] for row in per_set.values()) / len(per_set) for m in ("pretrained", "scratch", "kmer_lr", "cnn")}
    md5 = {"weights_md5": "aaa"}
    return {
        "rbp": {"per_set": per_set, "mean_auroc": means, "metrics": {"pretrained": {"f1": 0.5, "mcc": 0.4, "acc": 0.8}},
                "settings": {"pretrained": {"pretrained": md5}}},
        "m6a": {"mean_auroc": {"pretrained": 0.75, "scratch": 0.74, "kmer_lr": 0.70, "cnn": 0.71},
                "auroc": {"A": {"pretrained": 0.75, "kmer_lr": 0.70, "cnn": 0.71}, "B": {"pretrained": 0.75, "kmer_lr": 0.7, "cnn": 0.71}},
                "site_attention": {"A": {"site": {"auc": 0.56, "p": 1e-4, "median_pos": 0.7, "median_neg": 0.6}}},
                "drach": {"A": {"fraction_with_drach": 0.9, "control_fraction_with_drach": 0.07}},
                "stop_codon": {"A": {"pearson_r": -0.6, "p": 0.01}},
                "checkpoint": md5},
        "localization": {"n_mrnas": 300, "n_mrnas_total": 17306, "embedding": md5,
                         "cross_fold": {m: {"macro": {"auroc": a, "auprc": a - 0.2}} for m, a in
                                        [("embedding_head", 0.70), ("attention_head", 0.68), ("cnn", 0.60),
                                         ("kmer_lr", 0.66), ("length", 0.55)]}},
        "motifs": {"per_set": {s: {"n_matched": 20, "n_motifs": 40} for s in SETS}, "n_own_recovered": 3,
                   "n_own_possible": 6, "settings": {"match_q": 0.01}, "checkpoint": md5},
        "representations": {"per_k_mean": {"3": {"pretrained": 0.9, "scratch": 0.88}, "4": {"pretrained": 0.91, "scratch": 0.89}},
                            "encodings": {"3UTRBERT [CLS], frozen": {"probe_auroc": 0.9}, "3UTRBERT mean k-mer, frozen": {"probe_auroc": 0.7},
                                          "one-hot": {"probe_auroc": 0.8},
                                          "k-mer frequencies (k=1..6)": {"probe_auroc": 0.85}},
                            "classifier": {"set": "23_PUM2"}, "settings": {"classifier": {"pretrained": md5}}},
    }


def test_every_claim_gets_a_verdict_and_a_reason_from_complete_results() -> None:
    card = scorecard(_results())
    assert list(card.index) == [c.key for c in CLAIMS]
    assert set(card["verdict"]) <= set(VERDICTS)
    assert "not run" not in set(card["verdict"])
    assert card["why"].str.len().gt(0).all()
    assert card.loc["rbp_vs_methods", "verdict"] == "reproduced"
    assert card.loc["motifs_attract", "verdict"] == "reproduced"  # 160 matched >= the paper's 133
    assert card.loc["localization_features", "verdict"] == "reproduced"  # 0.70 and 0.68 above k-mer LR 0.66 and the CNN
    assert card.loc["k_comparison", "verdict"] == "not comparable"


def test_verdicts_turn_when_the_numbers_turn() -> None:
    behind = _results(pretrained_edge=-0.02)  # pretrained below k-mer LR and scratch on every set
    card = scorecard(behind)
    assert card.loc["rbp_vs_methods", "verdict"] == "not reproduced"
    assert card.loc["rbp_pretraining", "verdict"] == "not reproduced"

    results = _results()
    results["m6a"]["stop_codon"]["A"] = {"pearson_r": -0.6, "p": 0.2}  # right sign, not significant
    results["m6a"]["site_attention"]["A"]["site"]["median_pos"] = 0.5
    results["motifs"]["per_set"] = {s: {"n_matched": 1, "n_motifs": 40} for s in SETS}
    results["localization"]["cross_fold"]["kmer_lr"]["macro"] = {"auroc": 0.75, "auprc": 0.60}
    card = scorecard(results)
    for key in ("m6a_stop_codon", "m6a_site_attention", "motifs_attract", "localization_vs_methods"):
        assert card.loc[key, "verdict"] == "not reproduced", key
    # the k-mer regression reads the sequence alone too: now above both feature heads
    assert card.loc["localization_features", "verdict"] == "not reproduced"
    assert "kmer_lr" in card.loc["localization_features", "strongest baseline"]


def test_missing_chapters_and_missing_fields_are_not_run_with_the_file_named() -> None:
    results = _results()
    del results["m6a"]
    del results["localization"]["cross_fold"]
    card = scorecard(results)
    assert card.loc["m6a_stop_codon", "verdict"] == "not run"
    assert "results/m6a.json" in card.loc["m6a_stop_codon", "why"]
    assert card.loc["localization_vs_methods", "verdict"] == "not run"
    assert "results/localization.json lacks" in card.loc["localization_vs_methods", "why"]


def test_checkpoint_table_flags_results_of_another_checkpoint_and_the_claims_resting_on_them() -> None:
    results = _results()
    results["localization"]["embedding"] = {"weights_md5": "old"}
    del results["motifs"]["checkpoint"]
    table = checkpoint_table(results, "aaa").set_index("results")
    assert table["same"].to_dict() == {"results/rbp.json": True, "results/motifs.json": None, "results/m6a.json": True,
                                       "results/localization.json": False, "results/representations.json": True}
    on_reference = {k.removeprefix("results/").removesuffix(".json"): v for k, v in table["same"].items()}
    card = scorecard(results, on_reference=on_reference)
    assert "an earlier checkpoint" in card.loc["localization_vs_methods", "why"]
    assert "an earlier checkpoint" not in card.loc["rbp_vs_methods", "why"]


def test_read_results_names_a_corrupt_file_and_skips_absent_ones(tmp_path: Path) -> None:
    (tmp_path / "rbp.json").write_text(json.dumps({"values": {"x": 1}, "context": {"profile": "smoke", "synthetic_data": True}}))
    assert read_results(tmp_path) == {"rbp": {"x": 1}}
    made_by = results_provenance(tmp_path)
    assert made_by["synthetic"].tolist() == [True]
    (tmp_path / "m6a.json").write_text("{not json")
    with pytest.raises(ValueError, match="m6a.json: not valid JSON"):
        read_results(tmp_path)
    (tmp_path / "m6a.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="m6a.json: expected a chapter results file"):
        read_results(tmp_path)


def test_the_readers_table_has_one_row_per_claim_in_full() -> None:
    card = scorecard(copy.deepcopy(_results()))
    styled = scorecard_for_readers(card)
    shown = styled.data
    assert len(shown) == len(CLAIMS) and shown.index.name == "claim"
    assert shown.index[0] == f"{card['section'].iloc[0]}: {card['claim'].iloc[0]}"
    assert list(shown.columns) == ["paper", "this book", "strongest baseline", "verdict", "why"]
    html = styled.to_html()
    assert all(escape(text, quote=False) in html.replace("&#39;", "'") for text in card["why"])  # every cell in full
