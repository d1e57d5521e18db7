"""Sharded safetensors checkpoints (``model.safetensors.index.json`` + shards) load like single-file ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from utrbert import KmerTokenizer
from utrbert.models.model import build_config, build_model, checkpoint_identity, load_model, weight_files

SEQUENCES = ["ACGUACGUAGCUAGCUAGNNACGUUUA", "ACGUAGCUAGGG"]


def _logits(model, tokenizer) -> torch.Tensor:
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


def _sharded_save(model, tokenizer, path: Path) -> list[Path]:
    """Save in shards of at most 40 kB (the tiny model is about 130 kB in fp32) and return the shard files."""
    model.save_pretrained(path, max_shard_size="40KB")
    tokenizer.save_pretrained(path)
    return sorted(path.glob("model-*.safetensors"))


def test_sharded_checkpoint_round_trips_with_identical_logits(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(k=3)
    model = build_model(build_config("tiny", k=3), task="mlm", seed=2).eval()
    shards = _sharded_save(model, tokenizer, tmp_path)
    assert len(shards) >= 2 and not (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert sorted(weight_files(tmp_path)) == shards
    loaded, loaded_tokenizer = load_model(tmp_path)
    assert loaded_tokenizer.k == 3
    torch.testing.assert_close(_logits(loaded, tokenizer), _logits(model, tokenizer), rtol=0, atol=0)
    # the encoder of a sharded MLM checkpoint carries over to a classifier, like a single-file one
    classifier, _ = load_model(tmp_path, task="classification", num_labels=2)
    name = "bert.encoder.layer.1.output.dense.weight"
    assert torch.equal(classifier.state_dict()[name], model.state_dict()[name])


def test_sharded_checkpoint_identity_follows_every_shard(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(k=3)
    model = build_model(build_config("tiny", k=3), task="mlm", seed=2)
    _sharded_save(model, tokenizer, tmp_path / "a")
    identity = checkpoint_identity(tmp_path / "a")
    assert identity["weight_shards"] == len(weight_files(tmp_path / "a")) >= 2
    assert checkpoint_identity(tmp_path / "a") == identity  # a pure function of the files
    with torch.no_grad():
        model.bert.encoder.layer[-1].output.dense.bias.add_(1.0)  # a weight in a late shard
    _sharded_save(model, tokenizer, tmp_path / "b")
    assert checkpoint_identity(tmp_path / "b")["weights_md5"] != identity["weights_md5"]


def test_a_missing_shard_is_named(tmp_path: Path) -> None:
    tokenizer = KmerTokenizer(k=3)
    shards = _sharded_save(build_model(build_config("tiny", k=3), seed=1), tokenizer, tmp_path)
    shards[-1].unlink()
    with pytest.raises(FileNotFoundError, match=shards[-1].name):
        load_model(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a sharded-checkpoint index"):
        load_model(tmp_path)
