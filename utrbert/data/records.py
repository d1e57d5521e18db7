"""One labelled sequence record, and the error raised for badly formatted data files.

A :class:`SequenceRecord` always stores its sequence normalized (upper-case RNA, ``U`` not ``T``),
so every reader, data set and model downstream sees one alphabet. Records are identified by their
``id``; nothing in this package joins records by row order.

>>> record = SequenceRecord("site_1", "acgt", label=1)
>>> record.sequence, record.length
('ACGU', 4)
>>> records_to_frame([record]).columns.tolist()
['id', 'sequence', 'label', 'length']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from utrbert.tokens.kmers import IUPAC_CODES, SequenceError, normalize_sequence

__all__ = [
    "Label",
    "DataFormatError",
    "SequenceRecord",
    "check_label",
    "normalized_sequence",
    "index_by_id",
    "records_to_frame",
]

Label = int | tuple[int, ...] | None
"""A class label (``int``), a multi-label bit vector (``tuple`` of 0/1) or no label (``None``)."""

FRAME_COLUMNS: tuple[str, ...] = ("id", "sequence", "label", "length")
"""Fixed leading columns of :func:`records_to_frame`; metadata fields follow them."""


class DataFormatError(ValueError):
    """A data file that does not have the expected format.

    The message names the file, the line (1-based) and, where known, the record.

    >>> str(DataFormatError("missing class: label", "seqs.fa", line=3, record_id="chr1:+:1-101"))
    "seqs.fa, line 3, record 'chr1:+:1-101': missing class: label"
    """

    def __init__(
        self,
        message: str,
        path: str | PathLike[str],
        line: int | None = None,
        record_id: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.record_id = record_id
        self.reason = message
        where = self.path
        if line is not None:
            where += f", line {line}"
        if record_id is not None:
            where += f", record {record_id!r}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:  # keep the error picklable (e.g. across worker processes)
        return (type(self), (self.reason, self.path, self.line, self.record_id))


_NUCLEOTIDE_BYTES = "".join(sorted(IUPAC_CODES)).encode("ascii")


def normalized_sequence(text: str, record_id: str | None = None) -> str:
    """Same result and errors as :func:`utrbert.tokens.kmers.normalize_sequence`, with a fast path for clean text.

    Clean text (ASCII nucleotide codes only, no whitespace) is upper-cased and T -> U converted
    directly; anything else goes through ``normalize_sequence``, which strips whitespace or raises.

    >>> normalized_sequence("acgtn"), normalized_sequence("AC GT")
    ('ACGUN', 'ACGU')
    """
    if isinstance(text, str) and text and text.isascii():
        upper = text.upper()
        if not upper.encode("ascii").translate(None, _NUCLEOTIDE_BYTES):
            return upper.replace("T", "U")
    return normalize_sequence(text, record_id)


def check_label(label: Any, record_id: str | None = None) -> Label:
    """Return ``label`` as ``int``, ``tuple`` of 0/1 ints or ``None``; raise :class:`ValueError` otherwise.

    Floats and booleans are refused (``1.0`` must be converted by the reader that knows its format).

    >>> check_label(1), check_label([0, 1, 1]), check_label(None)
    (1, (0, 1, 1), None)
    """
    if label is None or (type(label) is int and label >= 0):
        return label
    name = f"record {record_id!r}" if record_id is not None else "label"
    if isinstance(label, (bool, np.bool_, float, np.floating)):
        raise ValueError(f"{name}: label must be an int, a tuple of 0/1 ints or None, got {label!r}")
    if isinstance(label, (int, np.integer)):
        value = int(label)
        if value < 0:
            raise ValueError(f"{name}: label must be non-negative, got {value}")
        return value
    if isinstance(label, (tuple, list, np.ndarray)):
        bits = tuple(label.tolist() if isinstance(label, np.ndarray) else label)
        if not bits:
            raise ValueError(f"{name}: multi-label vector is empty")
        if any(isinstance(b, bool) or b not in (0, 1) for b in bits):
            raise ValueError(f"{name}: multi-label vector must hold only 0 and 1, got {label!r}")
        return tuple(int(b) for b in bits)
    raise ValueError(f"{name}: label must be an int, a tuple of 0/1 ints or None, got {label!r}")


@dataclass(frozen=True)
class SequenceRecord:
    """One sequence with its id, label and free-form metadata (coordinates, gene name, planted motifs ...).

    The sequence is normalized on construction (whitespace removed, upper case, T -> U); an empty
    sequence or a non-nucleotide character raises :class:`utrbert.tokens.kmers.SequenceError` naming the id.

    >>> SequenceRecord("NM_1", "AAUg", label=(0, 1), meta={"gene_name": "X"}).sequence
    'AAUG'
    """

    id: str
    sequence: str
    label: Label = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise SequenceError(f"every record needs a non-empty string id, got {self.id!r}")
        object.__setattr__(self, "sequence", normalized_sequence(self.sequence, self.id))
        object.__setattr__(self, "label", check_label(self.label, self.id))
        object.__setattr__(self, "meta", dict(self.meta))

    __hash__ = None  # type: ignore[assignment]  # meta is a dict: records are values, not set members

    @property
    def length(self) -> int:
        """Sequence length in nucleotides."""
        return len(self.sequence)


def index_by_id(records: Iterable[SequenceRecord], source: str = "records") -> dict[str, SequenceRecord]:
    """Map id -> record, raising :class:`ValueError` on a duplicate id.

    >>> sorted(index_by_id([SequenceRecord("a", "A"), SequenceRecord("b", "C")]))
    ['a', 'b']
    """
    index: dict[str, SequenceRecord] = {}
    for record in records:
        if record.id in index:
            raise ValueError(f"{source}: duplicate record id {record.id!r}")
        index[record.id] = record
    return index


def records_to_frame(records: Sequence[SequenceRecord]) -> pd.DataFrame:
    """One row per record: ``id, sequence, label, length`` then every metadata field (missing -> None).

    Multi-label labels stay tuples. Metadata fields named like a fixed column raise :class:`ValueError`.

    >>> frame = records_to_frame([SequenceRecord("a", "ACG", 1, {"chrom": "chr1"}), SequenceRecord("b", "U", 0)])
    >>> frame[["id", "length", "chrom"]].values.tolist()
    [['a', 3, 'chr1'], ['b', 1, None]]
    """
    meta_fields: dict[str, None] = {}
    for record in records:
        for key in record.meta:
            if key in FRAME_COLUMNS:
                raise ValueError(f"record {record.id!r}: metadata field {key!r} clashes with a fixed column")
            meta_fields.setdefault(key, None)
    columns: dict[str, list[Any]] = {
        "id": [r.id for r in records],
        "sequence": [r.sequence for r in records],
        "label": [r.label for r in records],
        "length": [r.length for r in records],
    }
    for key in meta_fields:
        columns[key] = [r.meta.get(key) for r in records]
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    frame["length"] = frame["length"].astype("int64")
    if all(isinstance(r.label, int) for r in records) and records:
        frame["label"] = frame["label"].astype("int64")
    return frame
