"""Pretraining throughput: :func:`utrbert.models.pretraining.pretrain` against a plain Hugging Face ``Trainer``.

Every variant trains the same ``BertForMaskedLM`` config (same seed) on the same windows with the same batch
size, number of steps and device; the first ``--warmup`` optimizer steps are not timed. Throughput is non-pad
tokens per second of the median timed step. The variants run in turns (``--repeats`` rounds: HF, ours fp32,
ours bf16, ours fast, HF, ...) and each reports its best round: load from other processes only ever slows a
step down, so on a shared machine the best round is the closest to the unloaded speed.

* **HF Trainer**: stock ``Trainer`` + ``DataCollatorForLanguageModeling`` (single-token masking, the decoder
  at every position), fp32, as a user of the stock stack would run it;
* **ours fp32**: :func:`pretrain` in fp32 (k-span masking, windows pre-tokenized as tensors, the decoder only
  at masked positions);
* **ours bf16**: the same loop with bf16 autocast (``--fast-precision``; on a CPU only where it has native
  bf16, AVX512-BF16 or AMX) - the setting of the book's long run;
* **ours fast**: bf16 plus :mod:`utrbert.models.fast_dropout` (dropout masks from cheaper random numbers: the same
  distribution, other random numbers).

``--loss-check STEPS`` also trains ours fp32, ours bf16 and ours fast for STEPS steps from the same start on the
same batches and masks and records the loss curves (means over blocks of 25 steps, and the largest difference
from fp32): the fast paths must follow the fp32 curve within noise.

Model-FLOPs utilisation (MFU) is reported on CUDA: training FLOPs per token ``6 N + 12 L h s`` (PaLM, appendix
B; ``N`` non-embedding parameters, ``L`` layers, ``h`` hidden size, ``s`` sequence length; the MLM decoder is left
out) times tokens/s, over the device's dense peak for the precision (``utrbert.models.pretraining.PEAK_FLOPS``). On a
CPU there is no peak table, so the column is empty.

Data: windows of ``--window-nt`` nucleotides of ``UTRBERT_DATA``'s DM3Loc mRNAs when set, otherwise seeded
random windows of the same shape. Usage::

    python benchmarks/pretraining_throughput.py [--sizes small] [--window-nt 128] [--batch 32] [--steps 20]
        [--repeats 3] [--loss-check 300] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utrbert.tokens.masking import KmerSpanMaskingCollator
from utrbert.models.model import build_config, build_model
from utrbert.models.pretraining import (
    PretrainingConfig,
    _non_embedding_params,
    cpu_supports_bf16,
    model_flops_per_token,
    peak_flops,
    pretrain,
)
from utrbert.runs.provenance import environment
from utrbert.tokens.tokenization import KmerTokenizer

logger = logging.getLogger("benchmarks.pretraining_throughput")
RESULTS = Path(__file__).resolve().parent / "results" / "pretraining_throughput.json"


def load_windows(k: int, window_nt: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` windows of ``window_nt`` nt: real ones from ``UTRBERT_DATA`` if set, else seeded random ones."""
    tokenizer = KmerTokenizer(k=k)
    data_dir = os.environ.get("UTRBERT_DATA")
    if data_dir:
        from utrbert.data.readers import read_dm3loc

        seqs = [r.sequence for r in read_dm3loc(Path(data_dir) / "localization" / "dm3loc")]
        enc = tokenizer.encode_corpus(seqs).windows(window_nt, last="shift").padded()
        rows = np.random.default_rng(seed).permutation(len(enc["input_ids"]))[:n]
        return enc["input_ids"][rows], enc["attention_mask"][rows], f"DM3Loc mRNAs, {window_nt}-nt windows"
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGU"), window_nt)) for _ in range(n)]
    enc = tokenizer.encode_corpus(seqs).padded(max_length=window_nt - k + 3)
    return enc["input_ids"], enc["attention_mask"], f"random {window_nt}-nt windows (no UTRBERT_DATA)"


VARIANTS: dict[str, tuple[str, bool]] = {"ours_fp32": ("fp32", False), "ours_bf16": ("fast", False),
                                         "ours_fast": ("fast", True)}  # fmt: skip
"""Our loop's variants: (precision, fast dropout); ``"fast"`` is ``--fast-precision``."""


