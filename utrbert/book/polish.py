"""What a reader of an executed chapter should not have to scroll past: parameter cells and progress bars.

The runner calls :func:`polish_notebook` on every executed copy it writes (and it can be applied to existing
copies): the template's parameter cell (its defaults, replaced by papermill's injected cell) is removed from the
rendered page, the injected cell holding the values actually used is collapsed (Jupyter Book's ``hide-cell``), and
progress-bar text that tqdm wrote to stderr (``\\r``-redrawn bars, "Writing model shards", "Loading weights") is
dropped from the outputs. Nothing else changes: code, results and figures stay as executed.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["without_progress", "polish_notebook"]

_BAR = re.compile(r"\d+%\|[^|\n]*\|")  # tqdm's "37%|███▋      |" bar


def without_progress(text: str) -> str:
    """``text`` without the progress bars tqdm drew into it (bars are redrawn with carriage returns).

    >>> without_progress("Loading weights:   0%|          | 0/74 [00:00<?, ?it/s]\\rLoading weights: 100%|##| 74/74\\n")
    ''
    >>> without_progress("WARNING: ids repeat\\nWriting model shards: 100%|#| 1/1 [00:00<00:00]\\n")
    'WARNING: ids repeat\\n'
    """
    kept = []
    for line in text.split("\n"):
        pieces = [piece for piece in line.split("\r") if piece.strip() and not _BAR.search(piece)]
        if pieces:
            kept.append("\r".join(pieces))
    return "".join(f"{line}\n" for line in kept)


def _add_tag(cell: Any, tag: str) -> None:
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _is_progress_widget(output: Any) -> bool:
    """A display output of a progress-bar widget (tqdm's notebook bar), which a static page cannot draw."""
    data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
    text = data.get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else text
    return WIDGET_MIME in data and not without_progress(text + "\n").strip()


def polish_notebook(nb: Any) -> dict[str, int]:
    """Tag parameter cells and drop progress-bar outputs of an executed notebook (in place); return counts."""
    counts = {"parameter_cells_removed": 0, "injected_cells_hidden": 0, "progress_outputs_cleaned": 0}
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags:
            _add_tag(cell, "remove-cell")
            counts["parameter_cells_removed"] += 1
        if "injected-parameters" in tags:
            _add_tag(cell, "hide-cell")
            counts["injected_cells_hidden"] += 1
        kept = []
        for output in cell.get("outputs", []):
            if _is_progress_widget(output):  # tqdm.auto's notebook bar: a widget whose text is the bar
                counts["progress_outputs_cleaned"] += 1
                continue
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                text = "".join(text) if isinstance(text, list) else text
                rest = without_progress(text)
                if rest != text:
                    counts["progress_outputs_cleaned"] += 1
                    if not rest:
                        continue
                    output["text"] = rest
            kept.append(output)
        cell["outputs"] = kept
    return counts
