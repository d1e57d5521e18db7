"""Masked-language-model pretraining: a small custom loop with exact resume, DDP and throughput logging.

The loop is deterministic by construction, not by saving random states:

* **data order** -- step ``s`` reads the rows ``permutation(seed, epoch)[i*B:(i+1)*B]`` of the training
  windows (a NumPy generator seeded from ``(seed, epoch)``; the last partial batch of an epoch is dropped);
* **masks** -- every micro-batch of the *global* batch is masked by ``collator.mask_tokens`` with a
  ``torch.Generator`` seeded from ``(seed, step, micro)``, before it is sharded over ranks, so the masks
  do not depend on the number of processes;
* **dropout** -- the forward pass runs inside :func:`torch.random.fork_rng` with the default generator
  seeded from ``(seed, step, micro, rank)``; the global random state is left as it was.

So an interrupted run resumed from a checkpoint (model, optimizer, scheduler, step, log) replays exactly
the batches, masks and dropout of an uninterrupted run, and gives bit-identical losses and weights.

The loss of a step is the mean cross-entropy over *all* masked tokens of the global batch (summed over
micro-batches and ranks, then divided by the step's masked-token count, which every rank knows because it
computes the masks of the whole batch). Under DDP, which averages gradients, each rank scales its sum by
the world size, so a DDP step is mathematically the step of a single process on the same global batch.
Logits are computed only at masked positions (the encoder runs on every token, the 4**k-way decoder only
where there is a label).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utrbert.tokens.kmers import SPECIAL_TOKENS

__all__ = [
    "PretrainingConfig",
    "autocast",
    "check_precision",
    "resolve_precision",
    "cpu_supports_bf16",
    "SCHEDULES",
    "TrainingResult",
    "PEAK_FLOPS",
    "derived_seed",
    "batch_rows",
    "special_tokens_mask",
    "model_flops_per_token",
    "peak_flops",
    "fixed_masks",
    "evaluate_mlm",
    "pretrain",
    "latest_checkpoint",
]

logger = logging.getLogger(__name__)

_MASKS, _DROPOUT, _EVAL = 0, 1, 2  # stream tags of derived_seed
_STATE_FILE = "trainer_state.pt"
_LOG_FILE = "train_log.jsonl"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class MaskingCollator(Protocol):
    """What the trainer needs from a collator (``utrbert.tokens.masking.KmerSpanMaskingCollator``)."""

    def mask_tokens(
        self,
        input_ids: torch.Tensor,
        special_tokens_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def check_precision(precision: str, device: str) -> None:
    """Raise unless ``precision`` is ``"fp32"``, or ``"bf16"`` on CUDA or on a CPU with native bf16.

    bf16 is autocast (matrix products in bf16, weights, optimizer state and reductions in fp32).

    >>> check_precision("fp16", "cpu")
    Traceback (most recent call last):
    ...
    ValueError: precision must be 'fp32' or 'bf16', got 'fp16'
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    if precision == "bf16" and not str(device).startswith("cuda") and not cpu_supports_bf16():
        raise ValueError(
            "bf16 autocast on the CPU needs AVX512-BF16 or AMX, which this CPU lacks; use precision='fp32'"
        )


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """``"auto"`` -> ``"bf16"`` on CUDA or a CPU with native bf16 (:func:`cpu_supports_bf16`), else ``"fp32"``;
    ``"fp32"`` and ``"bf16"`` are returned as they are (and checked with :func:`check_precision`).

    >>> resolve_precision("fp32", "cpu")
    'fp32'
    """
    if precision == "auto":
        return "bf16" if str(device).startswith("cuda") or cpu_supports_bf16() else "fp32"
    check_precision(precision, str(device))
    return precision


def autocast(precision: str, device: str | torch.device) -> Any:
    """The autocast context of ``precision`` on ``device`` (bf16 autocast, or a context that does nothing).

    >>> with autocast("fp32", "cpu"):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.float32
    """
    kind = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(device_type=kind, dtype=torch.bfloat16)
    return torch.autocast(device_type=kind, enabled=False)


