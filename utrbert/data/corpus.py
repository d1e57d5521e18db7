"""The 3'UTR pretraining corpus: CDS calling on full-length mRNAs, 3'UTR extraction, token windows.

Two routes to 3'UTRs:

* **full-length mRNAs without CDS coordinates** (DM3Loc's RefSeq NM_ transcripts):
  :func:`find_longest_orf` calls the CDS as the longest complete open reading frame on the forward
  strand and :func:`utr3_from_mrnas` keeps what follows the stop codon;
* **GENCODE annotation** (users with internet): :func:`utr3_from_gencode` takes the longest
  protein-coding transcript per gene from a GTF and cuts its 3'UTR from the transcript FASTA using the
  header's ``CDS:a-b`` field.

:func:`build_corpus` splits the 3'UTRs into train/held-out *by gene*, cuts them into explicit windows
(non-overlapping 510 nt by default, as in the paper) and tokenizes them with
:class:`utrbert.tokens.tokenization.KmerTokenizer`; :class:`Corpus` saves and loads the arrays with a
provenance file and checksums. Nothing is dropped silently: every mRNA, transcript or 3'UTR left out
appears in an ``excluded`` table (``id``, ``reason``, ``detail``).

ORF conventions (:func:`find_longest_orf`):

* an ORF starts at ``AUG`` and ends with the first in-frame stop (``UAA``, ``UAG``, ``UGA``), which it
  includes; only the forward strand is searched (mRNAs are sense strand);
* an ORF is *maximal*: its start is the first ``AUG`` after the previous in-frame stop, so an internal
  ``AUG`` of the same frame does not make a second ORF. Candidate ORFs are therefore one per stop codon;
* an ``AUG`` with no in-frame stop before the 3' end is **not** a complete CDS and is never called
  (its length is reported as ``OrfCall.open_length``); for full-length RefSeq mRNAs a CDS without a
  stop means a truncated record, and calling it would give no 3'UTR;
* the call is *ambiguous* when the runner-up ORF (any frame, forward strand) is at least
  ``ambiguity_fraction`` (default :data:`AMBIGUITY_FRACTION` = 0.9) of the longest one;
* ORFs with fewer than ``min_codons`` amino-acid codons (stop not counted; default
  :data:`MIN_CODONS` = 50) are not called.

>>> call = find_longest_orf("GGAUGAAAUAGCC", min_codons=1)
>>> (call.start, call.stop_end, call.n_codons, call.frame)
(2, 11, 2, 2)
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from utrbert.tokens.kmers import SUPPORTED_K, check_k
from utrbert.data.readers import iter_fasta
from utrbert.data.records import DataFormatError, SequenceRecord, index_by_id, normalized_sequence
from utrbert.data.registry import file_digest, md5_file
from utrbert.data.synthetic import as_generator
from utrbert.runs.store import atomic_write_json

__all__ = [
    "MIN_CODONS",
    "AMBIGUITY_FRACTION",
    "MIN_UTR3_LENGTH",
    "EXCLUDED_COLUMNS",
    "OrfCall",
    "find_longest_orf",
    "utr3_id",
    "utr3_from_mrnas",
    "parse_gtf_attributes",
    "read_gtf_transcripts",
    "parse_gencode_header",
    "utr3_from_gencode",
    "gene_key",
    "split_by_gene",
    "CorpusSplit",
    "Corpus",
    "CorpusChecksumError",
    "build_corpus",
    "orf_call_summary",
    "spot_check",
    "SPOT_CHECK_GENES",
]

logger = logging.getLogger(__name__)

PathLikeStr = str | PathLike[str]

MIN_CODONS = 50
"""Default minimum ORF length in amino-acid codons (stop codon not counted).

50 rather than the de-novo ORF finders' 100: the inputs are curated coding mRNAs (RefSeq NM_). On DM3Loc,
100 leaves out 436 mRNAs whose longest complete ORF has 36-99 codons, 50 leaves out 7."""

AMBIGUITY_FRACTION = 0.9
"""A call is ambiguous when the runner-up ORF is at least this fraction of the longest ORF's length."""

MIN_UTR3_LENGTH = max(SUPPORTED_K)
"""Default shortest 3'UTR kept (nt): one k-mer of the largest supported k."""

EXCLUDED_COLUMNS: tuple[str, ...] = ("id", "reason", "detail")
"""Columns of every ``excluded`` table."""

