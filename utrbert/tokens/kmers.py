"""Nucleotide sequences and overlapping k-mers, with the original 3UTRBERT vocabulary order.

Everything here works on plain Python strings and NumPy arrays; the Hugging Face tokenizer in
:mod:`utrbert.tokens.tokenization` is built on top of it.

The 3UTRBERT vocabulary for a given k is the five special tokens followed by every k-mer over
``A, U, C, G`` in :func:`itertools.product` order, so the id of a k-mer is ``5 + base-4 number`` with
digits ``A=0, U=1, C=2, G=3``.

>>> kmer_vocab(3)[:7]
['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'AAA', 'AAU']
>>> seq_to_kmers("acgtN", k=3)
['ACG', 'CGU', 'GUN']
>>> kmers_to_seq(['ACG', 'CGU', 'GUN'])
'ACGUN'
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "SPECIAL_TOKENS",
    "NUCLEOTIDES",
    "IUPAC_BASES",
    "IUPAC_CODES",
    "SUPPORTED_K",
    "SequenceError",
    "Window",
    "check_k",
    "kmer_vocab",
    "normalize_sequence",
    "parse_sequence",
    "seq_to_kmers",
    "kmers_to_seq",
    "sliding_windows",
    "sequence_codes",
    "kmer_ids",
]

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Special tokens in the order (and so with the ids 0..4) of the original ``vocab.txt`` files."""

NUCLEOTIDES = "AUCG"
"""Nucleotide order of the original vocabulary (``itertools.product("AUCG", repeat=k)``)."""

IUPAC_BASES: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "U": "U", "T": "U", "R": "AG", "Y": "CU", "S": "CG", "W": "AU", "K": "GU",
    "M": "AC", "B": "CGU", "D": "AGU", "H": "ACU", "V": "ACG", "N": "ACGU",
}  # fmt: skip
"""RNA bases meant by each IUPAC nucleotide code (T read as U)."""

IUPAC_CODES = frozenset(IUPAC_BASES)
"""Accepted nucleotide codes (upper case). Any k-mer with a code outside ``ACGU`` maps to ``[UNK]``."""

SUPPORTED_K: tuple[int, ...] = (3, 4, 5, 6)
"""k values for which 3UTRBERT published vocabularies and checkpoints."""

_WHITESPACE = re.compile(r"\s+")


class SequenceError(ValueError):
    """A sequence that cannot be used as it is: wrong alphabet, empty, too short, too long or wrong k.

    The message always names the record (its id, or its position in the input when it has no id).
    """


def _name(record_id: str | int | None) -> str:
    if record_id is None:
        return "sequence"
    if isinstance(record_id, int):
        return f"sequence #{record_id}"
    return f"record {record_id!r}"


