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

A thin wrapper over :func:`utrbert.motifs.report.find_and_match_motifs` and :func:`~utrbert.motifs.report.write_report`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from utrbert.motifs.discovery import MotifSettings, RegionRule
from utrbert.motifs.meme import read_meme
from utrbert.motifs.report import default_motif_database, find_and_match_motifs, write_report

__all__ = ["register"]

logger = logging.getLogger(__name__)


def _main(args: argparse.Namespace) -> int:
    from utrbert.data.readers import read_sequences
    from utrbert.interpret.score_files import read_scores

    from utrbert.runs.store import check_output

    try:
        check_output(args.out, args.overwrite, owned=("motifs.tsv", "motifs.meme", "matches.tsv", "run.json"))
        positives, negatives = read_sequences(args.pos), read_sequences(args.neg)
        scores = read_scores(args.scores)
        missing = [r.id for r in positives if r.id not in scores]
        if missing:
            raise ValueError(f"{args.scores}: no scores for {len(missing)} positive sequence(s), e.g. {missing[:3]}")
        database, db_path = None, None
        if args.db is None or args.db.lower() != "none":  # no --db: ATtRACT human under UTRBERT_DATA
            db_path = Path(args.db) if args.db is not None else default_motif_database()
            database = read_meme(db_path)
        settings = MotifSettings(regions=RegionRule(min_len=args.min_len),
                                 lengths=tuple(args.length) if args.length else None,
                                 p_adjusted=args.pval, window=args.window, ties=args.ties)
        report = find_and_match_motifs(positives, negatives, scores, settings, database)
    except (ValueError, KeyError, OSError) as exc:  # MEME, score-file and record errors name the culprit
        logger.error("%s", exc)
        return 2
    inputs = {"pos": str(args.pos), "neg": str(args.neg), "scores": str(args.scores),
              "db": str(db_path) if db_path else None}
    from utrbert.runs.store import atomic_directory

    with atomic_directory(args.out) as building:  # replaces an earlier run's folder whole
        write_report(report, building, {"inputs": inputs})
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
    parser.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out")
    parser.add_argument("--db", default=None, help="MEME motif database (default: ATtRACT human; 'none': no matching)")
    parser.add_argument("--min-len", type=int, default=5, help="minimum high-attention region length (default 5)")
    parser.add_argument("--pval", type=float, default=0.005, help="BH-adjusted p-value cutoff (default 0.005)")
    parser.add_argument("--length", type=int, nargs="*", default=[7],
                        help="candidate motif lengths (default 7; give none for whole regions)")
    parser.add_argument("--window", type=int, default=12, help="site window for the PWMs (default 12)")
    parser.add_argument("--ties", choices=("all", "best"), default="all", help="merge ties into every best key or one")
    parser.set_defaults(func=_main)
