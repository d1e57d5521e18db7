"""The resumable item store every benchmark-style run writes to: one JSON file per finished item.

A long run (31 RBP sets x 4 methods, the m6A cell lines, the motif sets, one k of the k-mer size study) is cut
into *items*. Each item is written when it finishes and read back, not recomputed, when a later run (another
session, another machine) asks for it with the same settings. The rules, the same for every run:

* **fingerprint** -- an item records ``fingerprint``, a short digest (:func:`settings_digest`) of the settings
  that determine its result (``settings``, recorded beside it). Files that a result depends on enter the
  settings by content, not by path (:func:`file_identity`; checkpoints by
  :func:`utrbert.models.model.checkpoint_identity`), so a moved file is the same input and an edited one is not;
* **skip if present** -- :meth:`ItemStore.read` returns the stored item when its fingerprint is the one asked for;
* **no mixing** -- an item stored with another fingerprint is an error (:class:`MixedSettingsError`) naming the
  file and both fingerprints, never silently reused and never silently replaced: use another folder, delete the
  item, or adopt new results explicitly (:mod:`utrbert.runs.adoption`);
* **atomic writes** -- :func:`atomic_write_json` writes a temporary file in the same folder, flushes it to disk
  and renames it over the target (``os.replace``), so an interrupted run never leaves half an item.

Item keys are paths relative to the store's folder without ``.json``: ``23_PARCLIP_PUM2_hg19/pretrained``
(RBP-31), ``A549/cnn`` (m6A), ``23_PARCLIP_PUM2_hg19`` (motifs), ``k3`` (k-mer size study).

>>> settings_digest({"max_train": 3000, "seed": 0}) == settings_digest({"seed": 0, "max_train": 3000})
True
>>> len(settings_digest({"seed": 0}))
16
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["MixedSettingsError", "settings_digest", "file_identity", "atomic_write_json", "ItemStore"]

logger = logging.getLogger(__name__)


class MixedSettingsError(ValueError):
    """A stored item was computed with other settings than the run asking for it."""


def settings_digest(fields: Mapping[str, Any]) -> str:
    """Short SHA-256 digest of JSON-serialisable settings (keys sorted; other values by ``str``).

    The format every committed item under ``results/`` was written with; do not change it without a migration.
    """
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_identity(path: str | os.PathLike[str]) -> dict[str, str]:
    """A file as a settings field: its name and the MD5 of its content (not its location).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
    """
    from utrbert.data.registry import file_digest

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file (a run's settings name it)")
    return {"name": file.name, "md5": file_digest(file)}


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_json(
    path: str | os.PathLike[str],
    record: Any,
    *,
    indent: int | None = 1,
    sort_keys: bool = True,
    allow_nan: bool = False,
    default: Callable[[Any], Any] | None = str,
) -> str:
    """Write ``record`` as JSON to ``path`` atomically; return the text written.

    The text goes to a temporary file in the target's folder, is flushed and fsynced, then renamed over the
    target with :func:`os.replace`: a reader (or a run resumed after a kill) sees the old file or the new one,
    never half of one. NaN and infinity are refused (strict JSON) unless ``allow_nan``; values JSON cannot
    hold are written with ``default`` (``str``; None: refused with TypeError).
    """
    text = json.dumps(record, indent=indent, sort_keys=sort_keys, default=default, allow_nan=allow_nan) + "\n"
    atomic_write_text(path, text)
    return text


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; when the block ends without error it is fsynced and renamed
    over ``path`` (the ordinary file mode), otherwise removed. The temporary file is ``.<name>.<random>.tmp``, so
    a listing of ``*.json`` items never picks up a leftover one.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_file(folder / "table.tsv") as temporary:
    ...     _ = temporary.write_text("a\\tb\\n")
    >>> sorted(p.name for p in folder.iterdir())
    ['table.tsv']
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # the mode a plain open() would give, not mkstemp's private 0600
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_file`)."""
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_write_table(frame: Any, path: str | os.PathLike[str], **to_csv: Any) -> None:
    """Write a pandas DataFrame with ``frame.to_csv(path, **to_csv)`` atomically (:func:`atomic_file`); a
    ``.gz`` path is gzipped, as ``to_csv`` would infer from the name."""
    to_csv.setdefault("compression", "gzip" if str(path).endswith(".gz") else None)
    with atomic_file(path) as temporary:
        frame.to_csv(temporary, **to_csv)


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; when the block ends without error it replaces ``path`` (an
    existing folder is moved aside first and removed after), otherwise it is removed and ``path`` is untouched.
    A kill leaves ``path`` as it was or whole, never half written (at worst a leftover ``.<name>.old-*``)."""
    import shutil

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        yield building
        os.chmod(building, 0o777 & ~_umask())
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(building, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def check_output(
    path: str | os.PathLike[str], overwrite: bool = False, *, folder: bool = True, owned: Sequence[str] | None = None
) -> None:
    """Check an output path before any compute: refuse one that already holds results unless ``overwrite``,
    and one that cannot be written (a file where a folder is wanted, no write permission).

    ``folder``: the output is a directory (refused when it has any entry) rather than a single file.
    ``owned``: the names (glob patterns) a command writes into its folder; ``overwrite`` replaces the folder
    whole (:func:`atomic_directory`, so no stale result stays beside new ones), which is refused when the
    folder holds anything else. Raises :class:`FileExistsError` or :class:`PermissionError` naming the path.
    """
    import fnmatch

    target = Path(path)
    if folder and overwrite and owned is not None and target.is_dir():
        foreign = sorted(p.name for p in target.iterdir() if not any(fnmatch.fnmatch(p.name, pattern) for pattern in owned))
        if foreign:
            raise FileExistsError(f"{target} also holds {foreign[:5]}, which this command did not write; --overwrite "
                                  "replaces the whole folder, so choose another --out")
    if folder and target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} is a file; the output must be a folder")
    if not folder and target.is_dir():
        raise FileExistsError(f"{target} is a folder; the output must be a file")
    if not overwrite and (target.is_file() or (target.is_dir() and any(target.iterdir()))):
        raise FileExistsError(f"{target} already holds results; pass --overwrite to replace them, or choose another path")
    existing = target if target.is_dir() else target.parent
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{target}: cannot write under {existing}")


class ItemStore:
    """Finished items of one run, one JSON file each under ``root`` (see the module docstring).

    Args:
        root: The store's folder (created on the first write).
        what: What an item is, for messages (``"RBP-31 item"``, ``"motif set"``).
    """

    def __init__(self, root: str | os.PathLike[str], what: str = "item") -> None:
        self.root = Path(root)
        self.what = what

    def __repr__(self) -> str:
        return f"ItemStore({str(self.root)!r}, what={self.what!r})"

    def path(self, key: str) -> Path:
        """The file of item ``key``: ``<root>/<key>.json``."""
        if not key or key.startswith("/") or ".." in Path(key).parts:
            raise ValueError(f"item key must be a relative path inside the store, got {key!r}")
        return self.root / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored item ``key`` whatever its settings, or None when there is none.

        Raises:
            ValueError: naming the file when it is not valid JSON or has no fingerprint.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: corrupt {self.what} file ({error}); delete it to recompute the item") from error
        if not isinstance(record, dict) or "fingerprint" not in record:
            raise ValueError(f"{path}: not a {self.what} (no 'fingerprint'); delete it or use another folder")
        return record

    def read(self, key: str, fingerprint: str) -> dict[str, Any] | None:
        """The stored item ``key`` if it was computed with ``fingerprint``; None when there is none.

        Raises:
            MixedSettingsError: when the stored item has another fingerprint.
        """
        record = self.load(key)
        if record is not None and record["fingerprint"] != fingerprint:
            raise MixedSettingsError(
                f"{self.path(key)} was computed with other settings (fingerprint {record['fingerprint']} != "
                f"{fingerprint}); use another results directory, delete the old {self.what}, or adopt new results "
                "explicitly (python -m utrbert adopt-checkpoint)"
            )
        return record

    def write(self, key: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``record`` (which must carry its ``fingerprint``) atomically; return it as a later read will."""
        if "fingerprint" not in record:
            raise ValueError(f"{self.what} {key!r} has no 'fingerprint'; the store cannot tell its settings")
        return json.loads(atomic_write_json(self.path(key), record))

    def get_or_compute(
        self, key: str, fingerprint: str, compute: Callable[[], Mapping[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """The stored item, or ``compute()`` stored now: ``(record, computed)``."""
        found = self.read(key, fingerprint)
        if found is not None:
            return found, False
        record = compute()
        if record.get("fingerprint") != fingerprint:
            raise ValueError(f"{self.what} {key!r}: computed with fingerprint {record.get('fingerprint')}, "
                             f"asked for {fingerprint}")
        return self.write(key, record), True

    def keys(self, pattern: str = "**/*.json") -> Iterator[str]:
        """Keys of the stored items whose file matches ``pattern`` (relative to ``root``), sorted."""
        if not self.root.is_dir():
            return iter(())
        paths = sorted(p for p in self.root.glob(pattern) if p.is_file() and not p.name.startswith("."))
        return (p.relative_to(self.root).with_suffix("").as_posix() for p in paths)

    def remove(self, key: str) -> None:
        """Delete item ``key`` (no error when it is absent)."""
        self.path(key).unlink(missing_ok=True)
