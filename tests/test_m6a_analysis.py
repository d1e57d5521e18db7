"""m6A analyses: DRACH sites, attention at the candidate adenosine, DRACH in high-attention regions, 3'UTR scans."""

from __future__ import annotations

import re

import numpy as np
import pytest

from utrbert.interpret.attention import cls_attention
from utrbert.data.corpus import find_longest_orf
from utrbert.interpret.m6a_sites import (
    drach_in_regions,
    drach_sites,
    mann_whitney,
    metagene,
    peak_windows,
    site_attention,
    utr3_drach_windows,
)
from utrbert.models.model import build_config, build_model
from utrbert.motifs.discovery import RegionRule
from utrbert.data.records import SequenceRecord
from utrbert.data.synthetic import make_m6a_windows, make_mrna, random_utr
from utrbert.tokens.tokenization import KmerTokenizer


def test_drach_sites_match_a_brute_force_scan_with_overlaps() -> None:
    rng = np.random.default_rng(0)
    allowed = [set("AGU"), set("AG"), {"A"}, {"C"}, set("ACU")]
    for _ in range(50):
        sequence = random_utr(200, rng)
        expected = [i + 2 for i in range(len(sequence) - 4) if all(sequence[i + j] in allowed[j] for j in range(5))]
        assert drach_sites(sequence).tolist() == expected
    assert drach_sites("ggact").tolist() == [2]  # DNA, lower case
    assert drach_sites("GGACAGACU").tolist() == [2, 6]  # GGACA and AGACU share a nucleotide


@pytest.fixture(scope="module")
def classifier():
    model = build_model(build_config("tiny", k=3, initializer_range=0.3), task="classification", seed=0)
    return model, KmerTokenizer(k=3)


def test_site_attention_reads_the_centre_of_the_nucleotide_scores(classifier) -> None:
    model, tokenizer = classifier
    records = make_m6a_windows(40, seed=1, length=41)
    table, scores = site_attention(model, tokenizer, records, centre=20, flank=5)
    reference = cls_attention(model, tokenizer.encode_corpus([r.sequence for r in records], ids=[r.id for r in records]),
                              progress=False).nucleotide_score_map()
    for row in table.itertuples():
        np.testing.assert_allclose(row.site, reference[row.id][20], rtol=1e-6)
        np.testing.assert_allclose(row.window, reference[row.id][15:26].mean(), rtol=1e-6)
        assert row.site_relative == pytest.approx(row.site / row.window)
    assert table["label"].tolist() == [r.label for r in records] and set(scores) == {r.id for r in records}
    with pytest.raises(ValueError, match="too short"):
        site_attention(model, tokenizer, [SequenceRecord("tiny_1", "ACGUACGU", 1)], centre=20)


def test_mann_whitney_direction_and_empty_groups() -> None:
    rng = np.random.default_rng(2)
    higher = mann_whitney(rng.normal(1, 1, 300), rng.normal(0, 1, 300))
    assert higher["auc"] > 0.7 and higher["p"] < 1e-10 and higher["n_pos"] == 300
    same = mann_whitney(rng.normal(0, 1, 300), rng.normal(0, 1, 300))
    assert 0.4 < same["auc"] < 0.6 and same["p"] > 0.001
    with pytest.raises(ValueError, match="both groups"):
        mann_whitney(np.array([np.nan]), np.array([1.0]))


def test_drach_in_regions_finds_attention_on_drach_and_a_random_control_does_not() -> None:
    rng = np.random.default_rng(3)
    records, scores = [], {}
    for i in range(200):
        sequence = random_utr(60, rng)
        sequence = sequence[:30] + "GGACU" + sequence[35:]
        values = rng.random(60) * 0.1
        values[29:36] += 1.0  # high attention over the planted DRACH (and one nt either side)
        records.append(SequenceRecord(f"s{i}", sequence, 1))
        scores[f"s{i}"] = values
    summary, table = drach_in_regions(records, scores, RegionRule(rule="mean", factor=2.0, min_len=5), seed=0)
    assert summary["n_regions"] == 200 and summary["fraction_with_drach"] == 1.0
    assert summary["control_fraction_with_drach"] < 0.8
    assert (table["end"] - table["start"]).eq(7).all()
    again, _ = drach_in_regions(records, scores, RegionRule(rule="mean", factor=2.0, min_len=5), seed=0)
    assert again == summary  # seeded control
    with pytest.raises(KeyError, match="s0"):
        drach_in_regions(records[:1], {}, seed=0)
    with pytest.raises(ValueError, match="scores for"):
        drach_in_regions(records[:1], {"s0": np.ones(3)}, seed=0)


def test_peak_windows_are_centred_on_the_highest_scores() -> None:
    records = [SequenceRecord("a", "AAAAAGGACUAAAAA", 1), SequenceRecord("b", "CCCCCCCCCCCCUUG", 1)]
    scores = {"a": np.eye(15)[7] * 3, "b": np.eye(15)[14]}
    assert peak_windows(records, scores, width=5) == ["GGACU", "CCUUG"]  # b's peak at the end: shifted inside
    assert peak_windows(records, scores, width=5, top=1) == ["GGACU"]
    with pytest.raises(ValueError, match="odd"):
        peak_windows(records, scores, width=4)


def test_utr3_drach_windows_are_centred_on_3utr_drach_adenosines() -> None:
    rng = np.random.default_rng(4)
    mrnas = []
    for i in range(20):
        sequence, _, _ = make_mrna(int(rng.integers(600, 1500)), rng)
        mrnas.append(SequenceRecord(f"NM_{i}", sequence, None))
    mrnas.append(SequenceRecord("NM_noncoding", "A" * 300, None))
    windows, counts = utr3_drach_windows(mrnas, window=21)
    assert counts["no_cds"] == 1 and counts["sites"] == len(windows) + counts["too_close_to_an_end"] > 0
    by_id = {m.id: m.sequence for m in mrnas}
    for window in windows:
        mrna, site = window.meta["mrna"], window.meta["site"]
        call = find_longest_orf(by_id[mrna], min_codons=50)
        assert window.sequence == by_id[mrna][site - 10: site + 11] and window.sequence[10] == "A"
        assert site >= call.stop_end and 0 <= window.meta["utr3_relative"] < 1
        assert re.fullmatch("[AGU][AG]AC[ACU]", by_id[mrna][site - 2: site + 3])
    with pytest.raises(ValueError, match="odd"):
        utr3_drach_windows(mrnas, window=20)


def test_metagene_bins_match_a_direct_mean() -> None:
    rng = np.random.default_rng(5)
    position, value = rng.random(1000), rng.random(1000)
    table = metagene(position, value, bins=10)
    inside = (position >= 0.3) & (position < 0.4)
    assert table.loc[3, "n"] == inside.sum() and table.loc[3, "mean"] == pytest.approx(value[inside].mean())
    assert table["n"].sum() == 1000
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        metagene(np.array([1.5]), np.array([1.0]))
