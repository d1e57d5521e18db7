"""k-span masked-language-model masking for overlapping k-mer tokens (the 3UTRBERT/DNABERT pretraining objective).

Why spans
---------
Token ``i`` of an overlapping k-mer sequence covers nucleotides ``i .. i+k-1``. If a single token is masked, its
neighbours ``i-1`` and ``i+1`` together cover every one of its nucleotides, so its identity can be read off the
input and the MLM task is trivial. Masking runs of at least ``k`` consecutive tokens hides at least one nucleotide
of every masked token from all unmasked tokens (the *leakage property*, checked by :func:`leaked_tokens`).

What ``mlm_probability`` means here
-----------------------------------
``mlm_probability`` (``target_fraction`` in :func:`span_mask`) is the **expected fraction of maskable tokens that
end up masked**, not a span-start (DNABERT "centre") probability. Maskable tokens are the k-mer ids (``>= 5``);
``[PAD] [UNK] [CLS] [SEP] [MASK]`` are never masked and split a row into *segments* (maximal runs of k-mers).
``[UNK]`` is a boundary too: an ambiguous k-mer reveals no nucleotide, so nothing leaks across it.

How starts are sampled
----------------------
In a segment of ``L >= k`` tokens, every position ``s`` with ``s + k <= L`` is a span start independently with
probability ``p = start_probability(L, k, target)``, and each start masks tokens ``s .. s+k-1`` (overlapping spans
merge). Position ``j`` is then masked with probability ``1 - (1 - p)^c_j`` where ``c_j`` is the number of
starts that cover it (``k`` inside, fewer near the segment ends). ``p`` is solved by bisection so that the mean of
these probabilities over the segment equals ``target`` *exactly*, so the expected masked fraction is the target for
every segment length (for long segments ``p -> 1 - (1 - target)^(1/k)``). Spans never leave their segment.

A segment of ``L < k`` tokens (at most ``2k - 2`` nucleotides) cannot hold a span: it is masked **entirely** with
probability ``target`` and otherwise left alone. That keeps the expected fraction at the target, and the leakage
property holds because no token of that segment stays visible.

Of the masked tokens, ``mask_replace_prob`` become ``[MASK]``, ``random_replace_prob`` become a uniformly random
k-mer id (``5 .. vocab_size-1``: never a special token or ``[UNK]``) and the rest stay unchanged (BERT 80/10/10).
Labels are the original ids at masked positions and ``-100`` elsewhere. Every random draw comes from the
``torch.Generator`` passed in, so a trainer can pass a per-step generator for exact resumption.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling

from utrbert.tokens.tokenization import MASK_ID, KmerTokenizer

__all__ = [
    "FIRST_KMER_ID",
    "KmerSpanMaskingCollator",
    "start_probability",
    "span_mask",
    "mask_kmer_tokens",
    "recoverable_positions",
    "leaked_tokens",
    "masked_runs",
]

logger = logging.getLogger(__name__)

FIRST_KMER_ID = 5
"""Ids below this are the special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]``; k-mers follow."""


def _check_fraction(name: str, value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def _cover_counts(length: int, k: int) -> np.ndarray:
    """Number of allowed span starts (``s + k <= length``) whose span covers each of ``length`` positions."""
    j = np.arange(length)
    return np.minimum(j, length - k) - np.maximum(0, j - k + 1) + 1


@lru_cache(maxsize=4096)
def start_probability(length: int, k: int, target: float) -> float:
    """Span-start probability giving an expected masked fraction of exactly ``target`` in a segment of ``length``.

    Solves ``mean_j(1 - (1 - p)^c_j) = target`` by bisection, ``c_j`` being how many allowed starts cover
    position ``j``. Only defined for ``length >= k``.

    >>> start_probability(6, 6, 0.15)  # one possible start: it must fire with the target probability
    0.15
    >>> round(start_probability(10_000, 3, 0.15), 4), round(1 - 0.85 ** (1 / 3), 4)
    (0.0527, 0.0527)
    >>> start_probability(50, 6, 0.15) > start_probability(10_000, 6, 0.15)  # edges are covered less often
    True
    """
    if k < 1 or length < k:
        raise ValueError(f"need length >= k >= 1, got length={length}, k={k}")
    target = _check_fraction("target", target)
    if target in (0.0, 1.0) or length == k:
        return target
    counts = _cover_counts(length, k)
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.mean(1.0 - (1.0 - mid) ** counts) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _segments(special_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Segment key, segment length and position within the segment for every entry of a 2-D special mask.

    Special positions get a key of their own kind too, but callers ignore them.
    """
    rows, n = special_mask.shape
    maskable = ~special_mask
    row_index = torch.arange(rows, device=special_mask.device).unsqueeze(1)
    key = (row_index * (n + 1) + torch.cumsum(special_mask.long(), dim=1)).flatten()
    flat_maskable = maskable.flatten().long()
    n_keys = rows * (n + 1)
    length = torch.zeros(n_keys, dtype=torch.long, device=key.device).index_add_(0, key, flat_maskable)
    cum = torch.cumsum(maskable.long(), dim=1).flatten()  # inclusive count of maskable tokens in the row
    big = torch.full((n_keys,), torch.iinfo(torch.long).max, dtype=torch.long, device=key.device)
    first_cum = big.scatter_reduce(0, key[flat_maskable.bool()], cum[flat_maskable.bool()], reduce="amin")
    position = (cum - first_cum[key]).clamp(min=0)
    return key.view(rows, n), length[key].view(rows, n), position.view(rows, n)