SPOT_CHECK_GENES: tuple[str, ...] = ("GAPDH", "ACTB", "TP53", "MYC", "EEF1A1", "TUBB", "B2M", "HPRT1")
"""Well-known genes for a by-eye check of the CDS calls."""

_STOP_CODONS = ("UAA", "UAG", "UGA")

# ----- longest ORF ------------------------------------------------------------------------------------------

_BASE_DIGIT = np.full(256, 4, dtype=np.int16)  # 4: not A/C/G/U (ambiguity code): no start, no stop
for _digit, _base in enumerate("ACGU"):
    _BASE_DIGIT[ord(_base)] = _digit
_BASE_DIGIT[ord("T")] = _BASE_DIGIT[ord("U")]
del _digit, _base


def _codon_code(codon: str) -> int:
    """Integer code of an RNA codon (base-5 digits A=0, C=1, G=2, U=3).

    >>> _codon_code("AUG"), _codon_code("UAA")
    (17, 75)
    """
    digits = _BASE_DIGIT[np.frombuffer(codon.encode("ascii"), dtype=np.uint8)]
    return int(digits[0] * 25 + digits[1] * 5 + digits[2])


_START_CODE = _codon_code("AUG")
_STOP_CODES = np.array([_codon_code(c) for c in _STOP_CODONS], dtype=np.int16)


