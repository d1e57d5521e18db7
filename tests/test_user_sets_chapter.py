"""Chapters 03, 04 and 05 on folders of your own sets (the formats the command line reads), on the smoke profile."""

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


@pytest.mark.slow
def test_the_motif_and_m6a_chapters_run_on_folders_of_your_own_sets(tmp_path: Path) -> None:
    from utrbert.data.readers import read_mst_m6a

    demo = write_demo_data(tmp_path / "demo", seed=0, scale="smoke")
    clip = tmp_path / "my_clip_sets"
    for number, name in ((1, "lab_pum2"), (2, "lab_qki")):
        (clip / name).mkdir(parents=True)
        train, test = read_rbp31_split(demo / "rbp31", number, "train"), read_rbp31_split(demo / "rbp31", number, "test")
        (clip / name / "train.fa").write_text("".join(f">{r.id} class:{r.label}\n{r.sequence}\n" for r in train))
        (clip / name / "test.tsv").write_text("id\tsequence\tlabel\n" + "".join(f"{r.id}\t{r.sequence}\t{r.label}\n" for r in test))
    m6a, mst = tmp_path / "my_m6a_sets", demo / "m6a" / "mst_m6a"
    (m6a / "lab_a").mkdir(parents=True)
    (m6a / "lab_c").mkdir()
    # 121-nt windows (not MST-m6A's 201) around the candidate A: a train FASTA and a test table; one test-only set
    train, test = read_mst_m6a(mst, "DemoCellA", "train", 121), read_mst_m6a(mst, "DemoCellA", "test", 121)
    (m6a / "lab_a" / "train.fa").write_text("".join(f">{r.id} class:{r.label}\n{r.sequence}\n" for r in train))
    (m6a / "lab_a" / "test.tsv").write_text("id\tsequence\tlabel\n" + "".join(f"{r.id}\t{r.sequence}\t{r.label}\n" for r in test))
    only_test = read_mst_m6a(mst, "DemoCellC", "test", 121)
    (m6a / "lab_c" / "test.fa").write_text("".join(f">{r.id} class:{r.label}\n{r.sequence}\n" for r in only_test))
    out = tmp_path / "out"
    settings = {"04_motifs": {"sets_dir": str(clip), "set_rbps": {"lab_pum2": ["PUM2"]}},
                "05_m6a": {"sets_dir": str(m6a)}}
    written = run_chapters("smoke", out, only=["04_motifs", "05_m6a"], repo_root=REPO_ROOT, settings=settings)
    assert [p.stem for p in written] == ["02_pretraining", "04_motifs", "05_m6a"]
    results = out / "results"

    motifs = json.loads((results / "motifs_my_clip_sets.json").read_text())["values"]
    assert sorted(motifs["per_set"]) == ["lab_pum2", "lab_qki"] and motifs["pending_sets"] == []
    assert motifs["per_set"]["lab_pum2"]["rbps"] == ["PUM2"]  # given, not read from the name ("LAB")
    assert motifs["per_set"]["lab_qki"]["rbps"] == [] and motifs["per_set"]["lab_qki"]["rbps_in_database"] == []
    items = {p.stem: json.loads(p.read_text()) for p in (results / "motifs_my_clip_sets").glob("*.json")}
    assert sorted(items) == ["lab_pum2", "lab_qki"]
    assert items["lab_pum2"]["settings"]["rbps"] == ["PUM2"] and items["lab_qki"]["settings"]["rbps"] == []
    assert all(item["model_source"] == "fine-tuned by the motif run" for item in items.values())  # chapter 03 did not run
    page = (out / "04_motifs.ipynb").read_text()
    assert "No own-RBP check" in page and "lab_qki" in page
    assert "None of `logo_sets`" in page  # the profile's logo sets (1, 2) are RBP-31's: the folder's first sets instead

    summary = json.loads((results / "m6a_my_m6a_sets.json").read_text())["values"]
    assert sorted(summary["auroc"]) == ["lab_a", "lab_c"]
    assert summary["n_items"] == summary["n_items_expected"] == 3 * 4  # lab_a, and lab_c's 2 folds, 4 methods each
    assert sorted(summary["site_attention"]) == ["lab_a"]  # analysis_sets names no set of the folder: its train sets
    assert sorted(summary["stop_codon"]) == ["lab_a"]  # the whole 121-nt windows placed on DM3Loc's mRNAs
    assert summary["stop_codon"]["lab_a"]["n_sites"] == sum(r.label for r in train + test)
    assert json.loads((results / "m6a_my_m6a_sets" / "protocol.json").read_text())["n_folds"] == 2
    m6a_items = sorted(p.relative_to(results / "m6a_my_m6a_sets").as_posix()
                       for p in (results / "m6a_my_m6a_sets").rglob("*.json") if p.name != "protocol.json")
    methods = ["cnn", "kmer_lr", "pretrained", "scratch"]
    assert m6a_items == [f"{split}/{method}.json" for split in ("lab_a", "lab_c_fold0", "lab_c_fold1") for method in methods]

    benchmark = ["motifs.json", "motifs", "rbp.json", "rbp31", "m6a.json", "m6a"]
    assert not [name for name in benchmark if (results / name).exists()]  # nothing mixed with the benchmarks' files
