"""The per-set motif runner on generated RBP-31 data, RBP names of the real sets, and profile consistency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import utrbert.chapters.motifs as rbp_motifs
from utrbert.book.runner import load_profile
from utrbert.models.finetuning import FinetuneConfig
from utrbert.motifs.meme import database_identity, read_meme
from utrbert.runs.store import MixedSettingsError
from utrbert.models.model import build_config, build_model
from utrbert.motifs.discovery import MotifSettings
from utrbert.motifs.pwm import Pwm
from utrbert.interpret.attention import cls_attention
from utrbert.models.model import load_model
from utrbert.chapters.rbp_binding import load_set_splits, run_benchmark
from utrbert.runs.benchmark import BenchmarkSettings, attention_path, fine_tuned_model_path
from utrbert.interpret.score_files import read_scores
from utrbert.chapters.motifs import (
    MotifRunSettings,
    motif_item_path,
    motif_summary_table,
    pwm_from_record,
    rbps_of_set,
    run_motif_item,
    run_motif_sets,
)
from utrbert.data.readers import list_rbp31_sets
from utrbert.data.synthetic import write_demo_data
from utrbert.tokens.tokenization import KmerTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("motifs")
    data = write_demo_data(root / "data", seed=0, scale="smoke")
    checkpoint = root / "ckpt"
    build_model(build_config("tiny", k=3), task="mlm", seed=0).save_pretrained(checkpoint)
    KmerTokenizer(k=3).save_pretrained(checkpoint)
    settings = BenchmarkSettings(max_train=200, seed=0, bert_size="tiny", pretrained=str(checkpoint),
                                 finetune=FinetuneConfig(epochs=1, batch_size=32, peak_lr=1e-3, evals_per_epoch=1))
    rng = np.random.default_rng(0)
    database = read_meme(data / "motifs/attract_meme/ATtRACT/Homo_sapiens.meme")
    database += [Pwm(f"decoy{i}", rng.dirichlet(np.full(4, 0.5), size=8), alt_name=f"DECOY{i}:x:{i}") for i in range(40)]
    return {"root": root, "rbp31": data / "rbp31", "settings": settings, "database": database,
            "names": list_rbp31_sets(data / "rbp31")}


def test_set_runs_reuse_the_benchmark_classifier_write_json_and_resume(demo, monkeypatch) -> None:
    names, art, results = demo["names"], demo["root"] / "art", demo["root"] / "motifs"
    run_benchmark(demo["rbp31"], demo["settings"], demo["root"] / "bench", sets=names[:1], methods=["pretrained"],
                  artifacts_dir=art, progress=False)
    assert (fine_tuned_model_path(art, names[0], "pretrained") / "model_card.json").is_file()
    settings = MotifRunSettings(motifs=MotifSettings(p_adjusted=0.05, ties="best"), match_q=0.5)
    records = run_motif_sets(demo["rbp31"], names, demo["settings"], settings, demo["database"], results, art,
                             run_label="first", benchmark_results_dir=demo["root"] / "bench")
    assert [r["set"] for r in records] == names
    first = {r["set"]: r for r in records}
    # the benchmark's pretrained item wrote its test positives' attention: no model needed
    assert first[names[0]]["model_source"] == "attention saved by the RBP benchmark"
    assert first[names[1]]["model_source"] == "fine-tuned by the motif run"
    saved = read_scores(attention_path(demo["root"] / "bench", names[0]))
    classifier, tokenizer = load_model(fine_tuned_model_path(art, names[0], "pretrained"), task="classification")
    positives = [r for r in load_set_splits(demo["rbp31"], names[0], demo["settings"]).test if r.label == 1]
    again = cls_attention(classifier, tokenizer.encode_corpus([r.sequence for r in positives], ids=[r.id for r in positives]),
                          progress=False).nucleotide_score_map()
    assert list(saved) == [r.id for r in positives]
    assert all(np.allclose(saved[i], again[i], atol=5e-3) for i in saved)  # float16 file, fp16-saved weights
    assert (fine_tuned_model_path(art, names[1], "pretrained") / "model_card.json").is_file()
    for record in records:
        assert record["rbps"] == list(rbps_of_set(record["set"]))
        assert record["counts"]["n_positive"] == 20 and record["counts"]["n_negative"] == 80
        assert record["attention"]["n_positive_scored"] == 20
        heads = np.array(record["attention"]["head_normalized_entropy"])  # tiny model: 2 layers x 2 heads
        assert heads.shape == (2, 2) and ((heads > 0) & (heads <= 1 + 1e-6)).all()
        for entry in record["motifs"]:
            assert pwm_from_record(entry).width >= 4 and entry["instances"] >= 3 and entry["p_adjusted"] < 0.05
        on_disk = json.loads(motif_item_path(results, record["set"]).read_text())
        assert on_disk["fingerprint"] == record["fingerprint"]
    # the demo database names the sets' own RBPs (PUM2, ELAVL1)
    assert all(r["rbps_in_database"] for r in records)
    table = motif_summary_table(records)
    assert list(table.index) == names and set(table.columns) >= {"motifs", "matched", "own RBP recovered"}
    for record in records:  # the loose criterion: some motif's best match is the set's own RBP, any q
        expected = any(m["best_match_rbp"] in record["rbps"] for m in record["motifs"])
        assert table.loc[record["set"], "own RBP best match"] == expected
        assert not record["own_rbp_recovered"] or expected or any(m["own_rbp_match"] for m in record["motifs"])

    def fail(*args, **kwargs):
        raise AssertionError("a finished set was recomputed")

    monkeypatch.setattr(rbp_motifs, "run_motif_item", fail)
    again = run_motif_sets(demo["rbp31"], names, demo["settings"], settings, demo["database"], results, art)
    assert [r["fingerprint"] for r in again] == [r["fingerprint"] for r in records]


def test_other_settings_refuse_to_mix_with_existing_results(demo) -> None:
    names, results = demo["names"], demo["root"] / "mixed"
    first = MotifRunSettings(motifs=MotifSettings(p_adjusted=0.05), match_q=0.5)
    run_motif_item(demo["rbp31"], names[0], demo["settings"], first, demo["database"], results, demo["root"] / "art")
    other = MotifRunSettings(motifs=MotifSettings(p_adjusted=0.01), match_q=0.5)
    with pytest.raises(ValueError, match="other settings"):
        run_motif_item(demo["rbp31"], names[0], demo["settings"], other, demo["database"], results, demo["root"] / "art")


def test_given_rbps_replace_the_name_and_enter_the_fingerprint(demo) -> None:
    names, results, settings = demo["names"], demo["root"] / "given", MotifRunSettings(match_q=0.5)
    by_name = rbp_motifs.motif_fingerprint_fields(demo["settings"], settings, demo["database"])
    assert "rbps" not in by_name  # RBP-31 items keep their fingerprints
    record = run_motif_item(demo["rbp31"], names[0], demo["settings"], settings, demo["database"], results,
                            demo["root"] / "art", rbps=("ELAVL1",))
    assert record["rbps"] == ["ELAVL1"] != list(rbps_of_set(names[0])) and record["settings"]["rbps"] == ["ELAVL1"]
    assert record["rbps_in_database"] == ["ELAVL1"] and record["own_rbp_check"]
    with pytest.raises(ValueError, match="other settings"):  # the name's RBP is another setting: never mixed
        run_motif_sets(demo["rbp31"], names[:1], demo["settings"], settings, demo["database"], results)
    none = run_motif_sets(demo["rbp31"], names[:1], demo["settings"], settings, demo["database"], demo["root"] / "none",
                          demo["root"] / "art", set_rbps={names[0]: ()})[0]
    assert none["rbps"] == [] and none["rbps_in_database"] == [] and not none["own_rbp_check"]
    assert not none["own_rbp_recovered"] and motif_summary_table([none]).loc[names[0], "RBP"] == "not given"


def test_own_sets_get_rbps_only_when_given_and_figures_name_them(tmp_path: Path) -> None:
    assert rbp_motifs.rbps_for_sets(["lab_pum2", "lab_qki"], {"lab_pum2": ["pum2"]}, own_sets=True) == {
        "lab_pum2": ("PUM2",), "lab_qki": ()}
    assert rbp_motifs.rbps_for_sets(["23_PARCLIP_PUM2_hg19"], None, own_sets=False) == {}
    assert rbp_motifs.set_label("23_PARCLIP_PUM2_hg19") == "PUM2"
    assert rbp_motifs.set_label("23_PARCLIP_PUM2_hg19", number=True) == "23_PUM2"
    assert rbp_motifs.set_label("lab_pum2") == rbp_motifs.set_label("lab_pum2", number=True) == "lab_pum2"
    for name in ("lab_a", "lab_b", "lab_c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.fa").write_text(">a class:1\nACGU\n")
        (tmp_path / name / "test.fa").write_text(">b class:0\nACGU\n")
    assert rbp_motifs.choose_logo_sets(tmp_path, ["lab_b", 23], ["lab_a", "lab_b"], own_sets=True) == (["lab_b"], "")
    shown, note = rbp_motifs.choose_logo_sets(tmp_path, [23, 24], ["lab_a", "lab_c"], own_sets=True, fallback=1)
    assert shown == ["lab_a"] and "first 1 sets" in note
    with pytest.raises(KeyError):  # RBP-31: a logo set that does not exist is an error, as before
        rbp_motifs.choose_logo_sets(tmp_path, [23], ["lab_a"], own_sets=False)


@pytest.mark.realdata
def test_every_real_rbp31_set_names_its_rbps(real_data_dir) -> None:
    database = {m.alt_name.split(":")[0] for m in read_meme(real_data_dir / "motifs/attract_meme/ATtRACT/Homo_sapiens.meme")}
    names = list_rbp31_sets(real_data_dir / "rbp31")
    genes = {name.split("_")[0]: rbps_of_set(name) for name in names}
    assert len(genes) == 31
    assert genes["23"] == ("PUM2",) and genes["24"] == ("QKI",) and genes["27"] == ("TARDBP",)
    assert genes["3"] == genes["4"] == genes["5"] == ("AGO2",) and genes["6"] == genes["7"] == ("EIF4A3",)
    assert genes["30"] == ("U2AF2",) and genes["25"] == ("SRSF1",) and genes["16"] == genes["17"] == ("HNRNPC",)
    in_db = {n for n, g in genes.items() if set(g) & database}
    # ATtRACT has no motif for MOV10, NSUN2, EWSR1 or TAF15
    assert {"21", "22", "12", "26"}.isdisjoint(in_db) and {"23", "24", "27", "8", "17", "28"} <= in_db


def _effective_parameters(stem: str, profile: dict, out: Path) -> dict:
    """The values a chapter runs with: its parameters cell's defaults, updated with the profile's."""
    import nbformat

    from utrbert.book.runner import declared_parameters, resolve_parameters

    template = REPO_ROOT / "notebooks" / f"{stem}.ipynb"
    cell = next(c for c in nbformat.read(template, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(cell.source, {}, values)  # plain assignments (checked by the book runner)
    values.update(resolve_parameters(profile, stem, declared_parameters(template), repo_root=REPO_ROOT, output_dir=out))
    return values


@pytest.mark.parametrize("profile", ["cpu", "smoke", "gpu", "gpu-smoke", "gpu-short"])
def test_the_motif_chapter_fine_tunes_exactly_as_the_rbp_chapter(profile: str, tmp_path: Path, monkeypatch) -> None:
    """The motif chapter reuses the RBP chapter's classifiers only if both fine-tune with the same settings."""
    monkeypatch.setenv("UTRBERT_DATA", str(tmp_path))  # real profiles resolve the data directory; none is read
    loaded = load_profile(profile, REPO_ROOT / "profiles")
    rbp = _effective_parameters("03_rbp_binding", loaded, tmp_path)
    motifs = _effective_parameters("04_motifs", loaded, tmp_path)
    shared = ["pretrained_dir", "bert_size", "k", "max_train", "max_test", "valid_fraction", "epochs", "batch_size",
              "peak_lr", "precision", "seed", "artifacts_dir", "device"]
    assert {name: motifs[name] for name in shared} == {name: rbp[name] for name in shared}


