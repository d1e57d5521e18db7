"""The package's layers (ARCHITECTURE.md), checked on the source with ast.

* ``utrbert/`` holds at most 12 top-level modules besides its subpackages;
* no module outside ``utrbert.cli`` imports ``utrbert.cli`` (command-line modules are thin wrappers over the
  library, never a dependency of it), and only ``utrbert.__main__`` lists them;
* the chapter-agnostic library (every subpackage but ``chapters`` and ``cli``) never imports chapter code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "utrbert"
MAX_TOP_LEVEL_MODULES = 12


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str | None = None) -> set[str]:
    """Every module a file imports, anywhere in it (function-level imports included), as absolute names.

    ``name`` is the file's dotted module name (default: from its place under ``utrbert/``).
    """
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "top"


def test_at_most_twelve_top_level_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"utrbert/ has {len(top)} top-level modules: {top}"
    assert all((d / "__init__.py").is_file() for d in PACKAGE.iterdir() if d.is_dir() and d.name != "__pycache__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_library_never_imports_a_cli_module(path: Path) -> None:
    module = _module_name(path)
    if _layer(module) == "cli" or module == "utrbert.__main__":
        pytest.skip("a command-line module")
    cli = sorted(name for name in _imports(path) if name == "utrbert.cli" or name.startswith("utrbert.cli."))
    assert not cli, f"{module} imports command-line code {cli}: move the function it needs into the library"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_chapter_agnostic_library_never_imports_chapter_code(path: Path) -> None:
    module = _module_name(path)
    if _layer(module) in ("chapters", "cli", "top"):
        pytest.skip("chapter code, command-line code or the package entry points")
    chapters = sorted(n for n in _imports(path) if n == "utrbert.chapters" or n.startswith("utrbert.chapters."))
    assert not chapters, f"{module} imports chapter code {chapters}: the library must not depend on a chapter"


def test_the_import_scanner_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    probe = tmp_path / "store.py"
    probe.write_text("import json\n\ndef f():\n    from ..cli.book import register\n    import utrbert.chapters.m6a\n")
    found = _imports(probe, "utrbert.runs.store")
    assert {"utrbert.cli.book", "utrbert.cli.book.register", "utrbert.chapters.m6a", "json"} <= found


def _module_file_exists(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _sources() -> list[tuple[str, str]]:
    """(where, code) of every Python file and notebook code cell of the repository."""
    import json

    root = PACKAGE.parent
    out = [(str(p.relative_to(root)), p.read_text(encoding="utf-8"))
           for folder in ("utrbert", "tests", "benchmarks", "scripts") for p in sorted((root / folder).rglob("*.py"))]
    for notebook in sorted([*(root / "notebooks").glob("*.ipynb"), *(root / "book").glob("*.ipynb")]):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        out += [(f"{notebook.relative_to(root)} cell {i}", "".join(c["source"])) for i, c in enumerate(cells)
                if c["cell_type"] == "code"]
    return out


def test_every_utrbert_import_names_a_module_of_this_tree() -> None:
    """An import of a moved module must fail here, not be served by another checkout's editable install."""
    missing = []
    for where, source in _sources():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # IPython syntax in a cell
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "utrbert":  # `from utrbert import x`: x must be a subpackage or a lazy name
                    import utrbert

                    names += [f"utrbert.{a.name}" for a in node.names if a.name not in utrbert.__all__]
            missing += [f"{where}: {n}" for n in names if n.split(".")[0] == "utrbert" and not _module_file_exists(n)]
    assert not missing, f"imports of modules that do not exist in utrbert/: {missing}"
