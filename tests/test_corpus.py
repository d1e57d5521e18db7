"""3'UTR corpus builder: ORF calling on planted CDSs, 3'UTR extraction, gene split, windows, save/load, GENCODE."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from utrbert.data.corpus import (
    Corpus,
    CorpusChecksumError,
    build_corpus,
    find_longest_orf,
    orf_call_summary,
    spot_check,
    utr3_from_gencode,
    utr3_from_mrnas,
)
from utrbert.tokens.kmers import SequenceError
from utrbert.data.readers import read_dm3loc
from utrbert.data.records import SequenceRecord
from utrbert.data.synthetic import as_generator, make_mrna, random_utr
from utrbert.tokens.tokenization import KmerTokenizer



def flank(length: int, seed: int) -> str:
    """Random UTR-like sequence without AUG (so it cannot start an ORF)."""
    return random_utr(length, seed).replace("AUG", "AUC")


def orf(n_codons: int, seed: int, stop: str = "UAA") -> str:
    """AUG + (n_codons - 1) random A/C codons + stop: no AUG or stop in any frame inside it (a controlled ORF)."""
    return "AUG" + stop_free(3 * (n_codons - 1), seed) + stop


def stop_free(n_nt: int, seed: int) -> str:
    """A sequence with no stop codon and no AUG in any frame (only C and A: no U, no G)."""
    return "".join("CA"[i] for i in as_generator(seed).integers(2, size=n_nt))


# ----- ORF calling ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_planted_cds_is_recovered_exactly(seed: int) -> None:
    sequence, start, end = make_mrna(int(as_generator(seed).integers(600, 4000)), seed)
    call = find_longest_orf(sequence)
    assert call is not None
    assert (call.start, call.stop_end, call.frame) == (start, end, start % 3)
    assert call.length == end - start and call.n_codons == (end - start) // 3 - 1


def test_decoy_shorter_orf_is_runner_up_not_call() -> None:
    utr5, cds, decoy = stop_free(50, 1), orf(200, 2), orf(120, 3, stop="UGA")
    sequence = utr5 + cds + "C" + decoy + stop_free(200, 4)  # decoy in another frame, 3' of the CDS
    call = find_longest_orf(sequence)
    assert (call.start, call.stop_end) == (50, 50 + len(cds))
    assert call.runner_up_length == len(decoy)
    assert not call.ambiguous and call.runner_up_ratio == pytest.approx(len(decoy) / len(cds))


def test_upstream_in_frame_aug_extends_the_orf_to_the_first_aug() -> None:
    # maximal ORF: an AUG 5' of the planted one, in frame and with no stop between, starts the ORF
    body = orf(150, 5)
    sequence = "CC" + "AUGCCC" + body + stop_free(60, 6)
    call = find_longest_orf(sequence)
    assert call.start == 2 and call.stop_end == 2 + 6 + len(body)


def test_ambiguous_when_two_orfs_are_near_equal() -> None:
    first, second = orf(200, 7), orf(190, 8, stop="UAG")
    call = find_longest_orf(stop_free(40, 9) + first + "CC" + second + stop_free(40, 10))
    assert call.length == len(first) and call.runner_up_length == len(second)
    assert call.ambiguous and call.runner_up_ratio == pytest.approx(191 / 201)
    stricter = find_longest_orf(stop_free(40, 9) + first + "CC" + second + stop_free(40, 10), ambiguity_fraction=0.99)
    assert not stricter.ambiguous


def test_equal_orfs_tie_goes_to_the_5prime_one() -> None:
    a, b = orf(120, 11), orf(120, 12)
    call = find_longest_orf("C" + a + "C" + b)
    assert call.start == 1 and call.ambiguous and call.runner_up_ratio == 1.0


def test_orf_without_stop_is_not_a_cds() -> None:
    no_stop = "AUG" + stop_free(900, 13)
    sequence = stop_free(30, 14) + no_stop
    assert find_longest_orf(sequence, min_codons=1) is None
    # a shorter complete ORF elsewhere is called, and the open reading frame is reported
    short = orf(60, 15)
    call = find_longest_orf(short + "C" + no_stop, min_codons=10)
    assert (call.start, call.stop_end) == (0, len(short))
    assert call.open_length == len(no_stop)


def test_min_codons_counts_amino_acids_without_the_stop() -> None:
    sequence = "CC" + orf(52, 16) + "CCC"  # AUG + 51 codons + stop: 52 amino acids
    assert find_longest_orf(sequence, min_codons=52).n_codons == 52
    assert find_longest_orf(sequence, min_codons=53) is None


def test_dna_and_lower_case_give_the_same_call() -> None:
    sequence, _, _ = make_mrna(900, 17)
    rna = find_longest_orf(sequence)
    assert find_longest_orf(sequence.replace("U", "T")) == rna
    assert find_longest_orf(sequence.replace("U", "t").lower()) == rna


def test_bad_character_names_the_record() -> None:
    with pytest.raises(SequenceError, match="NM_bad"):
        find_longest_orf("AUGCCX", record_id="NM_bad")


def test_ambiguity_codes_neither_start_nor_stop() -> None:
    call = find_longest_orf("CC" + orf(60, 18)[:-3] + "UNA" + "CCCUAA", min_codons=1)
    assert call.stop_end == 2 + 60 * 3 + 9  # UNA is not a stop: the ORF runs on to UAA


# ----- 3'UTRs from mRNAs ------------------------------------------------------------------------------------


def mrna_records(n: int, seed: int) -> list[SequenceRecord]:
    rng = as_generator(seed)
    records = []
    for i in range(n):
        sequence, start, end = make_mrna(int(rng.integers(400, 2500)), rng)
        gene = f"G{i // 2}"  # two mRNAs per gene
        records.append(SequenceRecord(f"NM_{i}", sequence, None, {"gene_id": gene, "gene_name": f"NAME{i}",
                                                                  "true_cds": (start, end)}))  # fmt: skip
    return records


def test_utr3_from_mrnas_cuts_after_the_stop_and_keeps_provenance() -> None:
    records = mrna_records(10, 0)
    utrs, excluded = utr3_from_mrnas(records, progress=False)
    assert len(utrs) == 10 and excluded.empty
    for mrna, utr in zip(records, utrs):
        start, end = mrna.meta["true_cds"]
        assert utr.id == f"{mrna.id}|utr3" and utr.sequence == mrna.sequence[end:]
        assert utr.meta["source_id"] == mrna.id and utr.meta["gene"] == mrna.meta["gene_id"]
        assert (utr.meta["cds_start"], utr.meta["cds_end"], utr.meta["utr3_length"]) == (start, end, mrna.length - end)
        assert utr.meta["ambiguous"] is False and 0 <= utr.meta["runner_up_ratio"] < 0.9


def test_utr3_from_mrnas_lists_every_excluded_record_with_a_reason() -> None:
    good = mrna_records(3, 1)
    cds_at_end = SequenceRecord("NM_end", flank(30, 2) + orf(80, 3) + "CC")
    no_orf = SequenceRecord("NM_none", stop_free(600, 4))
    utrs, excluded = utr3_from_mrnas([*good, cds_at_end, no_orf], min_length=6, progress=False)
    assert [u.meta["source_id"] for u in utrs] == [r.id for r in good]
    reasons = dict(zip(excluded["id"], excluded["reason"]))
    assert reasons == {"NM_end": "utr3_too_short", "NM_none": "no_complete_orf"}
    summary = orf_call_summary(utrs, excluded)
    assert summary["inputs"] == 5 and summary["cds_called"] == 4 and summary["utr3"] == 3
    assert summary["excluded"] == {"no_complete_orf": 1, "utr3_too_short": 1}
    assert summary["utr3_total_nt"] == sum(u.length for u in utrs)


def test_utr3_from_mrnas_refuses_duplicate_ids() -> None:
    record = mrna_records(1, 2)[0]
    with pytest.raises(ValueError, match="duplicate record id 'NM_0'"):
        utr3_from_mrnas([record, record], progress=False)


def test_spot_check_reports_cds_and_missing_genes() -> None:
    records = mrna_records(4, 3)
    utrs, _ = utr3_from_mrnas(records, progress=False)
    table = spot_check(utrs, genes=("NAME1", "ABSENT"))
    start, end = records[1].meta["true_cds"]
    row = table.iloc[0]
    assert row["found"] and (row["cds_start"], row["cds_end"], row["cds_nt"]) == (start, end, end - start)
    assert row["cds_aa"] == (end - start) // 3 - 1 and row["utr3_length"] == records[1].length - end
    assert not table.iloc[1]["found"] and table.iloc[1]["cds_nt"] is None


# ----- corpus -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def utrs() -> list[SequenceRecord]:
    records, _ = utr3_from_mrnas(mrna_records(60, 5), progress=False)
    return records


def test_split_by_gene_has_no_gene_in_both_and_is_deterministic(utrs: list[SequenceRecord]) -> None:
    a = build_corpus(utrs, k=3, window_nt=120, heldout_fraction=0.2, seed=1)
    b = build_corpus(utrs, k=3, window_nt=120, heldout_fraction=0.2, seed=1)
    c = build_corpus(utrs, k=3, window_nt=120, heldout_fraction=0.2, seed=2)
    train, heldout = set(a.splits["train"].windows["gene"]), set(a.splits["heldout"].windows["gene"])
    assert not train & heldout and len(train | heldout) == 30
    assert len(heldout) == 6  # round(0.2 * 30 genes)
    assert a.splits["heldout"].windows.equals(b.splits["heldout"].windows)
    assert np.array_equal(a.splits["train"].input_ids, b.splits["train"].input_ids)
    assert set(c.splits["heldout"].windows["gene"]) != heldout


def test_gene_falls_back_to_record_id() -> None:
    records = [SequenceRecord(f"r{i}", random_utr(50, i)) for i in range(10)]
    corpus = build_corpus(records, k=3, window_nt=30, heldout_fraction=0.3, seed=0)
    genes = set(corpus.splits["train"].windows["gene"]) | set(corpus.splits["heldout"].windows["gene"])
    assert genes == {f"r{i}" for i in range(10)}


def test_windows_cover_every_nucleotide_with_the_right_tokens(utrs: list[SequenceRecord]) -> None:
    k, window = 4, 100
    corpus = build_corpus(utrs, k=k, window_nt=window, heldout_fraction=0.1, seed=0)
    by_id = {r.id: r for r in utrs}
    tokenizer = KmerTokenizer(k=k)
    seen: set[str] = set()
    for split in corpus.splits.values():
        assert split.input_ids.shape == (len(split.windows), window - k + 3)
        assert split.input_ids.dtype == np.uint16 and split.attention_mask.dtype == np.uint8
        for record_id, group in split.windows.groupby("record_id"):
            seen.add(record_id)
            covered = np.zeros(by_id[record_id].length, dtype=bool)
            for start, end in zip(group["start"], group["end"]):
                covered[start:end] = True
            assert covered.all(), record_id
        for row, window_row in enumerate(split.windows.itertuples()):
            text = by_id[window_row.record_id].sequence[window_row.start : window_row.end]
            expected = tokenizer(text)["input_ids"]
            n = int(split.attention_mask[row].sum())
            assert split.input_ids[row, :n].tolist() == expected
            assert (split.input_ids[row, n:] == 0).all()
    assert seen == set(by_id)


def test_records_shorter_than_k_are_excluded_not_dropped() -> None:
    records = [SequenceRecord("long", random_utr(40, 0)), SequenceRecord("tiny", "ACGU")]
    corpus = build_corpus(records, k=6, window_nt=30, heldout_fraction=0.0)
    assert corpus.excluded.to_dict("records") == [{"id": "tiny", "reason": "shorter_than_k", "detail": "4 nt < k=6"}]
    assert set(corpus.splits["train"].windows["record_id"]) == {"long"} and len(corpus.splits["heldout"]) == 0


def test_save_load_round_trip_and_tamper_detection(utrs: list[SequenceRecord], tmp_path: Path) -> None:
    fasta = tmp_path / "in.fa"
    fasta.write_text(">x\nACGU\n", encoding="utf-8")
    corpus = build_corpus(utrs, k=3, window_nt=200, seed=3, source="synthetic", input_paths=[fasta])
    out = corpus.save(tmp_path / "corpus")
    meta = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    assert meta["k"] == 3 and meta["seed"] == 3 and meta["window_nt"] == 200 and meta["stride_nt"] == 200
    assert meta["source"] == "synthetic" and len(meta["inputs"][0]["md5"]) == 32
    assert meta["counts"]["train_windows"] == len(corpus.splits["train"]) and "utrbert_version" in meta
    loaded = Corpus.load(out)
    for name, split in corpus.splits.items():
        assert np.array_equal(loaded.splits[name].input_ids, split.input_ids)
        assert np.array_equal(loaded.splits[name].attention_mask, split.attention_mask)
        assert loaded.splits[name].windows.equals(split.windows)
    assert loaded.provenance == json.loads(json.dumps(corpus.provenance))
    data = bytearray((out / "train.npz").read_bytes())
    data[-100] ^= 1
    (out / "train.npz").write_bytes(bytes(data))
    with pytest.raises(CorpusChecksumError, match="train.npz"):
        Corpus.load(out)


def test_input_md5_is_the_file_md5(tmp_path: Path) -> None:
    import hashlib

    fasta = tmp_path / "in.fa"
    fasta.write_bytes(b">x\nACGUACGU\n")
    corpus = build_corpus([SequenceRecord("x", "ACGUACGU")], k=3, window_nt=30, heldout_fraction=0.0,
                          input_paths=[fasta])  # fmt: skip
    assert corpus.provenance["inputs"] == [{"path": str(fasta), "md5": hashlib.md5(fasta.read_bytes()).hexdigest()}]


# ----- GENCODE ----------------------------------------------------------------------------------------------


def gtf_line(tid: str, gid: str, name: str, gene_type: str, tx_type: str) -> str:
    attrs = (f'gene_id "{gid}"; transcript_id "{tid}"; gene_type "{gene_type}"; gene_name "{name}"; '
             f'transcript_type "{tx_type}"; tag "basic";')  # fmt: skip
    lines = [f"chr1\tHAVANA\ttranscript\t1\t1000\t.\t+\t.\t{attrs}", f"chr1\tHAVANA\texon\t1\t1000\t.\t+\t.\t{attrs}"]
    return "\n".join(lines)


def fasta_entry(tid: str, gid: str, name: str, utr5: str, cds: str, utr3: str) -> str:
    a, b = len(utr5) + 1, len(utr5) + len(cds)
    fields = [tid, gid, "-", "-", f"{name}-201", name, str(len(utr5 + cds + utr3)), f"UTR5:1-{a - 1}", f"CDS:{a}-{b}"]
    if utr3:
        fields.append(f"UTR3:{b + 1}-{b + len(utr3)}")
    return ">" + "|".join(fields) + "|\n" + (utr5 + cds + utr3).replace("U", "T") + "\n"


def test_utr3_from_gencode_on_a_tiny_annotation(tmp_path: Path) -> None:
    cds1, cds2, cds3 = orf(40, 1), orf(30, 2), orf(20, 3)[:-3] + "CCC"  # cds3: no stop (cds_end_NF)
    u_long, u_short = flank(80, 4), flank(20, 5)
    gtf = "\n".join([
        "##description: tiny test annotation",
        gtf_line("ENST1.1", "ENSG1.1", "ALPHA", "protein_coding", "protein_coding"),
        gtf_line("ENST2.1", "ENSG1.1", "ALPHA", "protein_coding", "protein_coding"),
        gtf_line("ENST3.1", "ENSG1.1", "ALPHA", "protein_coding", "retained_intron"),
        gtf_line("ENST4.1", "ENSG2.1", "BETA", "protein_coding", "protein_coding"),
        gtf_line("ENST5.1", "ENSG3.1", "GAMMA", "lncRNA", "lncRNA"),
        gtf_line("ENST6.1", "ENSG4.1", "DELTA", "protein_coding", "protein_coding"),
        gtf_line("ENST7.1", "ENSG5.1", "EPS", "protein_coding", "protein_coding"),
    ]) + "\n"  # fmt: skip
    fasta = "".join([
        fasta_entry("ENST1.1", "ENSG1.1", "ALPHA", "CC", cds1, u_long),  # longest: chosen
        fasta_entry("ENST2.1", "ENSG1.1", "ALPHA", "CC", cds2, u_short),
        fasta_entry("ENST3.1", "ENSG1.1", "ALPHA", "CC", cds1, u_long + u_long),  # not protein_coding: ignored
        fasta_entry("ENST4.1", "ENSG2.1", "BETA", "CCC", cds3, u_short),  # CDS without stop
        fasta_entry("ENST6.1", "ENSG4.1", "DELTA", "C", cds2, "AC"),  # 3'UTR too short
    ])  # ENST7.1 missing from the FASTA
    (tmp_path / "tiny.gtf").write_text(gtf, encoding="utf-8")
    (tmp_path / "tiny.fa").write_text(fasta, encoding="utf-8")
    utrs, excluded = utr3_from_gencode(tmp_path / "tiny.gtf", tmp_path / "tiny.fa")
    assert [u.id for u in utrs] == ["ENST1.1|utr3"]
    utr = utrs[0]
    assert utr.sequence == u_long and utr.meta["gene"] == "ENSG1.1" and utr.meta["gene_name"] == "ALPHA"
    assert (utr.meta["cds_start"], utr.meta["cds_end"]) == (2, 2 + len(cds1))
    rows = {(r["id"], r["reason"]) for r in excluded.to_dict("records")}
    assert rows == {
        ("ENST4.1", "cds_without_stop"), ("ENSG2.1", "no_usable_transcript"),
        ("ENST6.1", "utr3_too_short"), ("ENST7.1", "not_in_fasta"), ("ENSG5.1", "no_usable_transcript"),
    }  # fmt: skip


# ----- real data --------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_dm3loc_orf_calls(real_data_dir: Path) -> None:
    t0 = time.perf_counter()
    records = read_dm3loc(real_data_dir / "localization" / "dm3loc")
    utrs, excluded = utr3_from_mrnas(records, progress=False)
    summary = orf_call_summary(utrs, excluded)
    assert summary["inputs"] == 17_306
    assert summary["cds_called"] / 17_306 > 0.99
    assert 16_900 <= summary["utr3"] <= 17_306 and summary["ambiguous"] < 0.02 * summary["utr3"]
    assert 28e6 < summary["utr3_total_nt"] < 32e6
    table = spot_check(utrs, genes=("GAPDH", "TP53", "B2M", "HPRT1", "EEF1A1", "ACTB")).set_index("gene_name")
    # DM3Loc's GAPDH is NM_001256799 (transcript variant 2, 293 aa), not NM_002046 (335 aa); ACTB is absent
    expected_aa = {"GAPDH": 293, "TP53": 393, "B2M": 119, "HPRT1": 218, "EEF1A1": 462}
    for gene, aa in expected_aa.items():
        assert table.loc[gene, "cds_aa"] == aa and table.loc[gene, "cds_nt"] == 3 * (aa + 1), gene
        assert not table.loc[gene, "ambiguous"]
    assert table.loc["GAPDH", "id"] == "NM_001256799|utr3" and table.loc["TP53", "id"] == "NM_000546|utr3"
    assert not table.loc["ACTB", "found"]
    assert time.perf_counter() - t0 < 30
