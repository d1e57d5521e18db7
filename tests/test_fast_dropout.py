"""Tests of the cheaper dropout: its distribution, its equivalence at inference and in attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utrbert.models.fast_dropout import FastDropout, fast_dropout, fast_dropout_attention, keep_mask
from utrbert.models.model import build_config, build_model


@pytest.mark.parametrize("p", [0.1, 0.5, 0.0])
def test_keep_mask_keeps_with_probability_one_minus_p(p: float) -> None:
    torch.manual_seed(1)
    mask = keep_mask((500, 1000), p)
    kept = mask.float().mean().item()
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / mask.numel()) + 2**-15
    # neighbouring decisions (two per 32-bit draw) are independent
    pairs = mask.view(-1, 2).float()
    both = (pairs[:, 0] * pairs[:, 1]).mean().item()
    assert abs(both - (1 - p) ** 2) < 0.01


def test_keep_mask_refuses_bad_probabilities() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        keep_mask((3,), 1.0)


def test_fast_dropout_scales_kept_values_and_is_identity_in_eval() -> None:
    torch.manual_seed(0)
    x = torch.ones(1000, 100)
    layer = FastDropout(0.2)
    y = layer(x)
    values = torch.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1.25)
    assert abs(y.mean().item() - 1.0) < 0.01  # unbiased
    assert torch.equal(layer.eval()(x), x)


def test_attention_without_dropout_equals_sdpa_and_with_dropout_drops() -> None:
    q, k, v = torch.randn(3, 2, 4, 20, 8).unbind(0)
    mask = torch.ones(2, 1, 20, 20, dtype=torch.bool)
    mask[0, ..., 15:] = False
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2)
    near_zero, _ = fast_dropout_attention(None, q, k, v, mask, dropout=1e-9)  # the softmax path, nothing dropped
    assert torch.allclose(near_zero, reference, atol=1e-5)
    torch.manual_seed(0)
    dropped, _ = fast_dropout_attention(None, q, k, v, mask, dropout=0.5)
    assert not torch.allclose(dropped, reference, atol=1e-3)


def test_model_is_unchanged_in_eval_and_restored_after_the_block() -> None:
    model = build_model(build_config("tiny", k=3), task="mlm", seed=0).eval()
    ids = torch.randint(5, 69, (4, 20))
    attention = torch.ones_like(ids)
    attention[0, 15:] = 0
    before = model(input_ids=ids, attention_mask=attention).logits
    with fast_dropout(model):
        inside = model(input_ids=ids, attention_mask=attention).logits
        assert type(model.bert.embeddings.dropout) is FastDropout
    assert torch.equal(inside, before)
    assert type(model.bert.embeddings.dropout) is torch.nn.Dropout and model.config._attn_implementation == "sdpa"
