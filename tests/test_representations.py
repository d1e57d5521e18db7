"""Representations: per-layer embeddings, separation scores, attention distance, integrated gradients, encodings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utrbert.models.model import build_config, build_model
from utrbert.interpret.representations import (
    attention_maps,
    fold_structures,
    layer_embeddings,
    loop_types,
    mean_attention_distance,
    one_hot_encoding,
    pair_graph_features,
    rank_agreement,
    separation_scores,
    structure_encoding,
    token_attributions,
)
from utrbert.data.synthetic import random_utr
from utrbert.tokens.tokenization import KmerTokenizer


@pytest.fixture(scope="module")
def tiny():
    return build_model(build_config("tiny", k=3, initializer_range=0.3), task="classification", seed=0), KmerTokenizer(k=3)


@pytest.fixture(scope="module")
def sequences() -> list[str]:
    rng = np.random.default_rng(0)
    return [random_utr(int(n), rng) for n in rng.integers(20, 50, size=9)]


def test_layer_embeddings_equal_the_hidden_states_of_each_sequence_alone(tiny, sequences) -> None:
    model, tokenizer = tiny
    layers = layer_embeddings(model, tokenizer, sequences, pooling="mean", batch_size=4)
    assert sorted(layers) == list(range(model.config.num_hidden_layers + 1))
    for row in (0, 5):
        ids = torch.as_tensor(tokenizer.encode_corpus([sequences[row]]).padded()["input_ids"])
        with torch.no_grad():
            hidden = model.base_model(input_ids=ids, output_hidden_states=True).hidden_states
        for layer, states in enumerate(hidden):
            np.testing.assert_allclose(layers[layer][row], states[0, 1:-1].mean(0).numpy(), atol=1e-5)
    cls = layer_embeddings(model, tokenizer, sequences, pooling="cls", batch_size=9)
    assert cls[2].shape == (9, model.config.hidden_size)
    with pytest.raises(ValueError, match="pooling"):
        layer_embeddings(model, tokenizer, sequences, pooling="max")


def test_separation_scores_rank_an_informative_representation_above_noise() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 200)
    informative = rng.normal(size=(400, 8)) + labels[:, None] * 1.5
    noise = rng.normal(size=(400, 8))
    train, test = np.arange(0, 400, 2), np.arange(1, 400, 2)
    table = separation_scores({"signal": informative, "noise": noise}, labels, train, test, seed=0)
    assert table.loc["signal", "probe_auroc"] > 0.95 and 0.35 < table.loc["noise", "probe_auroc"] < 0.65
    assert table.loc["signal", "silhouette"] > table.loc["noise", "silhouette"]
    with pytest.raises(ValueError, match="overlap"):
        separation_scores({"x": noise}, labels, train, train)


def test_mean_attention_distance_matches_a_loop_and_restores_the_implementation(tiny, sequences) -> None:
    model, tokenizer = tiny
    before = model.config._attn_implementation
    table = mean_attention_distance(model, tokenizer, sequences[:3], batch_size=2)
    assert model.config._attn_implementation == before
    assert table.shape == (model.config.num_hidden_layers, model.config.num_attention_heads)
    model.set_attn_implementation("eager")
    total, queries = 0.0, 0
    for sequence in sequences[:3]:
        ids = torch.as_tensor(tokenizer.encode_corpus([sequence]).padded()["input_ids"])
        with torch.no_grad():
            weights = model.base_model(input_ids=ids, output_attentions=True).attentions[1][0, 0]  # layer 1, head 0
        n = weights.shape[0]
        distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
        total += float((weights.numpy() * distance).sum())
        queries += n
    model.set_attn_implementation(before)
    assert table.loc[1, 0] == pytest.approx(total / queries, rel=1e-5)


def test_integrated_gradients_complete_to_the_logit_difference(tiny, sequences) -> None:
    model, tokenizer = tiny
    attributions = token_attributions(model, tokenizer, sequences[:2], steps=64)
    for sequence, scores in zip(sequences[:2], attributions):
        assert len(scores) == len(sequence) - 2  # one per 3-mer
        ids = torch.as_tensor(tokenizer.encode_corpus([sequence]).padded()["input_ids"])
        baseline = ids.clone()
        baseline[:, 1:-1] = 0
        with torch.no_grad():
            gap = float(model(input_ids=ids).logits[0, 1] - model(input_ids=baseline).logits[0, 1])
        assert scores.sum() == pytest.approx(gap, abs=0.05 * max(1.0, abs(gap)))  # completeness
    agreement = rank_agreement(attributions, [a[::-1] * 0 + np.arange(len(a)) for a in attributions])
    assert len(agreement) == 2 and agreement["spearman"].between(-1, 1).all()
    with pytest.raises(ValueError, match="tokens"):
        rank_agreement([np.ones(3)], [np.ones(4)])


def test_one_hot_and_structure_encodings() -> None:
    assert one_hot_encoding(["ACGUN"])[0].reshape(5, 4).tolist() == [
        [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="equal-length"):
        one_hot_encoding(["ACG", "ACGU"])
    assert loop_types("..((..((...))..))..") == "EESSIISSHHHSSIISSEE"
    assert loop_types("((.((..)).((..))))") == "SSISSHHSSISSHHSSSS"  # a multi-loop's unpaired base
    with pytest.raises(ValueError, match="unbalanced"):
        loop_types("((.)")
    (structure, energy), = fold_structures(["GGGGAAAACCCCUUUUGGGGAAAACCCC"])
    assert structure.count("(") == structure.count(")") > 0 and energy < 0
    encoded = structure_encoding([structure, "." * len(structure)])
    assert encoded.shape == (2, 4 * len(structure)) and encoded[1].reshape(-1, 4)[:, 3].all()  # all exterior
    graph = pair_graph_features(["GGGAAACCC", "AAAAAAAAA"], ["(((...)))", "........."], window=3)
    assert graph[0, :6].tolist() == [0, 0, 3, 0, 0, 0] and graph[1].sum() == 0
    assert graph.shape == (2, 6 + 2 * 3)


def test_attention_maps_are_row_stochastic_and_equal_eager_attention(tiny, sequences) -> None:
    model, tokenizer = tiny
    before = model.config._attn_implementation
    weights, tokens = attention_maps(model, tokenizer, sequences[0])
    n = len(sequences[0]) - 3 + 1 + 2  # k-mers + [CLS] + [SEP]
    assert weights.shape == (model.config.num_hidden_layers, model.config.num_attention_heads, n, n)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and len(tokens) == n
    assert tokens[1] == sequences[0][:3].replace("T", "U")
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert model.config._attn_implementation == before
    model.set_attn_implementation("eager")
    ids = torch.as_tensor(tokenizer.encode_corpus([sequences[0]]).padded()["input_ids"])
    with torch.no_grad():
        eager = model.base_model(input_ids=ids, output_attentions=True).attentions[0][0].numpy()
    model.set_attn_implementation(before)
    np.testing.assert_allclose(weights[0], eager, atol=1e-6)
