"""The ``attention`` and ``motifs`` commands end to end on generated data, and ``read_sequences``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from utrbert.__main__ import main
from utrbert.motifs.meme import read_meme, write_meme
from utrbert.models.model import build_config, build_model
from utrbert.motifs.pwm import Pwm, iupac_pwm
from utrbert.data.readers import read_sequences
from utrbert.data.records import SequenceRecord
from utrbert.interpret.score_files import provenance_path, read_scores, write_scores
from utrbert.data.synthetic import make_motif_attention_demo
from utrbert.tokens.tokenization import KmerTokenizer


def _write_fasta(path: Path, records, with_labels: bool = False) -> Path:
    lines = []
    for r in records:
        lines += [f">{r.id}" + (f" class:{r.label}" if with_labels else " some description"), r.sequence]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_sequences_takes_fasta_with_or_without_labels_and_tables(tmp_path: Path) -> None:
    records = [SequenceRecord("a", "ACGUACGU", 1), SequenceRecord("b", "GGGCCCAA", 0)]
    plain = read_sequences(_write_fasta(tmp_path / "p.fa", records))
    assert [(r.id, r.label) for r in plain] == [("a", None), ("b", None)]
    labelled = read_sequences(_write_fasta(tmp_path / "l.fa", records, with_labels=True))
    assert [(r.id, r.label) for r in labelled] == [("a", 1), ("b", 0)]
    (tmp_path / "t.tsv").write_text("id\tsequence\nx\tACGUU\ny\tACG CGU GUA\n")
    table = read_sequences(tmp_path / "t.tsv", k=3)
    assert [(r.id, r.sequence, r.label) for r in table] == [("x", "ACGUU", None), ("y", "ACGUA", None)]
    with pytest.raises(ValueError, match="suffix"):
        read_sequences(tmp_path / "x.bed")


@pytest.fixture(scope="module")
def checkpoint(tiny_classifier: Path) -> Path:
    return tiny_classifier


def test_attention_command_writes_scores_equal_to_eager_attention(tmp_path: Path, checkpoint: Path) -> None:
    records = [SequenceRecord("s1", "ACGUACGUAGCUAGCUAGGG", None), SequenceRecord("s2", "UUUACGAUCG", None)]
    fasta = _write_fasta(tmp_path / "in.fa", records)
    out = tmp_path / "scores.tsv"
    assert main(["-q", "attention", "--model", str(checkpoint), "--input", str(fasta), "--out", str(out)]) == 0
    scores = read_scores(out)
    assert list(scores) == ["s1", "s2"] and [len(v) for v in scores.values()] == [20, 10]
    # reference: eager attention of the last layer, [CLS] row, summed over heads, k-mers averaged per nucleotide
    eager = build_model(build_config("tiny", k=3, initializer_range=0.6), task="classification",
                        attn_implementation="eager", seed=0).eval()
    tokenizer = KmerTokenizer(k=3)
    for record in records:
        ids = torch.from_numpy(tokenizer.encode_corpus([record.sequence]).padded()["input_ids"])
        with torch.no_grad():
            rows = eager(input_ids=ids, output_attentions=True).attentions[-1][0, :, 0, :].sum(0).numpy()
        kmer = rows[1:-1]
        expected = np.array([kmer[max(0, j - 2): j + 1].mean() for j in range(len(record.sequence))])
        assert np.allclose(scores[record.id], expected, atol=1e-5)
    provenance = provenance_path(out).read_text()
    assert '"layers": [' in provenance and '"k": 3' in provenance


def test_attention_command_reports_a_bad_record(tmp_path: Path, checkpoint: Path, caplog) -> None:
    bad = tmp_path / "bad.fa"
    bad.write_text(">fine\nACGUACGU\n>broken\nACGXQ\n")
    code = main(["attention", "--model", str(checkpoint), "--input", str(bad), "--out", str(tmp_path / "s.tsv")])
    assert code == 2 and "broken" in caplog.text and not (tmp_path / "s.tsv").exists()


def test_motifs_command_finds_planted_motifs_and_matches_them(tmp_path: Path) -> None:
    pos, neg, scores = make_motif_attention_demo(240, 240, seed=11)
    _write_fasta(tmp_path / "pos.fa", pos)
    (tmp_path / "neg.tsv").write_text("id\tsequence\n" + "".join(f"{r.id}\t{r.sequence}\n" for r in neg))
    write_scores({r.id: scores[r.id] for r in pos}, tmp_path / "scores.npz")
    rng = np.random.default_rng(5)
    database = [iupac_pwm("UGUAHAUA", name="PUM_planted"), iupac_pwm("UGCAUGU", name="RBFOX_planted")]
    database += [Pwm(f"decoy{i}", rng.dirichlet(np.full(4, 0.5), size=8), alt_name=f"DECOY{i}") for i in range(50)]
    write_meme(database, tmp_path / "db.meme")
    out = tmp_path / "motifs"
    code = main(["-q", "motifs", "--pos", str(tmp_path / "pos.fa"), "--neg", str(tmp_path / "neg.tsv"),
                 "--scores", str(tmp_path / "scores.npz"), "--out", str(out), "--db", str(tmp_path / "db.meme"),
                 "--ties", "best"])
    assert code == 0
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    for column in ("motif", "instances", "p", "p_adjusted", "best_match", "match_q"):
        assert column in table.columns
    assert (table["p_adjusted"] < 0.005).all()
    matched = set(table.loc[table["match_q"] < 0.01, "best_match"])
    assert matched == {"PUM_planted", "RBFOX_planted"}
    assert [m.name for m in read_meme(out / "motifs.meme")] == table["motif"].tolist()
    assert (out / "run.json").is_file() and (out / "matches.tsv").is_file()


def test_motifs_command_fails_naming_a_positive_without_scores(tmp_path: Path, caplog) -> None:
    pos, neg, scores = make_motif_attention_demo(10, 10, seed=1)
    _write_fasta(tmp_path / "pos.fa", pos)
    _write_fasta(tmp_path / "neg.fa", neg)
    write_scores({r.id: scores[r.id] for r in pos[1:]}, tmp_path / "s.tsv")
    code = main(["motifs", "--pos", str(tmp_path / "pos.fa"), "--neg", str(tmp_path / "neg.fa"), "--scores",
                 str(tmp_path / "s.tsv"), "--out", str(tmp_path / "o"), "--db", "none"])
    assert code == 2 and pos[0].id in caplog.text


def test_motifs_without_db_match_against_attract_in_the_data_directory(tmp_path: Path, monkeypatch, caplog) -> None:
    """The default database is ATtRACT human under UTRBERT_DATA (the help says so); without it the command says why."""
    import json

    from utrbert.data.synthetic import write_demo_data

    pos, neg, scores = make_motif_attention_demo(60, 60, seed=3)
    _write_fasta(tmp_path / "pos.fa", pos)
    _write_fasta(tmp_path / "neg.fa", neg)
    write_scores({r.id: scores[r.id] for r in pos}, tmp_path / "s.npz")
    args = ["-q", "motifs", "--pos", str(tmp_path / "pos.fa"), "--neg", str(tmp_path / "neg.fa"), "--scores",
            str(tmp_path / "s.npz"), "--pval", "0.5"]  # fmt: skip
    monkeypatch.delenv("UTRBERT_DATA", raising=False)
    assert main([*args, "--out", str(tmp_path / "none")]) == 2
    assert "UTRBERT_DATA" in caplog.text and not (tmp_path / "none").exists()
    data = write_demo_data(tmp_path / "data", seed=0)
    monkeypatch.setenv("UTRBERT_DATA", str(data))
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    used = Path(run["inputs"]["db"])
    assert used == data / "motifs" / "attract_meme" / "ATtRACT" / "Homo_sapiens.meme"
    assert (tmp_path / "out" / "matches.tsv").is_file()
