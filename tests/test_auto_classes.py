"""The reference checkpoint through the stock Hugging Face Auto classes: the same ids and logits as utrbert's loaders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

import utrbert
from utrbert.models.model import load_model

REFERENCE = Path(__file__).resolve().parents[1] / "models" / "utrbert-small-k3"
SEQUENCES = ["ACGUACGGAUUUACGAGCAUNNACGU", "ttgcatcgatcgatcgtagctagcta"]


@pytest.fixture(scope="module")
def auto_tokenizer():
    utrbert.register_auto_classes()
    return AutoTokenizer.from_pretrained(REFERENCE)


def test_auto_tokenizer_is_the_kmer_tokenizer_with_the_original_ids(auto_tokenizer) -> None:
    _, ours = load_model(REFERENCE, task="mlm")
    assert type(auto_tokenizer).__name__ == "KmerTokenizer" and auto_tokenizer.k == ours.k == 3
    assert auto_tokenizer(SEQUENCES)["input_ids"] == ours(SEQUENCES)["input_ids"]
    assert auto_tokenizer.convert_ids_to_tokens([2, 5, 4]) == ["[CLS]", "AAA", "[MASK]"]


def test_auto_masked_lm_gives_the_logits_of_load_model(auto_tokenizer) -> None:
    auto = AutoModelForMaskedLM.from_pretrained(REFERENCE, dtype=torch.float32).eval()
    ours, _ = load_model(REFERENCE, task="mlm")
    batch = auto_tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(auto(**batch).logits, ours.eval()(**batch).logits, atol=1e-5)


def test_save_pretrained_round_trips_through_the_auto_classes(auto_tokenizer, tmp_path: Path) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(REFERENCE, num_labels=2, dtype=torch.float32).eval()
    model.save_pretrained(tmp_path)
    auto_tokenizer.save_pretrained(tmp_path)
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    batch = tokenizer(SEQUENCES, padding=True, return_tensors="pt")
    assert tokenizer(SEQUENCES)["input_ids"] == auto_tokenizer(SEQUENCES)["input_ids"]
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, model(**batch).logits)
    # utrbert's own loader reads the saved classifier back as well
    ours, _ = load_model(tmp_path, task="classification", num_labels=2)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(**batch).logits, model(**batch).logits, atol=1e-6)
