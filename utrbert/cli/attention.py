"""``python -m utrbert attention``: per-nucleotide [CLS] attention scores of the user's sequences.

Contract::

    python -m utrbert attention --model DIR --input FASTA|TSV --out SCORES [--layers L ...]
        [--batch-size N] [--device cpu|cuda]

``--input`` is any FASTA (id = first header word) or a TSV/CSV with ``sequence`` and optional ``id`` columns.
``--layers`` picks the encoder layers whose [CLS] attention is summed (default: the last; negative indices
count from the end). ``SCORES`` ends in ``.tsv`` (``id``, comma-separated ``scores``) or ``.npz`` (``ids``,
NaN-padded ``scores``); the contribution of each k-mer (the paper's Eq. 8) is mapped to nucleotides by
averaging the k-mers covering each position. ``SCORES.provenance.json`` records model, k, layers and versions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["run_attention", "register"]

logger = logging.getLogger(__name__)


def run_attention(
    model_dir: str | os.PathLike[str],
    records: Sequence[Any],
    layers: Sequence[int] = (-1,),
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-nucleotide [CLS] attention (``id -> array``) of ``records`` and its provenance."""
    from utrbert.interpret.attention import cls_attention
    from utrbert.models.model import load_encoder_checkpoint
    from utrbert.runs.provenance import environment

    model, tokenizer = load_encoder_checkpoint(model_dir)
    encoding = tokenizer.encode_corpus([r.sequence for r in records], ids=[r.id for r in records])
    attention = cls_attention(model, encoding, batch_size=batch_size, device=device, layers=tuple(layers),
                              progress=progress)
    provenance = {
        "what": "[CLS] attention per nucleotide (Eq. 8: summed over heads and chosen layers; k-mers averaged)",
        "model_dir": str(model_dir),
        **attention.provenance,
        "layers": list(attention.layers),
        "heads": list(attention.heads),
        "layer_reduction": attention.layer_reduction,
        "n_sequences": len(records),
        "environment": environment(device),
    }
    return attention.nucleotide_score_map(), provenance


def _main(args: argparse.Namespace) -> int:
    from utrbert.data.readers import read_sequences
    from utrbert.interpret.score_files import write_scores

    from utrbert.models.model import require_device
    from utrbert.runs.store import check_output

    try:
        check_output(args.out, args.overwrite, folder=False)
        require_device(args.device)
        records = read_sequences(args.input)
        scores, provenance = run_attention(args.model, records, layers=args.layers, batch_size=args.batch_size,
                                           device=args.device)
    except (ValueError, OSError, IndexError) as exc:  # bad records, checkpoints and layers name themselves
        logger.error("%s", exc)
        return 2
    provenance["input"] = str(args.input)
    path = write_scores(scores, args.out, provenance)
    logger.info("wrote [CLS] attention of %d sequences to %s", len(scores), path)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``attention`` subcommand."""
    parser = subparsers.add_parser("attention", help="per-nucleotide [CLS] attention scores of sequences",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="checkpoint directory (fine-tuned or pretrained)")
    parser.add_argument("--input", required=True, type=Path, help="FASTA or TSV/CSV of sequences with ids")
    parser.add_argument("--out", required=True, type=Path, help="score file: .tsv, .tsv.gz or .npz")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out score file")
    parser.add_argument("--layers", type=int, nargs="+", default=[-1], help="encoder layers to sum (default: -1)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(func=_main)
