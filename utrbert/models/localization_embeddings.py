"""Frozen-encoder embeddings of long mRNAs for localization: DM3Loc's head and tail, explicit 510-nt windows,
batched by length, cached on disk (float16) with provenance, resumable.

Following DM3Loc and the paper, an mRNA contributes its first and last ``segment_nt`` nucleotides (4,000
each); an mRNA of at most ``2 * segment_nt`` nt contributes its whole sequence once (no overlap counted twice).
Segments are cut into non-overlapping windows of ``window_nt`` (510: one model input each, last window
shorter and padded only to its own length inside a batch). Each window's vector is the mean of the last
hidden states over its k-mer tokens; an mRNA's vector is the mean of its windows weighted by their k-mers.

The same forward pass also gives each window's **attention features**: the last layer's ``[CLS]``
attention (summed over heads) pooled by k-mer, i.e. the share of the ``[CLS]`` query's attention that
goes to each of the ``4**k`` k-mers, normalised to sum to 1 over the window's k-mers (``[UNK]`` k-mers
count in no column). They say *what the model looks at* in a window, not what it represents.

>>> segments("A" * 10, segment_nt=3)
[(0, 3), (7, 10)]
>>> segments("A" * 5, segment_nt=3)
[(0, 5)]
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from utrbert.tokens.kmers import SPECIAL_TOKENS
from utrbert.data.records import SequenceRecord
from utrbert.data.registry import file_digest
from utrbert.runs.store import atomic_file, atomic_write_json

__all__ = ["segments", "segment_records", "attention_kmer_features", "MrnaEmbeddings", "embed_mrnas", "load_embeddings",
           "pad_windows"]

logger = logging.getLogger(__name__)


def segments(sequence: str, segment_nt: int = 4000) -> list[tuple[int, int]]:
    """``[start, end)`` spans of the head and tail segments (one span for short sequences)."""
    if segment_nt < 1:
        raise ValueError(f"segment_nt must be positive, got {segment_nt}")
    n = len(sequence)
    if n <= 2 * segment_nt:
        return [(0, n)]
    return [(0, segment_nt), (n - segment_nt, n)]


def segment_records(records: Sequence[SequenceRecord], segment_nt: int = 4000) -> list[SequenceRecord]:
    """One record per segment, id ``<mRNA id>|<start>-<end>``, ``meta["mrna"]`` naming the mRNA."""
    out = []
    for record in records:
        for start, end in segments(record.sequence, segment_nt):
            out.append(SequenceRecord(f"{record.id}|{start}-{end}", record.sequence[start:end], None,
                                      {"mrna": record.id, "start": start, "end": end}))
    return out


def attention_kmer_features(input_ids: np.ndarray, attention: np.ndarray, k: int) -> np.ndarray:
    """Per window, the ``[CLS]`` attention summed per k-mer, normalised over the window's k-mers.

    ``input_ids`` (windows, tokens) starts with ``[CLS]``; ``attention`` (windows, k-mers) holds the
    scores of the k-mer tokens (NaN beyond each window's k-mers). Returns (windows, ``4**k``) float32.

    >>> ids = np.array([[2, 5, 6, 5, 3]])  # [CLS] AAA AAC AAA [SEP]
    >>> attention_kmer_features(ids, np.array([[0.2, 0.1, 0.1]]), k=3)[0, :2].round(3).tolist()
    [0.75, 0.25]
    """
    from utrbert.tokens.tokenization import UNK_ID

    first_kmer = len(SPECIAL_TOKENS)
    n_columns = 4**k
    width = attention.shape[1]
    tokens = input_ids[:, 1 : 1 + width]
    weights = np.nan_to_num(attention.astype(np.float64), nan=0.0)
    keep = (tokens >= first_kmer) & (tokens != UNK_ID) & (weights > 0)
    rows = np.broadcast_to(np.arange(len(tokens))[:, None], tokens.shape)[keep]
    flat = rows * n_columns + (tokens[keep] - first_kmer)
    out = np.bincount(flat, weights=weights[keep], minlength=len(tokens) * n_columns).reshape(len(tokens), n_columns)
    totals = out.sum(axis=1, keepdims=True)
    return np.divide(out, totals, out=np.zeros_like(out), where=totals > 0).astype(np.float32)


@dataclass
class MrnaEmbeddings:
    """Window and mRNA vectors keyed by mRNA id; ``windows[offsets[i]:offsets[i+1]]`` belong to ``ids[i]``."""

    ids: list[str]
    windows: np.ndarray  # (n_windows, hidden) float16
    window_kmers: np.ndarray  # k-mers per window (the pooling weight)
    offsets: np.ndarray
    provenance: dict[str, Any]
    attention: np.ndarray | None = None  # (n_windows, 4**k) float16 attention features, see the module docstring

    @property
    def mrna_vectors(self) -> np.ndarray:
        """Per-mRNA mean of its windows, weighted by k-mers (float32)."""
        out = np.zeros((len(self.ids), self.windows.shape[1]), dtype=np.float32)
        for i in range(len(self.ids)):
            rows = slice(self.offsets[i], self.offsets[i + 1])
            weights = self.window_kmers[rows].astype(np.float64)
            out[i] = (self.windows[rows].astype(np.float64) * weights[:, None]).sum(0) / weights.sum()
        return out

    def subset(self, ids: Sequence[str]) -> MrnaEmbeddings:
        """The embeddings of ``ids``, in that order (KeyError naming a missing id)."""
        index = {name: i for i, name in enumerate(self.ids)}
        missing = [i for i in ids if i not in index]
        if missing:
            raise KeyError(f"no embeddings for {len(missing)} mRNAs, e.g. {missing[:3]}")
        rows = [index[i] for i in ids]
        pieces = [np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows]
        take = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        counts = np.array([len(p) for p in pieces], dtype=np.int64)
        attention = None if self.attention is None else self.attention[take]
        return MrnaEmbeddings(list(ids), self.windows[take], self.window_kmers[take],
                              np.concatenate([[0], np.cumsum(counts)]), dict(self.provenance), attention)


WindowFeatures = Literal["hidden", "attention"]


def pad_windows(
    embeddings: MrnaEmbeddings, max_windows: int | None = None, features: WindowFeatures = "hidden"
) -> tuple[np.ndarray, np.ndarray]:
    """``(mRNAs, max windows, dims)`` float32 array and its boolean mask, for the pooling head.

    ``features``: ``"hidden"`` (the mean-pooled hidden states) or ``"attention"`` (the attention features).
    """
    if features == "hidden":
        values = embeddings.windows
    elif features == "attention":
        if embeddings.attention is None:
            raise ValueError("these embeddings hold no attention features")
        values = embeddings.attention
    else:
        raise ValueError(f"features must be 'hidden' or 'attention', got {features!r}")
    counts = np.diff(embeddings.offsets)
    width = int(counts.max()) if max_windows is None else max_windows
    if counts.max() > width:
        raise ValueError(f"an mRNA has {counts.max()} windows, more than max_windows={width}")
    out = np.zeros((len(embeddings.ids), width, values.shape[1]), dtype=np.float32)
    mask = np.zeros((len(embeddings.ids), width), dtype=bool)
    for i, n in enumerate(counts):
        out[i, :n] = values[embeddings.offsets[i]:embeddings.offsets[i + 1]]
        mask[i, :n] = True
    return out, mask


def embed_mrnas(
    model_dir: str | os.PathLike[str],
    records: Sequence[SequenceRecord],
    cache_dir: str | os.PathLike[str],
    segment_nt: int = 4000,
    window_nt: int = 510,
    shard_size: int = 500,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
    precision: str = "fp32",
) -> MrnaEmbeddings:
    """Embed every mRNA with the frozen encoder, ``shard_size`` mRNAs per cached shard (skipped when present).

    The cache's ``manifest.json`` holds the model identity (name, weight digest), k, windowing, the ids of
    each shard and the sha256 of every finished shard (the manifest is rewritten atomically after each one);
    a cache made with anything else is an error, never mixed in. A shard whose file is missing, unreadable or
    not the one recorded (truncated, overwritten) is rebuilt, never read. ``precision="bf16"`` runs the
    encoder under bf16 autocast (CUDA, or a CPU with native bf16) and is recorded in the manifest (fp32, the default, is unmarked).
    """
    import torch

    from utrbert.models.pretraining import autocast, check_precision

    check_precision(precision, device)
    from tqdm.auto import tqdm

    from utrbert.interpret.attention import cls_embeddings
    from utrbert.models.model import load_encoder_checkpoint
    from utrbert.models.model import checkpoint_identity
    from utrbert.runs.provenance import environment

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("mRNA ids must be unique")
    settings = {**checkpoint_identity(model_dir), "model_dir": str(model_dir), "segment_nt": segment_nt, "window_nt": window_nt,
                "pooling": "mean over k-mer tokens of the last hidden state", "dtype": "float16",
                "attention": "last layer [CLS] attention summed over heads, per k-mer, normalised per window"}
    if precision != "fp32":
        settings["precision"] = precision
    manifest_path = cache / "manifest.json"
    shards = [ids[i:i + shard_size] for i in range(0, len(ids), shard_size)]
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest["settings"] != settings or manifest["shards"] != shards:
            raise ValueError(f"{cache} holds embeddings made with other settings or mRNAs; use another cache_dir")
    else:
        manifest = {"settings": settings, "shards": shards}
        atomic_write_json(manifest_path, manifest, indent=None, sort_keys=False)
    checksums: dict[str, str] = manifest.setdefault("sha256", {})
    model, tokenizer = None, None
    by_id = {r.id: r for r in records}
    for number, shard in enumerate(tqdm(shards, desc="embedding shards", disable=not progress)):
        path = cache / f"shard_{number:05d}.npz"
        problem = _shard_problem(path, shard, checksums.get(path.name))
        if problem is None:
            if path.name not in checksums:  # a cache from before checksums: record the verified shard's digest
                checksums[path.name] = file_digest(path, "sha256")
                atomic_write_json(manifest_path, manifest, indent=None, sort_keys=False)
            continue
        if path.exists():
            logger.warning("%s: %s; rebuilding it", path, problem)
        if model is None:
            model, tokenizer = load_encoder_checkpoint(model_dir)
        pieces = segment_records([by_id[i] for i in shard], segment_nt)
        encoding = tokenizer.encode_corpus([p.sequence for p in pieces], ids=[p.id for p in pieces])
        windowed = encoding.windows(window_nt)
        with autocast(precision, device):
            vectors = cls_embeddings(model, windowed, batch_size=batch_size, device=device, pooling="mean",
                                     progress=False, with_attention=True)
        attention = attention_kmer_features(windowed.padded()["input_ids"], vectors.token_attention, tokenizer.k)
        piece_mrna = {p.id: p.meta["mrna"] for p in pieces}
        owner = np.array([shard.index(piece_mrna[rid]) for rid in windowed.record_ids])
        kmers = np.array([w.end - w.start - tokenizer.k + 1 for w in windowed.spans], dtype=np.int64)
        order = np.argsort(owner, kind="stable")  # windows grouped by mRNA, in shard order
        counts = np.bincount(owner, minlength=len(shard))
        with atomic_file(path) as tmp, open(tmp, "wb") as handle:  # a handle: numpy adds no .npz suffix
            np.savez(handle, ids=np.array(shard), windows=vectors.embeddings[order].astype(np.float16),
                     window_kmers=kmers[order], offsets=np.concatenate([[0], np.cumsum(counts)]),
                     attention=attention[order].astype(np.float16),
                     spans=np.array([[w.start, w.end] for w in windowed.spans])[order],
                     segments=np.array([windowed.record_ids[i] for i in order]))
            handle.flush()
            checksums[path.name] = file_digest(tmp, "sha256")
        atomic_write_json(manifest_path, manifest, indent=None, sort_keys=False)
    loaded = load_embeddings(cache)
    loaded.provenance["environment"] = environment(device)
    return loaded


def _shard_problem(path: Path, ids: list[str], sha256: str | None) -> str | None:
    """Why a cached shard cannot be used (None when it can): missing, not the file the manifest recorded, or,
    for a shard without a recorded digest, unreadable or holding other mRNAs."""
    import zipfile

    if not path.is_file():
        return "missing"
    if sha256 is not None:
        return None if file_digest(path, "sha256") == sha256 else "its content is not the one the manifest recorded"
    try:
        with np.load(path) as data:
            if data["ids"].tolist() != ids:
                return "its ids differ from the manifest"
            for name in data.files:
                data[name]  # reads (and CRC-checks) every array
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return f"unreadable ({type(exc).__name__}: {exc})"
    return None


def load_embeddings(cache_dir: str | os.PathLike[str]) -> MrnaEmbeddings:
    """Read a complete cache written by :func:`embed_mrnas`; every shard is checked against the manifest's sha256."""
    cache = Path(cache_dir)
    manifest = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
    checksums = manifest.get("sha256", {})
    ids, windows, kmers, counts, attention = [], [], [], [], []
    for number, shard in enumerate(manifest["shards"]):
        path = cache / f"shard_{number:05d}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: the cache is incomplete (rerun embed_mrnas to resume)")
        problem = _shard_problem(path, shard, checksums.get(path.name))
        if problem is not None:
            raise ValueError(f"{path}: {problem} (rerun embed_mrnas to rebuild it)")
        with np.load(path) as data:
            if data["ids"].tolist() != shard:
                raise ValueError(f"{path}: its ids differ from the manifest")
            ids += shard
            windows.append(data["windows"])
            kmers.append(data["window_kmers"])
            counts.append(np.diff(data["offsets"]))
            attention.append(data["attention"])
    all_counts = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    return MrnaEmbeddings(ids, np.concatenate(windows), np.concatenate(kmers),
                          np.concatenate([[0], np.cumsum(all_counts)]), {"settings": manifest["settings"]},
                          np.concatenate(attention))