@pytest.mark.parametrize("profile", ["cpu", "smoke", "gpu", "gpu-smoke", "gpu-short"])
def test_the_representations_chapter_analyses_the_rbp_chapters_classifier(profile: str, tmp_path: Path, monkeypatch) -> None:
    """07_representations reuses the RBP chapter's fine-tuned classifier only if it fine-tunes with the same settings."""
    monkeypatch.setenv("UTRBERT_DATA", str(tmp_path))
    loaded = load_profile(profile, REPO_ROOT / "profiles")
    rbp = _effective_parameters("03_rbp_binding", loaded, tmp_path)
    chapter = _effective_parameters("07_representations", loaded, tmp_path)
    shared = ["pretrained_dir", "bert_size", "k", "max_train", "max_test", "valid_fraction", "epochs", "batch_size",
              "peak_lr", "precision", "seed", "device"]
    assert {name: chapter[name] for name in shared} == {name: rbp[name] for name in shared}
    # the classifier and the benchmark item it is compared with come from one benchmark run: the RBP chapter's
    # own, or a staged run (another results folder) whose focus item carries exactly these settings
    results = Path(chapter["rbp_results_dir"] or f"{chapter['results_dir']}/rbp31")
    artifacts = Path(chapter["rbp_artifacts_dir"])
    assert artifacts.name == results.name
    if artifacts == Path(rbp["artifacts_dir"]):
        assert results == Path(rbp["results_dir"]) / "rbp31"
    else:
        from utrbert.runs.benchmark import settings_fingerprint

        items = sorted(results.glob(f"{chapter['focus_set']}_*/pretrained.json"))
        assert len(items) == 1, f"the staged run has no item for set {chapter['focus_set']} in {results}"
        settings = BenchmarkSettings(
            max_train=chapter["max_train"], max_test=chapter["max_test"], valid_fraction=chapter["valid_fraction"],
            seed=chapter["seed"], bert_size=chapter["bert_size"], k=chapter["k"], pretrained=chapter["pretrained_dir"],
            finetune=FinetuneConfig(epochs=chapter["epochs"], batch_size=chapter["batch_size"], peak_lr=chapter["peak_lr"],
                                    seed=chapter["seed"], precision=chapter["precision"]),
        )
        assert json.loads(items[0].read_text())["fingerprint"] == settings_fingerprint(settings, "pretrained")


