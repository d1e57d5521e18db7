"""In-silico saturation mutagenesis: variants, batching into one forward pass, scores, and the command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from utrbert.__main__ import main
from utrbert.models.finetuning import EncodedSet, predict_scores
from utrbert.models.model import build_config, build_model
from utrbert.interpret.mutagenesis import mutagenesis_matrix, saturation_mutagenesis, single_nucleotide_variants
from utrbert.data.synthetic import random_utr
from utrbert.tokens.tokenization import KmerTokenizer


@pytest.fixture(scope="module")
def classifier():
    model = build_model(build_config("tiny", k=3, initializer_range=0.5), task="classification", seed=3).eval()
    return model, KmerTokenizer(k=3)


def test_every_substitution_once() -> None:
    sequence = "ACGNT"
    variants = single_nucleotide_variants(sequence)
    assert len(variants) == 3 * 4 + 4  # N gets all four bases
    assert {(v.position, v.alt) for v in variants if v.position == 3} == {(3, b) for b in "ACGU"}
    for v in variants:
        assert v.sequence[v.position] == v.alt and len(v.sequence) == 5
        assert v.sequence[:v.position] + v.sequence[v.position + 1:] == "ACGNU"[:v.position] + "ACGNU"[v.position + 1:]
    with pytest.raises(ValueError, match="outside"):
        single_nucleotide_variants("ACGX")


def test_a_101_nt_window_is_one_forward_pass_with_exact_scores(classifier) -> None:
    model, tokenizer = classifier
    sequence = random_utr(101, np.random.default_rng(0))
    calls = []
    handle = model.register_forward_hook(lambda module, args, kwargs_or_out: calls.append(1))
    try:
        reference, table = saturation_mutagenesis(model, tokenizer, sequence, "win")
    finally:
        handle.remove()
    assert len(calls) == 1 and len(table) == 303
    # brute force: each variant scored on its own
    for row in table.sample(10, random_state=0).itertuples(index=False):
        variant = sequence[:row.position] + row.alt + sequence[row.position + 1:]
        padded = tokenizer.encode_corpus([variant]).padded()
        alone = predict_scores(model, EncodedSet(["x"], padded["input_ids"], padded["attention_mask"], np.zeros(1, dtype=int)))
        assert alone[0] == pytest.approx(row.score, abs=1e-5)
        assert row.delta == pytest.approx(row.score - reference, abs=1e-9)
    matrix = mutagenesis_matrix(table)
    assert matrix.shape == (4, 101)
    assert all(matrix.loc[sequence[i], i] == 0 for i in range(101))


def test_too_long_sequence_names_the_record(classifier) -> None:
    model, tokenizer = classifier
    with pytest.raises(ValueError, match="'long_one'"):
        saturation_mutagenesis(model, tokenizer, "A" * 700, "long_one")


def test_command_writes_variants_summary_and_plots(tmp_path: Path, classifier) -> None:
    model, tokenizer = classifier
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    fasta = tmp_path / "in.fa"
    fasta.write_text(">a\nACGUACGUAGGA\n>b\nUUUAUUUAUU\n")
    out = tmp_path / "out"
    assert main(["-q", "mutagenesis", "--model", str(tmp_path / "ckpt"), "--fasta", str(fasta), "--out", str(out), "--plots"]) == 0
    variants = pd.read_csv(out / "variants.tsv", sep="\t")
    assert variants.groupby("id").size().to_dict() == {"a": 36, "b": 30}
    summary = pd.read_csv(out / "summary.tsv", sep="\t").set_index("id")
    assert summary.loc["a", "min_delta"] == pytest.approx(variants[variants["id"] == "a"]["delta"].min(), abs=1e-5)
    assert (out / "a.png").is_file() and (out / "b.png").is_file()
    assert main(["-q", "mutagenesis", "--model", str(tmp_path / "ckpt"), "--seq", "ACGUAC", "--out", str(tmp_path / "o2")]) == 0
    assert len(pd.read_csv(tmp_path / "o2" / "variants.tsv", sep="\t")) == 18


def test_command_refuses_a_language_model_checkpoint(tmp_path: Path, caplog) -> None:
    mlm = build_model(build_config("tiny", k=3), task="mlm", seed=0)
    mlm.save_pretrained(tmp_path / "mlm")
    KmerTokenizer(k=3).save_pretrained(tmp_path / "mlm")
    code = main(["mutagenesis", "--model", str(tmp_path / "mlm"), "--seq", "ACGUAC", "--out", str(tmp_path / "o")])
    assert code == 2 and "classifier" in caplog.text
