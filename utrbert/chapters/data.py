"""One-table overviews of the book's data sets (RBP-31, MST-m6A, DM3Loc folds), built from the readers.

These are what the data chapter shows; each row is keyed by data set and split, never by position.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import pandas as pd

from utrbert.data.readers import iter_rbp31, list_mst_m6a_datasets, read_mst_m6a
from utrbert.data.records import SequenceRecord
from utrbert.data.sequence_stats import ambiguous_by_label, binary_summary, kmer_enrichment, motif_match_fraction

__all__ = ["rbp31_overview", "mst_m6a_overview", "fold_sizes", "split_by_label", "short_set_name"]

PathLike = str | os.PathLike[str]


def split_by_label(records: Iterable[SequenceRecord]) -> tuple[list[str], list[str]]:
    """Sequences of the positive (label 1) and negative (label 0) records of a binary set."""
    positives, negatives = [], []
    for record in records:
        if record.label == 1:
            positives.append(record.sequence)
        elif record.label == 0:
            negatives.append(record.sequence)
        else:
            raise ValueError(f"record {record.id!r}: expected label 0 or 1, got {record.label!r}")
    return positives, negatives


def short_set_name(name: str, parts: int = 3) -> str:
    """The first underscore-separated parts of a long RBP-31 set name, for plot labels.

    >>> short_set_name("18_ICLIP_hnRNPL_Hela_group_3975_all-hnRNPL-Hela-hg19_sum_G_hg19")
    '18_ICLIP_hnRNPL'
    """
    return "_".join(name.split("_")[:parts])


def _ambiguous(records: list[SequenceRecord], label: int) -> int:
    table = ambiguous_by_label(records)
    return int(table.loc[label, "with_ambiguity_code"]) if label in table.index else 0


def rbp31_overview(
    root: PathLike, sets: Iterable[str | int] | None = None, k: int = 6, top: int = 3, progress: bool = True
) -> pd.DataFrame:
    """Per RBP-31 set: split sizes, positives, N-containing windows by label, top enriched k-mers (train).

    The N columns document a known shortcut of these files: N occurs only in negative windows.
    """
    test = {name: records for name, records in iter_rbp31(root, "test", sets, progress=False)}
    rows = []
    for name, train in iter_rbp31(root, "train", sets, progress=progress):
        train_summary = binary_summary(train)
        test_summary = binary_summary(test[name])
        positives, negatives = split_by_label(train)
        enriched = kmer_enrichment(positives, negatives, k).head(top).index
        rows.append(
            {
                "set": name,
                "train": train_summary["sequences"],
                "train_positive_fraction": train_summary["positive_fraction"],
                "test": test_summary["sequences"],
                "test_positive_fraction": test_summary["positive_fraction"],
                "length": f"{train_summary['length_min']}-{train_summary['length_max']}",
                "N_in_positives": _ambiguous(train, 1) + _ambiguous(test[name], 1),
                "N_in_negatives": _ambiguous(train, 0) + _ambiguous(test[name], 0),
                f"top_{k}mers_train": " ".join(enriched),
            }
        )
    return pd.DataFrame(rows).set_index("set")


def mst_m6a_overview(root: PathLike, window: int = 41, motifs: tuple[str, ...] = ("DRACH", "GGACU")) -> pd.DataFrame:
    """Per MST-m6A cell line or tissue and split: sizes, positives and the fraction matching each motif.

    Each motif is aligned so that its (first) A sits on the candidate adenosine, which the reader keeps at
    the window centre (DRACH: the A is its third letter; GGACU: its fourth).
    """
    centre = window // 2
    rows = []
    for dataset, splits in list_mst_m6a_datasets(root).items():
        for split in splits:
            records = read_mst_m6a(root, dataset, split, window=window)
            summary = binary_summary(records)
            positives, negatives = split_by_label(records)
            row = {
                "dataset": dataset,
                "split": split,
                "sequences": summary["sequences"],
                "positive_fraction": summary["positive_fraction"],
            }
            for motif in motifs:
                start = centre - motif.upper().index("A")
                row[f"{motif}_positives"] = motif_match_fraction(positives, motif, start)
                row[f"{motif}_negatives"] = motif_match_fraction(negatives, motif, start)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "split"])


def fold_sizes(folds: Mapping[int, Mapping[str, list[str]]]) -> pd.DataFrame:
    """Records per split (train/valid/test) of each cross-validation fold."""
    return pd.DataFrame(
        {fold: {split: len(ids) for split, ids in splits.items()} for fold, splits in sorted(folds.items())}
    ).T.rename_axis("fold")

