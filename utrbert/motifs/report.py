"""Attention-guided motifs of a set of sequences and their database matches, as one report.

:func:`find_and_match_motifs` discovers motifs in high-score regions of the positives against the negatives
(:func:`~utrbert.motifs.discovery.discover_motifs`) and matches them to a motif database with TOMTOM
(:mod:`utrbert.motifs.matching`); :func:`write_report` writes ``motifs.tsv``, ``motifs.meme``,
``matches.tsv`` and ``run.json``. ``python -m utrbert motifs`` (:mod:`utrbert.cli.motifs`) and the motif chapter
both run this; :func:`default_motif_database` is ATtRACT human in the data directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from utrbert.motifs.meme import read_meme, write_meme
from utrbert.motifs.matching import best_matches, tomtom_matches
from utrbert.motifs.discovery import MotifDiscovery, MotifSettings, RegionRule, discover_motifs
from utrbert.motifs.pwm import Pwm
from utrbert.data.records import SequenceRecord
from utrbert.runs.store import atomic_write_json, atomic_write_table, atomic_write_text

__all__ = ["ATTRACT_HUMAN", "MotifReport", "find_and_match_motifs", "write_report", "default_motif_database"]

logger = logging.getLogger(__name__)

ATTRACT_HUMAN = "motifs/attract_meme/ATtRACT/Homo_sapiens.meme"
"""ATtRACT human motifs (MEME, ACGU) relative to the data directory."""


def default_motif_database(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """ATtRACT human (MEME) in the data directory (``data_dir`` or ``UTRBERT_DATA``)."""
    from utrbert.data.registry import resolve_data_dir

    return Path(resolve_data_dir(data_dir)) / ATTRACT_HUMAN


@dataclass
class MotifReport:
    """Discovered motifs, their best database matches (joined by motif name) and every comparison."""

    discovery: MotifDiscovery
    table: pd.DataFrame
    matches: pd.DataFrame
    match_q: float

    @property
    def pwms(self) -> list[Pwm]:
        return self.discovery.pwms


def find_and_match_motifs(
    positives: Sequence[SequenceRecord],
    negatives: Sequence[SequenceRecord],
    scores: Mapping[str, np.ndarray],
    settings: MotifSettings = MotifSettings(),
    database: Sequence[Pwm] | None = None,
    match_q: float = 0.01,
    n_jobs: int = 1,
) -> MotifReport:
    """:func:`~utrbert.motifs.discovery.discover_motifs`, then TOMTOM of every motif against ``database``.

    The table gains ``best_match``, ``best_match_rbp``, ``match_p`` and ``match_q`` (the lowest-p target, by
    motif name; empty when there is no database) and ``matched`` (``match_q < match_q``).
    """
    discovery = discover_motifs(positives, negatives, scores, settings)
    table = discovery.table.copy()
    matches = pd.DataFrame(columns=["query", "target", "target_rbp", "p", "e_value", "q", "offset", "overlap"])
    if database is not None and discovery.pwms:
        matches = tomtom_matches(discovery.pwms, database, n_jobs=n_jobs)
        best = best_matches(matches).set_index("query")
        table["best_match"] = table["motif"].map(best["target"])
        table["best_match_rbp"] = table["motif"].map(best["target_rbp"])
        table["match_p"] = table["motif"].map(best["p"])
        table["match_q"] = table["motif"].map(best["q"])
    else:
        for column in ("best_match", "best_match_rbp"):
            table[column] = pd.Series([""] * len(table), dtype=object)
        for column in ("match_p", "match_q"):
            table[column] = np.nan
    table["matched"] = table["match_q"] < match_q
    return MotifReport(discovery, table, matches, match_q)


def write_report(report: MotifReport, out: str | os.PathLike[str], extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``motifs.tsv``, ``motifs.meme``, ``matches.tsv`` and ``run.json`` into ``out``."""
    from utrbert.runs.provenance import environment

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    columns = ["motif", "consensus", "instances", "p", "p_adjusted", "best_match", "best_match_rbp", "match_p",
               "match_q", "matched", "key", "members", "n_members", "n_pos_with", "n_neg_with", "skipped_windows"]
    atomic_write_table(report.table[columns], directory / "motifs.tsv", sep="\t", index=False, float_format="%.6g")
    if report.pwms:
        write_meme(report.pwms, directory / "motifs.meme")
    else:
        atomic_write_text(directory / "motifs.meme", "")
    kept = report.matches[report.matches["q"] < 0.5] if not report.matches.empty else report.matches
    atomic_write_table(kept, directory / "matches.tsv", sep="\t", index=False, float_format="%.6g")
    run = {"settings": report.discovery.settings, "counts": report.discovery.counts, "match_q": report.match_q,
           "environment": environment("cpu"), **dict(extra or {})}
    atomic_write_json(directory / "run.json", run, allow_nan=True)
    return directory
