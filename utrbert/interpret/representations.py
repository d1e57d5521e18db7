"""What the model learned: per-layer embeddings and how well they separate classes, attention distance per head,
token attributions (integrated gradients) against [CLS] attention, and non-BERT encodings of the same sequences.

Quantities, not only pictures:

* :func:`layer_embeddings`: the ``[CLS]`` (or mean k-mer) vector of every layer from one forward pass
  (layer 0 is the embedding output).
* :func:`separation_scores`: a linear probe's test AUROC (logistic regression on standardised vectors, fitted on
  the train rows only) and the silhouette of the two classes (cosine), per representation.
* :func:`mean_attention_distance`: per layer and head, the attention-weighted mean distance (in tokens) between a
  query and its keys, over the real tokens of every sequence (local heads: small; long-range heads: large).
* :func:`token_attributions`: integrated gradients of the positive-class logit with respect to each token's
  input embedding (captum), summed over the embedding dimensions, with ``[PAD]`` tokens as the baseline.
* :func:`structure_encoding` and :func:`pair_graph_features`: ViennaRNA's MFE structure as per-nucleotide
  loop-type one-hot, and a simple graph of the structure (backbone + base pairs) summarised per sequence.

>>> one_hot_encoding(["ACGU"]).shape
(1, 16)
>>> loop_types("((..))")
'SSHHSS'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

__all__ = ["layer_embeddings", "separation_scores", "attention_maps", "mean_attention_distance", "token_attributions", "rank_agreement",
           "one_hot_encoding", "fold_structures", "loop_types", "structure_encoding", "pair_graph_features"]

logger = logging.getLogger(__name__)


def layer_embeddings(
    model: Any, tokenizer: Any, sequences: Sequence[str], pooling: Literal["cls", "mean"] = "cls",
    batch_size: int = 128, device: str = "cpu",
) -> dict[int, np.ndarray]:
    """``{layer: (sequences, hidden) float32}`` for layers 0 (embeddings) .. L, from one pass per batch."""
    from utrbert.models.finetuning import _trimmed

    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
    padded = tokenizer.encode_corpus(list(sequences)).padded()
    base = model.base_model.to(device).eval()
    out: dict[int, list[np.ndarray]] = {}
    with torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            ids, mask = _trimmed(padded["input_ids"][start:start + batch_size],
                                 padded["attention_mask"][start:start + batch_size], torch.device(device))
            hidden = base(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            kmer = mask.clone()
            kmer[:, 0] = 0
            kmer[torch.arange(len(mask)), mask.sum(dim=1) - 1] = 0  # [SEP]
            for layer, states in enumerate(hidden):
                if pooling == "cls":
                    pooled = states[:, 0]
                else:
                    weights = kmer[:, :, None].to(states.dtype)
                    pooled = (states * weights).sum(dim=1) / weights.sum(dim=1)
                out.setdefault(layer, []).append(pooled.float().cpu().numpy())
    return {layer: np.concatenate(parts) for layer, parts in out.items()}


def separation_scores(
    representations: Mapping[Any, np.ndarray], labels: np.ndarray, train_rows: np.ndarray, test_rows: np.ndarray,
    seed: int = 0, silhouette_points: int = 2000,
) -> pd.DataFrame:
    """Per representation: ``probe_auroc`` (linear probe fitted on ``train_rows``, scored on ``test_rows``) and
    ``silhouette`` (cosine, on at most ``silhouette_points`` seeded test rows)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score, silhouette_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(labels)
    if set(np.unique(y[train_rows])) != {0, 1} or set(np.unique(y[test_rows])) != {0, 1}:
        raise ValueError("train and test rows must each hold both classes")
    if np.intersect1d(train_rows, test_rows).size:
        raise ValueError("train and test rows overlap")
    rng = np.random.default_rng(seed)
    sample = test_rows if len(test_rows) <= silhouette_points else rng.choice(test_rows, silhouette_points, replace=False)
    rows = {}
    for name, vectors in representations.items():
        x = np.asarray(vectors, dtype=np.float64)
        if len(x) != len(y):
            raise ValueError(f"{name}: {len(x)} vectors for {len(y)} labels")
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
        probe.fit(x[train_rows], y[train_rows])
        rows[name] = {"probe_auroc": float(roc_auc_score(y[test_rows], probe.predict_proba(x[test_rows])[:, 1])),
                      "silhouette": float(silhouette_score(x[sample], y[sample], metric="cosine")),
                      "dims": x.shape[1]}
    return pd.DataFrame(rows).T


