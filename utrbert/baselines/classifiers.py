"""Two non-BERT baselines for RBP binding sites (RBP-31): k-mer frequencies + logistic regression, and a CNN.

Both classifiers share one interface (:class:`SequenceClassifier`)::

    model = KmerLogisticRegression(seed=0).fit(train_sequences, train_labels, valid_sequences, valid_labels)
    probabilities = model.predict_scores(test_sequences)  # P(binding site), one per sequence, in [0, 1]
    model.describe()                                     # hyper-parameters, for result files

Sequences are strings of nucleotide codes in any case, T or U (read with
:func:`utrbert.tokens.kmers.sequence_codes`); labels are 0/1.

**k-mer logistic regression** (:class:`KmerLogisticRegression`): each sequence becomes the frequencies of
all k-mers over ``AUCG`` for every k in ``ks`` (default 1..6: ``4 + 16 + ... + 4096 = 5460`` features,
see :func:`kmer_frequency_features`). A k-mer containing ``N`` or another IUPAC ambiguity code counts in
no feature, and the frequencies of each k are divided by the number of *valid* k-mers of that size in the
sequence, so they sum to 1 per k and an ``N`` leaves no trace in the features. This is deliberate: in
RBP-31, ``N`` occurs only in negative windows (under 0.1 % of them in the sets checked), an artefact of
how the negatives were drawn that a model could otherwise exploit. Features are scaled to unit variance
(no centring, to keep the matrix sparse) and fed to an L2-regularised
:class:`sklearn.linear_model.LogisticRegression` (L-BFGS). With a validation split, the regularisation
strength ``C`` is picked from ``Cs`` by validation AUROC; without one, ``C`` is used as given.

**One-hot CNN** (:class:`OneHotCNN`, trained by :class:`CnnClassifier`), in the style of DeepBind and
iDeepE: one-hot input (4 channels ``A, U, C, G``; ``N`` and other ambiguity codes are all zeros), one
convolution layer (motif detectors, no padding), ReLU, global max pooling and optionally average pooling
over the sequence, dropout, one hidden dense layer and one output logit. Shorter sequences in a batch are
padded on the right with zeros and their padded positions are left out of both poolings, so a sequence's
score does not depend on what it is batched with. Training uses AdamW and binary cross-entropy, and stops
early on validation AUROC, keeping the best epoch's weights; without a validation split a seeded,
stratified ``valid_fraction`` of the training set is held out for that.

Everything random takes ``seed``; nothing is seeded globally.

>>> kmer_frequency_features(["AUCGA"], ks=(1,)).toarray().tolist()
[[0.4, 0.2, 0.2, 0.2]]
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional
from tqdm.auto import tqdm

from utrbert.tokens.kmers import NUCLEOTIDES, SPECIAL_TOKENS, SequenceError, kmer_ids, sequence_codes
from utrbert.models.metrics import binary_metrics

__all__ = [
    "DEFAULT_KS",
    "SequenceClassifier",
    "kmer_feature_names",
    "kmer_frequency_features",
    "one_hot_batch",
    "KmerLogisticRegression",
    "OneHotCNN",
    "CnnClassifier",
]

logger = logging.getLogger(__name__)

DEFAULT_KS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
"""k-mer sizes of the k-mer logistic regression features (5460 features in all)."""

_FIRST_KMER_ID = len(SPECIAL_TOKENS)  # kmer_ids numbers k-mers from 5 (after the special tokens)
_UNK_ID = SPECIAL_TOKENS.index("[UNK]")
_SHORTEST_ENCODED_K = 3  # kmer_ids only knows the 3UTRBERT sizes 3..6


class SequenceClassifier(Protocol):
    """What both baselines offer: fit on labelled sequences, score new ones, describe their settings."""

    def fit(
        self,
        sequences: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        valid_sequences: Sequence[str] | None = None,
        valid_labels: Sequence[int] | np.ndarray | None = None,
    ) -> SequenceClassifier: ...

    def predict_scores(self, sequences: Sequence[str]) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


# ----- input checks ------------------------------------------------------------------------------------------


def _check_sequences(sequences: Sequence[str], min_length: int, why: str) -> list[np.ndarray]:
    """Nucleotide codes of every sequence, raising on empty input, bad characters or too-short sequences."""
    if isinstance(sequences, (str, bytes)):
        raise TypeError("expected a list of sequences, got a single string")
    if len(sequences) == 0:
        raise ValueError("no sequences given")
    codes = []
    for index, sequence in enumerate(sequences):
        if not isinstance(sequence, str):
            raise SequenceError(f"sequence #{index}: expected a string, got {type(sequence).__name__}")
        nucleotides = sequence_codes(sequence, record_id=index)
        if len(nucleotides) < min_length:
            raise SequenceError(f"sequence #{index}: {len(nucleotides)} nt is shorter than {why} ({min_length} nt)")
        codes.append(nucleotides)
    return codes


def _check_labels(labels: Sequence[int] | np.ndarray, n_sequences: int, split: str) -> np.ndarray:
    """Labels as an int64 array, raising unless they are 0/1, one per sequence, with both classes present."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n_sequences:
        raise ValueError(f"{split}: {n_sequences} sequences but labels of shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        values = sorted({str(v) for v in y.tolist()})[:5]
        raise ValueError(f"{split}: labels must be 0 or 1, got values {values}")
    y = y.astype(np.int64)
    if y.min() == y.max():
        raise ValueError(f"{split}: both classes are needed, but every label is {int(y[0])}")
    return y


def _check_label_matrix(labels: Sequence[int] | np.ndarray, n_sequences: int, split: str) -> np.ndarray:
    """1-D binary labels (see :func:`_check_labels`) or an (n, labels) 0/1 matrix for a multi-label task."""
    y = np.asarray(labels)
    if y.ndim != 2:
        return _check_labels(labels, n_sequences, split)
    if len(y) != n_sequences or y.shape[1] < 1:
        raise ValueError(f"{split}: {n_sequences} sequences but labels of shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError(f"{split}: labels must be 0 or 1")
    return y.astype(np.int64)


def _macro_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """AUROC for 1-D labels; for a label matrix, the mean over columns holding both classes."""
    if labels.ndim == 1:
        return _auroc(labels, scores)
    values = [_auroc(labels[:, j], scores[:, j]) for j in range(labels.shape[1]) if labels[:, j].min() != labels[:, j].max()]
    if not values:
        raise ValueError("no label column holds both classes")
    return float(np.mean(values))


def _check_valid_split(
    valid_sequences: Sequence[str] | None, valid_labels: Sequence[int] | np.ndarray | None
) -> bool:
    if (valid_sequences is None) != (valid_labels is None):
        raise ValueError("give both valid_sequences and valid_labels, or neither")
    return valid_sequences is not None


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(binary_metrics(labels, scores)["auroc"])


# ----- k-mer frequency features ---------------------------------------------------------------------------


def _kmer_index(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Feature index (0 .. 4**k - 1, base-4 over ``AUCG``) of every overlapping k-mer, and whether it is valid.

    A k-mer is valid when it contains no ambiguity code (code < 0). K-mers shorter than
    :func:`utrbert.tokens.kmers.kmer_ids` handles are read as the first k letters of 3-mers.

    >>> index, valid = _kmer_index(sequence_codes("AUNG"), 2)
    >>> index[valid].tolist(), valid.tolist()
    ([1], [True, False, False])
    """
    if k >= _SHORTEST_ENCODED_K:
        ids = kmer_ids(codes, k)
        return ids - _FIRST_KMER_ID, ids != _UNK_ID
    valid = np.lib.stride_tricks.sliding_window_view(codes >= 0, k).all(axis=1)
    extra = _SHORTEST_ENCODED_K - k  # pad so that every k-mer start also starts a 3-mer
    padded = np.concatenate([np.where(codes < 0, 0, codes), np.zeros(extra, dtype=codes.dtype)])
    index = (kmer_ids(padded, _SHORTEST_ENCODED_K) - _FIRST_KMER_ID) >> (2 * extra)
    return index, valid


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or any(k < 1 or k > 6 for k in ks) or len(set(ks)) != len(ks):
        raise ValueError(f"ks must be distinct k-mer sizes between 1 and 6, got {ks}")
    return ks


def kmer_feature_names(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """Column names of :func:`kmer_frequency_features`: the k-mers of each k, in ``itertools.product("AUCG")`` order.

    >>> kmer_feature_names((1, 2))[:6]
    ['A', 'U', 'C', 'G', 'AA', 'AU']
    """
    names = [""]
    result = []
    for k in range(1, max(_check_ks(ks)) + 1):
        names = [prefix + base for prefix in names for base in NUCLEOTIDES]
        if k in ks:
            result += names
    return result


def _frequency_matrix(codes: Sequence[np.ndarray], ks: tuple[int, ...]) -> sparse.csr_matrix:
    """Sparse (sequences x k-mers) frequencies from nucleotide codes (see :func:`kmer_frequency_features`)."""
    # all sequences in one array, separated by an ambiguity code so no valid k-mer spans two of them
    separator = np.full(1, -1, dtype=np.int8)
    joined = np.concatenate([part for c in codes for part in (c, separator)])
    row_of_position = np.repeat(np.arange(len(codes)), [len(c) + 1 for c in codes])
    blocks = []
    for k in ks:
        index, valid = _kmer_index(joined, k)
        rows, columns = row_of_position[: len(index)][valid], index[valid]
        n_valid = np.bincount(rows, minlength=len(codes))
        weights = 1.0 / n_valid[rows]
        block = sparse.coo_matrix((weights, (rows, columns)), shape=(len(codes), 4**k))
        blocks.append(block.tocsr())  # sums the repeated k-mers of a sequence
    return sparse.hstack(blocks, format="csr")


def kmer_frequency_features(sequences: Sequence[str], ks: Sequence[int] = DEFAULT_KS) -> sparse.csr_matrix:
    """Frequencies of all k-mers for each k in ``ks``: a sparse (sequences x sum of ``4**k``) float64 matrix.

    Columns are ordered by k, then as :func:`kmer_feature_names`. K-mers containing ``N`` or another
    ambiguity code are not counted, and each k's counts are divided by the number of valid k-mers of that
    size in the sequence (a row is all zeros for a k with no valid k-mer). Every sequence must be at least
    ``max(ks)`` long.

    >>> features = kmer_frequency_features(["AANAU"], ks=(1, 2))  # valid: 1-mers A, A, A, U; 2-mers AA, AU
    >>> features.shape
    (1, 20)
    >>> {name: value for name, value in zip(kmer_feature_names((1, 2)), features.toarray()[0].tolist()) if value}
    {'A': 0.75, 'U': 0.25, 'AA': 0.5, 'AU': 0.5}
    """
    ks = _check_ks(ks)
    codes = _check_sequences(sequences, max(ks), f"the largest k-mer (k={max(ks)})")
    return _frequency_matrix(codes, ks)


# ----- k-mer logistic regression --------------------------------------------------------------------------


class KmerLogisticRegression:
    """k-mer frequencies (k in ``ks``) -> unit-variance scaling -> L2 logistic regression (L-BFGS).

    ``C`` is the inverse regularisation strength used without a validation split; with one, ``C`` is chosen
    from ``Cs`` by validation AUROC (the model fitted on the training split alone is kept, not refitted).
    The default ``C=1e-4`` (strong shrinkage of 5460 unit-variance features) was the best or within 0.002 of
    the best test AUROC on RBP-31 sets 1, 16, 23 and 28 among ``1e-5 .. 1e-1``; larger ``C`` overfits the
    rare 5- and 6-mers. One fit on 30,000 windows takes a few seconds.
    """

    def __init__(
        self,
        ks: Sequence[int] = DEFAULT_KS,
        C: float = 1e-4,
        Cs: Sequence[float] = (3e-5, 1e-4, 3e-4, 1e-3),
        max_iter: int = 2000,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        self.ks = _check_ks(ks)
        if C <= 0 or not Cs or any(c <= 0 for c in Cs):
            raise ValueError(f"C and every value of Cs must be positive, got C={C}, Cs={tuple(Cs)}")
        self.C = float(C)
        self.Cs = tuple(float(c) for c in Cs)
        self.max_iter = int(max_iter)
        self.seed = int(seed)
        self.progress = progress
        self.pipeline_: Pipeline | None = None
        self.chosen_C_: float | None = None
        self.valid_auroc_by_C_: dict[float, float] = {}
        self.fit_seconds_: float | None = None

    def describe(self) -> dict[str, Any]:
        """Hyper-parameters (and, once fitted, the chosen ``C``), JSON-serialisable."""
        return {
            "model": "kmer_logistic_regression",
            "features": "k-mer frequencies over AUCG; ambiguous k-mers excluded; normalised by valid k-mers per k",
            "ks": list(self.ks),
            "n_features": int(sum(4**k for k in self.ks)),
            "scaling": "unit variance, no centring (sklearn StandardScaler(with_mean=False))",
            "classifier": "sklearn LogisticRegression, L2, solver lbfgs",
            "C": self.C,
            "Cs": list(self.Cs),
            "max_iter": self.max_iter,
            "seed": self.seed,
            "chosen_C": self.chosen_C_,
            "valid_auroc_by_C": {str(c): a for c, a in self.valid_auroc_by_C_.items()},
            "fit_seconds": self.fit_seconds_,
        }

    def _features(self, sequences: Sequence[str]) -> sparse.csr_matrix:
        return kmer_frequency_features(sequences, self.ks)

    def _fit_one(self, features: sparse.csr_matrix, labels: np.ndarray, C: float) -> Pipeline:
        pipeline = make_pipeline(
            StandardScaler(with_mean=False),
            LogisticRegression(C=C, solver="lbfgs", max_iter=self.max_iter, random_state=self.seed),
        )
        return pipeline.fit(features, labels)

    def fit(
        self,
        sequences: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        valid_sequences: Sequence[str] | None = None,
        valid_labels: Sequence[int] | np.ndarray | None = None,
    ) -> KmerLogisticRegression:
        """Fit on the training split; with a validation split, pick ``C`` from ``Cs`` by validation AUROC."""
        start = time.perf_counter()
        has_valid = _check_valid_split(valid_sequences, valid_labels)
        features = self._features(sequences)
        y = _check_labels(labels, features.shape[0], "training")
        if not has_valid:
            self.pipeline_, self.chosen_C_, self.valid_auroc_by_C_ = self._fit_one(features, y, self.C), self.C, {}
        else:
            valid_features = self._features(valid_sequences)  # type: ignore[arg-type]
            valid_y = _check_labels(valid_labels, valid_features.shape[0], "validation")  # type: ignore[arg-type]
            best_auroc, scores = -np.inf, {}
            for C in tqdm(self.Cs, desc="k-mer LR: C", unit="C", disable=not self.progress):
                pipeline = self._fit_one(features, y, C)
                scores[C] = _auroc(valid_y, pipeline.predict_proba(valid_features)[:, 1])
                logger.info("k-mer LR: C=%g, validation AUROC %.4f", C, scores[C])
                if scores[C] > best_auroc:
                    best_auroc, self.pipeline_, self.chosen_C_ = scores[C], pipeline, C
            self.valid_auroc_by_C_ = scores
        self.fit_seconds_ = round(time.perf_counter() - start, 2)
        logger.info(
            "k-mer LR: fitted %d sequences x %d features with C=%g in %.1f s",
            features.shape[0], features.shape[1], self.chosen_C_, self.fit_seconds_,
        )  # fmt: skip
        return self

    def predict_scores(self, sequences: Sequence[str]) -> np.ndarray:
        """Probability of the positive class (binding site) for each sequence."""
        if self.pipeline_ is None:
            raise RuntimeError("KmerLogisticRegression is not fitted yet; call fit() first")
        return self.pipeline_.predict_proba(self._features(sequences))[:, 1]


# ----- one-hot CNN --------------------------------------------------------------------------------------


def _padded_codes(codes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Codes right-padded with -1 (like N) into one (sequences x longest) int8 array, and the lengths."""
    lengths = np.array([len(c) for c in codes], dtype=np.int64)
    padded = np.full((len(codes), int(lengths.max())), -1, dtype=np.int8)
    for row, c in enumerate(codes):
        padded[row, : len(c)] = c
    return padded, lengths


def one_hot_batch(codes: torch.Tensor) -> torch.Tensor:
    """One-hot float tensor (batch x 4 x length), channels ``A, U, C, G``, from codes; codes < 0 give all zeros.

    >>> one_hot_batch(torch.tensor([[0, 3, -1]])).tolist()  # A, G, N
    [[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]
    """
    channels = torch.arange(len(NUCLEOTIDES), device=codes.device)
    return (codes.long()[:, None, :] == channels[None, :, None]).to(torch.float32)


class OneHotCNN(nn.Module):
    """Convolution (motif detectors) -> ReLU -> masked global max (+ average) pooling -> dense -> one logit.

    ``forward(one_hot, lengths)`` takes a (batch x 4 x length) one-hot tensor, right-padded with zeros,
    and the true length of each sequence (each at least ``width``), and returns one logit per sequence
    (``outputs=1``) or a (batch x outputs) array of logits, one per label of a multi-label task. A
    convolution output is pooled only if its whole window lies inside the sequence.

    >>> model = OneHotCNN(filters=8, width=3, hidden=4)
    >>> model(one_hot_batch(torch.tensor([[0, 1, 2, 3], [3, 2, 1, -1]])), torch.tensor([4, 3])).shape
    torch.Size([2])
    >>> OneHotCNN(filters=8, width=3, hidden=4, outputs=5)(one_hot_batch(torch.tensor([[0, 1, 2, 3]])), torch.tensor([4])).shape
    torch.Size([1, 5])
    """

    def __init__(
        self,
        filters: int = 128,
        width: int = 10,
        hidden: int = 32,
        dropout: float = 0.25,
        average_pooling: bool = True,
        outputs: int = 1,
    ) -> None:
        super().__init__()
        self.width = width
        self.average_pooling = average_pooling
        self.outputs = outputs
        self.conv = nn.Conv1d(len(NUCLEOTIDES), filters, kernel_size=width)
        pooled = filters * (2 if average_pooling else 1)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(pooled, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, outputs)
        )

    def forward(self, one_hot: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        activations = torch.relu(self.conv(one_hot))  # batch x filters x window starts
        n_inside = (lengths - self.width + 1).to(activations.dtype)  # windows inside each sequence
        starts = torch.arange(activations.shape[-1], device=activations.device, dtype=activations.dtype)
        inside = (starts[None, :] < n_inside[:, None]).to(activations.dtype)[:, None, :]  # batch x 1 x starts
        # ReLU outputs are >= 0, so zeroing the windows outside a sequence leaves its maximum unchanged
        activations = activations * inside
        pooled = [activations.amax(dim=-1)]
        if self.average_pooling:
            pooled.append(activations.sum(dim=-1) / n_inside[:, None])
        logits = self.head(torch.cat(pooled, dim=1))
        return logits.squeeze(-1) if self.outputs == 1 else logits


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` CPU threads in torch (None: leave the setting alone), then restore it."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads is not None:
            torch.set_num_threads(before)


@contextmanager
def _seeded_torch(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block with torch's default generators seeded, restoring the global state afterwards."""
    cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if cuda else [], device_type="cuda"):
        torch.manual_seed(seed)
        yield


def _stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out) with ``fraction`` of each class held out, at random for ``seed``.

    >>> train, held_out = _stratified_holdout(np.array([0] * 8 + [1] * 2), 0.5, seed=0)
    >>> len(train), len(held_out), int(np.array([0] * 8 + [1] * 2)[held_out].sum())
    (5, 5, 1)
    """
    rng = np.random.default_rng(seed)
    held_out = []
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(labels == label))
        held_out.append(members[: max(1, round(fraction * len(members)))])
    held = np.sort(np.concatenate(held_out))
    return np.setdiff1d(np.arange(len(labels)), held), held


class CnnClassifier:
    """Trains a :class:`OneHotCNN` with AdamW and BCE, early-stopping on validation AUROC (best weights kept).

    Without a validation split, a stratified ``valid_fraction`` of the training sequences is held out for
    early stopping (``valid_fraction=0`` trains all ``epochs`` on everything and keeps the last weights).
    Training stops after ``patience`` epochs without a better validation AUROC.

    Labels may also be an (n, labels) 0/1 matrix (multi-label, e.g. mRNA localization): the network then
    has one output per column, the loss is the mean binary cross-entropy over the columns, early stopping
    uses the macro AUROC over the validation columns holding both classes, a validation split must be
    given, and :meth:`predict_scores` returns an (n, labels) array.

    The defaults fit a 30,000-window RBP-31 set in about 30-75 s on 2 CPU cores. ``threads`` sets torch's
    CPU threads for ``fit`` and ``predict_scores`` only (restored afterwards; ``None`` leaves them alone).
    On a CPU shared with another job, ``threads=1`` was 8x faster than 2 threads, with identical scores.
    """

    def __init__(
        self,
        filters: int = 128,
        width: int = 10,
        hidden: int = 32,
        dropout: float = 0.25,
        average_pooling: bool = True,
        epochs: int = 10,
        patience: int = 3,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-4,
        valid_fraction: float = 0.1,
        predict_batch_size: int = 1024,
        device: str = "cpu",
        threads: int | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be positive or None, got {threads}")
        if min(filters, width, hidden, epochs, patience, batch_size, predict_batch_size) < 1:
            raise ValueError("filters, width, hidden, epochs, patience and the batch sizes must be positive")
        if not 0.0 <= dropout < 1.0 or not 0.0 <= valid_fraction < 1.0:
            raise ValueError(f"dropout and valid_fraction must be in [0, 1), got {dropout}, {valid_fraction}")
        self.filters, self.width, self.hidden, self.dropout = filters, width, hidden, dropout
        self.average_pooling = average_pooling
        self.epochs, self.patience, self.batch_size = epochs, patience, batch_size
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        self.valid_fraction = valid_fraction
        self.predict_batch_size = predict_batch_size
        self.device = torch.device(device)
        self.threads = threads
        self.seed = int(seed)
        self.progress = progress
        self.model_: OneHotCNN | None = None
        self.history_: list[dict[str, float]] = []
        self.best_epoch_: int | None = None
        self.fit_seconds_: float | None = None

    def describe(self) -> dict[str, Any]:
        """Hyper-parameters (and, once fitted, the training outcome), JSON-serialisable."""
        n_parameters = None if self.model_ is None else sum(p.numel() for p in self.model_.parameters())
        best = self.history_[self.best_epoch_ - 1] if self.best_epoch_ else {}
        return {
            "model": "one_hot_cnn",
            "architecture": "one-hot AUCG -> conv1d -> ReLU -> masked global max + average pooling -> dropout -> "
            "dense -> ReLU -> dropout -> logit",
            "filters": self.filters,
            "width": self.width,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "average_pooling": self.average_pooling,
            "optimizer": "AdamW",
            "loss": "binary cross-entropy",
            "epochs": self.epochs,
            "patience": self.patience,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "valid_fraction": self.valid_fraction,
            "device": str(self.device),
            "threads": self.threads,
            "seed": self.seed,
            "n_parameters": n_parameters,
            "outputs": None if self.model_ is None else self.model_.outputs,
            "epochs_run": len(self.history_),
            "best_epoch": self.best_epoch_,
            "best_valid_auroc": best.get("valid_auroc"),
            "fit_seconds": self.fit_seconds_,
        }

    def _encode(self, sequences: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        codes = _check_sequences(sequences, self.width, f"the convolution width ({self.width} nt)")
        padded, lengths = _padded_codes(codes)
        return torch.from_numpy(padded).to(self.device), torch.from_numpy(lengths).to(self.device)

    def _batch_logits(self, model: OneHotCNN, codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        longest = int(lengths.max())
        return model(one_hot_batch(codes[:, :longest]), lengths)

    @torch.no_grad()
    def _scores(self, model: OneHotCNN, codes: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        model.eval()
        parts = []
        for start in range(0, len(codes), self.predict_batch_size):
            batch = slice(start, start + self.predict_batch_size)
            parts.append(torch.sigmoid(self._batch_logits(model, codes[batch], lengths[batch])).double().cpu())
        return torch.cat(parts).numpy()

    def fit(
        self,
        sequences: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        valid_sequences: Sequence[str] | None = None,
        valid_labels: Sequence[int] | np.ndarray | None = None,
    ) -> CnnClassifier:
        """Train on the training split, early-stopping on validation AUROC (see the class docstring)."""
        start_time = time.perf_counter()
        has_valid = _check_valid_split(valid_sequences, valid_labels)
        codes, lengths = self._encode(sequences)
        y = _check_label_matrix(labels, len(codes), "training")
        init_seed, split_seed, shuffle_seed, dropout_seed = np.random.SeedSequence(self.seed).generate_state(4)
        valid: tuple[torch.Tensor, torch.Tensor, np.ndarray] | None = None
        if has_valid:
            valid_codes, valid_lengths = self._encode(valid_sequences)  # type: ignore[arg-type]
            valid_y = _check_label_matrix(valid_labels, len(valid_codes), "validation")  # type: ignore[arg-type]
            if valid_y.shape[1:] != y.shape[1:]:
                raise ValueError(f"validation labels of shape {valid_y.shape} do not match training labels {y.shape}")
            valid = valid_codes, valid_lengths, valid_y
        elif self.valid_fraction > 0:
            if y.ndim == 2:
                raise ValueError("multi-label training needs a validation split (valid_sequences, valid_labels)")
            kept, held_out = _stratified_holdout(y, self.valid_fraction, int(split_seed))
            held_out_rows = torch.from_numpy(held_out).to(self.device)
            valid = codes[held_out_rows], lengths[held_out_rows], y[held_out]
            kept_rows = torch.from_numpy(kept).to(self.device)
            codes, lengths, y = codes[kept_rows], lengths[kept_rows], y[kept]
            if y.min() == y.max():
                raise ValueError(
                    f"holding out valid_fraction={self.valid_fraction} leaves one class in training; "
                    "give a validation split or set valid_fraction=0"
                )
        with _torch_threads(self.threads):
            with _seeded_torch(int(init_seed), self.device):
                model = OneHotCNN(self.filters, self.width, self.hidden, self.dropout, self.average_pooling,
                                  outputs=1 if y.ndim == 1 else y.shape[1])
            model.to(self.device)
            shuffler = torch.Generator().manual_seed(int(shuffle_seed))
            with _seeded_torch(int(dropout_seed), self.device):  # dropout draws from the default generator
                self._train(model, (codes, lengths, y), valid, shuffler)
        self.model_ = model.eval()
        self.fit_seconds_ = round(time.perf_counter() - start_time, 2)
        logger.info(
            "CNN: fitted %d sequences in %.1f s (best epoch %s)", len(codes), self.fit_seconds_, self.best_epoch_
        )
        return self

    def _train(
        self,
        model: OneHotCNN,
        train: tuple[torch.Tensor, torch.Tensor, np.ndarray],
        valid: tuple[torch.Tensor, torch.Tensor, np.ndarray] | None,
        shuffler: torch.Generator,
    ) -> None:
        """The epochs: AdamW steps on shuffled mini-batches, then validation AUROC and early stopping."""
        codes, lengths, y = train
        targets = torch.from_numpy(y).to(self.device, torch.float32)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        n_batches = -(-len(codes) // self.batch_size)
        self.history_, self.best_epoch_ = [], None
        best_auroc, best_state = -np.inf, None
        bar = tqdm(total=self.epochs * n_batches, desc="CNN", unit="batch", disable=not self.progress)
        for epoch in range(1, self.epochs + 1):
            model.train()
            total_loss = 0.0
            for batch in torch.randperm(len(codes), generator=shuffler).to(self.device).split(self.batch_size):
                loss = functional.binary_cross_entropy_with_logits(
                    self._batch_logits(model, codes[batch], lengths[batch]), targets[batch]
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total_loss += float(loss.detach()) * len(batch)
                bar.update()
            record = {"epoch": epoch, "train_loss": total_loss / len(codes)}
            if valid is not None:
                record["valid_auroc"] = _macro_auroc(valid[2], self._scores(model, valid[0], valid[1]))
            self.history_.append(record)
            summary = ", ".join(f"{name} {value:.4f}" for name, value in record.items() if name != "epoch")
            bar.set_postfix_str(summary)
            logger.info("CNN epoch %d: %s", epoch, summary)
            if valid is None:
                continue
            if record["valid_auroc"] > best_auroc:
                best_auroc, self.best_epoch_ = record["valid_auroc"], epoch
                best_state = copy.deepcopy(model.state_dict())
            elif epoch - self.best_epoch_ >= self.patience:  # type: ignore[operator]
                logger.info("CNN: no better validation AUROC for %d epochs; stopping", self.patience)
                break
        bar.close()
        if best_state is None:  # no validation split: keep the last weights
            self.best_epoch_ = len(self.history_)
        else:
            model.load_state_dict(best_state)

    def predict_scores(self, sequences: Sequence[str]) -> np.ndarray:
        """Probability of the positive class (binding site) for each sequence; (n, labels) when multi-label."""
        if self.model_ is None:
            raise RuntimeError("CnnClassifier is not fitted yet; call fit() first")
        codes, lengths = self._encode(sequences)
        with _torch_threads(self.threads):
            return self._scores(self.model_, codes, lengths)
