"""k-mer helpers: normalization, round trips, format detection, windows, vectorized ids."""

from __future__ import annotations

import numpy as np
import pytest

from utrbert.tokens.kmers import (
    SequenceError,
    kmer_ids,
    kmer_vocab,
    kmers_to_seq,
    normalize_sequence,
    parse_sequence,
    seq_to_kmers,
    sequence_codes,
    sliding_windows,
)


@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_kmers_round_trip_and_vectorized_ids_match_vocabulary_lookup(k: int) -> None:
    rng = np.random.default_rng(k)
    seq = "".join(rng.choice(list("ACGUN"), size=200, p=[0.24, 0.24, 0.24, 0.24, 0.04]))
    kmers = seq_to_kmers(seq, k)
    assert kmers_to_seq(kmers) == seq
    vocab = {token: i for i, token in enumerate(kmer_vocab(k))}
    expected = [vocab.get(kmer, 1) for kmer in kmers]
    assert kmer_ids(sequence_codes(seq), k).tolist() == expected


def test_normalization_accepts_case_t_and_whitespace_but_names_bad_records() -> None:
    assert normalize_sequence(" ac\ngT\tt ") == "ACGUU"
    with pytest.raises(SequenceError, match=r"record 'utr7'.*'Z' at position 2"):
        normalize_sequence("ACZ", record_id="utr7")
    with pytest.raises(SequenceError, match="empty"):
        normalize_sequence(" \n ", record_id="blank")


def test_kmer_format_detection_does_not_mistake_wrapped_raw_sequences() -> None:
    assert parse_sequence("ACGUAC\nGUACGU", k=3) == "ACGUACGUACGU"  # equal-length lines that do not overlap
    assert parse_sequence("ACG CGU", k=3) == "ACGU"
    assert parse_sequence("ACG CGU", k=3, input_format="raw") == "ACGCGU"
    with pytest.raises(SequenceError, match="do not overlap"):
        parse_sequence("ACG GGG", k=3, input_format="kmers")


@pytest.mark.parametrize("length,window,stride", [(1, 510, None), (1020, 510, None), (1021, 510, 100), (999, 7, 3)])
@pytest.mark.parametrize("last", ["pad", "shift"])
def test_windows_cover_every_position_within_bounds(length: int, window: int, stride: int | None, last: str) -> None:
    windows = sliding_windows(length, window, stride, last=last)
    covered = np.zeros(length, dtype=bool)
    for i, w in enumerate(windows):
        assert w.index == i
        assert 0 <= w.start < w.end <= length
        assert w.length <= window
        covered[w.start : w.end] = True
    assert covered.all()
    assert windows[-1].end == length
    if last == "shift" and length >= window:
        assert all(w.length == window for w in windows)


def test_window_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        sliding_windows(100, 10, stride=11)
    with pytest.raises(ValueError):
        sliding_windows(0, 10)
