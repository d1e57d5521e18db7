"""Dropout with cheaper random numbers, for training BERT on a CPU.

On a CPU, BERT's dropout costs about a third of a bf16 training step, almost all of it in drawing one
Bernoulli number per element (``torch.bernoulli_``), and attention dropout also forces scaled-dot-product
attention off its fused kernel. Here each keep/drop decision takes 15 random bits, drawn as raw 32-bit
integers (two decisions per draw), which is about four times cheaper. The distribution is the same (keep
with probability ``1 - p`` to within 2**-15, scale kept values by ``1 / (1 - p)``); the random numbers are
not, so a run with fast dropout is a different sample of the same training procedure, not a bit-identical
one. Everything draws from the default generator, so the pretraining loop's per-step seeding still makes a
run exactly reproducible and resumable.

:func:`fast_dropout` switches a model to it for a block (its ``nn.Dropout`` modules and its attention
function) and restores it afterwards; checkpoints are unchanged stock BERT.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["ATTENTION_NAME", "FastDropout", "keep_mask", "fast_dropout_attention", "fast_dropout"]

ATTENTION_NAME = "utrbert_fast_dropout"
_BITS = 15


def keep_mask(shape: tuple[int, ...] | torch.Size, p: float, device: torch.device | str | None = None) -> torch.Tensor:
    """A boolean mask that is True with probability ``1 - p`` (to within 2**-15), from the default generator.

    >>> _ = torch.manual_seed(0)
    >>> mask = keep_mask((1000, 100), 0.1)
    >>> mask.shape, round(mask.float().mean().item(), 2)
    (torch.Size([1000, 100]), 0.9)
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    n = math.prod(shape)
    threshold = round((1.0 - p) * 2**_BITS)
    if threshold >= 2**_BITS:  # p below 2**-16: keep everything (the threshold would not fit 16 bits)
        return torch.ones(tuple(shape), dtype=torch.bool, device=device)
    words = torch.empty((n + 1) // 2, dtype=torch.int32, device=device).random_()  # 31 random bits each
    halves = words.view(torch.int16)[:n] & (2**_BITS - 1)  # the low 15 bits of each 16-bit half
    return (halves < threshold).view(tuple(shape))


class FastDropout(nn.Module):
    """``nn.Dropout(p)`` with the cheaper keep mask of :func:`keep_mask`."""

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * keep_mask(x.shape, self.p, x.device).to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def fast_dropout_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention for transformers' attention interface: sdpa without dropout, else softmax + fast dropout.

    Inputs are ``(batch, heads, length, head_dim)``; returns ``(batch, length, heads, head_dim)`` as the
    interface expects.
    """
    if dropout == 0.0:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=scaling, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scale
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask[..., : key.shape[-2]]
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = probs * keep_mask(probs.shape, dropout, probs.device).to(probs.dtype) * (1.0 / (1.0 - dropout))
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), None


@contextmanager
def fast_dropout(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Within the block, ``model`` uses :class:`FastDropout` and :func:`fast_dropout_attention`; then it is restored."""
    if not enabled:
        yield model
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, fast_dropout_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)  # the same (boolean) padding masks as sdpa
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                swapped.append((parent, name, child))
                setattr(parent, name, FastDropout(child.p).train(child.training))
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        yield model
    finally:
        config._attn_implementation = previous
        for parent, name, child in swapped:
            setattr(parent, name, child)
