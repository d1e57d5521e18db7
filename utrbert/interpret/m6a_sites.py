"""m6A analyses beyond the benchmark: [CLS] attention at the modified adenosine, DRACH in high-attention
regions, and predicted m6A probability over every DRACH adenosine of 3'UTRs (a metagene around the stop codon).

Sites are windows centred on a candidate adenosine (MST-m6A: index ``centre``); attention is the paper's Eq. 8
per nucleotide (:func:`utrbert.interpret.attention.cls_attention`, k-mers averaged). Because a ``[CLS]`` row sums to one
over its tokens, the *mean* attention over a whole input window says only how much went to ``[CLS]``/``[SEP]``;
the site's score relative to its window's mean (``site_relative``) is the scale-free measure.

>>> drach_sites("GGACUGAACA").tolist()  # the A of GGACU and of GAACA
[2, 7]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from utrbert.data.records import SequenceRecord, normalized_sequence

__all__ = ["DRACH_PATTERN", "drach_sites", "site_attention", "mann_whitney", "drach_in_regions", "peak_windows",
           "utr3_drach_windows", "metagene"]

logger = logging.getLogger(__name__)

DRACH_PATTERN = "DRACH"
"""The m6A consensus (D = A/G/U, R = A/G, H = A/C/U); the methylated A is its third letter."""
_DRACH = re.compile(r"(?=[AGU][AG]AC[ACU])")


def drach_sites(sequence: str) -> np.ndarray:
    """0-based positions of the central A of every DRACH (overlapping matches; T read as U, any case)."""
    text = sequence.upper().replace("T", "U")
    return np.array([m.start() + 2 for m in _DRACH.finditer(text)], dtype=np.int64)


def site_attention(
    model: Any,
    tokenizer: Any,
    records: Sequence[SequenceRecord],
    centre: int,
    flank: int = 20,
    layers: Sequence[int] = (-1,),
    device: str = "cpu",
    batch_size: int = 256,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per record: ``site`` (attention at ``centre``), ``window`` (mean over ``centre +- flank``) and
    ``site_relative`` (site / window); plus the per-nucleotide scores keyed by id."""
    from utrbert.interpret.attention import cls_attention

    if not records:
        raise ValueError("no records")
    short = [r.id for r in records if len(r.sequence) <= centre]
    if short:
        raise ValueError(f"{len(short)} records are too short for a site at index {centre}, e.g. {short[:3]}")
    encoding = tokenizer.encode_corpus([r.sequence for r in records], ids=[r.id for r in records])
    attention = cls_attention(model, encoding, batch_size=batch_size, layers=tuple(layers), device=device, progress=False)
    scores = attention.nucleotide_score_map()
    rows = []
    for record in records:
        values = scores[record.id]
        site = float(values[centre])
        window = float(np.nanmean(values[max(0, centre - flank): centre + flank + 1]))
        rows.append({"id": record.id, "label": record.label, "site": site, "window": window,
                     "site_relative": site / window if window > 0 else np.nan})
    return pd.DataFrame(rows), scores


def mann_whitney(positive: np.ndarray, negative: np.ndarray) -> dict[str, float]:
    """Mann-Whitney U of positives vs negatives (two-sided p), with ``auc`` = U / (n_pos n_neg)
    (0.5: no difference, above 0.5: positives higher).

    >>> round(mann_whitney(np.array([3.0, 4, 5]), np.array([0.0, 1, 2]))["auc"], 2)
    1.0
    """
    from scipy.stats import mannwhitneyu

    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"need values in both groups, got {len(pos)} positives and {len(neg)} negatives")
    result = mannwhitneyu(pos, neg, alternative="two-sided")
    return {"u": float(result.statistic), "p": float(result.pvalue), "auc": float(result.statistic) / (len(pos) * len(neg)),
            "n_pos": len(pos), "n_neg": len(neg), "median_pos": float(np.median(pos)), "median_neg": float(np.median(neg))}


def drach_in_regions(
    records: Sequence[SequenceRecord], scores: dict[str, np.ndarray], rule: Any = None, seed: int = 0
) -> tuple[dict[str, float], pd.DataFrame]:
    """How often high-attention regions hold a whole DRACH, against same-length regions placed at random in
    the same sequences (seeded). Returns a summary and one row per region (``id, start, end, mean_score,
    has_drach, control_has_drach``)."""
    from utrbert.motifs.discovery import RegionRule, high_attention_regions

    rule = RegionRule() if rule is None else rule
    rng = np.random.default_rng(seed)
    rows = []
    for record in records:
        if record.id not in scores:
            raise KeyError(f"no attention scores for {record.id!r}")
        text = normalized_sequence(record.sequence, record.id)
        values = np.asarray(scores[record.id], dtype=np.float64)
        if len(values) != len(text):
            raise ValueError(f"record {record.id!r}: {len(values)} scores for {len(text)} nt")
        starts = drach_sites(text) - 2  # DRACH start positions
        for start, end in high_attention_regions(values, rule):
            length = int(end - start)
            control = int(rng.integers(0, len(text) - length + 1))
            rows.append({"id": record.id, "start": int(start), "end": int(end), "mean_score": float(values[start:end].mean()),
                         "has_drach": bool(((starts >= start) & (starts + 5 <= end)).any()),
                         "control_has_drach": bool(((starts >= control) & (starts + 5 <= control + length)).any())})
    table = pd.DataFrame(rows, columns=["id", "start", "end", "mean_score", "has_drach", "control_has_drach"])
    summary = {"n_sequences": len(records), "n_regions": len(table),
               "fraction_with_drach": float(table["has_drach"].mean()) if len(table) else float("nan"),
               "control_fraction_with_drach": float(table["control_has_drach"].mean()) if len(table) else float("nan"),
               "rule": rule.rule, "factor": rule.factor, "quantile": rule.quantile, "min_len": rule.min_len}
    return summary, table


