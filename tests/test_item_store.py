"""The resumable item store (utrbert.runs.store) and the one-step adoption of a new reference checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from utrbert.__main__ import main
from utrbert.models.model import build_config, build_model, checkpoint_identity
from utrbert.runs.adoption import adopt_checkpoint
from utrbert.runs.benchmark import attention_path
from utrbert.runs.store import ItemStore, MixedSettingsError, atomic_write_json, file_identity, settings_digest
from utrbert.tokens.tokenization import KmerTokenizer


def test_store_skips_present_items_refuses_other_settings_and_reports_corrupt_files(tmp_path: Path) -> None:
    store = ItemStore(tmp_path / "items", "test item")
    fingerprint = settings_digest({"seed": 0})
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"fingerprint": fingerprint, "value": 0.5}

    first, computed = store.get_or_compute("set_a/cnn", fingerprint, compute)
    again, computed_again = store.get_or_compute("set_a/cnn", fingerprint, compute)
    assert (computed, computed_again, len(calls)) == (True, False, 1) and first == again == {"fingerprint": fingerprint, "value": 0.5}
    assert list(store.keys()) == ["set_a/cnn"] and store.path("set_a/cnn") == tmp_path / "items" / "set_a" / "cnn.json"
    with pytest.raises(MixedSettingsError, match=r"cnn\.json was computed with other settings"):
        store.read("set_a/cnn", settings_digest({"seed": 1}))
    store.path("set_b/cnn").parent.mkdir()
    store.path("set_b/cnn").write_text("{half an ite")
    with pytest.raises(ValueError, match=r"set_b/cnn\.json: corrupt test item file"):
        store.read("set_b/cnn", fingerprint)
    with pytest.raises(ValueError, match="no 'fingerprint'"):
        store.write("set_c/cnn", {"value": 1})
    with pytest.raises(ValueError, match="inside the store"):
        store.path("../elsewhere")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "item.json"
    atomic_write_json(path, {"fingerprint": "a"})
    with pytest.raises(ValueError):  # NaN is not JSON: the write fails before anything replaces the file
        atomic_write_json(path, {"fingerprint": "b", "auroc": float("nan")})
    assert json.loads(path.read_text()) == {"fingerprint": "a"}
    assert sorted(os.listdir(tmp_path)) == ["item.json"]  # no temporary file left behind


def test_files_enter_settings_by_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "db.meme").write_text("MEME version 4\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "db.meme").write_text("MEME version 4\n")
    assert file_identity(tmp_path / "a" / "db.meme") == file_identity(tmp_path / "b" / "db.meme")
    (tmp_path / "b" / "db.meme").write_text("MEME version 5\n")
    assert file_identity(tmp_path / "a" / "db.meme") != file_identity(tmp_path / "b" / "db.meme")
    with pytest.raises(FileNotFoundError, match="missing.meme"):
        file_identity(tmp_path / "missing.meme")


def _checkpoint(path: Path, seed: int) -> dict:
    build_model(build_config("tiny", k=3), task="mlm", seed=seed).save_pretrained(path)
    KmerTokenizer(k=3).save_pretrained(path)
    return checkpoint_identity(path)


def _item(store: ItemStore, key: str, checkpoint: dict, auroc: float) -> dict:
    settings = {"max_train": 200, "seed": 0, "pretrained": checkpoint}
    return store.write(key, {"set": key.split("/")[0], "method": key.split("/")[1], "settings": settings,
                             "fingerprint": settings_digest(settings), "metrics": {"auroc": auroc}})


def test_adopting_a_checkpoint_moves_staged_items_clears_old_ones_and_their_dependents(tmp_path: Path) -> None:
    old, new = _checkpoint(tmp_path / "old", 0), _checkpoint(tmp_path / "new", 1)
    results, staged = tmp_path / "results" / "rbp31", tmp_path / "results" / "rbp31_staged"
    chapter, stage = ItemStore(results), ItemStore(staged)
    old_a = _item(chapter, "A/pretrained", old, 0.6)
    _item(chapter, "B/pretrained", old, 0.7)
    baseline = _item(chapter, "A/cnn", old, 0.5)  # another method: not touched
    new_a = _item(stage, "A/pretrained", new, 0.8)
    for directory, name in ((results, "A"), (results, "B"), (staged, "A")):
        attention_path(directory, name).parent.mkdir(parents=True, exist_ok=True)
        attention_path(directory, name).write_text(f"attention of {directory.name}")
    motifs = ItemStore(tmp_path / "results" / "motifs")
    motifs.write("A", {"fingerprint": "m", "settings": {"model": old_a["fingerprint"]}})
    motifs.write("C", {"fingerprint": "m", "settings": {"model": "unrelated"}})

    args = ["-q", "adopt-checkpoint", "--results", str(results), "--checkpoint", str(tmp_path / "new"), "--staged",
            str(staged), "--dependent", str(tmp_path / "results" / "motifs")]
    assert main([*args, "--dry-run"]) == 0
    assert chapter.load("A/pretrained") == old_a and stage.load("A/pretrained") == new_a  # nothing changed

    assert main(args) == 0
    assert chapter.load("A/pretrained") == new_a and stage.load("A/pretrained") is None
    assert chapter.load("B/pretrained") is None and chapter.load("A/cnn") == baseline
    assert attention_path(results, "A").read_text() == "attention of rbp31_staged"
    assert not attention_path(results, "B").exists() and not attention_path(staged, "A").exists()
    assert list(motifs.keys()) == ["C"]
    again = adopt_checkpoint(results, tmp_path / "new", staged)
    assert again.kept == ["A/pretrained"] and again.moved == again.removed == []


def test_a_staged_item_of_another_checkpoint_is_refused(tmp_path: Path) -> None:
    old, _ = _checkpoint(tmp_path / "old", 0), _checkpoint(tmp_path / "new", 1)
    _item(ItemStore(tmp_path / "staged"), "A/pretrained", old, 0.6)
    with pytest.raises(ValueError, match="cannot be adopted"):
        adopt_checkpoint(tmp_path / "results", tmp_path / "new", tmp_path / "staged")


def test_atomic_writes_get_the_ordinary_file_mode(tmp_path) -> None:
    import os
    import stat

    from utrbert.runs.store import atomic_write_json

    mask = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "item.json", {"a": 1})
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "item.json").stat().st_mode) == 0o644  # readable by others, like open() gives


def test_an_atomic_directory_replaces_a_folder_whole_or_leaves_it_alone(tmp_path) -> None:
    import pytest

    from utrbert.runs.store import atomic_directory, atomic_write_table

    target = tmp_path / "checkpoint"
    with atomic_directory(target) as building:
        (building / "weights").write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as building:
            (building / "weights").write_text("half")
            raise RuntimeError("killed while writing")
    assert (target / "weights").read_text() == "first"
    with atomic_directory(target) as building:
        (building / "weights").write_text("second")
    assert [p.name for p in target.iterdir()] == ["weights"] and (target / "weights").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]  # nothing left beside it

    import gzip

    import pandas as pd

    atomic_write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv.gz", sep="\t", index=False)
    assert gzip.decompress((tmp_path / "t.tsv.gz").read_bytes()).decode() == "a\n1\n"
