"""Tests of the MLM pretraining loop: exact resume, DDP equivalence, logs, checkpoints and evaluation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from utrbert.tokens.masking import KmerSpanMaskingCollator
from utrbert.models.model import build_config, build_model
from utrbert.models.pretraining import (
    PretrainingConfig,
    batch_rows,
    cpu_supports_bf16,
    evaluate_mlm,
    fixed_masks,
    latest_checkpoint,
    pretrain,
)
from utrbert.tokens.tokenization import KmerTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data(n: int = 32, length: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random RNA windows of varying length, padded to 48 tokens (k = 3)."""
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGU"), int(rng.integers(length // 2, length)))) for _ in range(n)]
    enc = KmerTokenizer(k=3).encode_corpus(seqs).padded(max_length=48)
    return enc["input_ids"], enc["attention_mask"]


@pytest.fixture(scope="module")
def tokenizer() -> KmerTokenizer:
    return KmerTokenizer(k=3)


@pytest.fixture(scope="module")
def collator(tokenizer: KmerTokenizer) -> KmerSpanMaskingCollator:
    return KmerSpanMaskingCollator(tokenizer, mlm_probability=0.15, seed=0)


def _model(**overrides: float) -> torch.nn.Module:
    return build_model(build_config("tiny", k=3, **overrides), seed=0)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


def test_batch_rows_cover_each_epoch_once() -> None:
    rows = np.concatenate([batch_rows(step, 12, 4, seed=3) for step in range(3)])
    assert sorted(rows.tolist()) == list(range(12))
    assert not np.array_equal(batch_rows(0, 12, 4, seed=3), batch_rows(3, 12, 4, seed=3))  # new epoch order


def test_resume_reproduces_uninterrupted_run_exactly(tmp_path: Path, collator, tokenizer) -> None:
    ids, mask = _data()
    config = PretrainingConfig.from_schedule("smoke", grad_accumulation=2)
    straight_model = _model()
    straight = pretrain(straight_model, collator, ids, mask, config, tmp_path / "a", tokenizer=tokenizer, progress=False)

    first = pretrain(_model(), collator, ids, mask, config, tmp_path / "b", progress=False, stop_at=6)
    assert len(first.step_losses) == 6 and latest_checkpoint(tmp_path / "b").name == "checkpoint-6"
    resumed_model = _model(hidden_dropout_prob=0.1)  # fresh weights: everything must come from the checkpoint
    resumed = pretrain(resumed_model, collator, ids, mask, config, tmp_path / "b", progress=False)

    assert resumed.resumed_from == 6
    assert len(straight.step_losses) == config.max_steps
    assert resumed.step_losses == straight.step_losses  # exact float equality, step by step
    a, b = _weights(straight_model), _weights(resumed_model)
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert [r["loss"] for r in resumed.log] == [r["loss"] for r in straight.log]


def test_log_checkpoints_and_provenance(tmp_path: Path, collator, tokenizer) -> None:
    ids, mask = _data()
    config = PretrainingConfig.from_schedule("smoke", checkpoint_every=3, keep_checkpoints=2)
    result = pretrain(
        _model(), collator, ids, mask, config, tmp_path, heldout=(ids[:8], mask[:8]), tokenizer=tokenizer,
        progress=False,
    )
    lines = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(2, 13, 2)) == [r["step"] for r in result.log]
    for record in lines:
        assert {"loss", "masked_accuracy", "perplexity", "tokens_per_s", "lr"} <= set(record)
        assert np.isfinite(record["loss"]) and record["tokens_per_s"] > 0
        assert record["perplexity"] == pytest.approx(np.exp(record["loss"]))
    assert "heldout_masked_accuracy" in lines[2] and "heldout_perplexity" in lines[-1]  # steps 6 and 12
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-12", "checkpoint-9"]
    final = result.final_checkpoint
    assert {"model.safetensors", "vocab.txt", "trainer_state.pt", "provenance.json"} <= {p.name for p in final.iterdir()}
    provenance = json.loads((final / "provenance.json").read_text())
    assert provenance["environment"]["torch"] == torch.__version__.split("+")[0] or provenance["environment"]["torch"]
    assert provenance["config"]["max_steps"] == 12


