"""Checks against the real public data (counts from the data sets' MANIFEST.md files).

Run only when the environment variable ``UTRBERT_DATA`` names the data directory; otherwise every
test here is skipped. Nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

from utrbert.tokens.kmers import SUPPORTED_K, kmer_vocab
from utrbert.data.readers import (
    LOCALIZATION_COMPARTMENTS,
    iter_rbp31,
    list_mst_m6a_datasets,
    list_rbp31_sets,
    read_dm3loc,
    read_dm3loc_folds,
    read_mst_m6a,
    read_rbp31_split,
)
from utrbert.data.registry import DATA_DIR_ENV, DATASETS, dataset_path, verify_dataset
from utrbert.data.synthetic import is_demo_data

logger = logging.getLogger(__name__)


pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def data_dir() -> Path:
    """The real data directory from ``UTRBERT_DATA``; skip when it is unset, missing or synthetic demo data."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    if not value:
        pytest.skip(f"{DATA_DIR_ENV} is not set: real-data tests skipped")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"{DATA_DIR_ENV}={value} does not exist: real-data tests skipped")
    if is_demo_data(path):
        pytest.skip(f"{DATA_DIR_ENV}={value} holds synthetic demo data, not the real data")
    return path


def folder(name: str, data_dir: Path) -> Path:
    path = data_dir / DATASETS[name].relative_path
    if not path.is_dir():
        pytest.skip(f"{name} not present under {data_dir}")
    return path


# ----- checksums --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_files_match_the_published_md5(name: str, data_dir: Path) -> None:
    folder(name, data_dir)
    report = verify_dataset(name, data_dir, progress=False)
    assert report.ok, report.summary()
    assert all(check.status == "ok" for check in report.checks)


def test_dataset_path_finds_every_registered_folder(data_dir: Path) -> None:
    for name in DATASETS:
        folder(name, data_dir)
        assert dataset_path(name, data_dir).is_dir()


# ----- RBP-31 -----------------------------------------------------------------------------------------------

RBP31_TRAIN_POSITIVES = {6: 3289, 7: 4197, 11: 5834}  # all other sets: 6000 (MANIFEST)


def test_rbp31_set1_counts(data_dir: Path) -> None:
    root = folder("rbp31", data_dir)
    train = read_rbp31_split(root, 1, "train")
    assert len(train) == 30000 and sum(r.label for r in train) == 6000  # type: ignore[misc]
    assert train[0].id.startswith("chr") and set(train[0].sequence) <= set("ACGUN")


@pytest.mark.slow
def test_rbp31_all_31_sets(data_dir: Path) -> None:
    """Every set: 30,000 train / 10,000 test, MANIFEST positives, 101 nt, disjoint splits, N only in negatives."""
    root = folder("rbp31", data_dir)
    sets = list_rbp31_sets(root)
    assert len(sets) == 31 and sets[0].startswith("1_") and sets[-1].startswith("31_")
    start = time.perf_counter()
    n_records = 0
    splits = zip(iter_rbp31(root, "train", progress=False), iter_rbp31(root, "test", progress=False))
    for (name, train), (_, test) in splits:
        number = int(name.split("_")[0])
        assert (len(train), len(test)) == (30000, 10000), name
        assert sum(r.label for r in train) == RBP31_TRAIN_POSITIVES.get(number, 6000), name  # type: ignore[misc]
        assert sum(r.label for r in test) == 2000, name  # type: ignore[misc]
        assert all(r.length == 101 for r in train) and all(r.length == 101 for r in test)
        assert not {r.id for r in train} & {r.id for r in test}, name
        assert not any("N" in r.sequence for r in train + test if r.label == 1), name  # README: N only in negatives
        n_records += len(train) + len(test)
    elapsed = time.perf_counter() - start
    logger.info("read %d RBP-31 records in %.1f s", n_records, elapsed)
    assert n_records == 1_240_000


# ----- MST-m6A ----------------------------------------------------------------------------------------------

