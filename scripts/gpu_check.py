#!/usr/bin/env python3
"""One-shot GPU check: run on a lent CUDA machine as it is (no pip install, no prompts), results in ``$OUT``.

Stages, each in its own process under its own timeout, fail-soft (a stage that fails or times out is recorded
and the next one runs), within an overall budget (8 minutes by default):

``env``        versions, the device, its peak-FLOPs entry, which optional packages are present;
``gpu_tests``  ``pytest tests/test_gpu.py`` (bf16 pretraining and exact resume, bf16 fine-tuning, CUDA vs CPU
               [CLS] attention, fused AdamW, torch.compile, fp16 export, peak FLOPs);
``benchmark``  ``benchmarks/pretraining_throughput.py`` at BERT-base size, 512-token windows, bf16, a batch that
               fills the device, our loop against a plain Hugging Face Trainer, with MFU;
``pretrain``   a time-boxed bf16 pretraining run that resumes the committed CPU checkpoint
               ``models/utrbert-small-k3`` (its weights; a fresh optimizer), held-out masked accuracy before and
               after, and its fp16 export (one tar file) that ``utrbert.models.model.load_model`` reads back.

``$OUT`` (default ``scratch/gpu-check``) receives at most 8 files: ``summary.json`` (rewritten as each stage
ends), one log per stage, ``benchmark.json`` and the exported checkpoint as a tar file. Scratch files go to a
temporary work folder that is removed at the end.

``--dry-run`` runs every stage on the CPU with tiny settings (seconds each) and with the notebook stack
(papermill, nbformat, ipykernel, jupyter-book, biopython, ...) blocked in every process, as on the lent machine;
CI runs it. The script uses the standard library, torch, transformers and ``utrbert`` only; run it with the
repository root as the working directory or from anywhere (it finds the repository from its own path)::

    python scripts/gpu_check.py            # on the GPU machine
    python scripts/gpu_check.py --dry-run  # anywhere, CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("env", "gpu_tests", "benchmark", "pretrain")
MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
NOTEBOOK_STACK = (
    "papermill", "nbformat", "nbclient", "nbconvert", "ipykernel", "IPython", "ipywidgets", "jupyter_book", "Bio",
    "memelite", "logomaker", "umap", "captum", "RNA",
)  # fmt: skip
"""Top-level modules absent from the lent machine's image (the book and analysis stack; ``RNA`` is viennarna)."""
CHECKPOINT = "models/utrbert-small-k3"
SUMMARY = "summary.json"

logger = logging.getLogger("gpu_check")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything a mode (real or dry) decides: device, budget, per-stage timeouts and stage sizes."""

    dry_run: bool
    device: str
    precision: str
    budget_s: float
    timeouts: dict[str, float]
    bench_size: str
    bench_seq: int
    bench_batch: int
    bench_steps: int
    bench_warmup: int
    train_minutes: float
    train_max_steps: int
    train_batch: int
    train_peak_lr: float
    train_warmup: int
    heldout_windows: int
    demo_scale: str


REAL = Plan(
    dry_run=False, device="cuda", precision="bf16", budget_s=460.0,
    timeouts={"env": 60.0, "gpu_tests": 150.0, "benchmark": 120.0, "pretrain": 210.0},
    bench_size="base", bench_seq=512, bench_batch=256, bench_steps=10, bench_warmup=3,
    train_minutes=2.0, train_max_steps=4000, train_batch=128, train_peak_lr=5e-4, train_warmup=100,
    heldout_windows=2000, demo_scale="small",
)  # fmt: skip
"""The lent machine: one H200, 8 minutes in all (460 s for the stages; the rest for start-up, kills and the summary)."""

DRY = Plan(
    dry_run=True, device="cpu", precision="fp32", budget_s=150.0,
    timeouts={"env": 40.0, "gpu_tests": 60.0, "benchmark": 60.0, "pretrain": 60.0},
    bench_size="tiny", bench_seq=64, bench_batch=2, bench_steps=1, bench_warmup=1,
    train_minutes=0.25, train_max_steps=2, train_batch=4, train_peak_lr=1e-4, train_warmup=1,
    heldout_windows=8, demo_scale="smoke",
)  # fmt: skip
"""CI on 2 CPU cores: every stage with tiny settings, seconds each."""


# ----------------------------------------------------------------------------------------------- files


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a stage killed mid-write leaves the previous version, never half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_import_blocker(directory: Path, modules: tuple[str, ...] = NOTEBOOK_STACK) -> Path:
    """Write a ``sitecustomize.py`` into ``directory`` that makes importing ``modules`` fail in every Python
    process with ``directory`` on its ``PYTHONPATH`` (children included): the lent machine's image, simulated."""
    directory.mkdir(parents=True, exist_ok=True)
    source = f'''"""Written by scripts/gpu_check.py: the modules below are absent, as on the lent GPU machine."""
import importlib.abc
import sys

BLOCKED = frozenset({sorted(modules)!r})


class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not on the lent GPU machine)", name=name)
        return None


sys.meta_path.insert(0, _Blocked())
'''
    (directory / "sitecustomize.py").write_text(source, encoding="utf-8")
    return directory


