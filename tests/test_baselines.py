"""RBP-31 baselines: k-mer frequency features, k-mer logistic regression and the one-hot CNN."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest
import torch

from utrbert.baselines.classifiers import (
    CnnClassifier,
    KmerLogisticRegression,
    OneHotCNN,
    kmer_feature_names,
    kmer_frequency_features,
    one_hot_batch,
)
from utrbert.tokens.kmers import SequenceError
from utrbert.models.metrics import binary_metrics
from utrbert.data.synthetic import MOTIFS, make_binary_dataset

# Small but reliable settings: max pooling alone finds the planted motif from 4000 sequences for most seeds.
FAST_CNN: dict[str, Any] = dict(
    filters=32, hidden=16, average_pooling=False, epochs=10, patience=4, batch_size=64, threads=1, progress=False
)


def _split(records: list) -> tuple[list[str], np.ndarray]:
    return [r.sequence for r in records], np.array([r.label for r in records])


@pytest.fixture(scope="module")
def pumilio() -> dict[str, Any]:
    """Synthetic binding sites: positives carry one Pumilio element (UGUAHAUA), 20 % positive, 101 nt."""
    train, train_y = _split(make_binary_dataset(4000, 101, MOTIFS["PUM"], 0.2, seed=1))
    test, test_y = _split(make_binary_dataset(500, 101, MOTIFS["PUM"], 0.2, seed=2))
    return {"train": train, "train_y": train_y, "test": test, "test_y": test_y}


@pytest.fixture(scope="module")
def fitted_cnn(pumilio: dict[str, Any]) -> CnnClassifier:
    return CnnClassifier(seed=0, **FAST_CNN).fit(pumilio["train"], pumilio["train_y"])


# ----- features ------------------------------------------------------------------------------------------


def _naive_frequencies(sequence: str, k: int) -> np.ndarray:
    """Reference: count k-mers free of ambiguity codes, divide by how many there are."""
    sequence = sequence.upper().replace("T", "U")
    index = {"".join(p): i for i, p in enumerate(itertools.product("AUCG", repeat=k))}
    valid = [sequence[i : i + k] for i in range(len(sequence) - k + 1)]
    valid = [kmer for kmer in valid if set(kmer) <= set("AUCG")]
    result = np.zeros(4**k)
    for kmer in valid:
        result[index[kmer]] += 1 / len(valid)
    return result


def test_hand_computed_frequencies_of_a_tiny_sequence() -> None:
    features = kmer_frequency_features(["AUCGA"], ks=(1, 2)).toarray()[0]
    by_name = dict(zip(kmer_feature_names((1, 2)), features))
    assert {name: value for name, value in by_name.items() if value} == pytest.approx(
        {"A": 0.4, "U": 0.2, "C": 0.2, "G": 0.2, "AU": 0.25, "UC": 0.25, "CG": 0.25, "GA": 0.25}
    )


def test_kmers_with_n_count_nowhere_and_frequencies_are_over_valid_kmers() -> None:
    # AANAUG: valid 1-mers A A A U G (5); valid 2-mers AA AU UG (3); the only valid 3-mer is AUG
    features = kmer_frequency_features(["AANAUG"], ks=(1, 2, 3)).toarray()[0]
    nonzero = {name: value for name, value in zip(kmer_feature_names((1, 2, 3)), features) if value}
    assert nonzero == pytest.approx(
        {"A": 0.6, "U": 0.2, "G": 0.2, "AA": 1 / 3, "AU": 1 / 3, "UG": 1 / 3, "AUG": 1.0}
    )


def test_an_n_leaves_no_trace_in_the_features() -> None:
    # N only adds invalid k-mers, so a window with trailing or leading Ns looks exactly like the clean one
    clean, with_n = "AUCGGAUUACGAUC", "NAUCGGAUUACGAUCNN"
    features = kmer_frequency_features([clean, with_n, "N" * 10]).toarray()
    assert np.array_equal(features[0], features[1])
    assert not features[2].any()  # no valid k-mer at all: an all-zero row, not a division by zero


def test_default_features_match_a_naive_count_and_accept_t_and_lower_case() -> None:
    rng = np.random.default_rng(0)
    letters, weights = list("ACGUTNacgu"), [0.19, 0.19, 0.19, 0.19, 0.05, 0.05, 0.035, 0.035, 0.035, 0.035]
    sequences = ["".join(rng.choice(letters, size=int(rng.integers(6, 40)), p=weights)) for _ in range(60)]
    features = kmer_frequency_features(sequences)
    assert features.format == "csr" and features.shape == (60, 5460) == (60, len(kmer_feature_names()))
    expected = [np.concatenate([_naive_frequencies(s, k) for k in range(1, 7)]) for s in sequences]
    np.testing.assert_allclose(features.toarray(), np.array(expected), atol=1e-12)


# ----- both classifiers: held-out AUROC on a planted motif -----------------------------------------------


def test_kmer_logistic_regression_finds_the_planted_motif(pumilio: dict[str, Any]) -> None:
    model = KmerLogisticRegression(progress=False).fit(pumilio["train"], pumilio["train_y"])
    scores = model.predict_scores(pumilio["test"])
    assert scores.shape == (500,) and scores.min() >= 0 and scores.max() <= 1
    assert binary_metrics(pumilio["test_y"], scores)["auroc"] > 0.88  # measured 0.94-0.96


def test_cnn_finds_the_planted_motif(pumilio: dict[str, Any], fitted_cnn: CnnClassifier) -> None:
    scores = fitted_cnn.predict_scores(pumilio["test"])
    assert scores.shape == (500,) and scores.min() >= 0 and scores.max() <= 1
    assert binary_metrics(pumilio["test_y"], scores)["auroc"] > 0.9  # measured 0.99
    assert fitted_cnn.best_epoch_ is not None and 1 <= fitted_cnn.best_epoch_ <= len(fitted_cnn.history_)


def test_validation_split_picks_c_by_validation_auroc(pumilio: dict[str, Any]) -> None:
    train, valid = slice(0, 3000), slice(3000, None)
    model = KmerLogisticRegression(Cs=(1e-5, 1e-4), progress=False)
    model.fit(pumilio["train"][train], pumilio["train_y"][train], pumilio["train"][valid], pumilio["train_y"][valid])
    by_c = model.valid_auroc_by_C_
    assert set(by_c) == {1e-5, 1e-4} and model.chosen_C_ == max(by_c, key=by_c.get)
    described = json.loads(json.dumps(model.describe()))
    assert described["chosen_C"] == model.chosen_C_ and described["n_features"] == 5460


# ----- determinism, padding, provenance ---------------------------------------------------------------


def test_same_seed_gives_identical_scores_and_leaves_global_torch_state_alone(pumilio: dict[str, Any]) -> None:
    train, train_y = pumilio["train"][:800], pumilio["train_y"][:800]
    small = dict(FAST_CNN, epochs=2)
    rng_before, threads_before = torch.random.get_rng_state(), torch.get_num_threads()
    first = CnnClassifier(seed=3, **small).fit(train, train_y).predict_scores(pumilio["test"])
    again = CnnClassifier(seed=3, **small).fit(train, train_y).predict_scores(pumilio["test"])
    other = CnnClassifier(seed=4, **small).fit(train, train_y).predict_scores(pumilio["test"])
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert torch.equal(torch.random.get_rng_state(), rng_before) and torch.get_num_threads() == threads_before
    lr = [KmerLogisticRegression(seed=3, progress=False).fit(train, train_y).predict_scores(pumilio["test"])]
    lr.append(KmerLogisticRegression(seed=3, progress=False).fit(train, train_y).predict_scores(pumilio["test"]))
    assert np.array_equal(lr[0], lr[1])


def test_cnn_score_does_not_depend_on_what_the_sequence_is_batched_with(
    pumilio: dict[str, Any], fitted_cnn: CnnClassifier
) -> None:
    short, long = pumilio["test"][0][:40], pumilio["test"][1] + pumilio["test"][2]
    alone = fitted_cnn.predict_scores([short])
    batched = fitted_cnn.predict_scores([long, short, short[:12]])
    np.testing.assert_allclose(batched[1], alone[0], rtol=0, atol=1e-6)
    # the module itself, with a trailing run of zeros (padding) that would change an unmasked average
    torch.manual_seed(0)
    module = OneHotCNN(filters=8, width=4, hidden=4, dropout=0.0).eval()
    codes = torch.tensor([[0, 1, 2, 3, 3, 2, -1, -1, -1, -1]], dtype=torch.int8)
    with torch.no_grad():
        padded = module(one_hot_batch(codes), torch.tensor([6]))
        unpadded = module(one_hot_batch(codes[:, :6]), torch.tensor([6]))
    torch.testing.assert_close(padded, unpadded)


def test_cnn_accepts_t_and_lower_case(pumilio: dict[str, Any], fitted_cnn: CnnClassifier) -> None:
    sequences = pumilio["test"][:5]
    dna = [s.lower().replace("u", "t") for s in sequences]
    np.testing.assert_array_equal(fitted_cnn.predict_scores(dna), fitted_cnn.predict_scores(sequences))


def test_describe_is_json_for_provenance(fitted_cnn: CnnClassifier) -> None:
    described = json.loads(json.dumps(fitted_cnn.describe()))
    assert described["model"] == "one_hot_cnn" and described["filters"] == 32 and described["seed"] == 0
    assert described["epochs_run"] == len(fitted_cnn.history_) and described["n_parameters"] > 0
    assert json.loads(json.dumps(KmerLogisticRegression().describe()))["ks"] == [1, 2, 3, 4, 5, 6]


# ----- errors -------------------------------------------------------------------------------------------


def _models() -> list[Any]:
    return [KmerLogisticRegression(progress=False), CnnClassifier(**dict(FAST_CNN, epochs=1))]


@pytest.mark.parametrize("model", _models(), ids=["kmer_lr", "cnn"])
def test_bad_training_input_is_refused_with_a_clear_message(model: Any) -> None:
    good = ["AUCGAUCGAUCG", "GGAUCCAUGGAU", "UUUAUUUAUUUA", "CCCGGGAAAUUU"]
    with pytest.raises(ValueError, match="no sequences"):
        model.fit([], [])
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        model.fit(good, [0, 1, 2, 0])
    with pytest.raises(ValueError, match="both classes are needed"):
        model.fit(good, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="4 sequences but labels of shape"):
        model.fit(good, [0, 1, 0])
    with pytest.raises(SequenceError, match=r"sequence #2: 5 nt is shorter than"):
        model.fit(good[:2] + ["AUCGA"] + good[3:], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="both valid_sequences and valid_labels"):
        model.fit(good, [0, 1, 0, 1], valid_sequences=good)
    with pytest.raises(TypeError, match="single string"):
        model.fit("AUCGAUCGAUCG", [0])


@pytest.mark.parametrize("model", _models(), ids=["kmer_lr", "cnn"])
def test_predicting_before_fit_is_an_error(model: Any) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict_scores(["AUCGAUCGAUCG"])


def test_short_sequence_error_names_the_largest_k() -> None:
    with pytest.raises(SequenceError, match=r"sequence #1: 3 nt is shorter than the largest k-mer \(k=4\)"):
        kmer_frequency_features(["AUCGA", "AUC"], ks=(1, 4))
    with pytest.raises(ValueError, match="between 1 and 6"):
        kmer_frequency_features(["AUCGA"], ks=(7,))


# ----- multi-label CNN (mRNA localization) --------------------------------------------------------------


def _two_label_data(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Label 0: a PUM element planted; label 1: the ARE nonamer UUAUUUAUU; independent, 40 % positive each."""
    from utrbert.data.synthetic import plant_motif, random_utr

    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 2)) < 0.4).astype(int)
    sequences = []
    for row in labels:
        sequence, avoid = random_utr(150, rng), []
        for column, motif in enumerate((MOTIFS["PUM"], "UUAUUUAUU")):
            if row[column]:
                sequence, position, instance = plant_motif(sequence, motif, rng, avoid=avoid)
                avoid.append((position, position + len(instance)))
        sequences.append(sequence)
    return sequences, labels


