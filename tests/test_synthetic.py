"""Synthetic 3'UTR generator and the demo data directory (read back with the real readers)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from utrbert.tokens.kmers import SUPPORTED_K, kmer_vocab
from utrbert.data.readers import (
    LOCALIZATION_COMPARTMENTS,
    list_mst_m6a_datasets,
    list_rbp31_sets,
    read_dm3loc,
    read_dm3loc_folds,
    read_labeled_sequences,
    read_mst_m6a,
    read_rbp31_split,
    rbp31_split_path,
)
from utrbert.data.synthetic import (
    DEMO_MARKER,
    IUPAC_RNA,
    MOTIFS,
    UTR_BASE_COMPOSITION,
    add_poly_a_signal,
    as_generator,
    find_motif,
    is_demo_data,
    make_binary_dataset,
    make_localization_dataset,
    make_m6a_windows,
    make_mrna,
    motif_instance,
    plant_motif,
    random_utr,
    write_demo_data,
)

STOPS = ("UAA", "UAG", "UGA")


def longest_orf(sequence: str) -> tuple[int, int]:
    """(start, end incl. stop) of the longest AUG...stop ORF on the given strand (test oracle)."""
    best = (0, 0)
    for frame in range(3):
        start = None
        for i in range(frame, len(sequence) - 2, 3):
            codon = sequence[i : i + 3]
            if start is None and codon == "AUG":
                start = i
            elif start is not None and codon in STOPS:
                if i + 3 - start > best[1] - best[0]:
                    best = (start, i + 3)
                start = None
    return best


def tree_md5(root: Path) -> dict[str, str]:
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


# ----- sequences and motifs ---------------------------------------------------------------------------------


def test_same_seed_same_sequences_and_generators_are_accepted() -> None:
    assert random_utr(300, 5) == random_utr(300, 5)
    assert random_utr(300, 5) != random_utr(300, 6)
    assert random_utr(300, np.random.default_rng(5)) == random_utr(300, 5)
    with pytest.raises(TypeError):
        as_generator(1.5)  # type: ignore[arg-type]


def test_background_composition_matches_the_documented_one() -> None:
    counts = Counter(random_utr(200_000, 0))
    for base, expected in UTR_BASE_COMPOSITION.items():
        assert abs(counts[base] / 200_000 - expected) < 0.005
    assert UTR_BASE_COMPOSITION["A"] + UTR_BASE_COMPOSITION["U"] > 0.55  # A/U rich, like 3'UTRs


def test_bad_composition_and_length_raise() -> None:
    with pytest.raises(ValueError):
        random_utr(10, 0, {"A": 0.5, "C": 0.5})
    with pytest.raises(ValueError):
        random_utr(10, 0, {"A": 0.5, "C": 0.5, "G": 0.5, "U": 0.5})
    with pytest.raises(ValueError):
        random_utr(-1, 0)


def test_motif_instances_cover_the_ambiguity_codes() -> None:
    rng = np.random.default_rng(0)
    instances = [motif_instance(MOTIFS["PUM"], rng) for _ in range(300)]
    assert all(find_motif(instance, MOTIFS["PUM"]) == [0] for instance in instances)
    assert {instance[4] for instance in instances} == set(IUPAC_RNA["H"])
    with pytest.raises(ValueError):
        motif_instance("UGX", rng)


def test_find_motif_is_overlapping_and_reads_t_as_u() -> None:
    assert find_motif("ATTTATTTA", "AUUUA") == [0, 4]
    assert find_motif("GGACUGAACA", "DRACH") == [0, 5]


def test_plant_motif_keeps_length_and_avoids_spans() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        sequence = random_utr(40, rng)
        planted, position, instance = plant_motif(sequence, "AUUUA", rng, avoid=[(0, 20)])
        assert len(planted) == 40 and planted[position : position + 5] == instance
        assert position >= 20 and planted[:position] == sequence[:position]
    with pytest.raises(ValueError, match="no room"):
        plant_motif("A" * 10, "AUUUA", rng, avoid=[(0, 10)])
    with pytest.raises(ValueError):
        plant_motif("A" * 10, "AUUUA", rng, position=8)


def test_poly_a_signal_sits_10_to_30_nt_before_the_end() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        sequence, position = add_poly_a_signal(random_utr(100, rng), rng)
        assert sequence[position : position + 6] == "AAUAAA" and 10 <= 100 - (position + 6) <= 30


@pytest.mark.parametrize(("motif", "copies", "poly_a"), [(MOTIFS["PUM"], 1, False), (MOTIFS["ARE"], 2, True)])
def test_binary_dataset_labels_are_exact(motif: str, copies: int, poly_a: bool) -> None:
    records = make_binary_dataset(200, 101, motif, positive_fraction=0.2, seed=3, copies=copies, poly_a_signal=poly_a)
    assert sum(r.label for r in records) == 40  # type: ignore[misc]
    assert len({r.id for r in records}) == 200 and all(r.length == 101 for r in records)
    for record in records:
        positions = record.meta["motif_positions"]
        if record.label == 1:
            assert len(positions) == copies
            assert all(p in find_motif(record.sequence, motif) for p in positions)
        else:
            assert positions == () and find_motif(record.sequence, motif) == []
        if poly_a:
            pas = record.meta["poly_a_signal_position"]
            assert record.sequence[pas : pas + 6] == "AAUAAA"
    again = make_binary_dataset(200, 101, motif, 0.2, 3, copies, poly_a_signal=poly_a)
    assert [r.sequence for r in records] == [r.sequence for r in again]


def test_m6a_windows_have_a_centre_a_and_drach_only_in_positives() -> None:
    records = make_m6a_windows(200, seed=4)
    assert sum(r.label for r in records) == 100  # type: ignore[misc]
    for record in records:
        centre = record.meta["centre"]
        assert record.sequence[centre] == "A"
        assert bool(find_motif(record.sequence[centre - 2 : centre + 3], "DRACH")) == (record.label == 1)


def test_mrna_orf_is_the_longest_orf() -> None:
    rng = np.random.default_rng(5)
    for length in (300, 800, 3000):
        sequence, start, end = make_mrna(length, rng)
        assert len(sequence) == length and (end - start) % 3 == 0
        assert longest_orf(sequence) == (start, end)


def test_localization_labels_keep_cytosol_inside_cytoplasm() -> None:
    records = make_localization_dataset(200, seed=6, length_range=(300, 3000))
    cytosol, cytoplasm = LOCALIZATION_COMPARTMENTS.index("Cytosol"), LOCALIZATION_COMPARTMENTS.index("Cytoplasm")
    labels = np.array([r.label for r in records])
    assert labels.shape == (200, 7)
    assert np.all(labels[:, cytosol] <= labels[:, cytoplasm]) and labels[:, cytosol].sum() > 0
    assert all(300 <= r.length <= 3000 for r in records)
    nucleus = LOCALIZATION_COMPARTMENTS.index("Nucleus")
    for record, label in zip(records, labels):
        utr3 = record.sequence[record.meta["cds_end"] :]
        if label[nucleus]:
            assert len(find_motif(utr3, MOTIFS["PUM"])) >= 3


# ----- the demo directory -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_data(tmp_path_factory.mktemp("demo") / "data", seed=0)


def test_demo_data_is_fast_deterministic_and_marked(tmp_path: Path, demo_root: Path) -> None:
    start = time.perf_counter()
    again = write_demo_data(tmp_path / "again", seed=0)
    assert time.perf_counter() - start < 2.0
    assert tree_md5(again) == tree_md5(demo_root)
    assert tree_md5(write_demo_data(tmp_path / "other", seed=1)) != tree_md5(demo_root)
    assert is_demo_data(demo_root) and "SYNTHETIC" in (demo_root / DEMO_MARKER).read_text()


def test_demo_data_refuses_to_overwrite_real_folders(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "rbp31").mkdir()
    with pytest.raises(FileExistsError, match="not a demo"):
        write_demo_data(tmp_path / "real")
    root = write_demo_data(tmp_path / "demo", seed=0)
    assert write_demo_data(root, seed=2) == root  # rewriting a demo directory is fine
    with pytest.raises(ValueError, match="scale"):
        write_demo_data(tmp_path / "x", scale="huge")


def test_demo_rbp31_reads_with_the_real_reader(demo_root: Path) -> None:
    sets = list_rbp31_sets(demo_root / "rbp31")
    assert len(sets) == 2
    for set_name in sets:
        train = read_rbp31_split(demo_root / "rbp31", set_name, "train")
        test = read_rbp31_split(demo_root / "rbp31", set_name, "test")
        assert len(train) > len(test) > 0
        for split in (train, test):
            assert sum(r.label for r in split) == round(0.2 * len(split))  # type: ignore[misc]
            assert all(r.length == 101 for r in split)
        assert not {r.id for r in train} & {r.id for r in test}
        generic = read_labeled_sequences(rbp31_split_path(demo_root / "rbp31" / set_name, "train"))
        assert [(r.id, r.label) for r in generic] == [(r.id, r.label) for r in train]
    pum = read_rbp31_split(demo_root / "rbp31", 1, "train")
    assert all(bool(find_motif(r.sequence, MOTIFS["PUM"])) == (r.label == 1) for r in pum)


def test_demo_m6a_reads_with_the_real_reader(demo_root: Path) -> None:
    root = demo_root / "m6a" / "mst_m6a"
    available = list_mst_m6a_datasets(root)
    assert sorted(len(splits) for splits in available.values()) == [1, 2, 2]
    for cell_line, splits in available.items():
        for split in splits:
            records = read_mst_m6a(root, cell_line, split, window=41)
            assert all(r.length == 41 and r.sequence[20] == "A" for r in records)
            assert 0 < sum(r.label for r in records) < len(records)  # type: ignore[misc]


def test_demo_dm3loc_reads_with_the_real_reader(demo_root: Path) -> None:
    root = demo_root / "localization" / "dm3loc"
    assert b"\r\n" in (root / "modified_multilabel_seq_nonredundent.fasta").read_bytes()
    records = read_dm3loc(root)
    assert 100 <= len(records) <= 1000 and all(300 <= r.length <= 3000 for r in records)
    folds = read_dm3loc_folds(root, records)  # checks the 6-bit rule and the partition
    tests = [set(parts["test"]) for parts in folds.values()]
    assert set().union(*tests) == {r.id for r in records} and sum(map(len, tests)) == len(records)


def test_demo_vocab_and_motifs(demo_root: Path) -> None:
    for k in SUPPORTED_K:
        assert (demo_root / "3utrbert_vocab" / f"vocab-{k}.txt").read_text().split("\n") == kmer_vocab(k)
        config = json.loads((demo_root / "3utrbert_vocab" / f"config-{k}.json").read_text())
        assert config["vocab_size"] == 4**k + 5
    meme = (demo_root / "motifs" / "attract_meme" / "ATtRACT" / "Homo_sapiens.meme").read_text()
    assert "ALPHABET= ACGU" in meme
    genes = re.findall(r"^MOTIF \S+ (\w+):", meme, flags=re.MULTILINE)
    assert {"PUM2", "ELAVL1"} <= set(genes)
    for block in meme.split("MOTIF ")[1:]:
        rows = [line for line in block.splitlines() if re.match(r"^[0-9.]+\t", line)]
        width = int(re.search(r"w= (\d+)", block).group(1))  # type: ignore[union-attr]
        assert len(rows) == width
        assert all(abs(sum(map(float, row.split("\t"))) - 1.0) < 1e-6 for row in rows)
