"""The book is stale: a chapter's template code changed since its executed copy in book/ was produced.

This is the one check that fails when a student edits a notebook template: everything else in the suite keeps
passing. It goes away by executing the chapter again (``make chapters``, or ``python -m utrbert book --profile
cpu --out book --only <stem>``). How "changed" is decided (a code hash recorded by the runner, or for copies
executed before hashes were recorded the code itself, comments and layout aside) is in
:mod:`utrbert.book.staleness`; its behaviour is tested in ``tests/test_book_runner.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from utrbert.book.runner import chapters_from_toc
from utrbert.book.staleness import stale_reason

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = chapters_from_toc(REPO_ROOT / "_toc.yml")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_book_is_not_stale(stem: str) -> None:
    template, executed = REPO_ROOT / "notebooks" / f"{stem}.ipynb", REPO_ROOT / "book" / f"{stem}.ipynb"
    if not (template.is_file() and executed.is_file()):
        pytest.skip("template or executed copy missing (reported by tests/test_notebooks.py)")
    reason = stale_reason(template, executed)
    assert reason is None, f"the book is stale: {reason}; rerun the chapter (`make chapters`)"