def test_training_leaves_global_rng_alone(tmp_path: Path, collator) -> None:
    ids, mask = _data(n=8)
    before = torch.random.get_rng_state()
    pretrain(_model(), collator, ids, mask, PretrainingConfig.from_schedule("smoke", max_steps=2), tmp_path, progress=False)
    assert torch.equal(before, torch.random.get_rng_state())


def test_evaluate_uses_fixed_masks(collator) -> None:
    ids, mask = _data(n=16)
    x1, y1 = fixed_masks(collator, ids, seed=5)
    x2, y2 = fixed_masks(collator, ids, seed=5)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and (y1 != -100).any()
    model = _model()
    scores = evaluate_mlm(model, collator, ids, mask, batch_size=5, seed=5)
    again = evaluate_mlm(model, collator, ids, mask, batch_size=16, seed=5)
    assert scores["masked_tokens"] == int((y1 != -100).sum()) == again["masked_tokens"]
    assert scores["loss"] == pytest.approx(again["loss"], rel=1e-5)
    assert scores["perplexity"] == pytest.approx(np.exp(scores["loss"]))
    assert model.training  # restored


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="precision must be"):
        PretrainingConfig(precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="max_minutes"):
        PretrainingConfig(max_minutes=0)
    with pytest.raises(ValueError, match="multiple"):
        PretrainingConfig(batch_size=6, grad_accumulation=4)
    with pytest.raises(ValueError, match="unknown schedule"):
        PretrainingConfig.from_schedule("huge")
    assert PretrainingConfig.from_schedule("base").max_steps == 200_000


