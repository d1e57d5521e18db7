"""mRNA embedding throughput: :func:`utrbert.models.localization_embeddings.embed_mrnas` (windows of all mRNAs batched
together, sorted by length, padding only to each batch's longest window) against a straightforward per-mRNA loop
that pads every window to the full 510 nt, on the same model and mRNAs; the mRNA vectors are asserted equal
(float16 cache tolerance).

DM3Loc mRNAs from ``UTRBERT_DATA`` (the first ``--n``, or all 17,306 with ``--n 0``), else generated mRNAs of
DM3Loc-like lengths. Usage::

    python benchmarks/localization_embeddings.py [--n 200] [--size small] [--model DIR] [--device cpu]

**The whole DM3Loc set** (``--n 0 --no-loop``): only the batched path, timed, into a verified cache that the
localization chapter reuses when ``--cache`` is the chapter's (``artifacts/localization/embeddings_17306_seed0_bf16``
for the cpu profile, ``--precision bf16``). A rerun after a kill continues from the finished shards; the row then
times only the shards this run computed (their nucleotides and windows), and says how many it reused::

    python benchmarks/localization_embeddings.py --n 0 --no-loop --model models/utrbert-small-k3 --precision bf16 \
        --cache artifacts/localization/embeddings_17306_seed0_bf16 --out benchmarks/results/localization_embeddings_full.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from utrbert.models.localization_embeddings import embed_mrnas, segments
from utrbert.runs.provenance import environment
from utrbert.runs.store import atomic_write_json

logger = logging.getLogger("benchmarks.localization_embeddings")
RESULTS = Path(__file__).resolve().parent / "results" / "localization_embeddings.json"


def _plain_loop(model_dir: Path, records, segment_nt: int, window_nt: int, device: str) -> np.ndarray:
    from utrbert.models.model import load_encoder_checkpoint

    model, tokenizer = load_encoder_checkpoint(model_dir)
    model = model.to(device).eval()
    out = []
    with torch.inference_mode():
        for record in records:
            vectors, weights = [], []
            for start, end in segments(record.sequence, segment_nt):
                piece = record.sequence[start:end]
                for w0 in range(0, len(piece), window_nt):
                    window = piece[w0:w0 + window_nt]
                    if len(window) < tokenizer.k:
                        continue
                    ids = tokenizer.encode_corpus([window]).padded(max_length=window_nt - tokenizer.k + 3)
                    hidden = model.base_model(input_ids=torch.from_numpy(ids["input_ids"]).to(device),
                                              attention_mask=torch.from_numpy(ids["attention_mask"]).to(device)).last_hidden_state[0]
                    n = len(window) - tokenizer.k + 1
                    vectors.append(hidden[1:1 + n].float().mean(0).cpu().numpy())
                    weights.append(n)
            w = np.array(weights, dtype=np.float64)
            out.append((np.array(vectors) * w[:, None]).sum(0) / w.sum())
    return np.array(out)


def _compared(args: argparse.Namespace, records: list, source: str) -> dict:
    """The batched path against the per-mRNA loop on the same model and mRNAs (vectors asserted equal)."""
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from utrbert.models.model import build_config, build_model
            from utrbert.tokens.tokenization import KmerTokenizer

            model_dir = Path(tmp) / "model"
            build_model(build_config(args.size, k=3), task="mlm", seed=0).save_pretrained(model_dir)
            KmerTokenizer(k=3).save_pretrained(model_dir)
        started = time.perf_counter()
        batched = embed_mrnas(model_dir, records, args.cache or Path(tmp) / "cache", batch_size=args.batch_size,
                              device=args.device, progress=False, precision=args.precision)
        batched_s = time.perf_counter() - started
        started = time.perf_counter()
        plain = _plain_loop(model_dir, records, 4000, 510, args.device)
        plain_s = time.perf_counter() - started
    difference = float(np.abs(batched.mrna_vectors - plain).max())
    if difference > 5e-3:
        raise AssertionError(f"batched and plain vectors differ by {difference:g}")
    nucleotides = sum(sum(e - s for s, e in segments(r.sequence)) for r in records)
    row = {"mrnas": len(records), "nucleotides": nucleotides, "windows": len(batched.windows), "source": source,
           "model": str(args.model) if args.model else f"{args.size} (random weights)", "device": args.device, "precision": args.precision,
           "batched_s": batched_s, "plain_s": plain_s, "speedup": plain_s / batched_s,
           "batched_mrnas_per_s": len(records) / batched_s, "batched_nt_per_s": nucleotides / batched_s,
           "max_abs_difference": difference}
    logger.info("%d mRNAs (%s), %d windows: batched %.1f s, plain loop %.1f s, %.2fx; %.0f nt/s; max diff %.1e",
                len(records), source, row["windows"], batched_s, plain_s, row["speedup"], row["batched_nt_per_s"], difference)
    return row


def _batched_only(args: argparse.Namespace, records: list, source: str) -> dict:
    """Time :func:`embed_mrnas` alone into ``--cache`` (resumable); the row covers the shards this run computed."""
    cache = args.cache
    if cache is None:
        raise SystemExit("--no-loop needs --cache (the run is long and resumable)")
    shard_size = 500
    shards = [records[i:i + shard_size] for i in range(0, len(records), shard_size)]
    reused = [number for number in range(len(shards)) if (cache / f"shard_{number:05d}.npz").is_file()]
    computed_records = [r for number, shard in enumerate(shards) if number not in reused for r in shard]
    started = time.perf_counter()
    embeddings = embed_mrnas(args.model, records, cache, shard_size=shard_size, batch_size=args.batch_size,
                             device=args.device, progress=True, precision=args.precision)
    seconds = time.perf_counter() - started
    computed_ids = {r.id for r in computed_records}
    rows = [i for i, name in enumerate(embeddings.ids) if name in computed_ids]
    windows = int(sum(embeddings.offsets[i + 1] - embeddings.offsets[i] for i in rows))
    nucleotides = sum(sum(e - s for s, e in segments(r.sequence)) for r in computed_records)
    row = {"mrnas": len(records), "mrnas_computed": len(computed_records), "shards_reused": len(reused),
           "shards": len(shards), "nucleotides_computed": nucleotides, "windows_computed": windows,
           "windows": int(len(embeddings.windows)), "source": source, "model": str(args.model),
           "weights_md5": embeddings.provenance["settings"].get("weights_md5"), "device": args.device,
           "precision": args.precision, "batch_size": args.batch_size, "cache": str(cache), "seconds": seconds,
           "minutes": seconds / 60, "nt_per_s": nucleotides / seconds if seconds else None,
           "mrnas_per_s": len(computed_records) / seconds if seconds else None}
    logger.info("%d mRNAs (%d computed, %d shards reused), %d windows computed: %.1f min, %.0f nt/s", len(records),
                len(computed_records), len(reused), windows, seconds / 60, row["nt_per_s"] or 0)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="mRNAs (0: all)")
    parser.add_argument("--size", default="small", help="model size when --model is not given (random weights)")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="fp32", help="fp32, or bf16 (CUDA, or a CPU with native bf16)")
    parser.add_argument("--cache", type=Path, default=None, help="keep the embedding cache here (default: a temporary one)")
    parser.add_argument("--no-loop", action="store_true", help="time the batched path only (no per-mRNA loop)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = os.environ.get("UTRBERT_DATA")
    if data:
        from utrbert.data.readers import read_dm3loc

        records, source = read_dm3loc(Path(data) / "localization" / "dm3loc"), "DM3Loc mRNAs"
    else:
        from utrbert.data.records import SequenceRecord
        from utrbert.data.synthetic import random_utr

        rng = np.random.default_rng(0)
        records = [SequenceRecord(f"m{i}", random_utr(int(rng.lognormal(8.0, 0.6)) + 200, rng), None) for i in range(2000)]
        source = "generated mRNAs (no UTRBERT_DATA)"
    if args.n:
        records = records[: args.n]
    if args.no_loop:
        if args.model is None:
            parser.error("--no-loop times a real checkpoint: give --model")
        row = _batched_only(args, records, source)
    else:
        row = _compared(args, records, source)
    atomic_write_json(args.out, {"benchmark": "localization_embeddings", "environment": environment(args.device),
                                 "threads": torch.get_num_threads(), "result": row})
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