def out_files(out: Path) -> list[Path]:
    """Every file under ``out`` (what would come back from the lent machine)."""
    return sorted(p for p in out.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------------------------- orchestration


def _child_env(extra_paths: list[Path], overrides: dict[str, str | None]) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(p) for p in extra_paths] + [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_stage(
    name: str, plan: Plan, out: Path, work: Path, timeout: float, env: dict[str, str]
) -> dict[str, Any]:
    """Run one stage in its own process group (killed as a whole on timeout); its log goes to ``out``."""
    result_file = work / f"{name}.json"
    result_file.unlink(missing_ok=True)
    deadline = time.time() + timeout
    command = [
        sys.executable, str(Path(__file__).resolve()), "--stage", name, "--work", str(work), "--out", str(out),
        "--deadline", f"{deadline:.3f}",
    ] + (["--dry-run"] if plan.dry_run else [])  # fmt: skip
    log_path = out / f"{name}.log"
    started = time.perf_counter()
    status = "failed"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env, start_new_session=True
        )
        try:
            rc: int | None = process.wait(timeout=timeout)
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            _kill_group(process)
            rc, status = None, "timeout"
    seconds = time.perf_counter() - started
    record: dict[str, Any] = {"status": status, "rc": rc, "seconds": round(seconds, 1), "timeout_s": round(timeout, 1),
                              "log": log_path.name}  # fmt: skip
    details = read_json(result_file)
    if details is not None:
        if details.get("status") == "failed" and status == "ok":
            record["status"] = "failed"
        details.pop("status", None)
        record.update(details)
    if status != "ok":
        record["log_tail"] = _tail(log_path, 25)
    return record


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM the stage's process group, then SIGKILL what is left after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def orchestrate(plan: Plan, out: Path, stages: tuple[str, ...], keep_work: bool) -> dict[str, Any]:
    """Run ``stages`` in order within ``plan.budget_s``; rewrite ``summary.json`` after each; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    extra = [write_import_blocker(work / "blocker")] if plan.dry_run else []
    overrides: dict[str, str | None] = {"CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8")}
    if plan.dry_run:
        overrides.update({"CUDA_VISIBLE_DEVICES": "", "UTRBERT_DATA": None})  # CPU and demo data, whatever the host
    env = _child_env(extra, overrides)
    summary: dict[str, Any] = {
        "check": "utrbert gpu-check",
        "mode": "dry-run (CPU, tiny settings, notebook stack blocked)" if plan.dry_run else "real",
        "plan": dataclasses.asdict(plan),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "stages": {},
    }
    write_json(out / SUMMARY, summary)
    try:
        for name in stages:
            left = plan.budget_s - (time.perf_counter() - clock)
            timeout = min(plan.timeouts[name], left)
            if timeout < 15:
                summary["stages"][name] = {"status": "skipped", "reason": f"budget spent ({left:.0f} s left)"}
            else:
                logger.info("stage %s (timeout %.0f s)", name, timeout)
                summary["stages"][name] = run_stage(name, plan, out, work, timeout, env)
                logger.info("stage %s: %s", name, summary["stages"][name]["status"])
            summary["elapsed_s"] = round(time.perf_counter() - clock, 1)
            write_json(out / SUMMARY, summary)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    files = out_files(out)
    summary["files"] = {str(p.relative_to(out)): p.stat().st_size for p in files}
    problems = [f"{len(files)} files (at most {MAX_FILES} come back)"] if len(files) > MAX_FILES else []
    problems += [f"{p.name} is {p.stat().st_size} bytes (at most {MAX_FILE_BYTES})" for p in files if p.stat().st_size > MAX_FILE_BYTES]
    summary["limits"] = {"max_files": MAX_FILES, "max_file_bytes": MAX_FILE_BYTES, "problems": problems}
    summary["ok"] = not problems and all(s.get("status") == "ok" for s in summary["stages"].values())
    summary["elapsed_s"] = round(time.perf_counter() - clock, 1)
    write_json(out / SUMMARY, summary)
    return summary


# ----------------------------------------------------------------------------------------------- stages


def stage_env(plan: Plan, out: Path, work: Path, deadline: float) -> dict[str, Any]:
    """Versions, the device and its peak-FLOPs entry, and which optional packages this machine has."""
    import importlib.util
    import platform
    from importlib import metadata

    import torch

    from utrbert.models.pretraining import peak_flops
    from utrbert.runs.provenance import environment

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    def importable(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    cuda = torch.cuda.is_available()
    device: dict[str, Any] = {"cuda_available": cuda, "cpu_count": os.cpu_count()}
    if cuda:
        props = torch.cuda.get_device_properties(0)
        device.update(
            name=props.name, capability=f"{props.major}.{props.minor}", memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count, count=torch.cuda.device_count(),
            bf16_supported=torch.cuda.is_bf16_supported(), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
            peak_flops_bf16=peak_flops("cuda", "bf16"), peak_flops_fp32=peak_flops("cuda", "fp32"),
        )  # fmt: skip
    packages = ("torch", "transformers", "tokenizers", "safetensors", "accelerate", "numpy", "pandas", "scikit-learn",
                "scipy", "pytest", "tqdm", "pyyaml")  # fmt: skip
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {package: version(package) for package in packages},
        "device": device,
        "environment": environment(plan.device),
        "notebook_stack_importable": {module: importable(module) for module in NOTEBOOK_STACK},
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def stage_gpu_tests(plan: Plan, out: Path, work: Path, deadline: float) -> dict[str, Any]:
    """``pytest tests/test_gpu.py``; warnings are shown, not errors (a newer stack's deprecations must not hide a
    CUDA result), and the per-test outcomes come from a JUnit file."""
    import xml.etree.ElementTree as ElementTree

    junit = work / "gpu_tests.xml"
    command = [sys.executable, "-m", "pytest", "tests/test_gpu.py", "-rA", "-W", "default", f"--junitxml={junit}"]
    rc = subprocess.run(command, cwd=REPO_ROOT, timeout=max(deadline - time.time() - 5, 1), check=False).returncode
    outcomes: dict[str, str] = {}
    if junit.is_file():
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            outcomes[case.get("name", "?")] = kinds[0] if kinds else "passed"
    counts = {kind: sum(1 for v in outcomes.values() if v == kind) for kind in ("passed", "failed", "error", "skipped")}
    counts["failed"] += sum(1 for v in outcomes.values() if v == "failure")
    return {"status": "ok" if rc == 0 else "failed", "pytest_rc": rc, "counts": counts, "tests": outcomes}


def _benchmark_flags(script: Path) -> set[str]:
    """The ``--flags`` the benchmark script defines (read from its source: no torch import just to ask)."""
    return set(re.findall(r"add_argument\(\s*[\"'](--[a-z-]+)", script.read_text(encoding="utf-8")))


def benchmark_command(plan: Plan, out: Path, flags: set[str]) -> tuple[list[str], list[str]]:
    """The benchmark's command line for ``plan`` using only ``flags`` it defines, and the wanted flags it lacks.

    Its CLI evolves: 512-token windows are ``--seq 512``, or ``--window-nt 510`` (k=3: 510 nt, 508 k-mers and
    two specials); the precision is ``--precision`` or ``--fast-precision``; one round where it repeats rounds.
    """
    choices = [
        [("--sizes", plan.bench_size)], [("--batch", str(plan.bench_batch))], [("--steps", str(plan.bench_steps))],
        [("--warmup", str(plan.bench_warmup))], [("--repeats", "1")], [("--device", plan.device)],
        [("--precision", plan.precision), ("--fast-precision", plan.precision)],
        [("--seq", str(plan.bench_seq)), ("--window-nt", str(plan.bench_seq - 2))],
        [("--out", str(out / "benchmark.json"))],
    ]  # fmt: skip
    command = [sys.executable, str(REPO_ROOT / "benchmarks" / "pretraining_throughput.py")]
    unused = []
    for options in choices:
        chosen = next(((flag, value) for flag, value in options if flag in flags), None)
        if chosen is None:
            unused.append(" or ".join(flag for flag, _ in options))
        else:
            command += list(chosen)
    return command, unused


def stage_benchmark(plan: Plan, out: Path, work: Path, deadline: float) -> dict[str, Any]:
    """The throughput benchmark at ``plan.bench_size``, then MFU for every row that lacks it."""
    command, unused = benchmark_command(plan, out, _benchmark_flags(REPO_ROOT / "benchmarks" / "pretraining_throughput.py"))
    logger.info("benchmark command: %s", " ".join(command))
    rc = subprocess.run(command, cwd=REPO_ROOT, timeout=max(deadline - time.time() - 5, 1), check=False).returncode
    record = read_json(out / "benchmark.json")
    result: dict[str, Any] = {"status": "ok" if rc == 0 and record else "failed", "benchmark_rc": rc,
                              "command": command[1:], "flags_not_in_benchmark": unused}  # fmt: skip
    if record:
        settings = record.get("settings", {})
        seq = int(settings.get("seq") or settings.get("window_nt") or 512)  # k=3: an n-nt window is n tokens
        result["rows"] = [_with_mfu(row, seq, plan) for row in record.get("rows", [])]
    return result


def _with_mfu(row: dict[str, Any], seq: int, plan: Plan) -> dict[str, Any]:
    """A benchmark row with ``mfu`` for ours and the HF Trainer, estimated here when the benchmark gave none."""
    from utrbert.models.model import build_config, build_model
    from utrbert.models.pretraining import model_flops_per_token, peak_flops

    if any("mfu" in key for key in row):
        return row
    config = build_config(row["size"], k=3)
    model = build_model(config, seed=0)
    n = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    flops = model_flops_per_token(n, config.num_hidden_layers, config.hidden_size, seq)
    peak = peak_flops(plan.device, plan.precision)
    estimate: dict[str, Any] = {
        "flops_per_token": flops,
        "formula": "6 N + 12 L h s (PaLM app. B; N non-embedding parameters, L layers, h hidden, s tokens per window)",
        "peak_flops": peak,
        "peak_source": "utrbert.models.pretraining.PEAK_FLOPS (dense bf16/fp32 tensor-core peak of the data sheet)",
    }
    for key in [key for key in row if key.endswith("tokens_per_s")]:  # ours (each variant) and the HF Trainer
        value = row.get(key)
        estimate[key.replace("tokens_per_s", "mfu")] = (
            value * flops / peak if isinstance(value, (int, float)) and peak else None
        )
    return {**row, "mfu_estimate": estimate}


def _utr_records(plan: Plan, work: Path) -> tuple[list[Any], str]:
    """3'UTR records: the book's DM3Loc 3'UTRs when ``UTRBERT_DATA`` has them (real mode), else synthetic demo mRNAs."""
    from utrbert.data.corpus import utr3_from_mrnas
    from utrbert.models.pretraining_recipe import book_utr_records
    from utrbert.data.readers import read_dm3loc
    from utrbert.data.synthetic import write_demo_data

    data = os.environ.get("UTRBERT_DATA", "").strip()
    if not plan.dry_run and data and (Path(data) / "localization" / "dm3loc").is_dir():
        return book_utr_records(data), f"DM3Loc 3'UTRs (longest-ORF calls) from UTRBERT_DATA ({data})"
    root = write_demo_data(work / "demo_data", seed=0, scale=plan.demo_scale) / "localization" / "dm3loc"
    utrs, _ = utr3_from_mrnas(read_dm3loc(root), progress=False)
    return utrs, f"synthetic demo mRNAs (utrbert.data.synthetic, scale {plan.demo_scale}): a pipeline check, not a result"


