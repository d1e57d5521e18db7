"""Readers for the sequence files used by utrbert, with validation.

Every reader returns :class:`~utrbert.data.records.SequenceRecord` objects that keep the id given by the
file, and raises :class:`~utrbert.data.records.DataFormatError` (file, line number and record id in the
message) on anything it cannot read as it is: an empty sequence, a non-nucleotide character, a
missing or malformed label, a duplicate id, a corrupt or truncated gzip stream. Nothing is dropped,
truncated or split silently. Files ending in ``.gz`` are decompressed transparently, and Windows
(CRLF) line endings are accepted everywhere.

Formats:

- generic FASTA (:func:`read_fasta`) and FASTA with labels in the header (:func:`read_labeled_fasta`);
- RBP-31 (iONMF/iDeepS CLIP windows): ``> chr1,+,866159,866259; class:0`` (:func:`read_rbp31_split`);
- MST-m6A TSV: ``index<TAB>label<TAB>text``, 201-nt windows with the candidate A at index 100
  (:func:`read_mst_m6a`);
- DM3Loc FASTA with a 7-bit localization label and its 5-fold lists (:func:`read_dm3loc`,
  :func:`read_dm3loc_folds`);
- labelled TSV/CSV tables such as the original 3UTRBERT ``train.tsv`` (:func:`read_labeled_table`).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

from utrbert.tokens.kmers import SUPPORTED_K, SequenceError, _looks_like_kmers, normalize_sequence, parse_sequence
from utrbert.data.records import DataFormatError, Label, SequenceRecord, normalized_sequence

__all__ = [
    "FastaEntry",
    "iter_fasta",
    "read_fasta",
    "read_labeled_fasta",
    "read_labeled_table",
    "read_labeled_sequences",
    "read_sequences",
    "parse_labeled_header",
    "RBP31_SPLITS",
    "parse_rbp31_header",
    "list_rbp31_sets",
    "find_rbp31_set",
    "rbp31_split_path",
    "read_rbp31_file",
    "read_rbp31_split",
    "iter_rbp31",
    "MST_M6A_SOURCE_LENGTH",
    "MST_M6A_CENTRE",
    "crop_centred",
    "list_mst_m6a_datasets",
    "read_mst_m6a_file",
    "read_mst_m6a",
    "read_m6a_user_file",
    "LOCALIZATION_COMPARTMENTS",
    "DM3LOC_FOLD_LIST_BITS",
    "DM3LOC_FASTA_NAME",
    "DM3LOC_N_FOLDS",
    "read_dm3loc_fasta",
    "parse_dm3loc_header",
    "fold_list_label",
    "read_dm3loc",
    "read_dm3loc_folds",
]

logger = logging.getLogger(__name__)

PathLikeStr = str | PathLike[str]

FASTA_SUFFIXES: tuple[str, ...] = (".fa", ".fasta", ".fna", ".fas")
TABLE_SUFFIXES: dict[str, str] = {".tsv": "\t", ".txt": "\t", ".csv": ","}
"""Table suffix -> field delimiter for :func:`read_labeled_table`."""


# ----- low-level text access --------------------------------------------------------------------------------


def _plain_suffix(path: Path) -> str:
    """The file suffix that names the format, ignoring a trailing ``.gz``.

    >>> _plain_suffix(Path("x/sequences.fa.gz")), _plain_suffix(Path("train.TSV"))
    ('.fa', '.tsv')
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _open_text(path: Path) -> TextIO:
    """Open a text file for reading (universal newlines), decompressing ``.gz`` files; a UTF-8 byte-order mark at
    the start (as some spreadsheet programs write) is dropped."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)
_CHUNK_CHARS = 1 << 22


def _read_error(path: Path, lineno: int, exc: BaseException) -> DataFormatError:
    if isinstance(exc, EOFError):
        reason = "file ends in the middle of the gzip stream (truncated download?)"
    elif isinstance(exc, UnicodeDecodeError):
        reason = f"not UTF-8 text ({exc.reason})"
    else:
        reason = f"cannot be read: {exc} (corrupt gzip file?)"
    return DataFormatError(reason, path, lineno)


def _read_text(path: Path) -> str:
    """The whole decoded text of a file, with ``\\n`` line endings (CRLF converted).

    A corrupt or truncated gzip stream or invalid UTF-8 raises :class:`DataFormatError` naming the
    line at which decoding stopped.
    """
    chunks: list[str] = []
    with _open_text(path) as handle:
        try:
            while chunk := handle.read(_CHUNK_CHARS):
                chunks.append(chunk)
        except _READ_ERRORS as exc:
            raise _read_error(path, sum(c.count("\n") for c in chunks) + 1, exc) from exc
    return "".join(chunks)


def _text_lines(path: Path) -> list[str]:
    """Lines of a file without line endings (no empty last line for a final newline).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "x.txt"
    ...     _ = path.write_bytes(b"a\\r\\nb\\r\\n")
    ...     _text_lines(path)
    ['a', 'b']
    """
    lines = _read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _make_record(
    path: Path, line: int, record_id: str, sequence: str, label: Label, meta: dict[str, Any]
) -> SequenceRecord:
    """Build a record; alphabet, empty-sequence and label problems become DataFormatError."""
    try:
        return SequenceRecord(record_id, sequence, label, meta)
    except ValueError as exc:  # SequenceError is a ValueError
        raise DataFormatError(_without_record_prefix(str(exc), record_id), path, line, record_id) from exc


def _without_record_prefix(message: str, record_id: str) -> str:
    """Drop the ``record 'x': `` prefix of kmers/records errors (DataFormatError adds its own).

    >>> _without_record_prefix("record 'a': empty sequence", "a")
    'empty sequence'
    """
    prefix = f"record {record_id!r}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


_NAMED_MESSAGE = re.compile(r"^record '([^']*)': (.*)$", re.DOTALL)


def _header_error(exc: ValueError, path: Path, line: int, header: str) -> DataFormatError:
    """A header-parsing error as DataFormatError, with the record id the message names (else the first word)."""
    named = _NAMED_MESSAGE.match(str(exc))
    if named:
        return DataFormatError(named[2], path, line, named[1])
    words = header.split()
    return DataFormatError(str(exc), path, line, words[0] if words else None)


class _IdRegistry:
    """Remembers where each id was first seen, to report duplicates with both line numbers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first_line: dict[str, int] = {}

    def add(self, record_id: str, line: int) -> None:
        if record_id in self.first_line:
            raise DataFormatError(
                f"duplicate id (first seen at line {self.first_line[record_id]})", self.path, line, record_id
            )
        self.first_line[record_id] = line


