"""Place short windows (m6A sites, CLIP windows) on full-length mRNAs by exact match, and name the region.

The CDS of each mRNA is the longest ORF (:func:`utrbert.data.corpus.find_longest_orf`), so a site is in the
**5'UTR** (before the start codon), the **CDS**, the **stop** region (within ``stop_flank`` nt of the stop
codon's first nucleotide, either side) or the **3'UTR** (after the stop codon, beyond the stop region). For
sites in the 3'UTR (stop region included when it lies after the stop), ``utr3_relative`` is the distance from
the end of the stop codon divided by the 3'UTR's length (0 at the stop codon, 1 at the poly(A) end).

Matching: every window is looked up by the 2-bit code of its central ``anchor`` nucleotides (a vectorised scan
over all transcripts, one pass), and each candidate hit is then confirmed by comparing the whole window. A
window with no hit is ``unmapped``; with hits on several transcripts or places it is ``multiple`` (reported,
never silently resolved); otherwise ``unique``.

>>> from utrbert.data.records import SequenceRecord
>>> mrna = SequenceRecord("NM_1", "GGGAUGAAACCCGGGUUUUAAGCAUUCA", None)
>>> windows = [SequenceRecord("s1", "CGGGUUUU", 1, {"centre": 3})]
>>> table = map_windows(windows, [mrna], anchor=8, stop_flank=2, min_codons=1)
>>> row = table.iloc[0]
>>> row["status"], row["transcript"], int(row["site"]), row["region"]
('unique', 'NM_1', 14, 'CDS')
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from utrbert.data.corpus import OrfCall, find_longest_orf
from utrbert.data.records import SequenceRecord, normalized_sequence

__all__ = ["REGIONS", "region_of", "map_windows", "mapping_summary"]

logger = logging.getLogger(__name__)

REGIONS: tuple[str, ...] = ("5'UTR", "CDS", "stop", "3'UTR")
"""Region names, 5' to 3'."""

_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate("ACGU"):
    _CODE[ord(_b)] = _i
del _i, _b


def region_of(site: int, cds_start: int, cds_end: int, stop_flank: int = 50) -> str:
    """The region of a 0-based ``site`` given the CDS ``[cds_start, cds_end)`` (stop codon included).

    >>> [region_of(s, 10, 100, stop_flank=5) for s in (3, 50, 93, 99, 101, 130)]
    ["5'UTR", 'CDS', 'stop', 'stop', 'stop', "3'UTR"]
    """
    stop_first = cds_end - 3
    if abs(site - stop_first) <= stop_flank:
        return "stop"
    if site < cds_start:
        return "5'UTR"
    if site < cds_end:
        return "CDS"
    return "3'UTR"


def _codes(sequence: str) -> np.ndarray:
    return _CODE[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]


def _kmer_hashes(codes: np.ndarray, k: int) -> np.ndarray:
    """2-bit packed codes of every k-mer (k <= 31); k-mers containing a non-ACGU letter get the value -1."""
    n = len(codes) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    bad = (codes == 255).astype(np.int64)
    clean = np.where(codes == 255, 0, codes).astype(np.int64)
    values = np.zeros(n, dtype=np.int64)
    for offset in range(k):
        values = (values << 2) | clean[offset:offset + n]
    bad_counts = np.convolve(bad, np.ones(k, dtype=np.int64), mode="valid")
    values[bad_counts > 0] = -1
    return values


def map_windows(
    windows: Sequence[SequenceRecord],
    mrnas: Sequence[SequenceRecord],
    centre: int | None = None,
    anchor: int = 25,
    stop_flank: int = 50,
    min_codons: int = 50,
) -> pd.DataFrame:
    """Place each window on the mRNAs; one row per window (see the module docstring).

    The window's site is ``meta["centre"]`` (or ``centre``, or the middle). Columns: ``id, label, status``
    (``unique``/``multiple``/``unmapped``), ``n_hits, transcript, window_start, site, cds_start, cds_end,
    utr3_length, region, distance_to_stop`` (site minus the stop codon's first nucleotide) and ``utr3_relative``.
    mRNAs without a complete ORF of ``min_codons`` are searched but give no region (``region`` "no CDS").
    """
    if not 8 <= anchor <= 31:
        raise ValueError(f"anchor must be between 8 and 31 nt, got {anchor}")
    texts = [normalized_sequence(w.sequence, w.id) for w in windows]
    centres = []
    for window, text in zip(windows, texts):
        c = centre if centre is not None else int(window.meta.get("centre", len(text) // 2))
        if not 0 <= c < len(text):
            raise ValueError(f"window {window.id!r}: centre {c} outside its {len(text)} nt")
        if len(text) < anchor:
            raise ValueError(f"window {window.id!r} ({len(text)} nt) is shorter than the anchor ({anchor} nt)")
        centres.append(c)
    # the anchor: `anchor` nt around the centre, inside the window
    anchors: dict[int, list[int]] = defaultdict(list)
    offsets = []
    for index, (text, c) in enumerate(zip(texts, centres)):
        start = min(max(0, c - anchor // 2), len(text) - anchor)
        offsets.append(start)
        value = _kmer_hashes(_codes(text[start:start + anchor]), anchor)
        if value[0] >= 0:
            anchors[int(value[0])].append(index)
    keys = np.sort(np.fromiter(anchors, dtype=np.int64, count=len(anchors)))
    hits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    mrna_texts = []
    for t, mrna in enumerate(mrnas):
        text = normalized_sequence(mrna.sequence, mrna.id)
        mrna_texts.append(text)
        values = _kmer_hashes(_codes(text), anchor)
        slot = np.minimum(np.searchsorted(keys, values), max(len(keys) - 1, 0))
        where = np.flatnonzero(keys[slot] == values) if len(keys) else np.zeros(0, dtype=np.int64)
        for position in where:
            for index in anchors[int(values[position])]:
                start = int(position) - offsets[index]
                if start >= 0 and mrna_texts[t][start:start + len(texts[index])] == texts[index]:
                    hits[index].append((t, start))
    calls: dict[int, OrfCall | None] = {}
    rows = []
    for index, window in enumerate(windows):
        found = sorted(set(hits.get(index, [])))
        row = {"id": window.id, "label": window.label, "status": "unmapped", "n_hits": len(found), "transcript": None,
               "window_start": np.nan, "site": np.nan, "cds_start": np.nan, "cds_end": np.nan, "utr3_length": np.nan,
               "region": None, "distance_to_stop": np.nan, "utr3_relative": np.nan}
        if len(found) > 1:
            row["status"] = "multiple"
            row["transcript"] = ",".join(sorted({mrnas[t].id for t, _ in found}))
        elif len(found) == 1:
            t, start = found[0]
            site = start + centres[index]
            if t not in calls:
                calls[t] = find_longest_orf(mrna_texts[t], min_codons=min_codons, record_id=mrnas[t].id)
            call = calls[t]
            row.update(status="unique", transcript=mrnas[t].id, window_start=start, site=site)
            if call is None:
                row["region"] = "no CDS"
            else:
                utr3_length = len(mrna_texts[t]) - call.stop_end
                row.update(cds_start=call.start, cds_end=call.stop_end, utr3_length=utr3_length,
                           region=region_of(site, call.start, call.stop_end, stop_flank),
                           distance_to_stop=site - (call.stop_end - 3))
                if site >= call.stop_end and utr3_length > 0:
                    row["utr3_relative"] = (site - call.stop_end) / utr3_length
        rows.append(row)
    table = pd.DataFrame(rows)
    logger.info("mapped %d windows: %s", len(table), table["status"].value_counts().to_dict())
    return table


def mapping_summary(table: pd.DataFrame) -> dict[str, int]:
    """Counts of windows by status and, for unique ones, by region."""
    summary = {f"n_{status}": int((table["status"] == status).sum()) for status in ("unique", "multiple", "unmapped")}
    summary["n_windows"] = len(table)
    unique = table[table["status"] == "unique"]
    for region in (*REGIONS, "no CDS"):
        summary[f"region_{region}"] = int((unique["region"] == region).sum())
    return summary
