"""Tests of the frequency baselines on sequences where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utrbert.tokens.masking import KmerSpanMaskingCollator
from utrbert.baselines.mlm import ContextBaseline, UnigramBaseline, nucleotide_track, score_baselines
from utrbert.models.pretraining import fixed_masks
from utrbert.tokens.tokenization import KmerTokenizer


def _windows(seqs: list[str], k: int) -> np.ndarray:
    return KmerTokenizer(k=k).encode_corpus(seqs).padded(max_length=64)["input_ids"]


def _periodic(n: int, seed: int, period: str = "AACGUUG") -> list[str]:
    rng = np.random.default_rng(seed)
    return [(period * 20)[int(rng.integers(len(period))) :][: int(rng.integers(40, 60))] for _ in range(n)]


def _random(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGU"), 60)) for _ in range(n)]


@pytest.mark.parametrize("k", [3, 5])
def test_context_model_solves_periodic_sequences_and_unigram_does_not(k: int) -> None:
    train, test = _windows(_periodic(200, 0), k), _windows(_periodic(50, 1), k)
    inputs, labels = fixed_masks(KmerSpanMaskingCollator(KmerTokenizer(k=k), mlm_probability=0.15), test, seed=0)
    scores = score_baselines(train, inputs, labels, k=k)
    assert scores["unigram"]["masked_tokens"] == scores["nucleotide_context"]["masked_tokens"] == int((labels != -100).sum())
    assert scores["nucleotide_context"]["masked_accuracy"] > 0.99
    assert scores["nucleotide_context"]["perplexity"] < 1.5  # add-one smoothing of small counts
    assert scores["unigram"]["masked_accuracy"] < 0.3  # 7 k-mers, about equally frequent
    assert 5 < scores["unigram"]["perplexity"] < 8


def test_single_token_masking_leaks_so_context_model_is_exact() -> None:
    k = 4
    test = _windows(_random(20, 2), k)
    labels = np.full(test.shape, -100)
    rng = np.random.default_rng(0)
    pick = (rng.random(test.shape) < 0.1) & (test >= 5)
    pick[:, 1:] &= ~pick[:, :-1]  # isolated positions only
    interior = np.zeros_like(pick)
    interior[:, 1:-1] = (test[:, :-2] >= 5) & (test[:, 2:] >= 5)
    pick &= interior  # a first or last k-mer has a nucleotide no neighbour covers
    labels[pick] = test[pick]
    inputs = np.where(pick, 4, test)
    predicted, log_p = ContextBaseline(k).fit(_windows(_random(50, 3), k)).predict(inputs, labels)
    assert np.array_equal(predicted, test[pick]) and np.allclose(log_p, 0.0)


def test_random_sequences_give_chance_level() -> None:
    k = 3
    train, test = _windows(_random(300, 4), k), _windows(_random(100, 5), k)
    inputs, labels = fixed_masks(KmerSpanMaskingCollator(KmerTokenizer(k=k)), torch.as_tensor(test), seed=1)
    scores = score_baselines(train, inputs, labels, k=k)
    # one hidden nucleotide per span: the context model is at 1/4, the unigram at about 1/64
    assert 0.15 < scores["nucleotide_context"]["masked_accuracy"] < 0.4
    assert scores["unigram"]["masked_accuracy"] < 0.06
    assert scores["unigram"]["perplexity"] == pytest.approx(64, rel=0.1)


def test_unigram_predicts_most_frequent_kmer() -> None:
    train = np.array([[2, 5, 5, 5, 6, 3, 0]])
    predicted, log_p = UnigramBaseline(k=3).fit(train).predict(train, np.array([[-100, 7, -100, -100, 5, -100, -100]]))
    assert predicted.tolist() == [5, 5]
    assert np.exp(log_p).tolist() == pytest.approx([1 / 68, 4 / 68])


def test_nucleotide_track_keeps_only_visible_kmers() -> None:
    ids = np.array([[2, 5, 6, 1, 3]])  # [CLS] AAA AAU [UNK] [SEP]
    assert nucleotide_track(ids, np.array([[1, 1, 1, 1, 1]], dtype=bool), 3).tolist() == [[-1, 0, 0, 0, 1, -1, -1]]
