"""Dataset overviews on generated demo data: counts and planted signals come back out."""

from __future__ import annotations

from pathlib import Path

import pytest

from utrbert.chapters.data import fold_sizes, mst_m6a_overview, rbp31_overview, split_by_label
from utrbert.data.readers import read_dm3loc, read_dm3loc_folds, read_mst_m6a, read_rbp31_split
from utrbert.data.records import SequenceRecord
from utrbert.data.synthetic import write_demo_data


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_data(tmp_path_factory.mktemp("demo"), seed=3)


def test_rbp31_overview_counts_each_split_and_finds_the_planted_motif(demo: Path) -> None:
    root = demo / "rbp31"
    table = rbp31_overview(root, k=4, top=5, progress=False)
    for name, row in table.iterrows():
        train = read_rbp31_split(root, name, "train")
        test = read_rbp31_split(root, name, "test")
        assert row["train"] == len(train) and row["test"] == len(test)
        assert row["train_positive_fraction"] == pytest.approx(sum(r.label for r in train) / len(train))
    pum = table.loc[[name for name in table.index if "PUM2" in name][0], "top_4mers_train"].split()
    assert {"UGUA", "GUAA", "GUAC", "GUAU"} & set(pum)


def test_mst_m6a_overview_has_a_row_per_file_and_motif_fractions_in_range(demo: Path) -> None:
    root = demo / "m6a" / "mst_m6a"
    table = mst_m6a_overview(root, window=41)
    for (dataset, split), row in table.iterrows():
        assert row["sequences"] == len(read_mst_m6a(root, dataset, split, window=41))
        for column in ("DRACH_positives", "DRACH_negatives", "GGACU_positives", "GGACU_negatives"):
            assert 0.0 <= row[column] <= 1.0


def test_fold_sizes_add_up_to_every_record(demo: Path) -> None:
    root = demo / "localization" / "dm3loc"
    records = read_dm3loc(root)
    sizes = fold_sizes(read_dm3loc_folds(root, records))
    assert (sizes.sum(axis=1) == len(records)).all()


def test_split_by_label_rejects_non_binary_labels() -> None:
    positives, negatives = split_by_label([SequenceRecord("a", "ACGU", 1), SequenceRecord("b", "GG", 0)])
    assert (positives, negatives) == (["ACGU"], ["GG"])
    with pytest.raises(ValueError, match="record 'c'"):
        split_by_label([SequenceRecord("c", "ACGU", 2)])
