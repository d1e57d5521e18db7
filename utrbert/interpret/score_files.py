"""Per-nucleotide score files keyed by sequence id: what ``attention`` writes and ``motifs`` reads.

Two forms, chosen by suffix:

- ``.tsv`` (optionally ``.gz``): columns ``id`` and ``scores`` (comma-separated floats, one per nucleotide);
- ``.npz``: ``ids`` (strings), ``scores`` (2-D float array, rows padded with NaN to the longest sequence) and,
  when written here, ``lengths`` and ``provenance`` (a JSON string).

:func:`write_scores` also writes ``<file>.provenance.json`` beside either form (model, k, layers, versions).

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "s.tsv")
>>> _ = write_scores({"a": np.array([0.5, 1.0]), "b": np.array([2.0])}, path)
>>> {k: v.tolist() for k, v in read_scores(path).items()}
{'a': [0.5, 1.0], 'b': [2.0]}
"""

from __future__ import annotations

import gzip
import zipfile
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from utrbert.data.registry import file_digest
from utrbert.runs.store import atomic_file, atomic_write_json

__all__ = ["ScoreFileError", "read_scores", "write_scores", "provenance_path", "read_score_provenance"]


class ScoreFileError(ValueError):
    """A score file that cannot be read, naming the file, line or record."""


def provenance_path(path: str | os.PathLike[str]) -> Path:
    """``<file>.provenance.json`` next to a score file."""
    path = Path(path)
    return path.with_name(path.name + ".provenance.json")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(".tsv") or name.endswith(".tsv.gz"):
        return "tsv"
    raise ScoreFileError(f"{path}: score files must end in .tsv, .tsv.gz or .npz")


def write_scores(
    scores: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    provenance: Mapping[str, Any] | None = None,
    npz_dtype: str = "float32",
) -> Path:
    """Write per-nucleotide scores (``id -> 1-D array``) as TSV or NPZ (by suffix), plus a provenance file.

    ``npz_dtype="float16"`` halves an NPZ's size (about 3 significant digits, enough for attention scores).
    """
    path = Path(path)
    kind = _kind(path)
    ids = list(scores)
    arrays = [np.asarray(scores[i], dtype=np.float64) for i in ids]
    for record_id, values in zip(ids, arrays):
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(f"record {record_id!r}: scores must be a non-empty 1-D array, got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"record {record_id!r}: scores contain NaN or infinite values")
        if any(c in str(record_id) for c in "\t\n"):
            raise ValueError(f"record id {record_id!r} contains a tab or newline")
    path.parent.mkdir(parents=True, exist_ok=True)
    info = dict(provenance or {})
    with atomic_file(path) as temporary:
        if kind == "tsv":
            lines = ["id\tscores"] + [f"{i}\t" + ",".join(f"{v:.6g}" for v in a) for i, a in zip(ids, arrays)]
            text = "\n".join(lines) + "\n"
            if path.name.lower().endswith(".gz"):
                with gzip.open(temporary, "wt", encoding="utf-8") as handle:
                    handle.write(text)
            else:
                temporary.write_text(text, encoding="utf-8")
        else:
            width = max((len(a) for a in arrays), default=0)
            padded = np.full((len(arrays), width), np.nan, dtype=np.dtype(npz_dtype))
            for row, values in enumerate(arrays):
                padded[row, : len(values)] = values
            with open(temporary, "wb") as handle:  # a file handle: numpy adds no .npz suffix
                np.savez_compressed(handle, ids=np.array(ids, dtype=str), scores=padded,
                                    lengths=np.array([len(a) for a in arrays], dtype=np.int64),
                                    provenance=np.array(json.dumps(info, default=str)))
        digest = file_digest(temporary, "sha256")
    # written after the data: a kill in between leaves a provenance file whose digest names the old data
    atomic_write_json(provenance_path(path), {**info, DATA_DIGEST_KEY: digest}, allow_nan=True)
    return path


DATA_DIGEST_KEY = "data_sha256"
"""Key of a score file's provenance that holds the sha256 of the score file it describes."""


def read_score_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance file of a score file, checked against the scores it describes: when it records their
    sha256 (files written since it does) and the score file is another, :class:`ScoreFileError` names both."""
    path = Path(path)
    side = provenance_path(path)
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScoreFileError(f"{side}: cannot read the provenance of {path.name} ({exc})") from exc
    recorded = info.get(DATA_DIGEST_KEY)
    if recorded is not None and recorded != file_digest(path, "sha256"):
        raise ScoreFileError(f"{side} describes another version of {path.name} (its sha256 differs): write the "
                             "scores again")
    return info


def read_scores(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a score file (TSV or NPZ, see the module docstring) into ``id -> 1-D float array``.

    NPZ rows without ``lengths`` are trimmed of trailing NaN padding. Duplicate ids, empty or non-numeric
    score lists and NaN inside a sequence raise :class:`ScoreFileError` naming the record.
    """
    path = Path(path)
    kind = _kind(path)
    out: dict[str, np.ndarray] = {}

    def add(record_id: str, values: np.ndarray, where: str) -> None:
        if record_id in out:
            raise ScoreFileError(f"{where}: record {record_id!r} appears twice")
        if len(values) == 0:
            raise ScoreFileError(f"{where}: record {record_id!r} has no scores")
        if not np.all(np.isfinite(values)):
            raise ScoreFileError(f"{where}: record {record_id!r} has NaN or infinite scores")
        out[record_id] = values

    if kind == "tsv":
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError, EOFError) as exc:
            raise ScoreFileError(f"{path}: cannot read ({exc})") from exc
        if not lines or [c.strip().lower() for c in lines[0].split("\t")] != ["id", "scores"]:
            raise ScoreFileError(f"{path}:1: header must be 'id<TAB>scores'")
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ScoreFileError(f"{path}:{number}: expected 2 tab-separated fields, found {len(fields)}")
            record_id, text = fields[0].strip(), fields[1].strip()
            try:
                values = np.array([float(v) for v in text.split(",")], dtype=np.float64) if text else np.zeros(0)
            except ValueError as exc:
                raise ScoreFileError(f"{path}:{number}: record {record_id!r}: scores are not numbers") from exc
            add(record_id, values, f"{path}:{number}")
    else:
        try:
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:  # closed on any error
                if "ids" not in data or "scores" not in data:
                    raise ScoreFileError(f"{path}: an .npz score file needs 'ids' and 'scores' arrays")
                ids, matrix = data["ids"], np.asarray(data["scores"], dtype=np.float64)
                lengths = data["lengths"] if "lengths" in data else None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            if isinstance(exc, ScoreFileError):
                raise
            raise ScoreFileError(f"{path}: cannot read ({type(exc).__name__}: {exc}; truncated or not an .npz file?)") from exc
        if matrix.ndim != 2 or len(ids) != len(matrix):
            raise ScoreFileError(f"{path}: 'scores' must be 2-D with one row per id ({len(ids)} ids, shape {matrix.shape})")
        for row, record_id in enumerate(ids):
            values = matrix[row]
            if lengths is not None:
                values = values[: int(lengths[row])]
            else:
                finite = np.flatnonzero(np.isfinite(values))
                values = values[: finite[-1] + 1] if len(finite) else values[:0]
            add(str(record_id), values, str(path))
    if not out:
        raise ScoreFileError(f"{path}: no records")
    return out
