"""Motif discovery: the verified defects of the original code (ANCHORS.md §2.4) as regression tests, the
hypergeometric/BH statistics, and validation on generated data with planted motifs of known PWMs."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.multitest import multipletests

from utrbert.motifs.matching import best_matches, tomtom_matches
from utrbert.motifs.discovery import (
    AlignerScores,
    Candidate,
    MergedMotif,
    MotifSettings,
    RegionRule,
    best_alignments,
    candidate_motifs,
    count_sequences_with,
    discover_motifs,
    enrichment_test,
    high_attention_regions,
    make_aligner,
    merge_motifs,
    motif_sites,
)
from utrbert.motifs.pwm import Pwm, information_content, iupac_pwm, pwm_from_sites, trim_pwm
from utrbert.data.records import SequenceRecord
from utrbert.data.synthetic import make_motif_attention_demo, random_utr

PLANTED = ("UGUAHAUA", "UGCAUGU")


def _decoys(n: int, seed: int) -> list[Pwm]:
    rng = np.random.default_rng(seed)
    return [Pwm(f"decoy_{i}", rng.dirichlet(np.full(4, 0.5), size=int(rng.integers(6, 11)))) for i in range(n)]


def _fits(key: str, pattern: str, min_overlap: int = 6) -> bool:
    """Whether ``key`` matches the IUPAC ``pattern`` over at least ``min_overlap`` letters at some offset."""
    from utrbert.motifs.pwm import IUPAC_RNA

    for offset in range(-len(key) + 1, len(pattern)):
        pairs = [(key[i], pattern[i + offset]) for i in range(len(key)) if 0 <= i + offset < len(pattern)]
        if len(pairs) >= min_overlap and all(a in IUPAC_RNA[b] for a, b in pairs):
            return True
    return False


# ----- defect 1: ties are found by comparing scores --------------------------------------------------------


def test_ties_are_found_by_score_not_by_comparing_alignment_objects() -> None:
    score, hits = best_alignments("AUUUA", ["AUUU", "UUUA"], make_aligner())
    assert score == 4.0 and [index for index, _ in hits] == [0, 1]


@pytest.mark.parametrize("ties, expected", [("all", {"AUUU", "UUUA"}), ("best", {"AUUU"})])
def test_a_tied_candidate_joins_every_tied_motif_or_only_the_most_significant(ties: str, expected: set[str]) -> None:
    table = pd.DataFrame({"motif": ["AUUU", "UUUA", "AUUUA"], "p": [1e-6, 1e-5, 1e-4], "p_adjusted": [1e-5, 1e-4, 1e-3],
                          "n_pos_with": 5, "n_neg_with": 0})
    candidates = {m: Candidate(m, ((0, 10),)) for m in table["motif"]}
    # min_len 5 -> threshold max(4, 2) = 4: AUUU and UUUA (overlap 3) stay apart, AUUUA reaches 4 with both
    merged = merge_motifs(table, candidates, min_len=5, ties=ties)
    assert [m.key for m in merged] == ["AUUU", "UUUA"]
    assert {m.key for m in merged if "AUUUA" in m.members} == expected
    joined = {m.key: m for m in merged}
    assert joined["AUUU"].members["AUUUA"] == 0
    if ties == "all":  # AUUUA starts one position left of UUUA's frame
        assert joined["UUUA"].members["AUUUA"] == -1 and (0, 11) in joined["UUUA"].instances


# ----- defect 2: every aligner score explicit -------------------------------------------------------------


def test_aligner_uses_only_the_given_scores() -> None:
    aligner = make_aligner(AlignerScores(match=2.0, mismatch=-3.0, internal_gap=-50.0, end_gap=-0.5))
    assert aligner.match_score == 2.0 and aligner.mismatch_score == -3.0
    for side in ("left", "right"):
        for kind in ("insertion", "deletion"):
            assert getattr(aligner, f"open_{side}_{kind}_score") == -0.5
            assert getattr(aligner, f"extend_{side}_{kind}_score") == -0.5
    for kind in ("insertion", "deletion"):
        assert getattr(aligner, f"open_internal_{kind}_score") == -50.0
    # default scores: free overhangs, so AUUUA against AUUU is 4 matches (Biopython 1.88's defaults give 3.0)
    assert best_alignments("AUUUA", ["AUUU"], make_aligner())[0] == 4.0
    assert best_alignments("AUUUA", ["AUUU"], make_aligner(AlignerScores(end_gap=-1.0)))[0] == 3.0


# ----- defect 3: offsets for every geometry ---------------------------------------------------------------


@pytest.mark.parametrize(
    "query, key",
    [("GGUGUAC", "UGUACAU"),  # query hangs over the key's left end
     ("ACAUAAA", "UGUACAU"),  # right end
     ("GUAC", "UGUACAU"),  # inside
     ("CUGUACAUG", "UGUACAU"),  # around
     ("UGUACAU", "UGUACAU")],  # identical
)
def test_offsets_place_the_query_on_the_key_for_every_geometry(query: str, key: str) -> None:
    _, hits = best_alignments(query, [key], make_aligner())
    (_, offset), = hits
    overlap = [(i, i + offset) for i in range(len(query)) if 0 <= i + offset < len(key)]
    assert overlap and all(query[i] == key[j] for i, j in overlap)


def _every_key_aligned(query: str, keys: list[str], aligner) -> tuple[float, list[tuple[int, int]]]:
    """The reference: the first optimal alignment of the query with every key, kept when it reaches the best score."""
    best, hits = -np.inf, []
    for index, key in enumerate(keys):
        alignment = next(iter(aligner.align(query, key)))
        if len(alignment.aligned[0]) == 0:
            continue
        offset = int(alignment.aligned[1][0][0]) - int(alignment.aligned[0][0][0])
        if alignment.score > best:
            best, hits = float(alignment.score), [(index, offset)]
        elif alignment.score == best:
            hits.append((index, offset))
    return float(best), hits


@pytest.mark.parametrize("scores", [AlignerScores(), AlignerScores(end_gap=-1.0), AlignerScores(mismatch=-3.0)])
def test_best_alignments_score_every_key_but_align_only_the_best_ones(scores: AlignerScores) -> None:
    rng = np.random.default_rng(7)
    aligner = make_aligner(scores)
    for _ in range(300):
        keys = ["".join(rng.choice(list("ACGU"), rng.integers(4, 9))) for _ in range(rng.integers(0, 12))]
        keys += keys[:2]  # repeated keys tie exactly
        query = "".join(rng.choice(list("AC" if rng.random() < 0.3 else "ACGU"), rng.integers(3, 9)))
        assert best_alignments(query, keys, aligner) == _every_key_aligned(query, keys, aligner)


def test_merged_instances_are_placed_in_the_key_frame_and_deduplicated() -> None:
    seq = "AAAAUGUACAUAAAA"
    table = pd.DataFrame({"motif": ["UGUACAU", "GUACAUA"], "p": [1e-9, 1e-8], "p_adjusted": [1e-8, 1e-7],
                          "n_pos_with": 3, "n_neg_with": 0})
    # both 7-mers come from the same site (starts 4 and 5): one instance in UGUACAU's frame
    candidates = {"UGUACAU": Candidate("UGUACAU", ((0, 4),)), "GUACAUA": Candidate("GUACAUA", ((0, 5),))}
    merged = merge_motifs(table, candidates, min_len=5)
    assert len(merged) == 1 and merged[0].members == {"UGUACAU": 0, "GUACAUA": 1}
    assert merged[0].instances == {(0, 4)}
    sites, where, skipped = motif_sites(merged[0], [seq], window=7)
    assert sites == ["UGUACAU"] and where == [(0, 4)] and skipped == 0


# ----- defect 4: windows that end at the sequence end are kept -------------------------------------------


def test_windows_ending_exactly_at_the_sequence_end_are_kept_and_outside_ones_skipped() -> None:
    motif = MergedMotif("GUA", 0.0, 0.0, 1, 0, {"GUA": 0}, {(0, 0), (0, 7), (0, 8), (0, -1)})
    sites, where, skipped = motif_sites(motif, ["CCCCCCCGUA"], window=3)
    # [7, 10) ends at len(sequence) == 10 and is kept (the original kept only end < len); [0, 3) starts at 0
    assert sites == ["CCC", "GUA"] and where == [(0, 0), (0, 7)]
    assert skipped == 2  # [8, 11) and [-1, 2) fall outside


# ----- defect 5: PWMs over ACGU ---------------------------------------------------------------------------


def test_pwms_count_u_and_read_t_as_u() -> None:
    pwm = pwm_from_sites(["UUGU", "TTGT", "UAGU"], "x", pseudocount=0.0)
    assert pwm.consensus == "UUGU"
    assert pwm.matrix[:, 3].tolist() == [1.0, 2 / 3, 0.0, 1.0]
    with pytest.raises(ValueError, match="site 2"):
        pwm_from_sites(["ACGU", "ACXU"], "x")
    with pytest.raises(ValueError, match="length"):
        pwm_from_sites(["ACGU", "ACG"], "x")


# ----- defect 6: logos drawn locally ----------------------------------------------------------------------


def test_logo_is_drawn_without_the_network(monkeypatch) -> None:
    import matplotlib.pyplot as plt

    from utrbert.book.plotting import plot_logo

    def refuse(*args, **kwargs):
        raise AssertionError("the logo tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fig, ax = plt.subplots()
    plot_logo(iupac_pwm("UGUAHAUA", name="PUM"), ax=ax)
    heights = [patch.get_window_extent().height for patch in ax.patches]
    assert len(ax.patches) >= 8 and max(heights) > 0 and ax.get_title() == "PUM"
    plt.close(fig)


# ----- defect 7: no debug output --------------------------------------------------------------------------


def test_discovery_prints_nothing(capsys) -> None:
    pos, neg, scores = make_motif_attention_demo(60, 60, seed=3)
    discover_motifs(pos, neg, scores)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# ----- defect 8: thresholds are scale-free and explicit ---------------------------------------------------


@pytest.mark.parametrize("rule", [RegionRule(min_len=3), RegionRule(rule="quantile", quantile=0.7, min_len=3)])
def test_high_attention_regions_do_not_depend_on_the_scale_of_the_scores(rule: RegionRule) -> None:
    rng = np.random.default_rng(0)
    scores = rng.exponential(1.0, 101)
    scores[40:48] = 8.0
    reference = high_attention_regions(scores, rule)
    assert any(start <= 40 and end >= 48 for start, end in reference)
    for scale in (1e-6, 1e6):  # an L2-normalised or a summed-over-layers score gives the same regions
        assert np.array_equal(high_attention_regions(scores * scale, rule), reference)
    assert MotifSettings(regions=rule).as_dict()["regions"]["min_len"] == 3


def test_nan_padding_is_never_high_attention() -> None:
    scores = np.array([1, 1, 9, 9, 9, np.nan, np.nan, np.nan])
    assert high_attention_regions(scores, RegionRule(min_len=2)).tolist() == [[2, 5]]


# ----- statistics ------------------------------------------------------------------------------------------


def test_occurrences_are_counted_once_per_sequence() -> None:
    assert count_sequences_with(["AUA", "UAU"], ["AUAUAUA", "GGG", "AUA"]) == {"AUA": 2, "UAU": 1}


def test_hypergeometric_p_equals_one_sided_fisher_and_bh_matches_statsmodels() -> None:
    rng = np.random.default_rng(1)
    positives = [random_utr(60, rng) for _ in range(80)]
    negatives = [random_utr(60, rng) for _ in range(120)]
    motifs = sorted({s[i:i + 4] for s in positives[:10] for i in range(0, 50, 7)})
    table = enrichment_test(motifs, positives, negatives).set_index("motif")
    for motif in motifs[:15]:
        x, y = table.loc[motif, "n_pos_with"], table.loc[motif, "n_neg_with"]
        expected = fisher_exact([[x, 80 - x], [y, 120 - y]], alternative="greater").pvalue
        assert table.loc[motif, "p"] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    bh = multipletests(table["p"].to_numpy(), method="fdr_bh")[1]
    assert np.allclose(table["p_adjusted"].to_numpy(), bh)


def test_candidates_come_from_high_attention_regions_only() -> None:
    sequence = "CCCCCCCCCCUGUACAUACCCCCCCCCC"
    scores = np.ones(len(sequence))
    scores[10:18] = 10.0
    cands = candidate_motifs([sequence], [scores], RegionRule(min_len=5), lengths=(7,))
    assert set(cands) == {"UGUACAU", "GUACAUA"}
    assert cands["UGUACAU"].occurrences == ((0, 10),)
    whole = candidate_motifs([sequence], [scores], RegionRule(min_len=5), lengths=None)
    assert set(whole) == {"UGUACAUA"}
    with pytest.raises(ValueError, match="positive 0"):
        candidate_motifs([sequence], [scores[:-1]])


def test_bad_inputs_name_the_record() -> None:
    pos = [SequenceRecord("p1", "ACGUACGUAC", 1)]
    neg = [SequenceRecord("n1", "ACGUACGUAC", 0)]
    with pytest.raises(KeyError, match="p1"):
        discover_motifs(pos, neg, {})
    with pytest.raises(ValueError, match="p1"):
        discover_motifs(pos, neg, {"p1": np.ones(9)})
    with pytest.raises(ValueError, match="repeated"):
        discover_motifs(pos, [SequenceRecord("p1", "ACGU", 0)], {"p1": np.ones(10)})


# ----- PWM helpers ------------------------------------------------------------------------------------------


def test_information_content_and_trimming() -> None:
    pwm = iupac_pwm("NNUGUAHAUANN")
    ic = information_content(pwm)
    assert ic[0] == pytest.approx(0.0) and ic[2] == pytest.approx(2.0)
    trimmed = trim_pwm(pwm, min_ic=0.3)
    assert trimmed.consensus == "UGUAAAUA" and trimmed.meta["trimmed_left"] == 2
    assert trim_pwm(iupac_pwm("NNNNNN"), min_width=4).width == 4


# ----- validation on planted motifs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted():
    pos, neg, scores = make_motif_attention_demo(300, 300, motifs=PLANTED, seed=7)
    return pos, neg, scores, discover_motifs(pos, neg, scores, MotifSettings(ties="best"))


def test_planted_motifs_are_discovered_with_their_sites(planted) -> None:
    pos, _, _, found = planted
    assert found.counts["n_motifs"] >= 2
    top = found.table.sort_values("p").head(4)
    assert (top["p_adjusted"] < 0.005).all()
    for pattern in PLANTED:
        assert any(_fits(key, pattern) for key in top["key"]), (pattern, top["key"].tolist())
    # every site of the best motif comes from a positive that carries the planted motif there
    best = found.table.iloc[0]["motif"]
    by_id = {r.id: r for r in pos}
    for record_id, start in found.sites[best][:50]:
        planted_at = by_id[record_id].meta["motif_positions"][0]
        assert abs(start - planted_at) <= found.settings["window"]


def test_tomtom_matches_each_planted_motif_to_its_own_pwm(planted) -> None:
    _, _, _, found = planted
    truth = [iupac_pwm(p, name=f"planted_{p}") for p in PLANTED]
    database = truth + _decoys(60, seed=0)
    best = best_matches(tomtom_matches(found.pwms, database)).set_index("query")
    for pattern in PLANTED:
        hits = best[best["target"] == f"planted_{pattern}"]
        assert len(hits) >= 1 and hits["q"].min() < 0.01, (pattern, best[["target", "q"]])


def test_motif_free_data_gives_discoveries_at_no_more_than_the_nominal_rate() -> None:
    """Positives and negatives from one distribution and random scores: BH at 0.05 over all candidates
    controls the false discovery rate, so a run with any discovery should be rare (FDR = FWER under the null)."""
    runs_with_discoveries = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        pos = [SequenceRecord(f"p{i}", random_utr(101, rng), 1) for i in range(150)]
        neg = [SequenceRecord(f"n{i}", random_utr(101, rng), 0) for i in range(150)]
        scores = {r.id: rng.exponential(1.0, 101) for r in pos}
        found = discover_motifs(pos, neg, scores, MotifSettings(p_adjusted=0.05, min_instances=1))
        runs_with_discoveries += found.counts["n_significant"] > 0
    # nominal 5% of 20 runs is 1; P(>= 4 | rate 0.05) < 2%
    assert runs_with_discoveries <= 3