def check_k(k: int) -> int:
    """Return ``k`` if it is a supported k-mer size, else raise :class:`ValueError`.

    >>> check_k(6)
    6
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or int(k) not in SUPPORTED_K:
        raise ValueError(f"k must be one of {SUPPORTED_K} (the 3UTRBERT vocabularies), got {k!r}")
    return int(k)


@lru_cache(maxsize=None)
def _vocab_tuple(k: int) -> tuple[str, ...]:
    kmers = ("".join(p) for p in itertools.product(NUCLEOTIDES, repeat=k))
    return SPECIAL_TOKENS + tuple(kmers)


def kmer_vocab(k: int) -> list[str]:
    """The original 3UTRBERT vocabulary for ``k``: specials, then ``product("AUCG", repeat=k)``.

    >>> len(kmer_vocab(3)), len(kmer_vocab(6))
    (69, 4101)
    """
    return list(_vocab_tuple(check_k(k)))


def normalize_sequence(text: str, record_id: str | int | None = None) -> str:
    """Upper-case, convert T to U and remove whitespace; raise on anything that is not a nucleotide code.

    IUPAC ambiguity codes (N, R, Y, ...) are kept: they become ``[UNK]`` k-mers later.

    >>> normalize_sequence("acgt\\nTTn ")
    'ACGUUUN'
    """
    if not isinstance(text, str):
        raise SequenceError(f"{_name(record_id)}: expected a string, got {type(text).__name__}")
    seq = _WHITESPACE.sub("", text).upper().replace("T", "U")
    if not seq:
        raise SequenceError(f"{_name(record_id)}: empty sequence")
    bad = set(seq) - IUPAC_CODES
    if bad:
        first = min(seq.index(c) for c in bad)
        raise SequenceError(
            f"{_name(record_id)}: character {seq[first]!r} at position {first} is not a nucleotide code "
            f"(allowed: {''.join(sorted(IUPAC_CODES))}, any case)"
        )
    return seq


def _looks_like_kmers(tokens: list[str]) -> bool:
    """True if whitespace-separated tokens are overlapping k-mers of one length (the original TSV format)."""
    if len(tokens) < 2:
        return False
    length = len(tokens[0])
    if length < 2 or any(len(t) != length for t in tokens):
        return False
    return all(a[1:] == b[:-1] for a, b in zip(tokens, tokens[1:]))


def _equal_kmer_sized_pieces(text: str, k: int) -> int:
    """``k`` when one line holds two or more space-separated pieces of exactly ``k`` nt that are not overlapping
    k-mers (else 0): a k-mer row that fails the overlap check, which would otherwise be misread as raw nucleotides.
    Pieces of another length, and sequences wrapped over several lines (one piece a line, as in FASTA), are raw
    nucleotides with whitespace ignored.

    >>> _equal_kmer_sized_pieces("ACG CGA GUA", 3), _equal_kmer_sized_pieces("ACGUA CGUAC", 3)
    (3, 0)
    >>> _equal_kmer_sized_pieces("ACGUAC\\nGUACGU", 6)
    0
    """
    for line in text.splitlines():
        pieces = line.split()
        if len(pieces) >= 2 and all(len(p) == k for p in pieces):
            return k
    return 0


def parse_sequence(text: str, k: int, record_id: str | int | None = None, input_format: str = "auto") -> str:
    """Turn raw or pre-tokenized input into one normalized nucleotide string, checking k.

    ``input_format`` is ``"raw"`` (nucleotides, whitespace ignored), ``"kmers"`` (space-separated
    overlapping k-mers as in the original 3UTRBERT TSV files) or ``"auto"`` (k-mer format when the
    whitespace-separated pieces are two or more overlapping strings of one length).

    >>> parse_sequence("ACG CGU GUA", k=3)
    'ACGUA'
    >>> parse_sequence("ACGUA", k=3)
    'ACGUA'
    >>> parse_sequence("ACG CGA GUA", k=3)
    Traceback (most recent call last):
    ...
    utrbert.tokens.kmers.SequenceError: sequence: space-separated pieces of 3 nt that do not overlap by 2: neither raw nucleotides nor 3UTRBERT k-mer text (remove the spaces, or give overlapping k-mers)
    """
    k = check_k(k)
    if input_format not in ("auto", "raw", "kmers"):
        raise ValueError(f"input_format must be 'auto', 'raw' or 'kmers', got {input_format!r}")
    if not isinstance(text, str):
        raise SequenceError(f"{_name(record_id)}: expected a string, got {type(text).__name__}")
    if input_format != "raw":
        tokens = text.split()
        if input_format == "kmers" or _looks_like_kmers(tokens):
            if not tokens:
                raise SequenceError(f"{_name(record_id)}: empty sequence")
            lengths = {len(t) for t in tokens}
            if lengths != {k}:
                raise SequenceError(
                    f"{_name(record_id)}: pre-tokenized k-mers have length {sorted(lengths)}, "
                    f"but this tokenizer uses k={k}"
                )
            if not _looks_like_kmers(tokens) and len(tokens) > 1:
                raise SequenceError(f"{_name(record_id)}: space-separated k-mers do not overlap by k-1")
            return normalize_sequence(kmers_to_seq(tokens), record_id)
        elif size := _equal_kmer_sized_pieces(text, k):
            raise SequenceError(
                f"{_name(record_id)}: space-separated pieces of {size} nt that do not overlap by "
                f"{size - 1}: neither raw nucleotides nor 3UTRBERT k-mer text (remove the spaces, or give "
                "overlapping k-mers)"
            )
    seq = normalize_sequence(text, record_id)
    if len(seq) < k:
        raise SequenceError(f"{_name(record_id)}: sequence of {len(seq)} nt is shorter than k={k}")
    return seq


def seq_to_kmers(sequence: str, k: int, record_id: str | int | None = None) -> list[str]:
    """Overlapping k-mers of a sequence (normalized first); raises if it is shorter than k.

    >>> seq_to_kmers("AUCGA", k=4)
    ['AUCG', 'UCGA']
    """
    k = check_k(k)
    seq = normalize_sequence(sequence, record_id)
    if len(seq) < k:
        raise SequenceError(f"{_name(record_id)}: sequence of {len(seq)} nt is shorter than k={k}")
    return [seq[i : i + k] for i in range(len(seq) - k + 1)]


def kmers_to_seq(kmers: Sequence[str]) -> str:
    """Inverse of :func:`seq_to_kmers` for overlapping k-mers.

    >>> kmers_to_seq(["AUC", "UCG", "CGA"])
    'AUCGA'
    """
    if len(kmers) == 0:
        return ""
    return kmers[0] + "".join(kmer[-1] for kmer in kmers[1:])


@dataclass(frozen=True)
class Window:
    """One window of a longer sequence: ``sequence[start:end]``, numbered from 0 within its sequence."""

    index: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def sliding_windows(length: int, window: int, stride: int | None = None, last: str = "pad") -> list[Window]:
    """Windows covering ``range(length)`` completely, with no position left out.

    ``stride`` defaults to ``window`` (non-overlapping windows, as in the paper). The last window
    either stops at the sequence end and is shorter (``last="pad"``, to be padded by the caller) or is
    moved back so that it ends at the sequence end and has full length (``last="shift"``).

    >>> [(w.start, w.end) for w in sliding_windows(1200, 510)]
    [(0, 510), (510, 1020), (1020, 1200)]
    >>> [(w.start, w.end) for w in sliding_windows(1200, 510, last="shift")]
    [(0, 510), (510, 1020), (690, 1200)]
    >>> [(w.start, w.end) for w in sliding_windows(700, 510, stride=255)]
    [(0, 510), (255, 700)]
    """
    if window < 1:
        raise ValueError(f"window must be positive, got {window}")
    stride = window if stride is None else stride
    if not 1 <= stride <= window:
        raise ValueError(f"stride must be between 1 and the window ({window}), got {stride}")
    if last not in ("pad", "shift"):
        raise ValueError(f"last must be 'pad' or 'shift', got {last!r}")
    if length <= 0:
        raise ValueError(f"cannot window a sequence of length {length}")
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + window, length)
        spans.append((start, end))
        if end >= length:
            break
        start += stride
    if last == "shift" and len(spans) > 1 and spans[-1][1] - spans[-1][0] < window:
        shifted = (max(0, length - window), length)
        spans[-1] = shifted
        # a shifted last window can make the one before it redundant; keep every window that adds coverage
        while len(spans) > 1 and spans[-2][0] >= shifted[0]:
            spans.pop(-2)
    return [Window(i, s, e) for i, (s, e) in enumerate(spans)]


# ----- vectorized k-mer ids ------------------------------------------------------------------

_CODE_TABLE = np.full(256, -2, dtype=np.int8)  # -2: not a nucleotide code
for _code in IUPAC_CODES:
    _CODE_TABLE[ord(_code)] = -1  # ambiguity code: becomes [UNK]
    _CODE_TABLE[ord(_code.lower())] = -1
for _digit, _base in enumerate(NUCLEOTIDES):
    _CODE_TABLE[ord(_base)] = _digit
    _CODE_TABLE[ord(_base.lower())] = _digit
_CODE_TABLE[ord("T")] = _CODE_TABLE[ord("U")]
_CODE_TABLE[ord("t")] = _CODE_TABLE[ord("U")]
del _code, _digit, _base


def sequence_codes(sequence: str | bytes, record_id: str | int | None = None, strict: bool = True) -> np.ndarray:
    """Per-nucleotide digit codes (A=0, U/T=1, C=2, G=3, ambiguity code=-1) of an un-normalized sequence.

    Whitespace must already be removed; any other non-nucleotide character raises (or, with
    ``strict=False``, gets the code -2).

    >>> sequence_codes("AuCgTN").tolist()
    [0, 1, 2, 3, 1, -1]
    """
    raw = sequence.encode("ascii", errors="replace") if isinstance(sequence, str) else sequence
    codes = _CODE_TABLE[np.frombuffer(raw, dtype=np.uint8)]
    if strict and codes.size and codes.min() == -2:
        pos = int(np.argmax(codes == -2))
        char = raw[pos : pos + 1].decode("ascii", errors="replace")
        raise SequenceError(f"{_name(record_id)}: character {char!r} at position {pos} is not a nucleotide code")
    return codes


def kmer_ids(codes: np.ndarray, k: int) -> np.ndarray:
    """Vocabulary ids of all overlapping k-mers of a code array from :func:`sequence_codes`.

    K-mers containing an ambiguity code get the ``[UNK]`` id (1).

    >>> kmer_ids(sequence_codes("AAAAU"), 3).tolist()
    [5, 5, 6]
    >>> kmer_ids(sequence_codes("AANAA"), 3).tolist()
    [1, 1, 1]
    """
    k = check_k(k)
    n = codes.shape[0] - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.int32)
    ambiguous = codes < 0
    digits = np.where(ambiguous, 0, codes).astype(np.int32)
    index = digits[:n].copy()
    for offset in range(1, k):
        index <<= 2
        index += digits[offset : offset + n]
    index += len(SPECIAL_TOKENS)
    if ambiguous.any():
        counts = np.concatenate([[0], np.cumsum(ambiguous, dtype=np.int32)])
        index[(counts[k:] - counts[:n]) > 0] = SPECIAL_TOKENS.index("[UNK]")
    return index
