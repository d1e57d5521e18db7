"""The book's pretraining recipe as one resumable call: 3'UTRs -> corpus -> model -> :func:`pretrain` -> exports.

The recipe (chapter ``02_pretraining``, ``cpu`` profile) trains a ``small`` k=3 model on 128-nt windows with
the sinusoidal position start; :func:`run_pretraining` runs it on any list of 3'UTR records (the book's DM3Loc
3'UTRs from :func:`book_utr_records`, or a user's FASTA files), optionally continuing from an exported
checkpoint (``init_from``), for a token budget converted to optimizer steps. The run directory holds the
trainer's checkpoints (exact resume, :mod:`utrbert.models.pretraining`) and ``run.json`` (the recipe, the budget,
the initial checkpoint's digest); a second call with the same arguments continues the run. Ladder steps
(token budgets along the way) keep their checkpoints, which :func:`export_run_checkpoint` turns into fp16
checkpoints with a model card.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from utrbert.data.records import SequenceRecord

__all__ = [
    "PretrainingRecipe",
    "book_utr_records",
    "fasta_utr_records",
    "tokens_per_step",
    "steps_for_tokens",
    "run_pretraining",
    "export_run_checkpoint",
    "save_run_state",
    "restore_run_state",
]

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"


@dataclass(frozen=True)
class PretrainingRecipe:
    """Model, corpus and optimisation settings of a pretraining run (defaults: the book's ``cpu`` recipe).

    ``precision="auto"`` is bf16 autocast where the device supports it (CUDA, or a CPU with AVX512-BF16/AMX)
    and fp32 otherwise; it is resolved once, when the run starts, and recorded in ``run.json``.
    """

    size: str = "small"
    k: int = 3
    window_nt: int = 128
    position_init: str = "sinusoidal"
    batch_size: int = 32
    peak_lr: float = 5e-4
    warmup_steps: int = 300
    seed: int = 0
    heldout_fraction: float = 0.05
    corpus_seed: int = 0
    precision: str = "auto"
    device: str = "cpu"
    checkpoint_every: int = 200
    eval_every: int = 1000
    log_every: int = 50
    max_heldout_windows: int = 2000
    fast_dropout: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved_precision(self) -> str:
        """``precision`` with ``"auto"`` resolved for this device."""
        from utrbert.models.pretraining import resolve_precision

        return self.precision if self.precision != "auto" else resolve_precision("auto", self.device)


def book_utr_records(data_root: str | os.PathLike[str], progress: bool = False) -> list[SequenceRecord]:
    """The book's 3'UTR corpus: longest-ORF 3'UTRs of the DM3Loc RefSeq mRNAs under ``data_root``."""
    from utrbert.data.corpus import utr3_from_mrnas
    from utrbert.data.readers import read_dm3loc
    from utrbert.data.registry import dataset_path

    utrs, _ = utr3_from_mrnas(read_dm3loc(dataset_path("dm3loc", Path(data_root))), progress=progress)
    return utrs


def fasta_utr_records(paths: Sequence[str | os.PathLike[str]]) -> list[SequenceRecord]:
    """3'UTR records from FASTA files (ids must be unique across files; the gene is the record id)."""
    from utrbert.data.readers import read_fasta
    from utrbert.data.records import index_by_id

    if not paths:
        raise ValueError("no corpus FASTA files given")
    records = [record for path in paths for record in read_fasta(path)]
    index_by_id(records, source=", ".join(str(p) for p in paths))
    return records


def tokens_per_step(attention_mask: np.ndarray, batch_size: int) -> float:
    """Mean non-pad tokens of one optimizer step (``batch_size`` windows drawn from ``attention_mask``'s rows).

    >>> tokens_per_step(np.array([[1, 1, 1, 0], [1, 1, 0, 0]]), batch_size=4)
    10.0
    """
    return float(np.asarray(attention_mask).sum(axis=1).mean()) * batch_size


def steps_for_tokens(tokens: float, per_step: float) -> int:
    """Optimizer steps that see at least ``tokens`` tokens at ``per_step`` tokens a step.

    >>> steps_for_tokens(1000, 300.0)
    4
    """
    if tokens <= 0 or per_step <= 0:
        raise ValueError(f"tokens ({tokens}) and tokens per step ({per_step}) must be positive")
    return math.ceil(tokens / per_step)


def _initial_tokens(init_from: Path | None) -> int:
    """Tokens the initial checkpoint has seen, from its model card (0 for a random start)."""
    if init_from is None:
        return 0
    card = Path(init_from) / "model_card.json"
    if not card.is_file():
        raise ValueError(f"{init_from}: no model_card.json saying how many tokens the checkpoint has seen")
    return int(json.loads(card.read_text(encoding="utf-8")).get("tokens_seen", 0))


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dictionaries as one level of dotted keys.

    >>> _flat({"recipe": {"k": 3, "seed": 0}, "max_steps": 5})
    {'recipe.k': 3, 'recipe.seed': 0, 'max_steps': 5}
    """
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_DESCRIPTIVE = ("started", "init_from", "corpus.name", "executions", "recipe.device")
"""Plan entries that describe a run without defining it (the initial checkpoint counts by its content; the device
may change between executions, e.g. a run begun on a CPU and finished on a lent GPU: each execution records its
own device in ``executions``)."""


def _check_run_file(run_dir: Path, plan: dict[str, Any]) -> None:
    """Write ``run.json`` on the first call; on later calls refuse a plan that differs from it."""
    path = run_dir / RUN_FILE
    if path.is_file():
        before = _flat(json.loads(path.read_text(encoding="utf-8")))
        now = _flat(json.loads(json.dumps(plan, default=str)))
        keys = sorted(key for key in set(before) | set(now) if not key.startswith(_DESCRIPTIVE))
        differences = [f"{key}: {before.get(key)!r} then, {now.get(key)!r} now" for key in keys
                       if before.get(key) != now.get(key)]  # fmt: skip
        if differences:
            raise ValueError(f"{path}: this run was started with other settings:\n  " + "\n  ".join(differences))
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(plan, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_pretraining(
    records: Sequence[SequenceRecord],
    run_dir: str | os.PathLike[str],
    recipe: PretrainingRecipe = PretrainingRecipe(),
    tokens: float | None = None,
    steps: int | None = None,
    init_from: str | os.PathLike[str] | None = None,
    ladder_tokens: Sequence[float] = (),
    max_minutes: float | None = None,
    corpus_name: str = "3'UTRs",
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or continue) the recipe's masked-LM run in ``run_dir``; return the run's plan and result.

    ``tokens`` (this run's budget, converted to steps) or ``steps`` sets the schedule length. ``init_from``
    starts from an exported checkpoint's weights (fresh optimizer and schedule; the card's ``tokens_seen``
    counts towards ``ladder_tokens``, which are *total* token budgets whose checkpoints are kept). Calling
    again with the same arguments resumes; other arguments are refused (``run.json``).
    """
    from utrbert.data.corpus import build_corpus
    from utrbert.tokens.masking import KmerSpanMaskingCollator
    from utrbert.models.model import build_config, build_model, checkpoint_identity, load_model
    from utrbert.models.pretraining import PretrainingConfig, pretrain
    from utrbert.runs.provenance import environment
    from utrbert.tokens.tokenization import KmerTokenizer

    if (tokens is None) == (steps is None):
        raise ValueError("give exactly one of tokens and steps")
    out = Path(run_dir)
    corpus = build_corpus(
        records, k=recipe.k, window_nt=recipe.window_nt, heldout_fraction=recipe.heldout_fraction,
        seed=recipe.corpus_seed, source=corpus_name,
    )  # fmt: skip
    train = corpus.splits["train"]
    per_step = tokens_per_step(train.attention_mask, recipe.batch_size)
    max_steps = steps if steps is not None else steps_for_tokens(tokens, per_step)
    start_tokens = _initial_tokens(Path(init_from) if init_from is not None else None)
    keep = sorted({steps_for_tokens(total - start_tokens, per_step) for total in ladder_tokens if total > start_tokens})
    keep = [step for step in keep if step < max_steps]
    precision = recipe.resolved_precision()
    recipe_fields = {**asdict(recipe), "precision": precision}
    if not recipe.fast_dropout:  # recorded only when on, so run.json files from before the option still match
        del recipe_fields["fast_dropout"]
    plan = {
        "recipe": recipe_fields,
        "max_steps": max_steps,
        "tokens_per_step": per_step,
        "init_from": None if init_from is None else str(init_from),
        "init_identity": None if init_from is None else checkpoint_identity(init_from),
        "init_tokens_seen": start_tokens,
        "ladder_tokens": [float(t) for t in ladder_tokens],
        "ladder_steps": keep,
        "corpus": {"name": corpus_name, **corpus.provenance.get("counts", {})},
        "started": environment(recipe.device),
    }
    _check_run_file(out, plan)

    tokenizer = KmerTokenizer(k=recipe.k)
    if init_from is None:
        model = build_model(build_config(recipe.size, k=recipe.k), task="mlm", seed=recipe.seed,
                            position_init=recipe.position_init)  # fmt: skip
    else:
        model, loaded = load_model(init_from, task="mlm")
        if loaded.k != recipe.k:
            raise ValueError(f"{init_from} is a k={loaded.k} checkpoint; the recipe has k={recipe.k}")
    config = PretrainingConfig(
        max_steps=max_steps, batch_size=recipe.batch_size, peak_lr=recipe.peak_lr,
        warmup_steps=min(recipe.warmup_steps, max_steps), seed=recipe.seed, checkpoint_every=recipe.checkpoint_every,
        keep_checkpoints=2, eval_every=recipe.eval_every, log_every=recipe.log_every, device=recipe.device,
        precision=precision, keep_steps=tuple(keep), max_minutes=max_minutes, fast_dropout=recipe.fast_dropout,
    )  # fmt: skip
    heldout = corpus.splits["heldout"]
    n_heldout = min(len(heldout), recipe.max_heldout_windows)
    collator = KmerSpanMaskingCollator(tokenizer, mlm_probability=0.15, seed=recipe.seed)
    result = pretrain(
        model, collator, train.input_ids.astype(np.int64), train.attention_mask.astype(np.int64), config, out,
        heldout=(heldout.input_ids[:n_heldout].astype(np.int64), heldout.attention_mask[:n_heldout].astype(np.int64)),
        tokenizer=tokenizer, progress=progress,
    )  # fmt: skip
    done = result.extra["steps_done"]
    finished = not result.extra["stopped_early"]
    logged = int(sum(r["tokens"] for r in result.log))  # every step is logged by the end of the schedule
    execution = {**plan["started"], "from_step": result.resumed_from, "to_step": done}
    saved = _record_execution(out, execution)
    return {
        "plan": saved,
        "steps_done": done,
        "finished": finished,
        "tokens_seen": start_tokens + (logged if finished else round(per_step * done)),
        "final_checkpoint": None if result.final_checkpoint is None else str(result.final_checkpoint),
        "log": result.log,
    }


def _record_execution(run_dir: Path, execution: dict[str, Any]) -> dict[str, Any]:
    """Append one execution (date, device, commit, steps from and to) to ``run.json``; return the whole plan.

    ``started`` stays the first execution's, so the plan says when and from which commit the run began and
    ``executions`` which execution trained which steps.
    """
    path = run_dir / RUN_FILE
    plan = json.loads(path.read_text(encoding="utf-8"))
    if execution["to_step"] > execution["from_step"]:
        plan.setdefault("executions", []).append(execution)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(plan, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return plan


def export_run_checkpoint(
    run_dir: str | os.PathLike[str],
    step: int,
    export_dir: str | os.PathLike[str],
    card: dict[str, Any],
) -> Path:
    """Export ``run_dir/checkpoint-<step>`` as an fp16 checkpoint with a model card (tokens seen, recipe, step).

    ``card`` adds to what the run records (e.g. held-out accuracies measured by the caller).
    """
    from utrbert.models.model import export_checkpoint, load_model

    run = Path(run_dir)
    plan = json.loads((run / RUN_FILE).read_text(encoding="utf-8"))
    checkpoint = run / f"checkpoint-{step}"
    if not (checkpoint / "model.safetensors").is_file():
        raise ValueError(f"{checkpoint}: no such checkpoint (kept steps: {plan['ladder_steps']})")
    tokens = plan["init_tokens_seen"] + round(plan["tokens_per_step"] * step)  # mean window fill x windows
    model, tokenizer = load_model(checkpoint, task="mlm")
    full = {
        "run_step": step,
        "tokens_seen": tokens,
        "recipe": plan["recipe"],
        "schedule_steps": plan["max_steps"],
        "init_from": plan["init_from"],
        "init_tokens_seen": plan["init_tokens_seen"],
        **card,
    }
    return export_checkpoint(model, tokenizer, export_dir, full)


def save_run_state(run_dir: str | os.PathLike[str], state_dir: str | os.PathLike[str]) -> Path | None:
    """Copy what a run needs to continue elsewhere (``run.json``, the log, its latest complete checkpoint) into
    ``state_dir``, replacing what was there (written beside it, then renamed); None when the run has no checkpoint.

    The state is small enough to commit (the ``small`` model: about 41 MB, fp32 weights and AdamW moments), so a
    long run can continue in a later session or on another machine: :func:`restore_run_state`.
    """
    import shutil

    from .pretraining import latest_checkpoint

    run, state = Path(run_dir), Path(state_dir)
    checkpoint = latest_checkpoint(run)
    if checkpoint is None:
        return None
    tmp = state.with_name(f".{state.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copytree(checkpoint, tmp / checkpoint.name)
    for name in (RUN_FILE, "train_log.jsonl"):
        if (run / name).is_file():
            shutil.copy2(run / name, tmp / name)
    old = state.with_name(f".{state.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if state.exists():
        state.rename(old)
    tmp.rename(state)
    shutil.rmtree(old, ignore_errors=True)
    logger.info("saved the run state of %s (%s) to %s", run, checkpoint.name, state)
    return state / checkpoint.name


def restore_run_state(state_dir: str | os.PathLike[str], run_dir: str | os.PathLike[str]) -> Path | None:
    """Put a saved run state (:func:`save_run_state`) into ``run_dir`` when it is ahead of the run there.

    Returns the restored checkpoint, or None when there is no state or ``run_dir`` is already at or past it. A
    state of another run (its ``run.json`` differs from the one in ``run_dir``) is refused.
    """
    import shutil

    from .pretraining import latest_checkpoint

    state, run = Path(state_dir), Path(run_dir)
    saved = latest_checkpoint(state) if state.is_dir() else None
    if saved is None:
        return None
    here = latest_checkpoint(run)
    if here is not None and int(here.name.split("-")[1]) >= int(saved.name.split("-")[1]):
        return None
    if (run / RUN_FILE).is_file():
        _check_run_file(run, json.loads((state / RUN_FILE).read_text(encoding="utf-8")))
    run.mkdir(parents=True, exist_ok=True)
    for name in (RUN_FILE, "train_log.jsonl"):
        if (state / name).is_file():
            shutil.copy2(state / name, run / name)
    target = run / saved.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(saved, run / f".tmp-{saved.name}")
    (run / f".tmp-{saved.name}").rename(target)
    logger.info("restored %s from %s", target, state)
    return target
