"""``KmerTokenizer``: a Hugging Face tokenizer with the original 3UTRBERT k-mer vocabulary and ids.

Two ways in, with identical ids:

* the standard Hugging Face call, ``tokenizer(["ACGU...", ...], padding=True)``, for small batches and
  for everything in the ecosystem that expects a ``PreTrainedTokenizer``;
* :meth:`KmerTokenizer.encode_corpus`, a vectorized NumPy path for corpora of millions of sequences,
  which returns a :class:`KmerEncoding` (ragged ids plus record ids) that can be padded into arrays or
  cut into explicit windows.

Both accept raw sequences (any case, T or U, whitespace and newlines ignored) and the original
pre-tokenized format (space-separated overlapping k-mers). Nothing is truncated or split silently: an
input longer than the model window raises unless windows are asked for (:meth:`KmerEncoding.windows`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import BertConfig, PreTrainedTokenizer

from utrbert.tokens.kmers import (
    SPECIAL_TOKENS,
    SequenceError,
    Window,
    check_k,
    kmer_ids,
    kmer_vocab,
    parse_sequence,
    sequence_codes,
    sliding_windows,
)

__all__ = [
    "KmerTokenizer", "KmerEncoding", "WindowedEncoding", "register_auto_classes", "PAD_ID", "UNK_ID", "CLS_ID", "SEP_ID",
    "MASK_ID",
]  # fmt: skip

logger = logging.getLogger(__name__)

PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(len(SPECIAL_TOKENS))
_HAS_SPACE = re.compile(r"\s")
_MODEL_MAX_LENGTH = 512  # BERT positions in the 3UTRBERT checkpoints: [CLS] + 510 k-mers + [SEP]


class KmerTokenizer(PreTrainedTokenizer):
    """Overlapping k-mer tokenizer, id-compatible with the original 3UTRBERT ``vocab.txt`` (k = 3..6).

    Ids are ``[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4`` then the k-mers of ``product("AUCG", k)``.
    K-mers containing N or another IUPAC ambiguity code map to ``[UNK]``; a character that is not a
    nucleotide code raises :class:`~utrbert.tokens.kmers.SequenceError` naming the record.

    >>> tok = KmerTokenizer(k=3)
    >>> tok(["ACGUA", "acgt"])["input_ids"]
    [[2, 16, 50, 57, 3], [2, 16, 50, 3]]
    >>> tok.tokenize("ACG CGU GUA")
    ['ACG', 'CGU', 'GUA']
    """

    vocab_files_names = {"vocab_file": "vocab.txt"}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(
        self,
        k: int = 3,
        vocab_file: str | None = None,
        model_max_length: int = _MODEL_MAX_LENGTH,
        **kwargs: Any,
    ) -> None:
        self.k = check_k(k)
        expected = kmer_vocab(self.k)
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as handle:
                found = [line.rstrip("\r\n") for line in handle]
            while found and not found[-1]:
                found.pop()
            if found != expected:
                first = next((i for i, (a, b) in enumerate(zip(found, expected)) if a != b), min(len(found), len(expected)))
                where = (f"line {first + 1} holds {found[first]!r} where {expected[first]!r} belongs"
                         if first < min(len(found), len(expected)) else f"{len(found)} tokens")  # fmt: skip
                raise ValueError(
                    f"{vocab_file}: not the 3UTRBERT vocabulary for k={self.k} (expected {len(expected)} tokens: the "
                    f"specials then product('AUCG', {self.k}), in that order; {where})"
                )
        self.vocab: dict[str, int] = {token: i for i, token in enumerate(expected)}
        self.ids_to_tokens: list[str] = expected
        for name, token in zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), SPECIAL_TOKENS):
            kwargs.setdefault(name, token)
        kwargs.setdefault("split_special_tokens", True)  # "[MASK]" inside a sequence is an error, not a token
        kwargs.setdefault("special_tokens_pattern", "cls_sep")
        super().__init__(k=self.k, model_max_length=model_max_length, **kwargs)

    # ----- Hugging Face interface ----------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def max_kmers(self) -> int:
        """Largest number of k-mers that fits the model window with ``[CLS]`` and ``[SEP]``."""
        return int(self.model_max_length) - 2

    @property
    def max_nucleotides(self) -> int:
        """Longest sequence (nt) that fits the model window."""
        return self.max_kmers + self.k - 1

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        seq = parse_sequence(text, self.k)
        return [seq[i : i + self.k] for i in range(len(seq) - self.k + 1)]

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, UNK_ID)

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Space-joined k-mers, the format of the original 3UTRBERT TSV files."""
        return " ".join(tokens)

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        if token_ids_1 is None:
            return [CLS_ID, *token_ids_0, SEP_ID]
        return [CLS_ID, *token_ids_0, SEP_ID, *token_ids_1, SEP_ID]

    def prepare_for_model(self, ids: list[int], pair_ids: list[int] | None = None, **kwargs: Any):  # type: ignore[override]
        truncation = kwargs.get("truncation")
        if truncation not in (None, False, "do_not_truncate"):
            raise ValueError(
                "KmerTokenizer never truncates: cut long sequences into explicit windows with "
                "KmerTokenizer.encode_corpus(...).windows(...)"
            )
        n_special = 2 if pair_ids is None else 3
        length = len(ids) + (len(pair_ids) if pair_ids is not None else 0)
        if kwargs.get("add_special_tokens", True):
            length += n_special
        if length > self.model_max_length:
            raise SequenceError(
                f"sequence gives {length} tokens, more than the model window of {self.model_max_length} "
                f"(at most {self.max_nucleotides} nt for k={self.k}); use explicit windows "
                "(KmerTokenizer.encode_corpus(...).windows(...))"
            )
        return super().prepare_for_model(ids, pair_ids=pair_ids, **kwargs)

    def _encode_plus(self, text: Any, text_pair: Any = None, **kwargs: Any):  # type: ignore[override]
        try:
            return super()._encode_plus(text, text_pair=text_pair, **kwargs)
        except SequenceError as error:
            # Name the failing record of a batch: the per-item errors cannot know their position.
            if isinstance(text, (list, tuple)) and text and isinstance(text[0], str):
                add_special = kwargs.get("add_special_tokens", True)
                for position, item in enumerate(text):
                    self._check_item(item, position, add_special)
            raise error

    def _check_item(self, item: str, position: int, add_special_tokens: bool) -> None:
        seq = parse_sequence(item, self.k, record_id=position)
        n_tokens = len(seq) - self.k + 1 + (2 if add_special_tokens else 0)
        if n_tokens > self.model_max_length:
            raise SequenceError(
                f"sequence #{position}: {len(seq)} nt gives {n_tokens} tokens, more than the model window of "
                f"{self.model_max_length}; use explicit windows (KmerTokenizer.encode_corpus(...).windows(...))"
            )

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        name = (filename_prefix + "-" if filename_prefix else "") + "vocab.txt"
        path = os.path.join(save_directory, name) if os.path.isdir(save_directory) else save_directory
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(self.ids_to_tokens) + "\n")
        return (path,)

    @classmethod
    def from_vocab_file(cls, vocab_file: str | os.PathLike[str], **kwargs: Any) -> KmerTokenizer:
        """A tokenizer for an original 3UTRBERT ``vocab.txt``; k is read from the vocabulary size."""
        with open(vocab_file, encoding="utf-8") as handle:
            n_tokens = sum(1 for line in handle if line.strip())
        sizes = {4**k + len(SPECIAL_TOKENS): k for k in (3, 4, 5, 6)}
        if n_tokens not in sizes:
            raise ValueError(f"{vocab_file}: {n_tokens} tokens is not a 3UTRBERT vocabulary size {sorted(sizes)}")
        return cls(k=sizes[n_tokens], vocab_file=str(vocab_file), **kwargs)

    # ----- fast corpus path -----------------------------------------------------------------------

    def encode_corpus(
        self,
        sequences: Sequence[str],
        ids: Sequence[str] | None = None,
        input_format: str = "auto",
    ) -> KmerEncoding:
        """Vectorized k-mer ids for many sequences, without special tokens, with their record ids.

        Sequences may be of any length here; the model window is enforced when the encoding is padded
        (:meth:`KmerEncoding.padded`) or cut into windows (:meth:`KmerEncoding.windows`).

        >>> enc = KmerTokenizer(k=3).encode_corpus(["ACGUA", "ACG CGU"], ids=["a", "b"])
        >>> enc.token_ids("a").tolist(), enc.token_ids("b").tolist()
        ([16, 50, 57], [16, 50])
        """
        names = list(ids) if ids is not None else ["#%d" % i for i in range(len(sequences))]
        if len(names) != len(sequences):
            raise ValueError(f"{len(sequences)} sequences but {len(names)} ids")
        if ids is not None and len(set(names)) != len(names):
            seen: set[str] = set()
            duplicate = next(name for name in names if name in seen or seen.add(name))  # type: ignore[func-returns-value]
            raise ValueError(f"duplicate record id {duplicate!r}")
        cleaned = list(sequences)
        try:
            joined = "".join(cleaned)
        except TypeError:
            position = next(i for i, text in enumerate(cleaned) if not isinstance(text, str))
            raise SequenceError(
                f"record {names[position]!r}: expected a string, got {type(cleaned[position]).__name__}"
            ) from None
        buffer = joined.encode("ascii", errors="replace")
        codes = sequence_codes(buffer, strict=False)
        if input_format == "kmers" or (codes.size and codes.min() == -2):
            # whitespace (pre-tokenized k-mers, wrapped lines) or a bad character: the per-record slow path
            cleaned = [
                parse_sequence(text, self.k, record_id=name, input_format=input_format)
                if input_format == "kmers" or _HAS_SPACE.search(text)
                else text
                for name, text in zip(names, cleaned)
            ]
            for name, text in zip(names, cleaned):  # names the record of any remaining bad character
                sequence_codes(text, record_id=name)
            buffer = "".join(cleaned).encode("ascii", errors="replace")
            codes = sequence_codes(buffer)
        lengths = np.fromiter(map(len, cleaned), dtype=np.int64, count=len(cleaned))
        short = np.flatnonzero(lengths < self.k)
        if short.size:
            first = int(short[0])
            what = "empty sequence" if lengths[first] == 0 else f"sequence of {lengths[first]} nt is shorter than k={self.k}"
            raise SequenceError(f"record {names[first]!r}: {what}")
        all_ids = kmer_ids(codes, self.k)
        n_kmers = lengths - self.k + 1
        # k-mers starting in the last k-1 positions of a record cross into the next one: drop those
        keep = np.ones(all_ids.shape[0], dtype=bool)
        ends = np.cumsum(lengths)[:-1]
        for back in range(1, self.k):
            keep[ends - back] = False
        flat = all_ids[keep]
        offsets = np.concatenate([[0], np.cumsum(n_kmers)])
        return KmerEncoding(
            record_ids=names,
            flat_ids=flat,
            offsets=offsets,
            k=self.k,
            model_max_length=int(self.model_max_length),
        )


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(c)`` for each count.

    >>> _ragged_arange(np.array([3, 0, 2])).tolist()
    [0, 1, 2, 0, 1]
    """
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    ends = np.cumsum(counts)
    resets = np.repeat(ends - counts, counts)
    return np.arange(total, dtype=np.int64) - resets


@dataclass
class KmerEncoding:
    """Ragged k-mer ids of many records (no special tokens), keyed by record id.

    ``flat_ids[offsets[i]:offsets[i+1]]`` are the k-mer ids of ``record_ids[i]``.
    """

    record_ids: list[str]
    flat_ids: np.ndarray
    offsets: np.ndarray
    k: int
    model_max_length: int = _MODEL_MAX_LENGTH
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.record_ids)

    @property
    def n_kmers(self) -> np.ndarray:
        """Number of k-mer tokens per record."""
        return np.diff(self.offsets)

    def position(self, record_id: str) -> int:
        if not self._index:
            self._index = {name: i for i, name in enumerate(self.record_ids)}
        try:
            return self._index[record_id]
        except KeyError:
            raise KeyError(f"no record {record_id!r} in this encoding") from None

    def token_ids(self, record_id: str) -> np.ndarray:
        """k-mer ids of one record, without special tokens."""
        i = self.position(record_id)
        return self.flat_ids[self.offsets[i] : self.offsets[i + 1]]

    def padded(self, max_length: int | None = None, add_special_tokens: bool = True) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask`` arrays (right-padded with ``[PAD]``), same ids as the HF call.

        Raises :class:`SequenceError` naming the first record that does not fit ``max_length`` (default:
        the longest record, capped by the model window).
        """
        extra = 2 if add_special_tokens else 0
        lengths = self.n_kmers + extra
        limit = self.model_max_length if max_length is None else max_length
        too_long = np.flatnonzero(lengths > limit)
        if too_long.size:
            first = int(too_long[0])
            raise SequenceError(
                f"record {self.record_ids[first]!r}: {lengths[first]} tokens exceed {limit}; "
                "cut it into explicit windows with .windows(...)"
            )
        width = int(lengths.max()) if max_length is None and len(lengths) else limit
        input_ids = np.full((len(self), width), PAD_ID, dtype=np.int64)
        first = 1 if add_special_tokens else 0
        n_kmers = self.n_kmers
        if len(self) and (n_kmers == n_kmers[0]).all():  # equal lengths (CLIP or m6A windows): one reshape
            input_ids[:, first : first + int(n_kmers[0])] = self.flat_ids.reshape(len(self), -1)
        else:
            rows = np.repeat(np.arange(len(self)), n_kmers)
            input_ids[rows, _ragged_arange(n_kmers) + first] = self.flat_ids
        if add_special_tokens:
            input_ids[:, 0] = CLS_ID
            input_ids[np.arange(len(self)), lengths - 1] = SEP_ID
        attention_mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def windows(self, window_nt: int = 510, stride_nt: int | None = None, last: str = "pad") -> WindowedEncoding:
        """Cut every record into explicit nucleotide windows (default: non-overlapping 510 nt, as in the paper).

        Each window ``[start, end)`` in nucleotides gives the ``end - start - k + 1`` k-mers lying entirely
        inside it; the last window is shorter and padded (``last="pad"``) or moved back to full length
        (``last="shift"``). Windows are keyed by ``(record id, window index, start, end)``.
        """
        if window_nt < self.k:
            raise ValueError(f"window of {window_nt} nt is shorter than k={self.k}")
        if window_nt - self.k + 1 + 2 > self.model_max_length:
            raise ValueError(
                f"a window of {window_nt} nt gives {window_nt - self.k + 3} tokens, more than the model window "
                f"of {self.model_max_length}"
            )
        rec_index: list[int] = []
        spans: list[Window] = []
        for i, n in enumerate(self.n_kmers):
            length_nt = int(n) + self.k - 1
            for w in sliding_windows(length_nt, window_nt, stride_nt, last=last):
                if w.length < self.k:
                    # a tail shorter than k holds no k-mer: widen it backwards to one k-mer so no nucleotide is lost
                    w = Window(w.index, max(0, w.end - self.k), w.end)
                rec_index.append(i)
                spans.append(w)
        return WindowedEncoding(self, rec_index, spans, window_nt)


