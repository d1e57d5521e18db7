"""Tests of ``python -m utrbert pretrain`` and the recipe behind it, on small generated 3'UTRs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from utrbert.__main__ import main
from utrbert.models.model import load_model
from utrbert.models.pretraining import latest_checkpoint
from utrbert.models.pretraining_recipe import PretrainingRecipe, fasta_utr_records, run_pretraining


def _args(fasta: Path, out: Path, *extra: str) -> list[str]:
    return ["-q", "pretrain", "--corpus", str(fasta), "--out", str(out), "--size", "tiny", "--batch-size", "8",
            "--precision", "fp32", *extra]  # fmt: skip


def test_interrupted_cli_run_resumes_to_the_same_weights(utr_fasta: Path, tmp_path: Path, capsys) -> None:
    fasta = utr_fasta
    assert main(_args(fasta, tmp_path / "straight", "--steps", "10", "--export", str(tmp_path / "exported"))) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 10
    # the same run stopped by its time budget after one step, then the same command again
    assert main(_args(fasta, tmp_path / "split", "--steps", "10", "--max-minutes", "1e-9")) == 0
    assert latest_checkpoint(tmp_path / "split").name == "checkpoint-1"
    assert main(_args(fasta, tmp_path / "split", "--steps", "10")) == 0
    a = load_model(latest_checkpoint(tmp_path / "straight"))[0].state_dict()
    b = load_model(latest_checkpoint(tmp_path / "split"))[0].state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    card = json.loads((tmp_path / "exported" / "model_card.json").read_text())
    assert card["run_step"] == 10 and card["tokens_seen"] > 0 and card["recipe"]["size"] == "tiny"


def test_other_settings_into_the_same_run_are_refused(utr_fasta: Path, tmp_path: Path, caplog) -> None:
    fasta = utr_fasta
    assert main(_args(fasta, tmp_path / "run", "--steps", "4", "--max-minutes", "1e-9")) == 0
    assert main(_args(fasta, tmp_path / "run", "--steps", "4", "--seed", "3")) == 2
    assert "recipe.seed: 0 then, 3 now" in caplog.text


def test_a_run_may_change_device_between_executions(utr_fasta: Path, tmp_path: Path) -> None:
    """The device describes an execution, not the run: a plan that differs only in it continues the run."""
    records = fasta_utr_records([utr_fasta])
    recipe = PretrainingRecipe(size="tiny", batch_size=8, precision="fp32", checkpoint_every=100)
    first = run_pretraining(records, tmp_path / "run", recipe, steps=4, max_minutes=1e-9, progress=False)
    assert first["steps_done"] == 1 and not first["finished"]
    plan = json.loads((tmp_path / "run" / "run.json").read_text())
    plan["recipe"]["device"] = "cuda"  # as if the first execution had run on a GPU
    (tmp_path / "run" / "run.json").write_text(json.dumps(plan))
    second = run_pretraining(records, tmp_path / "run", recipe, steps=4, progress=False)
    assert second["finished"] and second["steps_done"] == 4
    assert [(e["from_step"], e["to_step"]) for e in second["plan"]["executions"]] == [(0, 1), (1, 4)]
    with pytest.raises(ValueError, match="recipe.peak_lr"):
        run_pretraining(records, tmp_path / "run", PretrainingRecipe(size="tiny", batch_size=8, precision="fp32",
                                                                     peak_lr=1e-3), steps=4, progress=False)


def test_continuing_from_a_checkpoint_counts_its_tokens_and_keeps_ladder_steps(utr_fasta: Path, tmp_path: Path) -> None:
    records = fasta_utr_records([utr_fasta])
    recipe = PretrainingRecipe(size="tiny", batch_size=8, precision="fp32", checkpoint_every=100)
    first = run_pretraining(records, tmp_path / "first", recipe, steps=3, progress=False)
    from utrbert.models.pretraining_recipe import export_run_checkpoint

    exported = export_run_checkpoint(tmp_path / "first", 3, tmp_path / "first-export", {})
    seen = json.loads((exported / "model_card.json").read_text())["tokens_seen"]
    assert seen == pytest.approx(first["tokens_seen"], rel=0.1)
    per_step = first["plan"]["tokens_per_step"]
    second = run_pretraining(records, tmp_path / "second", recipe, tokens=6 * per_step, init_from=exported,
                             ladder_tokens=[seen + 2.5 * per_step, seen / 2], progress=False)  # fmt: skip
    assert second["plan"]["init_tokens_seen"] == seen
    assert second["plan"]["ladder_steps"] == [3]  # the budget below the start is dropped
    assert second["plan"]["max_steps"] == 6 and second["finished"]
    assert (tmp_path / "second" / "checkpoint-3").is_dir()  # kept although keep_checkpoints=2 pruned others
    assert second["tokens_seen"] > seen


def test_bad_corpus_is_refused_with_the_record_named(tmp_path: Path, caplog) -> None:
    bad = tmp_path / "bad.fa"
    bad.write_text(">ok\nACGUACGUACGU\n>broken\nACGXXACGU\n", encoding="utf-8")
    assert main(_args(bad, tmp_path / "run", "--steps", "2")) == 2
    assert "broken" in caplog.text
    duplicate = tmp_path / "dup.fa"
    duplicate.write_text(">a\nACGUACGUACGU\n>a\nACGUACGU\n", encoding="utf-8")
    assert main(_args(duplicate, tmp_path / "run2", "--steps", "2")) == 2
    assert "record 'a': duplicate id" in caplog.text


def test_a_saved_run_state_continues_in_another_folder_to_the_same_weights(utr_fasta: Path, tmp_path: Path) -> None:
    from utrbert.models.pretraining_recipe import restore_run_state, save_run_state

    records = fasta_utr_records([utr_fasta])
    recipe = PretrainingRecipe(size="tiny", batch_size=8, precision="fp32", checkpoint_every=3)
    straight = run_pretraining(records, tmp_path / "straight", recipe, steps=8, progress=False)
    # session 1: stopped after its first checkpoint; its state is saved (committed) and the machine is gone
    first = run_pretraining(records, tmp_path / "session1", recipe, steps=8, max_minutes=1e-9, progress=False)
    assert not first["finished"]
    saved = save_run_state(tmp_path / "session1", tmp_path / "state")
    assert saved.name == "checkpoint-1"
    assert {"checkpoint-1", "run.json"} <= {p.name for p in (tmp_path / "state").iterdir()}
    # session 2, elsewhere: restore, continue
    assert restore_run_state(tmp_path / "state", tmp_path / "session2").name == "checkpoint-1"
    assert restore_run_state(tmp_path / "state", tmp_path / "session2") is None  # already there
    second = run_pretraining(records, tmp_path / "session2", recipe, steps=8, progress=False)
    assert second["finished"] and second["steps_done"] == straight["steps_done"] == 8
    # the plan keeps the first execution's start and lists which execution trained which steps
    assert second["plan"]["started"]["date"] == first["plan"]["started"]["date"]
    assert [(e["from_step"], e["to_step"]) for e in second["plan"]["executions"]] == [(0, 1), (1, 8)]
    a = load_model(latest_checkpoint(tmp_path / "straight"))[0].state_dict()
    b = load_model(latest_checkpoint(tmp_path / "session2"))[0].state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    # a state of another run is refused
    other = PretrainingRecipe(size="tiny", batch_size=8, precision="fp32", checkpoint_every=3, seed=5)
    run_pretraining(records, tmp_path / "other", other, steps=8, max_minutes=1e-9, progress=False)
    save_run_state(tmp_path / "other", tmp_path / "other-state")
    (tmp_path / "session3").mkdir()
    import shutil

    shutil.copy2(tmp_path / "state" / "run.json", tmp_path / "session3" / "run.json")
    with pytest.raises(ValueError, match="recipe.seed"):
        restore_run_state(tmp_path / "other-state", tmp_path / "session3")
