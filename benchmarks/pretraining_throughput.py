"""Pretraining throughput: :func:`utrbert.pretraining.pretrain` against a plain Hugging Face ``Trainer``.

Both train the same ``BertForMaskedLM`` config (same seed) on the same windows with the same batch size,
number of steps and device; the first ``--warmup`` optimizer steps are not timed. Throughput is non-pad
tokens per second. Ours uses k-span masking and computes the decoder only at masked positions; the
Trainer uses the stock ``DataCollatorForLanguageModeling`` (single-token masking, decoder everywhere), as
a user of the stock stack would. Data: full 510-nt windows of ``UTRBERT_DATA`` (DM3Loc mRNAs) when set,
otherwise seeded random 512-token windows.

The Trainer needs ``accelerate``; without it its rows say so. On a CPU the JSON marks the GPU figures
(bf16, MFU, the base size) as pending. Usage::

    python benchmarks/pretraining_throughput.py [--quick] [--sizes tiny small] [--k 3] [--batch 8] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utrbert.masking import KmerSpanMaskingCollator
from utrbert.model import build_config, build_model
from utrbert.pretraining import PretrainingConfig, pretrain
from utrbert.provenance import environment
from utrbert.tokenization import KmerTokenizer

logger = logging.getLogger("benchmarks.pretraining_throughput")
RESULTS = Path(__file__).resolve().parent / "results" / "pretraining_throughput.json"


def load_windows(k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` windows of 512 tokens: real 510-nt windows from ``UTRBERT_DATA`` if set, else random ones."""
    tokenizer = KmerTokenizer(k=k)
    data_dir = os.environ.get("UTRBERT_DATA")
    if data_dir:
        from utrbert.readers import read_dm3loc

        seqs = [r.sequence for r in read_dm3loc(Path(data_dir) / "localization" / "dm3loc")]
        windows = tokenizer.encode_corpus(seqs).windows(510, last="shift")
        enc = windows.padded()
        return enc["input_ids"][:n], enc["attention_mask"][:n], "DM3Loc mRNAs, 510-nt windows"
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGU"), 510 + k - 1 - 2)) for _ in range(n)]
    enc = tokenizer.encode_corpus(seqs).padded(max_length=512)
    return enc["input_ids"], enc["attention_mask"], "random windows (no UTRBERT_DATA)"


def time_ours(size: str, k: int, ids: np.ndarray, mask: np.ndarray, args: argparse.Namespace, device: str) -> float:
    """Non-pad tokens/s of our loop over the timed steps (per-step log records after the warm-up)."""
    config = PretrainingConfig(
        max_steps=args.warmup + args.steps, batch_size=args.batch, peak_lr=1e-4, warmup_steps=1, log_every=1,
        checkpoint_every=10**9, eval_every=10**9, device=device, precision=args.precision, seed=0,
    )  # fmt: skip
    model = build_model(build_config(size, k=k), seed=0)
    collator = KmerSpanMaskingCollator(KmerTokenizer(k=k))
    with tempfile.TemporaryDirectory() as out:
        result = pretrain(model, collator, ids, mask, config, out, resume=False, progress=False)
    timed = result.log[args.warmup :]
    return sum(r["tokens"] for r in timed) / sum(r["seconds"] for r in timed)


def time_hf_trainer(size: str, k: int, ids: np.ndarray, mask: np.ndarray, args: argparse.Namespace, device: str) -> float | str:
    """Non-pad tokens/s of a stock ``Trainer`` + ``DataCollatorForLanguageModeling`` over the timed steps."""
    try:
        import accelerate  # noqa: F401
    except ImportError:
        return "unavailable: accelerate is not installed"
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments

    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_: Any, **__: Any) -> None:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    tokenizer = KmerTokenizer(k=k)
    dataset = [{"input_ids": ids[i].tolist(), "attention_mask": mask[i].tolist()} for i in range(len(ids))]
    model = build_model(build_config(size, k=k), seed=0)
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, max_steps=args.warmup + args.steps, per_device_train_batch_size=args.batch,
            learning_rate=1e-4, report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
            use_cpu=not device.startswith("cuda"), bf16=args.precision == "bf16", dataloader_num_workers=0, seed=0,
        )  # fmt: skip
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0)
        trainer = Trainer(model=model, args=targs, train_dataset=dataset, data_collator=collator, callbacks=[Clock()])
        trainer.train()
    tokens = float(mask.sum(axis=1).mean()) * args.batch * args.steps  # rows are drawn at random
    return tokens / (stamps[-1] - stamps[args.warmup - 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny only (a CPU run of about a minute)")
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default=None, choices=["fp32", "bf16"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.precision = args.precision or ("bf16" if args.device.startswith("cuda") else "fp32")
    sizes = ["tiny"] if args.quick else args.sizes
    ids, mask, source = load_windows(args.k, args.batch * (args.warmup + args.steps), seed=0)
    rows = []
    for size in sizes:
        ours = time_ours(size, args.k, ids, mask, args, args.device)
        hf = time_hf_trainer(size, args.k, ids, mask, args, args.device)
        ratio = ours / hf if isinstance(hf, float) else None
        rows.append({"size": size, "ours_tokens_per_s": ours, "hf_trainer_tokens_per_s": hf, "ratio": ratio})
        hf_text = f"{hf:12.0f}" if isinstance(hf, float) else f"{hf:>12}"
        print(f"{size:6} ours {ours:12.0f} tok/s   HF Trainer {hf_text} tok/s   ratio {ratio or float('nan'):.2f}x")
    record = {
        "benchmark": "pretraining_throughput",
        "data": source,
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(args.out)},
        "rows": rows,
        "environment": environment(args.device),
    }
    if not args.device.startswith("cuda"):
        record["pending"] = "GPU figures (bf16 autocast, model-FLOPs utilisation, the base size) need a CUDA run"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