def _log_read(path: Path, records: Sequence[SequenceRecord]) -> None:
    labels = [r.label for r in records if isinstance(r.label, int)]
    positives = sum(1 for label in labels if label == 1)
    if labels:
        logger.info("read %d records (%d with label 1) from %s", len(records), positives, path)
    else:
        logger.info("read %d records from %s", len(records), path)


# ----- FASTA ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FastaEntry:
    """One raw FASTA entry: header text after ``>``, the joined sequence lines, the header's line number."""

    header: str
    sequence: str
    line: int


def iter_fasta(path: PathLikeStr) -> Iterator[FastaEntry]:
    """Yield the raw entries of a FASTA file (multi-line sequences joined, blank lines ignored).

    Raises :class:`DataFormatError` for text before the first header or a file with no entry.
    Sequences are not validated here; the readers below do that per format.
    """
    path = Path(path)
    header: str | None = None
    header_line = 0
    chunks: list[str] = []
    count = 0
    for lineno, line in enumerate(_text_lines(path), start=1):
        if line.startswith(">"):
            if header is not None:
                count += 1
                yield FastaEntry(header, "".join(chunks), header_line)
            header, header_line, chunks = line[1:].strip(), lineno, []
        elif not line.strip():
            continue
        elif header is None:
            raise DataFormatError("sequence text before the first '>' header", path, lineno)
        else:
            pieces = line.split()
            if _looks_like_kmers(pieces):
                raise DataFormatError(
                    "space-separated overlapping k-mers in a FASTA sequence line (FASTA holds nucleotides: write the "
                    "sequence raw, or put the k-mer text in a TSV/CSV 'sequence' column)", path, lineno,
                )  # fmt: skip
            chunks.append("".join(pieces))
    if header is not None:
        count += 1
        yield FastaEntry(header, "".join(chunks), header_line)
    if count == 0:
        raise DataFormatError("no FASTA records found (empty file?)", path)


def read_fasta(path: PathLikeStr) -> list[SequenceRecord]:
    """Read any FASTA file: id = first word of the header, ``meta["description"]`` = the rest, no label.

    Duplicate ids, empty sequences and non-nucleotide characters raise :class:`DataFormatError`.
    """
    path = Path(path)
    ids = _IdRegistry(path)
    records = []
    for entry in iter_fasta(path):
        words = entry.header.split(maxsplit=1)
        if not words:
            raise DataFormatError("empty FASTA header (no id)", path, entry.line)
        record_id = words[0]
        ids.add(record_id, entry.line)
        description = words[1] if len(words) > 1 else ""
        records.append(_make_record(path, entry.line, record_id, entry.sequence, None, {"description": description}))
    _log_read(path, records)
    return records


# ----- labels in FASTA headers ------------------------------------------------------------------------------

_CLASS_LABEL = re.compile(r"(?:^|[\s;,|])class:\s*(?P<value>[^\s;,|]*)")
_TRAILING_LABEL = re.compile(r"(?:^|[\s;,|])label[=:]\s*(?P<value>[^\s;,|]*)\s*$")
_BITS = re.compile(r"^[01]+$")
_ACCNUM = re.compile(r"(?:^|,)ACCNUM:(?P<value>[^,\s]+)")


def _binary_or_int_label(text: str) -> int:
    """Parse an integer class label written as ``1``, ``0`` or ``1.0``; raise ValueError otherwise.

    >>> _binary_or_int_label("1.0"), _binary_or_int_label(" 2 ")
    (1, 2)
    """
    text = text.strip()
    if not text:
        raise ValueError("missing label")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"label {text!r} is not an integer class") from None
    if not value.is_integer():
        raise ValueError(f"label {text!r} is not an integer class")
    return int(value)


