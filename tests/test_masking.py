"""Property tests for k-span MLM masking (:mod:`utrbert.tokens.masking`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import DataCollatorForLanguageModeling

from utrbert.tokens.masking import (
    FIRST_KMER_ID,
    KmerSpanMaskingCollator,
    leaked_tokens,
    mask_kmer_tokens,
    masked_runs,
    recoverable_positions,
    span_mask,
    start_probability,
)
from utrbert.tokens.tokenization import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID, KmerTokenizer

KS = (3, 4, 5, 6)


def random_batch(k: int, rows: int, min_len: int, max_len: int, seed: int) -> torch.Tensor:
    """Padded ``[CLS] k-mers [SEP] [PAD]...`` rows with random lengths and a few [UNK] and pair-style [SEP]s."""
    rng = np.random.default_rng(seed)
    vocab = 4**k + FIRST_KMER_ID
    lengths = rng.integers(min_len, max_len + 1, size=rows)
    ids = torch.full((rows, int(lengths.max()) + 2), PAD_ID, dtype=torch.long)
    for r, n in enumerate(lengths):
        body = rng.integers(FIRST_KMER_ID, vocab, size=n)
        body[rng.random(n) < 0.01] = UNK_ID
        if n > 20 and rng.random() < 0.2:  # a second segment, as in a sequence pair
            body[rng.integers(5, n - 5)] = SEP_ID
        ids[r, 0] = CLS_ID
        ids[r, 1 : n + 1] = torch.from_numpy(body)
        ids[r, n + 1] = SEP_ID
    return ids


def random_rna(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGU"), size=n))


def segments(special_row: list[bool]) -> list[tuple[int, int]]:
    """Maximal runs of non-special positions as half-open intervals."""
    return masked_runs(torch.tensor([[not s for s in special_row]]))[0]


# --- leakage ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("rate", [0.15, 0.5])
def test_no_masked_token_is_recoverable_from_its_neighbours(k: int, rate: float) -> None:
    for seed in range(5):
        ids = random_batch(k, rows=64, min_len=1, max_len=200, seed=seed)
        gen = torch.Generator().manual_seed(seed)
        _, labels = mask_kmer_tokens(ids, k=k, vocab_size=4**k + 5, generator=gen, mlm_probability=rate)
        masked = labels != -100
        assert masked.any()
        assert not leaked_tokens(masked, k, special_mask=ids < FIRST_KMER_ID).any()


@pytest.mark.parametrize("k", KS)
def test_leaked_tokens_agrees_with_recoverable_positions(k: int) -> None:
    """Cross-check the vectorized leakage check against the per-segment nucleotide coverage."""
    gen = torch.Generator().manual_seed(k)
    for _ in range(200):
        n = int(torch.randint(1, 30, (1,), generator=gen))
        masked = torch.rand(n, generator=gen) < 0.4  # arbitrary masks, leaky or not
        visible = recoverable_positions(masked, k)
        assert visible.shape == (n + k - 1,)
        expected = torch.tensor([bool(m) and bool(visible[i : i + k].all()) for i, m in enumerate(masked.tolist())])
        assert torch.equal(leaked_tokens(masked, k), expected)


@pytest.mark.parametrize("k", KS)
def test_stock_single_token_masking_leaks(k: int) -> None:
    """transformers' per-token masking leaves most masked k-mers fully covered by their neighbours."""
    tok = KmerTokenizer(k)
    rng = np.random.default_rng(0)
    stock = DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0)
    batch = stock([tok(random_rna(rng, 300)) for _ in range(16)])
    masked = batch["labels"] != -100
    leaked = leaked_tokens(masked, k, special_mask=batch["labels"].eq(-100) & (batch["input_ids"] < 5))
    assert masked.sum() > 100
    assert leaked.sum() / masked.sum() > 0.5  # isolated masked tokens are copied from neighbours
    ours = KmerSpanMaskingCollator(tok, seed=0)([tok(random_rna(rng, 300)) for _ in range(16)])
    special = ours["input_ids"].lt(5) & ours["labels"].eq(-100)
    assert not leaked_tokens(ours["labels"] != -100, k, special_mask=special).any()


