"""KmerTokenizer: ids identical to the original 3UTRBERT vocabularies, strict input handling, fast path parity."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from transformers import BertTokenizer, PreTrainedTokenizer

from utrbert import KmerTokenizer
from utrbert.tokens.kmers import SUPPORTED_K, SequenceError, kmer_vocab, seq_to_kmers

ORIGINAL_VOCAB_DIR = Path(os.environ.get("UTRBERT_DATA", "/nonexistent")) / "3utrbert_vocab"


def random_sequences(n: int, rng: np.random.Generator, low: int = 6, high: int = 300) -> list[str]:
    """Random DNA/RNA sequences in mixed case with occasional N, so all input paths are exercised."""
    letters = np.array(list("ACGUTacgutN"))
    weights = np.array([0.2, 0.2, 0.2, 0.1, 0.1, 0.04, 0.04, 0.04, 0.03, 0.03, 0.02])
    lengths = rng.integers(low, high, size=n)
    return ["".join(rng.choice(letters, size=length, p=weights / weights.sum())) for length in lengths]


def vocab_for(k: int) -> list[str]:
    """The original vocab.txt when the real data are available, else the generated one."""
    path = ORIGINAL_VOCAB_DIR / f"vocab-{k}.txt"
    if path.is_file():
        return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return kmer_vocab(k)


def bert_tokenizer(k: int) -> BertTokenizer:
    return BertTokenizer(vocab={token: i for i, token in enumerate(vocab_for(k))}, do_lower_case=False)


def space_joined(sequence: str, k: int) -> str:
    return " ".join(seq_to_kmers(sequence, k))


@pytest.mark.parametrize("k", SUPPORTED_K)
def test_ids_equal_stock_bert_tokenizer_on_space_joined_kmers(k: int) -> None:
    rng = np.random.default_rng(k)
    sequences = random_sequences(40, rng, high=250)
    ours = KmerTokenizer(k=k)(sequences)["input_ids"]
    stock = bert_tokenizer(k)([space_joined(s, k) for s in sequences])["input_ids"]
    assert ours == stock


@pytest.mark.parametrize("k", SUPPORTED_K)
def test_vocabulary_order_is_specials_then_product_aucg(k: int) -> None:
    tokenizer = KmerTokenizer(k=k)
    vocab = tokenizer.get_vocab()
    assert len(tokenizer) == 4**k + 5
    assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    assert vocab["A" * k] == 5 and vocab["G" * k] == 4**k + 4
    assert vocab["A" * (k - 1) + "U"] == 6 and vocab["A" * (k - 1) + "C"] == 7


@pytest.mark.skipif(not ORIGINAL_VOCAB_DIR.is_dir(), reason="original 3UTRBERT vocabularies need UTRBERT_DATA")
@pytest.mark.parametrize("k", SUPPORTED_K)
def test_generated_vocabulary_equals_original_vocab_file(k: int) -> None:
    assert kmer_vocab(k) == vocab_for(k)
    tokenizer = KmerTokenizer.from_vocab_file(ORIGINAL_VOCAB_DIR / f"vocab-{k}.txt")
    assert tokenizer.k == k


def test_is_a_hugging_face_tokenizer_returning_ids_and_attention_mask() -> None:
    tokenizer = KmerTokenizer(k=3)
    assert isinstance(tokenizer, PreTrainedTokenizer)
    batch = tokenizer(["ACGUA", "ACGU"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == [[2, 16, 50, 57, 3], [2, 16, 50, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert tokenizer.decode(batch["input_ids"][1], skip_special_tokens=True) == "ACG CGU"


def test_raw_and_pretokenized_inputs_give_identical_ids() -> None:
    tokenizer = KmerTokenizer(k=4)
    raw = "acgtTTAGGcaNuu"
    normalized = raw.upper().replace("T", "U")
    pretokenized = " ".join(normalized[i : i + 4] for i in range(len(normalized) - 3))
    wrapped = "ACGT\nttagg CANUU\n"
    ids = tokenizer([raw, pretokenized, wrapped])["input_ids"]
    assert ids[0] == ids[1] == ids[2]


def test_kmers_with_ambiguity_codes_map_to_unk() -> None:
    tokenizer = KmerTokenizer(k=3)
    ids = tokenizer(["AANAAR"], add_special_tokens=False)["input_ids"][0]
    assert ids == [1, 1, 1, 1]
    ids = tokenizer(["AAAN"], add_special_tokens=False)["input_ids"][0]
    assert ids == [5, 1]


@pytest.mark.parametrize("bad", ["ACGU!A", "ACGXU", "ACG-U", "ACGU5"])
def test_non_nucleotide_characters_raise_naming_the_record(bad: str) -> None:
    tokenizer = KmerTokenizer(k=3)
    with pytest.raises(SequenceError, match=r"sequence #1"):
        tokenizer(["ACGUACGU", bad])
    with pytest.raises(SequenceError, match=r"record 'second'"):
        tokenizer.encode_corpus(["ACGUACGU", bad], ids=["first", "second"])


@pytest.mark.parametrize("short", ["", "A", "AC", "  \n"])
def test_sequences_shorter_than_k_raise(short: str) -> None:
    tokenizer = KmerTokenizer(k=3)
    with pytest.raises(SequenceError):
        tokenizer([short])
    with pytest.raises(SequenceError, match="'x'"):
        tokenizer.encode_corpus(["ACGU", short], ids=["ok", "x"])


def test_pretokenized_input_with_the_wrong_k_raises() -> None:
    with pytest.raises(SequenceError, match="k=4"):
        KmerTokenizer(k=4)(["ACG CGU GUA UAC"])


def test_too_long_input_raises_instead_of_truncating() -> None:
    tokenizer = KmerTokenizer(k=3)
    fits = "A" * tokenizer.max_nucleotides
    assert len(tokenizer([fits])["input_ids"][0]) == 512
    with pytest.raises(SequenceError, match=r"sequence #1.*window"):
        tokenizer([fits, fits + "A"])
    with pytest.raises(ValueError, match="never truncates"):
        tokenizer([fits + "A"], truncation=True, max_length=512)
    encoding = tokenizer.encode_corpus([fits + "A"], ids=["long"])
    with pytest.raises(SequenceError, match="'long'"):
        encoding.padded()


@pytest.mark.parametrize("k", SUPPORTED_K)
def test_fast_corpus_path_matches_the_hugging_face_call(k: int) -> None:
    rng = np.random.default_rng(100 + k)
    sequences = random_sequences(60, rng)
    tokenizer = KmerTokenizer(k=k)
    slow = tokenizer(sequences, padding=True, return_tensors="np")
    fast = tokenizer.encode_corpus(sequences).padded()
    np.testing.assert_array_equal(fast["input_ids"], slow["input_ids"])
    np.testing.assert_array_equal(fast["attention_mask"], slow["attention_mask"])


def test_fast_path_equal_length_shortcut_matches_ragged_path() -> None:
    rng = np.random.default_rng(7)
    tokenizer = KmerTokenizer(k=5)
    same = random_sequences(20, rng, low=101, high=102)
    ragged = same + ["ACGUACGU"]
    padded_same = tokenizer.encode_corpus(same).padded()["input_ids"]
    padded_ragged = tokenizer.encode_corpus(ragged).padded(max_length=padded_same.shape[1])["input_ids"]
    np.testing.assert_array_equal(padded_ragged[:20], padded_same)


def test_fast_path_keeps_record_ids_and_rejects_duplicates() -> None:
    tokenizer = KmerTokenizer(k=3)
    encoding = tokenizer.encode_corpus(["ACGUA", "GGGG"], ids=["utr1", "utr2"])
    assert encoding.record_ids == ["utr1", "utr2"]
    assert encoding.token_ids("utr2").tolist() == tokenizer(["GGGG"], add_special_tokens=False)["input_ids"][0]
    with pytest.raises(ValueError, match="duplicate record id 'a'"):
        tokenizer.encode_corpus(["ACGU", "ACGU"], ids=["a", "a"])


def test_windows_cover_every_nucleotide_and_carry_provenance() -> None:
    tokenizer = KmerTokenizer(k=3)
    rng = np.random.default_rng(3)
    long = "".join(rng.choice(list("ACGU"), size=1200))
    encoding = tokenizer.encode_corpus([long, "ACGUACGU"], ids=["long", "short"])
    windowed = encoding.windows(window_nt=510)
    table = windowed.table()
    assert [(row["record_id"], row["start"], row["end"]) for row in table] == [
        ("long", 0, 510),
        ("long", 510, 1020),
        ("long", 1020, 1200),
        ("short", 0, 8),
    ]
    arrays = windowed.padded()
    assert arrays["input_ids"].shape == (4, 510)
    # each window's ids are exactly the ids of that slice tokenized on its own
    for row, ids in zip(table, arrays["input_ids"]):
        source = long if row["record_id"] == "long" else "ACGUACGU"
        expected = tokenizer([source[row["start"] : row["end"]]])["input_ids"][0]
        assert ids[: len(expected)].tolist() == expected
        assert (ids[len(expected) :] == 0).all()


def test_windows_with_overlap_and_shifted_last_window() -> None:
    tokenizer = KmerTokenizer(k=6)
    encoding = tokenizer.encode_corpus(["A" * 1000], ids=["x"])
    shifted = encoding.windows(window_nt=400, stride_nt=300, last="shift").table()
    assert [(r["start"], r["end"]) for r in shifted] == [(0, 400), (300, 700), (600, 1000)]
    with pytest.raises(ValueError, match="model window"):
        encoding.windows(window_nt=600)


def test_window_tail_shorter_than_k_is_widened_not_dropped() -> None:
    tokenizer = KmerTokenizer(k=4)
    encoding = tokenizer.encode_corpus(["ACGU" * 3], ids=["x"])  # 12 nt, windows of 10 leave a 2-nt tail
    spans = [(r["start"], r["end"]) for r in encoding.windows(window_nt=10).table()]
    assert spans == [(0, 10), (8, 12)]


@pytest.mark.parametrize("k", SUPPORTED_K)
def test_save_and_load_pretrained_round_trip(tmp_path: Path, k: int) -> None:
    tokenizer = KmerTokenizer(k=k)
    tokenizer.save_pretrained(tmp_path)
    loaded = KmerTokenizer.from_pretrained(tmp_path)
    assert loaded.k == k
    assert loaded.get_vocab() == tokenizer.get_vocab()
    sequences = ["ACGUNACGUAGGC", "uuuagcgcgauac"]
    assert loaded(sequences)["input_ids"] == tokenizer(sequences)["input_ids"]
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines() == kmer_vocab(k)


def test_a_vocab_file_that_is_not_the_original_order_is_rejected(tmp_path: Path) -> None:
    vocab = kmer_vocab(3)
    vocab[5], vocab[6] = vocab[6], vocab[5]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not the 3UTRBERT vocabulary"):
        KmerTokenizer(k=3, vocab_file=str(path))
    with pytest.raises(ValueError, match="k must be one of"):
        KmerTokenizer(k=7)