def parse_labeled_header(header: str) -> tuple[str, Label, dict[str, Any]]:
    """Id, label and metadata from a FASTA header that carries its label.

    Accepted (first match wins): RBP-31 style ``class:0/1``; a trailing ``label=1`` or ``label:1``;
    a 0/1 bit string as the first comma-separated field (DM3Loc style, a multi-label tuple; a
    single bit gives an int). Raises :class:`ValueError` when no label is found.

    >>> parse_labeled_header("chr1,+,866159,866259; class:1")[:2]
    ('chr1:+:866159-866259', 1)
    >>> parse_labeled_header("site7 some text label=0")[:2]
    ('site7', 0)
    >>> parse_labeled_header("0100000,ACCNUM:NM_001507,Gene_ID:2862,Gene_Name:MLNR")[:2]
    ('NM_001507', (0, 1, 0, 0, 0, 0, 0))
    """
    header = header.strip()
    if _RBP31_HEADER.match(header):
        return parse_rbp31_header(header)
    labels = [m for m in (_CLASS_LABEL.search(header), _TRAILING_LABEL.search(header)) if m]
    if len(labels) == 2 and _binary_or_int_label(labels[0].group("value")) != _binary_or_int_label(labels[1].group("value")):
        raise ValueError(f"header {header!r} carries two different labels ({labels[0].group(0).strip()!r} and "
                         f"{labels[1].group(0).strip()!r})")  # fmt: skip
    match = labels[0] if labels else None
    if match:
        label = _binary_or_int_label(match.group("value"))
        rest = (header[: match.start()] + " " + header[match.end() :]).strip()
        record_id = re.split(r"[\s;|]+", rest)[0].rstrip(",") if rest else ""
        if not record_id:
            raise ValueError(f"header {header!r} has a label but no id")
        return record_id, label, {"description": header}
    first, comma, rest = header.partition(",")
    first = first.strip()
    if comma and _BITS.match(first):
        bits = tuple(int(b) for b in first)
        accnum = _ACCNUM.search(header)
        record_id = accnum.group("value") if accnum else rest.split(",")[0].strip().split(" ")[0]
        if not record_id:
            raise ValueError(f"header {header!r} has a label but no id")
        return record_id, (bits[0] if len(bits) == 1 else bits), {"description": header}
    raise ValueError(
        "no label in the header (expected 'class:0/1', a trailing 'label=1' or 'label:1', "
        "or a 0/1 bit string as the first comma-separated field)"
    )


def _iter_headed_records(
    path: Path, parse_header: Callable[[str], tuple[str, Label, dict[str, Any]]]
) -> Iterator[tuple[FastaEntry, SequenceRecord]]:
    """Records of a FASTA file whose headers give ``(id, label, meta)``; bad headers and duplicate ids raise."""
    ids = _IdRegistry(path)
    for entry in iter_fasta(path):
        try:
            record_id, label, meta = parse_header(entry.header)
        except ValueError as exc:
            raise _header_error(exc, path, entry.line, entry.header) from exc
        ids.add(record_id, entry.line)
        yield entry, _make_record(path, entry.line, record_id, entry.sequence, label, meta)


def read_labeled_fasta(path: PathLikeStr) -> list[SequenceRecord]:
    """Read a FASTA file whose headers carry labels (see :func:`parse_labeled_header`).

    A header without a label, a duplicate id or a bad sequence raises :class:`DataFormatError`.
    """
    path = Path(path)
    records = [record for _, record in _iter_headed_records(path, parse_labeled_header)]
    _log_read(path, records)
    return records


# ----- labelled tables --------------------------------------------------------------------------------------


def _table_sequence(text: str, k: int | None, record_id: str, input_format: str) -> str:
    """Nucleotides from a raw or k-mer-tokenized table cell; k is inferred from k-mer tokens if None."""
    if k is not None:
        return parse_sequence(text, k, record_id, input_format)
    tokens = text.split()
    if input_format == "raw" or len(tokens) < 2:
        return normalize_sequence(text, record_id)
    lengths = {len(token) for token in tokens}
    if len(lengths) == 1 and (inferred := lengths.pop()) in SUPPORTED_K:
        return parse_sequence(text, inferred, record_id, input_format)
    if input_format == "kmers":
        raise SequenceError(f"record {record_id!r}: tokens are not k-mers of one supported length {SUPPORTED_K}")
    return normalize_sequence(text, record_id)


@dataclass(frozen=True)
class _TableColumns:
    """Positions of the columns of a labelled table."""

    sequence: int
    label: int
    id: int | None
    extra: tuple[tuple[int, str], ...]
    count: int


def _table_columns(header: list[str] | None, path: Path, label_required: bool = True) -> _TableColumns:
    """Find ``sequence``, ``label`` (``-1`` when absent and not required) and optional ``id`` (case-insensitive)."""
    if header is None:
        raise DataFormatError("empty file (no header line)", path, 1)
    if header and header[0].lstrip().startswith(">"):
        raise DataFormatError(f"the first line is a FASTA header ({header[0].strip()!r}) but the file name says table "
                              f"({path.name}): name FASTA files .fa, .fasta or .fna (optionally .gz)", path, 1)  # fmt: skip
    names = [name.strip().lower() for name in header]
    for required in ("sequence", "label") if label_required else ("sequence",):
        if required not in names:
            raise DataFormatError(f"header {header!r} has no {required!r} column", path, 1)
    if len(set(names)) != len(names):
        raise DataFormatError(f"header {header!r} repeats a column name", path, 1)
    label = names.index("label") if "label" in names else -1
    fixed = {names.index("sequence"), label, names.index("id") if "id" in names else -1}
    return _TableColumns(
        sequence=names.index("sequence"),
        label=label,
        id=names.index("id") if "id" in names else None,
        extra=tuple((i, header[i].strip()) for i in range(len(names)) if i not in fixed),
        count=len(names),
    )


def read_labeled_table(
    path: PathLikeStr, k: int | None = None, input_format: str = "auto", label_required: bool = True
) -> list[SequenceRecord]:
    """Read a TSV (``.tsv``, ``.txt``) or CSV (``.csv``) table with ``sequence`` and ``label`` columns.

    Sequences may be raw nucleotides or space-separated overlapping k-mers (the original 3UTRBERT
    ``train.tsv``: header ``sequence<TAB>label``, rows like ``GAC ACG CGA ...``); with ``k=None`` the
    k-mer size is inferred from the tokens. Labels are integers (``1`` or ``1.0``). An ``id`` column is
    used when present; otherwise ids are ``<file name>:<line>``. Other columns go into ``meta``.
    Blank lines are skipped; every other row must be complete. With ``label_required=False`` the ``label``
    column may be absent (records then have no label).
    """
    path = Path(path)
    records = [record for _, record in _iter_table_records(path, k, input_format, label_required)]
    if not records:
        raise DataFormatError("no records (only a header)", path)
    _log_read(path, records)
    return records


