"""Run the book's chapter notebooks with papermill under a versioned parameter profile.

The book is split into *templates* (``notebooks/<stem>.ipynb``, no outputs) and *executed copies* that the
book renders with execution off (``book/<stem>.ipynb``). This module turns the first into the second:

* the chapter list and its order come from ``_toc.yml`` (:func:`chapters_from_toc`);
* parameters come from a profile file ``profiles/<name>.yaml`` (:func:`load_profile`): ``defaults`` given to
  every notebook plus per-notebook overrides under ``notebooks``;
* :func:`run_chapters` executes each template with papermill and writes ``<output_dir>/<stem>.ipynb``; a page
  that summarises the others (``metadata.utrbert.run_last``, the scorecard) is executed after them.

Rules the runner enforces:

* a notebook only receives the parameters its ``parameters`` cell declares. Defaults a notebook does not
  declare are dropped silently (one profile serves every chapter); a per-notebook override that the notebook
  does not declare is an error (it is almost always a typo);
* the profile's name is passed as the ``profile`` parameter (when declared), so a chapter can say on the page
  which profile produced it, and it is recorded in the executed notebook's ``metadata.utrbert``;
* string values starting with ``@`` are resolved by the runner (:data:`TOKENS`):
  ``@demo`` generates a synthetic demo data directory inside the output folder,
  ``@env`` is the real data directory named by ``UTRBERT_DATA`` (checked here, then passed as ``None``, so the
  chapter reads the variable itself and no machine path is written into the executed copy),
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

from utrbert.book.polish import polish_notebook
from utrbert.book.staleness import HASH_KEY, code_hash, stale_reason

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
    "expand_shared",
    "parse_setting",
    "apply_settings",
    "chapter_needs",
]

logger = logging.getLogger(__name__)

DEFAULT_CELL_TIMEOUT = 1800
"""Per-cell execution timeout in seconds when a profile sets no ``cell_timeout``."""

TOKENS = ("@demo", "@env", "@out", "@repo")
"""Special string values resolved by the runner (see the module docstring)."""

PROFILE_KEYS = {"profile", "extends", "description", "defaults", "shared", "notebooks", "cell_timeout"}
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


def _read_yaml_profile(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ProfileError(f"{path}: not valid YAML ({where}{getattr(error, 'problem', None) or error})") from None
    if not isinstance(data, Mapping):
        raise ProfileError(f"{path}: a profile must be a YAML mapping")
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise ProfileError(f"{path}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(PROFILE_KEYS)}")
    return dict(data)


def _extended(path: Path, data: dict[str, Any], seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """``data`` on top of the profile it ``extends`` (a name in the same folder): ``defaults`` and each
    ``shared`` block and chapter's overrides merged key by key (:func:`_merge_profiles`), the other keys replaced.
    """
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str) or not base_name or "/" in base_name:
        raise ProfileError(f"{path}: 'extends' must name a profile in the same folder, got {base_name!r}")
    base_path = path.parent / f"{base_name}.yaml"
    if base_path in seen or base_path == path:
        raise ProfileError(f"{path}: profiles extend each other in a loop ({base_name!r})")
    if not base_path.is_file():
        raise ProfileError(f"{path}: extends {base_name!r}, but {base_path} does not exist")
    base = _extended(base_path, _read_yaml_profile(base_path), (*seen, path))
    return _merge_profiles(base, data)


def _merge_profiles(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """The child profile's keys over the base's; ``defaults``, ``shared`` blocks and chapter overrides key by key.

    >>> _merge_profiles({"defaults": {"a": 1}, "notebooks": {"x": {"p": 1}}, "cell_timeout": 60},
    ...                 {"defaults": {"b": 2}, "notebooks": {"x": {"q": 2}, "y": {}}})
    {'defaults': {'a': 1, 'b': 2}, 'notebooks': {'x': {'p': 1, 'q': 2}, 'y': {}}, 'cell_timeout': 60}
    """
    merged = {**base, **{k: v for k, v in child.items() if k not in ("defaults", "shared", "notebooks")}}
    for key in ("defaults", "shared", "notebooks"):
        if key not in base and key not in child:
            continue
        ours, theirs = base.get(key) or {}, child.get(key) or {}
        if not isinstance(ours, Mapping) or not isinstance(theirs, Mapping):
            raise ProfileError(f"'{key}' must be a mapping in both a profile and the profile it extends")
        if key == "defaults":
            merged[key] = {**ours, **theirs}
        else:  # one level deeper: a shared block or a chapter's overrides
            merged[key] = {name: {**(ours.get(name) or {}), **(theirs.get(name) or {})} for name in {**ours, **theirs}}
    return merged


def load_profile(name_or_path: str | os.PathLike[str], profiles_dir: str | os.PathLike[str] | None = None) -> dict:
    """Load and validate a parameter profile.

    A profile may start from another with ``extends: <name>`` (the gpu-shaped smoke profile is the smoke profile
    plus the gpu profile's options): see :func:`_extended`.

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
    data = _read_yaml_profile(path)
    name = data.get("profile")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{path}: missing 'profile: <name>'")
    if by_name and name != raw:
        raise ProfileError(f"{path}: declares profile {name!r} but was loaded as {raw!r}")
    data = _extended(path, data)
    defaults = data.get("defaults") or {}
    notebooks = data.get("notebooks") or {}
    shared = data.get("shared") or {}
    if not isinstance(defaults, Mapping) or not isinstance(notebooks, Mapping) or not isinstance(shared, Mapping):
        raise ProfileError(f"{path}: 'defaults', 'shared' and 'notebooks' must be mappings")
    overrides = {}
    for stem, params in notebooks.items():
        params = params or {}
        if not isinstance(params, Mapping):
            raise ProfileError(f"{path}: notebooks.{stem} must be a mapping of parameter overrides")
        overrides[str(stem)] = expand_shared(dict(params), shared, f"{path}: notebooks.{stem}")
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


def expand_shared(params: Mapping[str, Any], shared: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A chapter's overrides with the ``shared`` blocks it names under ``use`` expanded in place.

    A block is written once in a profile's ``shared`` mapping and used by every chapter that must agree on it
    (the fine-tuning settings of the chapters that reuse each other's classifiers). A chapter may not set a
    parameter that a block it uses also sets: the point of the block is that they cannot differ.

    >>> expand_shared({"use": ["finetune"], "cnn_epochs": 8}, {"finetune": {"epochs": 4}}, "x")
    {'epochs': 4, 'cnn_epochs': 8}
    """
    params = dict(params)
    names = params.pop("use", [])
    names = [names] if isinstance(names, str) else list(names)
    out: dict[str, Any] = {}
    for name in names:
        block = shared.get(name)
        if not isinstance(block, Mapping):
            raise ProfileError(f"{where}: uses shared block {name!r}, which the profile does not define "
                               f"(shared: {sorted(shared) or 'none'})")
        clash = sorted((set(block) & set(out)) | (set(block) & set(params)))
        if clash:
            raise ProfileError(f"{where}: {clash} set both by shared block {name!r} and elsewhere; set them in one place")
        out.update(block)
    out.update(params)
    return out


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
        _env_data_dir()  # refuse a missing or wrong UTRBERT_DATA before any chapter runs
        return None  # the chapter resolves UTRBERT_DATA itself: no machine path in the executed copy
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
    """Write ``metadata.utrbert`` (profile, parameters, the template's code hash) into an executed notebook, make
    papermill paths relative and polish it for readers (:func:`utrbert.book.polish.polish_notebook`)."""
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
    polish_notebook(nb)  # parameter cells out of the reader's way, no progress bars
    nbformat.write(nb, output)


EXECUTION_ONLY_KEY = "execution_only"
"""Key under a template's ``metadata.utrbert``: the parameters that bound how much one execution computes
(``time_budget_minutes``, ``run_label``, ...) but not what it computes; :func:`current_copy` ignores them."""


def current_copy(template: Path, output: Path, profile_name: str, params: Mapping[str, Any]) -> bool:
    """Whether ``output`` is an executed copy of ``template``'s current code with this profile and parameters
    (those the template lists under :data:`EXECUTION_ONLY_KEY` aside)."""
    import nbformat

    if not output.is_file():
        return False
    ignored = set(nbformat.read(template, as_version=4).metadata.get("utrbert", {}).get(EXECUTION_ONLY_KEY, []))
    recorded = nbformat.read(output, as_version=4).metadata.get("utrbert", {})

    def relevant(values: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in values.items() if key not in ignored}

    return (recorded.get("profile") == profile_name and relevant(recorded.get("parameters", {})) == relevant(params)
            and stale_reason(template, output) is None)


def parse_setting(text: str) -> tuple[str, str, Any]:
    """One ``--set`` argument, ``chapter.parameter=value`` (the value read as YAML), as a triple.

    >>> parse_setting("03_rbp_binding.max_train=500"), parse_setting("05_m6a.analysis_sets=[A549]")
    (('03_rbp_binding', 'max_train', 500), ('05_m6a', 'analysis_sets', ['A549']))
    """
    target, sep, value = text.partition("=")
    stem, dot, name = target.strip().rpartition(".")
    if not sep or not dot or not stem or not name.isidentifier():
        raise ProfileError(f"--set {text!r}: expected CHAPTER.PARAMETER=VALUE, e.g. 03_rbp_binding.max_train=500")
    return stem, name, yaml.safe_load(value) if value.strip() else None


def apply_settings(profile: Mapping[str, Any], settings: Mapping[str, Mapping[str, Any]], stems: Sequence[str]) -> dict:
    """A copy of ``profile`` with per-run ``settings`` (``{stem: {parameter: value}}``) over its overrides."""
    unknown = sorted(set(settings) - set(stems))
    if unknown:
        raise ProfileError(f"--set names chapters not in _toc.yml: {unknown}; chapters are {list(stems)}")
    notebooks = {stem: dict(values) for stem, values in profile["notebooks"].items()}
    for stem, values in settings.items():
        notebooks.setdefault(stem, {}).update(values)
    return {**profile, "notebooks": notebooks}


NEEDS_KEY = "needs"
"""Key under a template's ``metadata.utrbert``: ``{parameter: "<stem>.<parameter>"}``, the chapter outputs it reads."""


def chapter_needs(template: str | os.PathLike[str]) -> dict[str, tuple[str, str]]:
    """What a chapter reads from other chapters: its parameter -> (producing chapter, that chapter's parameter).

    Declared in the template's notebook metadata, e.g. ``"utrbert": {"needs": {"pretrained_dir":
    "02_pretraining.export_dir"}}``: the path in ``pretrained_dir`` is what chapter 02 writes to ``export_dir``.
    """
    import nbformat

    nb = nbformat.read(os.fspath(template), as_version=4)
    needs = nb.metadata.get("utrbert", {}).get(NEEDS_KEY, {})
    out = {}
    for parameter, source in needs.items():
        stem, dot, produced = str(source).partition(".")
        if not dot or not stem or not produced:
            raise BookError(f"{template}: metadata.utrbert.needs.{parameter} must be '<chapter>.<parameter>', got {source!r}")
        out[parameter] = (stem, produced)
    return out


RUN_LAST_KEY = "run_last"
"""Key under a template's ``metadata.utrbert``: ``true`` for a page that summarises the other chapters' results
(the scorecard): it is listed where readers should meet it but executed after every other selected chapter."""


def runs_last(template: str | os.PathLike[str]) -> bool:
    """Whether a chapter template is marked to execute after the others (:data:`RUN_LAST_KEY`)."""
    import nbformat

    nb = nbformat.read(os.fspath(template), as_version=4)
    return bool(nb.metadata.get("utrbert", {}).get(RUN_LAST_KEY, False))


def _with_dependencies(
    selected: list[str], stems: list[str], root: Path, template_of: Any, params_of: Any
) -> list[str]:
    """``selected`` plus the chapters whose missing outputs a selected chapter needs, in the order of ``stems``
    (the execution order: toc order with the pages marked :data:`RUN_LAST_KEY` last)."""
    chosen = set(selected)
    pending = list(selected)
    while pending:
        stem = pending.pop(0)
        for parameter, (producer, produced) in chapter_needs(template_of(stem)).items():
            value = params_of(stem).get(parameter)
            if value is None:
                continue
            if producer not in stems:
                raise BookError(f"{stem}: needs {parameter} from chapter {producer!r}, which is not in _toc.yml")
            path = (root / str(value)).resolve()
            made = params_of(producer).get(produced)
            same = made is not None and (root / str(made)).resolve() == path
            runs_before = producer in chosen and stems.index(producer) < stems.index(stem)
            if same and runs_before:
                continue
            if path.exists():
                logger.info("%s: reusing %s = %s (made by %s)", stem, parameter, value, producer)
                continue
            if same and stems.index(producer) < stems.index(stem):
                logger.info("%s: %s = %s does not exist; running %s first, which writes it", stem, parameter, value, producer)
                chosen.add(producer)
                pending.append(producer)
                continue
            raise BookError(
                f"chapter {stem} needs {parameter} = {value} (made by chapter {producer} as {produced}), which does "
                f"not exist, and {producer} would write {made!r} instead: run {producer} with {produced}={value}, "
                f"or point {stem} at an existing one (--set {stem}.{parameter}=PATH)"
            )
    return [s for s in stems if s in chosen]


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
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    progress_bar: bool = False,
    changed_only: bool = False,
) -> list[Path]:
    """Execute the chapter templates in ``_toc.yml`` order (pages marked :data:`RUN_LAST_KEY` after the others)
    and write executed copies to ``output_dir``.

    A chapter that needs another chapter's output (:func:`chapter_needs`, e.g. chapter 03 needs chapter 02's
    checkpoint) reuses it when it exists; when it does not and the other chapter would write it there, that
    chapter is run first (in toc order); otherwise nothing runs and the error says what is missing.

    Args:
        profile: A profile name, a path to a profile file, or a dict from :func:`load_profile`.
        output_dir: Where ``<stem>.ipynb`` copies go: ``book/`` for real profiles, a scratch folder for smoke.
        only: Chapter stems to run (default: all, plus chapters whose missing outputs they need); toc order.
        repo_root: The repository root (default: found from the working directory). Notebooks are read from
            ``<repo_root>/notebooks`` and executed with ``repo_root`` as working directory.
        settings: Per-run parameter values on top of the profile, ``{stem: {parameter: value}}`` (the CLI's
            ``--set stem.parameter=value``); checked like profile overrides.
        progress_bar: Show papermill's per-cell progress bar.
        changed_only: Skip a chapter whose executed copy in ``output_dir`` is current (:func:`current_copy`:
            same template code, profile and parameters), as make skips a target that is up to date; a page
            marked :data:`RUN_LAST_KEY` runs whenever another chapter ran.

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

    prof = apply_settings(prof, settings or {}, stems)
    declared: dict[str, list[str]] = {}

    def template_of(stem: str) -> Path:
        template = root / "notebooks" / f"{stem}.ipynb"
        if not template.is_file():
            raise BookError(f"chapter {stem!r} is listed in _toc.yml but its template {template} is missing")
        return template

    out.mkdir(parents=True, exist_ok=True)
    demo = _DemoData(out / "demo_data")
    params: dict[str, dict[str, Any]] = {}

    def params_of(stem: str) -> dict[str, Any]:
        if stem not in params:
            declared[stem] = declared_parameters(template_of(stem))
            params[stem] = resolve_parameters(prof, stem, declared[stem], repo_root=root, output_dir=out, demo=demo)
        return params[stem]

    last = {stem for stem in stems if runs_last(template_of(stem))}  # summary pages read the others' results
    order = [stem for stem in stems if stem not in last] + [stem for stem in stems if stem in last]
    selected = _select(order, only)
    for stem in selected:  # every chapter's parameters are checked before any runs, not halfway through the book
        params_of(stem)
    selected = _with_dependencies(selected, order, root, template_of, params_of)
    written: list[Path] = []
    for stem in selected:
        template, output = root / "notebooks" / f"{stem}.ipynb", out / f"{stem}.ipynb"
        if changed_only and not (stem in last and written) and current_copy(template, output, prof["profile"], params[stem]):
            logger.info("%s: %s is current (same code, profile and parameters); not executed again", stem, output)
            continue
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
