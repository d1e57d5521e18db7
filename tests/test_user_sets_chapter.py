"""Chapter 03 on a folder of your own sets (the formats the command line reads), on the smoke profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from utrbert.book.runner import run_chapters
from utrbert.data.readers import read_rbp31_split
from utrbert.data.synthetic import write_demo_data

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_rbp_chapter_benchmarks_a_folder_of_your_own_sets(tmp_path: Path) -> None:
    demo = write_demo_data(tmp_path / "demo", seed=0, scale="smoke") / "rbp31"
    mine = tmp_path / "my_clip_sets"
    for number, name in ((1, "lab_pum2"), (2, "lab_qki")):  # the demo sets, rewritten as a user would have them
        (mine / name).mkdir(parents=True)
        train, test = read_rbp31_split(demo, number, "train"), read_rbp31_split(demo, number, "test")
        (mine / name / "train.fa").write_text("".join(f">{r.id} class:{r.label}\n{r.sequence}\n" for r in train))
        (mine / name / "test.tsv").write_text("id\tsequence\tlabel\n" + "".join(f"{r.id}\t{r.sequence}\t{r.label}\n" for r in test))
    out = tmp_path / "out"
    settings = {"03_rbp_binding": {"sets_dir": str(mine), "landscape_sets": ["lab_qki"], "embedding_sets": []}}
    written = run_chapters("smoke", out, only=["03_rbp_binding"], repo_root=REPO_ROOT, settings=settings)
    assert [p.stem for p in written] == ["02_pretraining", "03_rbp_binding"]  # the checkpoint it needs, then it
    summary = json.loads((out / "results" / "rbp_my_clip_sets.json").read_text())["values"]
    assert sorted(summary["per_set"]) == ["lab_pum2", "lab_qki"] and summary["complete_sets"] == 2
    items = sorted(p.relative_to(out / "results" / "my_clip_sets").as_posix()
                   for p in (out / "results" / "my_clip_sets").rglob("*.json"))
    methods = ["cnn", "kmer_lr", "pretrained", "scratch"]
    assert items == [f"{name}/{method}.json" for name in ("lab_pum2", "lab_qki") for method in methods]
    assert not (out / "results" / "rbp.json").exists() and not (out / "results" / "rbp31").exists()