def _config(args: argparse.Namespace, precision: str, steps: int, fast_dropout: bool = False) -> PretrainingConfig:
    return PretrainingConfig(
        max_steps=steps, batch_size=args.batch, peak_lr=1e-4, warmup_steps=1, log_every=1,
        checkpoint_every=10**9, eval_every=10**9, device=args.device, precision=precision, seed=0,
        fast_dropout=fast_dropout,
    )  # fmt: skip


def time_ours(
    size: str, ids: np.ndarray, mask: np.ndarray, args: argparse.Namespace, precision: str, fast_dropout: bool
) -> float:
    """Non-pad tokens/s of our loop's median timed step (per-step log records after the warm-up)."""
    model = build_model(build_config(size, k=args.k), seed=0)
    collator = KmerSpanMaskingCollator(KmerTokenizer(k=args.k))
    with tempfile.TemporaryDirectory() as out:
        config = _config(args, precision, args.warmup + args.steps, fast_dropout)
        result = pretrain(model, collator, ids, mask, config, out, resume=False, progress=False)
    return statistics.median(r["tokens"] / r["seconds"] for r in result.log[args.warmup :])


def time_hf_trainer(size: str, ids: np.ndarray, mask: np.ndarray, args: argparse.Namespace) -> float | str:
    """Non-pad tokens/s of a stock ``Trainer`` + ``DataCollatorForLanguageModeling`` (fp32), median timed step."""
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return "unavailable: accelerate is not installed"
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

    stamps: list[float] = []
    device = args.device

    class Clock(TrainerCallback):
        def on_step_end(self, *_: Any, **__: Any) -> None:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    tokenizer = KmerTokenizer(k=args.k)
    dataset = [{"input_ids": ids[i].tolist(), "attention_mask": mask[i].tolist()} for i in range(len(ids))]
    model = build_model(build_config(size, k=args.k), seed=0)
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, max_steps=args.warmup + args.steps, per_device_train_batch_size=args.batch,
            learning_rate=1e-4, report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
            use_cpu=not device.startswith("cuda"), bf16=False, dataloader_num_workers=0, seed=0,
        )  # fmt: skip
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0)
        trainer = Trainer(model=model, args=targs, train_dataset=dataset, data_collator=collator, callbacks=[Clock()])
        trainer.train()
    tokens = float(mask.sum(axis=1).mean()) * args.batch  # per step; rows are drawn at random
    return tokens / statistics.median(np.diff(stamps[args.warmup - 1 :]))


def mfu(size: str, tokens_per_s: float | str, args: argparse.Namespace, precision: str) -> float | None:
    """Model-FLOPs utilisation of a throughput (None on a CPU or an unknown GPU)."""
    peak = peak_flops(args.device, precision)
    if peak is None or not isinstance(tokens_per_s, float):
        return None
    model = build_model(build_config(size, k=args.k), seed=0)
    per_token = model_flops_per_token(
        _non_embedding_params(model), model.config.num_hidden_layers, model.config.hidden_size, args.seq_tokens
    )
    return per_token * tokens_per_s / peak


