"""``python -m utrbert book``: execute the chapter notebooks under a profile (:func:`utrbert.book.runner.run_chapters`)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from utrbert.book.runner import BookError, parse_setting, run_chapters

__all__ = ["register"]

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``book`` subcommand to the ``python -m utrbert`` parser."""
    parser = subparsers.add_parser(
        "book",
        help="execute the chapter notebooks with papermill under a profile",
        description="Execute notebooks/<stem>.ipynb in _toc.yml order and write executed copies to --out.",
    )
    parser.add_argument("--profile", required=True, help="profile name (profiles/<name>.yaml) or path to a YAML file")
    parser.add_argument("--out", required=True, type=Path, help="output folder, e.g. book or scratch/smoke")
    parser.add_argument("--only", action="append", metavar="STEM", help="run only this chapter (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="CHAPTER.PARAM=VALUE", dest="settings",
                        help="a parameter value for this run, over the profile (value read as YAML; repeatable)")
    parser.add_argument("--repo-root", type=Path, default=None, help="repository root (default: found from cwd)")
    parser.add_argument("--changed-only", action="store_true",
                        help="skip chapters whose executed copy in --out is current (same template code, profile "
                             "and parameters)")
    parser.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    """Run :func:`run_chapters` from parsed arguments; report errors without a traceback."""
    try:
        settings: dict[str, dict[str, object]] = {}
        for text in args.settings:
            stem, name, value = parse_setting(text)
            settings.setdefault(stem, {})[name] = value
        written = run_chapters(args.profile, args.out, only=args.only, repo_root=args.repo_root, settings=settings,
                               changed_only=args.changed_only)
    except BookError as exc:
        logger.error("%s", exc)
        return 1
    logger.info("executed %d chapter(s) into %s", len(written), args.out)
    return 0
