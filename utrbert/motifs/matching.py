"""Compare motifs to a database with TOMTOM (the ``memelite`` implementation), RNA strand only.

For each query motif, TOMTOM gives a p-value against every target; here the E-value is ``p x n_targets`` and
the q-value is the Benjamini-Hochberg adjustment of that query's p-values over all targets (as MEME's tomtom
reports q-values per query). Reverse complements are never compared: RNA motifs have one strand.

The first call compiles memelite's kernels with numba (about 40 s on 2 cores; cached afterwards).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from utrbert.motifs.meme import rbp_of
from utrbert.motifs.pwm import Pwm

__all__ = ["tomtom_matches", "best_matches", "motif_similarity"]

logger = logging.getLogger(__name__)

MATCH_COLUMNS = ["query", "target", "target_rbp", "p", "e_value", "q", "offset", "overlap"]


def tomtom_matches(queries: Sequence[Pwm], targets: Sequence[Pwm], n_jobs: int = 1) -> pd.DataFrame:
    """Every query x target comparison: ``query, target, target_rbp, p, e_value, q, offset, overlap``.

    Rows are sorted by query (input order) then p-value. ``n_jobs`` sets memelite's numba threads.
    """
    from memelite import tomtom

    if not queries:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    if len(targets) < 2:
        raise ValueError("TOMTOM needs a database of at least two target motifs")
    qs = [np.ascontiguousarray(q.matrix.T) for q in queries]
    ts = [np.ascontiguousarray(t.matrix.T) for t in targets]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*targets.*", category=UserWarning)
        p, _scores, offsets, overlaps, _strands = tomtom(qs, ts, reverse_complement=False, n_jobs=n_jobs)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    frames = []
    target_names = [t.name for t in targets]
    target_rbps = [rbp_of(t) for t in targets]
    for i, query in enumerate(queries):
        q = false_discovery_control(p[i], method="bh")
        frames.append(pd.DataFrame({
            "query": query.name, "target": target_names, "target_rbp": target_rbps, "p": p[i],
            "e_value": p[i] * len(targets), "q": q, "offset": np.asarray(offsets[i], dtype=int),
            "overlap": np.asarray(overlaps[i], dtype=int),
        }).sort_values(["p", "target"], kind="stable"))
    return pd.concat(frames, ignore_index=True)


def best_matches(matches: pd.DataFrame) -> pd.DataFrame:
    """The lowest-p target of each query (ties: first target name), one row per query, in query order."""
    if matches.empty:
        return matches.copy()
    order = pd.unique(matches["query"])
    best = matches.sort_values(["query", "p", "target"], kind="stable").groupby("query", sort=False).head(1)
    return best.set_index("query").loc[order].reset_index()


def motif_similarity(motifs: Sequence[Pwm], n_jobs: int = 1) -> pd.DataFrame:
    """Symmetric ``-log10`` TOMTOM p-value between every pair of motifs (the smaller p of the two directions),
    labelled by motif name; the diagonal is the largest off-diagonal value (so it does not dominate a heatmap).
    """
    from memelite import tomtom

    names = [m.name for m in motifs]
    if len(set(names)) != len(names):
        raise ValueError("motif names must be unique")
    if len(motifs) < 2:
        raise ValueError("need at least two motifs to compare")
    arrays = [np.ascontiguousarray(m.matrix.T) for m in motifs]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*targets.*", category=UserWarning)
        p = np.asarray(tomtom(arrays, arrays, reverse_complement=False, n_jobs=n_jobs)[0], dtype=np.float64)
    p = np.minimum(p, p.T).clip(1e-300, 1.0)
    score = -np.log10(p)
    np.fill_diagonal(score, 0.0)
    np.fill_diagonal(score, score.max())
    return pd.DataFrame(score, index=names, columns=names)
