"""``scripts/gpu_long_run.py`` end to end on generated data: a run begun here is bundled, continued elsewhere
(``run --dry-run``: the CPU stands in for the lent GPU) and what comes back lands where chapter 02 reads it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from utrbert.data.readers import list_rbp31_sets
from utrbert.data.synthetic import write_demo_data
from utrbert.models.pretraining import latest_checkpoint
from utrbert.models.pretraining_recipe import (
    PretrainingRecipe,
    book_utr_records,
    export_run_checkpoint,
    run_pretraining,
    save_run_state,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_long_run.py"


@pytest.fixture(scope="module")
def gpu_long_run():
    spec = importlib.util.spec_from_file_location("gpu_long_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_long_run"] = module
    spec.loader.exec_module(module)
    return module


def _begun_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Path]]:
    """Demo data, an initial checkpoint, a 6-step run stopped after its first step with its state saved, and a
    profile whose chapter 02 points at them; returns (profile path, paths)."""
    data = write_demo_data(tmp_path / "data", seed=0, scale="smoke")
    monkeypatch.setenv("UTRBERT_DATA", str(data))
    records = book_utr_records(data)
    recipe = PretrainingRecipe(size="tiny", batch_size=8, precision="fp32", checkpoint_every=100)
    run_pretraining(records, tmp_path / "first", recipe, steps=2, progress=False)
    init = export_run_checkpoint(tmp_path / "first", 2, tmp_path / "ladder0" / "utrbert-small-k3", {})
    run_dir, state = tmp_path / "run", tmp_path / "state"
    begun = run_pretraining(records, run_dir, recipe, steps=6, init_from=init, max_minutes=1e-9, progress=False)
    assert begun["steps_done"] == 1
    save_run_state(run_dir, state)
    paths = {"state": state, "init": init, "ladder": tmp_path / "ladder", "budget": tmp_path / "budget",
             "export": tmp_path / "models" / "utrbert-small-k3", "data": data}  # fmt: skip
    chapter = {
        "run_state_dir": str(state), "init_from": str(init), "export_dir": str(paths["export"]),
        "ladder_dir": str(paths["ladder"]), "budget_results_dir": str(paths["budget"]),
        "budget_sets": list_rbp31_sets(data / "rbp31")[:1], "model_size": "tiny", "window_nt": 128,
        "max_heldout_windows": 50, "batch_size": 8,
    }  # fmt: skip
    profile = tmp_path / "profile.yaml"
    profile.write_text(json.dumps({"profile": "test", "defaults": {"data_dir": "@env", "seed": 0},
                                   "notebooks": {"02_pretraining": chapter}}))  # fmt: skip  (JSON is YAML)
    return profile, paths


def test_a_bundled_run_finishes_elsewhere_and_lands_where_the_chapter_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpu_long_run
) -> None:
    profile, paths = _begun_run(tmp_path, monkeypatch)
    bundle = tmp_path / "bundle"
    description = gpu_long_run.bundle(bundle, str(profile), None)
    assert {"state.tar.xz", "utr3.fa.gz", "bundle.json"} <= {p.name for p in bundle.iterdir()}
    assert description["panel"] == list_rbp31_sets(paths["data"] / "rbp31")[:1]

    out = tmp_path / "out"
    summary = gpu_long_run.run(bundle, out, budget_s=600, train_minutes=5, check_budget_s=0, device="cpu",
                               dry_run=True)  # fmt: skip
    assert summary["train"]["status"] == "ok" and summary["train"]["finished"], summary["train"]
    assert summary["rung"]["status"] == "ok" and summary["panel"]["status"] == "ok", summary
    assert len(list(out.iterdir())) <= 8
    assert all(p.stat().st_size <= 16 * 2**20 for p in out.iterdir())

    done = gpu_long_run.unpack(out, str(profile))
    # the state is the finished run's: resuming it trains nothing, and run.json lists both executions
    assert latest_checkpoint(paths["state"]).name == "checkpoint-6"
    plan = json.loads((paths["state"] / "run.json").read_text())
    assert [(e["from_step"], e["to_step"]) for e in plan["executions"]] == [(0, 1), (1, 6)]
    rung = Path(done["rung"])
    card = json.loads((rung / "utrbert-small-k3" / "model_card.json").read_text())
    assert card["run_step"] == 6 and set(card["heldout_masked_accuracy"]) == {"128nt", "510nt"}
    items = sorted(p.relative_to(paths["budget"]).as_posix() for p in paths["budget"].rglob("*.json"))
    assert any(item.startswith(f"{rung.name}/") and item.endswith("/pretrained.json") for item in items), items
    assert any(item.startswith(f"probes/{rung.name}/") for item in items), items
    # what came back is not unpacked twice over existing items
    with pytest.raises(FileExistsError):
        gpu_long_run.unpack(out, str(profile))


def test_a_changed_bundle_file_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpu_long_run) -> None:
    profile, _ = _begun_run(tmp_path, monkeypatch)
    bundle = tmp_path / "bundle"
    gpu_long_run.bundle(bundle, str(profile), None)
    corpus = bundle / "utr3.fa.gz"
    corpus.write_bytes(corpus.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"utr3\.fa\.gz"):
        gpu_long_run.run(bundle, tmp_path / "out", 60, 1, 0, "cpu", True)
