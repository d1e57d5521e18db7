"""Seeded synthetic 3'UTR-like sequences with planted motifs, and a small demo data directory.

The generator is for tests, demos and sanity checks of the pipeline, never for biological claims:

- **Background**: independent nucleotides with an A/U-rich composition like human 3'UTRs,
  :data:`UTR_BASE_COMPOSITION` = A 0.29, U 0.30, C 0.20, G 0.21 (human 3'UTRs are roughly 60% A+U).
- **Motifs** (:data:`MOTIFS`, IUPAC patterns over ``ACGU``):

  - ``PUM`` = ``UGUAHAUA``: Pumilio response element bound by PUM1/PUM2 (H = A, C or U);
  - ``ARE`` = ``AUUUA``: AU-rich element pentamer bound by ELAVL1 (HuR), TTP and others;
  - ``DRACH`` = ``DRACH``: the m6A consensus (D = A/G/U, R = A/G, H = A/C/U); the methylated A is index 2;
  - ``PAS`` = ``AAUAAA``: the canonical poly(A) signal, about 10-30 nt upstream of the cleavage site.

- **Labels are exact**: a positive has the motif planted (positions in ``meta``), and a negative is
  re-drawn until it contains no occurrence of the motif, so a model can learn the task perfectly.

:func:`write_demo_data` writes a small data directory with the same layout and file formats as the
real one (RBP-31, MST-m6A, DM3Loc, 3UTRBERT vocabularies, ATtRACT MEME), marked as synthetic by a
``DEMO_DATA.md`` file at its root, so the real readers and notebooks run on it in seconds.

Every random function takes a ``seed`` (int) or a :class:`numpy.random.Generator`; nothing is seeded globally.

>>> rng = np.random.default_rng(0)
>>> len(random_utr(50, rng))
50
>>> find_motif("AAUGUACAUAGG", "UGUAHAUA")
[2]
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np

from utrbert.tokens.kmers import SUPPORTED_K, kmer_vocab
from utrbert.data.readers import (
    DM3LOC_FASTA_NAME,
    DM3LOC_N_FOLDS,
    LOCALIZATION_COMPARTMENTS,
    MST_M6A_CENTRE,
    MST_M6A_SOURCE_LENGTH,
    fold_list_label,
)
from utrbert.data.records import SequenceRecord

__all__ = [
    "UTR_BASE_COMPOSITION",
    "IUPAC_RNA",
    "MOTIFS",
    "DEMO_MARKER",
    "DEMO_SCALES",
    "DemoScale",
    "as_generator",
    "random_utr",
    "motif_instance",
    "find_motif",
    "plant_motif",
    "add_poly_a_signal",
    "make_binary_dataset",
    "make_motif_attention_demo",
    "make_m6a_windows",
    "make_mrna",
    "make_localization_dataset",
    "is_demo_data",
    "write_demo_data",
]

logger = logging.getLogger(__name__)

SeedLike = int | np.random.Generator

UTR_BASE_COMPOSITION: Mapping[str, float] = MappingProxyType({"A": 0.29, "U": 0.30, "C": 0.20, "G": 0.21})
"""Background nucleotide frequencies (A/U-rich, like human 3'UTRs)."""

IUPAC_RNA: Mapping[str, str] = MappingProxyType(
    {
        "A": "A", "C": "C", "G": "G", "U": "U",
        "R": "AG", "Y": "CU", "S": "CG", "W": "AU", "K": "GU", "M": "AC",
        "B": "CGU", "D": "AGU", "H": "ACU", "V": "ACG", "N": "ACGU",
    }
)  # fmt: skip
"""IUPAC nucleotide code -> the RNA bases it stands for."""

MOTIFS: Mapping[str, str] = MappingProxyType({"PUM": "UGUAHAUA", "ARE": "AUUUA", "DRACH": "DRACH", "PAS": "AAUAAA"})
"""Named motifs used by the generator (see the module docstring for what each one is)."""

DEMO_MARKER = "DEMO_DATA.md"
"""File at the root of a directory written by :func:`write_demo_data`."""

_SENSE_CODONS = tuple(
    a + b + c for a in "ACGU" for b in "ACGU" for c in "ACGU" if a + b + c not in ("UAA", "UAG", "UGA")
)
_STOP_CODONS = ("UAA", "UAG", "UGA")


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A NumPy generator from an int seed (or the generator itself).

    >>> int(as_generator(3).integers(100)) == int(as_generator(3).integers(100))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")


# ----- sequences and motifs ---------------------------------------------------------------------------------


def random_utr(length: int, rng: SeedLike, composition: Mapping[str, float] = UTR_BASE_COMPOSITION) -> str:
    """A random RNA sequence of ``length`` nt with independent bases drawn from ``composition``.

    >>> set(random_utr(200, 1)) <= set("ACGU")
    True
    """
    if length < 0:
        raise ValueError(f"length must be non-negative, got {length}")
    bases = sorted(composition)
    if set(bases) != set("ACGU"):
        raise ValueError(f"composition must give A, C, G and U, got {sorted(composition)}")
    weights = np.array([composition[b] for b in bases], dtype=float)
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError(f"composition must be non-negative and sum to 1, got {dict(composition)}")
    codes = as_generator(rng).choice(4, size=length, p=weights)
    return np.frombuffer("".join(bases).encode(), dtype=np.uint8)[codes].tobytes().decode()


def _check_pattern(pattern: str) -> str:
    pattern = pattern.upper().replace("T", "U")
    bad = set(pattern) - set(IUPAC_RNA)
    if not pattern or bad:
        raise ValueError(f"motif pattern {pattern!r} must be IUPAC nucleotide codes, found {sorted(bad)}")
    return pattern


def motif_instance(pattern: str, rng: SeedLike) -> str:
    """One concrete sequence matching an IUPAC ``pattern`` (each ambiguity code drawn uniformly).

    >>> motif_instance("UGUAHAUA", 0)[4] in "ACU"
    True
    """
    generator = as_generator(rng)
    return "".join(str(generator.choice(list(IUPAC_RNA[code]))) for code in _check_pattern(pattern))


def _motif_regex(pattern: str) -> re.Pattern[str]:
    body = "".join(code if len(IUPAC_RNA[code]) == 1 else f"[{IUPAC_RNA[code]}]" for code in _check_pattern(pattern))
    return re.compile(f"(?=({body}))")


def find_motif(sequence: str, pattern: str) -> list[int]:
    """Start positions of all (overlapping) occurrences of an IUPAC ``pattern``; T is read as U.

    >>> find_motif("AUUUAUUUA", "AUUUA")
    [0, 4]
    """
    text = sequence.upper().replace("T", "U")
    return [match.start() for match in _motif_regex(pattern).finditer(text)]


def plant_motif(
    sequence: str,
    pattern: str,
    rng: SeedLike,
    position: int | None = None,
    avoid: Sequence[tuple[int, int]] = (),
) -> tuple[str, int, str]:
    """Overwrite part of ``sequence`` with an instance of ``pattern`` (same length out as in).

    ``position`` is drawn uniformly among the places that do not overlap the ``(start, end)`` spans
    in ``avoid`` when not given. Returns the new sequence, the position and the planted instance.

    >>> plant_motif("AAAAAAAAAA", "GGG", 0, position=2)
    ('AAGGGAAAAA', 2, 'GGG')
    """
    generator = as_generator(rng)
    instance = motif_instance(pattern, generator)
    width = len(instance)
    if width > len(sequence):
        raise ValueError(f"motif {pattern!r} ({width} nt) does not fit a {len(sequence)}-nt sequence")
    if position is None:
        free = [p for p in range(len(sequence) - width + 1) if all(p + width <= s or p >= e for s, e in avoid)]
        if not free:
            raise ValueError(f"no room left for motif {pattern!r} in a {len(sequence)}-nt sequence")
        position = int(generator.choice(free))
    if not 0 <= position <= len(sequence) - width:
        raise ValueError(f"position {position} puts motif {pattern!r} outside a {len(sequence)}-nt sequence")
    return sequence[:position] + instance + sequence[position + width :], position, instance


def add_poly_a_signal(sequence: str, rng: SeedLike, distance: tuple[int, int] = (10, 30)) -> tuple[str, int]:
    """Plant ``AAUAAA`` so that it ends ``distance`` (drawn from the inclusive range) nt before the 3' end.

    >>> seq, pos = add_poly_a_signal("C" * 60, 0)
    >>> seq[pos:pos + 6], 10 <= len(seq) - (pos + 6) <= 30
    ('AAUAAA', True)
    """
    low, high = distance
    gap = int(as_generator(rng).integers(low, high + 1))
    position = len(sequence) - gap - len(MOTIFS["PAS"])
    if position < 0:
        raise ValueError(f"a {len(sequence)}-nt sequence is too short for a poly(A) signal {gap} nt from its end")
    new, position, _ = plant_motif(sequence, MOTIFS["PAS"], rng, position=position)
    return new, position


def _background(
    length: int, motif: str, rng: np.random.Generator, poly_a_signal: bool, max_tries: int = 1000
) -> tuple[str, int | None]:
    """Random background (with a poly(A) signal if asked) containing no occurrence of ``motif``."""
    for _ in range(max_tries):
        sequence, pas = random_utr(length, rng), None
        if poly_a_signal:
            sequence, pas = add_poly_a_signal(sequence, rng)
        if not find_motif(sequence, motif):
            return sequence, pas
    raise RuntimeError(f"could not draw a {length}-nt background free of {motif!r} in {max_tries} tries")


def make_binary_dataset(
    n: int,
    length: int = 101,
    motif: str = MOTIFS["PUM"],
    positive_fraction: float = 0.2,
    seed: SeedLike = 0,
    copies: int = 1,
    id_prefix: str = "synthetic",
    poly_a_signal: bool = False,
) -> list[SequenceRecord]:
    """``n`` labelled 3'UTR-like sequences: positives carry ``copies`` planted instances of ``motif``.

    Exactly ``round(n * positive_fraction)`` records are positive, in random order. Every background
    is drawn free of the motif, so negatives contain none. ``meta`` holds ``motif``,
    ``motif_positions`` and ``motif_instances`` (empty for negatives) and, with ``poly_a_signal``,
    ``poly_a_signal_position`` (motifs are never planted over the signal).

    >>> records = make_binary_dataset(10, 60, "AUUUA", positive_fraction=0.5, seed=1)
    >>> sum(r.label for r in records), all(bool(find_motif(r.sequence, "AUUUA")) == r.label for r in records)
    (5, True)
    """
    if n < 1 or not 0.0 <= positive_fraction <= 1.0 or copies < 1:
        raise ValueError(
            f"need n >= 1, 0 <= positive_fraction <= 1 and copies >= 1 (got {n}, {positive_fraction}, {copies})"
        )
    motif = _check_pattern(motif)
    rng = as_generator(seed)
    labels = np.zeros(n, dtype=int)
    labels[: round(n * positive_fraction)] = 1
    rng.shuffle(labels)
    records = []
    for index, label in enumerate(labels.tolist()):
        sequence, pas = _background(length, motif, rng, poly_a_signal)
        meta: dict[str, object] = {"motif": motif}
        avoid: list[tuple[int, int]] = []
        if pas is not None:
            avoid.append((pas, pas + len(MOTIFS["PAS"])))
            meta["poly_a_signal_position"] = pas
        positions, instances = [], []
        for _ in range(copies if label == 1 else 0):
            sequence, position, instance = plant_motif(sequence, motif, rng, avoid=avoid)
            avoid.append((position, position + len(instance)))
            positions.append(position)
            instances.append(instance)
        meta.update(motif_positions=tuple(positions), motif_instances=tuple(instances))
        records.append(SequenceRecord(f"{id_prefix}_{index}", sequence, label, meta))
    return records


def make_motif_attention_demo(
    n_positive: int,
    n_negative: int,
    motifs: Sequence[str] = (MOTIFS["PUM"], "UGCAUGU"),
    length: int = 101,
    seed: SeedLike = 0,
    spike_rate: float = 0.02,
) -> tuple[list[SequenceRecord], list[SequenceRecord], dict[str, np.ndarray]]:
    """Positives carrying one planted instance of one of ``motifs`` (in turn), motif-free negatives, and
    attention-like per-nucleotide scores for every record (for testing motif discovery, not a model).

    Scores are positive noise (exponential, mean 1) with random single-nucleotide spikes at ``spike_rate``;
    in positives the planted instance (and 1 nt either side) gets 4-6x the mean. ``meta["motif"]`` and
    ``meta["motif_positions"]`` say what was planted where.

    >>> pos, neg, scores = make_motif_attention_demo(4, 3, seed=0)
    >>> [r.meta["motif"] for r in pos], len(neg), scores[pos[0].id].shape
    (['UGUAHAUA', 'UGCAUGU', 'UGUAHAUA', 'UGCAUGU'], 3, (101,))
    """
    rng = as_generator(seed)
    patterns = [_check_pattern(m) for m in motifs]
    if not patterns:
        raise ValueError("give at least one motif to plant")

    def noise() -> np.ndarray:
        values = rng.exponential(1.0, size=length)
        spikes = rng.random(length) < spike_rate
        values[spikes] *= 5.0
        return values

    def free_of_all(index: int) -> str:
        for _ in range(1000):
            sequence = random_utr(length, rng)
            if not any(find_motif(sequence, m) for m in patterns):
                return sequence
        raise RuntimeError(f"could not draw a {length}-nt sequence free of {patterns} (record {index})")

    positives, negatives, scores = [], [], {}
    for index in range(n_positive):
        pattern = patterns[index % len(patterns)]
        sequence, position, instance = plant_motif(free_of_all(index), pattern, rng)
        values = noise()
        lo, hi = max(0, position - 1), min(length, position + len(instance) + 1)
        values[lo:hi] = rng.uniform(4.0, 6.0, size=hi - lo)
        record = SequenceRecord(f"pos_{index}", sequence, 1,
                                {"motif": pattern, "motif_positions": (position,), "motif_instances": (instance,)})
        positives.append(record)
        scores[record.id] = values
    for index in range(n_negative):
        record = SequenceRecord(f"neg_{index}", free_of_all(index), 0, {"motif": None})
        negatives.append(record)
        scores[record.id] = noise()
    return positives, negatives, scores


def make_m6a_windows(
    n: int,
    seed: SeedLike = 0,
    length: int = MST_M6A_SOURCE_LENGTH,
    positive_fraction: float = 0.5,
    id_prefix: str = "site",
) -> list[SequenceRecord]:
    """Windows with a candidate A at the centre: positives in a DRACH context, negatives in a non-DRACH one.

    (Real MST-m6A negatives are unmethylated DRACH adenosines, a harder task; this is a demo.)
    ``meta["centre"]`` is the index of the candidate A.
    """
    if length % 2 == 0 or length < 5:
        raise ValueError(f"length must be odd and at least 5, got {length}")
    rng = as_generator(seed)
    centre = length // 2
    labels = np.zeros(n, dtype=int)
    labels[: round(n * positive_fraction)] = 1
    rng.shuffle(labels)
    records = []
    for index, label in enumerate(labels.tolist()):
        sequence = random_utr(length, rng)
        if label == 1:
            sequence, _, _ = plant_motif(sequence, MOTIFS["DRACH"], rng, position=centre - 2)
        else:
            while True:
                sequence = sequence[:centre] + "A" + sequence[centre + 1 :]
                if not find_motif(sequence[centre - 2 : centre + 3], MOTIFS["DRACH"]):
                    break
                sequence = sequence[: centre - 2] + random_utr(5, rng) + sequence[centre + 3 :]
        records.append(SequenceRecord(f"{id_prefix}_{index}", sequence, label, {"centre": centre}))
    return records


def make_mrna(length: int, rng: SeedLike) -> tuple[str, int, int]:
    """A full-length mRNA-like sequence: AUG-free 5'UTR, an ORF (AUG ... stop) and a 3'UTR.

    Returns ``(sequence, cds_start, cds_end)`` with ``sequence[cds_start:cds_end]`` the ORF including
    its stop codon; the ORF is about half the length, so it is the longest ORF.

    >>> seq, start, end = make_mrna(600, 0)
    >>> len(seq), seq[start:start + 3], seq[end - 3:end] in ("UAA", "UAG", "UGA")
    (600, 'AUG', True)
    """
    if length < 150:
        raise ValueError(f"an mRNA needs at least 150 nt here, got {length}")
    generator = as_generator(rng)
    utr5_length = int(generator.integers(20, max(21, length // 10)))
    n_codons = int(length * generator.uniform(0.4, 0.6)) // 3
    utr3_length = length - utr5_length - 3 * n_codons
    utr5 = random_utr(utr5_length, generator).replace("AUG", "AUC")
    codons = [_SENSE_CODONS[i] for i in generator.integers(len(_SENSE_CODONS), size=n_codons - 2)]
    cds = "AUG" + "".join(codons) + _STOP_CODONS[int(generator.integers(3))]
    sequence = utr5 + cds + random_utr(utr3_length, generator)
    return sequence, utr5_length, utr5_length + len(cds)


# Synthetic localization signal (not biology): Nucleus-positive mRNAs get PUM motifs in the 3'UTR,
# Cytoplasm-positive ones AREs. Other compartments are random.
_DEMO_COMPARTMENT_MOTIFS: Mapping[str, str] = MappingProxyType({"Nucleus": MOTIFS["PUM"], "Cytoplasm": MOTIFS["ARE"]})
_DEMO_COMPARTMENT_RATES: Mapping[str, float] = MappingProxyType(
    {"Nucleus": 0.65, "Exosome": 0.99, "Cytoplasm": 0.55, "Ribosome": 0.3, "Membrane": 0.2, "ER": 0.12}
)
_DEMO_CYTOSOL_GIVEN_CYTOPLASM = 0.25


def make_localization_dataset(
    n: int, seed: SeedLike = 0, length_range: tuple[int, int] = (300, 3000), id_prefix: str = "DEMO"
) -> list[SequenceRecord]:
    """DM3Loc-like mRNAs with 7-bit labels in :data:`~utrbert.data.readers.LOCALIZATION_COMPARTMENTS` order.

    Cytosol is only ever positive together with Cytoplasm (as in DM3Loc); Exosome is almost always
    positive. Nucleus positives carry 3 PUM motifs and Cytoplasm positives 3 AREs in the 3'UTR.
    ``meta`` has ``gene_id``, ``gene_name``, ``cds_start``, ``cds_end``.
    """
    rng = as_generator(seed)
    records = []
    for index in range(n):
        bits = {name: int(rng.random() < rate) for name, rate in _DEMO_COMPARTMENT_RATES.items()}
        bits["Cytosol"] = int(bits["Cytoplasm"] == 1 and rng.random() < _DEMO_CYTOSOL_GIVEN_CYTOPLASM)
        label = tuple(bits[name] for name in LOCALIZATION_COMPARTMENTS)
        sequence, cds_start, cds_end = make_mrna(int(rng.integers(length_range[0], length_range[1] + 1)), rng)
        utr3, avoid = sequence[cds_end:], []
        for name, motif in _DEMO_COMPARTMENT_MOTIFS.items():
            for _ in range(3 if bits[name] else 0):
                utr3, position, instance = plant_motif(utr3, motif, rng, avoid=avoid)
                avoid.append((position, position + len(instance)))
        meta = {
            "gene_id": str(900000 + index),
            "gene_name": f"{id_prefix}{index}",
            "cds_start": cds_start,
            "cds_end": cds_end,
        }
        records.append(SequenceRecord(f"{id_prefix}_{index:06d}", sequence[:cds_end] + utr3, label, meta))
    return records


# ----- the demo data directory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoScale:
    """Record counts of a demo data directory."""

    rbp31_train: int
    rbp31_test: int
    m6a_train: int
    m6a_test: int
    mrnas: int


DEMO_SCALES: Mapping[str, DemoScale] = MappingProxyType(
    {
        "smoke": DemoScale(rbp31_train=300, rbp31_test=100, m6a_train=300, m6a_test=100, mrnas=300),
        "small": DemoScale(rbp31_train=3000, rbp31_test=1000, m6a_train=2000, m6a_test=500, mrnas=1500),
    }
)
"""Sizes for :func:`write_demo_data`: ``smoke`` (tests, < 2 s) and ``small`` (quick demos)."""

_DEMO_RBP31_SETS: tuple[tuple[str, str, int], ...] = (
    ("1_DEMO_PUM2_synthetic", MOTIFS["PUM"], 1),
    ("2_DEMO_ELAVL1_synthetic", MOTIFS["ARE"], 2),
)
_DEMO_M6A_SETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DemoCellA", ("train", "test")),
    ("DemoCellB", ("train", "test")),
    ("DemoCellC", ("test",)),
)
_DEMO_MEME_MOTIFS: tuple[tuple[str, str, str], ...] = (
    ("demo_1", "PUM2", MOTIFS["PUM"]),
    ("demo_2", "PUM1", MOTIFS["PUM"]),
    ("demo_3", "ELAVL1", MOTIFS["ARE"]),
    ("demo_4", "YTHDC1", "GGACU"),
    ("demo_5", "HNRNPC", "UUUUU"),
)
_BERT_BASE_CONFIG = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
}


def is_demo_data(data_dir: str | PathLike[str]) -> bool:
    """True if ``data_dir`` was written by :func:`write_demo_data` (it has the ``DEMO_DATA.md`` marker)."""
    return (Path(data_dir) / DEMO_MARKER).is_file()


def _dna(sequence: str) -> str:
    return sequence.replace("U", "T")


def _write(path: Path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("ascii"))


def _md5sums(root: Path, paths: Sequence[Path]) -> None:
    lines = [
        f"{hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest()}  {p.relative_to(root).as_posix()}"
        for p in paths
    ]
    _write(root / "md5sums.txt", "\n".join(lines) + "\n")


def _write_rbp31(root: Path, scale: DemoScale, rng: np.random.Generator) -> None:
    written = []
    for set_name, motif, copies in _DEMO_RBP31_SETS:
        sizes = {"training_sample_0": scale.rbp31_train, "test_sample_0": scale.rbp31_test}
        starts = iter(np.cumsum(rng.integers(150, 5000, size=sum(sizes.values()))) + 10_000)  # distinct windows
        for folder, n in sizes.items():
            records = make_binary_dataset(n, 101, motif, 0.2, rng, copies=copies, id_prefix=set_name)
            lines = []
            for record in records:
                start, sequence = int(next(starts)), _dna(record.sequence)
                chrom, strand = int(rng.integers(1, 23)), "+-"[int(rng.integers(2))]
                lines.append(f"> chr{chrom},{strand},{start},{start + 100}; class:{record.label}")
                lines += [sequence[:60], sequence[60:]]
            path = root / set_name / "30000" / folder / "sequences.fa.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("ascii"), mtime=0))
            written.append(path)
    _md5sums(root, written)
    _write(
        root / "MANIFEST.md",
        "# rbp31 (SYNTHETIC demo)\n\nPlanted motifs: PUM (UGUAHAUA) in set 1, two AREs (AUUUA) in set 2; "
        "20% positive.\n",
    )


def _write_mst_m6a(root: Path, scale: DemoScale, rng: np.random.Generator) -> None:
    for cell_line, splits in _DEMO_M6A_SETS:
        for split in splits:
            n = scale.m6a_train if split == "train" else scale.m6a_test
            records = make_m6a_windows(n, rng, MST_M6A_SOURCE_LENGTH)
            assert all(r.sequence[MST_M6A_CENTRE] == "A" for r in records)
            rows = ["index\tlabel\ttext"]
            for i, record in enumerate(records):
                kind, label = ("Positive", "1.0") if record.label == 1 else ("Negative", "0.0")
                rows.append(f">{kind}_{i}\t{label}\t{_dna(record.sequence)}")
            _write(root / f"{cell_line}_{split}.tsv", "\n".join(rows) + "\n")
    _write(
        root / "MANIFEST.md",
        "# m6a/mst_m6a (SYNTHETIC demo)\n\nPositives: DRACH around the centre A (index 100).\n",
    )


def _dm3loc_header(record: SequenceRecord, bits: Sequence[int]) -> str:
    return (
        f">{''.join(map(str, bits))},ACCNUM:{record.id},"
        f"Gene_ID:{record.meta['gene_id']},Gene_Name:{record.meta['gene_name']}"
    )


def _bits(record: SequenceRecord) -> tuple[int, ...]:
    if not isinstance(record.label, tuple):
        raise TypeError(f"record {record.id!r}: expected a multi-label tuple, got {record.label!r}")
    return record.label


def _write_dm3loc(root: Path, scale: DemoScale, rng: np.random.Generator) -> None:
    records = make_localization_dataset(scale.mrnas, rng)
    labels = {r.id: _bits(r) for r in records}
    fasta = "\n".join(f"{_dm3loc_header(r, labels[r.id])}\n{_dna(r.sequence)}" for r in records) + "\n"
    _write(root / DM3LOC_FASTA_NAME, fasta, newline="\r\n")  # the published file has CRLF line endings
    order = rng.permutation(len(records))
    chunks = np.array_split(order, DM3LOC_N_FOLDS)
    for fold in range(DM3LOC_N_FOLDS):
        rest = np.concatenate([chunks[i] for i in range(DM3LOC_N_FOLDS) if i != fold])
        rest = rng.permutation(rest)
        n_valid = len(rest) // 5
        parts = {"Test": chunks[fold], "Val": rest[:n_valid], "Train": rest[n_valid:]}
        for prefix, indices in parts.items():
            lines = [_dm3loc_header(records[i], fold_list_label(labels[records[i].id])) for i in indices]
            _write(root / "folds" / f"{prefix}{fold}.txt", "\n".join(lines) + "\n")
    _md5sums(root, [root / DM3LOC_FASTA_NAME] + sorted((root / "folds").glob("*.txt")))
    _write(
        root / "MANIFEST.md",
        "# localization/dm3loc (SYNTHETIC demo)\n\nNucleus: 3 PUM motifs in the 3'UTR; Cytoplasm: 3 AREs.\n",
    )


def _write_vocab(root: Path) -> None:
    for k in SUPPORTED_K:
        vocab = kmer_vocab(k)
        _write(root / f"vocab-{k}.txt", "\n".join(vocab))  # the published files have no final newline
        config = dict(_BERT_BASE_CONFIG, vocab_size=len(vocab))
        _write(root / f"config-{k}.json", json.dumps(config, indent=2, sort_keys=True))


def _pwm_rows(pattern: str, floor: float = 0.01) -> list[str]:
    rows = []
    for code in _check_pattern(pattern):
        allowed = IUPAC_RNA[code]
        high = (1.0 - floor * (4 - len(allowed))) / len(allowed)
        rows.append("\t".join(f"{high if base in allowed else floor:.6f}" for base in "ACGU"))
    return rows


def _write_attract_meme(root: Path) -> None:
    lines = ["", "MEME version 5", "", "ALPHABET= ACGU", "", "strands: + -", "", "Background letter frequencies",
             "A 0.250000 C 0.250000 G 0.250000 U 0.250000", "", ""]  # fmt: skip
    for motif_id, gene, pattern in _DEMO_MEME_MOTIFS:
        matrix = f"letter-probability matrix: alength= 4 w= {len(pattern)} nsites= 100 E= 0"
        lines += [f"MOTIF {motif_id} {gene}:DEMO:{motif_id}", matrix, ""]
        lines += _pwm_rows(pattern) + [""]
    _write(root / "ATtRACT" / "Homo_sapiens.meme", "\n".join(lines) + "\n")


_MARKER_TEXT = """# SYNTHETIC DEMO DATA, not real measurements

Written by `utrbert.data.synthetic.write_demo_data(seed={seed}, scale={scale!r})`.
Same layout and file formats as the real data directory (rbp31, m6a/mst_m6a, localization/dm3loc,
3utrbert_vocab, motifs/attract_meme), but every sequence is random 3'UTR-like background
(A .29, U .30, C .20, G .21) with planted motifs: PUM `UGUAHAUA`, ARE `AUUUA`, m6A `DRACH`.
Results obtained on these files say nothing about biology; label any figure made from them as synthetic.
"""


def write_demo_data(root: str | PathLike[str], seed: int = 0, scale: str = "smoke") -> Path:
    """Write a small synthetic data directory with the real layout and formats; returns ``root``.

    Contents: ``rbp31/`` (2 sets), ``m6a/mst_m6a/`` (2 cell lines with train+test, 1 with test
    only), ``localization/dm3loc/`` (CRLF FASTA + 5 folds), ``3utrbert_vocab/`` (k = 3..6),
    ``motifs/attract_meme/ATtRACT/Homo_sapiens.meme`` and the ``DEMO_DATA.md`` marker. The same seed
    gives byte-identical files. Refuses to write into a non-empty directory that is not demo data.
    """
    if scale not in DEMO_SCALES:
        raise ValueError(f"scale must be one of {sorted(DEMO_SCALES)}, got {scale!r}")
    root = Path(root)
    if root.exists() and any(root.iterdir()) and not is_demo_data(root):
        raise FileExistsError(
            f"{root} is not empty and not a demo data directory (no {DEMO_MARKER}); refusing to write"
        )
    root.mkdir(parents=True, exist_ok=True)
    _write(root / DEMO_MARKER, _MARKER_TEXT.format(seed=seed, scale=scale))
    rbp_rng, m6a_rng, loc_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    sizes = DEMO_SCALES[scale]
    _write_rbp31(root / "rbp31", sizes, rbp_rng)
    _write_mst_m6a(root / "m6a" / "mst_m6a", sizes, m6a_rng)
    _write_dm3loc(root / "localization" / "dm3loc", sizes, loc_rng)
    _write_vocab(root / "3utrbert_vocab")
    _write_attract_meme(root / "motifs" / "attract_meme")
    logger.info("wrote synthetic demo data (seed=%d, scale=%s) to %s", seed, scale, root)
    return root
