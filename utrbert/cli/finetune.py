"""``python -m utrbert finetune``: fine-tune and evaluate a binary classifier on the user's own files.

Contract::

    python -m utrbert finetune --train TRAIN --test TEST [--valid VALID] --out DIR [--model DIR | --scratch]
        [--size tiny|mini|small|base] [--k 3] [--epochs N] [--max-train N] [--seed S]

A thin wrapper over :func:`utrbert.models.finetune_run.run_finetune` (file formats and outputs are described
there).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from utrbert.models.finetune_run import SIZES, run_balanced_finetune, run_finetune, write_run

__all__ = ["register"]

logger = logging.getLogger(__name__)


FINETUNE_OUTPUTS = ("metrics.json", "predictions.tsv", "model")
"""What ``finetune`` writes into ``--out``."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` subcommand to the ``python -m utrbert`` parser."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a binary BERT classifier on labelled sequences and evaluate it on a test file",
        description="Fine-tune and evaluate a binary BERT classifier on labelled sequence files.",
    )
    parser.add_argument("--train", required=True, type=Path, help="labelled training sequences (FASTA, TSV or CSV)")
    parser.add_argument("--test", required=True, type=Path, help="labelled test sequences (FASTA, TSV or CSV)")
    parser.add_argument("--valid", type=Path, default=None, help="labelled validation sequences (default: 10%% of TRAIN)")
    parser.add_argument("--out", required=True, type=Path, help="output folder for metrics.json and predictions.tsv")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, default=None, help="pretrained checkpoint directory (3UTRBERT or HF format)")
    source.add_argument("--scratch", action="store_true", help="random initialisation (the default without --model)")
    parser.add_argument("--size", choices=SIZES, default="tiny", help="model size for --scratch")
    parser.add_argument("--k", type=int, default=None, help="k-mer size (default 3; must match --model)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    parser.add_argument("--max-train", type=int, default=None, help="use a stratified subsample of N training records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--balanced", action="store_true",
                        help="unbalanced TRAIN: one model per balanced subset (majority split into minority-sized "
                             "chunks), scores averaged (the paper's protocol)")
    parser.add_argument("--save-model", action="store_true",
                        help="also write the fine-tuned classifier to OUT/model (for `python -m utrbert predict`)")
    parser.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out")
    parser.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from utrbert.models.finetuning import FinetuneConfig, binary_labels, require_both_classes
    from utrbert.data.readers import read_labeled_sequences

    if args.model is not None and args.size != "tiny":
        logger.warning("--size is ignored with --model (the checkpoint fixes the architecture)")
    if args.save_model and args.balanced:
        logger.error("--save-model keeps one classifier; --balanced averages several (save them one run at a time)")
        return 2
    from utrbert.models.model import require_device

    from utrbert.runs.store import check_output

    try:
        check_output(args.out, args.overwrite, owned=FINETUNE_OUTPUTS)
        require_device(args.device)
        train = read_labeled_sequences(args.train, k=args.k)
        test = read_labeled_sequences(args.test, k=args.k)
        valid = read_labeled_sequences(args.valid, k=args.k) if args.valid is not None else None
        for path, records in ((args.train, train), (args.test, test), (args.valid, valid)):
            if records is not None:  # before any compute: both classes in every file, the file named
                require_both_classes(binary_labels(records, str(path)), str(path))
        config = FinetuneConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            peak_lr=args.lr,
            seed=args.seed,
            device=args.device,
            precision="bf16" if args.bf16 else "fp32",
        )
        runner = run_balanced_finetune if args.balanced else run_finetune
        run = runner(
            train, test, valid, model_dir=args.model, size=args.size, k=args.k, config=config, max_train=args.max_train
        )
    except (ValueError, OSError) as exc:  # DataFormatError, SequenceError: ValueErrors; outputs: FileExists/Permission
        logger.error("%s", exc)
        return 2
    from utrbert.runs.store import atomic_directory

    with atomic_directory(args.out) as building:  # replaces an earlier run's folder whole: no stale model/ stays
        write_run(building, run.metrics, run.predictions)
        if args.save_model:
            run.model.save_pretrained(building / "model")
            run.tokenizer.save_pretrained(building / "model")
    out = args.out
    metrics = run.metrics
    logger.info(
        "test AUROC %.4f, AUPRC %.4f, MCC %.4f (n_test %d); wrote %s",
        metrics["auroc"], metrics["auprc"], metrics["mcc"], metrics["n_test"], out,
    )
    return 0
