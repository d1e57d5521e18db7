"""Consistency of the book: templates in notebooks/, executed copies in book/, and _toc.yml.

Checks for every ``notebooks/*.ipynb`` template and every chapter in ``_toc.yml``:

* the template has exactly one ``parameters`` cell and a first cell holding only ``# Title``;
* it is listed in ``_toc.yml``, and every toc chapter has a template and an executed copy in ``book/``;
* (whether the executed copy is stale, i.e. its template's code changed since, is one separate check:
  ``tests/test_book_stale.py``, so editing a template fails that check only);
* the executed copy has no error outputs and was produced by a real (non-smoke) profile.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from utrbert.book.runner import chapters_from_toc, load_profile

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
CHAPTERS = chapters_from_toc(REPO_ROOT / "_toc.yml")
TITLE = re.compile(r"# \S.*")


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


template_ids = [p.stem for p in TEMPLATES]


@pytest.mark.parametrize("template", TEMPLATES, ids=template_ids)
def test_template_has_exactly_one_parameters_cell(template: Path) -> None:
    cells = [c for c in _read(template).cells if "parameters" in _tags(c)]
    assert len(cells) == 1, f"{template.name}: {len(cells)} cells tagged 'parameters'"
    assert cells[0].cell_type == "code"


@pytest.mark.parametrize("template", TEMPLATES, ids=template_ids)
def test_template_first_cell_is_title_only(template: Path) -> None:
    first = _read(template).cells[0]
    assert first.cell_type == "markdown", f"{template.name}: first cell is {first.cell_type}"
    assert TITLE.fullmatch(first.source.strip()), f"{template.name}: first cell must be only '# Title'"


@pytest.mark.parametrize("template", TEMPLATES, ids=template_ids)
def test_template_has_no_outputs(template: Path) -> None:
    code = [c for c in _read(template).cells if c.cell_type == "code"]
    assert all(not c.outputs for c in code), f"{template.name}: clear outputs in templates"


@pytest.mark.parametrize("template", TEMPLATES, ids=template_ids)
def test_template_is_listed_in_toc(template: Path) -> None:
    assert template.stem in CHAPTERS, f"add book/{template.stem} to _toc.yml"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_toc_chapter_has_template_and_executed_copy(stem: str) -> None:
    assert (REPO_ROOT / "notebooks" / f"{stem}.ipynb").is_file(), f"notebooks/{stem}.ipynb missing"
    assert (REPO_ROOT / "book" / f"{stem}.ipynb").is_file(), f"book/{stem}.ipynb missing: run make chapters"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_executed_copy_has_no_errors(stem: str) -> None:
    executed = REPO_ROOT / "book" / f"{stem}.ipynb"
    if not executed.is_file():
        pytest.skip("executed copy missing (reported by test_toc_chapter_has_template_and_executed_copy)")
    nb = _read(executed)
    errors = [
        (i, out.get("ename"))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"book/{stem}.ipynb has error outputs in cells {errors}"
    assert not nb.metadata.get("papermill", {}).get("exception"), f"book/{stem}.ipynb: papermill recorded a failure"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_executed_copy_ran_with_real_profile(stem: str) -> None:
    executed = REPO_ROOT / "book" / f"{stem}.ipynb"
    if not executed.is_file():
        pytest.skip("executed copy missing (reported by test_toc_chapter_has_template_and_executed_copy)")
    profile = _read(executed).metadata.get("utrbert", {}).get("profile")
    assert profile is not None, f"book/{stem}.ipynb was not produced by `python -m utrbert book`"
    assert profile != "smoke", f"book/{stem}.ipynb holds a smoke run; rerun with `make chapters`"


def test_toc_root_is_intro() -> None:
    import yaml

    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] == "book/intro"
    assert (REPO_ROOT / "book" / "intro.md").is_file()


PROFILE_NAMES = sorted(p.stem for p in (REPO_ROOT / "profiles").glob("*.yaml"))


def test_every_profile_file_is_checked() -> None:
    assert {"smoke", "cpu", "gpu", "gpu-smoke", "gpu-short"} <= set(PROFILE_NAMES)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_profiles_load_and_cover_only_toc_chapters(name: str) -> None:
    profile = load_profile(name, REPO_ROOT / "profiles")
    assert profile["profile"] == name
    assert set(profile["notebooks"]) <= set(CHAPTERS)
    expected = "@demo" if "smoke" in name else "@env"
    assert profile["defaults"]["data_dir"] == expected