def span_mask(
    special_mask: torch.Tensor, k: int, target_fraction: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Choose masked positions: spans of ``k`` consecutive non-special tokens, an expected ``target_fraction``.

    ``special_mask`` is a boolean ``(batch, length)`` (or 1-D) tensor, True where a token may not be masked;
    those positions split rows into segments that spans never cross. See the module docstring for the sampling.

    >>> g = torch.Generator().manual_seed(0)
    >>> special = torch.zeros(8, 40, dtype=torch.bool)
    >>> special[:, 0] = special[:, 20] = special[:, -1] = True
    >>> masked = span_mask(special, k=4, target_fraction=0.3, generator=g)
    >>> masked.shape, bool((masked & special).any())
    (torch.Size([8, 40]), False)
    >>> min(end - start for row in masked_runs(masked) for start, end in row) >= 4
    True
    >>> span_mask(torch.tensor([True, False, False, True]), k=3, target_fraction=1.0)  # too short: all or none
    tensor([False,  True,  True, False])
    """
    target_fraction = _check_fraction("target_fraction", target_fraction)
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    special_mask = special_mask.bool()
    one_d = special_mask.dim() == 1
    if one_d:
        special_mask = special_mask.unsqueeze(0)
    if special_mask.dim() != 2:
        raise ValueError(f"special_mask must be 1-D or 2-D, got shape {tuple(special_mask.shape)}")
    rows, n = special_mask.shape
    key, length, position = _segments(special_mask)
    maskable = ~special_mask

    prob = torch.zeros(rows, n, dtype=torch.float64)
    can_start = maskable & (length - position >= k)
    for seg_len in torch.unique(length[can_start]).tolist():
        prob[can_start & (length == seg_len)] = start_probability(int(seg_len), k, target_fraction)
    uniform = torch.rand(rows, n, generator=generator, dtype=torch.float64, device=special_mask.device)
    starts = (uniform < prob.to(uniform.device)) & can_start

    # a span covers s .. s+k-1: position j is masked if a start lies in j-k+1 .. j
    cum = torch.cumsum(starts.long(), dim=1)
    shifted = torch.nn.functional.pad(cum, (k, 0))[:, :n]
    masked = (cum - shifted) > 0

    # segments shorter than k: all or nothing, decided by the draw at their first position
    short_first = maskable & (length < k) & (position == 0) & (uniform < target_fraction)
    if bool(short_first.any()):
        chosen = torch.zeros(rows * (n + 1), dtype=torch.bool, device=special_mask.device)
        chosen[key[short_first]] = True
        masked |= chosen[key] & maskable & (length < k)
    return masked[0] if one_d else masked


def mask_kmer_tokens(
    input_ids: torch.Tensor,
    k: int,
    vocab_size: int,
    special_tokens_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    mlm_probability: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    mask_token_id: int = MASK_ID,
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-span MLM masking of a batch of k-mer ids; returns new ``(inputs, labels)`` and leaves ``input_ids`` alone.

    Positions with an id below :data:`FIRST_KMER_ID`, or flagged in ``special_tokens_mask``, are never masked.
    Labels are ``-100`` except at masked positions, where they hold the original id.

    >>> ids = torch.tensor([[2, 16, 50, 57, 20, 33, 3, 0]])
    >>> inputs, labels = mask_kmer_tokens(ids, k=3, vocab_size=69, mlm_probability=1.0, mask_replace_prob=1.0,
    ...                                   random_replace_prob=0.0, generator=torch.Generator().manual_seed(0))
    >>> inputs
    tensor([[2, 4, 4, 4, 4, 4, 3, 0]])
    >>> labels
    tensor([[-100,   16,   50,   57,   20,   33, -100, -100]])
    """
    mask_replace_prob = _check_fraction("mask_replace_prob", mask_replace_prob)
    random_replace_prob = _check_fraction("random_replace_prob", random_replace_prob)
    if mask_replace_prob + random_replace_prob > 1.0:
        raise ValueError("mask_replace_prob + random_replace_prob must not exceed 1")
    if vocab_size <= FIRST_KMER_ID:
        raise ValueError(f"vocab_size must exceed {FIRST_KMER_ID}, got {vocab_size}")
    input_ids = torch.as_tensor(input_ids)
    special = input_ids < FIRST_KMER_ID
    if special_tokens_mask is not None:
        special = special | torch.as_tensor(special_tokens_mask, device=input_ids.device).bool()
    masked = span_mask(special, k, mlm_probability, generator)

    labels = torch.where(masked, input_ids, torch.full_like(input_ids, -100))
    inputs = input_ids.clone()
    branch = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
    to_mask = masked & (branch < mask_replace_prob)
    to_random = masked & ~to_mask & (branch < mask_replace_prob + random_replace_prob)
    random_ids = torch.randint(
        FIRST_KMER_ID, vocab_size, input_ids.shape, generator=generator, device=input_ids.device,
        dtype=input_ids.dtype,
    )  # fmt: skip
    inputs[to_mask] = mask_token_id
    inputs[to_random] = random_ids[to_random]
    return inputs, labels


def recoverable_positions(masked: torch.Tensor, k: int) -> torch.Tensor:
    """Nucleotides visible in one segment: those covered by an unmasked k-mer token.

    ``masked`` is a 1-D boolean tensor over the ``n`` k-mer tokens of one segment (no special tokens); token ``i``
    covers nucleotides ``i .. i+k-1`` of the ``n + k - 1`` nucleotides, counted from the first k-mer.

    >>> recoverable_positions(torch.tensor([False, False, True, True, True, False]), k=3).int()
    tensor([1, 1, 1, 1, 0, 1, 1, 1], dtype=torch.int32)
    >>> recoverable_positions(torch.tensor([False, True, False]), k=3).all()  # one masked token hides nothing
    tensor(True)
    """
    masked = masked.bool()
    if masked.dim() != 1:
        raise ValueError("recoverable_positions works on one segment (a 1-D tensor)")
    visible = (~masked).long()
    cum = torch.cumsum(torch.nn.functional.pad(visible, (0, k - 1)), dim=0)
    shifted = torch.nn.functional.pad(cum, (k, 0))[: cum.numel()]
    return (cum - shifted) > 0  # nucleotide j is covered by some visible token in j-k+1 .. j


def _shift(x: torch.Tensor, offset: int, fill: int | bool) -> torch.Tensor:
    """``y[..., i] = x[..., i + offset]``, with ``fill`` where ``i + offset`` is out of range."""
    if offset == 0:
        return x
    n = x.shape[-1]
    out = torch.full_like(x, fill)
    if abs(offset) >= n:
        return out
    if offset > 0:
        out[..., : n - offset] = x[..., offset:]
    else:
        out[..., -offset:] = x[..., : n + offset]
    return out


def leaked_tokens(masked: torch.Tensor, k: int, special_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Masked tokens whose k nucleotides are all covered by unmasked tokens of the same segment.

    These are the tokens a model can "predict" by copying from the input. Special positions (``special_mask``)
    reveal nothing and separate segments. Works on 1-D or ``(batch, length)`` tensors.

    >>> leaked_tokens(torch.tensor([False, False, True, False, False]), k=3)  # single-token masking leaks
    tensor([False, False,  True, False, False])
    >>> leaked_tokens(torch.tensor([False, True, True, True, False]), k=3).any()  # a k-span does not
    tensor(False)
    """
    masked = masked.bool()
    special = torch.zeros_like(masked) if special_mask is None else special_mask.bool()
    visible = ~masked & ~special
    segment = torch.cumsum(special.long(), dim=-1)
    covered = torch.ones_like(masked)
    for d in range(k):  # nucleotide i+d of token i
        seen = torch.zeros_like(masked)
        for offset in range(d - k + 1, d + 1):  # tokens j = i+offset that cover nucleotide i+d
            same = _shift(segment, offset, -1) == segment
            seen |= _shift(visible, offset, False) & same
        covered &= seen
    return masked & ~special & covered


def masked_runs(masked: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Maximal runs of True per row, as half-open ``(start, end)`` pairs.

    >>> masked_runs(torch.tensor([[0, 1, 1, 0, 1], [1, 1, 1, 1, 1]]).bool())
    [[(1, 3), (4, 5)], [(0, 5)]]
    """
    rows = masked.bool().reshape(-1, masked.shape[-1]).tolist()
    out: list[list[tuple[int, int]]] = []
    for row in rows:
        runs: list[tuple[int, int]] = []
        start = None
        for i, value in enumerate(row + [False]):
            if value and start is None:
                start = i
            elif not value and start is not None:
                runs.append((start, i))
                start = None
        out.append(runs)
    return out


class KmerSpanMaskingCollator(DataCollatorForLanguageModeling):
    """Pads a batch of :class:`~utrbert.tokens.tokenization.KmerTokenizer` encodings and applies k-span MLM masking.

    A drop-in ``data_collator`` for :class:`transformers.Trainer`: padding, batching and the generator handling
    (``seed``, one ``torch.Generator`` per process, offset by the DataLoader worker id) come from
    :class:`~transformers.DataCollatorForLanguageModeling`; only the masking is replaced (see the module
    docstring for what ``mlm_probability`` means). ``seed=None`` falls back to torch's global RNG. Only
    ``return_tensors="pt"`` is supported.

    >>> tok = KmerTokenizer(k=3)
    >>> collator = KmerSpanMaskingCollator(tok, mlm_probability=0.5, seed=0)
    >>> batch = collator([tok("ACGUACGUAC"), tok("GGAUCCA")])
    >>> sorted(batch), tuple(batch["input_ids"].shape)
    (['attention_mask', 'input_ids', 'labels', 'token_type_ids'], (2, 10))
    >>> batch["attention_mask"][1].tolist()
    [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    """

    def __init__(
        self,
        tokenizer: KmerTokenizer,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        seed: int | None = 0,
        pad_to_multiple_of: int | None = None,
        return_tensors: str = "pt",
    ) -> None:
        if return_tensors != "pt":
            raise ValueError(f"KmerSpanMaskingCollator supports only return_tensors='pt', got {return_tensors!r}")
        k = getattr(tokenizer, "k", None)
        if not isinstance(k, int):
            raise TypeError("tokenizer must be a KmerTokenizer (with an integer attribute k)")
        super().__init__(
            tokenizer=tokenizer,
            mlm=True,
            whole_word_mask=False,
            mlm_probability=mlm_probability,
            mask_replace_prob=mask_replace_prob,
            random_replace_prob=random_replace_prob,
            pad_to_multiple_of=pad_to_multiple_of,
            return_tensors=return_tensors,
            seed=seed,
        )
        self.k = k
        logger.debug("k-span masking: k=%d, target fraction %.3f", k, self.mlm_probability)

    def _default_generator(self) -> torch.Generator | None:
        """The collator's own generator, created on first use as the parent's ``torch_call`` would."""
        if self.seed is not None and (
            not isinstance(self.generator, torch.Generator) or self._generator_pid != os.getpid()
        ):
            self.create_rng("pt")
        return self.generator

    def mask_tokens(
        self,
        input_ids: torch.Tensor,
        special_tokens_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked ``(inputs, labels)`` for padded ``input_ids``, drawing from ``generator`` (or the collator's)."""
        return mask_kmer_tokens(
            input_ids,
            k=self.k,
            vocab_size=len(self.tokenizer),
            special_tokens_mask=special_tokens_mask,
            generator=generator if generator is not None else self._default_generator(),
            mlm_probability=float(self.mlm_probability),
            mask_replace_prob=self.mask_replace_prob,
            random_replace_prob=self.random_replace_prob,
            mask_token_id=int(self.tokenizer.mask_token_id),
        )

    def torch_mask_tokens(  # type: ignore[override]
        self,
        inputs: Any,
        special_tokens_mask: Any | None = None,
        offset_mapping: Any | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Any, Any]:
        """Parent hook called by ``torch_call``; ``offset_mapping`` is ignored (k-mer offsets always overlap)."""
        return self.mask_tokens(inputs, special_tokens_mask=special_tokens_mask, generator=generator)