@dataclass(frozen=True)
class PretrainingConfig:
    """Optimisation and bookkeeping settings of one pretraining run.

    ``batch_size`` is the *global* batch of one optimizer step (sequences), split into
    ``grad_accumulation`` micro-batches, each split over the DDP ranks. ``keep_steps`` are steps whose
    checkpoints are written and never pruned (a ladder of budgets); ``max_minutes`` ends a run after that
    much wall-clock time with a checkpoint, to be resumed later (it does not change the schedule).
    ``fast_dropout`` draws dropout masks with cheaper random numbers (:mod:`utrbert.models.fast_dropout`: the same
    distribution, other random numbers; about a third of a CPU step is dropout otherwise). It is a CPU option:
    on an H200 it halved bf16 throughput (``benchmarks/results/pretraining_throughput_h200.json``), so a CUDA
    run with it logs a warning.
    """

    max_steps: int = 1000
    batch_size: int = 32
    grad_accumulation: int = 1
    peak_lr: float = 4e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    max_grad_norm: float | None = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    eval_every: int = 500
    eval_batch_size: int = 64
    log_every: int = 50
    device: str = "cpu"
    precision: str = "fp32"
    compile: bool = False
    peak_flops: float | None = None
    keep_steps: tuple[int, ...] = ()
    max_minutes: float | None = None
    fast_dropout: bool = False

    def __post_init__(self) -> None:
        check_precision(self.precision, self.device)
        if self.fast_dropout and str(self.device).startswith("cuda"):
            logger.warning("fast_dropout is a CPU optimisation: on a GPU it is slower than standard dropout")
        object.__setattr__(self, "keep_steps", tuple(int(step) for step in self.keep_steps))
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        for name in ("max_steps", "batch_size", "grad_accumulation", "checkpoint_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size % self.grad_accumulation:
            raise ValueError(f"batch_size {self.batch_size} is not a multiple of grad_accumulation")

    @classmethod
    def from_schedule(cls, name: str, **overrides: Any) -> PretrainingConfig:
        """A named schedule from :data:`SCHEDULES`, with fields overridden (``None`` values are ignored).

        When ``max_steps`` changes, warm-up, checkpoint and evaluation intervals keep their fraction of the
        schedule unless they are given too.

        >>> config = PretrainingConfig.from_schedule("cpu_small", max_steps=500, batch_size=None)
        >>> config.max_steps, config.warmup_steps, config.checkpoint_every, config.batch_size
        (500, 50, 125, 32)
        """
        if name not in SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
        schedule = SCHEDULES[name]
        overrides = {field: value for field, value in overrides.items() if value is not None}
        steps = overrides.get("max_steps", schedule.max_steps)
        for field in ("warmup_steps", "checkpoint_every", "eval_every"):
            if field not in overrides and steps != schedule.max_steps:
                overrides[field] = max(1, round(getattr(schedule, field) * steps / schedule.max_steps))
        return replace(schedule, **overrides)


SCHEDULES: dict[str, PretrainingConfig] = {
    # The paper's run (3UTRBERT, following DNABERT): 200k steps of batch 128 windows of 512 tokens.
    # Peak LR and warm-up are DNABERT's values (4e-4, 10k steps); AdamW betas (0.9, 0.98), eps 1e-6, wd 0.01.
    "base": PretrainingConfig(
        max_steps=200_000, batch_size=128, peak_lr=4e-4, warmup_steps=10_000, checkpoint_every=10_000,
        eval_every=10_000, log_every=100, device="cuda", precision="bf16",
    ),
    # a "small" model on a CPU in hours
    "cpu_small": PretrainingConfig(
        max_steps=2_000, batch_size=32, peak_lr=5e-4, warmup_steps=200, checkpoint_every=500, eval_every=500,
        log_every=20,
    ),
    # tests and smoke runs: seconds
    "smoke": PretrainingConfig(
        max_steps=12, batch_size=4, peak_lr=1e-3, warmup_steps=2, checkpoint_every=6, eval_every=6, log_every=2,
        eval_batch_size=8,
    ),
}  # fmt: skip
"""Named schedules; ``base`` is the paper's, the others are scaled down."""

PEAK_FLOPS: dict[tuple[str, str], float] = {
    # dense (no sparsity) tensor-core peaks from NVIDIA's data sheets, FLOP/s; first matching name wins
    ("H100 PCIe", "bf16"): 756e12,
    ("H100", "bf16"): 989e12,  # SXM
    ("H200", "bf16"): 989e12,
    ("H100 PCIe", "fp32"): 51e12,
    ("H100", "fp32"): 67e12,
    ("H200", "fp32"): 67e12,
}
"""Peak FLOP/s by (GPU name fragment, precision), used for model-FLOPs utilisation on CUDA."""


@dataclass
class TrainingResult:
    """What a run produced: per-step losses, the log records and where the checkpoints are."""

    step_losses: list[float]
    log: list[dict[str, Any]]
    output_dir: Path
    final_checkpoint: Path | None
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def derived_seed(*keys: int) -> int:
    """A 63-bit seed that is a pure function of integer keys (NumPy ``SeedSequence`` mixing).

    >>> derived_seed(0, 1, 2) == derived_seed(0, 1, 2), derived_seed(0, 1, 2) == derived_seed(0, 2, 1)
    (True, False)
    >>> 0 <= derived_seed(7) < 2**63
    True
    """
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


def batch_rows(step: int, n_rows: int, batch_size: int, seed: int) -> np.ndarray:
    """Row indices of the global batch of ``step`` (0-based): a seeded permutation per epoch, last batch dropped.

    >>> rows = [batch_rows(s, 10, 5, seed=0) for s in range(4)]
    >>> sorted(np.concatenate(rows[:2]).tolist()) == list(range(10)), bool((rows[2] == batch_rows(2, 10, 5, 0)).all())
    (True, True)
    """
    per_epoch = n_rows // batch_size
    if per_epoch < 1:
        raise ValueError(f"{n_rows} training rows do not fill one batch of {batch_size}")
    epoch, index = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n_rows)
    return order[index * batch_size : (index + 1) * batch_size]


