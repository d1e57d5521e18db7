"""Run the book's chapter notebooks with papermill under a versioned parameter profile.

The book is split into *templates* (``notebooks/<stem>.ipynb``, no outputs) and *executed copies* that the
book renders with execution off (``book/<stem>.ipynb``). This module turns the first into the second:

* the chapter list and its order come from ``_toc.yml`` (:func:`chapters_from_toc`);
* parameters come from a profile file ``profiles/<name>.yaml`` (:func:`load_profile`): ``defaults`` given to
  every notebook plus per-notebook overrides under ``notebooks``;
* :func:`run_chapters` executes each template with papermill and writes ``<output_dir>/<stem>.ipynb``.

Rules the runner enforces:

* a notebook only receives the parameters its ``parameters`` cell declares. Defaults a notebook does not
  declare are dropped silently (one profile serves every chapter); a per-notebook override that the notebook
  does not declare is an error (it is almost always a typo);
* the profile's name is passed as the ``profile`` parameter (when declared), so a chapter can say on the page
  which profile produced it, and it is recorded in the executed notebook's ``metadata.utrbert``;
* string values starting with ``@`` are resolved by the runner (:data:`TOKENS`):
  ``@demo`` generates a synthetic demo data directory inside the output folder,
  ``@env`` is the real data directory named by ``UTRBERT_DATA``,
  ``@out/...`` and ``@repo/...`` are paths under the output folder and the repository root.

Notebooks run with the **repository root as working directory**, so relative paths in a chapter mean the same
thing as on the command line; chapters should still prefer the ``data_dir`` and ``results_dir`` parameters.
Resolved paths inside the repository are passed relative to it, others as absolute paths.

>>> parameter_names("seed = 0\\ndevice: str = 'cpu'  # where to run\\nimport os")
['seed', 'device']
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from utrbert.book.staleness import HASH_KEY, code_hash

__all__ = [
    "BookError",
    "ProfileError",
    "ChapterExecutionError",
    "TOKENS",
    "chapters_from_toc",
    "find_repo_root",
    "load_profile",
    "parameter_names",
    "declared_parameters",
    "resolve_parameters",
    "run_chapters",
]

logger = logging.getLogger(__name__)

DEFAULT_CELL_TIMEOUT = 1800
"""Per-cell execution timeout in seconds when a profile sets no ``cell_timeout``."""

TOKENS = ("@demo", "@env", "@out", "@repo")
"""Special string values resolved by the runner (see the module docstring)."""

PROFILE_KEYS = {"profile", "description", "defaults", "notebooks", "cell_timeout"}
"""Top-level keys a profile file may have."""


class BookError(RuntimeError):
    """Base class for errors raised while preparing or running the book."""


class ProfileError(BookError):
    """A profile file, or the parameters it gives a notebook, is invalid."""


class ChapterExecutionError(BookError):
    """A chapter notebook failed to execute.

    Attributes:
        stem: The chapter's notebook stem, e.g. ``01_data``.
        notebook: Path of the template that failed.
        output: Path of the partially executed copy papermill left behind.
    """

    def __init__(self, stem: str, notebook: Path, output: Path, reason: str) -> None:
        self.stem = stem
        self.notebook = notebook
        self.output = output
        super().__init__(
            f"chapter {stem!r} failed: notebook {notebook}: {reason}; "
            f"partially executed copy: {output}"
        )


# --------------------------------------------------------------------------------------------------- toc


def _toc_files(node: Any) -> Iterator[str]:
    """Yield every ``file`` entry of a ``_toc.yml`` subtree in document order."""
    if isinstance(node, Mapping):
        if "file" in node:
            yield str(node["file"])
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or ():
                yield from _toc_files(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_files(child)


def chapters_from_toc(toc_path: str | os.PathLike[str]) -> list[str]:
    """Return the notebook stems listed in a Jupyter Book ``_toc.yml``, in book order.

    Every entry except the ``root`` is a notebook chapter: ``book/01_data`` names the template
    ``notebooks/01_data.ipynb`` and its executed copy ``book/01_data.ipynb``. Plain markdown pages other than
    the root must be listed with their ``.md`` suffix, which excludes them here.

    Raises:
        BookError: if the file is not a ``jb-book`` table of contents or lists a stem twice.
    """
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8"))
    if not isinstance(toc, Mapping) or toc.get("format") != "jb-book":
        raise BookError(f"{toc_path}: expected a Jupyter Book table of contents with 'format: jb-book'")
    stems: list[str] = []
    for entry in _toc_files(toc):
        path = Path(entry)
        if path.suffix not in ("", ".ipynb"):
            continue
        if path.stem in stems:
            raise BookError(f"{toc_path}: chapter {path.stem!r} is listed twice")
        stems.append(path.stem)
    return stems


def find_repo_root(start: str | os.PathLike[str] | None = None) -> Path:
    """Return the nearest directory at or above ``start`` (default: the working directory) with a ``_toc.yml``.

    Raises:
        BookError: if there is none.
    """
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "_toc.yml").is_file():
            return candidate
    raise BookError(f"no _toc.yml found at or above {here}; run from the repository or pass repo_root")


# ----------------------------------------------------------------------------------------------- profiles


def load_profile(name_or_path: str | os.PathLike[str], profiles_dir: str | os.PathLike[str] | None = None) -> dict:
    """Load and validate a parameter profile.

    Args:
        name_or_path: A profile name (``smoke`` reads ``<profiles_dir>/smoke.yaml``) or a path to a YAML file.
        profiles_dir: Where named profiles live; defaults to ``<repo root>/profiles``.

    Returns:
        The profile as a dict with keys ``profile``, ``description``, ``defaults``, ``notebooks`` (both
        mappings, possibly empty), ``cell_timeout`` (seconds per cell, None for no limit) and ``path``.

    Raises:
        ProfileError: if the file is missing or malformed.
    """
    raw = os.fspath(name_or_path)
    by_name = not raw.endswith((".yaml", ".yml")) and os.sep not in raw and "/" not in raw
    if by_name:
        directory = Path(profiles_dir) if profiles_dir is not None else find_repo_root() / "profiles"
        path = directory / f"{raw}.yaml"
    else:
        path = Path(raw)
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise ProfileError(f"profile {raw!r} not found at {path}; available: {', '.join(available) or 'none'}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ProfileError(f"{path}: a profile must be a YAML mapping")
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise ProfileError(f"{path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(PROFILE_KEYS)}")
    name = data.get("profile")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{path}: missing 'profile: <name>'")
    if by_name and name != raw:
        raise ProfileError(f"{path}: declares profile {name!r} but was loaded as {raw!r}")
    defaults = data.get("defaults") or {}
    notebooks = data.get("notebooks") or {}
    if not isinstance(defaults, Mapping) or not isinstance(notebooks, Mapping):
        raise ProfileError(f"{path}: 'defaults' and 'notebooks' must be mappings")
    overrides = {}
    for stem, params in notebooks.items():
        params = params or {}
        if not isinstance(params, Mapping):
            raise ProfileError(f"{path}: notebooks.{stem} must be a mapping of parameter overrides")
        overrides[str(stem)] = dict(params)
    if "profile" in defaults or any("profile" in p for p in overrides.values()):
        raise ProfileError(f"{path}: 'profile' is passed by the runner from the top-level key; do not set it")
    timeout = data.get("cell_timeout", DEFAULT_CELL_TIMEOUT)
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        raise ProfileError(f"{path}: cell_timeout must be a positive number of seconds or null")
    return {
        "profile": name,
        "description": str(data.get("description", "")).strip(),
        "defaults": dict(defaults),
        "notebooks": overrides,
        "cell_timeout": timeout,
        "path": str(path),
    }


# --------------------------------------------------------------------------------------------- parameters


def parameter_names(source: str) -> list[str]:
    """Return the names assigned at top level in a parameters cell's source, in order."""
    names: list[str] = []
    for node in ast.parse(source).body:
        targets: Iterable[ast.expr]
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id not in names:
                names.append(target.id)
    return names


