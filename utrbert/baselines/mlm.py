"""Frequency baselines for masked k-mer prediction, scored on exactly the positions the model is scored on.

Both baselines take the masked ``inputs`` and ``labels`` the model sees (for instance from
:func:`utrbert.models.pretraining.fixed_masks`); a position is *masked* where ``labels != -100``. Every masked
position is treated as hidden, including the BERT 10 % left unchanged and 10 % replaced at random (which
slightly favours the model).

**Unigram** (:class:`UnigramBaseline`): predicts the most frequent training k-mer at every masked position;
its probability of the true k-mer is the add-one smoothed training frequency over the ``4**k`` k-mers.

**Nucleotide context** (:class:`ContextBaseline`): token ``t`` covers nucleotides ``t .. t+k-1`` of its
row. A nucleotide is *known* when an unmasked k-mer token (id >= 5) covers it, *hidden* when only masked
tokens do. Each maximal run of ``g`` hidden nucleotides is filled from its ``c`` known neighbours on each
side (``c = context``; a missing neighbour -- sequence end or an unknown nucleotide -- is a fifth symbol,
"boundary", learnt as such from the training rows). The training counts give, for every
``(left c, right c)`` context, how often each of the ``4**g`` fills occurs between them, and

    P(fill | left, right) = (count(left, fill, right) + alpha) / (sum over fills + alpha * 4**g).

The predicted fill is the most likely one and each masked token's prediction is the k-mer read off the
filled nucleotides; its probability of the true k-mer is the marginal of ``P`` over the hidden nucleotides
of that token (all of one run: the known nucleotides of a token are a prefix and a suffix of it), and a
true k-mer that contradicts a known nucleotide gets probability ``1e-12``. Runs longer than ``max_gap``
are filled in chunks of ``max_gap`` from left to right, each chunk taking the previous chunk's predicted
nucleotides as left context and the boundary symbol as right context (except the last), and chunks are
treated as independent for the marginals. With single-token masking nothing is hidden and this model is
exact, which is why 3UTRBERT masks spans of ``k`` tokens (see :mod:`utrbert.tokens.masking`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from utrbert.tokens.kmers import SPECIAL_TOKENS

__all__ = ["UnigramBaseline", "ContextBaseline", "kmer_digits", "nucleotide_track", "score_baselines"]

logger = logging.getLogger(__name__)

FIRST_KMER_ID = len(SPECIAL_TOKENS)
BOUNDARY = 4
_FLOOR = 1e-12


def _as_array(x: Any) -> np.ndarray:
    """A NumPy int64 array from a NumPy array or a torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.int64)