def loss_check(size: str, ids: np.ndarray, mask: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Loss curves of our variants over ``args.loss_check`` steps from the same start and batches."""
    collator = KmerSpanMaskingCollator(KmerTokenizer(k=args.k))
    block = 25
    means = {}
    for name, (precision, fast_dropout) in VARIANTS.items():
        precision = args.fast_precision if precision == "fast" else precision
        config = replace(_config(args, precision, args.loss_check, fast_dropout), peak_lr=5e-4,
                         warmup_steps=min(100, args.loss_check))  # fmt: skip
        with tempfile.TemporaryDirectory() as out:
            result = pretrain(build_model(build_config(size, k=args.k), seed=0), collator, ids, mask, config, out,
                              resume=False, progress=False)  # fmt: skip
        curve = np.array(result.step_losses)
        means[name] = curve[: len(curve) // block * block].reshape(-1, block).mean(axis=1)
    reference = means["ours_fp32"]
    late = reference[len(reference) // 2 :]  # noise: how much fp32 block means move late in the run
    check: dict[str, Any] = {"steps": args.loss_check, "block": block,
                             "block_means": {name: m.round(4).tolist() for name, m in means.items()},
                             "fp32_block_to_block_sd_late": float(np.diff(late).std()) if len(late) > 2 else None}  # fmt: skip
    for name in ("ours_bf16", "ours_fast"):
        check[f"{name}_max_abs_block_difference"] = float(np.abs(means[name] - reference).max())
        check[f"{name}_last_block_difference"] = float(means[name][-1] - reference[-1])
    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny only, few steps (a CPU run of about a minute)")
    parser.add_argument("--sizes", nargs="+", default=["small"])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--window-nt", type=int, default=128, help="window length (the book's recipe: 128)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of HF / ours fp32 / ours fast in turn")
    parser.add_argument("--loss-check", type=int, default=0, help="steps of the fp32 vs fast loss-curve check")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--fast-precision", default=None, choices=["fp32", "bf16"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.fast_precision is None:
        native = args.device.startswith("cuda") or cpu_supports_bf16()
        args.fast_precision = "bf16" if native else "fp32"
    if args.quick:
        args.sizes, args.steps, args.repeats, args.warmup = ["tiny"], 5, 1, 2
    n_rows = max(args.batch * (args.warmup + args.steps), args.batch * max(args.loss_check, 1), 2 * args.batch)
    ids, mask, source = load_windows(args.k, args.window_nt, n_rows, seed=0)
    args.seq_tokens = int(ids.shape[1])
    rows = []
    for size in args.sizes:
        runs: dict[str, list[float]] = {"hf_trainer": [], **{name: [] for name in VARIANTS}}
        hf_note = None
        for _ in range(args.repeats):
            hf = time_hf_trainer(size, ids, mask, args)
            if isinstance(hf, float):
                runs["hf_trainer"].append(hf)
            else:
                hf_note = hf
            for name, (precision, fast_dropout) in VARIANTS.items():
                precision = args.fast_precision if precision == "fast" else precision
                runs[name].append(time_ours(size, ids, mask, args, precision, fast_dropout))
        best = {name: max(values) if values else None for name, values in runs.items()}
        hf = best["hf_trainer"]
        row = {
            "size": size,
            "window_nt": args.window_nt,
            "batch": args.batch,
            "fast_precision": args.fast_precision,
            "hf_trainer_tokens_per_s": hf if hf is not None else hf_note,
            **{f"{name}_tokens_per_s": best[name] for name in VARIANTS},
            "ratio": best["ours_fast"] / hf if hf else None,
            "ratio_bf16": best["ours_bf16"] / hf if hf else None,
            "ratio_fp32": best["ours_fp32"] / hf if hf else None,
            "rounds": runs,
            "mfu_hf_trainer": mfu(size, hf, args, "fp32") if hf else None,
            "mfu_ours_fast": mfu(size, best["ours_fast"], args, args.fast_precision),
        }
        if args.loss_check:
            row["loss_check"] = loss_check(size, ids, mask, args)
        rows.append(row)
    print(f"{'size':6} {'HF Trainer':>11} {'ours fp32':>10} {'ours bf16':>10} {'ours fast':>10}   "
          f"ratios to HF: fp32 / bf16 / fast   (tokens/s, best round)")  # fmt: skip
    for row in rows:
        hf = row["hf_trainer_tokens_per_s"]
        hf_text = f"{hf:11.0f}" if isinstance(hf, float) else f"{'n/a':>11}"
        ratios = " / ".join(f"{row[key]:.2f}x" if row[key] else "n/a" for key in ("ratio_fp32", "ratio_bf16", "ratio"))
        print(f"{row['size']:6} {hf_text} {row['ours_fp32_tokens_per_s']:10.0f} {row['ours_bf16_tokens_per_s']:10.0f} "
              f"{row['ours_fast_tokens_per_s']:10.0f}   {ratios}")  # fmt: skip
        if "loss_check" in row:
            check = row["loss_check"]
            for name in ("ours_bf16", "ours_fast"):
                print(f"       loss check, {name} vs fp32 over {check['steps']} steps: largest block-mean difference "
                      f"{check[f'{name}_max_abs_block_difference']:.4f}, last block "
                      f"{check[f'{name}_last_block_difference']:+.4f} (fp32 block-to-block sd late in the run: "
                      f"{check['fp32_block_to_block_sd_late'] or float('nan'):.4f})")  # fmt: skip
    record = {
        "benchmark": "pretraining_throughput",
        "data": source,
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(args.out)},
        "flop_formula": "6 N + 12 L h s per trained token (PaLM appendix B; N non-embedding parameters)",
        "rows": rows,
        "environment": environment(args.device),
    }
    if not args.device.startswith("cuda"):
        record["pending"] = "GPU figures (MFU, the base size at 512 tokens) need a CUDA run"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
