"""Executed chapters are polished for readers: parameter cells out of the way, no saved progress bars."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from utrbert.book.polish import polish_notebook, without_progress

BOOK = Path(__file__).resolve().parents[1] / "book"


def test_polish_tags_parameter_cells_and_drops_only_progress_bars() -> None:
    nb = nbformat.v4.new_notebook()
    defaults = nbformat.v4.new_code_cell("k = 3", metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell("k = 4", metadata={"tags": ["injected-parameters"]})
    work = nbformat.v4.new_code_cell("train()")
    work.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="Writing model shards: 100%|##| 1/1 [00:00<00:00]\n"),
        nbformat.v4.new_output("stream", name="stderr", text="WARNING: 3 ids repeat\rpredict:  50%|#  | 1/2\n"),
        nbformat.v4.new_output("stream", name="stdout", text="epoch 1: 50%| of the way\n"),
    ]
    bar = nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0},
        "text/plain": "embedding shards:   0%|          | 0/6 [00:00<?, ?it/s]"})
    table = nbformat.v4.new_output("display_data", data={"text/plain": "  a  b\n0 1 2"})
    work.outputs = [bar, *work.outputs, table]
    nb.cells = [defaults, injected, work]
    counts = polish_notebook(nb)
    assert counts == {"parameter_cells_removed": 1, "injected_cells_hidden": 1, "progress_outputs_cleaned": 3}
    assert work.outputs[-1] == table
    assert "remove-cell" in defaults.metadata.tags and "hide-cell" in injected.metadata.tags
    assert [o.get("text") for o in work.outputs[:-1]] == ["WARNING: 3 ids repeat\n", "epoch 1: 50%| of the way\n"]
    assert polish_notebook(nb) == {"parameter_cells_removed": 1, "injected_cells_hidden": 1, "progress_outputs_cleaned": 0}
    assert without_progress("no bar here\n") == "no bar here\n"


@pytest.mark.parametrize("page", sorted(BOOK.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_executed_chapter_is_polished(page: Path) -> None:
    nb = nbformat.read(page, as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in nb.cells if cell.cell_type == "code"]
    assert any("parameters" in t and "remove-cell" in t for t in tags), "the template's parameter cell is shown"
    assert any("injected-parameters" in t and "hide-cell" in t for t in tags), "the injected parameters are not collapsed"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {}), f"widget saved in {page.name}"
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                assert without_progress(output.get("text", "")) == output.get("text", ""), f"progress bar saved in {page.name}"