def test_rerun_with_another_database_or_threshold_refuses_the_old_results(demo) -> None:
    """The motif chapter rerun into the same folder with another database and threshold must never hand back
    the first run's per-set results (it did: per-set files were read without a fingerprint check)."""
    names, results, art = demo["names"][:1], demo["root"] / "rerun", demo["root"] / "art"
    first_settings = MotifRunSettings(motifs=MotifSettings(p_adjusted=0.05), match_q=0.5, database="demo + decoys")
    first = run_motif_sets(demo["rbp31"], names, demo["settings"], first_settings, demo["database"], results, art)
    assert first[0]["settings"]["motif"]["match_q"] == 0.5

    smaller = demo["database"][:-10]  # another database: the same file name would not help, its content differs
    stricter = MotifRunSettings(motifs=MotifSettings(p_adjusted=0.05), match_q=0.05, database="demo + decoys")
    for settings, database in ((stricter, smaller), (first_settings, smaller), (stricter, demo["database"])):
        with pytest.raises(MixedSettingsError, match="other settings") as error:
            run_motif_sets(demo["rbp31"], names, demo["settings"], settings, database, results, art)
        assert str(motif_item_path(results, names[0])) in str(error.value)
    # the same settings again: the stored result; the new settings into a fresh folder: new results
    assert run_motif_sets(demo["rbp31"], names, demo["settings"], first_settings, demo["database"], results, art) == first
    fresh = run_motif_sets(demo["rbp31"], names, demo["settings"], stricter, smaller, demo["root"] / "rerun2", art)
    assert fresh[0]["settings"]["motif"]["match_q"] == 0.05
    assert fresh[0]["settings"]["motif"]["database"] == database_identity(smaller) != database_identity(demo["database"])
    assert fresh[0]["fingerprint"] != first[0]["fingerprint"]