def stage_pretrain(plan: Plan, out: Path, work: Path, deadline: float) -> dict[str, Any]:
    """Continue the committed small checkpoint for a few minutes with the book's recipe
    (:func:`utrbert.models.pretraining_recipe.run_pretraining`, ``init_from``); held-out masked accuracy before and
    after on the recipe's held-out genes; the fp16 export, read back by ``load_model``, as one tar file."""
    import numpy as np

    from utrbert.data.corpus import build_corpus
    from utrbert.tokens.masking import KmerSpanMaskingCollator
    from utrbert.models.model import load_model
    from utrbert.models.pretraining import evaluate_mlm
    from utrbert.models.pretraining_recipe import PretrainingRecipe, export_run_checkpoint, run_pretraining

    partial = work / "pretrain.json"
    result: dict[str, Any] = {"status": "failed", "init_from": CHECKPOINT}
    source_dir = REPO_ROOT / CHECKPOINT
    card = read_json(source_dir / "model_card.json") or {}
    recipe = PretrainingRecipe(
        size=card.get("model_size", "small"), k=int(card.get("k", 3)), window_nt=int(card.get("window_nt", 128)),
        batch_size=plan.train_batch, peak_lr=plan.train_peak_lr, warmup_steps=plan.train_warmup,
        precision=plan.precision, device=plan.device, checkpoint_every=10**9, eval_every=10**9,
        log_every=10 if plan.dry_run else 100, max_heldout_windows=plan.heldout_windows,
    )  # fmt: skip
    records, source = _utr_records(plan, work)
    corpus = build_corpus(records, k=recipe.k, window_nt=recipe.window_nt, heldout_fraction=recipe.heldout_fraction,
                          seed=recipe.corpus_seed)  # fmt: skip  (the split run_pretraining trains on)
    heldout = corpus.splits["heldout"]
    n = min(len(heldout), plan.heldout_windows)
    held = (heldout.input_ids[:n].astype(np.int64), heldout.attention_mask[:n].astype(np.int64))
    result.update(data=source, counts=corpus.provenance["counts"], heldout_windows=n,
                  card_heldout_masked_accuracy=card.get("heldout_masked_accuracy"))  # fmt: skip

    def score(path: Path) -> dict[str, float]:
        model, tokenizer = load_model(path, task="mlm")
        collator = KmerSpanMaskingCollator(tokenizer, mlm_probability=0.15, seed=recipe.seed)
        return evaluate_mlm(model.to(plan.device), collator, *held, seed=recipe.seed)

    result["heldout_before"] = score(source_dir)
    write_json(partial, result)

    reserve_s = 30.0  # held-out scoring, export and reload after training
    minutes = max(min(plan.train_minutes, (deadline - time.time() - reserve_s) / 60), 0.05)
    started = time.perf_counter()
    run = run_pretraining(
        records, work / "run", recipe, steps=plan.train_max_steps, init_from=source_dir, max_minutes=minutes,
        corpus_name=source, progress=False,
    )  # fmt: skip
    log = run["log"]
    seconds = sum(r["seconds"] for r in log)
    result.update(
        time_box_minutes=round(minutes, 2), wall_seconds=round(time.perf_counter() - started, 1),
        steps_done=run["steps_done"], schedule_steps=run["plan"]["max_steps"], finished=run["finished"],
        tokens_logged=int(sum(r["tokens"] for r in log)), tokens_seen=run["tokens_seen"],
        tokens_per_s=sum(r["tokens"] for r in log) / seconds if seconds else None,
        mfu=[r.get("mfu") for r in log][-1] if log else None, last_log=log[-1] if log else None,
        recipe=run["plan"]["recipe"],
    )  # fmt: skip
    result["heldout_after"] = score(Path(run["final_checkpoint"]))
    write_json(partial, result)

    name = "utrbert-small-k3-gpu"
    export = export_run_checkpoint(work / "run", run["steps_done"], work / name, {
        "data": source, "device": plan.device, "train_seconds": result["wall_seconds"],
        "heldout_masked_accuracy": result["heldout_after"]["masked_accuracy"],
        "heldout_perplexity": result["heldout_after"]["perplexity"], "heldout_windows": n,
        "heldout_masked_accuracy_at_start": result["heldout_before"]["masked_accuracy"],
        "weights": "fp16 safetensors (load_model reads them in fp32)", "reproduce": "make gpu-check",
    })  # fmt: skip
    result["heldout_reloaded_fp16"] = score(export)
    archive = out / f"{name}.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(export, arcname=name)
    result.update(export=archive.name, export_bytes=archive.stat().st_size, export_files=sorted(p.name for p in export.iterdir()))
    result["status"] = "ok"
    return result


