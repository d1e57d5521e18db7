"""Chapter 04 (``notebooks/04_motifs.ipynb``): motifs of every RBP-31 set from its fine-tuned classifier's
[CLS] attention, resumable per set.

For one set: take the fine-tuned ``pretrained`` classifier the RBP benchmark kept
(:func:`~utrbert.runs.benchmark.fine_tuned_model_path`; fine-tuned again with the same settings when it is
missing), compute per-nucleotide [CLS] attention of the test positives, discover motifs against the test
negatives (:func:`~utrbert.motifs.discovery.discover_motifs`), match them to ATtRACT with TOMTOM and ask whether a motif
of the set's own RBP came back. Each set's result is a small JSON file (``results/motifs/<set>.json``) in an item
store (:mod:`utrbert.runs.store`) with the settings' fingerprint: reused when present with the same fingerprint,
an error when present with another, so the run continues across sessions and machines and never mixes settings.
The fingerprint covers the motif settings, the fine-tuned classifier's own fingerprint, and the motif database
by content (:func:`utrbert.motifs.meme.database_identity`), not by path.

>>> rbps_of_set("27_ICLIP_TDP43_hg19"), rbps_of_set("15_PARCLIP_IGF2BP123_hg19")
(('TARDBP',), ('IGF2BP1', 'IGF2BP2', 'IGF2BP3'))
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from utrbert.motifs.discovery import MotifSettings
from utrbert.motifs.pwm import Pwm
from utrbert.runs.store import ItemStore, settings_digest

__all__ = [
    "RBP_ALIASES",
    "rbps_of_set",
    "rbps_for_sets",
    "set_label",
    "choose_logo_sets",
    "MotifRunSettings",
    "motif_fingerprint_fields",
    "motif_store",
    "motif_item_path",
    "migrate_motif_database_field",
    "run_motif_item",
    "run_motif_sets",
    "motif_summary_table",
    "own_rbp_best_match",
    "pwm_from_record",
]

logger = logging.getLogger(__name__)

RBP_ALIASES: Mapping[str, tuple[str, ...]] = {
    "AGO1234": ("AGO1", "AGO2", "AGO3", "AGO4"), "AGO2MNASE": ("AGO2",), "AGO2": ("AGO2",),
    "ELAVL1A": ("ELAVL1",), "ELAVL1MNASE": ("ELAVL1",), "IGF2BP123": ("IGF2BP1", "IGF2BP2", "IGF2BP3"),
    "HNRNPLIKE": ("HNRNPLL",), "TDP43": ("TARDBP",), "SFRS1": ("SRSF1",), "U2AF65": ("U2AF2",),
    "EIF4AIII": ("EIF4A3",),
}
"""Protein names in RBP-31 set names that are not HGNC gene symbols -> the symbols (as ATtRACT names them)."""


_NOT_PROTEINS = frozenset({"DEMO"})


def rbps_of_set(set_name: str) -> tuple[str, ...]:
    """Gene symbols of the RBP(s) a set's CLIP experiment targets, read from the set's name.

    The protein is the first field after the protocol word(s) (``23_PARCLIP_PUM2_hg19`` -> PUM2), or the field that follows
    ``CLIP-seq-`` (``6_CLIP-seq-eIF4AIII_1`` -> EIF4A3), or ``Ago2`` in the HITS-CLIP sets; aliases are mapped
    with :data:`RBP_ALIASES`.
    """
    name = re.sub(r"^\d+_", "", set_name)
    match = re.match(r"(?i)clip-seq-([^_]+)", name)
    if match:
        protein = match.group(1)
    else:
        parts = name.split("_")
        while len(parts) > 1 and (re.search(r"(?i)clip", parts[0]) or parts[0].upper() in _NOT_PROTEINS):
            parts = parts[1:]  # protocol words (PARCLIP, ICLIP, HITSCLIP ...) and the demo data's DEMO
        protein = parts[0]
    key = protein.upper()
    return RBP_ALIASES.get(key, (key,))


_RBP31_NAME = re.compile(r"^\d+_[^_]+_[^_]+")


def rbps_for_sets(
    set_names: Sequence[str], set_rbps: Mapping[str, Sequence[str]] | None, own_sets: bool
) -> dict[str, tuple[str, ...]]:
    """The RBPs given for each set, for :func:`run_motif_sets` (sets not in the result: read from the set's name).

    ``set_rbps`` maps set names to gene symbols (as ATtRACT names them). In a folder of your own sets
    (``own_sets``) the name says nothing about the protein, so a set without an entry gets none (no own-RBP
    check) rather than a protein read from its name. Entries for sets not run are left out (with a warning).
    """
    given = {name: tuple(str(rbp).upper() for rbp in rbps) for name, rbps in (set_rbps or {}).items()}
    unknown = sorted(set(given) - set(set_names))
    if unknown:
        logger.warning("set_rbps names sets that are not run here: %s (sets: %s)", unknown, list(set_names))
    if own_sets:
        return {name: given.get(name, ()) for name in set_names}
    return {name: given[name] for name in set_names if name in given}


def set_label(set_name: str, number: bool = False) -> str:
    """A short name for figures: the protein of an RBP-31 set (``23_PARCLIP_PUM2_hg19`` -> ``PUM2``, with
    ``number``: ``23_PUM2``), a set of your own by its whole name."""
    if not _RBP31_NAME.match(set_name):
        return set_name
    parts = set_name.split("_")
    return f"{parts[0]}_{parts[2]}" if number else parts[2]


def choose_logo_sets(
    root: str | os.PathLike[str], logo_sets: Sequence[str | int], with_motifs: Sequence[str], own_sets: bool,
    fallback: int = 5,
) -> tuple[list[str], str]:
    """The sets whose logos are drawn, and a sentence for the page.

    ``logo_sets`` are found under ``root`` (:func:`~utrbert.data.readers.find_rbp31_set`); those with motifs
    (``with_motifs``) are drawn. In a folder of your own sets, logo sets that are not in the folder are skipped,
    and when none of them has motifs the first ``fallback`` sets with motifs are drawn instead (the sentence says so).
    """
    from utrbert.data.readers import find_rbp31_set

    found = []
    for key in logo_sets:
        try:
            found.append(find_rbp31_set(root, key))
        except KeyError:
            if not own_sets:
                raise
    shown = [name for name in found if name in with_motifs]
    if shown or not own_sets:
        return shown, ""
    shown = list(with_motifs)[:fallback]
    return shown, (f"None of `logo_sets` ({', '.join(map(str, logo_sets))}) is a set of this folder with motifs: "
                   f"the logos are those of the first {len(shown)} sets with motifs.") if shown else ""


@dataclass(frozen=True)
class MotifRunSettings:
    """What determines a set's motif result (its fingerprint covers all of it, plus the model's)."""

    motifs: MotifSettings = field(default_factory=MotifSettings)
    layers: tuple[int, ...] = (-1,)
    max_positives: int | None = None
    match_q: float = 0.01
    database: str = ""  # the database's name or path, for the page; the fingerprint has its content
    batch_size: int = 128
    head_summary_positives: int = 500  # = builtin_methods.HEAD_SUMMARY_POSITIVES, so saved attention files fit

    def as_dict(self) -> dict[str, Any]:
        """The settings that enter the fingerprint, without the database (see :func:`motif_fingerprint_fields`)."""
        return {"motifs": self.motifs.as_dict(), "layers": list(self.layers), "max_positives": self.max_positives,
                "match_q": self.match_q, "head_summary_positives": self.head_summary_positives}


def motif_fingerprint_fields(
    bench_settings: Any, settings: MotifRunSettings, database: Sequence[Pwm], rbps: Sequence[str] | None = None
) -> dict[str, Any]:
    """What determines a set's motif result: the motif settings, the motif database by content, the
    fine-tuned classifier (the RBP benchmark's ``pretrained`` fingerprint) and, only when they are given instead
    of read from the set's name, the set's own RBPs (``rbps``)."""
    from utrbert.motifs.meme import database_identity
    from utrbert.runs.benchmark import settings_fingerprint

    fields = {"motif": {**settings.as_dict(), "database": database_identity(database)},
              "model": settings_fingerprint(bench_settings, "pretrained")}
    if rbps is not None:
        fields["rbps"] = sorted(rbps)
    return fields


def motif_store(results_dir: str | os.PathLike[str]) -> ItemStore:
    """The per-set motif results: ``<results_dir>/<set>.json``."""
    return ItemStore(results_dir, "motif set")


def motif_item_path(results_dir: str | os.PathLike[str], set_name: str) -> Path:
    return motif_store(results_dir).path(set_name)


def migrate_motif_database_field(
    results_dir: str | os.PathLike[str], old_database: str, database: Sequence[Pwm], dry_run: bool = False
) -> list[str]:
    """Rewrite motif items that name their database by path (the format before content fingerprints) to name it
    by content; return the keys rewritten.

    An item is migrated when its recorded fingerprint is the digest of its recorded settings (the file is intact)
    and its ``settings.motif.database`` is the string ``old_database`` (the path, relative to the data directory,
    that the run read ``database`` from). Its ``database`` field becomes
    :func:`~utrbert.motifs.meme.database_identity` of ``database`` and its fingerprint the digest of the new
    settings; nothing else changes. Items already migrated are left alone; any other item is an error.
    """
    from utrbert.motifs.meme import database_identity

    store = motif_store(results_dir)
    identity = database_identity(database)
    changed = []
    for key in store.keys("*.json"):
        record = store.load(key)
        recorded = record.get("settings", {}).get("motif", {}).get("database")
        if recorded == identity:
            continue
        if settings_digest(record["settings"]) != record["fingerprint"]:
            raise ValueError(f"{store.path(key)}: its fingerprint is not the digest of its settings; not migrating it")
        if recorded != old_database:
            raise ValueError(f"{store.path(key)}: database {recorded!r}, not {old_database!r}; not migrating it")
        settings = {**record["settings"], "motif": {**record["settings"]["motif"], "database": identity}}
        if not dry_run:
            store.write(key, {**record, "settings": settings, "fingerprint": settings_digest(settings),
                              "database": old_database})
        changed.append(key)
    return changed


def pwm_from_record(entry: Mapping[str, Any]) -> Pwm:
    """The PWM stored in one motif entry of a set's JSON."""
    return Pwm(entry["motif"], np.asarray(entry["pwm"], dtype=np.float64), nsites=int(entry["instances"]))


def _saved_attention(
    benchmark_results_dir: str | os.PathLike[str] | None, set_name: str, bench_settings: Any,
    settings: MotifRunSettings, positives: Sequence[Any],
) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The RBP benchmark's attention of this set's test positives, if it fits these settings exactly."""
    from utrbert.interpret.score_files import read_score_provenance, read_scores
    from utrbert.runs.benchmark import attention_path, settings_fingerprint

    if benchmark_results_dir is None or settings.max_positives is not None:  # the file covers all test positives
        return None
    path = attention_path(benchmark_results_dir, set_name)
    if not path.is_file():
        return None
    info = read_score_provenance(path)
    if (info.get("fingerprint") != settings_fingerprint(bench_settings, "pretrained")
            or list(info.get("layers_requested", [])) != list(settings.layers)
            or info.get("head_summary_positives") != min(len(positives), settings.head_summary_positives)):
        logger.info("%s: saved attention does not fit these settings; computing it from a classifier", set_name)
        return None
    scores = read_scores(path)
    missing = [r.id for r in positives if r.id not in scores]
    if missing:
        raise ValueError(f"{path}: no attention for {len(missing)} test positives of {set_name}, e.g. {missing[:3]}")
    keep = {r.id: scores[r.id] for r in positives}
    attention_info = {key: info[key] for key in ("layers", "layers_requested", "heads", "k", "mean_special_fraction",
                                                 "head_normalized_entropy", "head_summary_positives")}
    return keep, attention_info


def run_motif_item(
    rbp31_root: str | os.PathLike[str],
    set_name: str,
    bench_settings: Any,
    settings: MotifRunSettings,
    database: Sequence[Pwm],
    results_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
    benchmark_results_dir: str | os.PathLike[str] | None = None,
    rbps: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Attention -> motifs -> TOMTOM for one set; write and return its JSON (reused when fingerprints match).

    The attention comes from the RBP benchmark's attention file
    (:func:`~utrbert.runs.benchmark.attention_path` of ``benchmark_results_dir``) when it matches (same fine-tuning fingerprint, layers and positives), else from the saved or re-fine-tuned classifier.
    ``rbps``: the set's own RBPs (gene symbols) instead of :func:`rbps_of_set` of its name, in the fingerprint;
    empty: no own-RBP check (``own_rbp_check`` false in the record).
    """
    from utrbert.chapters.rbp_binding import load_set_splits
    from utrbert.models.finetuning import stratified_subsample
    from utrbert.motifs.report import find_and_match_motifs
    from utrbert.runs.builtin_methods import positive_attention
    from utrbert.runs.provenance import environment

    fields = motif_fingerprint_fields(bench_settings, settings, database, rbps)
    fingerprint = settings_digest(fields)
    store = motif_store(results_dir)
    existing = store.read(set_name, fingerprint)  # an item made with other settings is an error
    if existing is not None:
        return existing
    started = time.perf_counter()
    splits = load_set_splits(rbp31_root, set_name, bench_settings)
    positives = [r for r in splits.test if r.label == 1]
    negatives = [r for r in splits.test if r.label == 0]
    if settings.max_positives is not None and len(positives) > settings.max_positives:
        rows = stratified_subsample(np.ones(len(positives), dtype=int), settings.max_positives, bench_settings.seed)
        positives = [positives[i] for i in sorted(rows)]
    saved = _saved_attention(benchmark_results_dir, set_name, bench_settings, settings, positives)
    if saved is not None:
        scores, attention_info = saved
        model_source = "attention saved by the RBP benchmark"
    else:
        from utrbert.runs.builtin_methods import pretrained_classifier

        model, tokenizer, source = pretrained_classifier(splits, bench_settings, artifacts_dir)
        model_source = "saved by the RBP benchmark" if source.startswith("saved") else "fine-tuned by the motif run"
        scores, attention_info = positive_attention(model, tokenizer, positives, settings.layers,
                                                    bench_settings.finetune.device, settings.head_summary_positives,
                                                    settings.batch_size)
    report = find_and_match_motifs(positives, negatives, scores, settings.motifs, database, settings.match_q)
    own = set(rbps_of_set(set_name) if rbps is None else rbps)
    in_database = sorted(own & {t.alt_name.split(":", 1)[0] for t in database})
    significant = report.matches[report.matches["q"] < settings.match_q] if not report.matches.empty else report.matches
    own_hits = significant[significant["target_rbp"].isin(own)] if not significant.empty else significant
    motifs = []
    for row, pwm in zip(report.table.to_dict(orient="records"), report.pwms):
        hits = significant[significant["query"] == row["motif"]] if not significant.empty else significant
        motifs.append({
            **{key: row[key] for key in ("motif", "consensus", "key", "instances", "n_members", "n_pos_with",
                                          "n_neg_with", "p", "p_adjusted")},
            "best_match": None if pd.isna(row["best_match"]) else row["best_match"],
            "best_match_rbp": None if pd.isna(row["best_match_rbp"]) else row["best_match_rbp"],
            "match_q": None if pd.isna(row["match_q"]) else float(row["match_q"]),
            "matched_rbps": sorted(set(hits["target_rbp"])) if len(hits) else [],
            "own_rbp_match": bool(len(hits) and hits["target_rbp"].isin(own).any()),
            "pwm": np.round(pwm.matrix, 4).tolist(),
        })
    best = min((m for m in motifs if m["match_q"] is not None), key=lambda m: m["match_q"], default=None)
    record = {
        "set": set_name,
        "rbps": sorted(own),
        "rbps_in_database": in_database,
        "own_rbp_check": bool(own),
        "n_motifs": len(motifs),
        "n_matched": int(sum(m["match_q"] is not None and m["match_q"] < settings.match_q for m in motifs)),
        "best_match": None if best is None else {"motif": best["motif"], "consensus": best["consensus"],
                                                 "target": best["best_match"], "rbp": best["best_match_rbp"],
                                                 "q": best["match_q"]},
        "own_rbp_recovered": bool(len(own_hits)),
        "own_rbp_best_q": float(own_hits["q"].min()) if len(own_hits) else None,
        "counts": report.discovery.counts,
        "attention": {**attention_info, "n_positive_scored": len(scores)},
        "model_source": model_source,
        "motifs": motifs,
        "fingerprint": fingerprint,
        "settings": fields,
        "database": settings.database,
        "seconds": time.perf_counter() - started,
        "run_label": run_label,
        "environment": environment(bench_settings.finetune.device),
    }
    record = store.write(set_name, record)
    logger.info("%s: %d motifs, %d matched, own RBP %s (%.0f s)", set_name, record["n_motifs"], record["n_matched"],
                "recovered" if record["own_rbp_recovered"] else "not recovered", record["seconds"])
    return record


def run_motif_sets(
    rbp31_root: str | os.PathLike[str],
    set_names: Sequence[str],
    bench_settings: Any,
    settings: MotifRunSettings,
    database: Sequence[Pwm],
    results_dir: str | os.PathLike[str],
    artifacts_dir: str | os.PathLike[str] | None = None,
    run_label: str = "",
    time_budget_s: float | None = None,
    benchmark_results_dir: str | os.PathLike[str] | None = None,
    set_rbps: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """Run every missing set; stop starting new sets after ``time_budget_s`` (at least one set per call).

    ``set_rbps``: set name -> its own RBPs, given instead of read from the name (:func:`rbps_for_sets`;
    see ``rbps`` of :func:`run_motif_item`).

    Sets whose fine-tuned classifier is saved under ``artifacts_dir`` go first (no fine-tuning needed), then
    sets whose RBP benchmark item is finished (in ``benchmark_results_dir``; the benchmark will not fine-tune
    them again), then the rest, each group in ``set_names`` order. Returns the records of every finished set.
    """
    from utrbert.runs.benchmark import attention_path, fine_tuned_model_path, item_path

    given = dict(set_rbps or {})
    store = motif_store(results_dir)
    found = {name: store.read(name, settings_digest(motif_fingerprint_fields(bench_settings, settings, database, given.get(name))))
             for name in set_names}  # other settings: an error, before any work
    done = {name: record for name, record in found.items() if record is not None}

    def rank(name: str) -> tuple[bool, bool]:
        saved = (artifacts_dir is not None and (fine_tuned_model_path(artifacts_dir, name, "pretrained") / "model_card.json").is_file()) or (
            benchmark_results_dir is not None and attention_path(benchmark_results_dir, name).is_file())
        benchmarked = benchmark_results_dir is not None and item_path(benchmark_results_dir, name, "pretrained").is_file()
        return (not saved, not benchmarked)

    todo = sorted((name for name in set_names if name not in done), key=rank)
    started, computed = time.perf_counter(), 0
    for name in todo:
        if time_budget_s is not None and computed and time.perf_counter() - started > time_budget_s:
            logger.info("time budget used: %d sets left for a later run", len(todo) - computed)
            break
        done[name] = run_motif_item(rbp31_root, name, bench_settings, settings, database, results_dir, artifacts_dir,
                                    run_label, benchmark_results_dir, given.get(name))
        computed += 1
    return [done[name] for name in set_names if name in done]


def own_rbp_best_match(record: Mapping[str, Any]) -> bool:
    """Whether any motif of a set has a motif of the set's own RBP as its best (lowest-p) ATtRACT match,
    whatever its q-value (a weaker criterion than ``own_rbp_recovered``, reported beside it)."""
    own = set(record["rbps"])
    return any(m.get("best_match_rbp") in own for m in record["motifs"])


def motif_summary_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per set: RBP, motifs, matched motifs, best ATtRACT match (and its q), own RBP recovered
    (a match at q < ``match_q``) and own RBP as some motif's best match (any q)."""
    rows = []
    for record in records:
        best = record.get("best_match") or {}
        rows.append({
            "set": record["set"],
            "RBP": ", ".join(record["rbps"]) or "not given",
            "in ATtRACT": bool(record["rbps_in_database"]),
            "motifs": record["n_motifs"],
            "matched": record["n_matched"],
            "top motif": record["motifs"][0]["consensus"] if record["motifs"] else "",
            "best match": f"{best.get('rbp')} ({best.get('target')})" if best else "",
            "best q": best.get("q"),
            "own RBP recovered": record["own_rbp_recovered"],
            "own RBP q": record["own_rbp_best_q"],
            "own RBP best match": own_rbp_best_match(record),
        })
    return pd.DataFrame(rows).set_index("set") if rows else pd.DataFrame()