MST_M6A_COUNTS = {  # (rows, positives) from the MANIFEST
    ("A549", "train"): (16818, 8418), ("A549", "test"): (1870, 926),
    ("CD8T", "test"): (2471, 1205),
    ("HCT116", "train"): (7323, 3650), ("HCT116", "test"): (815, 419),
    ("HEK293", "train"): (14797, 7402), ("HEK293", "test"): (1645, 819),
    ("HEK293T", "test"): (8864, 4472),
    ("HeLa", "test"): (2865, 1424),
    ("HepG2", "train"): (12711, 6366), ("HepG2", "test"): (1413, 696),
    ("MOLM13", "test"): (3053, 1515),
    ("brain", "train"): (7053, 3521), ("brain", "test"): (785, 398),
    ("kidney", "train"): (6123, 3044), ("kidney", "test"): (681, 358),
    ("liver", "train"): (2832, 1411), ("liver", "test"): (316, 163),
}  # fmt: skip


def test_mst_m6a_available_splits(data_dir: Path) -> None:
    available = list_mst_m6a_datasets(folder("mst_m6a", data_dir))
    assert {name for name, splits in available.items() if splits == ("test",)} == {"CD8T", "HEK293T", "HeLa", "MOLM13"}
    assert {(name, split) for name, splits in available.items() for split in splits} == set(MST_M6A_COUNTS)


def test_mst_m6a_a549_train_41nt(data_dir: Path) -> None:
    records = read_mst_m6a(folder("mst_m6a", data_dir), "A549", "train", window=41)
    assert len(records) == 16818
    assert all(r.length == 41 and r.sequence[20] == "A" for r in records)


@pytest.mark.parametrize(("dataset", "split"), sorted(MST_M6A_COUNTS))
def test_mst_m6a_counts(dataset: str, split: str, data_dir: Path) -> None:
    records = read_mst_m6a(folder("mst_m6a", data_dir), dataset, split)  # checks centre A on every row
    assert (len(records), sum(r.label for r in records)) == MST_M6A_COUNTS[(dataset, split)]  # type: ignore[misc]


# ----- DM3Loc -----------------------------------------------------------------------------------------------

DM3LOC_POSITIVES = (11923, 17156, 2338, 9652, 5210, 3232, 1976)  # MANIFEST, in LOCALIZATION_COMPARTMENTS order


@pytest.fixture(scope="module")
def dm3loc_records(data_dir: Path) -> list:
    return read_dm3loc(folder("dm3loc", data_dir))


def test_dm3loc_records_and_labels(dm3loc_records: list) -> None:
    assert len(dm3loc_records) == 17306
    assert len({r.meta["gene_id"] for r in dm3loc_records}) == 17306
    labels = np.array([r.label for r in dm3loc_records])
    assert tuple(labels.sum(axis=0).tolist()) == DM3LOC_POSITIVES
    cytosol, cytoplasm = LOCALIZATION_COMPARTMENTS.index("Cytosol"), LOCALIZATION_COMPARTMENTS.index("Cytoplasm")
    assert np.all(labels[:, cytosol] <= labels[:, cytoplasm])
    lengths = [r.length for r in dm3loc_records]
    assert (min(lengths), int(np.median(lengths)), max(lengths)) == (186, 2974, 104301)
    assert all(set(r.sequence) <= set("ACGU") for r in dm3loc_records)


def test_dm3loc_folds_are_consistent(data_dir: Path, dm3loc_records: list) -> None:
    folds = read_dm3loc_folds(folder("dm3loc", data_dir), dm3loc_records)  # checks labels, ids, partitions
    assert sorted(folds) == [0, 1, 2, 3, 4]
    tests = [set(parts["test"]) for parts in folds.values()]
    tested = set().union(*tests)
    assert sum(map(len, tests)) == len(tested)  # the five Test lists are disjoint ...
    # ... but (measured, not in the MANIFEST) cover 17,287 records: 19 mRNAs are in no Test list
    assert len({r.id for r in dm3loc_records} - tested) == 19
    assert (len(folds[0]["train"]), len(folds[0]["valid"]), len(folds[0]["test"])) == (11061, 2776, 3469)


# ----- vocabularies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", SUPPORTED_K)
def test_original_vocab_matches_kmer_vocab(k: int, data_dir: Path) -> None:
    lines = (folder("3utrbert_vocab", data_dir) / f"vocab-{k}.txt").read_text().split("\n")
    assert [line for line in lines if line] == kmer_vocab(k)
