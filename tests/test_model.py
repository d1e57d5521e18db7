"""Model sizes on stock BERT, checkpoint loading in the original and the Hugging Face formats, attention switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from utrbert import KmerTokenizer
from utrbert.models.model import (
    export_checkpoint,
    MODEL_SIZES,
    build_config,
    build_model,
    check_tokenizer_matches,
    load_model,
    save_legacy_checkpoint,
    use_eager_attention,
)

SEQUENCES = ["ACGUACGUAGCUAGCUAGNNACGUUUA", "ACGUAGCUAGGG"]


@pytest.mark.parametrize("k", [3, 6])
def test_vocabulary_size_follows_k_and_is_checked_against_the_tokenizer(k: int) -> None:
    config = build_config("tiny", k=k)
    assert config.vocab_size == 4**k + 5
    model = build_model(config)
    check_tokenizer_matches(model, KmerTokenizer(k=k))
    with pytest.raises(ValueError, match="tokenizer has"):
        check_tokenizer_matches(model, KmerTokenizer(k=4))
    with pytest.raises(ValueError, match="does not match k"):
        build_config("tiny", k=k, vocab_size=100)


def test_named_sizes_include_the_papers_bert_base() -> None:
    base = build_config("base", k=3)
    assert (base.num_hidden_layers, base.hidden_size, base.num_attention_heads, base.intermediate_size) == (
        12,
        768,
        12,
        3072,
    )
    assert set(MODEL_SIZES) == {"tiny", "mini", "small", "base"}
    with pytest.raises(ValueError, match="unknown model size"):
        build_config("huge")


def test_building_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone() -> None:
    config = build_config("tiny", k=3)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_model(config, seed=5)
    after = torch.rand(1)
    second = build_model(config, seed=5)
    other = build_model(config, seed=6)
    assert torch.equal(after, expected_next)
    weights = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(first.state_dict()[weights], second.state_dict()[weights])
    assert not torch.equal(first.state_dict()[weights], other.state_dict()[weights])


def _logits(model: torch.nn.Module, tokenizer: KmerTokenizer) -> torch.Tensor:
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def test_original_3utrbert_checkpoint_format_loads_with_identical_logits(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(k=4)
    model = build_model(build_config("tiny", k=4), task="mlm", seed=1).eval()
    expected = _logits(model, tokenizer)
    save_legacy_checkpoint(model, tokenizer, tmp_path)
    state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
    assert any(name.endswith("LayerNorm.gamma") for name in state)
    assert not any(name.endswith("LayerNorm.weight") for name in state)
    assert "model_type" not in json.loads((tmp_path / "config.json").read_text())
    loaded, loaded_tokenizer = load_model(tmp_path, task="mlm")
    assert loaded_tokenizer.k == 4
    torch.testing.assert_close(_logits(loaded, loaded_tokenizer), expected, rtol=0, atol=0)


def test_safetensors_checkpoint_loads_with_identical_logits(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(k=3)
    model = build_model(build_config("tiny", k=3), task="mlm", seed=2).eval()
    expected = _logits(model, tokenizer)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded, _ = load_model(tmp_path)
    torch.testing.assert_close(_logits(loaded, tokenizer), expected, rtol=0, atol=0)


def test_mlm_checkpoint_loads_for_classification_with_the_same_encoder(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(k=3)
    model = build_model(build_config("tiny", k=3), task="mlm", seed=3)
    save_legacy_checkpoint(model, tokenizer, tmp_path)
    binary, _ = load_model(tmp_path, task="classification", num_labels=2)
    multi, _ = load_model(tmp_path, task="classification", num_labels=6, problem_type="multi_label_classification")
    name = "bert.encoder.layer.1.output.dense.weight"
    assert torch.equal(binary.state_dict()[name], model.state_dict()[name])
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    labels = torch.tensor([[1.0, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]])
    output = multi.train()(**batch, labels=labels)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(output.logits, labels)
    torch.testing.assert_close(output.loss, expected)


def test_checkpoint_without_encoder_weights_is_an_error(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(k=3)
    model = build_model(build_config("tiny", k=3), task="mlm", seed=4)
    save_legacy_checkpoint(model, tokenizer, tmp_path)
    state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
    del state["bert.encoder.layer.0.attention.self.query.weight"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="lacks encoder weights"):
        load_model(tmp_path)


def test_wrong_vocabulary_size_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "absent")
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 100}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a 3UTRBERT k-mer vocabulary size"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 69}), encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_model(tmp_path)


def test_sdpa_by_default_and_eager_attention_returns_weights() -> None:
    tokenizer = KmerTokenizer(k=3)
    model = build_model(build_config("tiny", k=3), task="encoder").eval()
    assert model.config._attn_implementation == "sdpa"
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    use_eager_attention(model)
    with torch.no_grad():
        output = model(**batch, output_attentions=True)
    layers = model.config.num_hidden_layers
    heads = model.config.num_attention_heads
    length = batch["input_ids"].shape[1]
    assert len(output.attentions) == layers
    assert output.attentions[0].shape == (2, heads, length, length)
    torch.testing.assert_close(output.attentions[0].sum(-1), torch.ones(2, heads, length))
    # padded keys of the shorter sequence receive no attention
    n_real = int(batch["attention_mask"][1].sum())
    assert float(output.attentions[-1][1, :, :, n_real:].abs().max()) == 0.0


def test_exported_fp16_checkpoint_loads_in_fp32_with_close_logits(tmp_path: Path) -> None:
    model = build_model(build_config("tiny", k=3), task="mlm", seed=2).eval()
    ids = torch.tensor([[2, 10, 40, 60, 3]])
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    path = export_checkpoint(model, KmerTokenizer(k=3), tmp_path / "export", {"steps": 7, "seed": 2})
    assert torch.equal(torch.random.get_rng_state(), before)
    assert next(model.parameters()).dtype == torch.float32  # the model itself is not converted
    loaded, tokenizer = load_model(path, task="mlm")
    assert tokenizer.k == 3 and next(loaded.parameters()).dtype == torch.float32
    with torch.no_grad():
        expected, got = model(input_ids=ids).logits, loaded(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=2e-2, rtol=0)
    assert json.loads((path / "model_card.json").read_text()) == {"steps": 7, "seed": 2}
    assert "**steps**: 7" in (path / "README.md").read_text()


def test_sinusoidal_position_init_is_a_shifted_table_and_keeps_the_rest() -> None:
    from utrbert.models.model import sinusoidal_positions

    plain = build_model(build_config("tiny", k=3), seed=3)
    sinus = build_model(build_config("tiny", k=3), seed=3, position_init="sinusoidal", position_amplitude=0.1)
    table = sinus.bert.embeddings.position_embeddings.weight.detach()
    assert torch.allclose(table, sinusoidal_positions(512, 32, 0.1))
    assert table.abs().max() <= 0.1 + 1e-6
    # a fixed linear map sends every row p to row p + 1 (the relative-position property)
    solution = torch.linalg.lstsq(table[:-1].double(), table[1:].double()).solution
    assert torch.allclose(table[:-1].double() @ solution, table[1:].double(), atol=1e-6)
    rest = {n: t for n, t in plain.state_dict().items() if "position_embeddings" not in n}
    assert all(torch.equal(t, sinus.state_dict()[n]) for n, t in rest.items())
    with pytest.raises(ValueError, match="position_init"):
        build_model(build_config("tiny", k=3), position_init="rotary")