def attention_maps(model: Any, tokenizer: Any, sequence: str, device: str = "cpu") -> tuple[np.ndarray, list[str]]:
    """Every layer's and head's attention weights of one sequence, ``(layers, heads, tokens, tokens)`` float32,
    and its tokens (``[CLS]``, the k-mers, ``[SEP]``); rows are queries, columns keys, each row sums to 1.

    Needs attention weights, so the model is switched to eager attention for the call (and back).
    """
    encoding = tokenizer.encode_corpus([sequence])
    ids = torch.as_tensor(encoding.padded()["input_ids"][:, : int(encoding.n_kmers[0]) + 2], device=device)
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        base = model.base_model.to(device).eval()
        with torch.inference_mode():
            maps = base(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True).attentions
    finally:
        model.set_attn_implementation(previous)
    weights = torch.stack([layer[0] for layer in maps]).float().cpu().numpy()
    return weights, tokenizer.convert_ids_to_tokens(ids[0].tolist())


def mean_attention_distance(
    model: Any, tokenizer: Any, sequences: Sequence[str], batch_size: int = 32, device: str = "cpu"
) -> pd.DataFrame:
    """Layer x head table of the attention-weighted mean |query - key| distance in tokens (real tokens only).

    Needs attention weights, so the model is switched to eager attention for the call (and back).
    """
    from utrbert.models.finetuning import _trimmed

    padded = tokenizer.encode_corpus(list(sequences)).padded()
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    totals: np.ndarray | None = None
    queries = 0
    try:
        base = model.base_model.to(device).eval()
        with torch.inference_mode():
            for start in range(0, len(sequences), batch_size):
                ids, mask = _trimmed(padded["input_ids"][start:start + batch_size],
                                     padded["attention_mask"][start:start + batch_size], torch.device(device))
                maps = base(input_ids=ids, attention_mask=mask, output_attentions=True).attentions
                positions = torch.arange(ids.shape[1], device=ids.device, dtype=torch.float32)
                distance = (positions[:, None] - positions[None, :]).abs()  # (T, T)
                real = mask.bool()
                per_layer = []
                for weights in maps:  # (B, H, T, T), rows of padded queries ignored
                    mean_distance = (weights.float() * distance).sum(dim=-1)  # (B, H, T)
                    per_layer.append((mean_distance * real[:, None, :]).sum(dim=(0, 2)).cpu().numpy())
                batch = np.stack(per_layer)
                totals = batch if totals is None else totals + batch
                queries += int(real.sum())
    finally:
        model.set_attn_implementation(previous)
    table = pd.DataFrame(totals / queries)
    table.index.name, table.columns.name = "layer", "head"
    return table


def token_attributions(
    model: Any, tokenizer: Any, sequences: Sequence[str], target: int = 1, steps: int = 32, device: str = "cpu",
) -> list[np.ndarray]:
    """Integrated gradients of the ``target`` logit per k-mer token (specials left out), one array per sequence.

    The baseline keeps ``[CLS]``/``[SEP]`` and replaces every k-mer by ``[PAD]``; attributions of a sequence sum
    (up to the integration error, reported in the log) to its logit minus the baseline's logit.
    """
    from captum.attr import LayerIntegratedGradients

    from utrbert.tokens.tokenization import PAD_ID

    model = model.to(device).eval()
    embeddings = model.base_model.embeddings.word_embeddings

    def logit(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, target]

    explainer = LayerIntegratedGradients(logit, embeddings)
    out = []
    encoding = tokenizer.encode_corpus(list(sequences))
    padded = encoding.padded()
    for row in range(len(sequences)):
        n = int(encoding.n_kmers[row])
        ids = torch.as_tensor(padded["input_ids"][row:row + 1, : n + 2], device=device)
        mask = torch.ones_like(ids)
        baseline = ids.clone()
        baseline[:, 1 : n + 1] = PAD_ID
        attributions, delta = explainer.attribute(ids, baselines=baseline, additional_forward_args=(mask,),
                                                  n_steps=steps, return_convergence_delta=True)
        out.append(attributions.sum(dim=-1)[0, 1 : n + 1].detach().cpu().numpy().astype(np.float64))
        logger.debug("sequence %d: integrated-gradients convergence delta %.3g", row, float(delta))
    return out


def rank_agreement(first: Sequence[np.ndarray], second: Sequence[np.ndarray]) -> pd.DataFrame:
    """Spearman correlation between two per-token scores of each sequence (e.g. attribution vs attention)."""
    from scipy.stats import spearmanr

    if len(first) != len(second):
        raise ValueError(f"{len(first)} vs {len(second)} sequences")
    rows = []
    for index, (a, b) in enumerate(zip(first, second)):
        if len(a) != len(b):
            raise ValueError(f"sequence {index}: {len(a)} vs {len(b)} tokens")
        rho = spearmanr(a, b).statistic if len(a) > 2 else np.nan
        rows.append({"sequence": index, "spearman": float(rho), "tokens": len(a)})
    return pd.DataFrame(rows)


