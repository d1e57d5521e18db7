"""Adopting a new reference checkpoint: one explicit step that swaps a benchmark's items for those of the new one.

Items of the ``pretrained`` method name their checkpoint by content (``settings.pretrained``: name and weight
digest), so after the reference checkpoint is replaced the benchmark refuses the old items
(:class:`~utrbert.runs.store.MixedSettingsError`) until something says what to do with them. Items computed with
the new checkpoint may already exist in a *staged* folder (a run made while the chapter still showed the old
checkpoint, e.g. ``results/rbp31_staged``). :func:`adopt_checkpoint` then, in one step:

* moves every staged item of the new checkpoint (and its attention file) into the chapter's folder, replacing
  the old checkpoint's item of the same set;
* removes the old checkpoint's items that have no staged replacement (and their attention files), so the chapter
  computes them again;
* removes the items of *dependent* runs that were computed from an old item (the motif sets, whose settings
  record the ``pretrained`` fingerprint as ``model``), which would otherwise be refused as well.

``python -m utrbert adopt-checkpoint`` (:mod:`utrbert.cli.items`) runs it; ``--dry-run`` lists what it would do.
Files are moved and deleted, not committed: review with ``git status`` and commit the result.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utrbert.runs.benchmark import attention_path
from utrbert.runs.store import ItemStore

__all__ = ["Adoption", "adopt_checkpoint"]

logger = logging.getLogger(__name__)


@dataclass
class Adoption:
    """What :func:`adopt_checkpoint` did (or, in a dry run, would do): item keys, by kind."""

    checkpoint: dict[str, Any]
    moved: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dependent_removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"checkpoint {self.checkpoint['name']} ({self.checkpoint['weights_md5']}): {len(self.moved)} staged items "
                f"adopted, {len(self.removed)} old items removed (to be recomputed), {len(self.kept)} already current, "
                f"{len(self.dependent_removed)} dependent items removed")


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


def _attention_files(results_dir: Path, set_name: str) -> list[Path]:
    """A set's attention file and its provenance file."""
    from utrbert.interpret.score_files import provenance_path

    path = attention_path(results_dir, set_name)
    return [path, provenance_path(path)]


def _remove_attention(results_dir: Path, set_name: str) -> None:
    for path in _attention_files(results_dir, set_name):
        path.unlink(missing_ok=True)


def _move_attention(staged_dir: Path, results_dir: Path, set_name: str) -> None:
    _remove_attention(results_dir, set_name)
    for source, target in zip(_attention_files(staged_dir, set_name), _attention_files(results_dir, set_name)):
        if source.is_file():
            _move(source, target)


def adopt_checkpoint(
    results_dir: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    staged_dir: str | os.PathLike[str] | None = None,
    dependent_dirs: Sequence[str | os.PathLike[str]] = (),
    method: str = "pretrained",
    dry_run: bool = False,
) -> Adoption:
    """Make ``results_dir`` hold only ``method`` items of ``checkpoint`` (see the module docstring).

    Raises:
        ValueError: naming the item when a staged item was not computed with ``checkpoint``, or when the staged
            and the chapter's item of a set differ in anything but the checkpoint (they would not be comparable).
    """
    from utrbert.models.model import checkpoint_identity

    identity = checkpoint_identity(checkpoint)
    results, store = Path(results_dir), ItemStore(results_dir, "benchmark item")
    staged = ItemStore(staged_dir, "staged item") if staged_dir is not None else None
    report = Adoption(identity)
    staged_items = {}
    for key in (staged.keys(f"*/{method}.json") if staged is not None else []):
        record = staged.load(key)
        if record["settings"].get("pretrained") != identity:
            raise ValueError(f"{staged.path(key)} was computed with checkpoint {record['settings'].get('pretrained')}, "
                             f"not {identity}; it cannot be adopted")
        staged_items[key] = record
    old_fingerprints = set()
    for key in store.keys(f"*/{method}.json"):
        record = store.load(key)
        if record["settings"].get("pretrained") == identity:
            report.kept.append(key)
            continue
        old_fingerprints.add(record["fingerprint"])
        replacement = staged_items.get(key)
        if replacement is not None:
            other = {k: v for k, v in record["settings"].items() if k != "pretrained"}
            new = {k: v for k, v in replacement["settings"].items() if k != "pretrained"}
            if other != new:
                raise ValueError(f"{staged.path(key)} differs from {store.path(key)} in more than the checkpoint; "
                                 "adopt it by hand or recompute")
            continue  # moved below
        report.removed.append(key)
        if not dry_run:
            store.remove(key)
            _remove_attention(results, key.split("/")[0])
    for key in staged_items:
        if key in report.kept:
            raise ValueError(f"{store.path(key)} already holds an item of {identity['name']}; the staged one is not needed")
        report.moved.append(key)
        if not dry_run:
            _move(staged.path(key), store.path(key))
            _move_attention(Path(staged_dir), results, key.split("/")[0])
    for directory in dependent_dirs:
        dependent = ItemStore(directory, "dependent item")
        for key in dependent.keys():
            record = dependent.load(key)
            if record.get("settings", {}).get("model") in old_fingerprints:
                report.dependent_removed.append(f"{Path(directory).as_posix()}/{key}")
                if not dry_run:
                    dependent.remove(key)
    logger.info("%s%s", "dry run: " if dry_run else "", report.summary())
    return report
