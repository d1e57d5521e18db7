"""Streaming [CLS] attention, k-mer to nucleotide mapping, layer x head summaries and embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utrbert import KmerTokenizer
from utrbert.interpret.attention import ClsAttention, cls_attention, cls_embeddings, head_summary, kmer_to_nucleotide
from utrbert.models.model import build_config, build_model

# different lengths, so batches are padded; 3 nt is a single k-mer; N gives [UNK] k-mers
SEQUENCES = ["ACGUACGUAGCUAGCUAGNNACGUUUA", "ACGUAGCUAGGG", "GGA", "UUUUACGACGAUCGAUCGAUGCAUGCAUGCAGCAUCGAU", "CAGUCA"]
IDS = ["long", "mid", "tiny", "longest", "short"]


def _config(k: int = 3):
    # a large initializer range makes the attention far from uniform, so a wrong scale or mask shows
    return build_config("tiny", k=k, initializer_range=0.6)


@pytest.fixture(scope="module")
def encoding():
    return KmerTokenizer(k=3).encode_corpus(SEQUENCES, ids=IDS)


@pytest.fixture(scope="module", params=["classification", "mlm"])
def models(request):
    """The same random weights with sdpa (used by the streaming code) and eager attention (the reference)."""
    sdpa = build_model(_config(), task=request.param, seed=1)
    eager = build_model(_config(), task=request.param, attn_implementation="eager", seed=1)
    eager.load_state_dict(sdpa.state_dict())
    return sdpa, eager.eval()


def _eager_cls_rows(model, padded) -> np.ndarray:
    """(layers, sequences, heads, tokens): row 0 of every eager attention map."""
    with torch.no_grad():
        out = model(
            input_ids=torch.from_numpy(padded["input_ids"]),
            attention_mask=torch.from_numpy(padded["attention_mask"]),
            output_attentions=True,
        )
    return torch.stack([layer[:, :, 0, :] for layer in out.attentions]).numpy()


def _brute_force_nucleotides(scores: np.ndarray, k: int, how: str) -> np.ndarray:
    n = len(scores)
    covering = [[scores[i] for i in range(n) if i <= j <= i + k - 1] for j in range(n + k - 1)]
    return np.array([np.mean(c) if how == "mean" else np.sum(c) for c in covering])


# ----- kmer_to_nucleotide ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["mean", "sum"])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_kmer_to_nucleotide_matches_a_loop_over_covering_kmers_in_ragged_rows(k: int, how: str) -> None:
    rng = np.random.default_rng(k)
    n_kmers = np.array([1, 2, 7, 12, 5])
    scores = np.full((len(n_kmers), 12), np.nan)
    for row, n in enumerate(n_kmers):
        scores[row, :n] = rng.normal(size=n)
    result = kmer_to_nucleotide(scores, k, n_kmers, how=how)
    assert result.shape == (len(n_kmers), 12 + k - 1)
    for row, n in enumerate(n_kmers):
        np.testing.assert_allclose(result[row, : n + k - 1], _brute_force_nucleotides(scores[row, :n], k, how))
        assert np.isnan(result[row, n + k - 1 :]).all()


def test_kmer_to_nucleotide_ignores_the_values_in_the_padding() -> None:
    with_nan = kmer_to_nucleotide(np.array([[1.0, 2.0, np.nan]]), 3, [2])
    with_junk = kmer_to_nucleotide(np.array([[1.0, 2.0, 1e9]]), 3, [2])
    np.testing.assert_array_equal(with_nan, with_junk)
    np.testing.assert_allclose(with_nan[0, :4], [1.0, 1.5, 1.5, 2.0])


def test_kmer_to_nucleotide_rejects_bad_counts_and_nan_inside_a_sequence() -> None:
    with pytest.raises(ValueError, match="between 1 and the row width"):
        kmer_to_nucleotide(np.ones((2, 3)), 3, [3, 4])
    with pytest.raises(ValueError, match="one per row"):
        kmer_to_nucleotide(np.ones((2, 3)), 3, [3])
    with pytest.raises(ValueError, match="NaN or infinite"):
        kmer_to_nucleotide(np.array([[1.0, np.nan, 2.0]]), 3)
    with pytest.raises(ValueError, match="positive integer"):
        kmer_to_nucleotide([1.0], 0)


# ----- cls_attention ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "heads", "reduction"),
    [((-1,), None, "sum"), ((0,), None, "sum"), ((0, 1), None, "sum"), ((0, 1), None, "mean"), ((1,), (1,), "sum")],
)
def test_streamed_cls_scores_equal_eager_output_attentions(models, encoding, layers, heads, reduction) -> None:
    sdpa, eager = models
    padded = encoding.padded()
    reference = _eager_cls_rows(eager, padded)  # (layers, B, H, T)
    result = cls_attention(
        sdpa, encoding, batch_size=2, layers=layers, heads=heads, layer_reduction=reduction, progress=False
    )
    chosen_heads = list(heads) if heads is not None else [0, 1]
    expected = reference[list(result.layers)][:, :, chosen_heads].sum(axis=2)  # (layers, B, T)
    expected = expected.sum(axis=0) if reduction == "sum" else expected.mean(axis=0)
    assert result.ids == IDS
    np.testing.assert_array_equal(result.n_kmers, [len(s) - 2 for s in SEQUENCES])
    for row, n in enumerate(result.n_kmers):
        np.testing.assert_allclose(result.token_scores[row, :n], expected[row, 1 : n + 1], atol=1e-5, rtol=0)
        assert np.isnan(result.token_scores[row, n:]).all()
        assert result.to_cls[row] == pytest.approx(expected[row, 0], abs=1e-5)
        assert result.to_sep[row] == pytest.approx(expected[row, n + 1], abs=1e-5)
    # the reference is not near-uniform, so the comparison above can tell a wrong scale or mask
    assert np.nanmax(result.token_scores) > 3 * np.nanmin(result.token_scores)
    assert sdpa.config._attn_implementation == "sdpa"


def test_cls_scores_do_not_depend_on_batching_order_or_input_form(models, encoding) -> None:
    sdpa, _ = models
    padded = encoding.padded()
    reference = cls_attention(sdpa, encoding, batch_size=len(IDS), sort_by_length=False, progress=False)
    variants = [
        cls_attention(sdpa, encoding, batch_size=1, progress=False),
        cls_attention(sdpa, padded, batch_size=3, ids=IDS, progress=False),
        cls_attention(sdpa, padded["input_ids"], padded["attention_mask"], 2, "cpu", IDS, progress=False),
        cls_attention(sdpa, torch.from_numpy(padded["input_ids"]), None, 4, ids=IDS, progress=False),
    ]
    for variant in variants:
        assert variant.ids == IDS
        np.testing.assert_allclose(variant.token_scores, reference.token_scores, atol=1e-5, equal_nan=True)
        np.testing.assert_allclose(variant.to_sep, reference.to_sep, atol=1e-5)


def test_ids_travel_with_their_scores_when_the_input_is_reordered(models) -> None:
    sdpa, _ = models
    order = [3, 0, 4, 2, 1]
    tokenizer = KmerTokenizer(k=3)
    forward = cls_attention(sdpa, tokenizer.encode_corpus(SEQUENCES, ids=IDS), progress=False)
    shuffled = cls_attention(
        sdpa, tokenizer.encode_corpus([SEQUENCES[i] for i in order], ids=[IDS[i] for i in order]), progress=False
    )
    assert shuffled.ids == [IDS[i] for i in order]
    for name in IDS:
        np.testing.assert_allclose(shuffled.scores_for(name), forward.scores_for(name), atol=1e-5)
        assert len(forward.scores_for(name)) == len(SEQUENCES[IDS.index(name)])


def test_attention_mass_is_split_between_kmers_and_specials(models, encoding) -> None:
    sdpa, _ = models
    for layers, reduction, total in [(None, "sum", 4.0), ((0, 1), "mean", 2.0)]:
        result = cls_attention(sdpa, encoding, layers=layers, layer_reduction=reduction, progress=False)
        assert result.total == total and result.layers == (0, 1)
        mass = result.to_cls + result.to_sep + np.nansum(result.token_scores, axis=1)
        np.testing.assert_allclose(mass, total, rtol=1e-5)
        assert ((result.special_fraction > 0) & (result.special_fraction < 1)).all()


def test_nucleotide_scores_and_tables_keep_ids_and_provenance(models, encoding) -> None:
    sdpa, _ = models
    result = cls_attention(sdpa, encoding, progress=False)
    assert isinstance(result, ClsAttention)
    nucleotides = result.nucleotide_scores()
    np.testing.assert_array_equal((~np.isnan(nucleotides)).sum(axis=1), [len(s) for s in SEQUENCES])
    np.testing.assert_allclose(
        nucleotides, kmer_to_nucleotide(result.token_scores, 3, result.n_kmers), equal_nan=True
    )
    frame = result.to_frame("nucleotide")
    assert len(frame) == sum(map(len, SEQUENCES))
    longest = frame[frame["id"] == "longest"]
    np.testing.assert_allclose(longest["score"].to_numpy(), result.scores_for("longest"))
    assert longest["position"].tolist() == list(range(len(SEQUENCES[3])))
    assert len(result.to_frame("kmer")) == int(result.n_kmers.sum())
    summary = result.summary_frame()
    assert summary["id"].tolist() == IDS and summary["n_nucleotides"].tolist() == [len(s) for s in SEQUENCES]
    provenance = frame.attrs["provenance"]
    assert provenance["k"] == 3 and provenance["layers"] == [1] and provenance["layer_reduction"] == "sum"
    assert {"torch", "transformers"} <= set(provenance["versions"])


def test_model_is_evaluated_without_dropout_and_left_as_it_was(models, encoding) -> None:
    sdpa, _ = models
    expected = cls_attention(sdpa.eval(), encoding, progress=False)
    sdpa.train()
    try:
        again = cls_attention(sdpa, encoding, progress=False)
        assert sdpa.training
    finally:
        sdpa.eval()
    np.testing.assert_array_equal(again.token_scores, expected.token_scores)
    attention_modules = [layer.attention.self for layer in sdpa.base_model.encoder.layer]
    assert all(not module._forward_pre_hooks for module in attention_modules)


def test_windowed_encodings_get_window_ids(models) -> None:
    sdpa, _ = models
    windows = KmerTokenizer(k=3).encode_corpus(["ACGUACGUAGCUAGCU"], ids=["r"]).windows(window_nt=10)
    result = cls_attention(sdpa, windows, progress=False)
    assert result.ids == ["r:0-10", "r:10-16"]
    np.testing.assert_array_equal(result.n_nucleotides, [10, 6])


def test_bad_inputs_raise_clear_errors(models, encoding) -> None:
    sdpa, _ = models
    padded = encoding.padded()
    with pytest.raises(ValueError, match="empty"):
        cls_attention(sdpa, np.zeros((0, 5), dtype=np.int64), progress=False)
    with pytest.raises(ValueError, match="5 sequences but 2 ids"):
        cls_attention(sdpa, padded, ids=["a", "b"], progress=False)
    with pytest.raises(IndexError, match="layer 2 is out of range"):
        cls_attention(sdpa, encoding, layers=[2], progress=False)
    with pytest.raises(IndexError, match="head -3 is out of range"):
        cls_attention(sdpa, encoding, heads=[-3], progress=False)
    with pytest.raises(ValueError, match="k=4 does not match the model"):
        cls_attention(sdpa, encoding, k=4, progress=False)
    with pytest.raises(ValueError, match="encoding's k=4 does not match"):
        cls_attention(sdpa, KmerTokenizer(k=4).encode_corpus(["ACGUACGU"]), progress=False)
    left_padded = {key: value[:, ::-1].copy() for key, value in padded.items()}
    with pytest.raises(ValueError, match="right-padded"):
        cls_attention(sdpa, left_padded, progress=False)
    no_specials = KmerTokenizer(k=3).encode_corpus(SEQUENCES).padded(add_special_tokens=False)
    with pytest.raises(ValueError, match=r"expected \[CLS\] k-mers \[SEP\]"):
        cls_attention(sdpa, no_specials, progress=False)
    out_of_vocabulary = {key: value.copy() for key, value in padded.items()}
    out_of_vocabulary["input_ids"][0, 1] = 69
    with pytest.raises(ValueError, match="outside the model vocabulary of 69"):
        cls_attention(sdpa, out_of_vocabulary, progress=False)
    short_model = build_model(build_config("tiny", k=3, max_position_embeddings=20), task="mlm")
    with pytest.raises(ValueError, match="'long': 27 tokens exceed the model's 20 positions"):
        cls_attention(short_model, padded, ids=IDS, progress=False)
    with pytest.raises(ValueError, match="chosen twice"):
        cls_attention(sdpa, encoding, layers=[1, -1], progress=False)
    with pytest.raises(ValueError, match="layer_reduction"):
        cls_attention(sdpa, encoding, layer_reduction="max", progress=False)


# ----- head_summary -------------------------------------------------------------------------------


@pytest.mark.parametrize("statistic", ["entropy", "normalized_entropy", "specials"])
def test_head_summary_equals_the_statistic_of_eager_attention(models, encoding, statistic) -> None:
    sdpa, eager = models
    padded = encoding.padded()
    rows = _eager_cls_rows(eager, padded).astype(np.float64)  # (layers, B, H, T)
    lengths = padded["attention_mask"].sum(axis=1)
    if statistic == "specials":
        last = np.broadcast_to((lengths - 1)[None, :, None, None], (*rows.shape[:-1], 1))
        values = rows[..., 0] + np.take_along_axis(rows, last, axis=-1)[..., 0]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = -np.nansum(np.where(rows > 0, rows * np.log(rows), 0.0), axis=-1)
        if statistic == "normalized_entropy":
            values = values / np.log(lengths)[None, :, None]
    expected = values.mean(axis=1)  # (layers, heads)
    table = head_summary(sdpa, encoding, batch_size=2, statistic=statistic, progress=False)
    assert table.shape == (2, 2) and table.index.name == "layer" and table.columns.name == "head"
    np.testing.assert_allclose(table.to_numpy(), expected, atol=1e-5)
    assert table.attrs["provenance"]["statistic"] == statistic
    if statistic == "normalized_entropy":
        assert ((table.to_numpy() > 0) & (table.to_numpy() < 1)).all()


# ----- cls_embeddings -----------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["classification", "mlm", "encoder"])
def test_cls_embeddings_are_the_last_hidden_state_for_every_model_class(task, encoding) -> None:
    model = build_model(_config(), task=task, seed=2).eval()
    padded = encoding.padded()
    with torch.no_grad():
        hidden = model(
            input_ids=torch.from_numpy(padded["input_ids"]),
            attention_mask=torch.from_numpy(padded["attention_mask"]),
            output_hidden_states=True,
        ).hidden_states[-1].numpy()
    cls = cls_embeddings(model, encoding, batch_size=2, progress=False)
    assert cls.ids == IDS and cls.embeddings.dtype == np.float32 and cls.embeddings.shape == (5, 32)
    np.testing.assert_allclose(cls.embeddings, hidden[:, 0], atol=1e-5)
    mean = cls_embeddings(model, padded, ids=IDS, pooling="mean", progress=False)
    for row, sequence in enumerate(SEQUENCES):
        n_kmers = len(sequence) - 2
        np.testing.assert_allclose(mean.embeddings[row], hidden[row, 1 : n_kmers + 1].mean(axis=0), atol=1e-5)
    assert mean.to_frame().loc["mid"].shape == (32,)
    with pytest.raises(ValueError, match="pooling"):
        cls_embeddings(model, encoding, pooling="max", progress=False)


def test_embedding_of_a_sequence_does_not_depend_on_its_batch_padding(encoding) -> None:
    model = build_model(_config(), task="mlm", seed=3)
    together = cls_embeddings(model, encoding, batch_size=5, sort_by_length=False, progress=False)
    alone = cls_embeddings(model, encoding, batch_size=1, progress=False)
    np.testing.assert_allclose(together.embeddings, alone.embeddings, atol=1e-5)
    with pytest.raises(ValueError, match="k=6 does not match"):
        cls_embeddings(model, encoding, k=6, progress=False)


def test_embeddings_with_attention_keep_the_same_cls_scores_from_one_pass(encoding) -> None:
    model = build_model(_config(), task="mlm", seed=4)
    both = cls_embeddings(model, encoding, batch_size=2, pooling="mean", progress=False, with_attention=True)
    plain = cls_embeddings(model, encoding, batch_size=2, pooling="mean", progress=False)
    np.testing.assert_allclose(both.embeddings, plain.embeddings, atol=1e-6)  # the hook changes nothing
    reference = cls_attention(model, encoding, batch_size=3, progress=False)
    np.testing.assert_allclose(both.token_attention, reference.token_scores, atol=1e-5, equal_nan=True)
    assert np.isnan(both.token_attention).sum() == np.isnan(reference.token_scores).sum() > 0  # ragged rows
    assert plain.token_attention is None
    # the hook is removed afterwards: a plain call on the same model keeps no attention
    assert not model.base_model.encoder.layer[-1].attention.self._forward_pre_hooks