def one_hot_encoding(sequences: Sequence[str]) -> np.ndarray:
    """Flattened one-hot (A, C, G, U per position) of equal-length sequences; N and others are zeros."""
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1:
        raise ValueError(f"one-hot vectors need equal-length sequences, got lengths {sorted(lengths)[:5]}")
    table = np.full(256, -1, dtype=np.int64)
    for i, base in enumerate("ACGU"):
        table[ord(base)] = i
    codes = table[np.frombuffer("".join(s.upper().replace("T", "U") for s in sequences).encode("ascii"), dtype=np.uint8)]
    codes = codes.reshape(len(sequences), -1)
    out = np.zeros((*codes.shape, 4), dtype=np.float32)
    rows, cols = np.nonzero(codes >= 0)
    out[rows, cols, codes[rows, cols]] = 1.0
    return out.reshape(len(sequences), -1)


def fold_structures(sequences: Sequence[str]) -> list[tuple[str, float]]:
    """ViennaRNA minimum-free-energy structure (dot-bracket) and energy (kcal/mol) of each sequence."""
    import RNA

    out = []
    for sequence in sequences:
        structure, energy = RNA.fold(sequence.upper().replace("T", "U"))
        out.append((structure, float(energy)))
    return out


def loop_types(structure: str) -> str:
    """Per nucleotide: ``S`` paired (stem), ``H`` hairpin loop, ``I`` internal/bulge or multi-loop, ``E``
    exterior (unpaired, not enclosed by any pair)."""
    partner = [-1] * len(structure)
    stack: list[int] = []
    for i, c in enumerate(structure):
        if c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                raise ValueError(f"unbalanced structure {structure!r}")
            j = stack.pop()
            partner[i], partner[j] = j, i
        elif c != ".":
            raise ValueError(f"not a dot-bracket structure: {structure!r}")
    if stack:
        raise ValueError(f"unbalanced structure {structure!r}")
    out = []
    for i, c in enumerate(structure):
        if c != ".":
            out.append("S")
            continue
        left = next((j for j in range(i - 1, -1, -1) if structure[j] != "."), None)
        right = next((j for j in range(i + 1, len(structure)) if structure[j] != "."), None)
        if left is None or right is None:
            enclosed = False
        else:  # enclosed when some pair spans i
            enclosed = any(partner[j] > i for j in range(i) if structure[j] == "(")
        if not enclosed:
            out.append("E")
        elif structure[left] == "(" and structure[right] == ")" and partner[left] == right:
            out.append("H")
        else:
            out.append("I")
    return "".join(out)


def structure_encoding(structures: Sequence[str]) -> np.ndarray:
    """Flattened one-hot of the loop types (S, H, I, E per position) of equal-length structures."""
    types = [loop_types(s) for s in structures]
    lengths = {len(t) for t in types}
    if len(lengths) != 1:
        raise ValueError(f"structure vectors need equal lengths, got {sorted(lengths)[:5]}")
    index = {c: i for i, c in enumerate("SHIE")}
    out = np.zeros((len(types), len(types[0]), 4), dtype=np.float32)
    for row, text in enumerate(types):
        for col, c in enumerate(text):
            out[row, col, index[c]] = 1.0
    return out.reshape(len(types), -1)


def pair_graph_features(sequences: Sequence[str], structures: Sequence[str], window: int = 10) -> np.ndarray:
    """A simple graph encoding: nucleotides are nodes, joined along the backbone and by base pairs; per
    sequence, the counts of each base-pair type (AU, UA, GC, CG, GU, UG) and, per ``window``-nt block, the
    fraction of paired nucleotides and the mean graph distance skipped by its pairs (|i - j| / length)."""
    pairs = ("AU", "UA", "GC", "CG", "GU", "UG")
    rows = []
    for sequence, structure in zip(sequences, structures, strict=True):
        seq = sequence.upper().replace("T", "U")
        if len(seq) != len(structure):
            raise ValueError(f"sequence of {len(seq)} nt with a structure of {len(structure)}")
        stack: list[int] = []
        partner = np.full(len(seq), -1)
        for i, c in enumerate(structure):
            if c == "(":
                stack.append(i)
            elif c == ")":
                j = stack.pop()
                partner[i], partner[j] = j, i
        counts = dict.fromkeys(pairs, 0)
        for i in np.flatnonzero(partner > np.arange(len(seq))):
            key = seq[i] + seq[partner[i]]
            if key in counts:
                counts[key] += 1
        blocks = []
        for start in range(0, len(seq), window):
            part = partner[start:start + window]
            paired = part >= 0
            span = np.abs(part[paired] - np.arange(start, start + len(part))[paired]) / len(seq) if paired.any() else np.zeros(1)
            blocks += [float(paired.mean()), float(span.mean())]
        rows.append([counts[p] for p in pairs] + blocks)
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError("graph features need equal-length sequences")
    return np.array(rows, dtype=np.float32)
