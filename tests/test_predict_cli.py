"""``python -m utrbert predict`` on small generated classifiers and sequences."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from utrbert import KmerTokenizer
from utrbert.__main__ import main
from utrbert.models.model import build_config, build_model

SEQS = {"short": "ACGUACGUAGCUAGCUAGGG", "other": "UUUACGAUCGAUUUAGC", "long": "ACGU" * 200}


@pytest.fixture(scope="module")
def classifier(tiny_classifier: Path) -> Path:
    return tiny_classifier


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _expected(classifier: Path, sequence: str) -> float:
    from utrbert.models.model import load_model

    model, tokenizer = load_model(classifier, task="classification", num_labels=2)
    batch = tokenizer([sequence], return_tensors="pt")
    with torch.no_grad():
        return float(torch.softmax(model.eval()(**batch).logits, -1)[0, 1])


def test_every_record_is_scored_with_its_id_and_label(tmp_path: Path, classifier: Path) -> None:
    table = tmp_path / "in.tsv"
    table.write_text("id\tsequence\tlabel\nshort\tACGTACGTAGCTAGCTAGGG\t1\nother\tUUUACGAUCGAUUUAGC\t0\n")
    out = tmp_path / "scores.tsv"
    assert main(["-q", "predict", "--model", str(classifier), "--input", str(table), "--out", str(out)]) == 0
    rows = _rows(out)
    assert [r["id"] for r in rows] == ["short", "other"] and [r["label"] for r in rows] == ["1", "0"]
    for row in rows:  # the same probability as the model called directly on the record
        assert float(row["score"]) == pytest.approx(_expected(classifier, SEQS[row["id"]]), abs=1e-6)
    provenance = json.loads((tmp_path / "scores.tsv.provenance.json").read_text())
    assert provenance["k"] == 3 and provenance["n_records"] == 2 and provenance["model"]["weights_md5"]
    # an existing output is not replaced without --overwrite
    assert main(["-q", "predict", "--model", str(classifier), "--input", str(table), "--out", str(out)]) == 2


def test_a_long_record_is_refused_by_name_or_scored_window_by_window(tmp_path: Path, classifier: Path, caplog) -> None:
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">{name} some description\n{seq}\n" for name, seq in SEQS.items()))
    out = tmp_path / "scores.tsv"
    assert main(["-q", "predict", "--model", str(classifier), "--input", str(fasta), "--out", str(out)]) == 2
    assert "'long'" in caplog.text and "--window-nt" in caplog.text and not out.exists()
    assert main(["-q", "predict", "--model", str(classifier), "--input", str(fasta), "--out", str(out),
                 "--window-nt", "101", "--stride-nt", "50"]) == 0  # fmt: skip
    rows = {r["id"]: r for r in _rows(out)}
    windows = _rows(tmp_path / "scores.windows.tsv")
    long_windows = [w for w in windows if w["record_id"] == "long"]
    assert int(rows["long"]["n_windows"]) == len(long_windows) == 15  # ceil((800 - 101) / 50) + 1, last moved back
    assert float(rows["long"]["score"]) == max(float(w["score"]) for w in long_windows)
    best = max(long_windows, key=lambda w: float(w["score"]))
    assert int(rows["long"]["best_window_start"]) == int(best["start"])
    assert float(best["score"]) == pytest.approx(_expected(classifier, SEQS["long"][int(best["start"]):int(best["end"])]), abs=1e-6)
    assert int(rows["short"]["n_windows"]) == 1


def test_bad_input_is_refused_with_the_record_named(tmp_path: Path, classifier: Path, caplog) -> None:
    fasta = tmp_path / "bad.fa"
    fasta.write_text(">fine\nACGUACGU\n>broken\nACGUXXACGU\n")
    assert main(["-q", "predict", "--model", str(classifier), "--input", str(fasta), "--out", str(tmp_path / "o.tsv")]) == 2
    assert "broken" in caplog.text
    # a pretrained (masked-LM) checkpoint is not a classifier
    mlm = tmp_path / "mlm"
    build_model(build_config("tiny", k=3), task="mlm", seed=0).save_pretrained(mlm)
    KmerTokenizer(k=3).save_pretrained(mlm)
    good = tmp_path / "good.fa"
    good.write_text(">a\nACGUACGUAC\n")
    assert main(["-q", "predict", "--model", str(mlm), "--input", str(good), "--out", str(tmp_path / "o.tsv")]) == 2
    assert "not a fine-tuned classifier" in caplog.text


def test_finetune_saves_a_classifier_whose_predictions_predict_reproduces(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    def table(path: Path, n: int) -> Path:
        rows = ["id\tsequence\tlabel"]
        for i in range(n):
            label = i % 2
            seq = "".join(rng.choice(list("ACGU"), 40)) + ("UGUAAAUA" if label else "CCCCCCCC")
            rows.append(f"r{i}\t{seq}\t{label}")
        path.write_text("\n".join(rows) + "\n")
        return path
    train, test = table(tmp_path / "train.tsv", 60), table(tmp_path / "test.tsv", 20)
    out = tmp_path / "run"
    assert main(["-q", "finetune", "--train", str(train), "--test", str(test), "--out", str(out), "--epochs", "1",
                 "--save-model"]) == 0  # fmt: skip
    assert main(["-q", "predict", "--model", str(out / "model"), "--input", str(test), "--out", str(tmp_path / "p.tsv")]) == 0
    with open(out / "predictions.tsv", encoding="utf-8") as handle:
        expected = {r["id"]: float(r["score"]) for r in csv.DictReader(handle, delimiter="\t")}
    got = {r["id"]: float(r["score"]) for r in _rows(tmp_path / "p.tsv")}
    assert list(got) == list(expected) and all(got[i] == pytest.approx(expected[i], abs=1e-5) for i in got)