@dataclass
class WindowedEncoding:
    """Fixed-size windows of a :class:`KmerEncoding`; every window names its record, index and span."""

    source: KmerEncoding
    record_index: list[int]
    spans: list[Window]
    window_nt: int

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def record_ids(self) -> list[str]:
        return [self.source.record_ids[i] for i in self.record_index]

    def table(self) -> list[dict[str, Any]]:
        """One row per window: record id, window index, nucleotide start and end (provenance)."""
        return [
            {"record_id": self.source.record_ids[i], "window": w.index, "start": w.start, "end": w.end}
            for i, w in zip(self.record_index, self.spans)
        ]

    def padded(self) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask`` of shape (windows, window_nt - k + 3)."""
        k = self.source.k
        width = self.window_nt - k + 1 + 2
        input_ids = np.full((len(self), width), PAD_ID, dtype=np.int64)
        attention_mask = np.zeros((len(self), width), dtype=np.int64)
        for row, (i, w) in enumerate(zip(self.record_index, self.spans)):
            base = self.source.offsets[i]
            kmers = self.source.flat_ids[base + w.start : base + w.end - k + 1]
            input_ids[row, 0] = CLS_ID
            input_ids[row, 1 : 1 + len(kmers)] = kmers
            input_ids[row, 1 + len(kmers)] = SEP_ID
            attention_mask[row, : len(kmers) + 2] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}


def register_auto_classes() -> None:
    """Make ``transformers.AutoTokenizer.from_pretrained(checkpoint)`` return a :class:`KmerTokenizer`.

    A utrbert checkpoint's ``tokenizer_config.json`` names ``"tokenizer_class": "KmerTokenizer"``; transformers
    finds a class by that name once it is registered. The registration is keyed by a config class of its own (the
    checkpoints' ``config.json`` stays ``model_type: bert``, so ``AutoModelForMaskedLM`` and
    ``AutoModelForSequenceClassification`` load them as stock BERT). Idempotent; importing this module calls it.

    >>> from transformers import AutoTokenizer
    >>> register_auto_classes()
    >>> AutoTokenizer.register  # doctest: +ELLIPSIS
    <function ...>
    """
    from transformers import AutoTokenizer

    AutoTokenizer.register(_KmerBertConfig, tokenizer_class=KmerTokenizer, exist_ok=True)


class _KmerBertConfig(BertConfig):
    """The key under which :class:`KmerTokenizer` is registered with ``AutoTokenizer`` (never instantiated)."""

    model_type = "utrbert_kmer_bert"


register_auto_classes()  # a transformers class registry entry, like transformers' own tokenizers (no I/O)
