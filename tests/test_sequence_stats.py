"""Descriptive statistics: counts agree with direct computation on generated sequences."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from utrbert.data.records import SequenceRecord
from utrbert.data.sequence_stats import (
    ambiguous_by_label,
    binary_summary,
    kmer_counts,
    kmer_enrichment,
    multilabel_summary,
    nucleotide_composition,
)


def _random(n: int, length: int, rng: np.random.Generator, alphabet: str = "ACGU") -> list[str]:
    return ["".join(rng.choice(list(alphabet), size=length)) for _ in range(n)]


@pytest.mark.parametrize("k", [3, 6])
def test_kmer_counts_equal_a_direct_count(k: int) -> None:
    rng = np.random.default_rng(k)
    sequences = _random(30, 57, rng, alphabet="ACGUN")
    direct = Counter(s[i : i + k] for s in sequences for i in range(len(s) - k + 1))
    counts = kmer_counts(sequences, k)
    unknown = sum(n for kmer, n in direct.items() if "N" in kmer)
    assert counts["[UNK]"] == unknown
    for kmer, n in direct.items():
        if "N" not in kmer:
            assert counts[kmer] == n
    assert counts.sum() == sum(direct.values())


def test_planted_motif_is_the_most_enriched_kmer() -> None:
    rng = np.random.default_rng(0)
    background = _random(200, 60, rng)
    positives = [s[:20] + "UGUAAAUA" + s[28:] for s in _random(200, 60, rng)]
    table = kmer_enrichment(positives, background, k=6)
    assert table.index[0] in {"UGUAAA", "GUAAAU", "UAAAUA"}
    assert table["log2_ratio"].is_monotonic_decreasing


def test_summaries_count_labels_lengths_and_ambiguity() -> None:
    records = [
        SequenceRecord("a", "ACGUN", 0),
        SequenceRecord("b", "ACGU", 0),
        SequenceRecord("c", "ACGUACGU", 1),
    ]
    summary = binary_summary(records)
    assert (summary["sequences"], summary["positives"], summary["length_max"]) == (3, 1, 8)
    ambiguous = ambiguous_by_label(records)
    assert ambiguous.loc[0, "with_ambiguity_code"] == 1 and ambiguous.loc[1, "with_ambiguity_code"] == 0
    composition = nucleotide_composition([r.sequence for r in records])
    assert composition.sum() == pytest.approx(1.0)
    assert composition["other"] == pytest.approx(1 / 17)
    with pytest.raises(ValueError, match="binary label"):
        binary_summary([SequenceRecord("m", "ACGU", (0, 1))])


def test_multilabel_summary_counts_each_label() -> None:
    records = [SequenceRecord("a", "ACGU", (1, 0, 1)), SequenceRecord("b", "ACGU", (1, 1, 0))]
    table = multilabel_summary(records, ["Nucleus", "Cytosol", "ER"])
    assert table["positives"].tolist() == [2, 1, 1]
    with pytest.raises(ValueError, match="2-bit"):
        multilabel_summary(records, ["Nucleus", "ER"])
