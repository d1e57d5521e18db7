"""Provenance records: context names profile, data kind and device; results files are strict JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from utrbert.runs.provenance import context_markdown, run_context, write_results
from utrbert.data.synthetic import DEMO_MARKER


def test_synthetic_data_is_flagged_on_the_page_and_in_the_record(tmp_path: Path) -> None:
    real = run_context("cpu", tmp_path)
    assert not real["synthetic_data"]
    assert "not results" not in context_markdown(real)
    (tmp_path / DEMO_MARKER).write_text("synthetic", encoding="utf-8")
    demo = run_context("smoke", tmp_path)
    assert demo["synthetic_data"]
    assert context_markdown(demo).startswith("**Synthetic demo data")
    assert demo["device"].startswith(("CPU:", "GPU:"))
    assert demo["transformers"] != "not installed"


def test_results_are_written_as_strict_json_with_context(tmp_path: Path) -> None:
    context = run_context("cpu", None)
    path = write_results(tmp_path / "results", "01_data", {"n": np.int64(3), "auc": float("nan")}, context)
    record = json.loads(path.read_text(encoding="utf-8"))
    assert path.name == "01_data.json"
    assert record["values"] == {"n": 3, "auc": None}
    assert record["context"]["profile"] == "cpu"
    with pytest.raises(TypeError):
        write_results(tmp_path, "bad", {"x": object()}, context)


def test_a_failed_results_write_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = run_context("cpu", None, "cpu")
    path = write_results(tmp_path, "rbp", {"mean_auroc": 0.8}, context)
    before = path.read_text(encoding="utf-8")
    with pytest.raises(TypeError):
        write_results(tmp_path, "rbp", {"mean_auroc": object()}, context)  # not JSON: refused before writing

    import os

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process is stopped between writing the text and renaming it into place

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_results(tmp_path, "rbp", {"mean_auroc": 0.9}, context)
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rbp.json"]  # no temporary file left behind


def test_utrbert_version_comes_from_the_package_not_the_distribution_name() -> None:
    import tomllib

    import utrbert

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "utrbert-book"  # "utrbert" on the package index is another upload
    assert project["version"] == utrbert.__version__
    context = run_context("cpu", None, "cpu")
    assert context["utrbert"] == utrbert.__version__ and context["torch"] != "not installed"
