"""Motif discovery from per-nucleotide attention: high-attention regions, enrichment, merging, PWMs.

The steps follow DNABERT/3UTRBERT's ``find_motifs.py`` (ANCHORS.md §2.3) with its verified defects fixed
(§2.4, each one a regression test in ``tests/test_motifs.py``):

1. **High-attention regions** (:func:`high_attention_regions`): per sequence, positions whose score exceeds an
   explicit, recorded threshold (``factor x`` the sequence's mean score, or a per-sequence quantile; the
   original's scale-dependent ``score > 10 * min(score)`` is gone), in contiguous runs of at least ``min_len`` nt.
2. **Candidates** (:func:`candidate_motifs`): every substring of each chosen length (default 7, as in the paper)
   inside a region (a region shorter than the length is widened around its centre), with the positive sequence
   and start of each occurrence; or, with ``lengths=None``, each region's exact sequence (DNABERT).
3. **Enrichment** (:func:`enrichment_test`): each candidate counted once per sequence in positives and in
   negatives; one-sided hypergeometric test ``P(X >= x)`` with ``N = n_pos + n_neg``, ``K = n_pos``,
   ``n`` = sequences containing it; Benjamini-Hochberg over all candidates.
4. **Merging** (:func:`merge_motifs`): significant candidates, shortest and most significant first, are aligned
   to the motifs kept so far with a fully specified aligner (:class:`AlignerScores`; no version-dependent
   defaults); a candidate joins every best-scoring motif when ties are kept (comparing *scores*, not alignment
   objects) or only the most significant one, else it starts a new motif. Offsets come from the alignment's
   coordinates for every geometry.
5. **Sites and PWMs** (:func:`motif_sites`): instances, placed in the merged motif's frame and de-duplicated, are
   cut into fixed windows (a window ending exactly at the sequence end is kept); PWMs over ``ACGU``.

:func:`discover_motifs` runs all of it and returns a :class:`MotifDiscovery` with its settings and provenance.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, hypergeom

from utrbert.motifs.pwm import Pwm, pwm_from_sites, trim_pwm
from utrbert.data.records import SequenceRecord

__all__ = [
    "RegionRule",
    "AlignerScores",
    "MotifSettings",
    "Candidate",
    "MergedMotif",
    "MotifDiscovery",
    "contiguous_regions",
    "high_attention_regions",
    "candidate_motifs",
    "count_sequences_with",
    "enrichment_test",
    "make_aligner",
    "best_alignments",
    "merge_motifs",
    "motif_sites",
    "discover_motifs",
]

logger = logging.getLogger(__name__)


# ----- settings -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionRule:
    """What counts as a high-attention region; every threshold explicit and recorded.

    ``rule="mean"``: score > ``factor`` x the sequence's mean score (scale-free: multiplying a sequence's scores
    by a constant changes nothing). ``rule="quantile"``: score >= the sequence's ``quantile``-th quantile.
    Runs shorter than ``min_len`` nt are ignored.
    """

    rule: Literal["mean", "quantile"] = "mean"
    factor: float = 1.0
    quantile: float = 0.8
    min_len: int = 5

    def __post_init__(self) -> None:
        if self.rule not in ("mean", "quantile"):
            raise ValueError(f"region rule must be 'mean' or 'quantile', got {self.rule!r}")
        if self.min_len < 1:
            raise ValueError(f"min_len must be >= 1, got {self.min_len}")
        if not 0 < self.quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {self.quantile}")


@dataclass(frozen=True)
class AlignerScores:
    """Every score of the motif aligner, set explicitly (Biopython's defaults changed between versions).

    Defaults: match +1, mismatch -1, no internal gaps (-10000), free end gaps (overhangs cost nothing).
    """

    match: float = 1.0
    mismatch: float = -1.0
    internal_gap: float = -10000.0
    end_gap: float = 0.0


@dataclass(frozen=True)
class MotifSettings:
    """All parameters of :func:`discover_motifs` (recorded next to its results)."""

    regions: RegionRule = field(default_factory=RegionRule)
    lengths: tuple[int, ...] | None = (7,)
    p_adjusted: float = 0.005
    aligner: AlignerScores = field(default_factory=AlignerScores)
    merge_min_score: float | None = None
    ties: Literal["all", "best"] = "all"
    window: int = 12
    min_instances: int = 3
    pseudocount: float = 0.01
    trim_min_ic: float | None = 0.3
    max_motifs: int | None = None

    def __post_init__(self) -> None:
        if self.lengths is not None and (not self.lengths or min(self.lengths) < 2):
            raise ValueError(f"candidate lengths must be >= 2, got {self.lengths}")
        if self.ties not in ("all", "best"):
            raise ValueError(f"ties must be 'all' or 'best', got {self.ties!r}")
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----- regions and candidates ---------------------------------------------------------------------------------


def contiguous_regions(mask: np.ndarray, min_len: int = 1) -> np.ndarray:
    """Half-open ``[start, end)`` runs of True in a 1-D mask that are at least ``min_len`` long.

    >>> contiguous_regions(np.array([0, 1, 1, 0, 1, 1, 1], dtype=bool), min_len=2).tolist()
    [[1, 3], [4, 7]]
    >>> contiguous_regions(np.array([1, 1, 0, 1], dtype=bool), min_len=2).tolist()
    [[0, 2]]
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 1:
        raise ValueError(f"mask must be 1-D, got shape {mask.shape}")
    edges = np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (ends - starts) >= min_len
    return np.stack([starts[keep], ends[keep]], axis=1) if keep.any() else np.zeros((0, 2), dtype=np.int64)


def high_attention_regions(scores: np.ndarray, rule: RegionRule = RegionRule()) -> np.ndarray:
    """High-attention runs of one sequence's per-nucleotide scores (NaN positions are never high).

    >>> high_attention_regions(np.array([1, 1, 5, 6, 5, 1, 1.0]), RegionRule(min_len=3)).tolist()
    [[2, 5]]
    """
    values = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros((0, 2), dtype=np.int64)
    if rule.rule == "mean":
        threshold = rule.factor * float(values[finite].mean())
        mask = finite & (np.where(finite, values, -np.inf) > threshold)
    else:
        threshold = float(np.quantile(values[finite], rule.quantile))
        mask = finite & (np.where(finite, values, -np.inf) >= threshold)
    return contiguous_regions(mask, rule.min_len)


@dataclass(frozen=True)
class Candidate:
    """A candidate motif and its occurrences in high-attention regions: ``(positive index, start)`` pairs."""

    motif: str
    occurrences: tuple[tuple[int, int], ...]


def _widen(start: int, end: int, length: int, n: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to ``length`` around its centre, inside ``[0, n)``."""
    extra = length - (end - start)
    start = max(0, start - extra // 2)
    end = start + length
    if end > n:
        end, start = n, n - length
    return start, end


def candidate_motifs(
    sequences: Sequence[str],
    scores: Sequence[np.ndarray],
    rule: RegionRule = RegionRule(),
    lengths: Sequence[int] | None = (7,),
) -> dict[str, Candidate]:
    """Candidate motifs from the high-attention regions of positive sequences (see the module docstring).

    Substrings containing ``N`` are not candidates. Scores must be per nucleotide (``len(scores[i]) ==
    len(sequences[i])``).

    >>> cands = candidate_motifs(["AAUGUACAUAA"], [np.array([0, 0, 1, 9, 9, 9, 9, 9, 1, 0, 0.0])], lengths=(5,))
    >>> {m: c.occurrences for m, c in sorted(cands.items())}
    {'GUACA': ((0, 3),)}
    """
    if len(sequences) != len(scores):
        raise ValueError(f"{len(sequences)} sequences but {len(scores)} score vectors")
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for index, (sequence, values) in enumerate(zip(sequences, scores)):
        if len(values) != len(sequence):
            raise ValueError(f"positive {index}: {len(values)} scores for a {len(sequence)}-nt sequence")
        for start, end in high_attention_regions(values, rule):
            if lengths is None:
                pieces = [(int(start), sequence[start:end])]
            else:
                pieces = []
                for length in lengths:
                    if length > len(sequence):
                        continue
                    lo, hi = (start, end) if end - start >= length else _widen(int(start), int(end), length, len(sequence))
                    pieces += [(s, sequence[s:s + length]) for s in range(lo, hi - length + 1)]
            for s, text in pieces:
                if "N" not in text:
                    found[text].append((index, int(s)))
    return {motif: Candidate(motif, tuple(dict.fromkeys(occ))) for motif, occ in found.items()}


# ----- enrichment ---------------------------------------------------------------------------------------------


def count_sequences_with(motifs: Sequence[str], sequences: Sequence[str]) -> dict[str, int]:
    """How many sequences contain each motif at least once (exact, overlapping matches count once).

    Uses one pass per motif length over every sequence's set of substrings of that length.

    >>> count_sequences_with(["AUA", "UUU"], ["AUAUA", "CCCC", "UUUUAUA"])
    {'AUA': 2, 'UUU': 1}
    """
    wanted = set(motifs)
    counts: Counter[str] = Counter()
    for length in sorted({len(m) for m in wanted}):
        of_length = {m for m in wanted if len(m) == length}
        for sequence in sequences:
            present = {sequence[i:i + length] for i in range(len(sequence) - length + 1)}
            counts.update(present & of_length)
    return {m: int(counts.get(m, 0)) for m in motifs}


def enrichment_test(motifs: Sequence[str], positives: Sequence[str], negatives: Sequence[str]) -> pd.DataFrame:
    """One-sided hypergeometric enrichment of each motif in positives over negatives, with BH adjustment.

    Columns ``motif, n_pos_with, n_neg_with, n_pos, n_neg, p, p_adjusted``, sorted by p (then motif).

    >>> table = enrichment_test(["UGUA"], ["AUGUAA", "UGUAC", "CUGUA"], ["AAAA", "CCCC", "GGUGUA"])
    >>> table[["n_pos_with", "n_neg_with"]].values.tolist(), round(float(table.p[0]), 3)
    ([[3, 1]], 0.2)
    """
    if not positives or not negatives:
        raise ValueError(f"enrichment needs positives and negatives; got {len(positives)} and {len(negatives)}")
    motifs = list(dict.fromkeys(motifs))
    pos, neg = count_sequences_with(motifs, positives), count_sequences_with(motifs, negatives)
    n_pos, n_neg = len(positives), len(negatives)
    x = np.array([pos[m] for m in motifs], dtype=np.int64)
    n = x + np.array([neg[m] for m in motifs], dtype=np.int64)
    p = hypergeom.sf(x - 1, n_pos + n_neg, n_pos, n) if motifs else np.zeros(0)
    table = pd.DataFrame({"motif": motifs, "n_pos_with": x, "n_neg_with": n - x, "n_pos": n_pos, "n_neg": n_neg,
                          "p": np.clip(p, 0.0, 1.0)})
    table["p_adjusted"] = false_discovery_control(table["p"].to_numpy(), method="bh") if motifs else []
    return table.sort_values(["p", "motif"], kind="stable").reset_index(drop=True)


# ----- merging ------------------------------------------------------------------------------------------------


def make_aligner(scores: AlignerScores = AlignerScores()) -> Any:
    """A global ``PairwiseAligner`` with every score set from ``scores`` (nothing left to version defaults)."""
    from Bio.Align import PairwiseAligner

    aligner = PairwiseAligner(mode="global")
    aligner.match_score = scores.match
    aligner.mismatch_score = scores.mismatch
    aligner.internal_gap_score = scores.internal_gap
    aligner.end_gap_score = scores.end_gap
    return aligner


def best_alignments(query: str, keys: Sequence[str], aligner: Any) -> tuple[float, list[tuple[int, int]]]:
    """The best score of ``query`` against ``keys`` and every ``(key index, offset)`` reaching it.

    ``offset`` is where the query's first letter falls in the key's coordinates (negative when the query hangs
    over the key's left end), taken from the alignment's coordinates, so every geometry (query left of, right
    of, inside or around the key) is handled.

    >>> best_alignments("AUUUA", ["AUUU", "UUUA"], make_aligner())
    (4.0, [(0, 0), (1, -1)])
    """
    # scores first (no traceback, the cheap part), alignments only for the keys that can reach the best score
    scores = [float(aligner.score(query, key)) for key in keys]
    best, hits = -np.inf, []
    for index in sorted(range(len(keys)), key=lambda i: -scores[i]):
        if scores[index] < best:
            break
        alignment = next(iter(aligner.align(query, keys[index])))
        segments = alignment.aligned
        if len(segments[0]) == 0:  # nothing aligned: not a candidate key (the next best score may be)
            continue
        best = scores[index]
        hits.append((index, int(segments[1][0][0]) - int(segments[0][0][0])))
    return float(best), sorted(hits)


@dataclass
class MergedMotif:
    """A merged motif: its key (first member), members with their offsets, and de-duplicated instances.

    ``instances`` are ``(positive index, start of the key's frame in that sequence)``.
    """

    key: str
    p: float
    p_adjusted: float
    n_pos_with: int
    n_neg_with: int
    members: dict[str, int] = field(default_factory=dict)
    instances: set[tuple[int, int]] = field(default_factory=set)


def merge_motifs(
    significant: pd.DataFrame,
    candidates: Mapping[str, Candidate],
    aligner: AlignerScores = AlignerScores(),
    min_len: int = 5,
    merge_min_score: float | None = None,
    ties: Literal["all", "best"] = "all",
) -> list[MergedMotif]:
    """Merge similar significant candidates (a table from :func:`enrichment_test`) by alignment.

    Candidates are taken shortest first, then by p-value, then alphabetically. Each is aligned to the keys of
    the motifs kept so far; when the best score reaches ``merge_min_score`` (default: the original rule,
    ``max(min_len - 1, 0.5 * min(len(candidate), len(key)))``) it joins the best key (``ties="best"``: the most
    significant of the tied keys; ``"all"``: every tied key), otherwise it becomes a new motif.
    """
    rows = significant.assign(_len=significant["motif"].str.len()).sort_values(["_len", "p", "motif"], kind="stable")
    tool = make_aligner(aligner)
    merged: list[MergedMotif] = []
    for row in rows.itertuples(index=False):
        motif = str(row.motif)
        if motif not in candidates:
            raise KeyError(f"significant motif {motif!r} has no candidate occurrences")
        hits: list[tuple[int, int]] = []
        if merged:
            score, tied = best_alignments(motif, [m.key for m in merged], tool)
            if tied:
                needed = merge_min_score
                if needed is None:
                    needed = max(min_len - 1, 0.5 * min(len(motif), min(len(merged[i].key) for i, _ in tied)))
                if score >= needed:
                    hits = tied if ties == "all" else tied[:1]  # keys are in significance order
        if not hits:
            merged.append(MergedMotif(motif, float(row.p), float(row.p_adjusted), int(row.n_pos_with),
                                      int(row.n_neg_with)))
            hits = [(len(merged) - 1, 0)]
        for index, offset in hits:
            target = merged[index]
            target.members[motif] = offset
            target.instances.update((seq, start - offset) for seq, start in candidates[motif].occurrences)
    return merged


def motif_sites(
    motif: MergedMotif, sequences: Sequence[str], window: int
) -> tuple[list[str], list[tuple[int, int]], int]:
    """Windows of ``window`` nt centred on the key's frame at each instance; windows outside a sequence are
    skipped (a window ending exactly at the sequence's end is kept). Returns ``(sites, (index, start), skipped)``.

    >>> m = MergedMotif("GUA", 0.0, 0.0, 1, 0, {"GUA": 0}, {(0, 1), (0, 6)})
    >>> motif_sites(m, ["AGUACCCGUA"], window=5)
    (['AGUAC', 'CCGUA'], [(0, 0), (0, 5)], 0)
    """
    centre_shift = len(motif.key) / 2 - window / 2
    sites, where, skipped = [], [], 0
    for index, frame in sorted(motif.instances):
        start = int(np.floor(frame + centre_shift + 0.5))
        end = start + window
        if start < 0 or end > len(sequences[index]):
            skipped += 1
            continue
        sites.append(sequences[index][start:end])
        where.append((index, start))
    return sites, where, skipped


# ----- the pipeline -------------------------------------------------------------------------------------------


@dataclass
class MotifDiscovery:
    """Result of :func:`discover_motifs`: one table row and one PWM per motif, plus what was tested."""

    table: pd.DataFrame
    pwms: list[Pwm]
    enrichment: pd.DataFrame
    settings: dict[str, Any]
    counts: dict[str, int]
    sites: dict[str, list[tuple[str, int]]]

    def pwm(self, name: str) -> Pwm:
        for pwm in self.pwms:
            if pwm.name == name:
                return pwm
        raise KeyError(f"no motif named {name!r}")


def _scores_for(records: Sequence[SequenceRecord], scores: Mapping[str, np.ndarray], what: str) -> list[np.ndarray]:
    out = []
    for record in records:
        if record.id not in scores:
            raise KeyError(f"{what} {record.id!r} has no attention scores")
        values = np.asarray(scores[record.id], dtype=np.float64)
        if values.ndim != 1 or len(values) != len(record.sequence):
            raise ValueError(f"{what} {record.id!r}: {values.shape} scores for a {len(record.sequence)}-nt sequence")
        out.append(values)
    return out


def _sequence_text(records: Sequence[SequenceRecord], what: str) -> list[str]:
    texts = []
    for record in records:
        text = record.sequence.upper().replace("T", "U")
        bad = set(text) - set("ACGUN")
        if bad:
            raise ValueError(f"{what} {record.id!r} has letters outside ACGUN: {sorted(bad)}")
        if not text:
            raise ValueError(f"{what} {record.id!r} is empty")
        texts.append(text)
    return texts


def discover_motifs(
    positives: Sequence[SequenceRecord],
    negatives: Sequence[SequenceRecord],
    scores: Mapping[str, np.ndarray],
    settings: MotifSettings = MotifSettings(),
) -> MotifDiscovery:
    """Attention-guided motif discovery: regions -> candidates -> enrichment -> merging -> PWMs.

    ``scores`` maps every positive's id to its per-nucleotide scores (negatives need none). The table has one row
    per merged motif with ``motif`` (a name ``motif_<n>_<key>``), ``consensus`` (of the PWM), ``key``,
    ``members``, ``instances``, ``n_pos_with``, ``n_neg_with``, ``p`` and ``p_adjusted`` (the key's), and
    ``skipped_windows``; motifs with fewer than ``min_instances`` sites are dropped.
    """
    repeated = sorted(i for i, n in Counter([r.id for r in positives] + [r.id for r in negatives]).items() if n > 1)
    if repeated:
        raise ValueError(f"sequence ids must be unique across positives and negatives; repeated: {repeated[:5]}")
    pos_text, neg_text = _sequence_text(positives, "positive"), _sequence_text(negatives, "negative")
    pos_scores = _scores_for(positives, scores, "positive")
    candidates = candidate_motifs(pos_text, pos_scores, settings.regions, settings.lengths)
    enrichment = enrichment_test(list(candidates), pos_text, neg_text)
    significant = enrichment[enrichment["p_adjusted"] < settings.p_adjusted]
    merged = merge_motifs(significant, candidates, settings.aligner, settings.regions.min_len,
                          settings.merge_min_score, settings.ties)
    rows, pwms, sites_of = [], [], {}
    for motif in merged:
        sites, where, skipped = motif_sites(motif, pos_text, settings.window)
        if len(sites) < settings.min_instances:
            continue
        name = f"motif_{len(rows) + 1}_{motif.key}"
        pwm = pwm_from_sites(sites, name=name, pseudocount=settings.pseudocount,
                             meta={"key": motif.key, "window": settings.window})
        if settings.trim_min_ic is not None:
            pwm = trim_pwm(pwm, settings.trim_min_ic, min_width=min(len(motif.key), settings.window))
        pwms.append(pwm)
        sites_of[name] = [(positives[i].id, start) for i, start in where]
        rows.append({"motif": name, "consensus": pwm.consensus, "key": motif.key,
                     "members": ",".join(sorted(motif.members)), "n_members": len(motif.members),
                     "instances": len(sites), "n_pos_with": motif.n_pos_with, "n_neg_with": motif.n_neg_with,
                     "p": motif.p, "p_adjusted": motif.p_adjusted, "skipped_windows": skipped})
        if settings.max_motifs is not None and len(rows) >= settings.max_motifs:
            break
    columns = ["motif", "consensus", "key", "members", "n_members", "instances", "n_pos_with", "n_neg_with",
               "p", "p_adjusted", "skipped_windows"]
    counts = {"n_positive": len(positives), "n_negative": len(negatives), "n_candidates": len(candidates),
              "n_significant": int(len(significant)), "n_merged": len(merged), "n_motifs": len(rows)}
    logger.info("motifs: %(n_candidates)d candidates, %(n_significant)d significant, %(n_motifs)d motifs", counts)
    return MotifDiscovery(pd.DataFrame(rows, columns=columns), pwms, enrichment, settings.as_dict(), counts, sites_of)
