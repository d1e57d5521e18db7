"""In-silico saturation mutagenesis: every single-nucleotide substitution of a sequence, scored by a classifier.

For a sequence of length L there are 3L variants (each position changed to each other base of ``ACGU``; an
``N`` position gets all four). All variants of a sequence are tokenized at once and scored in batches (a 101-nt
window's 303 variants are one forward pass at the default batch size); ``delta`` is the variant's score minus
the reference's, so negative values mark substitutions that weaken the predicted binding.

>>> [(v.position, v.ref, v.alt, v.sequence) for v in single_nucleotide_variants("AC")][:3]
[(0, 'A', 'C', 'CC'), (0, 'A', 'G', 'GC'), (0, 'A', 'U', 'UC')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Variant", "single_nucleotide_variants", "saturation_mutagenesis", "mutagenesis_matrix", "score_sequences"]

BASES = "ACGU"


@dataclass(frozen=True)
class Variant:
    """One substitution: 0-based ``position``, reference and alternative letter, the variant sequence."""

    position: int
    ref: str
    alt: str
    sequence: str


def single_nucleotide_variants(sequence: str) -> list[Variant]:
    """All single-nucleotide substitutions of ``sequence`` (``T`` read as ``U``), position by position."""
    text = sequence.upper().replace("T", "U")
    bad = sorted(set(text) - set(BASES + "N"))
    if bad:
        raise ValueError(f"sequence has letters outside ACGUN: {bad}")
    if not text:
        raise ValueError("sequence is empty")
    return [Variant(i, ref, alt, text[:i] + alt + text[i + 1:]) for i, ref in enumerate(text) for alt in BASES
            if alt != ref]


def saturation_mutagenesis(
    model: Any,
    tokenizer: Any,
    sequence: str,
    record_id: str = "sequence",
    batch_size: int = 512,
    device: str = "cpu",
    precision: str = "fp32",
) -> tuple[float, pd.DataFrame]:
    """The reference score and a table ``id, position, ref, alt, score, delta`` (one row per variant).

    Raises naming ``record_id`` for a bad alphabet or a sequence the model window cannot hold.
    """
    from utrbert.models.finetuning import predict_sequences

    try:
        variants = single_nucleotide_variants(sequence)
        texts = [sequence.upper().replace("T", "U")] + [v.sequence for v in variants]
        scores = predict_sequences(model, tokenizer, texts, ["reference"] + [f"v{i}" for i in range(len(variants))],
                                   batch_size=batch_size, device=device, precision=precision)
    except ValueError as exc:
        raise ValueError(f"record {record_id!r}: {exc}") from exc
    reference = float(scores[0])
    table = pd.DataFrame({
        "id": record_id,
        "position": [v.position for v in variants],
        "ref": [v.ref for v in variants],
        "alt": [v.alt for v in variants],
        "score": scores[1:],
        "delta": scores[1:] - reference,
    })
    return reference, table


def mutagenesis_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """``delta`` as a 4 x L matrix (rows ``A C G U``, columns positions; the reference letter's cell is 0).

    >>> t = pd.DataFrame({"position": [0, 0, 0], "ref": ["A"] * 3, "alt": ["C", "G", "U"], "delta": [.1, .2, .3]})
    >>> mutagenesis_matrix(t).to_numpy().ravel().tolist()
    [0.0, 0.1, 0.2, 0.3]
    """
    length = int(table["position"].max()) + 1
    matrix = pd.DataFrame(np.zeros((4, length)), index=list(BASES), columns=range(length))
    for row in table.itertuples(index=False):
        matrix.loc[row.alt, row.position] = row.delta
    return matrix


def score_sequences(
    model: Any, tokenizer: Any, records: Sequence[Any], batch_size: int = 512, device: str = "cpu"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mutagenesis of several records: the concatenated variant table and one summary row per record."""
    tables, summary = [], []
    for record in records:
        reference, table = saturation_mutagenesis(model, tokenizer, record.sequence, record.id, batch_size, device)
        worst = table.loc[table["delta"].idxmin()]
        summary.append({"id": record.id, "length": len(record.sequence), "reference_score": reference,
                        "min_delta": float(worst["delta"]), "most_damaging": f"{worst['ref']}{int(worst['position']) + 1}{worst['alt']}",
                        "max_delta": float(table["delta"].max()), "mean_abs_delta": float(table["delta"].abs().mean())})
        tables.append(table)
    return pd.concat(tables, ignore_index=True), pd.DataFrame(summary)
