"""``scripts/gpu_check.py`` on the CPU: its dry mode end to end, stage timeouts, and that the GPU tests and the
modules the check needs import without the notebook stack (as on the lent GPU machine)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "gpu_check.py"
GPU_TESTS = [
    "test_bf16_pretraining_resumes_exactly_on_cuda",
    "test_bf16_finetuning_learns_a_planted_motif_on_cuda",
    "test_cls_attention_on_cuda_agrees_with_the_cpu",
    "test_fused_and_unfused_adamw_agree_after_a_few_steps",
    "test_compiled_bf16_pretraining_runs_and_matches_eager",
    "test_fp16_export_of_a_cuda_model_reloads_with_close_logits",
    "test_peak_flops_knows_this_device",
]


@pytest.fixture(scope="module")
def gpu_check() -> Iterator[ModuleType]:
    """The script as a module (importing it runs nothing; dataclasses need it in ``sys.modules`` meanwhile)."""
    name = "utrbert_gpu_check_script"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def _blocked_env(gpu_check: ModuleType, tmp_path: Path) -> dict[str, str]:
    blocker = gpu_check.write_import_blocker(tmp_path / "blocker")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), str(REPO_ROOT)]), CUDA_VISIBLE_DEVICES="")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_gpu_tests_and_the_checks_modules_load_without_the_notebook_stack(gpu_check: ModuleType, tmp_path: Path) -> None:
    env = _blocked_env(gpu_check, tmp_path)
    # the blocker works: every notebook-stack module fails to import in a child process
    probe = "; ".join(
        f"exec('try:\\n import {m}\\n print(\"imported {m}\")\\nexcept ModuleNotFoundError: pass')"
        for m in gpu_check.NOTEBOOK_STACK
    )
    blocked = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert blocked.returncode == 0 and "imported" not in blocked.stdout, blocked.stdout + blocked.stderr
    modules = "utrbert.models.pretraining, utrbert.models.model, utrbert.interpret.attention, utrbert.models.finetuning, utrbert.models.pretraining_recipe"
    imported = subprocess.run([sys.executable, "-c", f"import {modules}"], env=env, capture_output=True, text=True,
                              timeout=120, cwd=REPO_ROOT)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_gpu.py"],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert [name for name in GPU_TESTS if f"tests/test_gpu.py::{name}" in collected.stdout] == GPU_TESTS


def test_gpu_tests_are_all_marked_gpu_and_listed_here() -> None:
    text = (REPO_ROOT / "tests" / "test_gpu.py").read_text(encoding="utf-8")
    assert "pytestmark = pytest.mark.gpu" in text
    defined = [line.split("(")[0].removeprefix("def ") for line in text.splitlines() if line.startswith("def test_")]
    assert defined == GPU_TESTS


def test_benchmark_flags_are_read_from_the_benchmark_source(gpu_check: ModuleType) -> None:
    flags = gpu_check._benchmark_flags(REPO_ROOT / "benchmarks" / "pretraining_throughput.py")
    assert {"--sizes", "--batch", "--steps", "--warmup", "--device", "--out"} <= flags
    assert flags & {"--precision", "--fast-precision"}


@pytest.mark.parametrize(
    ("flags", "expected", "lacking"),
    [
        ({"--sizes", "--batch", "--steps", "--warmup", "--device", "--precision", "--out"},
         ["--precision", "bf16"], ["--repeats", "--seq or --window-nt"]),
        ({"--sizes", "--batch", "--steps", "--warmup", "--repeats", "--device", "--fast-precision", "--window-nt",
          "--out"}, ["--repeats", "1", "--fast-precision", "bf16", "--window-nt", "510"], []),
        ({"--sizes", "--batch", "--steps", "--warmup", "--device", "--precision", "--seq", "--out"},
         ["--precision", "bf16", "--seq", "512"], ["--repeats"]),
    ],
)  # fmt: skip
def test_benchmark_command_uses_only_the_flags_the_benchmark_defines(gpu_check, tmp_path, flags, expected, lacking) -> None:
    command, unused = gpu_check.benchmark_command(gpu_check.REAL, tmp_path, flags)
    args = command[2:]
    assert [a for a in args if a.startswith("--")] == [a for a in args if a in flags]  # nothing it lacks
    assert args[:6] == ["--sizes", "base", "--batch", str(gpu_check.REAL.bench_batch), "--steps", "10"]
    pairs = list(zip(args[::2], args[1::2]))
    assert all((flag, value) in pairs for flag, value in zip(expected[::2], expected[1::2]))
    assert pairs[-1] == ("--out", str(tmp_path / "benchmark.json"))
    assert unused == lacking


def test_a_stage_past_its_timeout_is_killed_and_recorded(gpu_check: ModuleType, tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    env = gpu_check._child_env([], {"CUDA_VISIBLE_DEVICES": ""})
    started = time.perf_counter()
    record = gpu_check.run_stage("env", gpu_check.DRY, out, work, 0.5, env)  # too short to even import torch
    assert time.perf_counter() - started < 15
    assert record["status"] == "timeout" and record["rc"] is None and record["log"] == "env.log"
    assert (out / "env.log").is_file() and not (work / "env.json").exists()


@pytest.mark.slow
def test_dry_run_runs_every_stage_and_returns_at_most_eight_files(gpu_check: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out))
    env.pop("PYTEST_ADDOPTS", None)
    started = time.perf_counter()
    run = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], env=env, capture_output=True, text=True,
                         timeout=170, cwd=tmp_path)  # fmt: skip (any working directory will do)
    seconds = time.perf_counter() - started
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert run.stdout.strip() == str(out / "summary.json")
    assert seconds < 150
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    stages = summary["stages"]
    assert summary["ok"] and list(stages) == list(gpu_check.STAGES)
    assert all(stage["status"] == "ok" for stage in stages.values()), {k: v["status"] for k, v in stages.items()}

    # the whole run saw the lent machine's missing notebook stack, and no GPU
    assert stages["env"]["notebook_stack_importable"] == {m: False for m in gpu_check.NOTEBOOK_STACK}
    assert stages["env"]["device"]["cuda_available"] is False
    # every GPU test is collected, and skipped on the CPU
    assert stages["gpu_tests"]["tests"] == {name: "skipped" for name in GPU_TESTS}
    # the benchmark ran our loop and the HF Trainer, and every row has an MFU (estimate, None without a peak)
    rows = stages["benchmark"]["rows"]
    assert [row["size"] for row in rows] == ["tiny"] and rows[0]["ours_fast_tokens_per_s"] > 0
    assert all(any("mfu" in key for key in row) for row in rows)
    # pretraining continued the committed checkpoint for the planned steps and scored it before and after
    pretrain = stages["pretrain"]
    assert pretrain["steps_done"] == gpu_check.DRY.train_max_steps and pretrain["finished"]
    assert pretrain["tokens_seen"] > pretrain["tokens_logged"] > 0  # the card's tokens count too
    for key in ("heldout_before", "heldout_after", "heldout_reloaded_fp16"):
        assert 0 < pretrain[key]["masked_accuracy"] < 1 and pretrain[key]["masked_tokens"] > 0
    assert pretrain["heldout_after"] == {
        key.removeprefix("heldout_"): value for key, value in pretrain["last_log"].items() if key.startswith("heldout_")
    }  # the run's own held-out evaluation, on the same windows and masks
    assert abs(pretrain["heldout_reloaded_fp16"]["loss"] - pretrain["heldout_after"]["loss"]) < 0.01

    # at most 8 files of at most 16 MiB; the tar is a checkpoint that load_model reads
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) <= gpu_check.MAX_FILES and summary["limits"]["problems"] == []
    assert all(p.stat().st_size <= gpu_check.MAX_FILE_BYTES for p in files)
    assert {p.name for p in files} == set(summary["files"])
    with tarfile.open(out / pretrain["export"]) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    from utrbert.models.model import load_model

    model, tokenizer = load_model(tmp_path / "unpacked" / "utrbert-small-k3-gpu")
    card = json.loads((tmp_path / "unpacked" / "utrbert-small-k3-gpu" / "model_card.json").read_text())
    assert tokenizer.k == 3 and card["heldout_masked_accuracy"] == pretrain["heldout_after"]["masked_accuracy"]
    assert card["init_from"].endswith("models/utrbert-small-k3") and card["tokens_seen"] > card["init_tokens_seen"] > 0