STAGE_FUNCTIONS = {"env": stage_env, "gpu_tests": stage_gpu_tests, "benchmark": stage_benchmark, "pretrain": stage_pretrain}


def run_one_stage(name: str, plan: Plan, out: Path, work: Path, deadline: float) -> int:
    """Child process body: run one stage and write its result to ``work/<name>.json``."""
    sys.path.insert(0, str(REPO_ROOT))
    try:
        result = STAGE_FUNCTIONS[name](plan, out, work, deadline)
    except Exception as error:  # fail-soft: the parent records it and goes on
        logger.exception("stage %s failed", name)
        earlier = read_json(work / f"{name}.json") or {}
        result = {**earlier, "status": "failed", "error": f"{type(error).__name__}: {error}"}
    write_json(work / f"{name}.json", result)
    return 0 if result.get("status", "ok") == "ok" else 1


# ----------------------------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the check (or, with ``--stage``, one stage as a child of the check)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="every stage on the CPU with tiny settings (CI)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="a subset, in this order")
    parser.add_argument("--budget-s", type=float, default=None, help="overall time budget (default: the mode's)")
    parser.add_argument("--keep-work", action="store_true", help="keep the temporary work folder (debugging)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: $OUT, else scratch/gpu-check)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    plan = DRY if args.dry_run else REAL
    if args.budget_s is not None:
        plan = dataclasses.replace(plan, budget_s=args.budget_s)
    out = (args.out or Path(os.environ.get("OUT") or REPO_ROOT / "scratch" / "gpu-check")).resolve()
    if args.stage:
        return run_one_stage(args.stage, plan, out, args.work, args.deadline)
    stages = tuple(name for name in STAGES if name in args.stages)
    summary = orchestrate(plan, out, stages, args.keep_work)
    print(out / SUMMARY)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
