"""[CLS] attention extraction (streaming vs eager attention maps) and the motif pipeline, timed side by side.

Attention: :func:`utrbert.interpret.attention.cls_attention` (computes only the [CLS] query row per layer, under the
model's sdpa attention) against the usual way with eager attention and ``output_attentions=True``, batch by
batch, keeping the last layer's [CLS] row summed over heads (BERT-RBP's ``analyze_motif``; DNABERT instead kept
every N x 12 x L x L map, whose size the table also states). Same model, inputs and batch size; the per-k-mer
scores are asserted equal (1e-5). Each method runs in a fresh process so its peak resident memory is its own;
the table gives the peak *above* the process's memory after loading the model and inputs.

Motif pipeline: :func:`utrbert.motifs.discovery.discover_motifs` and TOMTOM on generated windows with planted motifs
(half positives), so the workload has real signal; TOMTOM against ATtRACT human when ``UTRBERT_DATA`` is set.

Usage::

    python benchmarks/attention_motifs.py [--n 10000] [--length 101] [--sizes tiny small] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from utrbert.runs.provenance import environment

logger = logging.getLogger("benchmarks.attention_motifs")
RESULTS = Path(__file__).resolve().parent / "results" / "attention_motifs.json"


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Reset this process's peak resident set (VmHWM) to its current size (Linux ``clear_refs``)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sequences(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGU"), length)) for _ in range(n)]


def _attention_worker(method: str, size: str, n: int, length: int, batch_size: int, threads: int, queue: Any) -> None:
    import torch

    from utrbert.interpret.attention import cls_attention
    from utrbert.models.model import build_config, build_model
    from utrbert.tokens.tokenization import KmerTokenizer

    torch.set_num_threads(threads)
    config = build_config(size, k=3)
    model = build_model(config, task="classification", seed=0,
                        attn_implementation="eager" if method == "eager" else "sdpa").eval()
    encoding = KmerTokenizer(k=3).encode_corpus(_sequences(n, length, 0))
    padded = encoding.padded()
    ids, mask = torch.from_numpy(padded["input_ids"]), torch.from_numpy(padded["attention_mask"])
    torch.set_grad_enabled(False)
    baseline_rss = _rss_mb()
    _reset_peak()
    started = time.perf_counter()
    if method == "streaming":
        scores = cls_attention(model, encoding, batch_size=batch_size, progress=False).token_scores
    else:
        rows = []
        for start in range(0, n, batch_size):
            out = model(input_ids=ids[start:start + batch_size], attention_mask=mask[start:start + batch_size],
                        output_attentions=True)
            rows.append(out.attentions[-1][:, :, 0, :].sum(dim=1).numpy())
        full = np.concatenate(rows)
        scores = full[:, 1:-1]  # drop [CLS] and [SEP]: the k-mer tokens (all windows have the same length)
    seconds = time.perf_counter() - started
    queue.put({"seconds": seconds, "peak_above_baseline_mb": max(0.0, _peak_mb() - baseline_rss),
               "baseline_rss_mb": baseline_rss, "scores": np.asarray(scores, dtype=np.float32),
               "layers": config.num_hidden_layers, "heads": config.num_attention_heads, "tokens": int(ids.shape[1])})


def _run_isolated(*args: Any) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_attention_worker, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def attention_rows(sizes: list[str], n: int, length: int, batch_size: int, threads: int) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        eager = _run_isolated("eager", size, n, length, batch_size, threads)
        streaming = _run_isolated("streaming", size, n, length, batch_size, threads)
        difference = float(np.nanmax(np.abs(eager["scores"] - streaming["scores"])))
        if difference > 1e-5:
            raise AssertionError(f"{size}: streaming and eager scores differ by {difference:g}")
        kept_maps_gb = n * eager["layers"] * eager["heads"] * eager["tokens"] ** 2 * 8 / 1e9
        rows.append({
            "model": size, "sequences": n, "length_nt": length, "batch_size": batch_size,
            "eager_s": eager["seconds"], "streaming_s": streaming["seconds"],
            "speedup": eager["seconds"] / streaming["seconds"],
            "eager_peak_mb": eager["peak_above_baseline_mb"], "streaming_peak_mb": streaming["peak_above_baseline_mb"],
            "memory_ratio": eager["peak_above_baseline_mb"] / max(streaming["peak_above_baseline_mb"], 1e-3),
            "max_abs_difference": difference, "dnabert_all_maps_float64_gb": kept_maps_gb,
        })
    return rows


def motif_rows(n: int, length: int, data_dir: Path | None) -> list[dict[str, Any]]:
    from utrbert.motifs.meme import read_meme
    from utrbert.motifs.matching import tomtom_matches
    from utrbert.motifs.discovery import MotifSettings, discover_motifs
    from utrbert.motifs.pwm import Pwm
    from utrbert.data.synthetic import make_motif_attention_demo

    positives, negatives, scores = make_motif_attention_demo(n // 2, n - n // 2, length=length, seed=0)
    started = time.perf_counter()
    found = discover_motifs(positives, negatives, scores, MotifSettings(ties="best"))
    discover_s = time.perf_counter() - started
    if data_dir is not None:
        database, source = read_meme(data_dir / "motifs/attract_meme/ATtRACT/Homo_sapiens.meme"), "ATtRACT human"
    else:
        rng = np.random.default_rng(0)
        database = [Pwm(f"r{i}", rng.dirichlet(np.full(4, 0.5), size=8)) for i in range(1000)]
        source = "1,000 random PWMs (no UTRBERT_DATA)"
    tomtom_matches(found.pwms[:1], database[:30])  # compile numba kernels outside the timing
    started = time.perf_counter()
    tomtom_matches(found.pwms, database)
    tomtom_s = time.perf_counter() - started
    return [{"step": "discover_motifs", "sequences": n, "candidates": found.counts["n_candidates"],
             "motifs": found.counts["n_motifs"], "seconds": discover_s},
            {"step": f"TOMTOM vs {source}", "sequences": n, "candidates": len(database), "motifs": len(found.pwms),
             "seconds": tomtom_s}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=101)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ["UTRBERT_DATA"]) if os.environ.get("UTRBERT_DATA") else None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    attention = attention_rows(args.sizes, args.n, args.length, args.batch_size, args.threads)
    motifs = motif_rows(args.n, args.length, args.data_dir)
    header = f"{'model':<7}{'eager s':>9}{'stream s':>10}{'speedup':>9}{'eager MB':>10}{'stream MB':>11}{'mem ratio':>11}{'max diff':>10}"
    lines = [f"[CLS] attention, {args.n:,} sequences of {args.length} nt, batch {args.batch_size}", header]
    for row in attention:
        lines.append(f"{row['model']:<7}{row['eager_s']:>9.1f}{row['streaming_s']:>10.1f}{row['speedup']:>8.2f}x"
                     f"{row['eager_peak_mb']:>10.0f}{row['streaming_peak_mb']:>11.0f}{row['memory_ratio']:>10.1f}x"
                     f"{row['max_abs_difference']:>10.1e}")
    lines.append("")
    for row in motifs:
        lines.append(f"{row['step']:<32}{row['seconds']:>8.1f} s  ({row['motifs']} motifs)")
    logger.info("\n".join(lines))
    result = {"benchmark": "attention_motifs", "environment": environment("cpu"),
              "threads": args.threads, "attention": attention, "motifs": motifs,
              "notes": "peak memory is the peak resident set above the process after loading model and inputs; "
                       "times from a CPU are for ratios only"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
