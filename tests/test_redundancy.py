"""CD-HIT-EST redundancy removal: .clstr parsing always; the real program when it is installed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from utrbert.data.records import SequenceRecord
from utrbert.data.redundancy import cd_hit_est, parse_clusters
from utrbert.data.synthetic import random_utr

needs_cd_hit = pytest.mark.skipif(shutil.which("cd-hit-est") is None, reason="cd-hit-est is not installed")


def test_parse_clusters_maps_every_member_to_its_representative() -> None:
    text = (">Cluster 0\n0\t41nt, >x_1... at +/85.00%\n1\t41nt, >x_2... *\n"
            ">Cluster 1\n0\t41nt, >x_3... *\n")
    assert parse_clusters(text) == {"x_1": "x_2", "x_2": "x_2", "x_3": "x_3"}
    with pytest.raises(ValueError, match="representative"):
        parse_clusters(">Cluster 0\n0\t41nt, >x_1... at +/85.00%\n")
    with pytest.raises(ValueError, match="unreadable"):
        parse_clusters(">Cluster 0\nnonsense\n")


def test_missing_program_and_bad_ids_are_clear_errors() -> None:
    records = [SequenceRecord("a", "ACGU" * 10, 1)]
    with pytest.raises(FileNotFoundError, match="apt-get install cd-hit"):
        cd_hit_est(records, executable="no-such-cd-hit")
    if shutil.which("cd-hit-est"):
        with pytest.raises(ValueError, match="unique"):
            cd_hit_est(records * 2)
        with pytest.raises(ValueError, match="whitespace"):
            cd_hit_est([SequenceRecord("a b", "ACGU" * 10, 1)])


@needs_cd_hit
def test_near_copies_are_removed_and_reported_distinct_sequences_kept() -> None:
    rng = np.random.default_rng(0)
    originals = [random_utr(41, rng) for _ in range(20)]
    records = [SequenceRecord(f"orig_{i}", s, 1) for i, s in enumerate(originals)]
    for i in range(5):  # a copy of originals[i] with one substitution: 40/41 = 97.6% identical
        s = originals[i]
        swapped = s[:20] + ("A" if s[20] != "A" else "C") + s[21:]
        records.append(SequenceRecord(f"copy_{i}", swapped, 0))
    result = cd_hit_est(records, identity=0.8)
    assert result.summary()["n_input"] == 25 and len(result.kept) == 20
    for i in range(5):  # each pair collapsed to one of its two members, the other reported
        pair = {f"orig_{i}", f"copy_{i}"}
        kept = pair & {r.id for r in result.kept}
        assert len(kept) == 1 and result.removed[(pair - kept).pop()] == kept.pop()
    assert [r.id for r in result.kept] == [r.id for r in records if r.id in {k.id for k in result.kept}]  # input order