def _iter_table_records(
    path: Path, k: int | None, input_format: str, label_required: bool
) -> Iterator[tuple[int, SequenceRecord]]:
    """``(line, record)`` for every row of a labelled table (see :func:`read_labeled_table`)."""
    suffix = _plain_suffix(path)
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: table suffix must be one of {sorted(TABLE_SUFFIXES)} (optionally + .gz)")
    reader = csv.reader(io.StringIO(_read_text(path)), delimiter=TABLE_SUFFIXES[suffix])
    ids = _IdRegistry(path)
    try:
        columns = _table_columns(next(reader, None), path, label_required)
        for row in reader:
            line = reader.line_num
            if all(not cell.strip() for cell in row):
                continue
            has_id = columns.id is not None and columns.id < len(row)
            record_id = row[columns.id].strip() if has_id else f"{path.name}:{line}"  # type: ignore[index]
            if len(row) != columns.count:
                reason = f"expected {columns.count} fields, found {len(row)}"
                raise DataFormatError(reason, path, line, record_id or None)
            if not record_id:
                raise DataFormatError("empty id", path, line)
            ids.add(record_id, line)
            try:
                label = _binary_or_int_label(row[columns.label]) if columns.label >= 0 else None
                sequence = _table_sequence(row[columns.sequence], k, record_id, input_format)
            except ValueError as exc:
                raise DataFormatError(_without_record_prefix(str(exc), record_id), path, line, record_id) from exc
            meta = {name: row[i] for i, name in columns.extra}
            yield line, _make_record(path, line, record_id, sequence, label, meta)
    except csv.Error as exc:
        raise DataFormatError(f"malformed table: {exc}", path, reader.line_num) from exc


def read_labeled_sequences(path: PathLikeStr, k: int | None = None) -> list[SequenceRecord]:
    """Read labelled sequences, choosing the reader by suffix (``.gz`` allowed on top).

    FASTA (``.fa``, ``.fasta``, ``.fna``, ``.fas``) -> :func:`read_labeled_fasta`;
    tables (``.tsv``, ``.csv``, ``.txt``) -> :func:`read_labeled_table`.
    """
    path = Path(path)
    if _labeled_format(path) == "fasta":
        return read_labeled_fasta(path)
    return read_labeled_table(path, k=k)


def _labeled_format(path: Path) -> str:
    """``"fasta"`` or ``"table"`` from a labelled file's suffix (``.gz`` allowed on top); ValueError otherwise."""
    suffix = _plain_suffix(path)
    if suffix in FASTA_SUFFIXES:
        return "fasta"
    if suffix in TABLE_SUFFIXES:
        return "table"
    raise ValueError(
        f"{path}: cannot tell the format from the suffix {suffix!r}; "
        f"use one of {list(FASTA_SUFFIXES) + list(TABLE_SUFFIXES)} (optionally + .gz)"
    )


def read_sequences(path: PathLikeStr, k: int | None = None) -> list[SequenceRecord]:
    """Read sequences with ids, labels optional.

    FASTA: when every header carries a label (see :func:`parse_labeled_header`) it is read as
    :func:`read_labeled_fasta` (same ids and labels as the fine-tuning command sees), otherwise as
    :func:`read_fasta` (id = first header word, no label). Tables: ``sequence`` and optional ``id`` and
    ``label`` columns (:func:`read_labeled_table`).
    """
    path = Path(path)
    suffix = _plain_suffix(path)
    if suffix in FASTA_SUFFIXES:
        def labelled(header: str) -> bool:
            try:
                parse_labeled_header(header)
            except ValueError:
                return False
            return True

        if all(labelled(entry.header) for entry in iter_fasta(path)):
            return read_labeled_fasta(path)
        return read_fasta(path)
    if suffix in TABLE_SUFFIXES:
        return read_labeled_table(path, k=k, label_required=False)
    raise ValueError(
        f"{path}: cannot tell the format from the suffix {suffix!r}; "
        f"use one of {list(FASTA_SUFFIXES) + list(TABLE_SUFFIXES)} (optionally + .gz)"
    )


# ----- RBP-31 -----------------------------------------------------------------------------------------------

RBP31_SPLITS: dict[str, str] = {"train": "training_sample_0", "test": "test_sample_0"}
"""Split name -> folder name in the iONMF/iDeepS layout ``<set>/30000/<folder>/sequences.fa.gz``."""

RBP31_SAMPLE_DIR = "30000"
RBP31_FILE_NAME = "sequences.fa.gz"

_RBP31_HEADER = re.compile(
    r"^(?P<chrom>[^,\s;]+),(?P<strand>[+-]),(?P<start>\d+),(?P<end>\d+)\s*(?:;(?P<rest>.*))?$"
)
_RBP31_HEADER_STRICT = re.compile(r"^ ?([^,\s;]+),([+-]),(\d+),(\d+); class:([01])$")
_RBP31_SET = re.compile(r"^(?P<number>\d+)_(?P<name>.+)$")


def parse_rbp31_header(header: str) -> tuple[str, int, dict[str, Any]]:
    """Id ``chrom:strand:start-end``, label and coordinates from an RBP-31 header (``>`` removed).

    >>> parse_rbp31_header(" chr1,+,866159,866259; class:0")
    ('chr1:+:866159-866259', 0, {'chrom': 'chr1', 'strand': '+', 'start': 866159, 'end': 866259})
    """
    fast = _RBP31_HEADER_STRICT.match(header)
    if fast:  # the exact published form: skip the detailed checks below
        chrom, strand, start, end, label = fast.groups()
        meta = {"chrom": chrom, "strand": strand, "start": int(start), "end": int(end)}
        return f"{chrom}:{strand}:{start}-{end}", int(label), meta
    match = _RBP31_HEADER.match(header.strip())
    if not match:
        raise ValueError(f"header {header!r} is not of the RBP-31 form 'chr1,+,866159,866259; class:0'")
    record_id = f"{match['chrom']}:{match['strand']}:{match['start']}-{match['end']}"
    label_match = _CLASS_LABEL.search(match["rest"] or "")
    if not label_match:
        raise ValueError(f"record {record_id!r}: header has no 'class:' label")
    if label_match["value"] not in ("0", "1"):
        raise ValueError(f"record {record_id!r}: class label must be 0 or 1, got {label_match['value']!r}")
    meta = {"chrom": match["chrom"], "strand": match["strand"], "start": int(match["start"]), "end": int(match["end"])}
    return record_id, int(label_match["value"]), meta