def special_tokens_mask(input_ids: torch.Tensor) -> torch.Tensor:
    """True at special tokens (ids 0..4: PAD, UNK, CLS, SEP, MASK), which are never masked.

    >>> special_tokens_mask(torch.tensor([[2, 5, 9, 3, 0]])).tolist()
    [[True, False, False, True, True]]
    """
    return input_ids < len(SPECIAL_TOKENS)


def model_flops_per_token(n_params: int, n_layers: int, hidden: int, seq_len: int) -> float:
    """Training FLOPs per token: ``6 * N + 12 * layers * hidden * seq_len`` (PaLM appendix B).

    ``N`` is the number of non-embedding parameters (the embedding look-ups are not matrix products); the
    second term is the attention score and value products (forward + backward). The MLM decoder runs only
    on masked tokens here and is left out.

    >>> model_flops_per_token(1_000_000, 2, 32, 512)
    6393216.0
    """
    return float(6 * n_params + 12 * n_layers * hidden * seq_len)


def peak_flops(device: str, precision: str, override: float | None = None) -> float | None:
    """Peak FLOP/s of the CUDA device for ``precision`` from :data:`PEAK_FLOPS` (None on CPU or unknown GPU)."""
    if override is not None:
        return override
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(torch.device(device).index or 0)
    for (fragment, prec), value in PEAK_FLOPS.items():
        if fragment in name and prec == precision:
            return value
    return None


def _non_embedding_params(model: nn.Module) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)


