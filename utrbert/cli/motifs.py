"""``python -m utrbert motifs``: attention-guided motif discovery and TOMTOM matching on the user's files.

Contract::

    python -m utrbert motifs --pos POS --neg NEG --scores SCORES --out DIR [--db MEME] [--min-len N] [--pval P]
        [--length L ...] [--window W] [--ties all|best]

POS/NEG are FASTA or TSV/CSV with ids (see :func:`utrbert.data.readers.read_sequences`); SCORES holds per-nucleotide
scores for (at least) every POS sequence, keyed by id (the format ``python -m utrbert attention`` writes; see
:mod:`utrbert.interpret.score_files`). ``--db`` defaults to ATtRACT human in the data directory
(``motifs/attract_meme/ATtRACT/Homo_sapiens.meme`` under ``UTRBERT_DATA``); ``--db none`` skips matching.
Writes ``DIR/motifs.tsv`` (``motif, consensus, instances, p, p_adjusted, best_match, best_match_rbp,
match_p, match_q`` and the merge details), ``DIR/motifs.meme`` (the PWMs), ``DIR/matches.tsv`` (every
query-target TOMTOM comparison with q < 0.5) and ``DIR/run.json`` (settings, counts, inputs, versions).

:func:`find_and_match_motifs` is the same analysis as a function, used by the motif chapter.
"""

from __future__ import annotations

import argparse
import json
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

__all__ = ["MotifReport", "find_and_match_motifs", "write_report", "default_motif_database", "register"]

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
    report.table[columns].to_csv(directory / "motifs.tsv", sep="\t", index=False, float_format="%.6g")
    if report.pwms:
        write_meme(report.pwms, directory / "motifs.meme")
    else:
        (directory / "motifs.meme").write_text("", encoding="utf-8")
    kept = report.matches[report.matches["q"] < 0.5] if not report.matches.empty else report.matches
    kept.to_csv(directory / "matches.tsv", sep="\t", index=False, float_format="%.6g")
    run = {"settings": report.discovery.settings, "counts": report.discovery.counts, "match_q": report.match_q,
           "environment": environment("cpu"), **dict(extra or {})}
    (directory / "run.json").write_text(json.dumps(run, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return directory


def _main(args: argparse.Namespace) -> int:
    from utrbert.data.readers import read_sequences
    from utrbert.interpret.score_files import read_scores

    try:
        positives, negatives = read_sequences(args.pos), read_sequences(args.neg)
        scores = read_scores(args.scores)
        missing = [r.id for r in positives if r.id not in scores]
        if missing:
            raise ValueError(f"{args.scores}: no scores for {len(missing)} positive sequence(s), e.g. {missing[:3]}")
        database, db_path = None, None
        if str(args.db).lower() != "none":
            db_path = Path(args.db) if args.db else default_motif_database()
            database = read_meme(db_path)
        settings = MotifSettings(regions=RegionRule(min_len=args.min_len),
                                 lengths=tuple(args.length) if args.length else None,
                                 p_adjusted=args.pval, window=args.window, ties=args.ties)
        report = find_and_match_motifs(positives, negatives, scores, settings, database)
    except (ValueError, KeyError, FileNotFoundError) as exc:  # MEME, score-file and record errors name the culprit
        logger.error("%s", exc)
        return 2
    inputs = {"pos": str(args.pos), "neg": str(args.neg), "scores": str(args.scores),
              "db": str(db_path) if db_path else None}
    write_report(report, args.out, {"inputs": inputs})
    logger.info("%d motifs (%d matched at q < %g) written to %s", len(report.table), int(report.table["matched"].sum()),
                report.match_q, args.out)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``motifs`` subcommand."""
    parser = subparsers.add_parser("motifs", help="motif discovery from attention scores, TOMTOM against ATtRACT",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pos", required=True, type=Path, help="positive sequences (FASTA or TSV with ids)")
    parser.add_argument("--neg", required=True, type=Path, help="negative sequences (FASTA or TSV with ids)")
    parser.add_argument("--scores", required=True, type=Path, help="per-nucleotide scores of the positives (.tsv/.npz)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--db", default=None, help="MEME motif database (default: ATtRACT human; 'none': no matching)")
    parser.add_argument("--min-len", type=int, default=5, help="minimum high-attention region length (default 5)")
    parser.add_argument("--pval", type=float, default=0.005, help="BH-adjusted p-value cutoff (default 0.005)")
    parser.add_argument("--length", type=int, nargs="*", default=[7],
                        help="candidate motif lengths (default 7; give none for whole regions)")
    parser.add_argument("--window", type=int, default=12, help="site window for the PWMs (default 12)")
    parser.add_argument("--ties", choices=("all", "best"), default="all", help="merge ties into every best key or one")
    parser.set_defaults(func=_main)