def user_split_path(set_dir: PathLikeStr, split: str) -> Path | None:
    """A user set's ``train`` or ``test`` file: ``<set_dir>/<split>.<fa|fasta|fna|fas|tsv|txt|csv>[.gz]``
    (labels as the command line reads them), or None when there is none; two candidates are an error."""
    if split not in RBP31_SPLITS:
        raise ValueError(f"split must be one of {sorted(RBP31_SPLITS)}, got {split!r}")
    found = [p for p in Path(set_dir).glob(f"{split}.*")
             if p.is_file() and _plain_suffix(p) in (*FASTA_SUFFIXES, *TABLE_SUFFIXES)]
    if len(found) > 1:
        raise DataFormatError(f"more than one {split} file: {sorted(p.name for p in found)}", set_dir)
    return found[0] if found else None


def list_rbp31_sets(root: PathLikeStr) -> list[str]:
    """Names of the sets under ``root``: the RBP-31 folders ``<number>_<experiment>`` by number or, in a folder of
    your own sets, every subfolder holding a ``train`` and a ``test`` file (:func:`user_split_path`), by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"RBP-31 folder not found: {root}")
    names = [p.name for p in root.iterdir() if p.is_dir() and _RBP31_SET.match(p.name)]
    if names:
        return sorted(names, key=lambda name: (int(_RBP31_SET.match(name)["number"]), name))  # type: ignore[index]
    users = sorted(p.name for p in root.iterdir() if p.is_dir() and user_split_path(p, "train") and user_split_path(p, "test"))
    if not users:
        raise FileNotFoundError(f"no sets in {root}: neither RBP-31 set folders (<number>_<experiment>/30000/...) nor "
                                "folders of your own sets (<name>/train.fa and <name>/test.fa, or .tsv/.csv)")
    return users


def find_rbp31_set(root: PathLikeStr, key: str | int) -> str:
    """The set folder name for a full name or its number (``23`` or ``"23"``; sets of your own: by name)."""
    names = list_rbp31_sets(root)
    if str(key) in names:
        return str(key)
    by_number = [n for n in names if (match := _RBP31_SET.match(n)) and match["number"] == str(key)]
    if len(by_number) == 1:
        return by_number[0]
    raise KeyError(f"no RBP-31 set {key!r} in {root}; available: {', '.join(names)}")


def rbp31_split_path(set_dir: PathLikeStr, split: str) -> Path:
    """Path of ``<set_dir>/30000/<training_sample_0|test_sample_0>/sequences.fa.gz``."""
    if split not in RBP31_SPLITS:
        raise ValueError(f"split must be one of {sorted(RBP31_SPLITS)}, got {split!r}")
    return Path(set_dir) / RBP31_SAMPLE_DIR / RBP31_SPLITS[split] / RBP31_FILE_NAME


def read_rbp31_file(path: PathLikeStr) -> list[SequenceRecord]:
    """Read one RBP-31 FASTA(.gz) file, checking headers, labels, unique ids and window lengths.

    The sequence length must equal ``end - start + 1`` of the header coordinates (101 nt in RBP-31),
    which also catches a file truncated inside its last record.
    """
    path = Path(path)
    records = []
    for entry, record in _iter_headed_records(path, parse_rbp31_header):
        expected = record.meta["end"] - record.meta["start"] + 1
        if record.length != expected:
            raise DataFormatError(
                f"sequence has {record.length} nt but the coordinates span {expected} nt (truncated file?)",
                path,
                entry.line,
                record.id,
            )
        records.append(record)
    _log_read(path, records)
    return records


def read_rbp31_split(
    root: PathLikeStr, set_name: str | int | None = None, split: str = "train"
) -> list[SequenceRecord]:
    """Read the train or test split of one RBP-31 set, or of a set of your own.

    ``root`` is either the RBP-31 folder (``<data_dir>/rbp31``; then ``set_name`` is the set's folder
    name or number) or, with ``set_name=None``, one set's folder. A folder of your own sets has one subfolder per
    set with ``train`` and ``test`` files in a format the command line reads (:func:`user_split_path`).
    """
    set_dir = Path(root) if set_name is None else Path(root) / find_rbp31_set(root, set_name)
    path = rbp31_split_path(set_dir, split)
    if path.is_file():
        return read_rbp31_file(path)
    user = user_split_path(set_dir, split)
    if user is not None:  # a set of your own: labelled FASTA or table, read as the command line reads it
        records = read_labeled_sequences(user)
        _log_read(user, records)
        return records
    raise FileNotFoundError(f"{split} file not found in {set_dir}: neither {path.relative_to(set_dir)} (RBP-31) nor "
                            f"{split}.fa / {split}.tsv (a set of your own)")


def iter_rbp31(
    root: PathLikeStr, split: str = "train", sets: Iterable[str | int] | None = None, progress: bool = True
) -> Iterator[tuple[str, list[SequenceRecord]]]:
    """Yield ``(set name, records)`` for each RBP-31 set (all sets by default), one set in memory at a time."""
    names = list_rbp31_sets(root) if sets is None else [find_rbp31_set(root, key) for key in sets]
    for name in tqdm(names, desc=f"RBP-31 {split}", unit="set", disable=not progress or None):
        yield name, read_rbp31_split(root, name, split)


# ----- MST-m6A ----------------------------------------------------------------------------------------------

MST_M6A_SOURCE_LENGTH = 201
"""Length of every MST-m6A window in the files."""
MST_M6A_CENTRE = 100
"""0-based index of the candidate adenosine in the 201-nt window."""
_MST_M6A_HEADER = ["index", "label", "text"]
_MST_M6A_FILE = re.compile(r"^(?P<dataset>.+)_(?P<split>train|test)\.tsv$")


def crop_centred(sequence: str, window: int, centre: int) -> str:
    """The ``window``-nt slice of ``sequence`` centred on index ``centre`` (``window`` must be odd).

    >>> crop_centred("AAAACUUUU", 3, 4)
    'ACU'
    >>> seq = "N" * 80 + "G" * 20 + "A" + "C" * 20 + "N" * 80
    >>> crop_centred(seq, 41, 100) == seq[80:121]
    True
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    half = window // 2
    if centre - half < 0 or centre + half >= len(sequence):
        raise ValueError(f"a {window}-nt window centred on {centre} does not fit a {len(sequence)}-nt sequence")
    return sequence[centre - half : centre + half + 1]


