"""``python -m utrbert mutagenesis``: score every single-nucleotide substitution of the user's sequences.

Contract::

    python -m utrbert mutagenesis --model DIR (--seq SEQ | --fasta FILE) --out DIR [--batch-size N]
        [--device cpu|cuda] [--plots]

``--model`` is a fine-tuned binary classifier (for example one the RBP benchmark keeps under
``artifacts/rbp31/<set>/pretrained_model``). ``--fasta`` takes any FASTA or TSV/CSV with ids (see
:func:`utrbert.data.readers.read_sequences`). Writes ``DIR/variants.tsv`` (``id, position`` (0-based), ``ref, alt,
score, delta``), ``DIR/summary.tsv`` (per sequence: reference score, the most damaging substitution, ...),
``DIR/run.json`` (model, inputs, versions) and, with ``--plots``, ``DIR/<id>.png`` heatmaps.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import Any

from utrbert.runs.store import atomic_directory, atomic_write_json, atomic_write_table

__all__ = ["register"]

logger = logging.getLogger(__name__)


def _main(args: argparse.Namespace) -> int:
    from utrbert.models.model import load_encoder_checkpoint, require_device
    from utrbert.interpret.mutagenesis import score_sequences
    from utrbert.data.readers import read_sequences
    from utrbert.data.records import SequenceRecord
    from utrbert.runs.store import check_output

    try:
        check_output(args.out, args.overwrite, owned=("variants.tsv", "summary.tsv", "run.json", "*.png"))
        require_device(args.device)
        records = read_sequences(args.fasta) if args.fasta else [SequenceRecord("sequence", args.seq, None)]
        model, tokenizer = load_encoder_checkpoint(args.model)
        if model.config.num_labels != 2 or "SequenceClassification" not in type(model).__name__:
            raise ValueError(f"{args.model}: mutagenesis needs a fine-tuned binary classifier checkpoint")
        variants, summary = score_sequences(model, tokenizer, records, args.batch_size, args.device)
    except (ValueError, OSError) as exc:
        logger.error("%s", exc)
        return 2
    with atomic_directory(args.out) as out:  # replaces an earlier run's folder whole
        _write(args, records, variants, summary, out)
    logger.info("scored %d variants of %d sequences into %s", len(variants), len(records), args.out)
    return 0


def _write(args: argparse.Namespace, records: list[Any], variants: Any, summary: Any, out: Path) -> None:
    """The variant and summary tables, the run record and (``--plots``) one heatmap per sequence, into ``out``."""
    from utrbert.interpret.mutagenesis import mutagenesis_matrix
    from utrbert.runs.provenance import environment

    atomic_write_table(variants, out / "variants.tsv", sep="\t", index=False, float_format="%.6g")
    atomic_write_table(summary, out / "summary.tsv", sep="\t", index=False, float_format="%.6g")
    run = {"model": str(args.model), "input": str(args.fasta) if args.fasta else "--seq",
           "n_sequences": len(records), "n_variants": len(variants), "environment": environment(args.device)}
    atomic_write_json(out / "run.json", run, sort_keys=False)
    if args.plots:
        import matplotlib.pyplot as plt

        from utrbert.book.plotting import plot_mutagenesis

        for record in records:
            fig, ax = plt.subplots(figsize=(max(6, 0.12 * len(record.sequence)), 2.2), layout="constrained")
            plot_mutagenesis(mutagenesis_matrix(variants[variants["id"] == record.id]), record.sequence, ax=ax,
                             title=record.id)
            fig.savefig(out / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', record.id)}.png", dpi=120)
            plt.close(fig)


def register(subparsers: Any) -> None:
    """Add the ``mutagenesis`` subcommand."""
    parser = subparsers.add_parser("mutagenesis", help="in-silico saturation mutagenesis with a fine-tuned classifier",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned classifier checkpoint directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seq", help="one sequence (ACGU/T, N allowed)")
    source.add_argument("--fasta", type=Path, help="FASTA or TSV/CSV of sequences with ids")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--plots", action="store_true", help="also draw one heatmap per sequence")
    parser.set_defaults(func=_main)
