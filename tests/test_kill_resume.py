"""Kill-and-resume: a pretraining run, a benchmark run and the embedding cache are stopped with SIGKILL at a
random point (seeded), started again with the same call, and must end in the state an uninterrupted run reaches.

Each work runs in a child Python process (``-c``) so the kill is a real SIGKILL, not an exception: no ``finally``
block, no flush. The kill comes as soon as a seeded random amount of resumable state is on disk (a number of
checkpoints, items or shards short of the whole run), so it lands mid-run however fast the machine is, often
mid-write of the next unit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")]

REPO = Path(__file__).resolve().parents[1]


def _run(script: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _kill_after(script: str, cwd: Path, started: Callable[[], bool], delay_s: float = 0.0, timeout_s: float = 300) -> bool:
    """Start ``script``; once ``started()`` is true wait ``delay_s`` and SIGKILL it. True if it was killed (False:
    it finished first, which the caller treats as a failed attempt at an interruption)."""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    try:
        while not started():
            if process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise AssertionError("the child never wrote its first resumable state")
            time.sleep(0.005)
        time.sleep(delay_s)
        if process.poll() is not None:
            return False
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        return process.returncode == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


PRETRAIN = """
from utrbert.models.pretraining_recipe import PretrainingRecipe, fasta_utr_records, run_pretraining
records = fasta_utr_records([{fasta!r}])
recipe = PretrainingRecipe(size="tiny", batch_size=8, precision="fp32", checkpoint_every=2)
run_pretraining(records, {out!r}, recipe, steps=48, progress=False)
"""


def test_pretraining_killed_at_a_random_point_resumes_to_the_same_weights(tmp_path: Path, utr_fasta: Path) -> None:
    from utrbert.models.model import load_model
    from utrbert.models.pretraining import latest_checkpoint

    fasta = utr_fasta
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run(PRETRAIN.format(fasta=str(fasta), out=str(straight)), REPO)
    kill_at = 2 * int(np.random.default_rng(1).integers(2, 9))  # a checkpoint step between 4 and 16 of 48

    def reached() -> bool:
        latest = latest_checkpoint(killed)
        return latest is not None and int(latest.name.split("-")[1]) >= kill_at

    assert _kill_after(PRETRAIN.format(fasta=str(fasta), out=str(killed)), REPO, reached), "finished before the kill"
    stopped_at = latest_checkpoint(killed)
    assert stopped_at is not None and stopped_at.name != "checkpoint-48"
    _run(PRETRAIN.format(fasta=str(fasta), out=str(killed)), REPO)
    a = load_model(latest_checkpoint(straight))[0].state_dict()
    b = load_model(latest_checkpoint(killed))[0].state_dict()
    assert latest_checkpoint(killed).name == "checkpoint-48"
    assert all(torch.equal(a[name], b[name]) for name in a)
    plan = json.loads((killed / "run.json").read_text())
    assert plan["executions"][-1]["to_step"] == 48


BENCHMARK = """
from utrbert.chapters.rbp_binding import run_benchmark
from utrbert.models.finetuning import FinetuneConfig
from utrbert.runs.benchmark import BenchmarkSettings
settings = BenchmarkSettings(max_train=200, seed=0, bert_size="tiny", pretrained={checkpoint!r},
                             finetune=FinetuneConfig(epochs=1, batch_size=32, peak_lr=1e-3, evals_per_epoch=1),
                             cnn={{"epochs": 2}})
run_benchmark({rbp31!r}, settings, {results!r}, methods=["kmer_lr", "cnn", "pretrained"], progress=False,
              run_label="kill test")
"""

VOLATILE = {"environment", "seconds", "fit_seconds", "train_seconds", "run", "date", "minutes", "history"}


def _stable(value: object) -> object:
    """An item without its timings and environment (what may differ between two identical runs)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_benchmark_killed_at_a_random_point_resumes_to_the_same_items(tmp_path: Path) -> None:
    from utrbert.data.synthetic import write_demo_data
    from utrbert.models.model import build_config, build_model
    from utrbert.tokens.tokenization import KmerTokenizer

    data = write_demo_data(tmp_path / "data", seed=0, scale="smoke")
    checkpoint = tmp_path / "ckpt"
    build_model(build_config("tiny", k=3), task="mlm", seed=0).save_pretrained(checkpoint)
    KmerTokenizer(k=3).save_pretrained(checkpoint)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    script = {out: BENCHMARK.format(checkpoint=str(checkpoint), rbp31=str(data / "rbp31"), results=str(out))
              for out in (straight, killed)}
    _run(script[straight], REPO)
    expected = sorted(p.relative_to(straight) for p in straight.rglob("*.json"))
    kill_at = int(np.random.default_rng(2).integers(1, len(expected) // 2 + 1))  # items written before the kill
    assert _kill_after(script[killed], REPO, lambda: len(list(killed.rglob("*.json"))) >= kill_at), "finished first"
    partial = sorted(p.relative_to(killed) for p in killed.rglob("*.json"))
    assert 0 < len(partial) < len(expected)
    for path in killed.rglob("*.json"):  # whatever the kill left is whole JSON, never half a file
        json.loads(path.read_text())
    _run(script[killed], REPO)
    assert sorted(p.relative_to(killed) for p in killed.rglob("*.json")) == expected
    assert not [p for p in killed.rglob("*") if p.name.endswith(".tmp")]
    for relative in expected:
        a = json.loads((straight / relative).read_text())
        b = json.loads((killed / relative).read_text())
        assert _stable(a) == _stable(b), relative


EMBED = """
from utrbert.data.records import SequenceRecord
from utrbert.data.synthetic import random_utr
from utrbert.models.localization_embeddings import embed_mrnas
records = [SequenceRecord(f"NM_{{i}}", random_utr(300 + 250 * i, i)) for i in range(12)]
embed_mrnas({checkpoint!r}, records, {cache!r}, segment_nt=600, window_nt=250, shard_size=1, progress=False)
"""


def test_embedding_cache_killed_at_a_random_point_resumes_to_the_same_embeddings(tmp_path: Path) -> None:
    from utrbert.models.localization_embeddings import load_embeddings
    from utrbert.models.model import build_config, build_model
    from utrbert.tokens.tokenization import KmerTokenizer

    checkpoint = tmp_path / "ckpt"
    build_model(build_config("tiny", k=3), task="mlm", seed=0).save_pretrained(checkpoint)
    KmerTokenizer(k=3).save_pretrained(checkpoint)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _run(EMBED.format(checkpoint=str(checkpoint), cache=str(straight)), REPO)
    kill_at = int(np.random.default_rng(3).integers(2, 7))  # shards on disk (of 12) when the kill comes
    assert _kill_after(EMBED.format(checkpoint=str(checkpoint), cache=str(killed)), REPO,
                       lambda: len(list(killed.glob("shard_*.npz"))) >= kill_at), "finished before the kill"
    assert len(list(killed.glob("shard_*.npz"))) < 12
    _run(EMBED.format(checkpoint=str(checkpoint), cache=str(killed)), REPO)
    a, b = load_embeddings(straight), load_embeddings(killed)
    assert a.ids == b.ids
    assert np.array_equal(a.windows, b.windows) and np.array_equal(a.attention, b.attention)
    assert json.loads((killed / "manifest.json").read_text())["sha256"] == json.loads((straight / "manifest.json").read_text())["sha256"]