def _codon_codes(sequence: str) -> np.ndarray:
    """Code of the codon starting at every position (``len - 2`` values; see :func:`_codon_code`).

    >>> _codon_codes("AUGA").tolist()
    [17, 85]
    """
    digits = _BASE_DIGIT[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    if digits.shape[0] < 3:
        return np.empty(0, dtype=np.int16)
    return digits[:-2] * 25 + digits[1:-1] * 5 + digits[2:]


@dataclass(frozen=True)
class OrfCall:
    """The longest complete ORF of an mRNA: ``sequence[start:stop_end]`` is AUG ... stop (stop included).

    ``runner_up_length`` is the length (nt, stop included) of the second-longest complete ORF on the forward
    strand in any frame (0 if there is none); ``open_length`` the longest AUG-initiated reading frame that
    runs into the 3' end without a stop (not a CDS, reported for diagnosis).

    >>> OrfCall(start=10, stop_end=316, frame=1, runner_up_length=300).ambiguous
    True
    """

    start: int
    stop_end: int
    frame: int
    runner_up_length: int = 0
    open_length: int = 0
    ambiguity_fraction: float = AMBIGUITY_FRACTION

    @property
    def length(self) -> int:
        """CDS length in nt, stop codon included."""
        return self.stop_end - self.start

    @property
    def n_codons(self) -> int:
        """Amino-acid codons (stop codon not counted)."""
        return self.length // 3 - 1

    @property
    def runner_up_ratio(self) -> float:
        """Runner-up ORF length / longest ORF length (0 when there is no runner-up)."""
        return self.runner_up_length / self.length

    @property
    def ambiguous(self) -> bool:
        """True when the runner-up ORF is at least ``ambiguity_fraction`` of the longest."""
        return self.runner_up_ratio >= self.ambiguity_fraction


def _frame_orfs(starts: np.ndarray, stops: np.ndarray, n_nt: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Maximal complete ORFs of one frame as (starts, stop ends), plus the longest open-ended length.

    ``starts``/``stops`` are sorted AUG / stop-codon positions of one frame.

    >>> s, e, open_len = _frame_orfs(np.array([0, 3, 12]), np.array([9]), 20)
    >>> s.tolist(), e.tolist(), open_len
    ([0], [12], 6)
    """
    stop_index = np.searchsorted(stops, starts)
    complete = stop_index < stops.shape[0]
    open_starts = starts[~complete]
    open_length = int((n_nt - open_starts[0]) // 3 * 3) if open_starts.size else 0
    stop_index = stop_index[complete]
    unique, first = np.unique(stop_index, return_index=True)  # first AUG before each stop: maximal ORFs
    return starts[complete][first], stops[unique] + 3, open_length


def _all_orfs(sequence: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Starts and stop ends of every maximal complete forward ORF (all frames) and the longest open length.

    >>> s, e, _ = _all_orfs("AUGUAAAUGCCCUGA")
    >>> sorted(zip(s.tolist(), e.tolist()))
    [(0, 6), (6, 15)]
    """
    codes = _codon_codes(sequence)
    starts = np.flatnonzero(codes == _START_CODE)
    stops = np.flatnonzero(np.isin(codes, _STOP_CODES))
    orf_starts, orf_ends, open_length = [], [], 0
    for frame in range(3):
        frame_starts = starts[starts % 3 == frame]
        if not frame_starts.size:
            continue
        s, e, o = _frame_orfs(frame_starts, stops[stops % 3 == frame], len(sequence))
        orf_starts.append(s)
        orf_ends.append(e)
        open_length = max(open_length, o)
    if not orf_starts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), open_length
    return np.concatenate(orf_starts), np.concatenate(orf_ends), open_length


def find_longest_orf(
    sequence: str,
    min_codons: int = MIN_CODONS,
    ambiguity_fraction: float = AMBIGUITY_FRACTION,
    record_id: str | None = None,
) -> OrfCall | None:
    """The longest complete forward-strand ORF (AUG to first in-frame stop), or None if none has ``min_codons``.

    T or U, any case; ties go to the 5'-most ORF. See the module docstring for the conventions.

    >>> call = find_longest_orf("CCAUGAAACCCUAGGAUGUAA", min_codons=1)
    >>> call.start, call.stop_end, call.length, call.runner_up_length
    (2, 14, 12, 6)
    >>> find_longest_orf("ccatgaaaccc", min_codons=1) is None  # no stop codon: not a CDS
    True
    """
    if min_codons < 0:
        raise ValueError(f"min_codons must be non-negative, got {min_codons}")
    if not 0.0 < ambiguity_fraction <= 1.0:
        raise ValueError(f"ambiguity_fraction must be in (0, 1], got {ambiguity_fraction}")
    seq = normalized_sequence(sequence, record_id)
    starts, ends, open_length = _all_orfs(seq)
    if not starts.size:
        return None
    lengths = ends - starts
    order = np.lexsort((starts, -lengths))  # longest first, then 5'-most
    best = int(order[0])
    if lengths[best] // 3 - 1 < min_codons:
        return None
    runner_up = int(lengths[order[1]]) if order.shape[0] > 1 else 0
    start = int(starts[best])
    return OrfCall(start, int(ends[best]), start % 3, runner_up, open_length, ambiguity_fraction)


# ----- 3'UTRs from mRNAs ------------------------------------------------------------------------------------


def utr3_id(source_id: str) -> str:
    """Id of the 3'UTR record cut from mRNA or transcript ``source_id``.

    >>> utr3_id("NM_001507")
    'NM_001507|utr3'
    """
    return f"{source_id}|utr3"


def gene_key(record: SequenceRecord) -> str:
    """Gene of a record: ``meta["gene"]``, else ``meta["gene_id"]``, else the record id.

    >>> gene_key(SequenceRecord("NM_1", "A", meta={"gene_id": "7157"})), gene_key(SequenceRecord("x", "A"))
    ('7157', 'x')
    """
    for name in ("gene", "gene_id"):
        value = record.meta.get(name)
        if value not in (None, ""):
            return str(value)
    return record.id


def _excluded_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The ``excluded`` table (columns :data:`EXCLUDED_COLUMNS`), also when empty.

    >>> _excluded_frame([]).columns.tolist()
    ['id', 'reason', 'detail']
    """
    return pd.DataFrame(list(rows), columns=list(EXCLUDED_COLUMNS)).astype(object)


def _utr3_record(
    source: SequenceRecord, cds_start: int, cds_end: int, extra: Mapping[str, Any]
) -> SequenceRecord:
    """The 3'UTR record after ``cds_end`` with the source's label and metadata plus the CDS coordinates."""
    meta = dict(source.meta)
    meta.update(
        source_id=source.id,
        gene=gene_key(source),
        cds_start=cds_start,
        cds_end=cds_end,
        mrna_length=source.length,
        utr3_length=source.length - cds_end,
    )
    meta.update(extra)
    return SequenceRecord(utr3_id(source.id), source.sequence[cds_end:], source.label, meta)


def _too_short(record_id: str, utr3_length: int, min_length: int) -> dict[str, Any]:
    return {"id": record_id, "reason": "utr3_too_short", "detail": f"3'UTR of {utr3_length} nt < {min_length} nt"}


def utr3_from_mrnas(
    records: Iterable[SequenceRecord],
    min_length: int = MIN_UTR3_LENGTH,
    min_codons: int = MIN_CODONS,
    ambiguity_fraction: float = AMBIGUITY_FRACTION,
    progress: bool = True,
) -> tuple[list[SequenceRecord], pd.DataFrame]:
    """3'UTRs of full-length mRNAs: everything after the stop codon of the longest ORF.

    Returns ``(utr3_records, excluded)``. A 3'UTR record has id ``<mRNA id>|utr3``, the mRNA's label and
    metadata plus ``source_id, gene, cds_start, cds_end`` (0-based, end exclusive, stop included),
    ``cds_codons`` (amino acids), ``mrna_length, utr3_length, ambiguous, runner_up_ratio, open_length``.
    ``excluded`` lists every mRNA left out (reasons ``no_complete_orf``, ``utr3_too_short``).
    Duplicate mRNA ids raise :class:`ValueError`.
    """
    records = list(records)
    index_by_id(records, source="mRNA records")
    utrs: list[SequenceRecord] = []
    excluded: list[dict[str, Any]] = []
    for record in tqdm(records, desc="longest ORF", unit="mRNA", disable=not progress):
        call = find_longest_orf(record.sequence, min_codons, ambiguity_fraction, record.id)
        if call is None:
            excluded.append(
                {"id": record.id, "reason": "no_complete_orf", "detail": f"no AUG..stop ORF of >= {min_codons} codons"}
            )
            continue
        utr3_length = record.length - call.stop_end
        if utr3_length < min_length:
            excluded.append(_too_short(record.id, utr3_length, min_length))
            continue
        extra = {
            "cds_codons": call.n_codons,
            "ambiguous": call.ambiguous,
            "runner_up_ratio": round(call.runner_up_ratio, 4),
            "open_length": call.open_length,
            "cds_source": "longest_orf",
        }
        utrs.append(_utr3_record(record, call.start, call.stop_end, extra))
    logger.info("3'UTRs of %d / %d mRNAs; %d excluded", len(utrs), len(records), len(excluded))
    return utrs, _excluded_frame(excluded)


# ----- GENCODE route ----------------------------------------------------------------------------------------

_GTF_ATTRIBUTE = re.compile(r'\s*([^\s;]+)\s+(?:"([^"]*)"|([^;\s]+))\s*;?')


def parse_gtf_attributes(text: str) -> dict[str, str]:
    """Attributes of a GTF line (column 9); repeated keys (``tag``) are joined with ``,``.

    >>> parse_gtf_attributes('gene_id "G1"; transcript_id "T1.2"; tag "basic"; tag "CCDS"; level 2;')
    {'gene_id': 'G1', 'transcript_id': 'T1.2', 'tag': 'basic,CCDS', 'level': '2'}
    """
    attributes: dict[str, str] = {}
    for match in _GTF_ATTRIBUTE.finditer(text):
        value = match[2] if match[2] is not None else match[3]
        attributes[match[1]] = f"{attributes[match[1]]},{value}" if match[1] in attributes else value
    return attributes


def _open_gtf(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix.lower() == ".gz" else open(path, encoding="utf-8")


_GTF_TRANSCRIPT_FIELDS = ("transcript_id", "gene_id", "gene_name", "gene_type", "transcript_type", "tag")


def read_gtf_transcripts(gtf_path: PathLikeStr) -> pd.DataFrame:
    """One row per ``transcript`` line of a GENCODE (or Ensembl) GTF, optionally gzipped.

    Columns ``transcript_id, gene_id, gene_name, gene_type, transcript_type, tag``; Ensembl's
    ``gene_biotype``/``transcript_biotype`` are read as the types. A transcript line with fewer than 9
    columns or without ``transcript_id``/``gene_id`` raises :class:`DataFormatError`.
    """
    path = Path(gtf_path)
    rows: list[dict[str, str]] = []
    with _open_gtf(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.startswith("#") or not line.strip():
                continue
            columns = line.rstrip("\r\n").split("\t")
            if len(columns) != 9:
                raise DataFormatError(f"expected 9 tab-separated GTF columns, found {len(columns)}", path, lineno)
            if columns[2] != "transcript":
                continue
            attributes = parse_gtf_attributes(columns[8])
            attributes.setdefault("gene_type", attributes.get("gene_biotype", ""))
            attributes.setdefault("transcript_type", attributes.get("transcript_biotype", ""))
            for required in ("transcript_id", "gene_id"):
                if not attributes.get(required):
                    raise DataFormatError(f"transcript line without {required}", path, lineno)
            rows.append({name: attributes.get(name, "") for name in _GTF_TRANSCRIPT_FIELDS})
    if not rows:
        raise DataFormatError("no 'transcript' lines (not a GTF?)", path)
    logger.info("read %d transcripts from %s", len(rows), path)
    return pd.DataFrame(rows, columns=list(_GTF_TRANSCRIPT_FIELDS))


_RANGE_FIELD = re.compile(r"^(UTR5|CDS|UTR3):(\d+)-(\d+)$")


def parse_gencode_header(header: str) -> tuple[str, dict[str, Any]]:
    """Transcript id and fields of a GENCODE transcript FASTA header (``|``-separated, ``>`` removed).

    ``CDS:a-b`` (1-based, inclusive, stop codon included in GENCODE's ``pc_transcripts.fa``) becomes
    ``cds = (a - 1, b)`` in 0-based, end-exclusive coordinates; likewise ``UTR5``/``UTR3``.

    >>> tid, fields = parse_gencode_header(
    ...     "ENST01.1|ENSG01.2|OTTHUMG1|OTTHUMT1|ABC-201|ABC|30|UTR5:1-3|CDS:4-12|UTR3:13-30|")
    >>> tid, fields["gene_id"], fields["gene_name"], fields["cds"], fields["utr3"]
    ('ENST01.1', 'ENSG01.2', 'ABC', (3, 12), (12, 30))
    """
    parts = [p for p in header.strip().split("|")]
    if len(parts) < 2 or not parts[0]:
        raise ValueError(f"header {header!r} is not a GENCODE transcript header 'ENST...|ENSG...|...'")
    fields: dict[str, Any] = {"gene_id": parts[1]}
    if len(parts) > 5:
        fields.update(transcript_name=parts[4], gene_name=parts[5])
    for part in parts[2:]:
        match = _RANGE_FIELD.match(part)
        if match:
            fields[match[1].lower()] = (int(match[2]) - 1, int(match[3]))
    return parts[0], fields


def _pc_transcripts(gtf: pd.DataFrame) -> pd.DataFrame:
    """Transcripts that are protein coding and belong to protein-coding genes."""
    keep = (gtf["gene_type"] == "protein_coding") & (gtf["transcript_type"] == "protein_coding")
    return gtf[keep]


def _gencode_candidate(tid: str, sequence: str, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """Why transcript ``tid`` cannot give a 3'UTR (an excluded row), or None when it can."""
    cds = fields.get("cds")
    if cds is None:
        return {"id": tid, "reason": "no_cds_field", "detail": "FASTA header has no CDS:a-b field"}
    start, end = cds
    if not 0 <= start < end <= len(sequence):
        return {"id": tid, "reason": "cds_out_of_range", "detail": f"CDS {start + 1}-{end} in {len(sequence)} nt"}
    if sequence[end - 3 : end] not in _STOP_CODONS:
        return {"id": tid, "reason": "cds_without_stop", "detail": f"CDS ends in {sequence[end - 3:end]!r}"}
    return None


def utr3_from_gencode(
    gtf_path: PathLikeStr,
    transcripts_fasta_path: PathLikeStr,
    min_length: int = MIN_UTR3_LENGTH,
) -> tuple[list[SequenceRecord], pd.DataFrame]:
    """3'UTRs of the longest protein-coding transcript per gene from a GENCODE GTF + transcript FASTA.

    Choice: transcript and gene types come from the GTF (``gene_type`` and ``transcript_type`` both
    ``protein_coding``); the CDS comes from the FASTA header's ``CDS:a-b`` field (GENCODE
    ``pc_transcripts.fa``, which includes the stop codon), checked to end in a stop codon — so incomplete
    CDSs (``cds_end_NF``) are excluded rather than given a wrong 3'UTR. The 3'UTR is the transcript
    sequence after the CDS end. Per gene, the longest transcript (then the smallest id) among those with a
    usable CDS is taken. ``excluded`` lists protein-coding transcripts missing from the FASTA or with an
    unusable CDS, genes left without any usable transcript, and chosen 3'UTRs shorter than ``min_length``.
    """
    pc = _pc_transcripts(read_gtf_transcripts(gtf_path))
    wanted = dict(zip(pc["transcript_id"], pc["gene_id"]))
    names = dict(zip(pc["transcript_id"], pc["gene_name"]))
    excluded: list[dict[str, Any]] = []
    usable: dict[str, list[SequenceRecord]] = {}
    seen: set[str] = set()
    fasta = Path(transcripts_fasta_path)
    for entry in iter_fasta(fasta):
        try:
            tid, fields = parse_gencode_header(entry.header)
        except ValueError as exc:
            raise DataFormatError(str(exc), fasta, entry.line) from exc
        if tid not in wanted or tid in seen:
            if tid in seen:
                raise DataFormatError("duplicate transcript id", fasta, entry.line, tid)
            continue
        seen.add(tid)
        meta = {"gene_id": wanted[tid], "gene_name": fields.get("gene_name", names[tid]),
                "transcript_name": fields.get("transcript_name", "")}  # fmt: skip
        try:
            record = SequenceRecord(tid, entry.sequence, None, meta)
        except ValueError as exc:
            raise DataFormatError(str(exc), fasta, entry.line, tid) from exc
        problem = _gencode_candidate(tid, record.sequence, fields)
        if problem:
            excluded.append(problem)
            continue
        record.meta["cds"] = fields["cds"]
        usable.setdefault(wanted[tid], []).append(record)
    excluded += [{"id": t, "reason": "not_in_fasta", "detail": "protein-coding in the GTF, absent from the FASTA"}
                 for t in wanted if t not in seen]  # fmt: skip
    utrs: list[SequenceRecord] = []
    for gene in dict.fromkeys(wanted.values()):
        candidates = usable.get(gene)
        if not candidates:
            excluded.append({"id": gene, "reason": "no_usable_transcript", "detail": "gene lost: see its transcripts"})
            continue
        best = min(candidates, key=lambda r: (-r.length, r.id))
        start, end = best.meta.pop("cds")
        if best.length - end < min_length:
            excluded.append(_too_short(best.id, best.length - end, min_length))
            continue
        extra = {"cds_codons": (end - start) // 3 - 1, "ambiguous": False, "runner_up_ratio": None,
                 "cds_source": "gencode"}  # fmt: skip
        utrs.append(_utr3_record(best, start, end, extra))
    logger.info("GENCODE: 3'UTRs of %d genes; %d excluded rows", len(utrs), len(excluded))
    return utrs, _excluded_frame(excluded)


# ----- corpus -----------------------------------------------------------------------------------------------


def split_by_gene(genes: Sequence[str], heldout_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask, True = held out, that puts every gene wholly in one split (deterministic for a seed).

    ``round(heldout_fraction * n_genes)`` genes are held out (at least one when the fraction is positive and
    there are two or more genes).

    >>> mask = split_by_gene(["a", "b", "a", "c"], 0.34, seed=0)
    >>> bool(mask[0] == mask[2]), int(mask.sum()) in (1, 2)
    (True, True)
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    unique = sorted(set(genes))
    n_heldout = int(round(heldout_fraction * len(unique)))
    if heldout_fraction > 0 and len(unique) > 1:
        n_heldout = min(max(n_heldout, 1), len(unique) - 1)
    order = as_generator(seed).permutation(len(unique))
    heldout = {unique[i] for i in order[:n_heldout]}
    return np.fromiter((g in heldout for g in genes), dtype=bool, count=len(genes))


@dataclass
class CorpusSplit:
    """Token windows of one split: ``input_ids`` (uint16), ``attention_mask`` (uint8), one table row per window."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    windows: pd.DataFrame

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class CorpusChecksumError(ValueError):
    """A saved corpus file whose sha256 differs from the one in ``corpus.json``."""


SPLITS: tuple[str, ...] = ("train", "heldout")
WINDOW_COLUMNS: tuple[str, ...] = ("record_id", "gene", "window", "start", "end")


@dataclass
class Corpus:
    """A tokenized 3'UTR corpus: train and held-out windows, the excluded records and provenance."""

    splits: dict[str, CorpusSplit]
    excluded: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: PathLikeStr) -> Path:
        """Write ``<split>.npz``, ``<split>_windows.tsv``, ``excluded.tsv`` and ``corpus.json`` (with sha256s)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        for name, split in self.splits.items():
            np.savez(out / f"{name}.npz", input_ids=split.input_ids, attention_mask=split.attention_mask)
            split.windows.to_csv(out / f"{name}_windows.tsv", sep="\t", index=False)
            files += [out / f"{name}.npz", out / f"{name}_windows.tsv"]
        self.excluded.to_csv(out / "excluded.tsv", sep="\t", index=False)
        files.append(out / "excluded.tsv")
        meta = dict(self.provenance, splits=list(self.splits), sha256={p.name: file_digest(p, "sha256") for p in files})
        atomic_write_json(out / "corpus.json", meta, indent=2)  # written last: its presence marks a whole corpus
        logger.info("saved corpus (%s windows) to %s", {n: len(s) for n, s in self.splits.items()}, out)
        return out

    @classmethod
    def load(cls, directory: PathLikeStr) -> Corpus:
        """Read a saved corpus; raise :class:`CorpusChecksumError` if any file's sha256 does not match."""
        root = Path(directory)
        meta = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
        for name, expected in meta["sha256"].items():
            if file_digest(root / name, "sha256") != expected:
                raise CorpusChecksumError(f"{root / name}: sha256 differs from corpus.json (file changed or corrupt)")
        splits = {}
        for name in meta["splits"]:
            with np.load(root / f"{name}.npz") as arrays:
                windows = pd.read_csv(root / f"{name}_windows.tsv", sep="\t", dtype={"record_id": str, "gene": str})
                splits[name] = CorpusSplit(arrays["input_ids"], arrays["attention_mask"], windows)
        excluded = pd.read_csv(root / "excluded.tsv", sep="\t", dtype=str, keep_default_na=False)
        provenance = {key: value for key, value in meta.items() if key not in ("splits", "sha256")}
        return cls(splits, excluded, provenance)


def _encode_split(records: Sequence[SequenceRecord], k: int, window_nt: int, stride_nt: int | None) -> CorpusSplit:
    """Windows of one split through ``KmerTokenizer(k).encode_corpus(...).windows(...)``, padded."""
    from utrbert.tokens.tokenization import KmerTokenizer  # heavy (transformers): imported on use

    width = window_nt - k + 3
    if not records:
        empty = np.zeros((0, width), dtype=np.uint16)
        return CorpusSplit(empty, empty.astype(np.uint8), pd.DataFrame(columns=list(WINDOW_COLUMNS)))
    encoding = KmerTokenizer(k=k).encode_corpus([r.sequence for r in records], ids=[r.id for r in records])
    windows = encoding.windows(window_nt, stride_nt, last="pad")
    arrays = windows.padded()
    genes = [gene_key(records[i]) for i in windows.record_index]
    table = pd.DataFrame(windows.table())
    table.insert(1, "gene", genes)
    return CorpusSplit(arrays["input_ids"].astype(np.uint16), arrays["attention_mask"].astype(np.uint8), table)


def build_corpus(
    utr_records: Sequence[SequenceRecord],
    k: int,
    window_nt: int = 510,
    stride_nt: int | None = None,
    heldout_fraction: float = 0.05,
    seed: int = 0,
    source: str | None = None,
    input_paths: Sequence[PathLikeStr] = (),
    excluded: pd.DataFrame | None = None,
) -> Corpus:
    """Split 3'UTRs by gene and cut them into padded token windows (default non-overlapping 510 nt).

    Genes come from :func:`gene_key`. Records shorter than ``k`` are excluded (reason
    ``shorter_than_k``) and appended to ``excluded`` (e.g. the table of :func:`utr3_from_mrnas`).
    ``source`` (data set name) and ``input_paths`` (with their md5) are recorded in the provenance.
    """
    from utrbert import __version__

    k = check_k(k)
    records = list(utr_records)
    index_by_id(records, source="3'UTR records")
    short = [r for r in records if r.length < k]
    rows = [{"id": r.id, "reason": "shorter_than_k", "detail": f"{r.length} nt < k={k}"} for r in short]
    records = [r for r in records if r.length >= k]
    all_excluded = pd.concat([_excluded_frame([]) if excluded is None else excluded, _excluded_frame(rows)],
                             ignore_index=True)  # fmt: skip
    heldout = split_by_gene([gene_key(r) for r in records], heldout_fraction, seed)
    parts = {
        "train": [r for r, h in zip(records, heldout) if not h],
        "heldout": [r for r, h in zip(records, heldout) if h],
    }
    splits = {name: _encode_split(part, k, window_nt, stride_nt) for name, part in parts.items()}
    provenance = {
        "source": source,
        "inputs": [{"path": str(p), "md5": md5_file(p)} for p in input_paths],
        "k": k,
        "window_nt": window_nt,
        "stride_nt": stride_nt if stride_nt is not None else window_nt,
        "heldout_fraction": heldout_fraction,
        "seed": seed,
        "utrbert_version": __version__,
        "counts": {
            **{f"{name}_records": len(part) for name, part in parts.items()},
            **{f"{name}_genes": len({gene_key(r) for r in part}) for name, part in parts.items()},
            **{f"{name}_windows": len(split) for name, split in splits.items()},
            **{f"{name}_nt": sum(r.length for r in part) for name, part in parts.items()},
            "excluded": len(all_excluded),
        },
    }
    logger.info("corpus k=%d: %s", k, provenance["counts"])
    return Corpus(splits, all_excluded, provenance)


# ----- reporting --------------------------------------------------------------------------------------------


def orf_call_summary(utr_records: Sequence[SequenceRecord], excluded: pd.DataFrame) -> dict[str, Any]:
    """Counts and 3'UTR length statistics of a :func:`utr3_from_mrnas` (or GENCODE) result.

    >>> utrs = [SequenceRecord("a|utr3", "ACGU", meta={"ambiguous": True}), SequenceRecord("b|utr3", "AC")]
    >>> s = orf_call_summary(utrs, _excluded_frame([{"id": "c", "reason": "no_complete_orf", "detail": ""}]))
    >>> s["inputs"], s["utr3"], s["ambiguous"], s["excluded"], s["utr3_total_nt"], s["utr3_length"]["median"]
    (3, 2, 1, {'no_complete_orf': 1}, 6, 3.0)
    """
    lengths = np.array([r.length for r in utr_records], dtype=np.int64)
    reasons = {str(k): int(v) for k, v in excluded["reason"].value_counts().sort_index().items()}
    stats = {"min": 0, "median": 0.0, "mean": 0.0, "max": 0}
    if lengths.size:
        stats = {"min": int(lengths.min()), "median": float(np.median(lengths)),
                 "mean": round(float(lengths.mean()), 1), "max": int(lengths.max())}  # fmt: skip
    return {
        "inputs": len(utr_records) + int((excluded["reason"] != "no_usable_transcript").sum()),
        "cds_called": len(utr_records) + reasons.get("utr3_too_short", 0),
        "utr3": len(utr_records),
        "ambiguous": sum(bool(r.meta.get("ambiguous")) for r in utr_records),
        "excluded": reasons,
        "utr3_total_nt": int(lengths.sum()),
        "utr3_length": stats,
    }


_SPOT_COLUMNS = ("gene_name", "found", "id", "cds_start", "cds_end", "cds_nt", "cds_aa", "utr3_length",
                 "ambiguous", "runner_up_ratio")  # fmt: skip


def spot_check(utr_records: Sequence[SequenceRecord], genes: Sequence[str] = SPOT_CHECK_GENES) -> pd.DataFrame:
    """CDS start/end and length of named genes, with their 3'UTR length and ambiguity.

    ``cds_nt`` includes the stop codon; ``cds_aa`` counts the codons without the stop.

    Genes are matched on ``meta["gene_name"]``; a gene with no 3'UTR record gets a row with ``found=False``.

    >>> rec = SequenceRecord("NM_1|utr3", "ACGU", meta={"gene_name": "G", "cds_start": 5, "cds_end": 17,
    ...                      "utr3_length": 4, "ambiguous": False, "runner_up_ratio": 0.1})
    >>> spot_check([rec], genes=("G", "X"))[["gene_name", "found", "cds_nt", "cds_aa"]].values.tolist()
    [['G', True, 12, 3], ['X', False, None, None]]
    """
    by_name: dict[str, list[SequenceRecord]] = {}
    for record in utr_records:
        by_name.setdefault(str(record.meta.get("gene_name", "")), []).append(record)
    rows: list[dict[str, Any]] = []
    for gene in genes:
        matches = by_name.get(gene, [])
        if not matches:
            rows.append({"gene_name": gene, "found": False})
        for record in matches:
            start, end = record.meta["cds_start"], record.meta["cds_end"]
            rows.append({
                "gene_name": gene, "found": True, "id": record.id, "cds_start": start, "cds_end": end,
                "cds_nt": end - start, "cds_aa": (end - start) // 3 - 1, "utr3_length": record.length,
                "ambiguous": record.meta.get("ambiguous"), "runner_up_ratio": record.meta.get("runner_up_ratio"),
            })  # fmt: skip
    rows = [{c: row.get(c) for c in _SPOT_COLUMNS} for row in rows]
    return pd.DataFrame(rows, columns=list(_SPOT_COLUMNS), dtype=object)
