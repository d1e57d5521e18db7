"""Position weight matrices over the RNA alphabet ``ACGU``: construction, information content, trimming.

A :class:`Pwm` is a ``(width, 4)`` letter-probability matrix (columns ``A C G U``, rows summing to 1) with a
name, an optional alternative name (for database motifs, the RBP) and the number of sites it was built from.
This fixes the defect of the original code, whose ``Bio.motifs.create`` call used a DNA alphabet and silently
dropped every ``U`` (ANCHORS.md §2.4 item 5): here ``T`` is read as ``U`` and anything else is an error.

>>> pwm = pwm_from_sites(["UGUA", "UGUA", "UGCA"], name="demo", pseudocount=0.0)
>>> pwm.consensus
'UGUA'
>>> pwm.matrix[2].round(3).tolist()
[0.0, 0.333, 0.0, 0.667]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RNA_ALPHABET", "IUPAC_RNA", "Pwm", "pwm_from_sites", "iupac_pwm", "information_content", "trim_pwm"]

RNA_ALPHABET = "ACGU"
"""Column order of every PWM (the MEME ``ALPHABET= ACGU`` order, and memelite's)."""

IUPAC_RNA: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "U": "U", "R": "AG", "Y": "CU", "S": "CG", "W": "AU", "K": "GU", "M": "AC",
    "B": "CGU", "D": "AGU", "H": "ACU", "V": "ACG", "N": "ACGU",
}
"""IUPAC nucleotide codes (RNA letters) and the bases each one allows."""

ROW_SUM_TOLERANCE = 0.02
"""How far a row may sum from 1 before it is an error (ATtRACT's MEME file has rows summing to 0.99);
rows within it are renormalised."""

_INDEX = {letter: i for i, letter in enumerate(RNA_ALPHABET)}


@dataclass(frozen=True)
class Pwm:
    """A letter-probability matrix over ``ACGU`` (``matrix[i, j]``: P(letter j at position i))."""

    name: str
    matrix: np.ndarray
    alt_name: str = ""
    nsites: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        matrix = np.asarray(self.matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != 4 or matrix.shape[0] == 0:
            raise ValueError(f"motif {self.name!r}: a PWM must have shape (width >= 1, 4), got {matrix.shape}")
        if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
            raise ValueError(f"motif {self.name!r}: PWM entries must be finite and non-negative")
        sums = matrix.sum(axis=1)
        if np.any(np.abs(sums - 1) > ROW_SUM_TOLERANCE):
            row = int(np.argmax(np.abs(sums - 1)))
            raise ValueError(f"motif {self.name!r}: row {row + 1} sums to {sums[row]:.4f}, not 1")
        object.__setattr__(self, "matrix", matrix / sums[:, None])

    @property
    def width(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def consensus(self) -> str:
        """The most probable letter at each position (ties: first in ``ACGU``)."""
        return "".join(RNA_ALPHABET[i] for i in self.matrix.argmax(axis=1))

    def with_matrix(self, matrix: np.ndarray, **changes: Any) -> Pwm:
        """A copy with another matrix (and optionally other fields)."""
        values = {"name": self.name, "alt_name": self.alt_name, "nsites": self.nsites, "meta": dict(self.meta)}
        values.update(changes)
        return Pwm(matrix=matrix, **values)


def pwm_from_sites(
    sites: Sequence[str], name: str, alt_name: str = "", pseudocount: float = 0.01, meta: dict[str, Any] | None = None
) -> Pwm:
    """Letter frequencies of equal-length aligned sites (``T`` read as ``U``); ``N`` counts for no letter.

    ``pseudocount`` is added to every cell before normalising (so unseen letters are not impossible).

    >>> pwm_from_sites(["ACGN", "ACGU"], "x", pseudocount=0.0).matrix[3].tolist()
    [0.0, 0.0, 0.0, 1.0]
    """
    if not sites:
        raise ValueError(f"motif {name!r}: no sites to build a PWM from")
    width = len(sites[0])
    counts = np.zeros((width, 4), dtype=np.float64)
    for number, site in enumerate(sites):
        text = site.upper().replace("T", "U")
        if len(text) != width:
            raise ValueError(f"motif {name!r}: site {number + 1} ({site!r}) has length {len(text)}, expected {width}")
        for position, letter in enumerate(text):
            if letter in _INDEX:
                counts[position, _INDEX[letter]] += 1
            elif letter != "N":
                raise ValueError(f"motif {name!r}: site {number + 1} ({site!r}) has letter {letter!r} outside ACGUN")
    counts += pseudocount
    empty = counts.sum(axis=1) == 0
    if np.any(empty):
        raise ValueError(f"motif {name!r}: position(s) {(np.flatnonzero(empty) + 1).tolist()} have no A/C/G/U letter")
    return Pwm(name=name, matrix=counts / counts.sum(axis=1, keepdims=True), alt_name=alt_name, nsites=len(sites),
               meta=dict(meta or {}))


def iupac_pwm(pattern: str, name: str | None = None) -> Pwm:
    """The PWM of an IUPAC pattern: uniform over the letters each code allows.

    >>> iupac_pwm("UGUAHAUA").matrix[4].round(3).tolist()
    [0.333, 0.333, 0.0, 0.333]
    """
    rows = []
    for letter in pattern.upper().replace("T", "U"):
        if letter not in IUPAC_RNA:
            raise ValueError(f"motif pattern {pattern!r}: {letter!r} is not an IUPAC nucleotide code")
        row = np.zeros(4)
        row[[_INDEX[b] for b in IUPAC_RNA[letter]]] = 1.0
        rows.append(row / row.sum())
    if not rows:
        raise ValueError("motif pattern is empty")
    return Pwm(name=name or pattern, matrix=np.array(rows))


def information_content(pwm: Pwm | np.ndarray, background: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> np.ndarray:
    """Bits of information per position (relative entropy to ``background``).

    >>> information_content(iupac_pwm("AN")).round(3).tolist()
    [2.0, 0.0]
    """
    matrix = pwm.matrix if isinstance(pwm, Pwm) else np.asarray(pwm, dtype=np.float64)
    bg = np.asarray(background, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(matrix > 0, matrix * np.log2(matrix / bg), 0.0)
    return terms.sum(axis=1)


def trim_pwm(pwm: Pwm, min_ic: float = 0.3, min_width: int = 4) -> Pwm:
    """Drop low-information flanking columns (< ``min_ic`` bits), keeping at least ``min_width`` columns.

    The trimmed offset is recorded in ``meta["trimmed_left"]`` so instances stay placeable.

    >>> matrix = np.vstack([iupac_pwm("N").matrix, iupac_pwm("UGUA").matrix, iupac_pwm("NN").matrix])
    >>> trim_pwm(Pwm("x", matrix), min_width=2).consensus
    'UGUA'
    """
    ic = information_content(pwm)
    keep = np.flatnonzero(ic >= min_ic)
    if len(keep) == 0:  # nothing informative: the central min_width columns
        left = (pwm.width - min(min_width, pwm.width)) // 2
        right = left + min(min_width, pwm.width)
    else:
        left, right = int(keep[0]), int(keep[-1]) + 1
    while right - left < min(min_width, pwm.width):  # widen around the informative core, left first on ties
        if left > 0 and (right >= pwm.width or ic[left - 1] >= ic[right]):
            left -= 1
        else:
            right += 1
    meta = dict(pwm.meta)
    meta["trimmed_left"] = meta.get("trimmed_left", 0) + left
    return pwm.with_matrix(pwm.matrix[left:right], meta=meta)
