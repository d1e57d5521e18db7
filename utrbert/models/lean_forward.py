"""A memory-lean inference pass through a Hugging Face BERT encoder, layer by layer.

Analyses that read something *entering* a layer (the ``[CLS]`` query row of the last layer, for one) need the
hidden states of every token up to that layer, but none of the attention maps and never the whole batch's
temporaries at once. :func:`layer_inputs` runs the stock modules of each ``BertLayer`` (the query/key/value
projections, ``attention.output``, ``intermediate`` and ``output``) in the same order and with the same
arithmetic as ``BertLayer.forward`` under sdpa attention, but

- a batch is processed in chunks of about ``chunk_tokens`` tokens (whole sequences), so the embeddings, the
  projections, attention and the 4x wider feed-forward temporaries exist for one chunk at a time, and each
  chunk's layer output overwrites its input (a chunk's output depends on that chunk alone): what the whole batch
  keeps is one (batch, tokens, dims) tensor of hidden states;
- attention is ``torch.nn.functional.scaled_dot_product_attention`` with a key-padding mask only when a chunk
  has padding (None otherwise, the fused kernels' fast path);
- it stops after the layer the caller asks for (the consumer pulls one layer at a time).

Outputs equal the stock forward's to float rounding (tests compare with eager attention to 1e-5).
:func:`supports_lean_forward` says whether a model is one it can run (stock ``BertLayer`` encoder layers, not a
decoder); other models keep the stock forward.

>>> from utrbert.models.model import build_config, build_model
>>> model = build_model(build_config("tiny", k=3), task="mlm", seed=0).eval()
>>> ids = torch.tensor([[2, 10, 11, 12, 3]])
>>> with torch.inference_mode():
...     stock = model.base_model(input_ids=ids).last_hidden_state
...     for index, lean in layer_inputs(model.base_model, ids, None, last_layer=2):
...         pass  # the encoder's output comes last (the tensor is reused: copy what you keep)
>>> bool(torch.allclose(stock, lean, atol=1e-5))
True
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["supports_lean_forward", "chunk_sequences", "layer_inputs"]


def supports_lean_forward(base: nn.Module) -> bool:
    """Whether ``base`` (a ``BertModel``) has only stock ``BertLayer`` encoder layers with self-attention and is
    not a decoder, so :func:`layer_inputs` reproduces its forward pass."""
    from transformers.models.bert.modeling_bert import BertLayer, BertSelfAttention

    config = getattr(base, "config", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if config is None or layers is None or getattr(config, "is_decoder", False):
        return False
    if getattr(config, "add_cross_attention", False) or not hasattr(base, "embeddings"):
        return False
    return all(type(layer) is BertLayer and type(layer.attention.self) is BertSelfAttention for layer in layers)


def _layer_forward_(layer: nn.Module, hidden: torch.Tensor, masks: list[torch.Tensor | None], chunk: int) -> None:
    """``BertLayer.forward`` of ``hidden`` (batch, tokens, dims), chunk by chunk of ``chunk`` sequences, written
    back into ``hidden`` (a chunk's output depends on that chunk's input only); ``masks`` holds each chunk's
    sdpa key mask (None for a chunk without padding); eval mode."""
    attention = layer.attention.self
    batch, length, _ = hidden.shape
    heads, size = attention.num_attention_heads, attention.attention_head_size
    for start, mask in zip(range(0, batch, chunk), masks):
        piece = hidden[start : start + chunk]
        rows = piece.shape[0]
        query = attention.query(piece).view(rows, length, heads, size).transpose(1, 2)
        key = attention.key(piece).view(rows, length, heads, size).transpose(1, 2)
        value = attention.value(piece).view(rows, length, heads, size).transpose(1, 2)
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=attention.scaling)
        del query, key, value
        context = context.transpose(1, 2).reshape(rows, length, heads * size)
        attended = layer.attention.output(context, piece)  # LayerNorm(dense(context) + piece)
        del context
        hidden[start : start + chunk] = layer.output(layer.intermediate(attended), attended)


def chunk_sequences(length: int, chunk_tokens: int) -> int:
    """Sequences per chunk: as many ``length``-token sequences as fit ``chunk_tokens`` (at least one).

    >>> chunk_sequences(512, 2048), chunk_sequences(103, 2048), chunk_sequences(5000, 2048)
    (4, 19, 1)
    """
    return max(1, chunk_tokens // max(length, 1))


def layer_inputs(
    base: nn.Module,
    input_ids: torch.Tensor,
    key_mask: torch.Tensor | None,
    last_layer: int,
    chunk_tokens: int = 2048,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(i, hidden states entering layer i)`` for ``i = 0 .. last_layer`` (``last_layer`` may be the
    number of layers: the encoder's output comes last), computing each layer only when the next is asked for.

    The hidden states live in **one** (batch, tokens, dims) tensor that each layer overwrites in place: use
    (or copy) what a step yields before asking for the next. ``key_mask`` is the boolean (batch, tokens)
    attention mask (True for real tokens) or None for no padding. The model must be in eval mode and
    :func:`supports_lean_forward`; call it under ``torch.inference_mode``.
    """
    layers = base.encoder.layer
    if not 0 <= last_layer <= len(layers):
        raise ValueError(f"last_layer must be in 0..{len(layers)}, got {last_layer}")
    if base.training:
        raise ValueError("the lean forward pass is for inference: put the model in eval mode")
    batch, length = int(input_ids.shape[0]), int(input_ids.shape[1])
    chunk = chunk_sequences(length, chunk_tokens)
    masks: list[torch.Tensor | None] = []  # each chunk's key mask, decided once for every layer
    for start in range(0, batch, chunk):
        part = None if key_mask is None else key_mask[start : start + chunk].bool()
        masks.append(None if part is None or bool(part.all()) else part[:, None, None, :])
    hidden: torch.Tensor | None = None
    for start in range(0, batch, chunk):
        piece = base.embeddings(input_ids=input_ids[start : start + chunk])
        if hidden is None:
            hidden = piece.new_empty((batch, length, piece.shape[-1]))
        hidden[start : start + chunk] = piece
    del piece
    assert hidden is not None  # batch >= 1
    for index in range(last_layer + 1):
        yield index, hidden
        if index == last_layer or index == len(layers):
            return
        _layer_forward_(layers[index], hidden, masks, chunk)
