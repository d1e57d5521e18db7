"""Localization: head/tail windows, cached embeddings equal to a plain per-mRNA loop, resumable cache,
multi-label metrics and the attention pooling head on generated data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import utrbert.interpret.attention as attention_module
from utrbert.models.localization_embeddings import embed_mrnas, load_embeddings, pad_windows, segments
from utrbert.models.localization_head import HeadConfig, multilabel_metrics, predict_pooling_head, train_pooling_head
from utrbert.models.model import build_config, build_model
from utrbert.data.records import SequenceRecord
from utrbert.data.synthetic import random_utr
from utrbert.tokens.tokenization import KmerTokenizer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("enc")
    build_model(build_config("tiny", k=3, initializer_range=0.3), task="mlm", seed=0).save_pretrained(directory)
    KmerTokenizer(k=3).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def mrnas() -> list[SequenceRecord]:
    rng = np.random.default_rng(0)
    lengths = [150, 700, 1000, 1601, 2500, 90, 1200]
    return [SequenceRecord(f"NM_{i}", random_utr(n, rng), None) for i, n in enumerate(lengths)]


def test_segments_take_head_and_tail_without_double_counting() -> None:
    assert segments("A" * 8000) == [(0, 8000)]
    assert segments("A" * 8001) == [(0, 4000), (4001, 8001)]
    with pytest.raises(ValueError):
        segments("ACGU", segment_nt=0)


def _plain_loop(model, tokenizer, record, segment_nt, window_nt) -> np.ndarray:
    """The straightforward way: each window padded to the full window length, one at a time."""
    vectors, weights = [], []
    for start, end in segments(record.sequence, segment_nt):
        piece = record.sequence[start:end]
        for w0 in range(0, len(piece), window_nt):
            window = piece[w0:w0 + window_nt]
            if len(window) < 3:
                continue
            ids = tokenizer.encode_corpus([window]).padded(max_length=window_nt - 3 + 3)
            with torch.no_grad():
                hidden = model.base_model(input_ids=torch.from_numpy(ids["input_ids"]),
                                          attention_mask=torch.from_numpy(ids["attention_mask"])).last_hidden_state[0]
            n = len(window) - 2
            vectors.append(hidden[1:1 + n].mean(0).numpy())
            weights.append(n)
    weights = np.array(weights, dtype=np.float64)
    return (np.array(vectors) * weights[:, None]).sum(0) / weights.sum()


def test_cached_embeddings_equal_a_plain_per_mrna_loop_and_resume(tmp_path: Path, checkpoint: Path, mrnas, monkeypatch) -> None:
    cache = tmp_path / "cache"
    result = embed_mrnas(checkpoint, mrnas, cache, segment_nt=600, window_nt=250, shard_size=3, progress=False)
    assert result.ids == [r.id for r in mrnas]
    # <= 1,200 nt: the whole mRNA in 250-nt windows; longer: 600-nt head and tail, 3 windows each
    assert np.diff(result.offsets).tolist() == [1, 3, 4, 6, 6, 1, 5]
    model = build_model(build_config("tiny", k=3, initializer_range=0.3), task="mlm", seed=0).eval()
    tokenizer = KmerTokenizer(k=3)
    for record, vector in zip(mrnas, result.mrna_vectors):
        assert np.allclose(vector, _plain_loop(model, tokenizer, record, 600, 250), atol=2e-3)  # float16 cache
    # resumable: a lost shard is recomputed, the others are read back
    (cache / "shard_00001.npz").unlink()
    calls = []
    original = attention_module.cls_embeddings
    monkeypatch.setattr(attention_module, "cls_embeddings", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = embed_mrnas(checkpoint, mrnas, cache, segment_nt=600, window_nt=250, shard_size=3, progress=False)
    assert len(calls) == 1 and np.array_equal(again.windows, result.windows)
    with pytest.raises(ValueError, match="other settings"):
        embed_mrnas(checkpoint, mrnas, cache, segment_nt=500, window_nt=250, shard_size=3, progress=False)
    (cache / "shard_00000.npz").unlink()
    with pytest.raises(FileNotFoundError, match="incomplete"):
        load_embeddings(cache)
    windows, mask = pad_windows(result.subset(["NM_3", "NM_0"]))
    assert windows.shape[:2] == (2, 6) and mask.sum(1).tolist() == [6, 1]


def test_damaged_cache_shards_are_refused_on_load_and_rebuilt_on_resume(tmp_path: Path, checkpoint: Path, mrnas, caplog) -> None:
    cache = tmp_path / "cache"
    kwargs = dict(segment_nt=600, window_nt=250, shard_size=3, progress=False)
    result = embed_mrnas(checkpoint, mrnas, cache, **kwargs)
    manifest = json.loads((cache / "manifest.json").read_text())
    assert sorted(manifest["sha256"]) == ["shard_00000.npz", "shard_00001.npz", "shard_00002.npz"]

    first, second = cache / "shard_00000.npz", cache / "shard_00001.npz"
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])  # truncated (a kill mid-copy, a full disk)
    with np.load(second) as data:  # the right ids, zeroed vectors
        arrays = {name: data[name] for name in data.files}
    arrays["windows"] = np.zeros_like(arrays["windows"])
    np.savez(second, **arrays)
    with pytest.raises(ValueError, match="shard_00000.npz: its content is not the one the manifest recorded"):
        load_embeddings(cache)

    with caplog.at_level("WARNING"):
        again = embed_mrnas(checkpoint, mrnas, cache, **kwargs)
    assert sum("rebuilding" in r.getMessage() for r in caplog.records) == 2
    assert np.array_equal(again.windows, result.windows) and np.array_equal(again.attention, result.attention)
    assert json.loads((cache / "manifest.json").read_text())["sha256"] == manifest["sha256"]  # same bytes again


def test_multilabel_metrics_per_compartment_and_constant_labels() -> None:
    rng = np.random.default_rng(0)
    y = rng.random((200, 3)) < 0.4
    y[:, 2] = True  # like exosome: every mRNA positive
    s = y + rng.normal(0, 0.5, y.shape)
    table = multilabel_metrics(y.astype(int), s, ["nucleus", "cytosol", "exosome"])
    assert table.loc["nucleus", "auroc"] > 0.8 and np.isnan(table.loc["exosome", "auroc"])
    assert table.loc["macro", "auroc"] == pytest.approx(table.loc[["nucleus", "cytosol"], "auroc"].mean())
    with pytest.raises(ValueError):
        multilabel_metrics(y, s[:, :2], ["a", "b", "c"])


def test_pooling_head_learns_a_label_carried_by_one_window() -> None:
    rng = np.random.default_rng(1)
    n, width, hidden = 400, 6, 8
    windows = rng.normal(size=(n, width, hidden)).astype(np.float32)
    mask = np.arange(width)[None, :] < rng.integers(1, width + 1, size=n)[:, None]
    labels = (rng.random((n, 2)) < 0.5).astype(int)
    for i in range(n):  # label 0 is written into one random real window's first feature; label 1 is noise
        j = rng.integers(0, mask[i].sum())
        windows[i, j, 0] += 4 * labels[i, 0]
    head = train_pooling_head((windows[:300], mask[:300], labels[:300]), (windows[300:350], mask[300:350], labels[300:350]),
                              HeadConfig(epochs=40, seed=0))
    scores = predict_pooling_head(head, windows[350:], mask[350:])
    table = multilabel_metrics(labels[350:], scores, ["signal", "noise"])
    assert table.loc["signal", "auroc"] > 0.9 and table.loc["noise", "auroc"] < 0.75
    again = train_pooling_head((windows[:300], mask[:300], labels[:300]), (windows[300:350], mask[300:350], labels[300:350]),
                               HeadConfig(epochs=40, seed=0))
    assert np.allclose(predict_pooling_head(again, windows[350:], mask[350:]), scores)  # seeded


# ----- folds and baselines ---------------------------------------------------------------------------------


def _fold_demo(n: int = 300, seed: int = 0):
    from utrbert.data.synthetic import plant_motif

    rng = np.random.default_rng(seed)
    records, bits = [], []
    for i in range(n):
        nucleus, membrane = int(rng.random() < 0.5), int(rng.random() < 0.3)
        length = int(rng.integers(300, 900)) + 600 * membrane  # membrane mRNAs are longer: a length shortcut
        sequence = random_utr(length, rng)
        if nucleus:
            for _ in range(4):
                sequence, _, _ = plant_motif(sequence, "UGUAAAUA", rng)
        label = (nucleus, 1, int(rng.random() < 0.2), int(rng.random() < 0.5), int(rng.random() < 0.3), membrane, int(rng.random() < 0.2))
        records.append(SequenceRecord(f"NM_{i}", sequence, label))
    ids = [r.id for r in records]
    order = rng.permutation(n)
    folds = {}
    for f in range(3):
        test = order[f::3]
        rest = np.setdiff1d(order, test)
        folds[f] = {"train": [ids[i] for i in rest[20:]], "valid": [ids[i] for i in rest[:20]], "test": [ids[i] for i in test]}
    return records, folds


def test_fold_protocol_scores_each_mrna_once_and_baselines_find_their_signal() -> None:
    from utrbert.chapters.localization import (
        COMPARTMENTS, cross_fold_predictions, fold_metrics, fold_rows, kmer_lr_fit_predict, length_fit_predict,
        localization_labels,
    )

    records, folds = _fold_demo()
    labels = localization_labels(records)
    assert labels.shape == (300, 6) and labels[:, 1].all()  # exosome bit
    assert [r.label[3] for r in records] == labels[:, 2].tolist()  # cytosol = FASTA bit 3
    rows = fold_rows(folds, [r.id for r in records])
    kmer_scores, fold_of = cross_fold_predictions(len(records), 6, rows, kmer_lr_fit_predict([r.sequence for r in records], labels))
    assert (fold_of >= 0).all() and np.isfinite(kmer_scores).all()
    kmer = fold_metrics(labels, kmer_scores, fold_of)
    assert list(kmer.index) == [*COMPARTMENTS, "macro"] and np.isnan(kmer.loc["exosome", "auroc"])
    assert kmer.loc["nucleus", "auroc"] > 0.9  # planted PUM-like motif
    length_scores, _ = cross_fold_predictions(len(records), 6, rows, length_fit_predict([len(r.sequence) for r in records], labels))
    length = fold_metrics(labels, length_scores, fold_of)
    assert length.loc["membrane", "auroc"] > 0.9 and length.loc["nucleus", "auroc"] < 0.65
    with pytest.raises(KeyError, match="not among"):
        fold_rows({0: {"test": ["NM_missing"]}}, [r.id for r in records])
    with pytest.raises(ValueError, match="NM_0"):
        localization_labels([SequenceRecord("NM_0", "ACGU", 1)])


def test_attention_features_are_the_cls_attention_pooled_by_kmer(tmp_path: Path, checkpoint: Path, mrnas) -> None:
    from utrbert.interpret.attention import cls_attention
    from utrbert.models.localization_embeddings import segment_records

    result = embed_mrnas(checkpoint, mrnas, tmp_path / "cache", segment_nt=600, window_nt=250, shard_size=4, progress=False)
    assert result.attention.shape == (len(result.windows), 64)
    np.testing.assert_allclose(result.attention.astype(np.float64).sum(axis=1), 1.0, atol=5e-3)  # float16 cache
    # reference: cls_attention on the same windows, summed per k-mer by a loop
    model = build_model(build_config("tiny", k=3, initializer_range=0.3), task="mlm", seed=0)
    tokenizer = KmerTokenizer(k=3)
    pieces = segment_records([mrnas[3]], 600)
    windowed = tokenizer.encode_corpus([p.sequence for p in pieces], ids=[p.id for p in pieces]).windows(250)
    scores = cls_attention(model, windowed, progress=False)
    ids = windowed.padded()["input_ids"]
    rows = slice(result.offsets[3], result.offsets[4])
    for w, expected in enumerate(result.attention[rows]):
        totals = np.zeros(64)
        for position in range(scores.n_kmers[w]):
            totals[ids[w, 1 + position] - 5] += scores.token_scores[w, position]
        np.testing.assert_allclose(expected, totals / totals.sum(), atol=2e-3)
    hidden, _ = pad_windows(result, features="hidden")
    attention, mask = pad_windows(result, features="attention")
    assert hidden.shape[2] == 32 and attention.shape[2] == 64 and attention[~mask].sum() == 0
    with pytest.raises(ValueError, match="features"):
        pad_windows(result, features="both")


def test_subsample_restrict_folds_and_head_and_tail() -> None:
    from utrbert.chapters.localization import head_and_tail, restrict_folds, subsample_mrnas

    records, folds = _fold_demo()
    kept = subsample_mrnas(records, 90, seed=1)
    assert len(kept) == 90 and kept == subsample_mrnas(records, 90, seed=1) and kept != subsample_mrnas(records, 90, seed=2)
    assert [r.id for r in kept] == sorted((r.id for r in kept), key=lambda i: int(i[3:]))  # input order kept
    assert subsample_mrnas(records, None, seed=0) == records
    small = restrict_folds(folds, [r.id for r in kept])
    keep = {r.id for r in kept}
    for fold, parts in small.items():
        assert all(set(names) <= keep for names in parts.values())
        assert [n for n in folds[fold]["test"] if n in keep] == parts["test"]
    with pytest.raises(ValueError, match="no kept mRNA"):
        restrict_folds(folds, [records[0].id])
    with pytest.raises(KeyError, match="in no fold"):
        restrict_folds(folds, ["NM_elsewhere"])
    sequence = random_utr(9000, np.random.default_rng(0))
    joined = head_and_tail(sequence)
    assert len(joined) == 8000 and joined == sequence[:4000] + sequence[-4000:]


def test_a_slow_method_fits_on_a_seeded_subsample_of_each_fold_and_scores_the_whole_test_part(monkeypatch) -> None:
    from utrbert.chapters import localization

    train, valid = np.arange(0, 300), np.arange(300, 400)
    small_train, small_valid = localization.fit_subsample(train, valid, max_train=60, seed=4)
    assert len(small_train) == 60 and len(small_valid) == 20  # the valid part keeps the same fraction
    assert set(small_train) <= set(train) and set(small_valid) <= set(valid) and list(small_train) == sorted(small_train)
    again = localization.fit_subsample(train, valid, max_train=60, seed=4)
    assert np.array_equal(again[0], small_train) and not np.array_equal(localization.fit_subsample(train, valid, 60, 5)[0], small_train)
    assert all(np.array_equal(a, b) for a, b in zip(localization.fit_subsample(train, valid, None, 0), (train, valid)))
    assert len(localization.fit_subsample(train, valid, 1000, 0)[0]) == 300
    with pytest.raises(ValueError, match="positive"):
        localization.fit_subsample(train, valid, 0, 0)

    seen = {}

    class Recorder:  # stands in for the CNN: records what it is fitted and asked to score
        def __init__(self, **_):
            pass

        def fit(self, x_train, y_train, x_valid, y_valid):
            seen.update(train=len(x_train), valid=len(x_valid))

        def predict_scores(self, x_test):
            seen["test"] = len(x_test)
            return np.zeros((len(x_test), 6))

    import utrbert.baselines.classifiers as classifiers

    monkeypatch.setattr(classifiers, "CnnClassifier", Recorder)
    sequences, labels = ["ACGU"] * 500, np.zeros((500, 6), dtype=int)
    scores = localization.cnn_fit_predict(sequences, labels, seed=0, max_train=60)(train, valid, np.arange(400, 500))
    assert seen == {"train": 60, "valid": 20, "test": 100} and scores.shape == (100, 6)


def test_compare_methods_on_the_folds_and_an_independent_test_set() -> None:
    from utrbert.chapters.localization import (
        cnn_fit_predict, compare_methods, fold_rows, kmer_lr_fit_predict, length_fit_predict, localization_labels,
    )

    records, folds = _fold_demo(360, seed=2)
    in_folds = {name for parts in folds.values() for names in parts.values() for name in names}
    extra, _ = _fold_demo(60, seed=3)  # an independent test set: same kind of mRNAs, other ids
    extra = [SequenceRecord(f"IND_{r.id}", r.sequence, r.label) for r in extra]
    everything = records + extra
    ids = [r.id for r in everything]
    assert not set(ids[len(records):]) & in_folds
    labels = localization_labels(everything)
    rows = fold_rows(folds, ids)
    sequences = [r.sequence for r in everything]
    independent = {"train": rows[0]["train"], "valid": rows[0]["valid"], "test": np.arange(len(records), len(everything))}
    methods = {
        "kmer_lr": kmer_lr_fit_predict(sequences, labels, ks=(1, 2, 3, 4)),
        "length": length_fit_predict([len(s) for s in sequences], labels),
        "cnn": cnn_fit_predict(sequences, labels, filters=16, hidden=8, epochs=3, patience=3, batch_size=32, threads=1),
    }
    comparison = compare_methods(ids, labels, rows, methods, independent)
    auroc = comparison.table("auroc")
    assert list(auroc.columns) == ["kmer_lr", "length", "cnn"]
    assert auroc.loc["nucleus", "kmer_lr"] > 0.9 and auroc.loc["membrane", "length"] > 0.9
    # the CNN's learning is tested on more data in test_baselines; here: one finite score per compartment, seeded
    assert np.isfinite(comparison.scores["cnn"][: len(records)]).all()
    assert np.array_equal(comparison.independent_scores["cnn"], methods["cnn"](independent["train"], independent["valid"], independent["test"]))
    assert comparison.tables["kmer_lr"].loc["macro", "n"] == len(records)  # the independent rows are not pooled in
    assert np.isnan(comparison.scores["kmer_lr"][len(records):]).all()
    independent_auroc = comparison.table("auroc", independent=True)
    assert independent_auroc.loc["nucleus", "kmer_lr"] > 0.85
    assert comparison.independent["kmer_lr"].loc["macro", "n"] == 60
    report = comparison.to_json()
    assert set(report["cross_fold"]) == set(methods) and "independent_test" in report
    with pytest.raises(ValueError, match="in no fold"):
        compare_methods(ids, labels, rows, methods, {**independent, "test": rows[0]["test"]})


def test_localization_methods_build_every_compared_method_on_the_same_rows(tmp_path: Path, checkpoint: Path) -> None:
    from utrbert.chapters.localization import (
        METHODS, LocalizationSettings, compare_methods, fold_rows, localization_labels, localization_methods,
    )

    records, folds = _fold_demo(90, seed=4)
    embeddings = embed_mrnas(checkpoint, records, tmp_path / "cache", segment_nt=400, window_nt=250, progress=False)
    labels = localization_labels(records)
    settings = LocalizationSettings(head=HeadConfig(epochs=3, seed=0), cnn={"filters": 8, "hidden": 4, "epochs": 2},
                                    kmer_ks=(1, 2), segment_nt=400)
    methods = localization_methods(embeddings, [r.sequence for r in records], labels, settings)
    assert list(methods) == list(METHODS)
    comparison = compare_methods(embeddings.ids, labels, fold_rows(folds, embeddings.ids), methods)
    table = comparison.table("auprc")
    assert list(table.columns) == list(METHODS) and table.loc[["nucleus", "macro"]].notna().all().all()
    assert settings.as_dict()["head"]["epochs"] == 3
    with pytest.raises(ValueError, match="unknown methods"):
        localization_methods(embeddings, [r.sequence for r in records], labels, settings, methods=["svm"])
    with pytest.raises(ValueError, match="label rows"):
        localization_methods(embeddings, [r.sequence for r in records], labels[:10], settings)


def test_bf16_embeddings_on_the_cpu_follow_its_bf16_support(tmp_path: Path, checkpoint: Path, mrnas) -> None:
    from utrbert.models.pretraining import cpu_supports_bf16

    if not cpu_supports_bf16():  # no native bf16: refused before anything is written
        with pytest.raises(ValueError, match="AVX512-BF16 or AMX"):
            embed_mrnas(checkpoint, mrnas, tmp_path / "cache", precision="bf16", progress=False)
        assert not (tmp_path / "cache" / "manifest.json").exists()
        return
    full = embed_mrnas(checkpoint, mrnas, tmp_path / "fp32", progress=False)
    half = embed_mrnas(checkpoint, mrnas, tmp_path / "bf16", precision="bf16", progress=False)
    assert half.provenance["settings"]["precision"] == "bf16" and "precision" not in full.provenance["settings"]
    assert not np.array_equal(half.mrna_vectors, full.mrna_vectors)  # bf16 really ran
    np.testing.assert_allclose(half.mrna_vectors, full.mrna_vectors, atol=0.1)
    np.testing.assert_allclose(half.attention.astype(np.float32), full.attention.astype(np.float32), atol=0.02)


@pytest.mark.gpu
def test_bf16_embeddings_on_a_gpu_stay_close_to_fp32(tmp_path: Path, checkpoint: Path, mrnas) -> None:
    full = embed_mrnas(checkpoint, mrnas, tmp_path / "fp32", device="cuda", progress=False)
    half = embed_mrnas(checkpoint, mrnas, tmp_path / "bf16", device="cuda", precision="bf16", progress=False)
    assert half.provenance["settings"]["precision"] == "bf16" and "precision" not in full.provenance["settings"]
    np.testing.assert_allclose(half.mrna_vectors, full.mrna_vectors, atol=0.1)
    np.testing.assert_allclose(half.attention.astype(np.float32), full.attention.astype(np.float32), atol=0.02)
