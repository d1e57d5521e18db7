"""MEME minimal motif format: read and write :class:`~utrbert.motifs.pwm.Pwm` lists (RNA alphabet).

Biopython reads MEME but cannot write it; this module does both, so discovered motifs go to TOMTOM (or to the
MEME suite) and back. DNA-alphabet files (``ALPHABET= ACGT``) are read with ``T`` as ``U``; each motif's
``MOTIF <name> [<alt name>]`` line becomes :attr:`Pwm.name` / :attr:`Pwm.alt_name`.

>>> import io, tempfile, os
>>> from utrbert.motifs.pwm import iupac_pwm
>>> path = os.path.join(tempfile.mkdtemp(), "m.meme")
>>> _ = write_meme([iupac_pwm("UGUA", name="m1")], path)
>>> [(m.name, m.consensus) for m in read_meme(path)]
[('m1', 'UGUA')]
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from utrbert.motifs.pwm import RNA_ALPHABET, Pwm

__all__ = ["MemeFormatError", "read_meme", "write_meme", "rbp_of", "database_identity"]

_MATRIX = re.compile(r"letter-probability matrix:(?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)\s*=\s*(\S+)")


class MemeFormatError(ValueError):
    """A MEME file that cannot be read, with the file and line that broke it."""


def _fields(text: str) -> dict[str, str]:
    return {key: value for key, value in _FIELD.findall(text)}


def read_meme(path: str | os.PathLike[str]) -> list[Pwm]:
    """Every motif of a MEME minimal-format file, in file order.

    Raises :class:`MemeFormatError` naming the file, line and motif for a missing or non-nucleotide alphabet,
    a matrix whose rows do not have four numbers or do not sum to 1, a width that disagrees with ``w=``,
    duplicate motif names, or a file with no motifs.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MemeFormatError(f"{path}: cannot read MEME file ({exc})") from exc
    alphabet = None
    motifs: list[Pwm] = []
    seen: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("ALPHABET"):
            letters = line.split("=", 1)[1].strip().upper() if "=" in line else ""
            if letters not in ("ACGU", "ACGT"):
                raise MemeFormatError(f"{path}:{i + 1}: alphabet {letters!r} is not ACGU or ACGT")
            alphabet = letters
        elif line.startswith("MOTIF"):
            parts = line.split(maxsplit=2)
            if len(parts) < 2:
                raise MemeFormatError(f"{path}:{i + 1}: MOTIF line without a name")
            name, alt = parts[1], (parts[2] if len(parts) > 2 else "")
            if name in seen:
                raise MemeFormatError(f"{path}:{i + 1}: motif {name!r} appears twice")
            seen.add(name)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("letter-probability matrix"):
                if lines[j].strip().startswith("MOTIF"):
                    break
                j += 1
            if j >= len(lines) or not lines[j].strip().startswith("letter-probability matrix"):
                raise MemeFormatError(f"{path}:{i + 1}: motif {name!r} has no letter-probability matrix")
            fields = _fields(_MATRIX.match(lines[j].strip()).group("fields"))  # type: ignore[union-attr]
            rows: list[list[float]] = []
            k = j + 1
            while k < len(lines):
                text = lines[k].strip()
                if not text:
                    if rows:
                        break
                    k += 1
                    continue
                if not re.match(r"^[-+0-9.eE]", text):
                    break
                try:
                    values = [float(v) for v in text.split()]
                except ValueError as exc:
                    raise MemeFormatError(f"{path}:{k + 1}: motif {name!r}: not a row of numbers: {text!r}") from exc
                if len(values) != 4:
                    raise MemeFormatError(f"{path}:{k + 1}: motif {name!r}: row has {len(values)} values, expected 4")
                rows.append(values)
                k += 1
            width = int(fields.get("w", len(rows)))
            if width != len(rows):
                raise MemeFormatError(f"{path}:{j + 1}: motif {name!r}: w= {width} but {len(rows)} rows follow")
            try:
                motifs.append(Pwm(name=name, matrix=np.array(rows), alt_name=alt,
                                  nsites=int(float(fields.get("nsites", 0))), meta={"source": str(path)}))
            except ValueError as exc:
                raise MemeFormatError(f"{path}:{j + 1}: {exc}") from exc
            i = k
            continue
        i += 1
    if alphabet is None and motifs:
        raise MemeFormatError(f"{path}: no ALPHABET line (expected 'ALPHABET= ACGU')")
    if not motifs:
        raise MemeFormatError(f"{path}: no MOTIF entries")
    return motifs


def write_meme(
    motifs: Sequence[Pwm], path: str | os.PathLike[str], background: Sequence[float] = (0.25, 0.25, 0.25, 0.25)
) -> Path:
    """Write motifs as MEME minimal format (version 5, ``ALPHABET= ACGU``, forward strand only)."""
    path = Path(path)
    names = [m.name for m in motifs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"motif names must be unique for MEME output; repeated: {duplicates}")
    lines = ["MEME version 5", "", f"ALPHABET= {RNA_ALPHABET}", "", "strands: +", "", "Background letter frequencies",
             " ".join(f"{letter} {p:.6f}" for letter, p in zip(RNA_ALPHABET, background)), ""]
    for motif in motifs:
        if any(c.isspace() for c in motif.name) or not motif.name:
            raise ValueError(f"motif name {motif.name!r} must be non-empty and contain no whitespace")
        lines.append(f"MOTIF {motif.name}" + (f" {motif.alt_name}" if motif.alt_name else ""))
        lines.append(f"letter-probability matrix: alength= 4 w= {motif.width} nsites= {motif.nsites} E= 0")
        lines += [" ".join(f"{value:.6f}" for value in row) for row in motif.matrix]
        lines.append("")
    from utrbert.runs.store import atomic_write_text

    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def rbp_of(motif: Pwm) -> str:
    """The RBP gene of a database motif from its MEME alternative name.

    ATtRACT entries read ``<Gene>:<ENSG>:<Matrix_id>``, CISBP-RNA ones ``<Gene>``.

    >>> rbp_of(Pwm("904", np.full((1, 4), 0.25), alt_name="HNRNPH2:ENSG00000126945:904"))
    'HNRNPH2'
    """
    return motif.alt_name.split(":", 1)[0].strip() if motif.alt_name else ""


def database_identity(motifs: Sequence[Pwm]) -> dict[str, Any]:
    """A motif database by content, for a run's settings: how many motifs and a SHA-256 of their names,
    alternative names and matrices (rounded to 6 decimals), in order. A copy at another path is the same
    database; an edited or filtered one is not.

    >>> from utrbert.motifs.pwm import iupac_pwm
    >>> a = database_identity([iupac_pwm("UGUAHAUA", name="PUM")])
    >>> a["motifs"], a == database_identity([iupac_pwm("UGUAHAUA", name="PUM")]), a == database_identity([])
    (1, True, False)
    """
    import hashlib
    import json

    digest = hashlib.sha256()
    for motif in motifs:
        entry = [motif.name, motif.alt_name, np.round(np.asarray(motif.matrix, dtype=np.float64), 6).tolist()]
        digest.update(json.dumps(entry).encode("utf-8"))
    return {"motifs": len(motifs), "sha256": digest.hexdigest()}

