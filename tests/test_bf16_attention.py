"""[CLS] attention and embeddings under bf16 autocast (the GPU profile's precision), exercised on the CPU.

CPU autocast casts the same matrix products to bf16 as CUDA autocast does, so the bf16 code path of
:mod:`utrbert.interpret.attention` runs here without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utrbert import KmerTokenizer
from utrbert.interpret.attention import cls_attention, cls_embeddings, head_summary
from utrbert.models.model import build_config, build_model

SEQUENCES = ["ACGUACGUAGCUAGCUAGNNACGUUUA", "ACGUAGCUAGGG", "GGA", "UUUUACGACGAUCGAUCGAUGCAUGCAUGCAGCAUCGAU", "CAGUCA"]

# bf16 keeps 8 significant bits (relative error about 4e-3 per rounding); with initializer_range 0.1 the
# last layer's [CLS] rows are far from uniform (max/min about 25) and differ from fp32 by about 4e-4
ATTENTION_ATOL = 5e-3
EMBEDDING_ATOL = 5e-2


@pytest.fixture(scope="module")
def model():
    return build_model(build_config("tiny", k=3, initializer_range=0.1), task="mlm", seed=1)


@pytest.fixture(scope="module")
def encoding():
    return KmerTokenizer(k=3).encode_corpus(SEQUENCES, ids=[f"s{i}" for i in range(len(SEQUENCES))])


def _bf16() -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16)


def test_cls_attention_under_bf16_autocast_is_float32_and_close_to_fp32(model, encoding) -> None:
    reference = cls_attention(model, encoding, batch_size=2, progress=False)
    with _bf16():
        result = cls_attention(model, encoding, batch_size=2, progress=False)
    assert result.token_scores.dtype == np.float32 and result.to_cls.dtype == np.float32
    np.testing.assert_allclose(result.token_scores, reference.token_scores, atol=ATTENTION_ATOL, equal_nan=True)
    np.testing.assert_allclose(result.to_cls, reference.to_cls, atol=ATTENTION_ATOL)
    np.testing.assert_allclose(result.to_sep, reference.to_sep, atol=ATTENTION_ATOL)
    # the bf16 pass really ran in bf16 (otherwise the comparison above proves nothing), on non-uniform rows
    assert not np.array_equal(result.token_scores, reference.token_scores, equal_nan=True)
    assert np.nanmax(reference.token_scores) > 3 * np.nanmin(reference.token_scores)
    np.testing.assert_allclose(result.to_cls + result.to_sep + np.nansum(result.token_scores, axis=1), 2.0, rtol=1e-5)


def test_cls_embeddings_with_attention_under_bf16_autocast_match_fp32(model, encoding) -> None:
    reference = cls_embeddings(model, encoding, batch_size=2, progress=False, with_attention=True)
    with _bf16():
        result = cls_embeddings(model, encoding, batch_size=2, progress=False, with_attention=True)
    assert result.embeddings.dtype == np.float32 and result.token_attention.dtype == np.float32
    np.testing.assert_allclose(result.token_attention, reference.token_attention, atol=ATTENTION_ATOL, equal_nan=True)
    np.testing.assert_allclose(result.embeddings, reference.embeddings, atol=EMBEDDING_ATOL)
    assert not np.array_equal(result.embeddings, reference.embeddings)
    # one pass gives the same scores as cls_attention with its defaults, in bf16 too
    with _bf16():
        streamed = cls_attention(model, encoding, batch_size=2, progress=False)
    np.testing.assert_allclose(result.token_attention, streamed.token_scores, atol=1e-6, equal_nan=True)


def test_head_summary_under_bf16_autocast_matches_fp32(model, encoding) -> None:
    reference = head_summary(model, encoding, progress=False)
    with _bf16():
        result = head_summary(model, encoding, progress=False)
    np.testing.assert_allclose(result.to_numpy(), reference.to_numpy(), atol=ATTENTION_ATOL)