_DDP_SCRIPT = """
import sys, numpy as np, torch, torch.distributed as dist
sys.path.insert(0, {root!r})
from utrbert.tokens.masking import KmerSpanMaskingCollator
from utrbert.models.model import build_config, build_model
from utrbert.models.pretraining import PretrainingConfig, pretrain
from utrbert.tokens.tokenization import KmerTokenizer
torch.set_num_threads(1)
data = np.load({data!r})
config = PretrainingConfig.from_schedule("smoke", max_steps=4, batch_size=8, grad_accumulation=2)
model = build_model(build_config("tiny", k=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), seed=0)
dist.init_process_group("gloo")
rank = dist.get_rank()
result = pretrain(model, KmerSpanMaskingCollator(KmerTokenizer(k=3)), data["ids"], data["mask"], config,
                  {out!r}, progress=False)
torch.save({{"losses": result.step_losses, "state": model.state_dict()}}, {out!r} + f"/rank{{rank}}.pt")
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_ddp_two_ranks_match_single_process(tmp_path: Path, collator) -> None:
    ids, mask = _data()
    np.savez(tmp_path / "data.npz", ids=ids, mask=mask)
    out = tmp_path / "ddp"
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(_DDP_SCRIPT.format(root=str(REPO_ROOT), data=str(tmp_path / "data.npz"), out=str(out))))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), str(script),
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0, rank1 = (torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert all(torch.equal(rank0["state"][name], rank1["state"][name]) for name in rank0["state"])
    assert rank0["losses"] == rank1["losses"]

    config = PretrainingConfig.from_schedule("smoke", max_steps=4, batch_size=8, grad_accumulation=2)
    single = _model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    result = pretrain(single, collator, ids, mask, config, tmp_path / "single", progress=False)
    np.testing.assert_allclose(rank0["losses"], result.step_losses, rtol=1e-5)
    for name, tensor in single.state_dict().items():
        torch.testing.assert_close(rank0["state"][name], tensor, rtol=1e-4, atol=1e-5)
    assert (out / "checkpoint-4").is_dir() and (out / "train_log.jsonl").is_file()


# ------------------------------------------------------------------------------------ resume safety and budgets


def test_resume_refuses_other_settings_and_data(tmp_path: Path, collator) -> None:
    ids, mask = _data()
    config = PretrainingConfig.from_schedule("smoke")
    pretrain(_model(), collator, ids, mask, config, tmp_path, progress=False, stop_at=6)
    with pytest.raises(ValueError, match=r"seed: 0 in the checkpoint, 7 now"):
        pretrain(_model(), collator, ids, mask, replace(config, seed=7), tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"max_steps: 12 in the checkpoint, 8 now"):
        pretrain(_model(), collator, ids, mask, replace(config, max_steps=8), tmp_path, progress=False)
    other_ids, other_mask = _data(seed=1)
    with pytest.raises(ValueError, match=r"training windows \(content\)"):
        pretrain(_model(), collator, other_ids, other_mask, config, tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"hidden_size"):
        small = build_model(build_config("tiny", k=3, hidden_size=48, intermediate_size=96), seed=0)
        pretrain(small, collator, ids, mask, config, tmp_path, progress=False)
    # bookkeeping settings may change: the run resumes and finishes
    resumed = pretrain(_model(), collator, ids, mask, replace(config, checkpoint_every=4, log_every=3), tmp_path, progress=False)
    assert resumed.resumed_from == 6 and len(resumed.step_losses) == 12


def test_crafted_trainer_state_is_refused_without_running(tmp_path: Path, collator) -> None:
    ids, mask = _data()
    config = PretrainingConfig.from_schedule("smoke")
    pretrain(_model(), collator, ids, mask, config, tmp_path, progress=False, stop_at=6)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # what an attacker's pickle does: call a function on load
            return (Path.touch, (marker,))

    torch.save({"step": 6, "payload": Payload()}, tmp_path / "checkpoint-6" / "trainer_state.pt")
    with pytest.raises(ValueError, match=r"checkpoint-6/trainer_state.pt: not a utrbert trainer state"):
        pretrain(_model(), collator, ids, mask, config, tmp_path, progress=False)
    assert not marker.exists()


def test_second_run_into_the_same_folder_is_refused(tmp_path: Path, collator) -> None:
    import fcntl

    ids, mask = _data()
    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / ".lock", "a+") as holder:  # another process's run holds the folder
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = textwrap.dedent(
            f"""
            import numpy as np
            from utrbert.tokens.masking import KmerSpanMaskingCollator
            from utrbert.models.model import build_config, build_model
            from utrbert.models.pretraining import PretrainingConfig, pretrain
            from utrbert.tokens.tokenization import KmerTokenizer
            ids = np.load({str(tmp_path / 'ids.npy')!r}); mask = np.ones_like(ids)
            try:
                pretrain(build_model(build_config("tiny", k=3), seed=0), KmerSpanMaskingCollator(KmerTokenizer(k=3)),
                         ids, mask, PretrainingConfig.from_schedule("smoke"), {str(tmp_path)!r}, progress=False)
            except RuntimeError as error:
                print("REFUSED", error)
            """
        )
        np.save(tmp_path / "ids.npy", ids)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert "REFUSED" in done.stdout and "another pretraining run" in done.stdout, done.stderr
    assert latest_checkpoint(tmp_path) is None


def test_log_is_cut_back_to_the_resumed_step(tmp_path: Path, collator) -> None:
    ids, mask = _data()
    config = PretrainingConfig.from_schedule("smoke")
    straight = pretrain(_model(), collator, ids, mask, config, tmp_path / "a", progress=False)
    # interrupted after logging step 8; the last checkpoint is step 6's
    pretrain(_model(), collator, ids, mask, config, tmp_path / "b", progress=False, stop_at=8)
    assert latest_checkpoint(tmp_path / "b").name == "checkpoint-6"
    assert "\"step\": 8" in (tmp_path / "b" / "train_log.jsonl").read_text()
    pretrain(_model(), collator, ids, mask, config, tmp_path / "b", progress=False)
    logged = [json.loads(line)["step"] for line in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert logged == [r["step"] for r in straight.log] == list(range(2, 13, 2))


def test_kept_steps_survive_pruning_and_incomplete_checkpoints_do_not_count(tmp_path: Path, collator) -> None:
    ids, mask = _data()
    (tmp_path / "checkpoint-100").mkdir(parents=True)  # incomplete: no trainer state
    config = PretrainingConfig.from_schedule("smoke", checkpoint_every=3, keep_checkpoints=1, keep_steps=(4,))
    pretrain(_model(), collator, ids, mask, config, tmp_path, progress=False)
    names = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    assert names == ["checkpoint-100", "checkpoint-12", "checkpoint-4"]
    assert latest_checkpoint(tmp_path).name == "checkpoint-12"


def test_max_minutes_stops_with_a_checkpoint_and_resumes_exactly(tmp_path: Path, collator) -> None:
    ids, mask = _data()
    config = PretrainingConfig.from_schedule("smoke")
    straight_model = _model()
    straight = pretrain(straight_model, collator, ids, mask, config, tmp_path / "a", progress=False)
    budget = replace(config, max_minutes=1e-9)  # out of time after the first step
    first = pretrain(_model(), collator, ids, mask, budget, tmp_path / "b", progress=False)
    assert first.extra["stopped_early"] and first.extra["steps_done"] == 1
    assert latest_checkpoint(tmp_path / "b").name == "checkpoint-1"
    resumed_model = _model()
    resumed = pretrain(resumed_model, collator, ids, mask, config, tmp_path / "b", progress=False)
    assert not resumed.extra["stopped_early"] and resumed.step_losses == straight.step_losses
    a, b = _weights(straight_model), _weights(resumed_model)
    assert all(torch.equal(a[name], b[name]) for name in a)


bf16_cpu = pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16 (AVX512-BF16/AMX)")


@bf16_cpu
def test_bf16_on_cpu_resumes_exactly_and_tracks_fp32(tmp_path: Path, collator) -> None:
    ids, mask = _data(n=64)
    config = PretrainingConfig.from_schedule("smoke", max_steps=30, batch_size=16, precision="bf16")
    straight = pretrain(_model(), collator, ids, mask, config, tmp_path / "a", progress=False)
    pretrain(_model(), collator, ids, mask, config, tmp_path / "b", progress=False, stop_at=12)
    resumed = pretrain(_model(), collator, ids, mask, config, tmp_path / "b", progress=False)
    assert resumed.step_losses == straight.step_losses
    fp32 = pretrain(_model(), collator, ids, mask, replace(config, precision="fp32"), tmp_path / "c", progress=False)
    difference = np.abs(np.array(straight.step_losses) - np.array(fp32.step_losses))
    assert difference.max() < 0.05 * np.abs(fp32.step_losses).max()  # the same curve up to bf16 rounding
    assert difference.max() > 0  # and bf16 really ran


def test_fast_dropout_runs_resume_exactly_and_are_a_different_sample(tmp_path: Path, collator) -> None:
    ids, mask = _data()
    config = PretrainingConfig.from_schedule("smoke", fast_dropout=True)
    straight_model = _model()
    straight = pretrain(straight_model, collator, ids, mask, config, tmp_path / "a", progress=False)
    pretrain(_model(), collator, ids, mask, config, tmp_path / "b", progress=False, stop_at=6)
    resumed_model = _model()
    resumed = pretrain(resumed_model, collator, ids, mask, config, tmp_path / "b", progress=False)
    assert resumed.step_losses == straight.step_losses
    a, b = _weights(straight_model), _weights(resumed_model)
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert type(straight_model.bert.embeddings.dropout) is torch.nn.Dropout  # the model is handed back as built
    assert straight_model.config._attn_implementation == "sdpa"
    standard = pretrain(_model(), collator, ids, mask, replace(config, fast_dropout=False), tmp_path / "c", progress=False)
    assert standard.step_losses[0] != straight.step_losses[0]  # other dropout masks from the first step
    with pytest.raises(ValueError, match="fast_dropout: None in the checkpoint, True now"):
        pretrain(_model(), collator, ids, mask, replace(config, fast_dropout=True, max_steps=12), tmp_path / "c",
                 progress=False)  # a standard-dropout run is not resumed with fast dropout
