"""[CLS] attention and embeddings of k-mer BERT models, streamed over data sets of any size.

The paper's contribution score of a token (3UTRBERT, Eq. 8) is the softmax attention of the ``[CLS]``
query to that token, summed over the heads of a layer. :func:`cls_attention` computes exactly that,
batch by batch, and keeps only the ``[CLS]`` row: it never materialises an ``L x L`` attention map, so
the model keeps running with its fast ``sdpa`` attention (no :func:`~utrbert.models.model.use_eager_attention`
needed). How it works: the hidden states entering each chosen layer are taken and, with that layer's own
``query`` and ``key`` projections, the scaled dot products of the ``[CLS]`` query (position 0) with every key
are recomputed, the padding mask added and the softmax taken, which is what the eager implementation does for
that one row. For stock BERT layers the pass is :func:`utrbert.models.lean_forward.layer_inputs` (layer by
layer, temporaries one chunk of the batch at a time, stopping at the deepest chosen layer); for other encoders
a forward pre-hook on each chosen layer's self-attention does the same inside the model's own forward pass,
which is stopped after the deepest chosen layer.

Per-k-mer scores become per-nucleotide scores with :func:`kmer_to_nucleotide` (each nucleotide gets
the mean of the scores of the k-mers covering it, 3UTRBERT's ``get_real_score(..., "mean")``).
:func:`head_summary` gives a layer x head table (entropy of the ``[CLS]`` attention, for a heatmap) and
:func:`cls_embeddings` the last-layer ``[CLS]`` (or mean) embedding of every sequence.

Inputs are what :class:`~utrbert.tokens.tokenization.KmerTokenizer` produces: a
:class:`~utrbert.tokens.tokenization.KmerEncoding` (padded batch by batch, its record ids kept), a
:class:`~utrbert.tokens.tokenization.WindowedEncoding`, the mapping returned by their ``padded()``, or
``input_ids`` / ``attention_mask`` arrays (NumPy or torch) laid out ``[CLS] k-mer ... [SEP] [PAD] ...``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from utrbert.models.lean_forward import chunk_sequences, layer_inputs, supports_lean_forward
from utrbert.models.model import k_from_vocab_size
from utrbert.tokens.tokenization import CLS_ID, PAD_ID, SEP_ID, KmerEncoding, WindowedEncoding

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from transformers import PreTrainedModel

__all__ = [
    "ClsAttention",
    "SequenceEmbeddings",
    "cls_attention",
    "cls_embeddings",
    "head_summary",
    "kmer_to_nucleotide",
]

logger = logging.getLogger(__name__)

LayerReduction = Literal["sum", "mean"]
HeadStatistic = Literal["entropy", "normalized_entropy", "specials"]


# ----- k-mer to nucleotide ------------------------------------------------------------------------


def kmer_to_nucleotide(
    token_scores: np.ndarray | Sequence[float] | Sequence[Sequence[float]],
    k: int,
    n_kmers: np.ndarray | Sequence[int] | None = None,
    how: Literal["mean", "sum"] = "mean",
) -> np.ndarray:
    """Per-nucleotide scores from per-k-mer scores: nucleotide j gets the mean of the k-mers covering it.

    ``token_scores`` holds k-mer tokens only (no ``[CLS]``/``[SEP]``), one row per sequence, right-padded;
    row r has ``n_kmers[r]`` k-mers (default: the full width) and so ``n_kmers[r] + k - 1`` nucleotides.
    K-mer i covers nucleotides ``i .. i+k-1``; nucleotide j is covered by the k-mers
    ``max(0, j-k+1) .. min(j, n-1)`` (k of them inside the sequence, fewer near its ends). ``how="sum"``
    adds them instead of averaging (3UTRBERT's and DNABERT's ``get_real_score`` use the mean). The output
    has width ``token_scores.shape[1] + k - 1`` and is padded with NaN; padding in the input is ignored,
    whatever its value. A 1-D input gives a 1-D output.

    >>> kmer_to_nucleotide([1, 2, 3, 4, 5], k=3)
    array([1. , 1.5, 2. , 3. , 4. , 4.5, 5. ])
    >>> kmer_to_nucleotide([1, 2, 3, 4, 5], k=3, how="sum")
    array([ 1.,  3.,  6.,  9., 12.,  9.,  5.])
    >>> kmer_to_nucleotide(np.array([[1, 2, 3, 4, 5], [6, 3, 0, np.nan, np.nan]]), k=3, n_kmers=[5, 3])
    array([[1. , 1.5, 2. , 3. , 4. , 4.5, 5. ],
           [6. , 4.5, 3. , 1.5, 0. , nan, nan]])
    >>> kmer_to_nucleotide([[2, 4, -1]], k=1, n_kmers=[2])  # k=1: the identity, padding becomes NaN
    array([[ 2.,  4., nan]])
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if how not in ("mean", "sum"):
        raise ValueError(f"how must be 'mean' or 'sum', got {how!r}")
    scores = np.asarray(token_scores)
    if scores.dtype == object or not (np.issubdtype(scores.dtype, np.number) or scores.dtype == bool):
        raise TypeError(f"token_scores must be numeric, got dtype {scores.dtype}")
    one_row = scores.ndim == 1
    if one_row:
        scores = scores[None, :]
    if scores.ndim != 2:
        raise ValueError(f"token_scores must be 1-D or 2-D (sequences x k-mers), got shape {scores.shape}")
    n_rows, width = scores.shape
    if n_kmers is None:
        counts = np.full(n_rows, width, dtype=np.int64)
    else:
        counts = np.asarray(n_kmers)
        if counts.ndim == 0 and one_row:
            counts = counts[None]
        if counts.shape != (n_rows,) or not np.issubdtype(counts.dtype, np.integer):
            raise ValueError(f"n_kmers must be {n_rows} integers (one per row), got {np.asarray(n_kmers)!r}")
        counts = counts.astype(np.int64)
        if n_rows and (counts.min() < 1 or counts.max() > width):
            raise ValueError(f"n_kmers must lie between 1 and the row width {width}, got {counts.tolist()}")
    out_dtype = np.result_type(scores.dtype, np.float32)
    valid = np.arange(width)[None, :] < counts[:, None]
    clean = np.where(valid, scores, 0).astype(np.float64)
    if not np.isfinite(clean).all():
        raise ValueError("token_scores has NaN or infinite values inside a sequence (only the padding may be NaN)")
    cumulative = np.zeros((n_rows, width + 1), dtype=np.float64)
    np.cumsum(clean, axis=1, out=cumulative[:, 1:])
    n_out = width + k - 1
    position = np.arange(n_out)
    # covering k-mers of nucleotide j: [lo, hi) with lo = max(0, j-k+1), hi = min(j, n-1) + 1
    lo = np.broadcast_to(np.maximum(position - k + 1, 0).clip(max=width)[None, :], (n_rows, n_out))
    hi = (np.minimum(position[None, :], counts[:, None] - 1) + 1).clip(min=0)
    inside = position[None, :] < (counts + k - 1)[:, None]
    sums = np.take_along_axis(cumulative, hi, axis=1) - np.take_along_axis(cumulative, lo, axis=1)
    out = np.full((n_rows, n_out), np.nan, dtype=np.float64)
    if how == "mean":
        np.divide(sums, hi - lo, out=out, where=inside)
    else:
        out[inside] = sums[inside]
    out = out.astype(out_dtype, copy=False)
    return out[0] if one_row else out


