"""The benchmark's built-in methods, and helpers that turn a classifier into a :class:`~utrbert.runs.benchmark.Method`.

* ``kmer_lr`` -- k-mer (k = 1..6) frequencies + logistic regression
  (:class:`utrbert.baselines.classifiers.KmerLogisticRegression`);
* ``cnn`` -- a DeepBind/iDeepE-style CNN on one-hot sequence (:class:`utrbert.baselines.classifiers.CnnClassifier`);
* ``scratch`` -- BERT fine-tuned from a random initialisation (the paper's control);
* ``pretrained`` -- the same BERT fine-tuned from a pretrained checkpoint (recorded by content digest). It keeps
  its fine-tuned classifier and the [CLS] attention of its test positives for later chapters, and for the sets
  in ``landscape_sets``/``embedding_sets`` records the attention landscape and a UMAP of [CLS] embeddings.

:data:`METHODS` is the registry that method *names* are looked up in (a chapter's ``methods`` parameter is a
list of names). Adding a method from a notebook cell, before the benchmark cell (it then appears in the items,
tables, plots, summaries and the chapter's results JSON)::

    from sklearn.ensemble import RandomForestClassifier
    from utrbert.runs.builtin_methods import register_method, sklearn_kmer_method
    register_method(sklearn_kmer_method("kmer_rf", lambda seed: RandomForestClassifier(200, random_state=seed),
                                        params={"n_estimators": 200}, label="k-mer random forest"))
    methods = [*methods, "kmer_rf"]

Code that should not touch the shared registry builds its own (:func:`default_methods`, then
:meth:`~utrbert.runs.benchmark.MethodRegistry.register`) and passes it instead of names.

Any object with ``fit(train_sequences, train_labels, valid_sequences, valid_labels)`` and
``predict_scores(sequences)`` (:class:`utrbert.baselines.classifiers.SequenceClassifier`) becomes a method with
:func:`classifier_method`; a new network that needs more is a :class:`~utrbert.runs.benchmark.Method` with its
own ``fit_score``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from utrbert.data.records import SequenceRecord
from utrbert.models.finetuning import binary_labels, stratified_subsample
from utrbert.runs.benchmark import (
    BenchmarkSettings,
    ItemOutputs,
    Method,
    MethodRegistry,
    MethodScores,
    SetSplits,
    fine_tuned_model_path,
)

__all__ = [
    "HEAD_SUMMARY_POSITIVES",
    "METHODS",
    "register_method",
    "default_methods",
    "resolve_methods",
    "classifier_method",
    "sklearn_kmer_method",
    "bert_fields",
    "fine_tune_item",
    "classifier_card",
    "pretrained_classifier",
    "positive_attention",
]

logger = logging.getLogger(__name__)

HEAD_SUMMARY_POSITIVES = 500
"""Test positives whose layer x head [CLS] entropy a ``pretrained`` item records."""


def _sequences(records: Sequence[SequenceRecord]) -> list[str]:
    return [r.sequence for r in records]


def classifier_method(
    name: str,
    build: Callable[[BenchmarkSettings], Any],
    fields: Callable[[BenchmarkSettings], Mapping[str, Any]],
    label: str = "",
    colour: str | None = None,
    cheap: bool = True,
) -> Method:
    """A method from a sequence classifier: ``build(settings)`` returns an unfitted object with ``fit(train_seqs,
    train_labels, valid_seqs, valid_labels)`` and ``predict_scores(seqs)`` (``describe()`` optional, recorded in
    the item's details). ``fields(settings)`` must cover every hyperparameter that ``build`` uses."""

    def fit_score(splits: SetSplits, settings: BenchmarkSettings, outputs: ItemOutputs) -> MethodScores:
        model = build(settings)
        model.fit(_sequences(splits.train), binary_labels(splits.train, f"{splits.name} training records"),
                  _sequences(splits.valid), binary_labels(splits.valid, f"{splits.name} validation records"))
        details = model.describe() if hasattr(model, "describe") else {}
        return MethodScores(model.predict_scores(_sequences(splits.test)), model.predict_scores(_sequences(splits.valid)),
                            details)

    return Method(name, fit_score, fields, label=label, colour=colour, cheap=cheap)


class _SklearnOnKmers:
    """A scikit-learn classifier on k-mer frequency features, with the sequence-classifier interface."""

    def __init__(self, estimator: Any, ks: tuple[int, ...]) -> None:
        self.estimator, self.ks = estimator, ks

    def fit(self, train: Sequence[str], labels: np.ndarray, valid: Sequence[str], valid_labels: np.ndarray) -> _SklearnOnKmers:
        from utrbert.baselines.classifiers import kmer_frequency_features

        self.estimator.fit(kmer_frequency_features(train, self.ks), labels)
        return self

    def predict_scores(self, sequences: Sequence[str]) -> np.ndarray:
        from utrbert.baselines.classifiers import kmer_frequency_features

        return self.estimator.predict_proba(kmer_frequency_features(sequences, self.ks))[:, 1]

    def describe(self) -> dict[str, Any]:
        return {"estimator": type(self.estimator).__name__, "ks": list(self.ks)}


def sklearn_kmer_method(
    name: str,
    estimator: Callable[[int], Any],
    params: Mapping[str, Any],
    ks: Sequence[int] = (1, 2, 3, 4, 5, 6),
    label: str = "",
    colour: str | None = None,
) -> Method:
    """A scikit-learn classifier (``estimator(seed)`` returns it unfitted; it needs ``predict_proba``) on k-mer
    frequencies (:func:`utrbert.baselines.classifiers.kmer_frequency_features`). ``params`` are its
    hyperparameters as they enter the fingerprint: list every one you set in ``estimator``."""
    ks = tuple(ks)
    return classifier_method(
        name,
        build=lambda settings: _SklearnOnKmers(estimator(settings.seed), ks),
        fields=lambda settings: {name: {**dict(params), "ks": list(ks)}},
        label=label,
        colour=colour,
    )


def bert_fields(settings: BenchmarkSettings) -> dict[str, Any]:
    """The fine-tuning settings of the BERT methods (device and evaluation batch size excluded)."""
    from dataclasses import asdict

    tuning = {key: value for key, value in asdict(settings.finetune).items() if key not in ("device", "precision", "eval_batch_size")}
    return {"finetune": tuning, "precision": settings.finetune.precision}


def _scratch_fields(settings: BenchmarkSettings) -> dict[str, Any]:
    return {**bert_fields(settings), "bert_size": settings.bert_size, "k": settings.k}


def _pretrained_fields(settings: BenchmarkSettings) -> dict[str, Any]:
    if settings.pretrained is None:
        raise ValueError("the 'pretrained' method needs BenchmarkSettings.pretrained (a checkpoint directory)")
    from utrbert.models.model import checkpoint_identity

    return {**bert_fields(settings), "pretrained": checkpoint_identity(settings.pretrained)}


def fine_tune_item(method: str, splits: SetSplits, settings: BenchmarkSettings) -> Any:
    """Fine-tune the ``scratch`` or ``pretrained`` BERT of one item (a :class:`~utrbert.models.finetune_run.FinetuneRun`)."""
    from utrbert.models.finetune_run import run_finetune

    return run_finetune(
        splits.train,
        splits.test,
        splits.valid,
        model_dir=settings.pretrained if method == "pretrained" else None,
        size=settings.bert_size,
        k=None if method == "pretrained" else settings.k,
        config=settings.finetune,
        progress=False,
    )


def classifier_card(splits: SetSplits, settings: BenchmarkSettings, method: str, test_auroc: float) -> dict[str, Any]:
    """The model card of a fine-tuned item classifier (its fingerprint says which settings made it)."""
    spec = METHODS[method]
    return {"task": "RBP-31 binding-site classifier", "set": splits.name, "method": method,
            "fingerprint": spec.fingerprint(settings), "settings": spec.fingerprint_fields(settings),
            "test_auroc": test_auroc, "counts": splits.counts()}


def pretrained_classifier(splits: SetSplits, settings: BenchmarkSettings, artifacts_dir: str | os.PathLike[str] | None) -> tuple[Any, Any, str]:
    """The set's fine-tuned ``pretrained`` classifier: the copy :func:`~utrbert.runs.benchmark.run_item` saved
    under ``artifacts_dir`` when its fingerprint matches these settings, else fine-tuned again now (and saved)."""
    from utrbert.models.model import export_checkpoint, load_model

    wanted = METHODS["pretrained"].fingerprint(settings)
    path = fine_tuned_model_path(artifacts_dir, splits.name, "pretrained") if artifacts_dir is not None else None
    if path is not None and (path / "model_card.json").is_file():
        card = json.loads((path / "model_card.json").read_text(encoding="utf-8"))
        if card.get("fingerprint") == wanted:
            model, tokenizer = load_model(path, task="classification")
            return model, tokenizer, "saved by the benchmark"
        logger.warning("%s: saved classifier has other settings (%s, wanted %s); fine-tuning again",
                       splits.name, card.get("fingerprint"), wanted)
    run = fine_tune_item("pretrained", splits, settings)
    if path is not None:
        export_checkpoint(run.model, run.tokenizer, path, classifier_card(splits, settings, "pretrained", run.metrics["auroc"]))
    return run.model, run.tokenizer, "fine-tuned again (no saved classifier)"


def positive_attention(
    model: Any, tokenizer: Any, positives: Sequence[SequenceRecord], layers: Sequence[int], device: str,
    head_positives: int = HEAD_SUMMARY_POSITIVES, batch_size: int = 64,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-nucleotide [CLS] attention (Eq. 8, ``layers``) of ``positives`` and a layer x head normalised-entropy
    summary of the first ``head_positives`` of them: ``(id -> scores, info)``."""
    from utrbert.interpret.attention import cls_attention, head_summary

    encoding = tokenizer.encode_corpus([r.sequence for r in positives], ids=[r.id for r in positives])
    attention = cls_attention(model, encoding, batch_size=batch_size, layers=tuple(layers), device=device, progress=False)
    first = positives[:head_positives]
    heads = head_summary(model, tokenizer.encode_corpus([r.sequence for r in first], ids=[r.id for r in first]),
                         batch_size=batch_size, device=device, statistic="normalized_entropy", progress=False)
    info = {"layers": list(attention.layers), "layers_requested": list(layers), "heads": list(attention.heads),
            "k": attention.k, "mean_special_fraction": float(np.mean(attention.special_fraction)),
            "head_normalized_entropy": np.round(heads.to_numpy(), 5).tolist(), "head_summary_positives": len(first)}
    return attention.nucleotide_score_map(), info


def _bert_extras(method: str, model: Any, tokenizer: Any, splits: SetSplits, settings: BenchmarkSettings) -> dict[str, Any]:
    """For chosen sets: the attention landscape over the test windows and a UMAP of [CLS] embeddings."""
    from utrbert.interpret.attention import cls_attention, cls_embeddings

    labels = binary_labels(splits.test)
    extras: dict[str, Any] = {}
    if splits.name in settings.landscape_sets:
        encoding = tokenizer.encode_corpus(_sequences(splits.test), ids=[r.id for r in splits.test])
        attention = cls_attention(model, encoding, layers=settings.attention_layers, device=settings.finetune.device, progress=False)
        per_nt = attention.nucleotide_scores()
        extras["attention_landscape"] = {
            "layers": list(settings.attention_layers),
            "positive_mean": np.nanmean(per_nt[labels == 1], axis=0).round(6).tolist(),
            "negative_mean": np.nanmean(per_nt[labels == 0], axis=0).round(6).tolist(),
            "n_positive": int((labels == 1).sum()),
            "n_negative": int((labels == 0).sum()),
        }
    if splits.name in settings.embedding_sets and method == "pretrained":
        rows = stratified_subsample(labels, settings.embedding_points, settings.seed)
        subset = tokenizer.encode_corpus([splits.test[i].sequence for i in rows], ids=[splits.test[i].id for i in rows])
        embedded = cls_embeddings(model, subset, device=settings.finetune.device, progress=False)
        extras["umap"] = _umap(embedded.embeddings, [int(labels[i]) for i in rows], list(embedded.ids), settings.seed)
    return extras


def _umap(embeddings: np.ndarray, labels: list[int], ids: list[str], seed: int) -> dict[str, Any]:
    from utrbert.interpret.embedding_maps import umap_2d

    coords, params = umap_2d(embeddings, seed)
    return {"ids": ids, "labels": labels, "x": coords[:, 0].round(4).tolist(), "y": coords[:, 1].round(4).tolist(),
            "params": params}


def _bert_method(method: str) -> Callable[[SetSplits, BenchmarkSettings, ItemOutputs], MethodScores]:
    def fit_score(splits: SetSplits, settings: BenchmarkSettings, outputs: ItemOutputs) -> MethodScores:
        from utrbert.interpret.score_files import write_scores
        from utrbert.models.model import export_checkpoint

        run = fine_tune_item(method, splits, settings)
        info = {key: run.metrics[key] for key in ("model", "training")}
        info.update(_bert_extras(method, run.model, run.tokenizer, splits, settings))
        if outputs.model_dir is not None:  # the fine-tuned classifier, for later analyses (attention, motifs)
            export_checkpoint(run.model, run.tokenizer, outputs.model_dir,
                              classifier_card(splits, settings, method, run.metrics["auroc"]))
        if outputs.attention_file is not None:  # the test positives' attention, so motif analyses need no model
            positives = [r for r in splits.test if r.label == 1]
            scores, attention_info = positive_attention(run.model, run.tokenizer, positives, settings.attention_layers,
                                                        settings.finetune.device)
            provenance = {"set": splits.name, "fingerprint": METHODS[method].fingerprint(settings),
                          "what": "[CLS] attention per nucleotide of the test positives (Eq. 8; k-mers averaged)",
                          **attention_info}
            write_scores(scores, outputs.attention_file, provenance, npz_dtype="float16")
        return MethodScores(run.predictions["score"].to_numpy(), np.asarray(run.valid_scores), info)

    return fit_score


def _kmer_lr(settings: BenchmarkSettings) -> Any:
    from utrbert.baselines.classifiers import KmerLogisticRegression

    return KmerLogisticRegression(**{"seed": settings.seed, **settings.kmer_lr}, progress=False)


def _cnn(settings: BenchmarkSettings) -> Any:
    from utrbert.baselines.classifiers import CnnClassifier

    return CnnClassifier(**{"seed": settings.seed, "device": settings.finetune.device, **settings.cnn}, progress=False)


def default_methods() -> MethodRegistry:
    """A new registry of the four built-in methods, in table order (register more on it)."""
    return MethodRegistry(_builtin())


def _builtin() -> list[Method]:
    return [
        classifier_method("kmer_lr", _kmer_lr, lambda s: {"kmer_lr": s.kmer_lr}, label="k-mer logistic regression",
                          colour="#8c8c8c"),
        classifier_method("cnn", _cnn, lambda s: {"cnn": s.cnn}, label="one-hot CNN", colour="#4c72b0"),
        Method("scratch", _bert_method("scratch"), _scratch_fields, label="BERT from scratch", colour="#dd8452",
               cheap=False),
        Method("pretrained", _bert_method("pretrained"), _pretrained_fields, label="pretrained BERT",
               colour="#c44e52", cheap=False, keeps_model=True),
    ]


METHODS = MethodRegistry(_builtin())
"""The shared registry: the built-in methods and any a notebook registers (:func:`register_method`)."""


def register_method(method: Method, *, replace: bool = False) -> Method:
    """Register ``method`` in :data:`METHODS`, so that its name works wherever a method name is accepted."""
    return METHODS.register(method, replace=replace)


def resolve_methods(methods: MethodRegistry | Sequence[str] | None) -> MethodRegistry:
    """``methods`` as a registry: a registry as it is, names looked up in :data:`METHODS`, None: all of
    :data:`METHODS`."""
    if isinstance(methods, MethodRegistry):
        return methods
    return METHODS if methods is None else METHODS.select(methods)
