"""Tables and summaries of benchmark items, for whatever methods they hold.

Every function takes the item records (:func:`utrbert.runs.benchmark.run_items`) and optionally the run's
:class:`~utrbert.runs.benchmark.MethodRegistry`, which fixes the column order. A method that has items but is
not registered is never dropped: it follows the registered ones (:meth:`MethodRegistry.order`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from utrbert.runs.benchmark import MethodRegistry

__all__ = ["auroc_table", "attention_landscapes", "item_provenance", "summarise_benchmark", "split_order", "SUMMARY_METRICS"]

SUMMARY_METRICS = ("auroc", "auprc", "f1", "mcc", "acc")
"""Test metrics averaged by :func:`summarise_benchmark` (threshold 0.5; ``tuned_*`` at the validation threshold)."""


def _registry(methods: MethodRegistry | Sequence[str] | None) -> MethodRegistry:
    from utrbert.runs.builtin_methods import resolve_methods

    return resolve_methods(methods)


def split_order(name: str) -> tuple[int, str]:
    """Sort key of a split name ``<number>_<experiment>``: by number first (RBP-31 set folders).

    >>> sorted(["10_B", "2_A", "demo"], key=split_order)
    ['demo', '2_A', '10_B']
    """
    number = name.split("_")[0]
    return (int(number) if number.isdigit() else 0, name)


def auroc_table(
    records: Sequence[dict[str, Any]], methods: MethodRegistry | Sequence[str] | None = None, metric: str = "auroc",
    set_order: Callable[[str], Any] = split_order,
) -> pd.DataFrame:
    """Splits x methods table of a test metric (registered methods first, missing items as NaN).

    >>> rows = [{"set": "1_A", "method": "cnn", "metrics": {"auroc": 0.8}},
    ...         {"set": "1_A", "method": "kmer_lr", "metrics": {"auroc": 0.7}},
    ...         {"set": "1_A", "method": "kmer_rf", "metrics": {"auroc": 0.75}}]
    >>> auroc_table(rows).round(2).to_dict("records")
    [{'kmer_lr': 0.7, 'cnn': 0.8, 'kmer_rf': 0.75}]
    """
    registry = _registry(methods)
    frame = pd.DataFrame([{"set": r["set"], "method": r["method"], metric: r["metrics"][metric]} for r in records])
    if frame.empty:
        return pd.DataFrame(columns=registry.names())
    table = frame.pivot(index="set", columns="method", values=metric)
    table = table[registry.order(table.columns)]
    table.columns.name = None
    return table.loc[sorted(table.index, key=set_order)]


def attention_landscapes(records: Sequence[dict[str, Any]], method: str = "pretrained") -> dict[str, dict[str, Any]]:
    """Split -> attention landscape (mean [CLS] attention per nucleotide, positives and negatives) of ``method``."""
    return {
        r["set"]: r["details"]["attention_landscape"]
        for r in records
        if r["method"] == method and "attention_landscape" in r.get("details", {})
    }


def item_provenance(records: Sequence[dict[str, Any]], methods: MethodRegistry | Sequence[str] | None = None) -> pd.DataFrame:
    """Which execution produced which items: one row per (run label, device, commit), with its item count.

    >>> rows = [{"set": "1_A", "method": "cnn", "run_label": "cpu", "seconds": 2.0,
    ...          "environment": {"device": "CPU", "git_commit": "abc", "date": "2026-12-01T10:00:00+00:00"}}]
    >>> item_provenance(rows)[["run", "items", "sets", "methods"]].to_dict("records")
    [{'run': 'cpu', 'items': 1, 'sets': 1, 'methods': 'cnn'}]
    """
    registry = _registry(methods)
    rows = [
        {
            "run": r.get("run_label", ""),
            "device": r["environment"].get("device", ""),
            "commit": r["environment"].get("git_commit", ""),
            "date": r["environment"].get("date", "")[:10],
            "method": r["method"],
            "set": r["set"],
            "seconds": r.get("seconds", float("nan")),
        }
        for r in records
    ]
    if not rows:
        return pd.DataFrame(columns=["run", "device", "commit", "date", "items", "sets", "methods", "compute_minutes"])
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["run", "device", "commit", "date"], sort=True)
    return grouped.agg(
        items=("set", "size"),
        sets=("set", "nunique"),
        methods=("method", lambda m: ", ".join(registry.order(set(m)))),
        compute_minutes=("seconds", lambda t: round(float(np.nansum(t)) / 60, 1)),
    ).reset_index()


def summarise_benchmark(records: Sequence[dict[str, Any]], methods: MethodRegistry | Sequence[str] | None = None) -> dict[str, Any]:
    """Means over the splits that have every method, wins of ``pretrained``, and a plain-language verdict.

    Every method with items is summarised (registered ones in their order, then any others). Returns
    ``mean_auroc`` (method -> mean), ``metrics`` (a methods x metrics frame, threshold metrics at 0.5 and
    ``tuned_*`` at the validation-chosen threshold), ``complete_sets``, ``missing_items``, ``pretrained_wins``
    (splits where ``pretrained`` has the highest AUROC) and ``text`` (Markdown).
    """
    table = auroc_table(records, methods)
    names = [m for m in table.columns]
    complete = table[names].dropna() if names else table
    n_sets = len(table)
    missing = int(table[names].isna().sum().sum()) if names else 0
    by_item = {(r["set"], r["method"]): r["metrics"] for r in records}
    metric_rows = {}
    for method in names:
        values: dict[str, float] = {}
        for name in SUMMARY_METRICS:
            values[name] = float(np.mean([by_item[(s, method)][name] for s in complete.index])) if len(complete) else float("nan")
        for name in ("f1", "mcc", "acc"):
            tuned = [by_item[(s, method)].get("tuned", {}).get(name) for s in complete.index]
            values[f"tuned_{name}"] = float(np.mean(tuned)) if tuned and None not in tuned else float("nan")
        metric_rows[method] = values
    metrics = pd.DataFrame.from_dict(metric_rows, orient="index")
    mean_auroc = {m: float(complete[m].mean()) for m in names} if len(complete) else {}
    wins: list[str] = []
    lines = [f"**{len(complete)} of {n_sets} sets** have a result for every method ({missing} items missing)."]
    if len(complete):
        ranking = sorted(mean_auroc, key=mean_auroc.get, reverse=True)
        lines.append("Mean test AUROC over those sets: " + ", ".join(f"`{m}` {mean_auroc[m]:.3f}" for m in ranking) + ".")
        if "pretrained" in names and len(names) > 1:
            others = [m for m in names if m != "pretrained"]
            best_other = complete[others].max(axis=1)
            wins = [str(s) for s in complete.index[complete["pretrained"] > best_other]]
            beats_mean = all(mean_auroc["pretrained"] > mean_auroc[m] for m in others)
            verdict = "beats" if beats_mean else "does **not** beat"
            lines.append(
                f"The pretrained model {verdict} every other method on the mean AUROC and has the highest AUROC on "
                f"**{len(wins)} of {len(complete)}** sets."
            )
            if "scratch" in names:
                gain = complete["pretrained"] - complete["scratch"]
                lines.append(
                    f"Against the same model trained from scratch, pretraining changes the AUROC by {gain.mean():+.3f} "
                    f"on average ({int((gain > 0).sum())} of {len(complete)} sets better)."
                )
    return {
        "mean_auroc": mean_auroc,
        "metrics": metrics,
        "complete_sets": len(complete),
        "missing_items": missing,
        "pretrained_wins": wins,
        "text": " ".join(lines),
    }