# ----- inputs -------------------------------------------------------------------------------------


class _Inputs:
    """Validated model inputs, padded batch by batch: ids, k-mers per sequence and a batch maker."""

    def __init__(
        self, ids: list[Any], n_kmers: np.ndarray, make_batch: Any, k: int | None, id_range: tuple[int, int]
    ) -> None:
        self.ids = ids
        self.n_kmers = n_kmers
        self._make_batch = make_batch
        self.k = k
        self.id_range = id_range  # smallest and largest token id

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``input_ids`` and ``attention_mask`` of ``rows``, trimmed to the longest of them."""
        return self._make_batch(rows)


def _to_numpy(array: Any, name: str) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    result = np.asarray(array)
    if result.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got ragged or non-numeric input")
    return result


def _check_ids(ids: Sequence[Any] | None, n: int, default: list[Any]) -> list[Any]:
    if ids is None:
        return default
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids must be a sequence of ids, one per sequence, not a single string")
    result = list(ids)
    if len(result) != n:
        raise ValueError(f"{n} sequences but {len(result)} ids")
    return result


def _encoding_inputs(encoding: KmerEncoding, ids: Sequence[Any] | None) -> _Inputs:
    n = len(encoding)
    names = _check_ids(ids, n, list(encoding.record_ids))
    n_kmers = np.asarray(encoding.n_kmers, dtype=np.int64)
    offsets = np.asarray(encoding.offsets, dtype=np.int64)

    def make_batch(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = n_kmers[rows]
        flat = np.concatenate([encoding.flat_ids[offsets[r] : offsets[r + 1]] for r in rows])
        sub = KmerEncoding(
            record_ids=[str(r) for r in rows],
            flat_ids=flat,
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            k=encoding.k,
            model_max_length=encoding.model_max_length,
        )
        padded = sub.padded()
        return padded["input_ids"], padded["attention_mask"]

    if n and n_kmers.max() + 2 > encoding.model_max_length:
        first = int(np.argmax(n_kmers + 2 > encoding.model_max_length))
        raise ValueError(
            f"record {names[first]!r}: {n_kmers[first] + 2} tokens exceed the model window of "
            f"{encoding.model_max_length}; cut it into explicit windows with .windows(...)"
        )
    flat = np.asarray(encoding.flat_ids)
    id_range = (int(flat.min()), int(flat.max())) if flat.size else (CLS_ID, SEP_ID)
    return _Inputs(names, n_kmers, make_batch, encoding.k, (min(id_range[0], CLS_ID), max(id_range[1], SEP_ID)))


def _array_inputs(input_ids: Any, attention_mask: Any, ids: Sequence[Any] | None, k: int | None) -> _Inputs:
    tokens = _to_numpy(input_ids, "input_ids")
    if tokens.ndim != 2:
        raise ValueError(f"input_ids must be 2-D (sequences x tokens), got shape {tokens.shape}")
    if not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"input_ids must be integer token ids, got dtype {tokens.dtype}")
    n, width = tokens.shape
    if attention_mask is None:
        mask = tokens != PAD_ID
    else:
        mask = _to_numpy(attention_mask, "attention_mask")
        if mask.shape != tokens.shape:
            raise ValueError(f"attention_mask has shape {mask.shape} but input_ids has shape {tokens.shape}")
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("attention_mask must hold only 0 and 1")
        mask = mask.astype(bool)
    names = _check_ids(ids, n, ["#%d" % i for i in range(n)])
    lengths = mask.sum(axis=1).astype(np.int64)
    if n and width:
        if not (mask == (np.arange(width)[None, :] < lengths[:, None])).all():
            row = int(np.argmax((mask != (np.arange(width)[None, :] < lengths[:, None])).any(axis=1)))
            raise ValueError(f"sequence {names[row]!r}: attention_mask is not right-padded (ones, then zeros)")
    if n:
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            raise ValueError(f"sequence {names[int(empty[0])]!r}: no tokens (attention_mask is all zeros)")
        rows = np.arange(n)
        bad_cls = np.flatnonzero(tokens[:, 0] != CLS_ID)
        bad_sep = np.flatnonzero(tokens[rows, lengths - 1] != SEP_ID)
        if bad_cls.size or bad_sep.size:
            row = int(bad_cls[0] if bad_cls.size else bad_sep[0])
            raise ValueError(
                f"sequence {names[row]!r}: expected [CLS] k-mers [SEP] (ids {CLS_ID} ... {SEP_ID}), as "
                "KmerTokenizer.encode_corpus(...).padded() gives"
            )
        short = np.flatnonzero(lengths < 3)
        if short.size:
            raise ValueError(f"sequence {names[int(short[0])]!r}: [CLS] and [SEP] with no k-mer between them")
        inner = (np.arange(width)[None, :] >= 1) & (np.arange(width)[None, :] < (lengths - 1)[:, None])
        if np.isin(tokens[inner], (PAD_ID, CLS_ID, SEP_ID)).any():
            row = int(np.argmax((np.isin(tokens, (PAD_ID, CLS_ID, SEP_ID)) & inner).any(axis=1)))
            raise ValueError(f"sequence {names[row]!r}: [PAD], [CLS] or [SEP] among its k-mer tokens")

    def make_batch(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        trimmed = int(lengths[rows].max())
        return tokens[rows, :trimmed].astype(np.int64), mask[rows, :trimmed].astype(np.int64)

    id_range = (int(tokens.min()), int(tokens.max())) if tokens.size else (PAD_ID, PAD_ID)
    return _Inputs(names, lengths - 2, make_batch, k, id_range)


def _prepare_inputs(input_ids: Any, attention_mask: Any, ids: Sequence[Any] | None) -> _Inputs:
    """Validate any supported input form (see the module docstring) and wrap it as :class:`_Inputs`."""
    if isinstance(input_ids, KmerEncoding):
        if attention_mask is not None:
            raise ValueError("a KmerEncoding carries its own attention mask; do not pass attention_mask")
        inputs = _encoding_inputs(input_ids, ids)
    elif isinstance(input_ids, WindowedEncoding):
        if attention_mask is not None:
            raise ValueError("a WindowedEncoding carries its own attention mask; do not pass attention_mask")
        default = [f"{row['record_id']}:{row['start']}-{row['end']}" for row in input_ids.table()]
        padded = input_ids.padded()
        inputs = _array_inputs(padded["input_ids"], padded["attention_mask"], ids if ids is not None else default,
                               input_ids.source.k)
    elif isinstance(input_ids, Mapping):
        if attention_mask is not None:
            raise ValueError("pass either a mapping with input_ids/attention_mask or arrays, not both")
        if "input_ids" not in input_ids:
            raise ValueError(f"the input mapping has no 'input_ids' (keys: {sorted(input_ids)})")
        inputs = _array_inputs(input_ids["input_ids"], input_ids.get("attention_mask"), ids, None)
    else:
        inputs = _array_inputs(input_ids, attention_mask, ids, None)
    if len(inputs) == 0:
        raise ValueError("no sequences: the input batch is empty")
    return inputs


# ----- model checks -------------------------------------------------------------------------------


def _encoder(model: nn.Module) -> nn.Module:
    """The ``BertModel`` of a ``BertFor*`` model (or the model itself), checked to look like BERT."""
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not len(layers) or not hasattr(layers[0], "attention"):
        raise TypeError(f"{type(model).__name__} is not a BERT model (no base_model.encoder.layer[i].attention)")
    if getattr(base.config, "is_decoder", False):
        raise ValueError("cls_attention needs a bidirectional encoder; this model is configured as a decoder")
    return base


def _model_k(model: nn.Module, k: int | None, inputs: _Inputs) -> int:
    """k of the model vocabulary, checked against the ``k`` asked for, the encoding's k and the token ids."""
    vocab_size = int(model.config.vocab_size)
    model_k = k_from_vocab_size(vocab_size)
    for source, value in (("k", k), ("the encoding's k", inputs.k)):
        if value is not None and int(value) != model_k:
            raise ValueError(
                f"{source}={value} does not match the model, whose vocabulary of {vocab_size} tokens is for "
                f"k={model_k}"
            )
    low, high = inputs.id_range
    if low < 0 or high >= vocab_size:
        raise ValueError(f"token ids {low}..{high} fall outside the model vocabulary of {vocab_size} tokens")
    positions = int(model.config.max_position_embeddings)
    if int(inputs.n_kmers.max()) + 2 > positions:
        row = int(np.argmax(inputs.n_kmers + 2 > positions))
        raise ValueError(
            f"sequence {inputs.ids[row]!r}: {inputs.n_kmers[row] + 2} tokens exceed the model's {positions} "
            "positions; cut it into explicit windows (KmerEncoding.windows)"
        )
    return model_k