def declared_parameters(notebook: str | os.PathLike[str]) -> list[str]:
    """Return the parameter names declared by a notebook's single ``parameters``-tagged cell.

    Raises:
        BookError: if the notebook has no cell tagged ``parameters`` or more than one.
    """
    import nbformat

    nb = nbformat.read(os.fspath(notebook), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise BookError(f"{notebook}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    try:
        return parameter_names(cells[0].source)
    except SyntaxError as exc:
        raise BookError(f"{notebook}: the parameters cell must be plain Python assignments ({exc})") from exc


def _resolve_value(value: Any, *, repo_root: Path, output_dir: Path, demo: _DemoData) -> Any:
    """Resolve the runner's ``@`` tokens in one parameter value (other values pass through)."""
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    head, _, rest = value.partition("/")
    if head == "@demo" and not rest:
        path = demo.path()
    elif head == "@env" and not rest:
        path = _env_data_dir()
    elif head == "@out":
        path = output_dir / rest
    elif head == "@repo":
        path = repo_root / rest
    else:
        raise ProfileError(f"unknown token in parameter value {value!r}; known: {', '.join(TOKENS)}")
    return _relative(path, repo_root)


def _env_data_dir() -> Path:
    """Return the real data directory named by ``UTRBERT_DATA`` (checked by :mod:`utrbert.data.registry`)."""
    if not os.environ.get("UTRBERT_DATA"):
        raise ProfileError(
            "this profile runs on real data: set UTRBERT_DATA to the data directory "
            "(same layout as ../shared/data), e.g. `export UTRBERT_DATA=$PWD/../shared/data`"
        )
    from utrbert.data.registry import resolve_data_dir

    return Path(resolve_data_dir()).resolve()


class _DemoData:
    """Create the synthetic demo data directory once, on first use, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._path: Path | None = None

    def path(self) -> Path:
        if self._path is None:
            from utrbert.data.synthetic import write_demo_data

            logger.info("writing synthetic demo data to %s", self.root)
            self._path = Path(write_demo_data(self.root)).resolve()
        return self._path


def _check_overrides(profile: Mapping[str, Any], stem: str, declared: Sequence[str]) -> None:
    """Raise :class:`ProfileError` if the profile overrides a parameter that ``stem`` does not declare."""
    unknown = sorted(set(profile["notebooks"].get(stem, {})) - set(declared))
    if unknown:
        raise ProfileError(
            f"profile {profile['profile']!r} sets {unknown} for {stem}, which its parameters cell does not "
            f"declare (declared: {', '.join(declared) or 'none'})"
        )


def resolve_parameters(
    profile: Mapping[str, Any],
    stem: str,
    declared: Sequence[str],
    *,
    repo_root: Path,
    output_dir: Path,
    demo: _DemoData | None = None,
) -> dict[str, Any]:
    """Return the papermill parameters for one chapter.

    Defaults are filtered to ``declared``; overrides for ``stem`` must all be declared; ``profile`` is set to
    the profile's name when declared; ``@`` tokens are resolved.

    Raises:
        ProfileError: if an override names a parameter the notebook does not declare.
    """
    _check_overrides(profile, stem, declared)
    merged = {k: v for k, v in profile["defaults"].items() if k in declared}
    merged.update(profile["notebooks"].get(stem, {}))
    if "profile" in declared:
        merged["profile"] = profile["profile"]
    demo = demo or _DemoData(output_dir / "demo_data")
    return {
        key: _resolve_value(value, repo_root=repo_root, output_dir=output_dir, demo=demo)
        for key, value in merged.items()
    }


# ------------------------------------------------------------------------------------------------ running


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else absolute.

    Notebooks run with the repository root as working directory, so repo-relative parameters work there and
    keep machine-specific prefixes out of the executed copies in ``book/``.

    >>> _relative(Path("/r/results/x.json"), Path("/r")), _relative(Path("/data"), Path("/r"))
    ('results/x.json', '/data')
    """
    path, root = path.resolve(), root.resolve()
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return str(path)


def _record_provenance(
    output: Path, profile: Mapping[str, Any], params: Mapping[str, Any], repo_root: Path, template_hash: str
) -> None:
    """Write ``metadata.utrbert`` (profile, parameters, the template's code hash) into an executed notebook; make
    papermill paths relative."""
    import nbformat

    nb = nbformat.read(output, as_version=4)
    nb.metadata["utrbert"] = {
        "profile": profile["profile"],
        "profile_description": profile["description"],
        "parameters": dict(params),
        HASH_KEY: template_hash,  # what utrbert.book.staleness compares with the template later
    }
    pm = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if pm.get(key):
            pm[key] = _relative(Path(pm[key]), repo_root)
    nbformat.write(nb, output)


def _select(stems: list[str], only: Sequence[str] | None) -> list[str]:
    """Keep the chapters named in ``only`` (in toc order); reject names not in the toc."""
    if not only:
        return stems
    missing = sorted(set(only) - set(stems))
    if missing:
        raise BookError(f"not in _toc.yml: {missing}; chapters are {stems}")
    return [s for s in stems if s in only]


def run_chapters(
    profile: str | os.PathLike[str] | Mapping[str, Any],
    output_dir: str | os.PathLike[str],
    only: Sequence[str] | None = None,
    repo_root: str | os.PathLike[str] | None = None,
    *,
    progress_bar: bool = False,
) -> list[Path]:
    """Execute the chapter templates in ``_toc.yml`` order and write executed copies to ``output_dir``.

    Args:
        profile: A profile name, a path to a profile file, or a dict from :func:`load_profile`.
        output_dir: Where ``<stem>.ipynb`` copies go: ``book/`` for real profiles, a scratch folder for smoke.
        only: Chapter stems to run (default: all); they still run in toc order.
        repo_root: The repository root (default: found from the working directory). Notebooks are read from
            ``<repo_root>/notebooks`` and executed with ``repo_root`` as working directory.
        progress_bar: Show papermill's per-cell progress bar.

    Returns:
        The paths of the executed copies, in the order run.

    Raises:
        ProfileError: for an invalid profile, an override the notebook does not declare, or ``@env`` without
            ``UTRBERT_DATA``. Parameters of every selected chapter are resolved before anything runs.
        ChapterExecutionError: when a notebook fails; it names the template and the partially executed copy.
            Later chapters are not run.
    """
    import nbformat
    import papermill

    root = Path(repo_root).resolve() if repo_root is not None else find_repo_root()
    prof = dict(profile) if isinstance(profile, Mapping) else load_profile(profile, root / "profiles")
    out = Path(output_dir)
    if not out.is_absolute():
        out = Path.cwd() / out
    stems = chapters_from_toc(root / "_toc.yml")
    stray = sorted(set(prof["notebooks"]) - set(stems))
    if stray:
        raise ProfileError(f"profile {prof['profile']!r} has overrides for chapters not in _toc.yml: {stray}")

    selected = _select(stems, only)
    declared: dict[str, list[str]] = {}
    for stem in selected:
        template = root / "notebooks" / f"{stem}.ipynb"
        if not template.is_file():
            raise BookError(f"chapter {stem!r} is listed in _toc.yml but its template {template} is missing")
        declared[stem] = declared_parameters(template)

    out.mkdir(parents=True, exist_ok=True)
    demo = _DemoData(out / "demo_data")
    params = {  # every chapter's parameters are checked before any runs, not halfway through the book
        stem: resolve_parameters(prof, stem, declared[stem], repo_root=root, output_dir=out, demo=demo)
        for stem in selected
    }
    written: list[Path] = []
    for stem in selected:
        template, output = root / "notebooks" / f"{stem}.ipynb", out / f"{stem}.ipynb"
        output.unlink(missing_ok=True)  # never leave an older run's copy looking like this run's result
        template_hash = code_hash(nbformat.read(template, as_version=4))
        logger.info("running %s with profile %r -> %s (%s)", template, prof["profile"], output, params[stem])
        try:
            papermill.execute_notebook(
                template,
                output,
                parameters=params[stem],
                kernel_name="python3",
                language="python",
                cwd=root,
                log_output=True,
                progress_bar=progress_bar,
                execution_timeout=prof.get("cell_timeout", DEFAULT_CELL_TIMEOUT),
            )
        except Exception as exc:  # papermill, nbclient timeouts, dead kernels: all become one clear error
            if output.is_file():
                _record_provenance(output, prof, params[stem], root, template_hash)
            raise ChapterExecutionError(stem, template, output, _reason(exc)) from exc
        _record_provenance(output, prof, params[stem], root, template_hash)
        written.append(output)
    return written


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong: the notebook's exception for papermill errors, else ``exc`` itself."""
    if hasattr(exc, "ename"):  # papermill.PapermillExecutionError
        text = f"{exc.ename}: {exc.evalue}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
