"""``python -m utrbert adopt-checkpoint`` and ``python -m utrbert migrate-motif-database``: explicit steps on
stored result items (thin wrappers over :func:`utrbert.runs.adoption.adopt_checkpoint` and
:func:`utrbert.chapters.motifs.migrate_motif_database_field`).

Contract::

    python -m utrbert adopt-checkpoint --results results/rbp31 --checkpoint models/utrbert-small-k3
        [--staged results/rbp31_staged] [--dependent results/motifs ...] [--dry-run]
    python -m utrbert migrate-motif-database --results results/motifs --db DATA/motifs/attract_meme/ATtRACT/Homo_sapiens.meme
        --old-name motifs/attract_meme/ATtRACT/Homo_sapiens.meme [--dry-run]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

__all__ = ["register"]

logger = logging.getLogger(__name__)


def _adopt(args: argparse.Namespace) -> int:
    from utrbert.runs.adoption import adopt_checkpoint

    try:
        report = adopt_checkpoint(args.results, args.checkpoint, args.staged, args.dependent or (), dry_run=args.dry_run)
    except (ValueError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        return 2
    for kind in ("moved", "removed", "dependent_removed"):
        for key in getattr(report, kind):
            logger.info("%s%s: %s", "would be " if args.dry_run else "", kind.replace("_", " "), key)
    logger.info("%s%s", "dry run, nothing changed: " if args.dry_run else "", report.summary())
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from utrbert.chapters.motifs import migrate_motif_database_field
    from utrbert.motifs.meme import read_meme

    try:
        changed = migrate_motif_database_field(args.results, args.old_name, read_meme(args.db), dry_run=args.dry_run)
    except (ValueError, FileNotFoundError) as exc:
        logger.error("%s", exc)
        return 2
    logger.info("%s%d motif items migrated to a content fingerprint of %s", "dry run, would be: " if args.dry_run else "",
                len(changed), args.db)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``adopt-checkpoint`` and ``migrate-motif-database`` subcommands."""
    adopt = subparsers.add_parser("adopt-checkpoint", help="make a benchmark's items those of a new reference checkpoint",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    adopt.add_argument("--results", required=True, type=Path, help="the chapter's item folder, e.g. results/rbp31")
    adopt.add_argument("--checkpoint", required=True, type=Path, help="the new reference checkpoint directory")
    adopt.add_argument("--staged", type=Path, default=None, help="items already computed with it, e.g. results/rbp31_staged")
    adopt.add_argument("--dependent", type=Path, action="append",
                       help="a folder of items computed from the old ones (e.g. results/motifs); repeatable")
    adopt.add_argument("--dry-run", action="store_true", help="list what would change, change nothing")
    adopt.set_defaults(func=_adopt)
    migrate = subparsers.add_parser("migrate-motif-database",
                                    help="name the motif database of stored motif items by content, not by path",
                                    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    migrate.add_argument("--results", required=True, type=Path, help="the motif items, e.g. results/motifs")
    migrate.add_argument("--db", required=True, type=Path, help="the MEME file the items were computed with")
    migrate.add_argument("--old-name", required=True, help="the path the items record (relative to the data directory)")
    migrate.add_argument("--dry-run", action="store_true", help="list what would change, change nothing")
    migrate.set_defaults(func=_migrate)
