"""The papermill runner (utrbert.book.runner) on throwaway notebooks in a throwaway repository."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import utrbert.book.runner as book
from utrbert.book.staleness import HASH_KEY, code_hash, stale_reason
from utrbert.__main__ import main
from utrbert.book.runner import (
    BookError,
    ChapterExecutionError,
    ProfileError,
    chapters_from_toc,
    declared_parameters,
    load_profile,
    run_chapters,
)

# A chapter that records the parameters it received, its working directory and its interpreter.
RECORDER = """
import json, os, pathlib, sys
record = {"seed": seed, "profile": profile, "cwd": os.getcwd(), "python": sys.executable}
pathlib.Path(out_file).write_text(json.dumps(record))
with open(log_file, "a") as fh:
    fh.write(stem + "\\n")
"""


def _notebook(stem: str, parameters: str, body: str) -> nbformat.NotebookNode:
    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    return new_notebook(cells=[new_markdown_cell(f"# {stem}"), params, new_code_cell(body)])


def _repo(tmp_path: Path, notebooks: dict[str, str | None], order: list[str]) -> Path:
    """Write a repo with ``_toc.yml`` listing ``order`` and one recorder notebook per name in ``notebooks``.

    A value of None gives the recorder body; a string replaces the body.
    """
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    toc = {
        "format": "jb-book",
        "root": "book/intro",
        "parts": [{"caption": "P", "chapters": [{"file": f"book/{s}"} for s in order]}],
    }
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    for stem, body in notebooks.items():
        params = f"seed = 0\nprofile = 'none'\nout_file = ''\nlog_file = ''\nstem = {stem!r}\n"
        nbformat.write(_notebook(stem, params, RECORDER if body is None else body), root / "notebooks" / f"{stem}.ipynb")
    return root


def _mark_run_last(template: Path) -> None:
    """Mark a template as a summary page, executed after the other chapters."""
    nb = nbformat.read(template, as_version=4)
    nb.metadata["utrbert"] = {"run_last": True}
    nbformat.write(nb, template)


def _profile(tmp_path: Path, name: str = "trial", notebooks: dict | None = None, **defaults: object) -> dict:
    return {
        "profile": name,
        "description": "test profile",
        "defaults": {"seed": 7, "log_file": str(tmp_path / "log.txt"), **defaults},
        "notebooks": notebooks or {},
        "cell_timeout": 120,
    }


def _overrides(tmp_path: Path, *stems: str) -> dict:
    return {s: {"out_file": str(tmp_path / f"{s}.json")} for s in stems}


# ------------------------------------------------------------------------------------------- pure parts


def test_chapters_from_toc_follows_document_order_and_skips_root_and_markdown(tmp_path: Path) -> None:
    toc = {
        "format": "jb-book",
        "root": "book/intro",
        "parts": [
            {"caption": "A", "chapters": [{"file": "book/02_b", "sections": [{"file": "book/10_sub"}]}]},
            {"caption": "B", "chapters": [{"file": "book/notes.md"}, {"file": "book/01_a.ipynb"}]},
        ],
    }
    path = tmp_path / "_toc.yml"
    path.write_text(yaml.safe_dump(toc, sort_keys=False))
    assert chapters_from_toc(path) == ["02_b", "10_sub", "01_a"]


def test_chapters_from_toc_rejects_duplicates_and_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "_toc.yml"
    path.write_text(yaml.safe_dump({"format": "jb-book", "root": "i", "chapters": [{"file": "a"}, {"file": "x/a"}]}))
    with pytest.raises(BookError, match="listed twice"):
        chapters_from_toc(path)
    path.write_text(yaml.safe_dump({"format": "jb-article", "root": "i"}))
    with pytest.raises(BookError, match="jb-book"):
        chapters_from_toc(path)


def test_declared_parameters_reads_the_tagged_cell(tmp_path: Path) -> None:
    path = tmp_path / "n.ipynb"
    nbformat.write(_notebook("n", "a = 1\nb: int = 2  # doc\nc = d = 3\nimport os\n", "x = 1"), path)
    assert declared_parameters(path) == ["a", "b", "c", "d"]


def test_declared_parameters_requires_exactly_one_parameters_cell(tmp_path: Path) -> None:
    nb = _notebook("n", "a = 1", "b = 2")
    nb.cells[2].metadata["tags"] = ["parameters"]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(BookError, match="exactly one"):
        declared_parameters(path)


def test_load_profile_by_name_and_validation(tmp_path: Path) -> None:
    (tmp_path / "fast.yaml").write_text("profile: fast\ndescription: d\ndefaults: {seed: 1}\nnotebooks: {a: }\n")
    profile = load_profile("fast", tmp_path)
    assert profile["defaults"] == {"seed": 1} and profile["notebooks"] == {"a": {}}
    (tmp_path / "wrong.yaml").write_text("profile: other\n")
    with pytest.raises(ProfileError, match="loaded as 'wrong'"):
        load_profile("wrong", tmp_path)
    (tmp_path / "typo.yaml").write_text("profile: typo\ndefault: {seed: 1}\n")
    with pytest.raises(ProfileError, match="unknown top-level keys"):
        load_profile(tmp_path / "typo.yaml")
    with pytest.raises(ProfileError, match="available: fast, typo, wrong"):
        load_profile("missing", tmp_path)


def test_env_token_without_utrbert_data_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UTRBERT_DATA", raising=False)
    profile = _profile(tmp_path, data_dir="@env")
    with pytest.raises(ProfileError, match="UTRBERT_DATA"):
        book.resolve_parameters(profile, "a", ["data_dir"], repo_root=tmp_path, output_dir=tmp_path)


def test_tokens_resolve_to_paths_and_demo_data_is_written_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def write_demo_data(root: Path, seed: int = 0, scale: str = "smoke") -> Path:
        calls.append(root)
        return root

    monkeypatch.setitem(sys.modules, "utrbert.data.synthetic", types.SimpleNamespace(write_demo_data=write_demo_data))
    profile = _profile(tmp_path, data_dir="@demo", results_dir="@out/results", cache="@repo/cache", n=3)
    repo, out = tmp_path / "repo", tmp_path / "out"
    demo = book._DemoData(out / "demo_data")
    declared = ["data_dir", "results_dir", "cache", "n"]
    params = book.resolve_parameters(profile, "a", declared, repo_root=repo, output_dir=out, demo=demo)
    assert params == {  # outside the repository: absolute; inside: relative to it (the notebooks' cwd)
        "data_dir": str(out / "demo_data"),
        "results_dir": str(out / "results"),
        "cache": "cache",
        "n": 3,
    }
    again = book.resolve_parameters(profile, "b", declared, repo_root=tmp_path, output_dir=out, demo=demo)
    assert again["results_dir"] == "out/results"
    assert again["data_dir"] == "out/demo_data"
    assert calls == [out / "demo_data"]  # generated once, shared by every chapter of the run
    with pytest.raises(ProfileError, match="unknown token"):
        book.resolve_parameters(_profile(tmp_path, n="@nope"), "a", ["n"], repo_root=tmp_path, output_dir=tmp_path)


# ----------------------------------------------------------------------------------------- with papermill


def test_a_summary_page_listed_first_runs_after_the_other_chapters(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"summary": None, "a": None, "b": None}, order=["summary", "a", "b"])
    _mark_run_last(root / "notebooks" / "summary.ipynb")
    profile = _profile(tmp_path, notebooks=_overrides(tmp_path, "summary", "a", "b"))

    written = run_chapters(profile, tmp_path / "out", repo_root=root)
    assert [p.stem for p in written] == ["a", "b", "summary"]
    assert (tmp_path / "log.txt").read_text().split() == ["a", "b", "summary"]
    run_chapters(profile, tmp_path / "out", only=["summary", "a"], repo_root=root)
    assert (tmp_path / "log.txt").read_text().split()[3:] == ["a", "summary"]


def test_run_injects_declared_parameters_in_toc_order(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a_first": None, "b_second": None}, order=["b_second", "a_first"])
    profile = _profile(tmp_path, notebooks=_overrides(tmp_path, "a_first", "b_second"), device="cuda")
    written = run_chapters(profile, tmp_path / "out", repo_root=root)

    assert written == [tmp_path / "out" / "b_second.ipynb", tmp_path / "out" / "a_first.ipynb"]
    assert (tmp_path / "log.txt").read_text().split() == ["b_second", "a_first"]
    got = json.loads((tmp_path / "a_first.json").read_text())
    assert got["seed"] == 7 and got["profile"] == "trial"
    assert Path(got["cwd"]) == root.resolve()
    assert Path(got["python"]) == Path(sys.executable)  # the kernel runs in the runner's environment

    executed = nbformat.read(written[1], as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "device" not in injected[0].source  # a default the notebook does not declare is not passed
    assert executed.metadata["utrbert"]["profile"] == "trial"
    assert executed.metadata["utrbert"]["parameters"]["seed"] == 7
    assert executed.metadata["papermill"]["input_path"] == "notebooks/a_first.ipynb"


def test_only_keeps_toc_order_and_rejects_unknown_chapters(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"x": None, "y": None, "z": None}, order=["z", "y", "x"])
    profile = _profile(tmp_path, notebooks=_overrides(tmp_path, "x", "y", "z"))
    run_chapters(profile, tmp_path / "out", only=["x", "z"], repo_root=root)
    assert (tmp_path / "log.txt").read_text().split() == ["z", "x"]
    with pytest.raises(BookError, match="not in _toc.yml"):
        run_chapters(profile, tmp_path / "out", only=["w"], repo_root=root)


def test_unknown_override_is_rejected_before_anything_runs(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a": None, "b": None}, order=["a", "b"])
    notebooks = _overrides(tmp_path, "a", "b")
    notebooks["b"]["sede"] = 1  # typo for seed
    with pytest.raises(ProfileError, match=r"\['sede'\] for b"):
        run_chapters(_profile(tmp_path, notebooks=notebooks), tmp_path / "out", repo_root=root)
    assert not (tmp_path / "out" / "a.ipynb").exists()
    assert not (tmp_path / "log.txt").exists()


def test_override_for_chapter_outside_toc_is_rejected(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a": None}, order=["a"])
    with pytest.raises(ProfileError, match="not in _toc.yml"):
        run_chapters(_profile(tmp_path, notebooks={"ghost": {}}), tmp_path / "out", repo_root=root)


def test_failure_names_notebook_and_partial_output_and_stops(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"bad": "raise ValueError('boom')", "after": None}, order=["bad", "after"])
    profile = _profile(tmp_path, notebooks=_overrides(tmp_path, "after"))
    with pytest.raises(ChapterExecutionError) as info:
        run_chapters(profile, tmp_path / "out", repo_root=root)
    message = str(info.value)
    assert str(root / "notebooks" / "bad.ipynb") in message
    assert str(tmp_path / "out" / "bad.ipynb") in message
    assert "ValueError: boom" in message
    partial = nbformat.read(tmp_path / "out" / "bad.ipynb", as_version=4)
    assert partial.metadata["utrbert"]["profile"] == "trial"
    assert not (tmp_path / "out" / "after.ipynb").exists()


def test_missing_template_is_reported(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a": None}, order=["a", "b"])
    with pytest.raises(BookError, match="b.*template .*missing"):
        run_chapters(_profile(tmp_path), tmp_path / "out", repo_root=root)


def test_cli_runs_a_profile_file_and_reports_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _repo(tmp_path, {"a": None}, order=["a"])
    profile_file = tmp_path / "p.yaml"
    profile_file.write_text(yaml.safe_dump(_profile(tmp_path, name="p", notebooks=_overrides(tmp_path, "a"))))
    args = ["-q", "book", "--profile", str(profile_file), "--out", str(tmp_path / "out"), "--repo-root", str(root)]
    assert main(args) == 0
    assert (tmp_path / "out" / "a.ipynb").is_file()
    assert main([*args[:-2], "--only", "nope", "--repo-root", str(root)]) == 1
    assert "not in _toc.yml" in caplog.text


# ------------------------------------------------------------------------------------------- staleness


def _edit_body(template: Path, body: str) -> None:
    nb = nbformat.read(template, as_version=4)
    nb.cells[2].source = body
    nbformat.write(nb, template)


def test_runner_records_the_template_code_hash_and_only_code_edits_make_the_copy_stale(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a": None}, order=["a"])
    [executed] = run_chapters(_profile(tmp_path, notebooks=_overrides(tmp_path, "a")), tmp_path / "out", repo_root=root)
    template = root / "notebooks" / "a.ipynb"
    recorded = nbformat.read(executed, as_version=4).metadata["utrbert"][HASH_KEY]
    assert recorded == code_hash(nbformat.read(template, as_version=4))
    assert stale_reason(template, executed) is None

    _edit_body(template, "# a student's note\n" + RECORDER.replace("record = {", "record  =  {  # spaced out\n "))
    assert stale_reason(template, executed) is None  # comments and layout are not code
    _edit_body(template, RECORDER + "\nprint('new analysis')\n")
    assert "code hash differs" in stale_reason(template, executed)


def test_copies_executed_before_hashes_compare_normalised_code(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a": None}, order=["a"])
    template = root / "notebooks" / "a.ipynb"
    old_copy = tmp_path / "old.ipynb"
    nb = nbformat.read(template, as_version=4)
    nb.cells[2].source = "# an older comment\n" + RECORDER
    nb.cells.insert(2, new_code_cell("seed = 3"))  # papermill's cell: never part of the comparison
    nb.cells[2].metadata["tags"] = ["injected-parameters"]
    nb.metadata["utrbert"] = {"profile": "cpu"}  # no code hash: executed by an older runner
    nbformat.write(nb, old_copy)
    assert stale_reason(template, old_copy) is None
    _edit_body(template, RECORDER.replace("os.getcwd()", "'elsewhere'"))
    assert "code cell 2 differs" in stale_reason(template, old_copy)


# ------------------------------------------------------------------------------ shared blocks, --set, needs


def test_shared_blocks_expand_and_cannot_be_overridden(tmp_path: Path) -> None:
    profile = {"profile": "p", "shared": {"ft": {"seed": 3}},
               "notebooks": {"a": {"use": ["ft"], "out_file": "x"}, "b": {"use": "ft"}}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    loaded = load_profile(tmp_path / "p.yaml")
    assert loaded["notebooks"] == {"a": {"seed": 3, "out_file": "x"}, "b": {"seed": 3}}
    profile["notebooks"]["a"]["seed"] = 4
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    with pytest.raises(ProfileError, match=r"notebooks\.a: \['seed'\] set both by shared block 'ft'"):
        load_profile(tmp_path / "p.yaml")
    profile["notebooks"]["a"] = {"use": ["nope"]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    with pytest.raises(ProfileError, match="shared block 'nope'"):
        load_profile(tmp_path / "p.yaml")


def test_set_overrides_one_chapter_for_one_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _repo(tmp_path, {"a": None, "b": None}, order=["a", "b"])
    profile_file = tmp_path / "p.yaml"
    profile_file.write_text(yaml.safe_dump(_profile(tmp_path, name="p", notebooks=_overrides(tmp_path, "a", "b"))))
    base = ["-q", "book", "--profile", str(profile_file), "--out", str(tmp_path / "out"), "--repo-root", str(root)]
    assert main([*base, "--set", "b.seed=11"]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["seed"] == 7  # the profile's
    assert json.loads((tmp_path / "b.json").read_text())["seed"] == 11  # this run's
    assert main([*base, "--set", "b.sede=1"]) == 1 and "['sede'] for b" in caplog.text
    assert main([*base, "--set", "c.seed=1"]) == 1 and "not in _toc.yml" in caplog.text
    assert main([*base, "--set", "seed=1"]) == 1 and "CHAPTER.PARAMETER=VALUE" in caplog.text


def _needs(root: Path, stem: str, needs: dict) -> None:
    path = root / "notebooks" / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata["utrbert"] = {"needs": needs}
    nbformat.write(nb, path)


MAKER = RECORDER + "\npathlib.Path(made).mkdir(parents=True, exist_ok=True)\n"


def test_a_missing_output_of_an_earlier_chapter_runs_it_an_existing_one_is_reused(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"maker": MAKER, "user": None}, order=["maker", "user"])
    for stem, line in (("maker", "made = ''"), ("user", "checkpoint = ''")):
        nb = nbformat.read(root / "notebooks" / f"{stem}.ipynb", as_version=4)
        nb.cells[1].source += line + "\n"
        nbformat.write(nb, root / "notebooks" / f"{stem}.ipynb")
    _needs(root, "user", {"checkpoint": "maker.made"})
    notebooks = _overrides(tmp_path, "maker", "user")
    notebooks["maker"]["made"] = "@out/ckpt"
    notebooks["user"]["checkpoint"] = "@out/ckpt"
    profile = _profile(tmp_path, notebooks=notebooks)

    run_chapters(profile, tmp_path / "out", only=["user"], repo_root=root)  # fresh folder: the maker runs first
    assert (tmp_path / "log.txt").read_text().split() == ["maker", "user"]
    run_chapters(profile, tmp_path / "out", only=["user"], repo_root=root)  # it exists now: reused
    assert (tmp_path / "log.txt").read_text().split() == ["maker", "user", "user"]

    notebooks["user"]["checkpoint"] = str(tmp_path / "elsewhere")  # nobody makes that: a clear error, nothing runs
    with pytest.raises(BookError, match=r"user needs checkpoint = .*elsewhere \(made by chapter maker as made\)"):
        run_chapters(_profile(tmp_path, notebooks=notebooks), tmp_path / "out2", only=["user"], repo_root=root)
    assert (tmp_path / "log.txt").read_text().split() == ["maker", "user", "user"]


def test_the_book_templates_declare_what_they_need_from_the_pretraining_chapter() -> None:
    from utrbert.book.runner import chapter_needs

    root = Path(__file__).resolve().parents[1]
    for stem in ("03_rbp_binding", "04_motifs", "05_m6a", "07_representations"):
        assert chapter_needs(root / "notebooks" / f"{stem}.ipynb") == {"pretrained_dir": ("02_pretraining", "export_dir")}
    assert chapter_needs(root / "notebooks" / "06_localization.ipynb") == {"model_dir": ("02_pretraining", "export_dir")}


def test_env_token_passes_none_so_no_machine_path_reaches_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from utrbert.runs.provenance import data_label

    monkeypatch.setenv("UTRBERT_DATA", str(tmp_path))
    profile = _profile(tmp_path, data_dir="@env")
    params = book.resolve_parameters(profile, "a", ["data_dir"], repo_root=tmp_path / "repo", output_dir=tmp_path)
    assert params == {"data_dir": None}  # the chapter resolves UTRBERT_DATA itself
    assert data_label(tmp_path) == "$UTRBERT_DATA"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()
    assert data_label(tmp_path / "demo") == "demo"
    assert str(tmp_path) not in data_label(tmp_path.parent)


def test_a_profile_extends_another_key_by_key(tmp_path: Path) -> None:
    base = {"profile": "base", "description": "b", "cell_timeout": 60, "defaults": {"seed": 1, "device": "cpu"},
            "shared": {"finetune": {"epochs": 1, "batch_size": 32}},
            "notebooks": {"a": {"use": ["finetune"], "steps": 2}, "b": {"steps": 5}}}
    child = {"profile": "child", "extends": "base", "defaults": {"device": "cuda"},
             "shared": {"finetune": {"batch_size": 64}}, "notebooks": {"a": {"steps": 3}}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(child))
    profile = load_profile("child", tmp_path)
    assert profile["profile"] == "child" and profile["cell_timeout"] == 60
    assert profile["defaults"] == {"seed": 1, "device": "cuda"}
    assert profile["notebooks"]["a"] == {"epochs": 1, "batch_size": 64, "steps": 3}  # shared block merged, then used
    assert profile["notebooks"]["b"] == {"steps": 5}

    (tmp_path / "loop.yaml").write_text(yaml.safe_dump({"profile": "loop", "extends": "loop"}))
    with pytest.raises(ProfileError, match="loop"):
        load_profile("loop", tmp_path)
    (tmp_path / "orphan.yaml").write_text(yaml.safe_dump({"profile": "orphan", "extends": "nowhere"}))
    with pytest.raises(ProfileError, match="extends 'nowhere'.*does not exist"):
        load_profile("orphan", tmp_path)


def test_the_gpu_smoke_profile_is_the_smoke_run_with_the_gpu_profiles_options() -> None:
    root = Path(__file__).resolve().parents[1]
    smoke, gpu, shaped = (load_profile(name, root / "profiles") for name in ("smoke", "gpu", "gpu-smoke"))
    assert shaped["defaults"] == smoke["defaults"]  # demo data, CPU, scratch outputs
    for stem, params in gpu["notebooks"].items():
        for key in ("precision", "batch_size", "embed_batch_size"):
            if key in params:
                assert shaped["notebooks"][stem][key] == params[key], (stem, key)
    assert shaped["notebooks"]["03_rbp_binding"]["bert_size"] == smoke["notebooks"]["03_rbp_binding"]["bert_size"]


def test_changed_only_skips_current_copies_and_reruns_edited_or_reparameterised_chapters(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"summary": None, "a": None, "b": None}, order=["summary", "a", "b"])
    _mark_run_last(root / "notebooks" / "summary.ipynb")
    profile = _profile(tmp_path, notebooks=_overrides(tmp_path, "summary", "a", "b"))
    log = tmp_path / "log.txt"
    run_chapters(profile, tmp_path / "out", repo_root=root)
    assert log.read_text().split() == ["a", "b", "summary"]

    assert run_chapters(profile, tmp_path / "out", repo_root=root, changed_only=True) == []  # everything current
    assert log.read_text().split() == ["a", "b", "summary"]

    edited = nbformat.read(root / "notebooks" / "b.ipynb", as_version=4)  # a code change to b
    edited.cells[-1].source += "\nx = 1"
    nbformat.write(edited, root / "notebooks" / "b.ipynb")
    written = run_chapters(profile, tmp_path / "out", repo_root=root, changed_only=True)
    assert [p.stem for p in written] == ["b", "summary"]  # the summary page follows any chapter that ran

    reparameterised = {**profile, "defaults": {**profile["defaults"], "seed": 8}}
    written = run_chapters(reparameterised, tmp_path / "out", repo_root=root, changed_only=True)
    assert [p.stem for p in written] == ["a", "b", "summary"]
    assert run_chapters(reparameterised, tmp_path / "out", repo_root=root, changed_only=True) == []


def test_changed_only_ignores_the_parameters_a_template_marks_execution_only(tmp_path: Path) -> None:
    root = _repo(tmp_path, {"a": None, "b": None}, order=["a", "b"])
    template = root / "notebooks" / "a.ipynb"
    nb = nbformat.read(template, as_version=4)
    nb.metadata["utrbert"] = {"execution_only": ["seed"]}  # as chapters mark their time budgets
    nbformat.write(nb, template)
    profile = _profile(tmp_path, notebooks=_overrides(tmp_path, "a", "b"))
    run_chapters(profile, tmp_path / "out", repo_root=root)
    reseeded = {**profile, "defaults": {**profile["defaults"], "seed": 8}}
    written = run_chapters(reseeded, tmp_path / "out", repo_root=root, changed_only=True)
    assert [p.stem for p in written] == ["b"]