# --- spans --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", KS)
def test_runs_are_k_spans_inside_segments(k: int) -> None:
    ids = random_batch(k, rows=128, min_len=1, max_len=120, seed=k)
    special = ids < FIRST_KMER_ID
    masked = span_mask(special, k, 0.3, torch.Generator().manual_seed(1))
    assert not (masked & special).any()
    for row_special, runs in zip(special.tolist(), masked_runs(masked)):
        segs = segments(row_special)
        for start, end in runs:
            (seg,) = [s for s in segs if s[0] <= start and end <= s[1]]  # inside exactly one segment
            seg_len = seg[1] - seg[0]
            assert end - start >= k or (seg_len < k and (start, end) == seg)


@pytest.mark.parametrize("k", KS)
def test_segments_shorter_than_k_are_all_or_nothing(k: int) -> None:
    rows = 20_000
    special = torch.zeros(rows, k + 1, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True  # k-1 maskable tokens
    masked = span_mask(special, k, 0.15, torch.Generator().manual_seed(0))
    per_row = masked.sum(1)
    assert set(per_row.tolist()) <= {0, k - 1}
    frac = (per_row > 0).double().mean().item()
    assert abs(frac - 0.15) < 4 * math.sqrt(0.15 * 0.85 / rows)


# --- rate ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [50, 128, 300, 510])
@pytest.mark.parametrize("k", KS)
def test_empirical_masked_fraction_is_the_target(k: int, length: int) -> None:
    """Mean masked fraction over 4000-20000 sequences (~1M tokens) within 4 standard errors of 15% (< 0.4 pp).

    Sequences are independent, so the standard error of the mean per-sequence fraction is sd/sqrt(n) (measured
    0.02-0.09 pp here); a 4-SE band fails a correct sampler with probability ~6e-5 while catching a biased one: the
    naive start probability 1-(1-0.15)^(1/k), which ignores segment edges, gives 13.55% at length 50, k=6
    (14.42% for k=3), 9-17 standard errors off.
    """
    rows = max(4000, 1_000_000 // length)  # ~1M tokens per case keeps 4 SE under 0.4 pp
    special = torch.zeros(rows, length + 2, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    masked = span_mask(special, k, 0.15, torch.Generator().manual_seed(k * 1000 + length))
    frac = masked.sum(1).double() / length
    se = frac.std().item() / math.sqrt(rows)
    assert 4 * se < 0.004
    assert abs(frac.mean().item() - 0.15) < 4 * se


@pytest.mark.parametrize("k", KS)
def test_start_probability_gives_the_exact_expected_fraction(k: int) -> None:
    for length in (k, k + 1, 2 * k, 50, 511):
        p = start_probability(length, k, 0.15)
        j = np.arange(length)
        counts = np.minimum(j, length - k) - np.maximum(0, j - k + 1) + 1
        assert np.mean(1 - (1 - p) ** counts) == pytest.approx(0.15, abs=1e-9)


def test_rate_through_the_collator_with_mixed_lengths() -> None:
    tok = KmerTokenizer(6)
    rng = np.random.default_rng(3)
    collator = KmerSpanMaskingCollator(tok, seed=3)
    masked = maskable = 0
    for _ in range(10):
        batch = collator([tok(random_rna(rng, int(rng.integers(60, 515)))) for _ in range(64)])
        masked += int((batch["labels"] != -100).sum())
        maskable += int((batch["input_ids"].ge(5) | batch["labels"].ne(-100)).sum())
    assert abs(masked / maskable - 0.15) < 0.01  # ~180k tokens in spans of ~7: SE ~0.2 pp


# --- special tokens and 80/10/10 ----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [3, 6])
def test_specials_untouched_and_replacements_are_kmers(k: int) -> None:
    ids = random_batch(k, rows=256, min_len=1, max_len=300, seed=7)
    special = ids < FIRST_KMER_ID
    inputs, labels = mask_kmer_tokens(
        ids, k=k, vocab_size=4**k + 5, generator=torch.Generator().manual_seed(0), random_replace_prob=0.2
    )
    assert torch.equal(inputs[special], ids[special])
    assert (labels[special] == -100).all()
    masked = labels != -100
    assert torch.equal(labels[masked], ids[masked])
    assert torch.equal(inputs[~masked], ids[~masked])
    changed = masked & (inputs != ids) & (inputs != MASK_ID)
    assert changed.any()
    assert (inputs[changed] >= FIRST_KMER_ID).all() and (inputs[changed] < 4**k + 5).all()

    # all-random: every masked position gets a k-mer id, never [MASK], [UNK] or another special
    inputs, labels = mask_kmer_tokens(
        ids, k=k, vocab_size=4**k + 5, generator=torch.Generator().manual_seed(1), mlm_probability=0.5,
        mask_replace_prob=0.0, random_replace_prob=1.0,
    )  # fmt: skip
    masked = labels != -100
    assert (inputs[masked] >= FIRST_KMER_ID).all()
    assert torch.equal(inputs[special], ids[special])


def test_80_10_10_proportions() -> None:
    k = 6  # a random k-mer equals the original with probability 1/4096 only
    ids = random_batch(k, rows=512, min_len=400, max_len=510, seed=11)
    inputs, labels = mask_kmer_tokens(ids, k=k, vocab_size=4**k + 5, generator=torch.Generator().manual_seed(5))
    masked = labels != -100
    n = int(masked.sum())
    to_mask = int((masked & (inputs == MASK_ID)).sum()) / n
    kept = int((masked & (inputs == ids)).sum()) / n
    random = 1 - to_mask - kept
    for observed, expected in ((to_mask, 0.8), (random, 0.1), (kept, 0.1)):
        assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


# --- determinism, padding, tokenizer output -----------------------------------------------------------------


def test_same_seed_same_masks_and_different_seed_differs() -> None:
    tok = KmerTokenizer(4)
    rng = np.random.default_rng(0)
    examples = [tok(random_rna(rng, n)) for n in (40, 200, 120, 90)]

    def run(seed: int) -> list[dict[str, torch.Tensor]]:
        collator = KmerSpanMaskingCollator(tok, seed=seed)
        return [collator(examples) for _ in range(3)]

    first, again, other = run(0), run(0), run(1)
    for a, b in zip(first, again):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    assert not torch.equal(first[0]["labels"], first[1]["labels"])  # the generator advances between batches
    assert not torch.equal(first[0]["labels"], other[0]["labels"])


def test_explicit_generator_for_exact_resume() -> None:
    tok = KmerTokenizer(5)
    collator = KmerSpanMaskingCollator(tok, seed=0)
    ids = random_batch(5, rows=8, min_len=50, max_len=100, seed=0)
    before = ids.clone()
    a = collator.mask_tokens(ids, generator=torch.Generator().manual_seed(42))
    b = collator.torch_mask_tokens(ids, generator=torch.Generator().manual_seed(42))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(ids, before)  # inputs are not modified in place
    state = collator._default_generator().get_state()
    collator.mask_tokens(ids, generator=torch.Generator().manual_seed(7))
    assert torch.equal(collator.generator.get_state(), state)  # an explicit generator leaves the collator's alone


def test_padding_in_a_batch_of_unequal_lengths() -> None:
    tok = KmerTokenizer(3)
    rng = np.random.default_rng(1)
    seqs = [random_rna(rng, n) for n in (5, 60, 33)]
    batch = KmerSpanMaskingCollator(tok, mlm_probability=0.5, seed=0, pad_to_multiple_of=8)(
        [tok(s, return_special_tokens_mask=True) for s in seqs]
    )
    assert set(batch) == {"input_ids", "attention_mask", "labels", "token_type_ids"}
    assert batch["input_ids"].shape == (3, 64)
    for row, seq in enumerate(seqs):
        n = len(seq) - 3 + 1 + 2
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (64 - n)
        assert (batch["input_ids"][row, n:] == PAD_ID).all()
        assert (batch["labels"][row, n:] == -100).all()
        assert batch["labels"][row, 0] == -100 and batch["labels"][row, n - 1] == -100


def test_tokenizer_dicts_with_unknown_kmers() -> None:
    tok = KmerTokenizer(3)
    examples = [tok("ACGUACGNNACGUACGUAGGCUA" * 3), tok("acgtacgtacgtacgt")]
    batch = KmerSpanMaskingCollator(tok, mlm_probability=0.6, seed=2)(examples)
    original = tok.pad(examples, return_tensors="pt")["input_ids"]
    unk = original == UNK_ID
    assert unk.any()
    assert (batch["labels"][unk] == -100).all() and (batch["input_ids"][unk] == UNK_ID).all()
    assert (batch["labels"] != -100).any()


def test_invalid_arguments() -> None:
    tok = KmerTokenizer(3)
    with pytest.raises(ValueError, match="return_tensors"):
        KmerSpanMaskingCollator(tok, return_tensors="np")
    with pytest.raises(ValueError):
        KmerSpanMaskingCollator(tok, mask_replace_prob=0.9, random_replace_prob=0.2)
    with pytest.raises(ValueError):
        span_mask(torch.zeros(3, 5, dtype=torch.bool), 3, 1.5)
