"""Is an executed chapter in ``book/`` still the template in ``notebooks/`` it was executed from?

What matters is the code a chapter runs, not its comments or layout: :func:`normalised_code` parses each code
cell and writes it back without comments and with canonical spacing, and :func:`code_hash` digests the
normalised cells of a notebook (the cell papermill injects after the ``parameters`` cell is left out).

When the runner executes a template it records that digest in the executed copy's metadata
(``metadata.utrbert.template_code_sha256``, see :mod:`utrbert.book.runner`). :func:`stale_reason` compares it
with the template's digest now. Copies executed before the digest was recorded have none: for them the
normalised code of every cell is compared instead, which says the same thing (a comment or whitespace edit is
not stale, any change to the code is). Either way, an edited template makes exactly one check fail -- "the book
is stale" (``tests/test_book_stale.py``) -- until the chapter is executed again (``make chapters``).

>>> normalised_code("x = 1  # one\\n\\n\\ny=[1,\\n   2]")
'x = 1\\ny = [1, 2]'
>>> normalised_code("%matplotlib inline\\nx  =  1  # IPython magic: not Python, compared line by line")
'%matplotlib inline\\nx = 1'
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import tokenize
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["HASH_KEY", "normalised_code", "code_cells", "code_hash", "stale_reason", "stale_chapters"]

HASH_KEY = "template_code_sha256"
"""Key under ``metadata.utrbert`` of an executed copy that holds :func:`code_hash` of its template."""


def _strip_line(line: str) -> str:
    """One line without its comment, runs of whitespace collapsed (best effort for cells that are not Python)."""
    try:
        comments = [t.start[1] for t in tokenize.generate_tokens(io.StringIO(line).readline) if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        comments = []
    return " ".join((line[: comments[0]] if comments else line).split())


def normalised_code(source: str) -> str:
    """A code cell's source without comments and with canonical layout.

    Python is parsed and unparsed (:func:`ast.unparse`); cells with IPython syntax (magics, ``!`` commands)
    fall back to stripping comments and collapsing spaces line by line, blank lines dropped.
    """
    try:
        return ast.unparse(ast.parse(source))
    except SyntaxError:
        lines = (line.strip() if line.lstrip().startswith(("%", "!")) else _strip_line(line) for line in source.splitlines())
        return "\n".join(line for line in lines if line)


def code_cells(notebook: Any) -> list[str]:
    """The normalised source of every code cell of a notebook, the papermill-injected parameters cell aside."""
    return [
        normalised_code(cell.source)
        for cell in notebook.cells
        if cell.cell_type == "code" and "injected-parameters" not in cell.get("metadata", {}).get("tags", [])
    ]


def code_hash(notebook: Any) -> str:
    """SHA-256 of a notebook's :func:`code_cells` (what the runner records in the executed copy)."""
    digest = hashlib.sha256()
    for source in code_cells(notebook):
        digest.update(source.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def stale_reason(template: str | os.PathLike[str], executed: str | os.PathLike[str]) -> str | None:
    """Why ``executed`` no longer matches ``template``, or None when it does."""
    import nbformat

    source = nbformat.read(os.fspath(template), as_version=4)
    copy = nbformat.read(os.fspath(executed), as_version=4)
    recorded = copy.metadata.get("utrbert", {}).get(HASH_KEY)
    if recorded is not None:
        if recorded != code_hash(source):
            return f"{executed} was executed from other code than {template} has now (template code hash differs)"
        return None
    ours, theirs = code_cells(source), code_cells(copy)  # executed before hashes were recorded
    if ours == theirs:
        return None
    if len(ours) != len(theirs):
        return f"{executed} has {len(theirs)} code cells, {template} has {len(ours)}"
    first = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
    return f"{executed}: code cell {first + 1} differs from {template} (comments and layout aside)"


def stale_chapters(repo_root: str | os.PathLike[str], stems: list[str]) -> Mapping[str, str]:
    """Chapter stem -> reason for every chapter whose ``book/<stem>.ipynb`` is stale (missing files are skipped)."""
    root = Path(repo_root)
    out = {}
    for stem in stems:
        template, executed = root / "notebooks" / f"{stem}.ipynb", root / "book" / f"{stem}.ipynb"
        if template.is_file() and executed.is_file():
            reason = stale_reason(template, executed)
            if reason is not None:
                out[stem] = reason
    return out