def list_mst_m6a_datasets(root: PathLikeStr) -> dict[str, tuple[str, ...]]:
    """Cell line / tissue -> available splits, from the ``<name>_<train|test>.tsv`` files under ``root``.

    In the published benchmark four cell lines (CD8T, HEK293T, HeLa, MOLM13) have a test file only. A folder
    without such files is read as a folder of your own sets: every subfolder with a ``test`` file
    (:func:`user_split_path`; a ``train`` file is optional) is a set, read by :func:`read_m6a_user_file`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"MST-m6A folder not found: {root}")
    found: dict[str, set[str]] = {}
    for path in root.iterdir():
        match = _MST_M6A_FILE.match(path.name)
        if match and path.is_file():
            found.setdefault(match["dataset"], set()).add(match["split"])
    if found:
        return {name: tuple(sorted(splits, reverse=True)) for name, splits in sorted(found.items())}
    users = {p.name: ("train", "test") if user_split_path(p, "train") else ("test",)
             for p in sorted(root.iterdir()) if p.is_dir() and user_split_path(p, "test")}
    if not users:
        raise FileNotFoundError(f"no m6A sets in {root}: neither MST-m6A files (<name>_train.tsv / <name>_test.tsv) "
                                "nor folders of your own sets (<name>/test.fa or .tsv/.csv, <name>/train.* optional)")
    return users


def read_mst_m6a_file(path: PathLikeStr, window: int | None = MST_M6A_SOURCE_LENGTH) -> list[SequenceRecord]:
    """Read one MST-m6A TSV, cropping ``window`` nt centred on the candidate A (index 100; None: all 201 nt).

    Checks the header, 0/1 labels (written ``1.0``/``0.0``), that ``Positive_*``/``Negative_*`` ids agree
    with the label, the 201-nt length and that the centre is ``A``. ``meta["centre"]`` is the index
    of the candidate A inside the returned window (``window // 2``).
    """
    path = Path(path)
    window = MST_M6A_SOURCE_LENGTH if window is None else window
    match = _MST_M6A_FILE.match(path.name)
    meta_base = {"dataset": match["dataset"], "split": match["split"]} if match else {}
    ids = _IdRegistry(path)
    records = []
    crop_centred("A" * MST_M6A_SOURCE_LENGTH, window, MST_M6A_CENTRE)  # validates the window size early
    lines = _text_lines(path)
    if not lines:
        raise DataFormatError("empty file (no header line)", path, 1)
    if lines[0].split("\t") != _MST_M6A_HEADER:
        raise DataFormatError(f"header must be {chr(9).join(_MST_M6A_HEADER)!r}, got {lines[0]!r}", path, 1)
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        record_id = fields[0].strip().lstrip(">")
        if len(fields) != 3:
            reason = f"expected 3 tab-separated fields, found {len(fields)}"
            raise DataFormatError(reason, path, lineno, record_id or None)
        if not record_id:
            raise DataFormatError("empty index (id)", path, lineno)
        ids.add(record_id, lineno)
        try:
            label = _binary_or_int_label(fields[1])
        except ValueError as exc:
            raise DataFormatError(str(exc), path, lineno, record_id) from exc
        if label not in (0, 1):
            raise DataFormatError(f"label must be 0 or 1, got {fields[1]!r}", path, lineno, record_id)
        kind = record_id.split("_")[0].lower()
        if (kind == "positive" and label != 1) or (kind == "negative" and label != 0):
            raise DataFormatError(f"id says {kind} but the label is {fields[1]!r}", path, lineno, record_id)
        try:
            text = normalized_sequence(fields[2], record_id)
        except SequenceError as exc:
            raise DataFormatError(_without_record_prefix(str(exc), record_id), path, lineno, record_id) from exc
        if len(text) != MST_M6A_SOURCE_LENGTH:
            raise DataFormatError(
                f"window has {len(text)} nt, expected {MST_M6A_SOURCE_LENGTH}", path, lineno, record_id
            )
        if text[MST_M6A_CENTRE] != "A":
            reason = f"centre nucleotide (index {MST_M6A_CENTRE}) is {text[MST_M6A_CENTRE]!r}, not A"
            raise DataFormatError(reason, path, lineno, record_id)
        sequence = crop_centred(text, window, MST_M6A_CENTRE)
        records.append(_make_record(path, lineno, record_id, sequence, label, {**meta_base, "centre": window // 2}))
    if not records:
        raise DataFormatError("no records (only a header)", path)
    _log_read(path, records)
    return records


def read_mst_m6a(
    root: PathLikeStr, cell_line: str, split: str = "train", window: int | None = MST_M6A_SOURCE_LENGTH
) -> list[SequenceRecord]:
    """Read ``<root>/<cell_line>_<split>.tsv`` (root = ``<data_dir>/m6a/mst_m6a``); see :func:`read_mst_m6a_file`.

    ``window=41`` gives the paper's 41-nt windows (``text[80:121]``); ``None`` the whole windows. In a folder of
    your own sets (:func:`list_mst_m6a_datasets`) it reads ``<root>/<cell_line>/<split>.*`` with
    :func:`read_m6a_user_file`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(root) / f"{cell_line}_{split}.tsv"
    user = user_split_path(Path(root) / cell_line, split) if (Path(root) / cell_line).is_dir() else None
    if not path.is_file() and user is not None:  # a set of your own
        return read_m6a_user_file(user, window, meta={"dataset": cell_line, "split": split})
    if not path.is_file():
        available = list_mst_m6a_datasets(root)
        listing = ", ".join(f"{name} ({'+'.join(splits)})" for name, splits in available.items())
        raise FileNotFoundError(f"MST-m6A file not found: {path}; available: {listing}")
    return read_mst_m6a_file(path, window)


def _iter_labeled_lines(path: Path) -> Iterator[tuple[int, SequenceRecord]]:
    """``(line, record)`` of a labelled FASTA or table, read as :func:`read_labeled_sequences` reads it."""
    if _labeled_format(path) == "fasta":
        for entry, record in _iter_headed_records(path, parse_labeled_header):
            yield entry.line, record
    else:
        yield from _iter_table_records(path, None, "auto", True)


def read_m6a_user_file(
    path: PathLikeStr, window: int | None = None, meta: dict[str, Any] | None = None
) -> list[SequenceRecord]:
    """Read one file of your own m6A windows (labelled FASTA or TSV/CSV, as :func:`read_labeled_sequences`),
    cropping ``window`` nt centred on the candidate A (None: the whole windows).

    Every record is a window of one odd length (the first record's) whose middle nucleotide is the candidate
    adenosine, labelled 0 or 1; a window of another length, an even length, one shorter than ``window`` or a
    centre that is not ``A`` is a :class:`DataFormatError` naming the file, line and record.
    ``meta["centre"]`` is the index of the candidate A in the returned window; ``meta`` is added to each record's.
    """
    path = Path(path)
    if window is not None and (window < 1 or window % 2 == 0):
        raise ValueError(f"window must be a positive odd number, got {window}")
    records: list[SequenceRecord] = []
    first: tuple[str, int, int] | None = None  # id, line and length of the first window
    for line, record in _iter_labeled_lines(path):
        length = len(record.sequence)
        if first is None:
            if length % 2 == 0:
                raise DataFormatError(f"window has {length} nt, an even length: a window must have an odd length, "
                                      "centred on the candidate A", path, line, record.id)
            first = (record.id, line, length)
        elif length != first[2]:
            raise DataFormatError(f"window has {length} nt, but the file's first window ({first[0]!r}, line {first[1]}) "
                                  f"has {first[2]}: every window of a file must have the same length", path, line, record.id)
        if window is not None and length < window:
            raise DataFormatError(f"window has {length} nt, shorter than the {window}-nt window cropped around the "
                                  "candidate A", path, line, record.id)
        centre = length // 2
        if record.sequence[centre] != "A":
            reason = f"centre nucleotide (index {centre} of {length} nt) is {record.sequence[centre]!r}, not A"
            raise DataFormatError(reason, path, line, record.id)
        if record.label not in (0, 1):
            raise DataFormatError(f"label must be 0 or 1, got {record.label!r}", path, line, record.id)
        sequence = record.sequence if window is None else crop_centred(record.sequence, window, centre)
        kept = len(sequence) // 2
        records.append(_make_record(path, line, record.id, sequence, record.label, {**record.meta, **(meta or {}), "centre": kept}))
    if not records:
        raise DataFormatError("no records", path)
    _log_read(path, records)
    return records


# ----- DM3Loc -----------------------------------------------------------------------------------------------

LOCALIZATION_COMPARTMENTS: tuple[str, ...] = (
    "Nucleus",
    "Exosome",
    "Cytosol",
    "Cytoplasm",
    "Ribosome",
    "Membrane",
    "ER",
)
"""Order of the 7 label bits in the DM3Loc FASTA headers (from DM3Loc's predictor)."""

DM3LOC_FOLD_LIST_BITS: tuple[int, ...] = (0, 1, 3, 4, 5, 6)
"""7-bit positions kept in the 6-bit labels of DM3Loc's fold lists: bit 2 (Cytosol, a subset of
Cytoplasm) is removed, so the fold lists' own "cytosol" column is bit 3 (Cytoplasm) of the FASTA label."""

DM3LOC_FASTA_NAME = "modified_multilabel_seq_nonredundent.fasta"
DM3LOC_N_FOLDS = 5
_DM3LOC_FOLD_FILES = {"train": "Train", "valid": "Val", "test": "Test"}
_DM3LOC_HEADER = re.compile(
    r"^(?P<bits>[^,]*),ACCNUM:(?P<accnum>[^,]*),Gene_ID:(?P<gene_id>[^,]*),Gene_Name:(?P<gene_name>.*)$"
)


def parse_dm3loc_header(
    header: str, n_bits: int = len(LOCALIZATION_COMPARTMENTS)
) -> tuple[str, tuple[int, ...], dict[str, str]]:
    """ACCNUM, label bits and gene id/name from a DM3Loc header (``>`` removed).

    >>> parse_dm3loc_header("0100000,ACCNUM:NM_001507,Gene_ID:2862,Gene_Name:MLNR")
    ('NM_001507', (0, 1, 0, 0, 0, 0, 0), {'gene_id': '2862', 'gene_name': 'MLNR'})
    """
    match = _DM3LOC_HEADER.match(header.strip())
    if not match or not match["accnum"]:
        raise ValueError(f"header {header!r} is not of the form '0100000,ACCNUM:NM_...,Gene_ID:...,Gene_Name:...'")
    bits = match["bits"].strip()
    if len(bits) != n_bits or not _BITS.match(bits):
        raise ValueError(f"record {match['accnum']!r}: label {bits!r} is not a {n_bits}-character 0/1 string")
    return match["accnum"], tuple(int(b) for b in bits), {"gene_id": match["gene_id"], "gene_name": match["gene_name"]}


def fold_list_label(label: Sequence[int]) -> tuple[int, ...]:
    """The 6-bit label used in DM3Loc's fold lists: the 7-bit label with bit 2 (Cytosol) removed.

    >>> fold_list_label((1, 1, 0, 1, 0, 0, 1))
    (1, 1, 1, 0, 0, 1)
    """
    if len(label) != len(LOCALIZATION_COMPARTMENTS):
        raise ValueError(f"expected a {len(LOCALIZATION_COMPARTMENTS)}-bit label, got {tuple(label)}")
    return tuple(label[i] for i in DM3LOC_FOLD_LIST_BITS)


def read_dm3loc(root: PathLikeStr) -> list[SequenceRecord]:
    """Read ``<root>/modified_multilabel_seq_nonredundent.fasta`` (root = ``<data_dir>/localization/dm3loc``).

    id = ACCNUM, label = 7-tuple of 0/1 in :data:`LOCALIZATION_COMPARTMENTS` order,
    ``meta`` = ``gene_id``, ``gene_name``. Duplicate ACCNUMs raise.
    """
    return read_dm3loc_fasta(Path(root) / DM3LOC_FASTA_NAME)


def read_dm3loc_fasta(path: PathLikeStr) -> list[SequenceRecord]:
    """Read any FASTA with DM3Loc headers (``>0100000,ACCNUM:NM_...,Gene_ID:...,Gene_Name:...``), such as
    an independent localization test set; records as in :func:`read_dm3loc`."""
    path = Path(path)
    records = [record for _, record in _iter_headed_records(path, parse_dm3loc_header)]
    _log_read(path, records)
    return records


def _read_fold_list(
    path: Path, records: dict[str, SequenceRecord]
) -> list[str]:
    """ACCNUMs of one fold-list file, each checked against the FASTA records."""
    ids = _IdRegistry(path)
    accnums = []
    for lineno, line in enumerate(_text_lines(path), start=1):
        if not line.strip():
            continue
        if not line.startswith(">"):
            raise DataFormatError("fold lists hold FASTA headers only; line does not start with '>'", path, lineno)
        try:
            accnum, bits6, meta = parse_dm3loc_header(line[1:], n_bits=len(DM3LOC_FOLD_LIST_BITS))
        except ValueError as exc:
            raise _header_error(exc, path, lineno, line[1:]) from exc
        ids.add(accnum, lineno)
        record = records.get(accnum)
        if record is None:
            raise DataFormatError("ACCNUM not found in the DM3Loc FASTA", path, lineno, accnum)
        assert isinstance(record.label, tuple)
        expected = fold_list_label(record.label)
        if bits6 != expected:
            raise DataFormatError(
                f"6-bit label {''.join(map(str, bits6))} does not equal the FASTA label "
                f"{''.join(map(str, record.label))} without bit 2 ({''.join(map(str, expected))})",
                path,
                lineno,
                accnum,
            )
        if meta["gene_id"] != record.meta.get("gene_id") or meta["gene_name"] != record.meta.get("gene_name"):
            raise DataFormatError("gene id/name differ from the FASTA record", path, lineno, accnum)
        accnums.append(accnum)
    if not accnums:
        raise DataFormatError("empty fold list", path)
    return accnums


def read_dm3loc_folds(
    root: PathLikeStr, records: Sequence[SequenceRecord] | None = None
) -> dict[int, dict[str, list[str]]]:
    """The authors' 5 folds: ``{fold: {"train": [ACCNUM, ...], "valid": [...], "test": [...]}}``.

    Reads ``<root>/folds/{Train,Val,Test}{0..4}.txt`` and checks every header against the FASTA
    records (read from ``root`` unless given): the ACCNUM exists, gene id/name agree, and the 6-bit
    label equals the 7-bit label without bit 2. Within each fold, train/valid/test must be disjoint
    and together hold every record exactly once. (In the published lists the five test parts are
    disjoint but cover 17,287 of the 17,306 mRNAs: 19 are never in a test part.)
    """
    root = Path(root)
    by_id = {r.id: r for r in (read_dm3loc(root) if records is None else records)}
    folds: dict[int, dict[str, list[str]]] = {}
    for fold in range(DM3LOC_N_FOLDS):
        parts: dict[str, list[str]] = {}
        owner: dict[str, str] = {}
        for part, prefix in _DM3LOC_FOLD_FILES.items():
            path = root / "folds" / f"{prefix}{fold}.txt"
            parts[part] = _read_fold_list(path, by_id)
            for accnum in parts[part]:
                if accnum in owner:
                    raise DataFormatError(f"also listed in {owner[accnum]} of fold {fold}", path, None, accnum)
                owner[accnum] = part
        missing = [accnum for accnum in by_id if accnum not in owner]
        if missing:
            raise DataFormatError(
                f"fold {fold} leaves out {len(missing)} records (e.g. {', '.join(missing[:3])})", root / "folds"
            )
        folds[fold] = parts
    logger.info("read %d DM3Loc folds from %s", len(folds), root / "folds")
    return folds
