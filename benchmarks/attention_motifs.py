"""[CLS] attention extraction (streaming vs eager attention maps) and motif discovery at scale, timed.

Attention: :func:`utrbert.interpret.attention.cls_attention` (the layer-by-layer pass of
:mod:`utrbert.models.lean_forward`, temporaries one chunk of the batch at a time, computing only the [CLS] query
row of the chosen layer) against the usual way with eager attention and ``output_attentions=True``, batch by
batch, keeping the last layer's [CLS] row summed over heads (BERT-RBP's ``analyze_motif``; DNABERT instead kept
every N x 12 x L x L map, whose size the table also states). Same model, inputs and batch size; the per-k-mer
scores are asserted equal (1e-5). Each method runs in a fresh process, after one warm-up window (lazy kernels,
thread pools), so its peak resident memory is its own; the table gives the peak *above* the process's memory
after loading the model and inputs.

Motif discovery: :func:`utrbert.motifs.discovery.discover_motifs` with the motif chapter's settings on saved inputs
of 1,000, 10,000 and 100,000 real RBP-31 test windows (half positives, with the [CLS] attention chapter 03 saved
for them), each size in a fresh process, plus TOMTOM of the motifs found against ATtRACT human. The inputs are
files another implementation can be timed on (format in ``benchmarks/README.md``).

Usage::

    python benchmarks/attention_motifs.py --parts attention --length 510 --sizes small:1000 base:128 --batch-size 32
    UTRBERT_DATA=... python benchmarks/attention_motifs.py --parts motifs [--motif-sizes 1000 10000 100000]
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

from utrbert.interpret.attention import LEAN_CHUNK_TOKENS
from utrbert.runs.provenance import environment
from utrbert.runs.store import atomic_write_json

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
    tokenizer = KmerTokenizer(k=3)
    encoding = tokenizer.encode_corpus(_sequences(n, length, 0))
    torch.set_grad_enabled(False)

    def run(encoded: Any) -> np.ndarray:
        if method == "streaming":
            return cls_attention(model, encoded, batch_size=batch_size, progress=False).token_scores
        padded = encoded.padded()
        ids, mask = torch.from_numpy(padded["input_ids"]), torch.from_numpy(padded["attention_mask"])
        rows = []
        for start in range(0, len(ids), batch_size):
            out = model(input_ids=ids[start:start + batch_size], attention_mask=mask[start:start + batch_size],
                        output_attentions=True)
            rows.append(out.attentions[-1][:, :, 0, :].sum(dim=1).numpy())
        return np.concatenate(rows)[:, 1:-1]  # drop [CLS] and [SEP]: the k-mer tokens (all windows have one length)

    run(tokenizer.encode_corpus(_sequences(1, length, 1)))  # one window first: lazy kernels and thread pools
    baseline_rss = _rss_mb()
    _reset_peak()
    started = time.perf_counter()
    scores = run(encoding)
    seconds = time.perf_counter() - started
    queue.put({"seconds": seconds, "peak_above_baseline_mb": max(0.0, _peak_mb() - baseline_rss),
               "baseline_rss_mb": baseline_rss, "scores": np.asarray(scores, dtype=np.float32),
               "layers": config.num_hidden_layers, "heads": config.num_attention_heads, "tokens": int(encoding.padded()["input_ids"].shape[1])})


def _run_isolated(target: Any, *args: Any) -> dict[str, Any]:
    """``target(*args, queue)`` in a fresh process; its result, or an error when the process dies without one."""
    import queue as queues

    context = mp.get_context("spawn")
    channel = context.Queue()
    process = context.Process(target=target, args=(*args, channel))
    process.start()
    while True:
        try:
            result = channel.get(timeout=5)
            break
        except queues.Empty:
            if not process.is_alive():
                raise RuntimeError(f"{target.__name__}{args} ended without a result "
                                   f"(exit code {process.exitcode}); see its traceback above") from None
    process.join()
    return result


def attention_rows(sizes: list[str], n: int, length: int, batch_size: int, threads: int) -> list[dict[str, Any]]:
    """One row per model size (``"small"``, or ``"base:256"`` for another number of windows than ``n``)."""
    rows = []
    for entry in sizes:
        size, _, count = entry.partition(":")
        windows = int(count) if count else n
        eager = _run_isolated(_attention_worker, "eager", size, windows, length, batch_size, threads)
        streaming = _run_isolated(_attention_worker, "streaming", size, windows, length, batch_size, threads)
        difference = float(np.nanmax(np.abs(eager["scores"] - streaming["scores"])))
        if difference > 1e-5:
            raise AssertionError(f"{size}: streaming and eager scores differ by {difference:g}")
        kept_maps_gb = windows * eager["layers"] * eager["heads"] * eager["tokens"] ** 2 * 8 / 1e9
        rows.append({
            "model": size, "sequences": windows, "length_nt": length, "batch_size": batch_size,
            "eager_s": eager["seconds"], "streaming_s": streaming["seconds"],
            "speedup": eager["seconds"] / streaming["seconds"],
            "eager_peak_mb": eager["peak_above_baseline_mb"], "streaming_peak_mb": streaming["peak_above_baseline_mb"],
            "memory_ratio": eager["peak_above_baseline_mb"] / max(streaming["peak_above_baseline_mb"], 1e-3),
            "max_abs_difference": difference, "dnabert_all_maps_float64_gb": kept_maps_gb,
            "streaming_chunk_tokens": LEAN_CHUNK_TOKENS,
        })
    return rows


# ----- motif discovery at scale ------------------------------------------------------------------------------

MOTIF_INPUTS = Path(__file__).resolve().parent / "inputs" / "motifs"


def write_motif_inputs(data_dir: Path, attention_dir: Path, n: int, out_dir: Path) -> dict[str, Any]:
    """Write one motif-discovery input of ``n`` sequences (half positives) and return its description.

    Real RBP-31 test windows (101 nt): the positives of each set with the [CLS] attention the RBP chapter saved
    for them (``<attention_dir>/<set>.npz``) and as many of the set's test negatives, sets taken in number order
    until ``n`` is reached; when all sets are used up the same windows come again with ids ``<id>#r<copy>``.
    Files (see ``benchmarks/README.md``): ``sequences.fa`` (labelled FASTA, ``>id class:1``), ``scores.npz``
    (a :mod:`utrbert.interpret.score_files` file: the positives' per-nucleotide scores by id), and the same
    input in DNABERT's ``motif_utils`` layout, ``dev.tsv`` (``sequence`` as 3-mer text in DNA letters, as DNABERT reads it, ``label``) with
    ``atten.npy`` (rows in ``dev.tsv`` order, negatives' rows 0).
    """
    from utrbert.data.readers import list_rbp31_sets, read_labeled_fasta, read_rbp31_split
    from utrbert.interpret.score_files import read_scores, write_scores
    from utrbert.tokens.kmers import seq_to_kmers

    per_class = n // 2
    positives, negatives, scores, used = [], [], {}, []
    rbp31 = data_dir / "rbp31"
    for name in list_rbp31_sets(rbp31):
        path = attention_dir / f"{name}.npz"
        if not path.is_file():
            continue
        saved = read_scores(path)
        test = read_rbp31_split(rbp31, name, "test")
        number = name.split("_")[0]
        pos = [r for r in test if r.label == 1 and r.id in saved]
        neg = [r for r in test if r.label == 0][: len(pos)]
        positives += [(f"{number}:{r.id}", r.sequence) for r in pos[: len(neg)]]
        negatives += [(f"{number}:{r.id}", r.sequence) for r in neg]
        scores.update({f"{number}:{r.id}": saved[r.id] for r in pos[: len(neg)]})
        used.append(name)
        if len(positives) >= per_class:
            break
    if not positives:
        raise FileNotFoundError(f"no RBP-31 attention files in {attention_dir} (run the RBP chapter first)")
    base_pos, base_neg, copies = list(positives), list(negatives), 0
    while len(positives) < per_class:
        copies += 1
        positives += [(f"{i}#r{copies}", s) for i, s in base_pos]
        negatives += [(f"{i}#r{copies}", s) for i, s in base_neg]
        scores.update({f"{i}#r{copies}": scores[i] for i, _ in base_pos})
    positives, negatives = positives[:per_class], negatives[: n - per_class]
    scores = {i: scores[i] for i, _ in positives}
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [(i, s, 1) for i, s in positives] + [(i, s, 0) for i, s in negatives]
    (out_dir / "sequences.fa").write_text("".join(f">{i} class:{label}\n{s}\n" for i, s, label in rows), encoding="ascii")
    write_scores(scores, out_dir / "scores.npz", {"source": "RBP-31 test positives, [CLS] attention saved by chapter 03",
                                                  "sets": used, "copies": copies})
    (out_dir / "dev.tsv").write_text("sequence\tlabel\n" + "".join(f"{' '.join(seq_to_kmers(s, 3)).replace('U', 'T')}\t{label}\n"
                                                                  for _, s, label in rows), encoding="ascii")
    width = max(len(s) for _, s, _ in rows)
    atten = np.zeros((len(rows), width), dtype=np.float32)
    for row, (i, s, label) in enumerate(rows):
        if label:
            atten[row, : len(s)] = scores[i]
    np.save(out_dir / "atten.npy", atten)
    check = read_labeled_fasta(out_dir / "sequences.fa")  # what the package reads is what was meant
    assert [r.id for r in check] == [i for i, _, _ in rows]
    return {"sequences": len(rows), "positives": len(positives), "negatives": len(negatives), "sets": len(used),
            "repeats": copies, "length_nt": width}


def _motif_worker(input_dir: str, database_path: str, queue: Any) -> None:
    from utrbert.data.readers import read_labeled_fasta
    from utrbert.interpret.score_files import read_scores
    from utrbert.motifs.discovery import MotifSettings, discover_motifs
    from utrbert.motifs.matching import tomtom_matches
    from utrbert.motifs.meme import read_meme

    started = time.perf_counter()
    records = read_labeled_fasta(Path(input_dir) / "sequences.fa")
    scores = read_scores(Path(input_dir) / "scores.npz")
    read_s = time.perf_counter() - started
    positives = [r for r in records if r.label == 1]
    negatives = [r for r in records if r.label == 0]
    baseline_rss = _rss_mb()
    _reset_peak()
    started = time.perf_counter()
    found = discover_motifs(positives, negatives, scores, MotifSettings(ties="best"))
    seconds = time.perf_counter() - started
    peak = max(0.0, _peak_mb() - baseline_rss)
    database = read_meme(database_path)
    tomtom_matches(found.pwms[:1], database[:30])  # compile numba kernels outside the timing
    started = time.perf_counter()
    matches = tomtom_matches(found.pwms, database)
    tomtom_s = time.perf_counter() - started
    queue.put({"read_s": read_s, "seconds": seconds, "peak_above_baseline_mb": peak,
               "candidates": found.counts["n_candidates"], "motifs": found.counts["n_motifs"],
               "consensus": [p.consensus for p in found.pwms[:5]], "tomtom_s": tomtom_s,
               "tomtom_database_motifs": len(database), "tomtom_pairs": len(matches)})


def motif_scale_rows(sizes: list[int], data_dir: Path, attention_dir: Path, inputs_dir: Path,
                     database: Path) -> list[dict[str, Any]]:
    """:func:`~utrbert.motifs.discovery.discover_motifs` (the book's settings) on saved inputs of each size, each in a
    fresh process; the cost per added sequence between consecutive sizes says whether it grows linearly."""
    rows: list[dict[str, Any]] = []
    for n in sizes:
        folder = inputs_dir / f"n{n}"
        described = write_motif_inputs(data_dir, attention_dir, n, folder)
        result = _run_isolated(_motif_worker, str(folder), str(database))
        row = {"step": "discover_motifs", **described, "inputs": folder.relative_to(inputs_dir.parent).as_posix(),
               **result}
        if rows:
            previous = rows[-1]
            row["ms_per_added_sequence"] = 1e3 * (row["seconds"] - previous["seconds"]) / (n - previous["sequences"])
        row["ms_per_sequence"] = 1e3 * row["seconds"] / n
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=["attention", "motifs"], default=["attention", "motifs"],
                        help="what to run; the JSON keeps the other part's rows from their own run")
    parser.add_argument("--n", type=int, default=10_000, help="windows for the attention rows")
    parser.add_argument("--length", type=int, default=101)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--motif-sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument("--attention-dir", type=Path, default=Path("results/rbp31_attention"),
                        help="the RBP chapter's saved attention of the RBP-31 test positives")
    parser.add_argument("--inputs-dir", type=Path, default=MOTIF_INPUTS, help="where the motif inputs are written")
    parser.add_argument("--database", default="motifs/attract_meme/ATtRACT/Homo_sapiens.meme",
                        help="MEME file for the TOMTOM timing, relative to the data directory")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ["UTRBERT_DATA"]) if os.environ.get("UTRBERT_DATA") else None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {"benchmark": "attention_motifs"}
    for legacy in ("environment", "threads"):  # one run for both parts, before each part kept its own run record
        result.pop(legacy, None)
    lines = []
    if "attention" in args.parts:
        attention = attention_rows(args.sizes, args.n, args.length, args.batch_size, args.threads)
        result["attention_run"] = {"environment": environment("cpu"), "threads": args.threads}
        result["attention"] = attention
        header = (f"{'model':<7}{'windows':>8}{'eager s':>9}{'stream s':>10}{'speedup':>9}{'eager MB':>10}"
                  f"{'stream MB':>11}{'mem ratio':>11}{'max diff':>10}")
        lines += [f"[CLS] attention, {args.length}-nt windows, batch {args.batch_size}, {args.threads} threads", header]
        for row in attention:
            lines.append(f"{row['model']:<7}{row['sequences']:>8,}{row['eager_s']:>9.1f}{row['streaming_s']:>10.1f}"
                         f"{row['speedup']:>8.2f}x{row['eager_peak_mb']:>10.0f}{row['streaming_peak_mb']:>11.0f}"
                         f"{row['memory_ratio']:>10.1f}x{row['max_abs_difference']:>10.1e}")
        lines.append("")
    if "motifs" in args.parts:
        if args.data_dir is None:
            parser.error("the motif rows read RBP-31 from the data directory: set UTRBERT_DATA or --data-dir")
        motifs = motif_scale_rows(args.motif_sizes, args.data_dir, args.attention_dir, args.inputs_dir,
                                  args.data_dir / args.database)
        result["motif_run"] = {"environment": environment("cpu"), "threads": "numpy/numba defaults (2 cores)",
                               "settings": "MotifSettings(ties='best'): the book's motif chapter defaults",
                               "inputs": "see benchmarks/README.md, 'Motif discovery inputs'"}
        result["motifs"] = motifs
        lines += [f"{'sequences':>10}{'sets':>6}{'repeats':>8}{'candidates':>11}{'motifs':>7}{'seconds':>9}"
                  f"{'ms/seq':>8}{'ms/added':>9}{'peak MB':>9}{'TOMTOM s':>9}"]
        for row in motifs:
            added = row.get("ms_per_added_sequence")
            lines.append(f"{row['sequences']:>10,}{row['sets']:>6}{row['repeats']:>8}{row['candidates']:>11,}"
                         f"{row['motifs']:>7}{row['seconds']:>9.1f}{row['ms_per_sequence']:>8.3f}"
                         f"{'-' if added is None else f'{added:.3f}':>9}{row['peak_above_baseline_mb']:>9.0f}"
                         f"{row['tomtom_s']:>9.2f}")
    result["notes"] = ("peak memory is the peak resident set above the process after loading model and inputs; "
                       "times from a CPU are for ratios and growth only")
    logger.info("\n".join(lines))
    atomic_write_json(args.out, result, indent=1)
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
