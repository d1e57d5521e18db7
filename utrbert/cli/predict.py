"""``python -m utrbert predict``: scores of a fine-tuned classifier for every record of the user's file.

Contract::

    python -m utrbert predict --model DIR --input FASTA|TSV|CSV --out SCORES.tsv
        [--window-nt N [--stride-nt S]] [--batch-size 256] [--device cpu|cuda] [--precision fp32|bf16]

``--model`` is a fine-tuned classifier (``python -m utrbert finetune`` or a chapter's saved model); ``--input``
any FASTA (id = first header word) or a table with a ``sequence`` column (raw nucleotides or the original
space-separated k-mer text) and optional ``id`` and ``label`` columns. ``SCORES.tsv`` has one row per record:
``id``, ``score`` (P(label = 1)), ``length_nt`` and, when the input had labels, ``label``; record ids are kept and
every record gets a row. ``SCORES.tsv.provenance.json`` records the model, its weight digest, k and versions.

Long sequences: a classifier is trained on windows of one length (RBP-31: 101 nt, m6A: 41 nt), so by default a
record longer than the model window is refused, naming it (nothing is truncated). With ``--window-nt N`` each
record is cut into windows of N nt (``--stride-nt``, default N: no overlap; the last window is moved back to
full length), every window is scored, and the record's ``score`` is its highest window score; ``SCORES.tsv`` then
also has ``n_windows`` and ``best_window_start`` (0-based nt), and ``SCORES.windows.tsv`` every window's score.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["predict_records", "register"]

logger = logging.getLogger(__name__)


def predict_records(
    model_dir: str | os.PathLike[str],
    records: Sequence[Any],
    window_nt: int | None = None,
    stride_nt: int | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    precision: str = "fp32",
    progress: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Score ``records`` with the classifier in ``model_dir``: (one row per record, one row per window, provenance).

    Without ``window_nt`` a record longer than the model window raises naming the record; with it, a record's
    score is the highest of its windows' scores.
    """
    import numpy as np

    from utrbert.models.finetuning import EncodedSet, predict_scores
    from utrbert.models.model import checkpoint_identity, load_model
    from utrbert.runs.provenance import environment

    config_path = Path(model_dir) / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    if not any("SequenceClassification" in a for a in config.get("architectures") or []):
        raise ValueError(f"{model_dir}: not a fine-tuned classifier (config.json architectures: "
                         f"{config.get('architectures')}); fine-tune one with `python -m utrbert finetune`")  # fmt: skip
    if not records:
        raise ValueError("no records to score")
    model, tokenizer = load_model(model_dir, task="classification", num_labels=len(config.get("id2label", {})) or 2)
    encoding = tokenizer.encode_corpus([r.sequence for r in records], ids=[r.id for r in records])
    if window_nt is None:
        longest = int(np.argmax(encoding.n_kmers))
        if int(encoding.n_kmers[longest]) + 2 > tokenizer.model_max_length:
            raise ValueError(
                f"record {records[longest].id!r}: {len(records[longest].sequence)} nt is longer than the model window "
                f"({tokenizer.max_nucleotides} nt); give --window-nt (e.g. the length the classifier was trained on) "
                "to score it window by window"
            )
        cut = encoding.windows(window_nt=tokenizer.max_nucleotides, last="pad")
    else:
        cut = encoding.windows(window_nt=window_nt, stride_nt=stride_nt, last="shift")
    padded = cut.padded()
    data = EncodedSet(cut.record_ids, padded["input_ids"], padded["attention_mask"], np.zeros(len(cut), dtype=np.int64))
    scores = predict_scores(model, data, batch_size=batch_size, device=device, precision=precision, progress=progress)
    windows = [{**row, "score": float(score)} for row, score in zip(cut.table(), scores)]
    best: dict[int, dict[str, Any]] = {}
    counts: dict[int, int] = {}
    for index, row in zip(cut.record_index, windows):
        counts[index] = counts.get(index, 0) + 1
        if index not in best or row["score"] > best[index]["score"]:
            best[index] = row
    rows = []
    for index, record in enumerate(records):
        row = {"id": record.id, "score": best[index]["score"], "length_nt": len(record.sequence)}
        if window_nt is not None:
            row.update(n_windows=counts[index], best_window_start=best[index]["start"])
        if record.label is not None:
            row["label"] = record.label
        rows.append(row)
    provenance = {
        "what": "P(label = 1) of a fine-tuned classifier" + ("" if window_nt is None else ", highest over windows"),
        "model_dir": str(model_dir),
        "model": checkpoint_identity(model_dir),
        "k": tokenizer.k,
        "window_nt": window_nt,
        "stride_nt": stride_nt if window_nt is None or stride_nt is not None else window_nt,
        "n_records": len(records),
        "n_windows": len(windows),
        "precision": precision,
        "environment": environment(device),
    }
    return rows, windows, provenance


def _write_tsv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Rows as a tab-separated file with a header, written atomically (:func:`utrbert.runs.store.atomic_file`)."""
    from utrbert.runs.store import atomic_file

    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _main(args: argparse.Namespace) -> int:
    from utrbert.data.readers import read_sequences
    from utrbert.runs.store import atomic_write_json

    from utrbert.models.model import require_device
    from utrbert.runs.store import check_output

    try:
        check_output(args.out, args.overwrite, folder=False)
        require_device(args.device)
        records = read_sequences(args.input)
        rows, windows, provenance = predict_records(
            args.model, records, window_nt=args.window_nt, stride_nt=args.stride_nt, batch_size=args.batch_size,
            device=args.device, precision=args.precision,
        )  # fmt: skip
    except (ValueError, OSError) as exc:  # bad records and checkpoints name themselves
        logger.error("%s", exc)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    provenance["input"] = str(args.input)
    if args.window_nt is not None:
        _write_tsv(windows, args.out.with_name(args.out.name.removesuffix(".tsv") + ".windows.tsv"))
    _write_tsv(rows, args.out)
    atomic_write_json(args.out.with_name(args.out.name + ".provenance.json"), provenance)
    logger.info("scored %d records (%d windows) into %s", len(rows), len(windows), args.out)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser("predict", help="scores of a fine-tuned classifier for every record",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned classifier directory")
    parser.add_argument("--input", required=True, type=Path, help="FASTA or TSV/CSV of sequences with ids")
    parser.add_argument("--out", required=True, type=Path, help="scores, .tsv")
    parser.add_argument("--window-nt", type=int, default=None, help="score records window by window (nt)")
    parser.add_argument("--stride-nt", type=int, default=None, help="window step (default: --window-nt)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(func=_main)
