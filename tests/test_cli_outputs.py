"""Outputs of the command-line tools: an --out that already holds results is refused before any compute unless
--overwrite, and an output that cannot be written is found before any compute too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from utrbert.__main__ import main
from utrbert.runs.store import check_output


def _fasta(path: Path) -> Path:
    path.write_text(">a class:1\nACGUACGUACGUAAUU\n>b class:0\nUUUUACGUACGAAAAA\n", encoding="utf-8")
    return path


def _commands(tmp_path: Path, out: Path) -> dict[str, list[str]]:
    """Each command with an --out; the inputs exist but are never read when the output is refused first."""
    fasta = _fasta(tmp_path / "seqs.fa")
    model = tmp_path / "no-model"  # never opened: the output check comes first
    return {
        "finetune": ["finetune", "--train", str(fasta), "--test", str(fasta), "--out", str(out)],
        "motifs": ["motifs", "--pos", str(fasta), "--neg", str(fasta), "--scores", str(tmp_path / "s.npz"),
                   "--out", str(out), "--db", "none"],
        "mutagenesis": ["mutagenesis", "--model", str(model), "--fasta", str(fasta), "--out", str(out)],
        "attention": ["attention", "--model", str(model), "--input", str(fasta), "--out", str(out / "scores.npz")],
        "predict": ["predict", "--model", str(model), "--input", str(fasta), "--out", str(out / "scores.tsv")],
    }


@pytest.mark.parametrize("command", ["finetune", "motifs", "mutagenesis", "attention", "predict"])
def test_existing_results_are_refused_without_overwrite(tmp_path: Path, command: str, caplog) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argv = _commands(tmp_path, out)[command]
    target = Path(argv[argv.index("--out") + 1])
    target.write_text("earlier results\n", encoding="utf-8") if target != out else (out / "metrics.json").write_text("{}")
    assert main(["-q", *argv]) == 2
    assert "already holds results; pass --overwrite" in caplog.text and str(target) in caplog.text
    left = target.read_text(encoding="utf-8") if target != out else (out / "metrics.json").read_text()
    assert left in ("earlier results\n", "{}")  # untouched
    caplog.clear()
    assert main(["-q", *argv, "--overwrite"]) == 2  # passes the output check, then fails on the missing model/scores
    assert "already holds results" not in caplog.text


def test_check_output_refuses_files_for_folders_and_unwritable_places(tmp_path: Path, monkeypatch) -> None:
    check_output(tmp_path / "new" / "deeper")  # not there yet: fine
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty")  # an empty folder holds no results
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FileExistsError, match="is a file; the output must be a folder"):
        check_output(tmp_path / "file.txt", overwrite=True)
    with pytest.raises(FileExistsError, match="is a folder; the output must be a file"):
        check_output(tmp_path / "empty", folder=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))  # root ignores modes
    with pytest.raises(PermissionError, match=r"locked/out/deeper: cannot write under .*locked"):
        check_output(locked / "out" / "deeper")


def test_overwrite_replaces_a_results_folder_whole_and_refuses_a_folder_with_other_files(tmp_path: Path, caplog) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    (out / "model").mkdir()  # an earlier run's --save-model
    check_output(out, overwrite=True, owned=("metrics.json", "predictions.tsv", "model"))  # only its own results
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"also holds \['notes.txt'\].*choose another --out"):
        check_output(out, overwrite=True, owned=("metrics.json", "predictions.tsv", "model"))
    argv = _commands(tmp_path, out)["finetune"]
    assert main(["-q", *argv, "--overwrite"]) == 2 and "notes.txt" in caplog.text
    assert (out / "notes.txt").read_text() == "mine"


def test_a_rerun_with_overwrite_leaves_no_stale_result_of_the_earlier_run(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    fasta = tmp_path / "train.fa"
    fasta.write_text("".join(f">s{i} class:{i % 2}\n{''.join(rng.choice(list('ACGU'), 40))}\n" for i in range(40)))
    out = tmp_path / "run"
    base = ["-q", "finetune", "--train", str(fasta), "--test", str(fasta), "--out", str(out), "--scratch",
            "--size", "tiny", "--epochs", "1"]
    assert main([*base, "--save-model"]) == 0 and (out / "model").is_dir()
    assert main(base) == 2  # results there: refused
    assert main([*base, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "predictions.tsv"]  # the old model/ is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "train.fa"]  # no temporary folder left beside it