class _MaskedLMObjective(nn.Module):
    """Summed cross-entropy, correct predictions and count at masked positions (decoder only on those)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        where = labels != -100
        logits = self.model.cls(hidden[where]).float()
        targets = labels[where]
        loss_sum = F.cross_entropy(logits, targets, reduction="sum")
        correct = (logits.argmax(-1) == targets).sum()
        return torch.stack([loss_sum, correct.to(loss_sum.dtype), where.sum().to(loss_sum.dtype)])


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on weight matrices, none on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name or p.ndim < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _build_optimizer(model: nn.Module, config: PretrainingConfig) -> tuple[torch.optim.Optimizer, Any]:
    from transformers import get_linear_schedule_with_warmup

    fused = str(config.device).startswith("cuda")
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.weight_decay), lr=config.peak_lr, betas=config.betas, eps=config.eps, fused=fused
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    return optimizer, scheduler


@contextmanager
def _seeded_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block (dropout) with the default generators seeded, restoring the global state afterwards."""
    cuda = device.type == "cuda"
    with torch.random.fork_rng(devices=[device] if cuda else [], device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed(seed)
        yield


# ----------------------------------------------------------------------------------------------- evaluation


def fixed_masks(
    collator: MaskingCollator, input_ids: torch.Tensor | np.ndarray, seed: int, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked inputs and labels for a whole evaluation set, a pure function of ``(ids, seed)``.

    Rows are masked in chunks of ``chunk`` with a generator seeded from ``(seed, chunk index)``, so every
    model (and every baseline in :mod:`utrbert.baselines.mlm`) is scored on the same positions.
    """
    ids = torch.as_tensor(np.asarray(input_ids), dtype=torch.long)
    inputs, labels = [], []
    for i, start in enumerate(range(0, len(ids), chunk)):
        part = ids[start : start + chunk]
        g = torch.Generator().manual_seed(derived_seed(seed, _EVAL, i))
        x, y = collator.mask_tokens(part.clone(), special_tokens_mask=special_tokens_mask(part), generator=g)
        inputs.append(x)
        labels.append(y)
    return torch.cat(inputs), torch.cat(labels)


@torch.no_grad()
def evaluate_mlm(
    model: nn.Module,
    collator: MaskingCollator,
    input_ids: torch.Tensor | np.ndarray,
    attention_mask: torch.Tensor | np.ndarray,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """Masked-token accuracy, perplexity and loss on fixed seeded masks (see :func:`fixed_masks`)."""
    inputs, labels = fixed_masks(collator, input_ids, seed)
    mask = torch.as_tensor(np.asarray(attention_mask), dtype=torch.long)
    device = next(model.parameters()).device
    objective = _MaskedLMObjective(model)
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    try:
        for start in range(0, len(inputs), batch_size):
            stop = start + batch_size
            stats = objective(inputs[start:stop].to(device), mask[start:stop].to(device), labels[start:stop].to(device))
            totals += stats.double().cpu()
    finally:
        model.train(was_training)
    loss_sum, correct, n = totals.tolist()
    loss = loss_sum / max(n, 1.0)
    return {"masked_accuracy": correct / max(n, 1.0), "perplexity": math.exp(loss), "loss": loss, "masked_tokens": int(n)}


# ----------------------------------------------------------------------------------------------- checkpoints


def _complete_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the complete ``checkpoint-<step>`` directories (with a trainer state), by step."""
    if not directory.is_dir():
        return []
    return sorted(
        (int(m.group(1)), p) for p in directory.iterdir() if (m := _CHECKPOINT.match(p.name)) and (p / _STATE_FILE).is_file()
    )


def latest_checkpoint(output_dir: str | os.PathLike[str]) -> Path | None:
    """The complete ``checkpoint-<step>`` directory with the highest step, or None."""
    found = _complete_checkpoints(Path(output_dir))
    return found[-1][1] if found else None


def _save_checkpoint(
    output_dir: Path, step: int, model: nn.Module, tokenizer: Any, optimizer: Any, scheduler: Any, state: dict[str, Any],
    keep: int, keep_steps: tuple[int, ...] = (),
) -> Path:
    """Write ``checkpoint-<step>`` atomically (to a temporary name, then renamed) and prune old ones.

    The newest ``keep`` complete checkpoints stay, and every checkpoint whose step is in ``keep_steps``.
    The trainer state holds only tensors and plain Python values, so it loads with ``weights_only=True``.
    """
    from utrbert.models.model import _quiet_transformers

    final = output_dir / f"checkpoint-{step}"
    tmp = output_dir / f".tmp-checkpoint-{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    with _quiet_transformers():
        model.save_pretrained(tmp, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step, **state},
        tmp / _STATE_FILE,
    )
    (tmp / "provenance.json").write_text(json.dumps(state["provenance"], indent=2, default=str), encoding="utf-8")
    _fsync_tree(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    complete = [(s, p) for s, p in _complete_checkpoints(output_dir) if s not in keep_steps]
    for _, old in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("saved %s", final)
    return final


def _fsync_tree(directory: Path) -> None:
    """Flush every file of ``directory`` to disk (so a rename after it never exposes half-written files)."""
    for path in directory.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _load_trainer_state(path: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint, read with ``weights_only=True`` (a pickle that runs code is refused)."""
    file = path / _STATE_FILE
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError (or others) for anything but tensors and plain values
        raise ValueError(
            f"{file}: not a utrbert trainer state that loads safely (weights_only=True); refusing to unpickle it "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
        ) from None


def _load_checkpoint(path: Path, model: nn.Module, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Restore model weights, optimizer and scheduler from a checkpoint; return its trainer state."""
    from safetensors.torch import load_file

    state = _load_trainer_state(path)
    weights = load_file(str(path / "model.safetensors"), device=str(next(model.parameters()).device))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = set(getattr(model, "all_tied_weights_keys", {}) or {}) | {
        "cls.predictions.decoder.weight",
        "cls.predictions.decoder.bias",
    }
    if unexpected or set(missing) - tied:
        raise ValueError(f"{path}: weights do not fit the model (missing {missing}, unexpected {unexpected})")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state


_TRAJECTORY_FIELDS = (
    "max_steps", "batch_size", "grad_accumulation", "peak_lr", "warmup_steps", "weight_decay", "betas", "eps",
    "max_grad_norm", "seed",
)  # fmt: skip
"""Settings that define the optimisation trajectory: a resumed run must have the same (device, precision,
checkpoint and logging cadence, ``max_minutes`` and the kept steps may change)."""


def _run_identity(model: nn.Module, config: PretrainingConfig, ids: torch.Tensor) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint: trajectory, model and data."""
    import hashlib

    data = hashlib.sha256(ids.numpy().tobytes()).hexdigest()[:16]
    trajectory = {name: getattr(config, name) for name in _TRAJECTORY_FIELDS}
    trajectory["betas"] = list(trajectory["betas"])
    if config.fast_dropout:  # recorded only when on, so checkpoints from before the option still resume
        trajectory["fast_dropout"] = True
    architecture = {key: value for key, value in model.config.to_dict().items() if key in _ARCHITECTURE_KEYS}
    return {"trajectory": trajectory, "model": architecture, "train_ids_sha256": data, "train_shape": list(ids.shape)}


_ARCHITECTURE_KEYS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "max_position_embeddings", "hidden_dropout_prob", "attention_probs_dropout_prob", "type_vocab_size",
)  # fmt: skip


def _check_resume(checkpoint: Path, saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint written by a run with other settings, model or data (names what differs)."""
    if saved is None:
        raise ValueError(f"{checkpoint}: the checkpoint does not record the run's settings; cannot check a resume")
    differences = []
    for part in ("trajectory", "model"):
        for key in sorted(set(saved.get(part, {})) | set(current[part])):
            before, now = saved.get(part, {}).get(key), current[part].get(key)
            if before != now:
                differences.append(f"{key}: {before!r} in the checkpoint, {now!r} now")
    for key, label in (("train_shape", "training windows (rows, tokens)"), ("train_ids_sha256", "training windows (content)")):
        if saved.get(key) != current[key]:
            differences.append(f"{label}: {saved.get(key)!r} in the checkpoint, {current[key]!r} now")
    if differences:
        raise ValueError(
            f"{checkpoint} was written by a run with other settings; resume it with the same settings, or write to "
            "another output directory (or pass resume=False to start over):\n  " + "\n  ".join(differences)
        )


@contextmanager
def _exclusive(directory: Path, enabled: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` for the block: a second run into the same folder is refused."""
    if not enabled:
        yield
        return
    import fcntl

    handle = open(directory / ".lock", "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{directory}: another pretraining run is writing to this folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def _rewrite_log(path: Path, log: list[dict[str, Any]]) -> None:
    """Replace the JSON-lines log with the records of ``log`` (atomically), dropping lines past a resumed step."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(record) + "\n" for record in log), encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world_size: int = 1
    initialised_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: str) -> tuple[_Dist, torch.device]:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``); pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = str(device).startswith("cuda")
    if world <= 1:
        return _Dist(), torch.device(device)
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    here = False
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        here = True
    return _Dist(dist.get_rank(), dist.get_world_size(), here), torch.device(f"cuda:{local_rank}" if cuda else "cpu")


def _all_reduce(values: torch.Tensor, info: _Dist) -> torch.Tensor:
    if info.world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(values)
    return values


# ----------------------------------------------------------------------------------------------- training


def _micro_batches(
    collator: MaskingCollator, ids: torch.Tensor, mask: torch.Tensor, step: int, config: PretrainingConfig, info: _Dist
) -> tuple[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], int]:
    """This rank's shards of the step's masked micro-batches, and the masked-token count of the global batch."""
    rows = torch.as_tensor(batch_rows(step, len(ids), config.batch_size, config.seed))
    micro = config.batch_size // config.grad_accumulation
    per_rank = micro // info.world_size
    shards, n_masked = [], 0
    for m in range(config.grad_accumulation):
        part = rows[m * micro : (m + 1) * micro]
        x = ids[part]
        g = torch.Generator().manual_seed(derived_seed(config.seed, _MASKS, step, m))
        inputs, labels = collator.mask_tokens(x.clone(), special_tokens_mask=special_tokens_mask(x), generator=g)
        n_masked += int((labels != -100).sum())
        mine = slice(info.rank * per_rank, (info.rank + 1) * per_rank)
        shards.append((inputs[mine], mask[part][mine], labels[mine]))
    return shards, n_masked


def _log_record(
    step: int, window: torch.Tensor, seconds: float, lr: float, flops_per_token: float, peak: float | None,
    world_size: int,
) -> dict[str, Any]:
    """One log line from window sums ``[loss_sum, correct, masked, non-pad tokens, positions]``."""
    loss_sum, correct, n, tokens, positions = window.tolist()
    loss = loss_sum / max(n, 1.0)
    record = {
        "step": step,
        "loss": loss,
        "masked_accuracy": correct / max(n, 1.0),
        "perplexity": math.exp(min(loss, 700.0)),
        "tokens_per_s": tokens / max(seconds, 1e-9),
        "tokens": int(tokens),
        "seconds": seconds,
        "lr": lr,
    }
    if peak is not None:
        record["mfu"] = flops_per_token * positions / max(seconds, 1e-9) / (peak * world_size)
    return record


def _check_inputs(ids: torch.Tensor, mask: torch.Tensor, config: PretrainingConfig, info: _Dist) -> None:
    if ids.shape != mask.shape or ids.ndim != 2:
        raise ValueError(f"input_ids {tuple(ids.shape)} and attention_mask {tuple(mask.shape)} must be equal 2-D")
    micro = config.batch_size // config.grad_accumulation
    if micro % info.world_size:
        raise ValueError(f"micro-batch {micro} is not divisible by the world size {info.world_size}")


def pretrain(
    model: nn.Module,
    collator: MaskingCollator,
    train_ids: torch.Tensor | np.ndarray,
    train_mask: torch.Tensor | np.ndarray,
    config: PretrainingConfig,
    output_dir: str | os.PathLike[str],
    heldout: tuple[Any, Any] | None = None,
    resume: bool = True,
    tokenizer: Any = None,
    progress: bool = True,
    stop_at: int | None = None,
) -> TrainingResult:
    """Pretrain a ``BertForMaskedLM`` with masked-LM loss; checkpoints and ``train_log.jsonl`` in ``output_dir``.

    With ``resume=True`` the run continues from the latest complete ``checkpoint-<step>`` in ``output_dir``
    and reproduces the uninterrupted run exactly (see the module docstring); a checkpoint written with other
    trajectory settings, another architecture or other training windows is refused with the differences
    named. The trainer state is read with ``weights_only=True``. One run at a time may write to a folder
    (an exclusive lock). Under ``torchrun`` the model is wrapped in DistributedDataParallel and only rank 0
    writes files. ``stop_at`` ends the run after that step as if it were interrupted there (for resume
    tests), and ``config.max_minutes`` after that much time (with a checkpoint); the schedule still runs
    to ``max_steps``, and ``result.extra["stopped_early"]`` says whether the run ended before it.
    """
    info, device = _setup_distributed(config.device)
    ids = torch.as_tensor(np.asarray(train_ids), dtype=torch.long)
    mask = torch.as_tensor(np.asarray(train_mask), dtype=torch.long)
    _check_inputs(ids, mask, config, info)
    out = Path(output_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    from utrbert.models.fast_dropout import fast_dropout

    with _exclusive(out, info.is_main), fast_dropout(model, config.fast_dropout):
        return _pretrain_locked(
            model, collator, ids, mask, config, out, heldout, resume, tokenizer, progress, stop_at, info, device
        )


def _pretrain_locked(
    model: nn.Module, collator: MaskingCollator, ids: torch.Tensor, mask: torch.Tensor, config: PretrainingConfig,
    out: Path, heldout: tuple[Any, Any] | None, resume: bool, tokenizer: Any, progress: bool, stop_at: int | None,
    info: _Dist, device: torch.device,
) -> TrainingResult:
    from tqdm.auto import tqdm

    clock_start = time.monotonic()
    model.to(device)
    model.train()
    optimizer, scheduler = _build_optimizer(model, config)
    provenance = _provenance(model, config, ids, info)
    identity = _run_identity(model, config, ids)

    start, log, step_losses = 0, [], []
    checkpoint = latest_checkpoint(out) if resume else None
    if checkpoint is not None:
        _check_resume(checkpoint, _load_trainer_state(checkpoint).get("identity"), identity)
        state = _load_checkpoint(checkpoint, model, optimizer, scheduler)
        start, log, step_losses = state["step"], state["log"], state["step_losses"]
        if info.is_main:
            _rewrite_log(out / _LOG_FILE, log)
        logger.info("resumed from %s (step %d)", checkpoint, start)
    elif info.is_main and (out / _LOG_FILE).exists():
        (out / _LOG_FILE).unlink()

    objective: nn.Module = _MaskedLMObjective(model)
    if info.world_size > 1:
        objective = nn.parallel.DistributedDataParallel(objective, device_ids=[device] if device.type == "cuda" else None)
    if config.compile:
        objective = torch.compile(objective)
    flops = model_flops_per_token(
        _non_embedding_params(model), model.config.num_hidden_layers, model.config.hidden_size, ids.shape[1]
    )
    peak = peak_flops(str(device), config.precision, config.peak_flops)

    def save(step: int) -> Path | None:
        saved = None
        if info.is_main:
            state = {
                "log": log, "step_losses": step_losses, "config": _plain(asdict(config)), "provenance": provenance,
                "identity": identity,
            }  # fmt: skip
            saved = _save_checkpoint(
                out, step, model, tokenizer, optimizer, scheduler, state, config.keep_checkpoints, config.keep_steps
            )
        if info.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
        return saved

    window = torch.zeros(5, dtype=torch.float64)
    window_start = time.perf_counter()
    final = checkpoint
    bar = tqdm(total=config.max_steps, initial=start, desc="pretrain", disable=not (progress and info.is_main))
    end = config.max_steps if stop_at is None else min(stop_at, config.max_steps)
    done = start
    out_of_time = False
    for step in range(start, end):
        stats = _train_step(
            objective, optimizer, scheduler, collator, ids, mask, step, config, info, device,
            autocast(config.precision, device),
        )  # fmt: skip
        step_losses.append(stats[0].item() / max(stats[2].item(), 1.0))
        window += stats
        bar.update(1)
        done = step + 1
        if done % config.log_every == 0 or done == config.max_steps:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - window_start
            record = _log_record(done, window, seconds, scheduler.get_last_lr()[0], flops, peak, info.world_size)
            if heldout is not None and (done % config.eval_every == 0 or done == config.max_steps) and info.is_main:
                scores = evaluate_mlm(model, collator, heldout[0], heldout[1], config.eval_batch_size, config.seed)
                record.update({f"heldout_{key}": value for key, value in scores.items()})
            log.append(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['masked_accuracy']:.3f}")
            if info.is_main:
                with open(out / _LOG_FILE, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
            window.zero_()
            window_start = time.perf_counter()
        out_of_time = config.max_minutes is not None and time.monotonic() - clock_start > 60 * config.max_minutes
        if out_of_time and info.world_size > 1:  # every rank stops at the same step
            flag = _all_reduce(torch.tensor([float(out_of_time)], device=device), info)
            out_of_time = bool(flag.item() > 0)
        if done % config.checkpoint_every == 0 or done == config.max_steps or done in config.keep_steps or out_of_time:
            final = save(done)
        if out_of_time:
            logger.info("max_minutes=%s reached at step %d of %d", config.max_minutes, done, config.max_steps)
            break
    bar.close()
    if info.initialised_here:
        import torch.distributed as dist

        dist.destroy_process_group()
    extra = {"world_size": info.world_size, "stopped_early": done < config.max_steps, "steps_done": done}
    return TrainingResult(step_losses, log, out, final, resumed_from=start, extra=extra)


def _plain(value: Any) -> Any:
    """``value`` with tuples turned into lists (the trainer state holds only plain JSON-like values)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _train_step(
    objective: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    collator: MaskingCollator,
    ids: torch.Tensor,
    mask: torch.Tensor,
    step: int,
    config: PretrainingConfig,
    info: _Dist,
    device: torch.device,
    precision_context: Any,
) -> torch.Tensor:
    """One optimizer step; returns global sums ``[loss_sum, correct, masked, non-pad tokens, positions]``."""
    shards, n_masked = _micro_batches(collator, ids, mask, step, config, info)
    scale = info.world_size / max(n_masked, 1)
    totals = torch.zeros(3, dtype=torch.float64, device=device)
    tokens = 0
    for m, (inputs, attn, labels) in enumerate(shards):
        last = m == len(shards) - 1
        sync = nullcontext() if last or info.world_size == 1 else objective.no_sync()
        with sync, _seeded_rng(derived_seed(config.seed, _DROPOUT, step, m, info.rank), device), precision_context:
            stats = objective(inputs.to(device), attn.to(device), labels.to(device))
            (stats[0] * scale).backward()
        totals += stats.detach().double()
        tokens += int(attn.sum())
    if config.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(objective.parameters(), config.max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    positions = sum(int(s[1].numel()) for s in shards)
    summed = torch.cat([totals, torch.tensor([tokens, positions], dtype=torch.float64, device=device)])
    return _all_reduce(summed, info).cpu()


def _provenance(model: nn.Module, config: PretrainingConfig, ids: torch.Tensor, info: _Dist) -> dict[str, Any]:
    from utrbert.runs.provenance import environment

    return {
        "environment": environment(config.device),
        "config": asdict(config),
        "model_config": model.config.to_dict(),
        "train_rows": int(ids.shape[0]),
        "window_tokens": int(ids.shape[1]),
        "world_size": info.world_size,
    }