def kmer_digits(ids: np.ndarray, k: int) -> np.ndarray:
    """Nucleotide digits (``A=0, U=1, C=2, G=3``) of k-mer ids, shape ``ids.shape + (k,)``; -1 for specials.

    >>> kmer_digits(np.array([5, 6, 68, 2]), k=3).tolist()  # AAA, AAU, GGG, [CLS]
    [[0, 0, 0], [0, 0, 1], [3, 3, 3], [-1, -1, -1]]
    """
    code = np.asarray(ids, dtype=np.int64) - FIRST_KMER_ID
    powers = 4 ** np.arange(k - 1, -1, -1)
    digits = (code[..., None] // powers) % 4
    return np.where(code[..., None] >= 0, digits, -1)


def nucleotide_track(ids: np.ndarray, visible: np.ndarray, k: int) -> np.ndarray:
    """Known nucleotides of each row (``-1`` where unknown): token ``t`` covers positions ``t .. t+k-1``.

    >>> ids = np.array([[2, 5 + 6, 5 + 27, 5 + 44, 3]])  # [CLS] AUC UCG CGA [SEP] (nucleotides AUCGA)
    >>> nucleotide_track(ids, np.ones_like(ids, dtype=bool), k=3).tolist()
    [[-1, 0, 1, 2, 3, 0, -1]]
    >>> nucleotide_track(ids, np.array([[1, 1, 0, 0, 1]], dtype=bool), k=3).tolist()  # UCG, CGA hidden
    [[-1, 0, 1, 2, -1, -1, -1]]
    """
    rows, n = ids.shape
    digits = kmer_digits(ids, k)
    use = visible & (ids >= FIRST_KMER_ID)
    track = np.full((rows, n + k - 1), -1, dtype=np.int64)
    for d in range(k):
        view = track[:, d : d + n]
        np.copyto(view, digits[..., d], where=use)
    return track


def _encode(left: np.ndarray, fill: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Mixed-radix index of (left contexts in base 5, right contexts in base 5, fill in base 4) along the last axis."""
    index = np.zeros(left.shape[:-1], dtype=np.int64)
    for part, base in ((left, 5), (right, 5), (fill, 4)):
        for j in range(part.shape[-1]):
            index = index * base + part[..., j]
    return index


@dataclass
class UnigramBaseline:
    """Most frequent training k-mer everywhere; add-one smoothed frequencies for the perplexity."""

    k: int
    log_probs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, train_ids: Any) -> UnigramBaseline:
        ids = _as_array(train_ids).ravel()
        ids = ids[ids >= FIRST_KMER_ID]
        counts = np.bincount(ids - FIRST_KMER_ID, minlength=4**self.k).astype(np.float64) + 1.0
        self.log_probs = np.log(counts / counts.sum())
        return self

    def predict(self, inputs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ids and log-probabilities of the true ids at the masked positions (row-major order)."""
        targets = _as_array(labels)
        targets = targets[targets != -100]
        best = int(np.argmax(self.log_probs)) + FIRST_KMER_ID
        valid = targets >= FIRST_KMER_ID
        log_p = np.where(valid, self.log_probs[np.clip(targets - FIRST_KMER_ID, 0, None)], math.log(_FLOOR))
        return np.full(targets.shape, best, dtype=np.int64), log_p


@dataclass
class ContextBaseline:
    """Fill hidden nucleotides from ``context`` known nucleotides on each side (see the module docstring)."""

    k: int
    context: int = 2
    max_gap: int = 6
    alpha: float = 1.0
    tables: dict[int, np.ndarray] = field(default_factory=dict)

    def fit(self, train_ids: Any, chunk_rows: int = 2048) -> ContextBaseline:
        """Count ``(left, fill, right)`` windows for every gap length up to ``max_gap`` in the training rows."""
        ids = _as_array(train_ids)
        c = self.context
        self.tables = {g: np.zeros(25**c * 4**g, dtype=np.int64) for g in range(1, self.max_gap + 1)}
        for start in range(0, len(ids), chunk_rows):
            part = ids[start : start + chunk_rows]
            track = nucleotide_track(part, np.ones(part.shape, dtype=bool), self.k)
            padded = np.pad(np.where(track < 0, BOUNDARY, track), ((0, 0), (c, c)), constant_values=BOUNDARY)
            for g, table in self.tables.items():
                windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * c + g, axis=1)
                fill = windows[..., c : c + g]
                ok = (fill < 4).all(axis=-1)
                codes = _encode(windows[..., :c][ok], fill[ok], windows[..., c + g :][ok])
                table += np.bincount(codes, minlength=table.size)
        return self

    def _fill_probs(self, left: list[int], right: list[int], g: int) -> np.ndarray:
        """``P(fill | left, right)`` over the ``4**g`` fills (first nucleotide most significant)."""
        c = self.context
        base = _encode(np.array(left), np.zeros(0, dtype=np.int64), np.array(right)) if c else 0
        counts = self.tables[g][int(base) * 4**g : (int(base) + 1) * 4**g] + self.alpha
        return counts / counts.sum()

    def _context(self, track_row: np.ndarray, start: int, stop: int) -> list[int]:
        values = [int(track_row[i]) if 0 <= i < len(track_row) else -1 for i in range(start, stop)]
        return [BOUNDARY if v < 0 else v for v in values]

    def _fill_run(self, track_row: np.ndarray, s: int, e: int) -> list[tuple[int, np.ndarray]]:
        """Fill hidden nucleotides ``s .. e-1`` of one row in place; return ``(chunk start, probs)`` per chunk."""
        c, chunks = self.context, []
        for a in range(s, e, self.max_gap):
            b = min(a + self.max_gap, e)
            left = self._context(track_row, a - c, a)
            right = self._context(track_row, b, b + c) if b == e else [BOUNDARY] * c
            probs = self._fill_probs(left, right, b - a)
            best = int(np.argmax(probs))
            track_row[a:b] = (best // 4 ** np.arange(b - a - 1, -1, -1)) % 4
            chunks.append((a, probs.reshape((4,) * (b - a))))
        return chunks

    def predict(self, inputs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ids and log-probabilities of the true ids at the masked positions (row-major order)."""
        x, y = _as_array(inputs), _as_array(labels)
        masked = y != -100
        track = nucleotide_track(x, ~masked, self.k)
        covered = nucleotide_track(np.where(masked, y, 0), masked, self.k) >= 0  # nucleotides of masked tokens
        hidden = covered & (track < 0)
        filled = track.copy()
        chunk_of: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
        for row in np.flatnonzero(hidden.any(axis=1)):
            edges = np.flatnonzero(np.diff(np.concatenate([[0], hidden[row].astype(np.int8), [0]])))
            for s, e in zip(edges[::2], edges[1::2]):
                for a, probs in self._fill_run(filled[row], int(s), int(e)):
                    for pos in range(a, a + probs.ndim):
                        chunk_of[(int(row), pos)] = (a, probs)
        rows, cols = np.nonzero(masked)
        predicted_digits = np.stack([filled[rows, cols + d] for d in range(self.k)], axis=-1)
        predicted = _encode(np.zeros((len(rows), 0), dtype=np.int64), predicted_digits, np.zeros((len(rows), 0), dtype=np.int64))
        log_p = np.array([self._log_prob(track[r], chunk_of, int(r), int(t), int(y[r, t])) for r, t in zip(rows, cols)])
        return predicted + FIRST_KMER_ID, log_p.reshape(len(rows))

    def _log_prob(self, known: np.ndarray, chunk_of: dict, row: int, t: int, label: int) -> float:
        """Log of the marginal probability of ``label`` at token ``t`` given the known nucleotides."""
        if label < FIRST_KMER_ID:
            return math.log(_FLOOR)
        digits = kmer_digits(np.array(label), self.k).tolist()
        prob = 1.0
        groups: dict[int, tuple[np.ndarray, list[Any]]] = {}
        for d, digit in enumerate(digits):
            pos = t + d
            if known[pos] >= 0:
                if known[pos] != digit:
                    return math.log(_FLOOR)
                continue
            a, probs = chunk_of[(row, pos)]
            index = groups.setdefault(a, (probs, [slice(None)] * probs.ndim))[1]
            index[pos - a] = digit
        for probs, index in groups.values():
            prob *= float(probs[tuple(index)].sum())
        return math.log(max(prob, _FLOOR))


def _scores(predicted: np.ndarray, log_p: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    return {
        "masked_accuracy": float((predicted == targets).mean()) if len(targets) else float("nan"),
        "perplexity": float(math.exp(-log_p.mean())) if len(targets) else float("nan"),
        "masked_tokens": int(len(targets)),
    }


def score_baselines(
    train_ids: Any, eval_inputs: Any, eval_labels: Any, k: int, context: int = 2, max_gap: int = 6
) -> dict[str, dict[str, float]]:
    """Masked accuracy and perplexity of the unigram and nucleotide-context baselines on the given masks."""
    targets = _as_array(eval_labels)
    targets = targets[targets != -100]
    results = {}
    for name, model in (
        ("unigram", UnigramBaseline(k)),
        ("nucleotide_context", ContextBaseline(k, context=context, max_gap=max_gap)),
    ):
        model.fit(train_ids)
        predicted, log_p = model.predict(eval_inputs, eval_labels)
        results[name] = _scores(predicted, log_p, targets)
        logger.info("%s baseline: %s", name, results[name])
    return results