def peak_windows(records: Sequence[SequenceRecord], scores: dict[str, np.ndarray], width: int = 9, top: int = 500) -> list[str]:
    """The ``width``-nt windows centred on each sequence's highest-attention nucleotide, for the ``top``
    sequences by that peak score (for a positional logo); peaks too close to an end are shifted inside."""
    if width < 1 or width % 2 == 0:
        raise ValueError(f"width must be odd and positive, got {width}")
    peaks = []
    for record in records:
        values = np.asarray(scores[record.id], dtype=np.float64)
        text = normalized_sequence(record.sequence, record.id)
        if len(text) < width:
            raise ValueError(f"record {record.id!r} ({len(text)} nt) is shorter than width {width}")
        best = int(np.nanargmax(values))
        start = min(max(0, best - width // 2), len(text) - width)
        peaks.append((float(values[best]), text[start:start + width]))
    peaks.sort(key=lambda item: -item[0])
    return [window for _, window in peaks[:top]]


def utr3_drach_windows(
    mrnas: Sequence[SequenceRecord], window: int = 41, min_codons: int = 50
) -> tuple[list[SequenceRecord], dict[str, int]]:
    """One window of ``window`` nt centred on every DRACH adenosine in the 3'UTR of each mRNA (CDS: the longest
    ORF), with ``meta`` ``mrna, site, utr3_relative, distance_to_stop, centre``; sites whose window would leave
    the mRNA are counted, not scanned. Returns the windows and counts (mRNAs without a CDS are counted too)."""
    from utrbert.data.corpus import find_longest_orf

    if window < 5 or window % 2 == 0:
        raise ValueError(f"window must be odd and at least 5, got {window}")
    half = window // 2
    out: list[SequenceRecord] = []
    counts = {"mrnas": len(mrnas), "no_cds": 0, "sites": 0, "too_close_to_an_end": 0}
    for mrna in mrnas:
        text = normalized_sequence(mrna.sequence, mrna.id)
        call = find_longest_orf(text, min_codons=min_codons, record_id=mrna.id)
        if call is None:
            counts["no_cds"] += 1
            continue
        utr3_length = len(text) - call.stop_end
        for site in drach_sites(text[call.stop_end:]) + call.stop_end:
            counts["sites"] += 1
            if site - half < 0 or site + half >= len(text):
                counts["too_close_to_an_end"] += 1
                continue
            out.append(SequenceRecord(f"{mrna.id}:{site}", text[site - half: site + half + 1], None,
                                      {"mrna": mrna.id, "site": int(site), "centre": half,
                                       "utr3_relative": (site - call.stop_end) / utr3_length,
                                       "distance_to_stop": int(site - (call.stop_end - 3))}))
    return out, counts


def metagene(relative: np.ndarray, values: np.ndarray, bins: int = 20) -> pd.DataFrame:
    """Mean (and standard error) of ``values`` in ``bins`` equal bins of relative 3'UTR position [0, 1].

    >>> metagene(np.array([0.1, 0.2, 0.9]), np.array([1.0, 3.0, 5.0]), bins=2)[["n", "mean"]].values.tolist()
    [[2.0, 2.0], [1.0, 5.0]]
    """
    position = np.asarray(relative, dtype=np.float64)
    value = np.asarray(values, dtype=np.float64)
    if position.shape != value.shape:
        raise ValueError(f"{len(position)} positions but {len(value)} values")
    if np.any((position < 0) | (position > 1)):
        raise ValueError("relative positions must lie in [0, 1]")
    index = np.minimum((position * bins).astype(np.int64), bins - 1)
    rows = []
    for b in range(bins):
        inside = value[index == b]
        n = len(inside)
        rows.append({"start": b / bins, "end": (b + 1) / bins, "centre": (b + 0.5) / bins, "n": float(n),
                     "mean": float(inside.mean()) if n else np.nan,
                     "sem": float(inside.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan})
    return pd.DataFrame(rows)
