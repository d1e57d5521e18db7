"""The layer-by-layer BERT pass with chunked temporaries (utrbert.models.lean_forward) and its use by cls_attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utrbert import KmerTokenizer
from utrbert.interpret import attention as attention_module
from utrbert.interpret.attention import cls_attention
from utrbert.models.lean_forward import chunk_sequences, layer_inputs, supports_lean_forward
from utrbert.models.model import build_config, build_model

SEQUENCES = ["ACGUACGUAGCUAGCUAGNNACGUUUA", "ACGUAGCUAGGG", "GGA", "UUUUACGACGAUCGAUCGAUGCAUGCAUGCAGCAUCGAU", "CAGUCA",
             "ACGUACGUACGUACGUACGUACGUACGUACGUACGUACGU", "UUAGCUAGCAUCGACUAGCAUCAGCAUCGACUAGCAGAUCA"]


@pytest.fixture(scope="module")
def model():
    # a large initializer range makes the attention far from uniform, so a wrong scale, mask or order shows
    return build_model(build_config("tiny", k=3, num_hidden_layers=3, initializer_range=0.6), task="mlm", seed=3).eval()


@pytest.fixture(scope="module")
def batch():
    padded = KmerTokenizer(k=3).encode_corpus(SEQUENCES).padded()
    return torch.from_numpy(padded["input_ids"]), torch.from_numpy(padded["attention_mask"])


@pytest.mark.parametrize("chunk_tokens", [1, 40, 100, 10_000])  # one sequence per chunk ... the whole batch at once
def test_every_layer_input_equals_the_stock_forward_pass(model, batch, chunk_tokens: int) -> None:
    ids, mask = batch
    with torch.inference_mode():
        stock = model.base_model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        lean = [(index, hidden.clone()) for index, hidden in layer_inputs(model.base_model, ids, mask.bool(), 3, chunk_tokens)]
    assert [index for index, _ in lean] == [0, 1, 2, 3]
    real = mask.bool()[:, :, None].expand_as(stock[0])
    for (index, hidden), reference in zip(lean, stock):
        difference = (hidden - reference).abs()[real].max().item()
        assert difference < 1e-5, f"layer {index}: {difference}"


def test_a_batch_without_padding_needs_no_mask(model) -> None:
    ids = torch.from_numpy(KmerTokenizer(k=3).encode_corpus([SEQUENCES[0], SEQUENCES[0][::-1]]).padded()["input_ids"])
    with torch.inference_mode():
        stock = model.base_model(input_ids=ids).last_hidden_state
        *_, (_, lean) = layer_inputs(model.base_model, ids, None, 3, chunk_tokens=ids.shape[1])
    assert torch.allclose(stock, lean, atol=1e-5)


def test_the_pass_stops_at_the_layer_asked_for(model, batch) -> None:
    ids, mask = batch
    calls: list[int] = []
    handles = [layer.intermediate.register_forward_hook(lambda *_, i=i: calls.append(i))
               for i, layer in enumerate(model.base_model.encoder.layer)]
    try:
        with torch.inference_mode():
            steps = [index for index, _ in layer_inputs(model.base_model, ids, mask.bool(), 1, chunk_tokens=10_000)]
    finally:
        for handle in handles:
            handle.remove()
    assert steps == [0, 1] and calls == [0]  # layer 1's input needs layer 0 only


def test_only_eval_mode_stock_encoders_take_the_lean_pass(model, batch) -> None:
    assert supports_lean_forward(model.base_model)
    decoder = build_model(build_config("tiny", k=3, is_decoder=True), task="mlm", seed=0)
    assert not supports_lean_forward(decoder.base_model)
    ids, mask = batch
    model.train()
    try:
        with pytest.raises(ValueError, match="eval mode"):
            next(layer_inputs(model.base_model, ids, mask.bool(), 1))
    finally:
        model.eval()
    with pytest.raises(ValueError, match="last_layer"):
        next(layer_inputs(model.base_model, ids, mask.bool(), 4))


def test_chunks_hold_whole_sequences() -> None:
    assert [chunk_sequences(length, 2048) for length in (1, 512, 2048, 2049)] == [2048, 4, 1, 1]


def test_cls_attention_gives_the_same_scores_through_the_stock_forward_with_hooks(model, monkeypatch) -> None:
    encoding = KmerTokenizer(k=3).encode_corpus(SEQUENCES)
    lean = cls_attention(model, encoding, batch_size=3, layers=None, progress=False)
    monkeypatch.setattr(attention_module, "supports_lean_forward", lambda base: False)
    hooked = cls_attention(model, encoding, batch_size=3, layers=None, progress=False)
    np.testing.assert_allclose(lean.token_scores, hooked.token_scores, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(lean.to_cls, hooked.to_cls, atol=1e-6)


def test_small_chunks_give_the_same_cls_scores(model, monkeypatch) -> None:
    encoding = KmerTokenizer(k=3).encode_corpus(SEQUENCES)
    whole = cls_attention(model, encoding, batch_size=7, layers=[0, 2], progress=False)
    monkeypatch.setattr(attention_module, "LEAN_CHUNK_TOKENS", 20)  # 1 sequence per chunk
    chunked = cls_attention(model, encoding, batch_size=7, layers=[0, 2], progress=False)
    np.testing.assert_allclose(whole.token_scores, chunked.token_scores, atol=1e-6, equal_nan=True)
