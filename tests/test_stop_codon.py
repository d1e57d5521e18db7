"""Density along the 3'UTR and the sliding-window correlation with distance from the stop codon."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr

from utrbert.data.stop_codon import distance_correlation, sliding_fraction, utr3_density


def test_density_integrates_to_one_and_rejects_bad_positions() -> None:
    rng = np.random.default_rng(0)
    table = utr3_density(rng.beta(1, 3, 1000), bins=10)
    assert table["n"].sum() == 1000 and (table["density"] * 0.1).sum() == pytest.approx(1.0)
    assert table["n"].iloc[0] > table["n"].iloc[-1]  # beta(1, 3): sites pile up near the stop codon
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        utr3_density(np.array([1.2]))


def test_sliding_fraction_matches_a_direct_count() -> None:
    rng = np.random.default_rng(1)
    pos, flag = rng.random(500), rng.random(500) < 0.3
    table = sliding_fraction(pos, flag, width=0.2, step=0.1)
    assert table["start"].round(6).tolist() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    for row in table.itertuples():
        inside = (pos >= row.start) & ((pos < row.end) | (row.end >= 1.0) & (pos <= 1.0))
        assert row.n == inside.sum() and row.fraction == pytest.approx(flag[inside].mean())


def test_a_planted_decline_with_distance_gives_a_negative_correlation_and_none_gives_none() -> None:
    rng = np.random.default_rng(2)
    pos = rng.random(4000)
    declining = rng.random(4000) < 0.6 - 0.5 * pos
    result = distance_correlation(pos, declining)
    assert result.r < -0.9 and result.p < 1e-6 and result.n_sites == 4000
    assert result.r == pytest.approx(pearsonr(result.table["centre"], result.table["fraction"]).statistic)
    flat = distance_correlation(pos, rng.random(4000) < 0.3)
    assert abs(flat.r) < 0.8
    with pytest.raises(ValueError, match="too few"):
        distance_correlation(pos[:5], declining[:5], min_sites=10)