def test_migration_names_the_database_by_content_and_keeps_everything_else(demo, tmp_path: Path) -> None:
    """Items written before database fingerprints were content-based are migrated explicitly, not invalidated."""
    from utrbert.chapters.motifs import migrate_motif_database_field
    from utrbert.runs.store import settings_digest

    names, art = demo["names"][:1], demo["root"] / "art"
    settings = MotifRunSettings(motifs=MotifSettings(p_adjusted=0.05), match_q=0.5, database="motifs/demo.meme")
    [new] = run_motif_sets(demo["rbp31"], names, demo["settings"], settings, demo["database"], tmp_path / "new", art)
    old_settings = {**new["settings"], "motif": {**new["settings"]["motif"], "database": "motifs/demo.meme"}}
    old = {key: value for key, value in new.items() if key != "database"}
    old.update(settings=old_settings, fingerprint=settings_digest(old_settings))  # as the old code wrote it
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    motif_item_path(legacy, names[0]).write_text(json.dumps(old))
    with pytest.raises(MixedSettingsError):
        run_motif_sets(demo["rbp31"], names, demo["settings"], settings, demo["database"], legacy, art)
    with pytest.raises(ValueError, match="not 'motifs/other.meme'"):
        migrate_motif_database_field(legacy, "motifs/other.meme", demo["database"])
    assert migrate_motif_database_field(legacy, "motifs/demo.meme", demo["database"], dry_run=True) == names
    assert json.loads(motif_item_path(legacy, names[0]).read_text()) == old  # a dry run writes nothing
    assert migrate_motif_database_field(legacy, "motifs/demo.meme", demo["database"]) == names
    assert migrate_motif_database_field(legacy, "motifs/demo.meme", demo["database"]) == []  # already migrated
    migrated = run_motif_sets(demo["rbp31"], names, demo["settings"], settings, demo["database"], legacy, art)
    assert migrated[0]["fingerprint"] == new["fingerprint"] and migrated[0]["motifs"] == new["motifs"]