def _check_indices(values: Sequence[int] | int | None, size: int, what: str) -> tuple[int, ...] | None:
    """Non-negative, distinct indices (negative ones count from the end), or None for all."""
    if values is None:
        return None
    items = [values] if isinstance(values, (int, np.integer)) else list(values)
    if not items:
        raise ValueError(f"no {what}s chosen")
    result = []
    for value in items:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{what} indices must be integers, got {value!r}")
        if not -size <= value < size:
            raise IndexError(f"{what} {value} is out of range for a model with {size} {what}s")
        result.append(int(value) % size)
    if len(set(result)) != len(result):
        raise ValueError(f"{what}s chosen twice: {list(items)}")
    return tuple(result)


def _resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is None:
        return next(model.parameters()).device
    target = torch.device(device)
    model.to(target)
    return target


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode (no dropout) for the duration; the previous mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _provenance(model: nn.Module, k: int, **extra: Any) -> dict[str, Any]:
    from utrbert.runs.provenance import package_versions

    versions = package_versions(("torch", "transformers", "numpy"))
    config = model.config
    return {
        "k": k,
        **extra,
        "model": getattr(model, "name_or_path", None) or None,
        "model_class": type(model).__name__,
        "num_hidden_layers": int(config.num_hidden_layers),
        "num_attention_heads": int(config.num_attention_heads),
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "versions": versions,
    }


