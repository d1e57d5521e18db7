"""Readers and records: formats, normalization, and one clear error per kind of bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from utrbert.tokens.kmers import SequenceError, seq_to_kmers
from utrbert.data.readers import (
    DM3LOC_FASTA_NAME,
    DM3LOC_FOLD_LIST_BITS,
    LOCALIZATION_COMPARTMENTS,
    crop_centred,
    find_rbp31_set,
    fold_list_label,
    list_mst_m6a_datasets,
    list_rbp31_sets,
    parse_labeled_header,
    read_dm3loc,
    read_dm3loc_folds,
    read_fasta,
    read_labeled_fasta,
    read_labeled_sequences,
    read_labeled_table,
    read_mst_m6a,
    read_rbp31_split,
)
from utrbert.data.records import DataFormatError, SequenceRecord, records_to_frame

# ----- helpers ----------------------------------------------------------------------------------------------


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.replace("\n", newline).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def rbp31_text(rows: list[tuple[str, int, int, str]]) -> str:
    """FASTA in the RBP-31 format from rows of (chrom, start, label, DNA sequence)."""
    lines = []
    for chrom, start, label, seq in rows:
        lines += [f"> {chrom},+,{start},{start + len(seq) - 1}; class:{label}", seq[:60], seq[60:]]
    return "\n".join(lines) + "\n"


SEQ101 = ("ACGTTGCA" * 13)[:101]


def make_rbp31_dir(root: Path, set_name: str = "3_PARCLIP_TEST_hg19") -> Path:
    set_dir = root / set_name
    for folder, n in (("training_sample_0", 5), ("test_sample_0", 3)):
        offset = 0 if folder.startswith("train") else 50_000
        rows = [("chr1", 1000 + 200 * i + offset, int(i == 0), SEQ101) for i in range(n)]
        write(set_dir / "30000" / folder / "sequences.fa.gz", rbp31_text(rows))
    return set_dir


def m6a_row(index: str, label: str, text: str) -> str:
    return f"{index}\t{label}\t{text}"


def m6a_text(centre: str = "A", length: int = 201) -> str:
    left = "CG" * 50
    return (left + centre + "TG" * 50)[:length] if length <= 201 else left + centre + "TG" * 50 + "A" * (length - 201)


def write_m6a(path: Path, rows: list[str]) -> Path:
    return write(path, "\n".join(["index\tlabel\ttext", *rows]) + "\n")


DM3LOC_RECORDS = [
    ("1101001", "NM_000001", "11", "AAA"),
    ("0111000", "NM_000002", "12", "BBB"),
    ("0100110", "NM_000003", "13", "CCC"),
    ("1100000", "NM_000004", "14", "DDD"),
]


def dm3loc_header(bits: str, accnum: str, gene_id: str, name: str) -> str:
    return f">{bits},ACCNUM:{accnum},Gene_ID:{gene_id},Gene_Name:{name}"


def make_dm3loc_dir(root: Path, folds: dict[int, dict[str, list[int]]] | None = None) -> Path:
    lines = []
    for i, (bits, accnum, gene_id, name) in enumerate(DM3LOC_RECORDS):
        lines += [dm3loc_header(bits, accnum, gene_id, name), "ATG" + "GCA" * (10 + i) + "TAA"]
    write(root / DM3LOC_FASTA_NAME, "\n".join(lines) + "\n", newline="\r\n")
    folds = folds or {f: {"Train": [(f + 1) % 4, (f + 2) % 4], "Val": [(f + 3) % 4], "Test": [f % 4]} for f in range(5)}
    for fold, parts in folds.items():
        for prefix, indices in parts.items():
            headers = []
            for i in indices:
                bits, accnum, gene_id, name = DM3LOC_RECORDS[i]
                bits6 = "".join(str(b) for b in fold_list_label(tuple(int(c) for c in bits)))
                headers.append(dm3loc_header(bits6, accnum, gene_id, name))
            write(root / "folds" / f"{prefix}{fold}.txt", "\n".join(headers) + "\n")
    return root


# ----- records ----------------------------------------------------------------------------------------------


def test_record_normalizes_dna_to_rna_and_keeps_id() -> None:
    record = SequenceRecord("x1", "acgt\nTT", 1, {"gene": "G"})
    assert (record.id, record.sequence, record.label, record.length) == ("x1", "ACGUUU", 1, 6)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"id": "", "sequence": "ACG"}, "id"),
        ({"id": "r7", "sequence": ""}, "r7"),
        ({"id": "r8", "sequence": "ACGX"}, "r8"),
        ({"id": "r9", "sequence": "ACG", "label": 1.0}, "r9"),
        ({"id": "r10", "sequence": "ACG", "label": (0, 2)}, "r10"),
        ({"id": "r11", "sequence": "ACG", "label": -1}, "r11"),
        ({"id": "r12", "sequence": "ACG", "label": True}, "r12"),
    ],
)
def test_record_rejects_bad_input_naming_it(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        SequenceRecord(**kwargs)


def test_record_is_frozen() -> None:
    record = SequenceRecord("a", "ACG")
    with pytest.raises(AttributeError):
        record.sequence = "UUU"  # type: ignore[misc]


def test_records_to_frame_keeps_ids_and_unions_meta() -> None:
    records = [SequenceRecord("a", "ACG", 1, {"chrom": "chr1"}), SequenceRecord("b", "ACGU", 0, {"gene": "X"})]
    frame = records_to_frame(records)
    assert list(frame.columns) == ["id", "sequence", "label", "length", "chrom", "gene"]
    row = frame.set_index("id").loc["b"]
    assert (row["length"], row["gene"], row["chrom"]) == (4, "X", None)


def test_records_to_frame_keeps_multilabel_tuples_and_rejects_clashing_meta() -> None:
    frame = records_to_frame([SequenceRecord("a", "A", (0, 1))])
    assert frame.loc[0, "label"] == (0, 1)
    with pytest.raises(ValueError, match="length"):
        records_to_frame([SequenceRecord("a", "A", 0, {"length": 3})])


# ----- generic FASTA ----------------------------------------------------------------------------------------

FASTA = ">s1 first record\nACGT\nacgu\n\n>s2\nNNAC\n"


@pytest.mark.parametrize(
    ("name", "newline"), [("x.fa", "\n"), ("x.fasta", "\r\n"), ("x.fa.gz", "\n"), ("x.fa.gz", "\r\n")]
)
def test_read_fasta_same_records_for_crlf_gzip_and_multiline(tmp_path: Path, name: str, newline: str) -> None:
    records = read_fasta(write(tmp_path / name, FASTA, newline))
    assert [(r.id, r.sequence) for r in records] == [("s1", "ACGUACGU"), ("s2", "NNAC")]
    assert records[0].meta["description"] == "first record"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (">a\nACG\n>b\n>c\nAC\n", 3, "'b'.*empty sequence"),
        (">a\nACG\n>b\nAC-G\n", 3, "'b'.*'-'"),
        (">a\nACG\n>a\nACG\n", 3, "'a'.*duplicate id.*line 1"),
        ("ACG\n>a\nACG\n", 1, "before the first"),
        (">\nACG\n", 1, "empty FASTA header"),
    ],
)
def test_read_fasta_errors_name_file_line_and_record(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path / "bad.fa", text)
    with pytest.raises(DataFormatError, match=fragment) as info:
        read_fasta(path)
    assert info.value.line == line
    assert str(path) in str(info.value) and f"line {line}" in str(info.value)


def test_read_fasta_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no FASTA records"):
        read_fasta(write(tmp_path / "empty.fa", ""))


def test_read_fasta_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_fasta(tmp_path / "absent.fa")


def test_corrupt_and_truncated_gzip_are_format_errors(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.fa.gz"
    corrupt.write_bytes(b"this is not gzip data at all")
    with pytest.raises(DataFormatError, match="corrupt.fa.gz"):
        read_fasta(corrupt)
    full = gzip.compress((">a\n" + "ACGT" * 50_000 + "\n").encode())
    truncated = tmp_path / "truncated.fa.gz"
    truncated.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataFormatError, match="truncated"):
        read_fasta(truncated)


# ----- RBP-31 -----------------------------------------------------------------------------------------------


def test_rbp31_ids_labels_and_coordinates(tmp_path: Path) -> None:
    set_dir = make_rbp31_dir(tmp_path)
    train = read_rbp31_split(set_dir, split="train")
    assert [r.id for r in train][:2] == ["chr1:+:1000-1100", "chr1:+:1200-1300"]
    assert [r.label for r in train] == [1, 0, 0, 0, 0]
    assert train[0].sequence == SEQ101.replace("T", "U")
    assert train[0].meta == {"chrom": "chr1", "strand": "+", "start": 1000, "end": 1100}
    assert len(read_rbp31_split(tmp_path, "3_PARCLIP_TEST_hg19", "test")) == 3
    assert [r.id for r in read_rbp31_split(tmp_path, 3, "train")] == [r.id for r in train]


def test_list_rbp31_sets_sorted_by_number(tmp_path: Path) -> None:
    for name in ("10_B", "2_A", "1_C"):
        (tmp_path / name).mkdir()
    (tmp_path / "MANIFEST.md").write_text("x")
    (tmp_path / "notes").mkdir()
    assert list_rbp31_sets(tmp_path) == ["1_C", "2_A", "10_B"]
    assert find_rbp31_set(tmp_path, 10) == "10_B"
    with pytest.raises(KeyError, match="1_C"):
        find_rbp31_set(tmp_path, 99)


def test_rbp31_bad_split_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        read_rbp31_split(make_rbp31_dir(tmp_path), split="valid")


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("> chr1,+,1000,1100", "no 'class:' label"),
        ("> chr1,+,1000,1100; class:2", "must be 0 or 1"),
        ("> chr1,+,1000,1100; class:", "must be 0 or 1"),
        ("> chr1 1000 1100; class:1", "not of the RBP-31 form"),
    ],
)
def test_rbp31_header_errors(tmp_path: Path, header: str, fragment: str) -> None:
    good = "> chr1,+,5000,5100; class:0\n" + SEQ101 + "\n"
    path = tmp_path / "1_X" / "30000" / "training_sample_0" / "sequences.fa.gz"
    write(path, good + header + "\n" + SEQ101 + "\n")
    with pytest.raises(DataFormatError, match=fragment) as info:
        read_rbp31_split(tmp_path / "1_X")
    assert info.value.line == 3 and str(path) in str(info.value)


def test_rbp31_short_sequence_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "1_X" / "30000" / "training_sample_0" / "sequences.fa.gz"
    write(path, "> chr1,+,5000,5100; class:0\n" + SEQ101[:90] + "\n")
    with pytest.raises(DataFormatError, match="chr1:\\+:5000-5100.*90 nt"):
        read_rbp31_split(tmp_path / "1_X")
    write(path, ("> chr1,+,5000,5100; class:0\n" + SEQ101 + "\n") * 2)
    with pytest.raises(DataFormatError, match="duplicate id"):
        read_rbp31_split(tmp_path / "1_X")


# ----- MST-m6A ----------------------------------------------------------------------------------------------


def test_mst_m6a_windows_are_centred_on_the_a(tmp_path: Path) -> None:
    text = m6a_text()
    write_m6a(tmp_path / "Cell_train.tsv", [m6a_row(">Positive_0", "1.0", text), m6a_row(">Negative_1", "0.0", text)])
    full = read_mst_m6a(tmp_path, "Cell", "train")
    short = read_mst_m6a(tmp_path, "Cell", "train", window=41)
    assert [r.id for r in full] == ["Positive_0", "Negative_1"] and [r.label for r in full] == [1, 0]
    assert full[0].sequence == text.replace("T", "U")
    assert short[0].sequence == text[80:121].replace("T", "U")
    assert short[0].sequence[short[0].meta["centre"]] == "A" and full[0].meta["centre"] == 100
    assert short[0].meta["dataset"] == "Cell"


def test_list_mst_m6a_datasets(tmp_path: Path) -> None:
    for name in ("A549_train.tsv", "A549_test.tsv", "HeLa_test.tsv", "README.md"):
        (tmp_path / name).write_text("x")
    assert list_mst_m6a_datasets(tmp_path) == {"A549": ("train", "test"), "HeLa": ("test",)}
    with pytest.raises(FileNotFoundError, match="HeLa \\(test\\)"):
        read_mst_m6a(tmp_path, "HeLa", "train")


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        (m6a_row(">Positive_5", "1.0", m6a_text(centre="G")), "Positive_5.*centre.*'G'"),
        (m6a_row(">Positive_5", "1.0", m6a_text(length=200)), "Positive_5.*200 nt"),
        (m6a_row(">Positive_5", "2.0", m6a_text()), "Positive_5.*0 or 1"),
        (m6a_row(">Positive_5", "", m6a_text()), "Positive_5.*missing label"),
        (m6a_row(">Positive_5", "0.0", m6a_text()), "Positive_5.*id says positive"),
        (m6a_row(">Positive_5", "1.0", m6a_text().replace("CG", "CX", 1)), "Positive_5.*'X'"),
        (">Positive_5\t1.0", "Positive_5.*3 tab-separated"),
        (m6a_row(">Positive_0", "1.0", m6a_text()), "Positive_0.*duplicate"),
    ],
)
def test_mst_m6a_errors_name_record_and_line(tmp_path: Path, row: str, fragment: str) -> None:
    path = write_m6a(tmp_path / "Cell_test.tsv", [m6a_row(">Positive_0", "1.0", m6a_text()), row])
    with pytest.raises(DataFormatError, match=fragment) as info:
        read_mst_m6a(tmp_path, "Cell", "test")
    assert info.value.line == 3 and str(path) in str(info.value)


def test_mst_m6a_bad_header_and_window(tmp_path: Path) -> None:
    write(tmp_path / "Cell_test.tsv", "id\tlabel\tseq\nP\t1.0\t" + m6a_text() + "\n")
    with pytest.raises(DataFormatError, match="line 1.*header"):
        read_mst_m6a(tmp_path, "Cell", "test")
    with pytest.raises(ValueError, match="odd"):
        crop_centred("A" * 201, 40, 100)
    with pytest.raises(ValueError, match="does not fit"):
        crop_centred("A" * 201, 203, 100)


def user_window(centre: str = "A", half: int = 30) -> str:
    return "CG" * (half // 2) + centre + "UG" * (half // 2)


def test_m6a_sets_of_your_own_list_read_and_crop_like_mst_m6a(tmp_path: Path) -> None:
    write(tmp_path / "lab" / "train.fa", f">s1 class:1\n{user_window()}\n>s2 class:0\n{user_window()}\n")
    write(tmp_path / "lab" / "test.tsv", f"id\tsequence\tlabel\nt1\t{user_window()}\t1\n")
    write(tmp_path / "only_test" / "test.csv", f"id,sequence,label\nt1,{user_window(half=50)},0\n")
    (tmp_path / "empty").mkdir()
    assert list_mst_m6a_datasets(tmp_path) == {"lab": ("train", "test"), "only_test": ("test",)}
    short = read_mst_m6a(tmp_path, "lab", "train", window=21)
    assert [r.id for r in short] == ["s1", "s2"] and [r.label for r in short] == [1, 0]
    assert short[0].sequence == user_window()[20:41] and short[0].meta["centre"] == 10
    whole = read_mst_m6a(tmp_path, "only_test", "test", window=None)
    assert len(whole[0].sequence) == 101 and whole[0].meta["centre"] == 50 and whole[0].meta["dataset"] == "only_test"
    with pytest.raises(FileNotFoundError, match="only_test \\(test\\)"):
        read_mst_m6a(tmp_path, "only_test", "train")


@pytest.mark.parametrize(
    ("second", "fragment"),
    [
        (user_window(centre="G"), "line 3, record 'bad'.*centre nucleotide \\(index 30 of 61 nt\\) is 'G'"),
        (user_window(half=20), "line 3, record 'bad'.*41 nt.*first window \\('ok', line 1\\) has 61"),
        (user_window() + "U", "line 3, record 'bad'.*62 nt"),
    ],
)
def test_m6a_windows_of_your_own_errors_name_file_line_and_record(tmp_path: Path, second: str, fragment: str) -> None:
    path = write(tmp_path / "lab" / "test.fa", f">ok class:1\n{user_window()}\n>bad class:0\n{second}\n")
    with pytest.raises(DataFormatError, match=fragment) as info:
        read_mst_m6a(tmp_path, "lab", "test", window=41)
    assert info.value.line == 3 and info.value.record_id == "bad"  # the header's line and str(path) in str(info.value)


def test_m6a_windows_of_your_own_shorter_than_the_crop_or_even_name_the_record(tmp_path: Path) -> None:
    path = write(tmp_path / "lab" / "test.tsv", f"id\tsequence\tlabel\nw1\t{user_window(half=10)}\t1\n")
    with pytest.raises(DataFormatError, match="line 2, record 'w1'.*21 nt, shorter than the 41-nt window") as info:
        read_mst_m6a(tmp_path, "lab", "test", window=41)
    assert str(path) in str(info.value)
    assert len(read_mst_m6a(tmp_path, "lab", "test", window=21)[0].sequence) == 21  # the same file fits a 21-nt crop
    write(tmp_path / "even" / "test.tsv", f"id\tsequence\tlabel\nw2\t{user_window()}U\t1\n")
    with pytest.raises(DataFormatError, match="record 'w2'.*even length"):
        read_mst_m6a(tmp_path, "even", "test", window=21)


# ----- DM3Loc -----------------------------------------------------------------------------------------------


def test_fold_list_bits_drop_cytosol_only() -> None:
    kept = [LOCALIZATION_COMPARTMENTS[i] for i in DM3LOC_FOLD_LIST_BITS]
    assert "Cytosol" not in kept and len(kept) == len(LOCALIZATION_COMPARTMENTS) - 1
    label = (1, 0, 1, 1, 0, 1, 0)
    assert fold_list_label(label) == label[:2] + label[3:]


def test_read_dm3loc_crlf_labels_and_meta(tmp_path: Path) -> None:
    records = read_dm3loc(make_dm3loc_dir(tmp_path))
    assert b"\r\n" in (tmp_path / DM3LOC_FASTA_NAME).read_bytes()
    assert [r.id for r in records] == [accnum for _, accnum, _, _ in DM3LOC_RECORDS]
    assert records[0].label == (1, 1, 0, 1, 0, 0, 1)
    assert records[1].meta == {"gene_id": "12", "gene_name": "BBB"}
    assert all(set(r.sequence) <= set("ACGU") for r in records)


def test_read_dm3loc_folds_partition_by_accnum(tmp_path: Path) -> None:
    folds = read_dm3loc_folds(make_dm3loc_dir(tmp_path))
    assert sorted(folds) == [0, 1, 2, 3, 4]
    all_ids = {accnum for _, accnum, _, _ in DM3LOC_RECORDS}
    for parts in folds.values():
        assert set(parts) == {"train", "valid", "test"}
        listed = parts["train"] + parts["valid"] + parts["test"]
        assert sorted(listed) == sorted(all_ids)
    assert folds[1]["test"] == ["NM_000002"]


def test_dm3loc_fold_label_mismatch_is_reported(tmp_path: Path) -> None:
    make_dm3loc_dir(tmp_path)
    path = tmp_path / "folds" / "Val2.txt"
    text = path.read_text()
    bits6 = text[1:7]
    flipped = bits6[:2] + ("1" if bits6[2] == "0" else "0") + bits6[3:]
    path.write_text(">" + flipped + text[7:])
    with pytest.raises(DataFormatError, match="NM_000002.*does not equal") as info:
        read_dm3loc_folds(tmp_path)
    assert info.value.line == 1 and "Val2.txt" in str(info.value)


def test_dm3loc_fold_unknown_id_overlap_and_gap(tmp_path: Path) -> None:
    make_dm3loc_dir(tmp_path)
    path = tmp_path / "folds" / "Test0.txt"
    path.write_text(">111111,ACCNUM:NM_999999,Gene_ID:1,Gene_Name:X\n")
    with pytest.raises(DataFormatError, match="NM_999999.*not found"):
        read_dm3loc_folds(tmp_path)
    overlap = {f: {"Train": [1, 2], "Val": [3], "Test": [1]} for f in range(5)}
    make_dm3loc_dir(tmp_path, overlap)
    with pytest.raises(DataFormatError, match="NM_000002.*also listed in train"):
        read_dm3loc_folds(tmp_path)
    gap = {f: {"Train": [1, 2], "Val": [3], "Test": [0]} for f in range(5)}
    gap[4] = {"Train": [1], "Val": [3], "Test": [0]}
    make_dm3loc_dir(tmp_path, gap)
    with pytest.raises(DataFormatError, match="fold 4 leaves out 1 records.*NM_000003"):
        read_dm3loc_folds(tmp_path)


def test_dm3loc_header_errors(tmp_path: Path) -> None:
    write(tmp_path / DM3LOC_FASTA_NAME, ">010000,ACCNUM:NM_1,Gene_ID:1,Gene_Name:X\nACGU\n")
    with pytest.raises(DataFormatError, match="NM_1.*7-character"):
        read_dm3loc(tmp_path)
    write(tmp_path / DM3LOC_FASTA_NAME, ">0100000,NM_1,1,X\nACGU\n")
    with pytest.raises(DataFormatError, match="line 1.*ACCNUM"):
        read_dm3loc(tmp_path)


# ----- labelled tables and FASTA ----------------------------------------------------------------------------


def test_original_3utrbert_tsv_with_kmers(tmp_path: Path) -> None:
    raw = ["ACGTTGCAAG", "GGGCCCAAAT"]
    rows = [" ".join(seq_to_kmers(s, 3)) + f"\t{i % 2}" for i, s in enumerate(raw)]
    path = write(tmp_path / "train.tsv", "sequence\tlabel\n" + "\n".join(rows) + "\n")
    for k in (None, 3):
        records = read_labeled_table(path, k=k)
        assert [r.sequence for r in records] == [s.replace("T", "U") for s in raw]
        assert [r.id for r in records] == ["train.tsv:2", "train.tsv:3"]
        assert [r.label for r in records] == [0, 1]
    with pytest.raises(DataFormatError, match="train.tsv:2.*k=4"):
        read_labeled_table(path, k=4)


def test_table_with_id_extra_columns_csv_and_gzip(tmp_path: Path) -> None:
    text = "id,sequence,label,source\nu1,ACGU,1,clip\nu2,acgt,0.0,ctrl\n"
    for name in ("t.csv", "t.csv.gz"):
        records = read_labeled_sequences(write(tmp_path / name, text, "\r\n"))
        assert [(r.id, r.sequence, r.label, r.meta) for r in records] == [
            ("u1", "ACGU", 1, {"source": "clip"}),
            ("u2", "ACGU", 0, {"source": "ctrl"}),
        ]


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("ACGU\t1\nACGU\t\n", 3, "t.tsv:3.*missing label"),
        ("ACGU\t1\nACGU\t1.5\n", 3, "t.tsv:3.*not an integer"),
        ("ACGU\t1\nACGU\n", 3, "t.tsv:3.*expected 2 fields"),
        ("ACGU\t1\nAC7U\t1\n", 3, "t.tsv:3.*'7'"),
        ("ACGU\t1\n\t1\n", 3, "t.tsv:3.*empty sequence"),
    ],
)
def test_table_errors_name_record_and_line(tmp_path: Path, body: str, line: int, fragment: str) -> None:
    path = write(tmp_path / "t.tsv", "sequence\tlabel\n" + body)
    with pytest.raises(DataFormatError, match=fragment) as info:
        read_labeled_table(path)
    assert info.value.line == line


def test_table_header_problems(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no 'label' column"):
        read_labeled_table(write(tmp_path / "a.tsv", "sequence\tclass\nACGU\t1\n"))
    with pytest.raises(DataFormatError, match="no records"):
        read_labeled_table(write(tmp_path / "b.tsv", "sequence\tlabel\n"))
    with pytest.raises(DataFormatError, match="duplicate id"):
        read_labeled_table(write(tmp_path / "c.tsv", "id\tsequence\tlabel\nx\tA\t1\nx\tC\t0\n"))


def test_labeled_fasta_header_styles(tmp_path: Path) -> None:
    text = (
        "> chr2,-,10,14; class:1\nACGTA\n"
        ">siteA some words label=0\nACGU\n"
        ">siteB label:1\nACGU\n"
        ">0101000,ACCNUM:NM_7,Gene_ID:7,Gene_Name:G\nACGU\n"
    )
    records = read_labeled_fasta(write(tmp_path / "l.fa", text))
    assert [(r.id, r.label) for r in records] == [
        ("chr2:-:10-14", 1),
        ("siteA", 0),
        ("siteB", 1),
        ("NM_7", (0, 1, 0, 1, 0, 0, 0)),
    ]


def test_labeled_fasta_missing_label_names_record(tmp_path: Path) -> None:
    path = write(tmp_path / "l.fa", ">ok label=1\nACGU\n>orphan no label here\nACGU\n")
    with pytest.raises(DataFormatError, match="'orphan'.*no label") as info:
        read_labeled_sequences(path)
    assert info.value.line == 3


def test_parse_labeled_header_rejects_label_without_id() -> None:
    with pytest.raises(ValueError, match="no id"):
        parse_labeled_header("label=1")


def test_dispatcher_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="suffix"):
        read_labeled_sequences(write(tmp_path / "x.json", "{}"))


def test_sequence_error_is_a_value_error() -> None:
    # callers may catch ValueError for every bad-input case (DataFormatError and SequenceError alike)
    assert issubclass(DataFormatError, ValueError) and issubclass(SequenceError, ValueError)


def test_a_folder_of_your_own_sets_reads_like_rbp31(tmp_path: Path) -> None:
    from utrbert.data.readers import user_split_path

    for name in ("pum_clip", "my_qki"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.fa").write_text(">a class:1\nACGUACGUAAUU\n>b class:0\nUUUUACGUACGA\n")
        (tmp_path / name / "test.tsv").write_text("id\tsequence\tlabel\nc\tACGUACGUACGU\t1\nd\tGGGGACGUAAAA\t0\n")
    (tmp_path / "notes").mkdir()  # no train/test files: not a set
    assert list_rbp31_sets(tmp_path) == ["my_qki", "pum_clip"]
    train = read_rbp31_split(tmp_path, "pum_clip", "train")
    test = read_rbp31_split(tmp_path, "pum_clip", "test")
    assert [(r.id, r.label) for r in train] == [("a", 1), ("b", 0)] and [r.id for r in test] == ["c", "d"]
    with pytest.raises(KeyError, match="available: my_qki, pum_clip"):
        find_rbp31_set(tmp_path, 3)
    (tmp_path / "my_qki" / "train.tsv").write_text("id\tsequence\tlabel\n")
    with pytest.raises(DataFormatError, match="more than one train file"):
        user_split_path(tmp_path / "my_qki", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither RBP-31 set folders"):
        list_rbp31_sets(tmp_path / "empty")
