"""Placing windows on generated transcripts with known CDS and known site positions."""

from __future__ import annotations

import numpy as np
import pytest

from utrbert.data.records import SequenceRecord
from utrbert.data.transcript_mapping import map_windows, mapping_summary, region_of

STOPS = ("UAA", "UAG", "UGA")


def _transcript(rng: np.random.Generator, utr5: int, codons: int, utr3: int) -> tuple[str, int, int]:
    """5'UTR without AUG, AUG + sense codons + stop, random 3'UTR; returns (sequence, cds_start, cds_end)."""
    letters = np.array(list("ACGU"))
    while True:
        five = "".join(rng.choice(letters, utr5))
        if "AUG" not in five:
            break
    sense = [c for c in ("".join(t) for t in np.array(np.meshgrid(*[letters] * 3)).T.reshape(-1, 3)) if c not in STOPS]
    cds = "AUG" + "".join(rng.choice(sense, codons)) + str(rng.choice(STOPS))
    three = "".join(rng.choice(letters, utr3))
    return five + cds + three, utr5, utr5 + len(cds)


@pytest.fixture(scope="module")
def transcripts():
    rng = np.random.default_rng(0)
    out = []
    for i in range(12):
        seq, start, end = _transcript(rng, int(rng.integers(60, 200)), int(rng.integers(300, 500)), int(rng.integers(400, 1500)))
        out.append((SequenceRecord(f"NM_{i}", seq.replace("U", "T"), None), start, end))  # mRNAs in DNA letters
    return out


def _window(record: SequenceRecord, site: int, half: int = 20, wid: str = "w") -> SequenceRecord:
    seq = record.sequence.replace("T", "U")
    return SequenceRecord(wid, seq[site - half: site + half + 1], 1, {"centre": half})


def test_sites_land_where_they_were_cut_with_the_right_region(transcripts) -> None:
    rng = np.random.default_rng(1)
    windows, truth = [], []
    for n, (record, start, end) in enumerate(transcripts):
        utr3 = len(record.sequence) - end
        sites = {"5'UTR": start - 40 if start > 100 else None, "CDS": start + 120, "stop": end - 3 + 10,
                 "3'UTR": end + 60 + int(rng.integers(0, utr3 - 100))}
        for region, site in sites.items():
            if site is None or site - 20 < 0 or site + 21 > len(record.sequence):
                continue
            windows.append(_window(record, site, wid=f"{record.id}:{region}"))
            truth.append((record.id, site, region, start, end, utr3))
    table = map_windows(windows, [r for r, _, _ in transcripts], anchor=25, stop_flank=50).set_index("id")
    for (tid, site, region, start, end, utr3), window in zip(truth, windows):
        row = table.loc[window.id]
        assert row["status"] == "unique" and row["transcript"] == tid
        assert row["site"] == site and row["region"] == region
        assert (row["cds_start"], row["cds_end"], row["utr3_length"]) == (start, end, utr3)
        assert row["distance_to_stop"] == site - (end - 3)
        if site >= end:
            assert row["utr3_relative"] == pytest.approx((site - end) / utr3)
        else:
            assert np.isnan(row["utr3_relative"])
    summary = mapping_summary(table.reset_index())
    assert summary["n_unique"] == len(windows) and summary["region_CDS"] == len(transcripts)


def test_unmapped_and_multiple_windows_are_reported_not_resolved(transcripts) -> None:
    record, start, end = transcripts[0]
    good = _window(record, end + 100, wid="good")
    mutated = SequenceRecord("mutated", good.sequence[:5] + ("A" if good.sequence[5] != "A" else "C") + good.sequence[6:], 1,
                             {"centre": 20})
    copy = SequenceRecord("NM_copy", record.sequence, None)  # the same transcript twice: the window is ambiguous
    table = map_windows([good, mutated], [r for r, _, _ in transcripts] + [copy]).set_index("id")
    assert table.loc["good", "status"] == "multiple" and table.loc["good", "n_hits"] == 2
    assert set(table.loc["good", "transcript"].split(",")) == {record.id, "NM_copy"}
    assert table.loc["mutated", "status"] == "unmapped"  # a mismatch outside the anchor: the full check rejects it
    assert np.isnan(table.loc["mutated", "site"])


def test_bad_windows_name_the_record(transcripts) -> None:
    mrnas = [r for r, _, _ in transcripts]
    with pytest.raises(ValueError, match="'short'"):
        map_windows([SequenceRecord("short", "ACGUACGU", 1)], mrnas, anchor=25)
    with pytest.raises(ValueError, match="'off'"):
        map_windows([SequenceRecord("off", "ACGU" * 10, 1, {"centre": 99})], mrnas)


def test_region_boundaries() -> None:
    assert region_of(9, 10, 100, stop_flank=0) == "5'UTR" and region_of(10, 10, 100, stop_flank=0) == "CDS"
    assert region_of(97, 10, 100, stop_flank=0) == "stop" and region_of(100, 10, 100, stop_flank=0) == "3'UTR"
