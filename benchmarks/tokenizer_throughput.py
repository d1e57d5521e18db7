"""Tokenizer throughput: ``KmerTokenizer.encode_corpus`` against stock ``BertTokenizer`` on space-joined k-mers.

Both produce padded ``input_ids`` arrays for the same sequences; the ids are asserted identical in the
same run. The stock tokenizer is given its input already space-joined (the joining is not timed), which
favours it. Rows are reported as tokens per second and as the ratio to the stock tokenizer.

Workloads: RBP-31 CLIP windows (101 nt) and DM3Loc mRNAs cut into 510-nt windows, read from
``UTRBERT_DATA`` when it is set; otherwise seeded random sequences of the same shapes (the table says
which). Usage::

    python benchmarks/tokenizer_throughput.py [--data-dir DIR] [--n 30000] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from transformers import BertTokenizer

from utrbert import KmerTokenizer
from utrbert.tokens.kmers import kmer_vocab, sliding_windows
from utrbert.runs.provenance import environment

logger = logging.getLogger("benchmarks.tokenizer_throughput")
RESULTS = Path(__file__).resolve().parent / "results" / "tokenizer_throughput.json"


def load_workloads(data_dir: Path | None, n: int, seed: int) -> dict[str, tuple[list[str], str]]:
    """Sequences per workload, and where they came from."""
    if data_dir is not None:
        from utrbert.data.readers import list_rbp31_sets, read_dm3loc, read_rbp31_split

        first_set = list_rbp31_sets(data_dir / "rbp31")[0]
        clip = [r.sequence for r in read_rbp31_split(data_dir / "rbp31", first_set, split="train")][:n]
        windows: list[str] = []
        for record in read_dm3loc(data_dir / "localization" / "dm3loc"):
            for w in sliding_windows(len(record.sequence), 510):
                if w.length == 510:
                    windows.append(record.sequence[w.start : w.end])
            if len(windows) >= n:
                break
        return {
            "clip_101nt": (clip, f"RBP-31 {first_set} training split"),
            "mrna_510nt": (windows[:n], "DM3Loc mRNAs, full 510-nt windows"),
        }
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))
    return {
        "clip_101nt": (["".join(rng.choice(letters, 101)) for _ in range(n)], "random sequences (no UTRBERT_DATA)"),
        "mrna_510nt": (["".join(rng.choice(letters, 510)) for _ in range(n // 5)], "random sequences (no UTRBERT_DATA)"),
    }


def best_time(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(data_dir: Path | None, n: int, repeats: int, ks: list[int], seed: int) -> dict:
    workloads = load_workloads(data_dir, n, seed)
    rows = []
    for name, (sequences, source) in workloads.items():
        for k in ks:
            ours = KmerTokenizer(k=k)
            stock = BertTokenizer(vocab={t: i for i, t in enumerate(kmer_vocab(k))}, do_lower_case=False)
            joined = [" ".join(s[i : i + k].replace("T", "U") for i in range(len(s) - k + 1)) for s in sequences]
            t_ours, fast = best_time(lambda: ours.encode_corpus(sequences).padded(), repeats)
            t_stock, slow = best_time(lambda: stock(joined, padding=True, return_tensors="np"), repeats)
            identical = bool(np.array_equal(fast["input_ids"], slow["input_ids"]))
            if not identical:
                raise AssertionError(f"{name} k={k}: ids differ between KmerTokenizer and BertTokenizer")
            n_tokens = int(fast["attention_mask"].sum())
            rows.append(
                {
                    "workload": name,
                    "source": source,
                    "k": k,
                    "sequences": len(sequences),
                    "tokens": n_tokens,
                    "utrbert_tokens_per_s": n_tokens / t_ours,
                    "bert_tokenizer_tokens_per_s": n_tokens / t_stock,
                    "ratio": t_stock / t_ours,
                    "ids_identical": identical,
                }
            )
            logger.info("%s k=%d ratio %.1f", name, k, t_stock / t_ours)
    return {
        "benchmark": "tokenizer_throughput",
        "what": "padded input_ids arrays from raw sequences (utrbert) vs pre-space-joined k-mers (BertTokenizer)",
        "repeats": repeats,
        "timing": "best of repeats, wall clock",
        "environment": environment(),
        "rows": rows,
    }


def print_table(result: dict) -> None:
    header = f"{'workload':<12} {'k':>2} {'seqs':>7} {'tokens':>10} {'utrbert tok/s':>14} {'BertTok tok/s':>14} {'ratio':>7}"
    lines = [header, "-" * len(header)]
    for row in result["rows"]:
        lines.append(
            f"{row['workload']:<12} {row['k']:>2} {row['sequences']:>7} {row['tokens']:>10} "
            f"{row['utrbert_tokens_per_s']:>14.3g} {row['bert_tokenizer_tokens_per_s']:>14.3g} {row['ratio']:>6.1f}x"
        )
    lines.append(f"device: {result['environment']['device']}; ids identical in every row")
    print("\n".join(lines))  # the table is this script's output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("UTRBERT_DATA"))
    parser.add_argument("--n", type=int, default=30000, help="sequences per workload")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_dir = Path(args.data_dir) if args.data_dir else None
    result = run(data_dir, args.n, args.repeats, args.k, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)


if __name__ == "__main__":
    main()
