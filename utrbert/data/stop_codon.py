"""Where sites sit relative to the stop codon: density along the scaled 3'UTR, and the paper's sliding-window
fraction of high-attention sites against distance from the stop codon (Pearson r).

Inputs are per-site tables such as :func:`utrbert.data.transcript_mapping.map_windows` gives (``utr3_relative``,
``distance_to_stop``) joined **by id** with per-site values (an attention score, a prediction).

>>> sliding_fraction(np.array([0.1, 0.2, 0.6, 0.9]), np.array([1, 1, 0, 0]), width=0.5, step=0.5)[["centre", "n", "fraction"]].values.tolist()
[[0.25, 2.0, 1.0], [0.75, 2.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import pearsonr

__all__ = ["utr3_density", "sliding_fraction", "DistanceCorrelation", "distance_correlation"]


def utr3_density(relative: np.ndarray, bins: int = 20) -> pd.DataFrame:
    """Histogram of sites along the scaled 3'UTR (0 = stop codon, 1 = 3' end): ``start, end, n, density``.

    >>> utr3_density(np.array([0.05, 0.1, 0.95]), bins=2)["n"].tolist()
    [2, 1]
    """
    values = np.asarray(relative, dtype=np.float64)
    values = values[np.isfinite(values)]
    if np.any((values < 0) | (values > 1)):
        raise ValueError("relative positions must lie in [0, 1]")
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    density = counts / max(len(values), 1) * bins
    return pd.DataFrame({"start": edges[:-1], "end": edges[1:], "n": counts, "density": density})


def sliding_fraction(
    position: np.ndarray, flag: np.ndarray, width: float = 0.1, step: float = 0.05, lo: float = 0.0, hi: float = 1.0,
    min_sites: int = 1,
) -> pd.DataFrame:
    """Fraction of flagged sites (e.g. high-attention) in sliding windows ``[start, start + width)`` of position.

    Windows with fewer than ``min_sites`` sites are left out. Columns ``start, end, centre, n, fraction``.
    """
    pos = np.asarray(position, dtype=np.float64)
    flags = np.asarray(flag, dtype=np.float64)
    if pos.shape != flags.shape:
        raise ValueError(f"position and flag differ in length ({len(pos)} vs {len(flags)})")
    keep = np.isfinite(pos)
    pos, flags = pos[keep], flags[keep]
    rows = []
    start = lo
    while start + width <= hi + 1e-12:
        inside = (pos >= start) & ((pos < start + width) | ((start + width >= hi - 1e-12) & (pos <= hi)))
        n = int(inside.sum())
        if n >= min_sites:
            rows.append({"start": start, "end": start + width, "centre": start + width / 2, "n": float(n),
                         "fraction": float(flags[inside].mean())})
        start = round(start + step, 12)
    return pd.DataFrame(rows, columns=["start", "end", "centre", "n", "fraction"])


@dataclass(frozen=True)
class DistanceCorrelation:
    """Pearson correlation between window centre (distance from the stop codon) and the flagged fraction."""

    r: float
    p: float
    n_windows: int
    n_sites: int
    table: pd.DataFrame


def distance_correlation(
    position: np.ndarray, flag: np.ndarray, width: float = 0.1, step: float = 0.05, min_sites: int = 10
) -> DistanceCorrelation:
    """The paper's analysis: sliding-window fraction of high-attention sites against relative distance from
    the stop codon, and its Pearson r and p (needs at least three windows)."""
    table = sliding_fraction(position, flag, width, step, min_sites=min_sites)
    if len(table) < 3:
        raise ValueError(f"only {len(table)} windows with >= {min_sites} sites: too few for a correlation")
    result = pearsonr(table["centre"], table["fraction"])
    n_sites = int(np.isfinite(np.asarray(position, dtype=np.float64)).sum())
    return DistanceCorrelation(float(result.statistic), float(result.pvalue), len(table), n_sites, table)