def _batches(inputs: _Inputs, batch_size: int, sort_by_length: bool) -> list[np.ndarray]:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    order = np.argsort(-inputs.n_kmers, kind="stable") if sort_by_length else np.arange(len(inputs))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


# ----- streaming [CLS] rows -----------------------------------------------------------------------


LEAN_CHUNK_TOKENS = 2048
"""Tokens per chunk of the layer-by-layer pass (:func:`utrbert.models.lean_forward.layer_inputs`)."""


class _StopForward(Exception):
    """Raised by the hook of the deepest chosen layer: the rest of the forward pass is not needed."""


def _cls_probabilities(module: nn.Module, hidden: torch.Tensor, mask: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Softmax attention of the ``[CLS]`` query to every key, per head: (batch, heads, tokens), float32.

    The same computation as transformers 5.24 ``BertSelfAttention`` + ``eager_attention_forward`` for the
    query at position 0: ``softmax(q k^T * head_size**-0.5 + padding mask)``; ``chunk`` sequences at a time
    when given (the keys of one chunk exist at a time).
    """
    if chunk is not None and chunk < hidden.shape[0]:
        return torch.cat([_cls_probabilities(module, hidden[start : start + chunk], mask[start : start + chunk])
                          for start in range(0, hidden.shape[0], chunk)])
    batch, length, _ = hidden.shape
    head_size = module.attention_head_size
    scaling = getattr(module, "scaling", head_size**-0.5)
    query = module.query(hidden[:, :1]).view(batch, 1, -1, head_size).transpose(1, 2)  # (B, H, 1, d)
    key = module.key(hidden).view(batch, length, -1, head_size).transpose(1, 2)  # (B, H, T, d)
    # under autocast (bf16 on CUDA or CPU) the product would be cast back to bf16: the scores and the
    # softmax run in float32 with autocast off, so the rows are float32 whatever the caller's precision
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        scores = torch.matmul(query.float(), key.float().transpose(2, 3)).squeeze(2) * scaling  # (B, H, T)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1)


def _stream_cls_rows(
    model: nn.Module,
    inputs: _Inputs,
    layers: tuple[int, ...],
    batch_size: int,
    device: torch.device,
    progress: bool,
    sort_by_length: bool,
    desc: str,
) -> Iterator[tuple[np.ndarray, torch.Tensor, dict[int, torch.Tensor]]]:
    """Per batch: the row indices, the bool token mask and ``{layer: [CLS] attention (B, H, T)}``."""
    from tqdm.auto import tqdm

    base = _encoder(model)
    captured: dict[int, torch.Tensor] = {}
    current: dict[str, torch.Tensor] = {}
    deepest = max(layers)

    def make_hook(index: int) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            hidden = args[0] if args else kwargs["hidden_states"]
            captured[index] = _cls_probabilities(module, hidden, current["mask"])
            if index == deepest:
                raise _StopForward

        return hook

    lean = supports_lean_forward(base)  # stock BERT layers: the layer-by-layer pass with chunked temporaries
    handles = [] if lean else [
        base.encoder.layer[index].attention.self.register_forward_pre_hook(make_hook(index), with_kwargs=True)
        for index in layers
    ]
    batches = _batches(inputs, batch_size, sort_by_length)
    try:
        with _eval_mode(model), torch.inference_mode(), tqdm(
            total=len(inputs), desc=desc, unit="seq", disable=not progress
        ) as bar:
            for rows in batches:
                input_ids, attention_mask = inputs.batch(rows)
                ids_t = torch.from_numpy(input_ids).to(device)
                mask_t = torch.from_numpy(attention_mask).to(device)
                current["mask"] = mask_t.bool()
                captured.clear()
                if lean:
                    chunk = chunk_sequences(int(ids_t.shape[1]), LEAN_CHUNK_TOKENS)
                    for index, hidden in layer_inputs(base, ids_t, current["mask"], deepest, LEAN_CHUNK_TOKENS):
                        if index in layers:
                            captured[index] = _cls_probabilities(base.encoder.layer[index].attention.self, hidden,
                                                                 current["mask"], chunk)
                else:
                    try:
                        base(input_ids=ids_t, attention_mask=mask_t)
                    except _StopForward:
                        pass
                missing = [index for index in layers if index not in captured]
                if missing:  # pragma: no cover - would mean the model skipped a layer
                    raise RuntimeError(f"layers {missing} were not run by the model's forward pass")
                yield rows, current["mask"], dict(captured)
                bar.update(len(rows))
    finally:
        for handle in handles:
            handle.remove()
        captured.clear()
        current.clear()


# ----- [CLS] contribution scores ------------------------------------------------------------------


@dataclass
class ClsAttention:
    """[CLS] contribution scores of many sequences, with their ids and provenance.

    ``token_scores[r, i]`` is the attention of the ``[CLS]`` query to the i-th k-mer of sequence
    ``ids[r]``, summed over the chosen heads and reduced over the chosen layers (``layer_reduction``);
    the row is NaN beyond ``n_kmers[r]``. The ``[CLS]`` and ``[SEP]`` columns are not in
    ``token_scores``; the attention they received is in ``to_cls`` and ``to_sep``, so that
    ``to_cls + to_sep + nansum(token_scores, axis=1) == total`` (heads x layers for ``"sum"``, heads
    for ``"mean"``). Scores are not renormalised after removing the specials.
    """

    ids: list[Any]
    token_scores: np.ndarray
    n_kmers: np.ndarray
    k: int
    layers: tuple[int, ...]
    heads: tuple[int, ...]
    layer_reduction: str
    to_cls: np.ndarray
    to_sep: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def total(self) -> float:
        """Attention mass of one [CLS] row: heads (x layers when they are summed)."""
        return float(len(self.heads) * (len(self.layers) if self.layer_reduction == "sum" else 1))

    @property
    def n_nucleotides(self) -> np.ndarray:
        """Sequence length in nucleotides: ``n_kmers + k - 1``."""
        return self.n_kmers + self.k - 1

    @property
    def special_fraction(self) -> np.ndarray:
        """Fraction of the attention that went to ``[CLS]`` and ``[SEP]``, per sequence."""
        return (self.to_cls + self.to_sep) / self.total

    def nucleotide_scores(self, how: Literal["mean", "sum"] = "mean") -> np.ndarray:
        """Per-nucleotide scores (NaN-padded), via :func:`kmer_to_nucleotide`."""
        return kmer_to_nucleotide(self.token_scores, self.k, self.n_kmers, how=how)

    def scores_for(self, record_id: Any, level: Literal["kmer", "nucleotide"] = "nucleotide") -> np.ndarray:
        """The unpadded scores of one sequence, by id."""
        try:
            row = self.ids.index(record_id)
        except ValueError:
            raise KeyError(f"no sequence {record_id!r} in these scores") from None
        if level == "kmer":
            return self.token_scores[row, : self.n_kmers[row]]
        if level == "nucleotide":
            return kmer_to_nucleotide(self.token_scores[row, : self.n_kmers[row]], self.k)
        raise ValueError(f"level must be 'kmer' or 'nucleotide', got {level!r}")

    def nucleotide_score_map(self, how: Literal["mean", "sum"] = "mean") -> dict[Any, np.ndarray]:
        """``id -> unpadded per-nucleotide scores`` (the form :func:`utrbert.interpret.score_files.write_scores` takes)."""
        values = self.nucleotide_scores(how)
        return {record_id: values[row, : self.n_nucleotides[row]] for row, record_id in enumerate(self.ids)}

    def to_frame(self, level: Literal["kmer", "nucleotide"] = "nucleotide") -> pd.DataFrame:
        """Long table ``id, position, score`` (one row per k-mer or nucleotide); provenance in ``.attrs``."""
        import pandas as pd

        if level == "kmer":
            values, lengths = self.token_scores, self.n_kmers
        elif level == "nucleotide":
            values, lengths = self.nucleotide_scores(), self.n_nucleotides
        else:
            raise ValueError(f"level must be 'kmer' or 'nucleotide', got {level!r}")
        keep = np.arange(values.shape[1])[None, :] < lengths[:, None]
        rows, positions = np.nonzero(keep)
        frame = pd.DataFrame(
            {
                "id": np.asarray(self.ids, dtype=object)[rows],
                "position": positions.astype(np.int64),
                "score": values[rows, positions],
            }
        )
        frame.attrs["provenance"] = {**self.provenance, "level": level}
        return frame

    def summary_frame(self) -> pd.DataFrame:
        """One row per sequence: id, k-mers, nucleotides, attention to ``[CLS]``, ``[SEP]`` and to k-mers."""
        import pandas as pd

        frame = pd.DataFrame(
            {
                "id": self.ids,
                "n_kmers": self.n_kmers,
                "n_nucleotides": self.n_nucleotides,
                "to_cls": self.to_cls,
                "to_sep": self.to_sep,
                "to_kmers": np.nansum(self.token_scores, axis=1),
                "special_fraction": self.special_fraction,
            }
        )
        frame.attrs["provenance"] = dict(self.provenance)
        return frame


def cls_attention(
    model: PreTrainedModel,
    input_ids: Any,
    attention_mask: Any = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    ids: Sequence[Any] | None = None,
    *,
    layers: Sequence[int] | int | None = (-1,),
    heads: Sequence[int] | int | None = None,
    layer_reduction: LayerReduction = "sum",
    k: int | None = None,
    sort_by_length: bool = True,
    progress: bool = True,
) -> ClsAttention:
    """[CLS] contribution scores (Eq. 8) of every sequence, streamed batch by batch.

    For each chosen layer (default: the last, as in DNABERT's and BERT-RBP's batch analyses; ``None``:
    all; negative indices count from the end), the
    softmax attention of the ``[CLS]`` query to every token is summed over the chosen heads (default:
    all); the layers are then summed (``layer_reduction="sum"``, as 3UTRBERT's
    ``single_resolution_importance.py`` does over its layer range) or averaged (``"mean"``). Only the
    ``[CLS]`` row is computed; the model keeps its attention implementation (sdpa is fine) and the pass
    stops after the deepest chosen layer. The model is put in eval mode for the call (its mode is
    restored afterwards) and, if ``device`` is given, moved there (and left there).

    ``input_ids`` is a :class:`~utrbert.tokens.tokenization.KmerEncoding` (ids default to its record ids), a
    :class:`~utrbert.tokens.tokenization.WindowedEncoding` (ids ``"record:start-end"``), a mapping from
    ``padded()`` or an array of ids with ``attention_mask`` (NumPy or torch; default mask: not
    ``[PAD]``). Batches are padded to their longest sequence, and sequences are grouped by length when
    ``sort_by_length`` (the output keeps the input order). ``k``, if given, is checked against the
    model vocabulary.
    """
    inputs = _prepare_inputs(input_ids, attention_mask, ids)
    base = _encoder(model)
    model_k = _model_k(model, k, inputs)
    n_layers, n_heads = int(base.config.num_hidden_layers), int(base.config.num_attention_heads)
    chosen_layers = _check_indices(layers, n_layers, "layer") or tuple(range(n_layers))  # never empty
    chosen_heads = _check_indices(heads, n_heads, "head") or tuple(range(n_heads))
    if layer_reduction not in ("sum", "mean"):
        raise ValueError(f"layer_reduction must be 'sum' or 'mean', got {layer_reduction!r}")
    target = _resolve_device(model, device)
    n = len(inputs)
    width = int(inputs.n_kmers.max())
    token_scores = np.full((n, width), np.nan, dtype=np.float32)
    to_cls = np.empty(n, dtype=np.float32)
    to_sep = np.empty(n, dtype=np.float32)
    head_index = torch.tensor(chosen_heads, device=target)
    stream = _stream_cls_rows(
        model, inputs, chosen_layers, batch_size, target, progress, sort_by_length, "[CLS] attention"
    )
    with contextlib.closing(stream):
        for rows, mask, captured in stream:
            row = sum(captured[index].index_select(1, head_index).sum(dim=1) for index in chosen_layers)
            if layer_reduction == "mean":
                row = row / len(chosen_layers)
            row = row.masked_fill(~mask, 0.0).float().cpu().numpy()
            counts = inputs.n_kmers[rows]
            to_cls[rows] = row[:, 0]
            to_sep[rows] = row[np.arange(len(rows)), counts + 1]
            kmers = row[:, 1 : 1 + int(counts.max())]
            kmers[np.arange(kmers.shape[1])[None, :] >= counts[:, None]] = np.nan
            token_scores[rows, : kmers.shape[1]] = kmers
    provenance = _provenance(
        model,
        model_k,
        layers=list(chosen_layers),
        heads=list(chosen_heads),
        layer_reduction=layer_reduction,
        specials="[CLS]/[SEP] excluded from token_scores; their attention is in to_cls/to_sep",
        n_sequences=n,
    )
    return ClsAttention(
        ids=inputs.ids,
        token_scores=token_scores,
        n_kmers=inputs.n_kmers.copy(),
        k=model_k,
        layers=chosen_layers,
        heads=chosen_heads,
        layer_reduction=layer_reduction,
        to_cls=to_cls,
        to_sep=to_sep,
        provenance=provenance,
    )


# ----- layer x head summary -----------------------------------------------------------------------


def head_summary(
    model: PreTrainedModel,
    input_ids: Any,
    attention_mask: Any = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    ids: Sequence[Any] | None = None,
    *,
    statistic: HeadStatistic = "entropy",
    layers: Sequence[int] | None = None,
    k: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """A layer x head table of the ``[CLS]`` attention, averaged over sequences, for a heatmap.

    ``statistic``: ``"entropy"`` (nats) of the ``[CLS]`` row's distribution over the sequence's tokens,
    specials included; ``"normalized_entropy"``, the same divided by ``log(number of tokens)`` (1 is
    uniform attention, 0 attention to a single token), comparable across lengths; ``"specials"``, the
    fraction of the row that goes to ``[CLS]`` and ``[SEP]``. Streamed like :func:`cls_attention`.
    Returns a DataFrame indexed by ``layer`` (default: all layers) with one column per ``head``; the
    provenance is in ``.attrs["provenance"]``. ``ids``, if given, are only checked (one per sequence).
    """
    import pandas as pd

    if statistic not in ("entropy", "normalized_entropy", "specials"):
        raise ValueError(f"statistic must be 'entropy', 'normalized_entropy' or 'specials', got {statistic!r}")
    inputs = _prepare_inputs(input_ids, attention_mask, ids)
    base = _encoder(model)
    model_k = _model_k(model, k, inputs)
    n_layers, n_heads = int(base.config.num_hidden_layers), int(base.config.num_attention_heads)
    chosen = _check_indices(layers, n_layers, "layer") or tuple(range(n_layers))
    target = _resolve_device(model, device)
    totals = {index: torch.zeros(n_heads, dtype=torch.float64, device=target) for index in chosen}
    stream = _stream_cls_rows(model, inputs, chosen, batch_size, target, progress, True, "head summary")
    with contextlib.closing(stream):
        for rows, mask, captured in stream:
            lengths = mask.sum(dim=1)
            for index, probs in captured.items():
                if statistic == "specials":
                    sep = torch.gather(probs, 2, (lengths - 1)[:, None, None].expand(-1, probs.shape[1], 1))
                    values = probs[:, :, 0] + sep[:, :, 0]
                else:
                    values = -torch.special.xlogy(probs, probs).sum(dim=-1)
                    if statistic == "normalized_entropy":
                        values = values / torch.log(lengths.to(values.dtype))[:, None]
                totals[index] += values.double().sum(dim=0)
    table = np.stack([(totals[index] / len(inputs)).cpu().numpy() for index in chosen])
    frame = pd.DataFrame(
        table, index=pd.Index(list(chosen), name="layer"), columns=pd.Index(range(n_heads), name="head")
    )
    frame.attrs["provenance"] = _provenance(
        model, model_k, statistic=statistic, layers=list(chosen), n_sequences=len(inputs)
    )
    return frame


# ----- embeddings ---------------------------------------------------------------------------------


@dataclass
class SequenceEmbeddings:
    """One float32 vector per sequence (``embeddings[r]`` belongs to ``ids[r]``), with provenance."""

    ids: list[Any]
    embeddings: np.ndarray
    pooling: str
    provenance: dict[str, Any] = field(default_factory=dict)
    token_attention: np.ndarray | None = None
    """With ``with_attention=True``: (sequences, longest k-mer count) float32, the last layer's ``[CLS]``
    attention to each k-mer summed over heads (as :func:`cls_attention` with its defaults), NaN beyond
    each sequence's k-mers."""

    def __len__(self) -> int:
        return len(self.ids)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame indexed by ``id`` with one column per dimension; provenance in ``.attrs``."""
        import pandas as pd

        frame = pd.DataFrame(self.embeddings, index=pd.Index(self.ids, name="id"))
        frame.attrs["provenance"] = dict(self.provenance)
        return frame


def cls_embeddings(
    model: PreTrainedModel,
    input_ids: Any,
    attention_mask: Any = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    ids: Sequence[Any] | None = None,
    *,
    pooling: Literal["cls", "mean"] = "cls",
    k: int | None = None,
    sort_by_length: bool = True,
    progress: bool = True,
    with_attention: bool = False,
) -> SequenceEmbeddings:
    """Last-layer sequence embeddings: the ``[CLS]`` hidden state, or the mean over the k-mer tokens.

    ``with_attention=True`` also keeps, from the same forward pass, the last layer's ``[CLS]`` contribution
    scores (``token_attention``; equal to :func:`cls_attention`'s ``token_scores`` with its defaults).

    Works for ``BertForSequenceClassification``, ``BertForMaskedLM`` and ``BertModel`` alike (it runs the
    encoder, ``model.base_model``; no head, no pooler output). ``pooling="mean"`` averages the k-mer
    positions only (``[UNK]`` k-mers included; not ``[CLS]``, ``[SEP]`` or padding). Inputs, batching, ``device`` and eval mode as
    in :func:`cls_attention`.
    """
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
    inputs = _prepare_inputs(input_ids, attention_mask, ids)
    base = _encoder(model)
    model_k = _model_k(model, k, inputs)
    target = _resolve_device(model, device)
    from tqdm.auto import tqdm

    out = np.empty((len(inputs), int(base.config.hidden_size)), dtype=np.float32)
    token_attention = np.full((len(inputs), int(inputs.n_kmers.max())), np.nan, dtype=np.float32) if with_attention else None
    captured: dict[str, torch.Tensor] = {}

    def keep_cls_row(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        hidden_in = args[0] if args else kwargs["hidden_states"]
        captured["row"] = _cls_probabilities(module, hidden_in, captured["mask"]).sum(dim=1)

    handle = (
        base.encoder.layer[-1].attention.self.register_forward_pre_hook(keep_cls_row, with_kwargs=True)
        if with_attention else None
    )
    with contextlib.ExitStack() as stack:
        if handle is not None:
            stack.callback(handle.remove)
        stack.enter_context(_eval_mode(model))
        stack.enter_context(torch.inference_mode())
        bar = stack.enter_context(tqdm(total=len(inputs), desc="embeddings", unit="seq", disable=not progress))
        for rows in _batches(inputs, batch_size, sort_by_length):
            batch_ids, batch_mask = inputs.batch(rows)
            mask_t = torch.from_numpy(batch_mask).to(target)
            captured["mask"] = mask_t.bool()
            hidden = base(input_ids=torch.from_numpy(batch_ids).to(target), attention_mask=mask_t).last_hidden_state
            if token_attention is not None:
                counts = inputs.n_kmers[rows]
                row = captured.pop("row").float().cpu().numpy()[:, 1 : 1 + int(counts.max())]
                row[np.arange(row.shape[1])[None, :] >= counts[:, None]] = np.nan
                token_attention[rows, : row.shape[1]] = row
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                counts = torch.from_numpy(inputs.n_kmers[rows]).to(target)
                positions = torch.arange(hidden.shape[1], device=target)[None, :]
                kmer = (positions >= 1) & (positions <= counts[:, None])
                pooled = (hidden.float() * kmer[:, :, None]).sum(dim=1) / counts[:, None]
            out[rows] = pooled.float().cpu().numpy()
            bar.update(len(rows))
    extra = {"token_attention": "last layer [CLS] attention to each k-mer, summed over heads"} if with_attention else {}
    provenance = _provenance(model, model_k, pooling=pooling, layer="last", n_sequences=len(inputs), **extra)
    return SequenceEmbeddings(
        ids=inputs.ids, embeddings=out, pooling=pooling, provenance=provenance, token_attention=token_attention
    )
