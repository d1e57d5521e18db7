"""Descriptive statistics of labelled sequence sets: sizes, labels, lengths, composition, k-mers.

All functions take :class:`~utrbert.data.records.SequenceRecord` lists (or plain sequences) and return
pandas objects keyed by names, never by row order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from utrbert.tokens.kmers import IUPAC_BASES
from utrbert.data.records import SequenceRecord
from utrbert.tokens.tokenization import KmerTokenizer

__all__ = [
    "binary_summary",
    "multilabel_summary",
    "nucleotide_composition",
    "kmer_counts",
    "kmer_enrichment",
    "ambiguous_by_label",
    "positional_frequencies",
    "motif_match_fraction",
]

_LETTERS = ("A", "C", "G", "U")
_DROP_ACGU = str.maketrans("", "", "ACGU")


def nucleotide_composition(sequences: Sequence[str]) -> pd.Series:
    """Fraction of A, C, G, U and of ambiguity codes (``other``) over all nucleotides.

    >>> nucleotide_composition(["AACG", "UUNA"]).round(3).to_dict()
    {'A': 0.375, 'C': 0.125, 'G': 0.125, 'U': 0.25, 'other': 0.125}
    """
    if not sequences:
        raise ValueError("no sequences")
    counts = np.bincount(np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8), minlength=256)
    total = counts.sum()
    values = {letter: counts[ord(letter)] / total for letter in _LETTERS}
    values["other"] = 1.0 - sum(values.values())
    return pd.Series(values, name="fraction")


def _label_groups(records: Sequence[SequenceRecord]) -> dict[int, list[SequenceRecord]]:
    groups: dict[int, list[SequenceRecord]] = {}
    for record in records:
        if not isinstance(record.label, int):
            raise ValueError(f"record {record.id!r}: expected a binary label, got {record.label!r}")
        groups.setdefault(record.label, []).append(record)
    return groups


def binary_summary(records: Sequence[SequenceRecord]) -> dict[str, float]:
    """Size, positives, positive fraction and length range of a binary-labelled set.

    >>> from utrbert.data.records import SequenceRecord
    >>> binary_summary([SequenceRecord("a", "ACGU", 1), SequenceRecord("b", "ACG", 0)])["positive_fraction"]
    0.5
    """
    if not records:
        raise ValueError("no records")
    groups = _label_groups(records)
    unexpected = set(groups) - {0, 1}
    if unexpected:
        raise ValueError(f"labels other than 0/1: {sorted(unexpected)}")
    lengths = np.array([r.length for r in records])
    positives = len(groups.get(1, []))
    return {
        "sequences": len(records),
        "positives": positives,
        "negatives": len(records) - positives,
        "positive_fraction": positives / len(records),
        "length_min": int(lengths.min()),
        "length_median": float(np.median(lengths)),
        "length_max": int(lengths.max()),
    }


def multilabel_summary(records: Sequence[SequenceRecord], names: Sequence[str]) -> pd.DataFrame:
    """Positives and positive fraction per label of a multi-label set (rows named by ``names``)."""
    if not records:
        raise ValueError("no records")
    matrix = np.array([r.label for r in records])
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"labels are not {len(names)}-bit vectors for every record")
    return pd.DataFrame(
        {"positives": matrix.sum(axis=0), "positive_fraction": matrix.mean(axis=0)}, index=pd.Index(names, name="label")
    )


def ambiguous_by_label(records: Sequence[SequenceRecord]) -> pd.DataFrame:
    """Per label: how many sequences contain an ambiguity code (N ...), a possible shortcut for a classifier."""
    rows = {}
    for label, group in sorted(_label_groups(records).items()):
        ambiguous = sum(1 for r in group if r.sequence.translate(_DROP_ACGU))
        rows[label] = {"sequences": len(group), "with_ambiguity_code": ambiguous, "fraction": ambiguous / len(group)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("label")


def kmer_counts(sequences: Sequence[str], k: int) -> pd.Series:
    """Counts of every k-mer (3UTRBERT vocabulary order) plus ``[UNK]`` for k-mers with ambiguity codes.

    >>> kmer_counts(["AAAAU"], 3)[["AAA", "AAU", "[UNK]"]].tolist()
    [2, 1, 0]
    """
    tokenizer = KmerTokenizer(k=k)
    encoding = tokenizer.encode_corpus(list(sequences))
    counts = np.bincount(encoding.flat_ids, minlength=len(tokenizer))
    vocab = tokenizer.ids_to_tokens
    keep = [1] + list(range(5, len(tokenizer)))  # [UNK] and the k-mers; the other specials never occur
    return pd.Series(counts[keep], index=[vocab[i] for i in keep], name="count")


def kmer_enrichment(
    positives: Sequence[str], negatives: Sequence[str], k: int, pseudocount: float = 1.0
) -> pd.DataFrame:
    """k-mer frequencies in positive and negative sequences and their log2 ratio, most enriched first.

    >>> table = kmer_enrichment(["UGUAAAUA"] * 5, ["CCCCCCCC"] * 5, k=4)
    >>> table.index[0] in {"UGUA", "GUAA", "UAAA", "AAAU", "AAUA"}
    True
    """
    pos = kmer_counts(positives, k).drop("[UNK]")
    neg = kmer_counts(negatives, k).drop("[UNK]")
    freq_pos = (pos + pseudocount) / (pos.sum() + pseudocount * len(pos))
    freq_neg = (neg + pseudocount) / (neg.sum() + pseudocount * len(neg))
    table = pd.DataFrame(
        {
            "count_positive": pos,
            "count_negative": neg,
            "freq_positive": freq_pos,
            "freq_negative": freq_neg,
            "log2_ratio": np.log2(freq_pos / freq_neg),
        }
    )
    table.index.name = "kmer"
    return table.sort_values("log2_ratio", ascending=False)


def positional_frequencies(sequences: Sequence[str]) -> pd.DataFrame:
    """Per-position frequency of A, C, G, U over equal-length sequences (rows: positions from 0).

    >>> positional_frequencies(["AC", "AG"]).loc[1].to_dict()
    {'A': 0.0, 'C': 0.5, 'G': 0.5, 'U': 0.0}
    """
    if not sequences:
        raise ValueError("no sequences")
    length = len(sequences[0])
    if any(len(s) != length for s in sequences):
        raise ValueError("positional frequencies need sequences of equal length")
    matrix = np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8).reshape(len(sequences), length)
    return pd.DataFrame({letter: (matrix == ord(letter)).mean(axis=0) for letter in _LETTERS})


def motif_match_fraction(sequences: Sequence[str], pattern: str, start: int) -> float:
    """Fraction of sequences whose substring at ``start`` matches an IUPAC ``pattern`` (e.g. DRACH).

    >>> motif_match_fraction(["GGACU", "GGACA", "CCACU"], "DRACH", 0)
    0.6666666666666666
    """
    if not sequences:
        raise ValueError("no sequences")
    allowed = [set(IUPAC_BASES[code]) for code in pattern.upper()]
    hits = 0
    for sequence in sequences:
        window = sequence[start : start + len(pattern)]
        if len(window) == len(pattern) and all(base in ok for base, ok in zip(window, allowed)):
            hits += 1
    return hits / len(sequences)