def test_multilabel_cnn_learns_each_label_and_returns_one_column_per_label() -> None:
    train, train_y = _two_label_data(1500, seed=3)
    valid, valid_y = _two_label_data(300, seed=4)
    test, test_y = _two_label_data(300, seed=5)
    model = CnnClassifier(seed=0, **FAST_CNN).fit(train, train_y, valid, valid_y)
    scores = model.predict_scores(test)
    assert scores.shape == (300, 2) and model.describe()["outputs"] == 2
    assert binary_metrics(test_y[:, 0], scores[:, 0])["auroc"] > 0.9
    assert binary_metrics(test_y[:, 1], scores[:, 1])["auroc"] > 0.9
    again = CnnClassifier(seed=0, **FAST_CNN).fit(train, train_y, valid, valid_y).predict_scores(test)
    assert np.array_equal(scores, again)  # seeded


def test_multilabel_cnn_needs_a_validation_split_and_matching_label_widths() -> None:
    train, train_y = _two_label_data(40, seed=6)
    with pytest.raises(ValueError, match="validation split"):
        CnnClassifier(seed=0, **FAST_CNN).fit(train, train_y)
    with pytest.raises(ValueError, match="do not match"):
        CnnClassifier(seed=0, **FAST_CNN).fit(train, train_y, train, train_y[:, :1].repeat(3, axis=1))
    with pytest.raises(ValueError, match="0 or 1"):
        CnnClassifier(seed=0, **FAST_CNN).fit(train, train_y * 2, train, train_y)
