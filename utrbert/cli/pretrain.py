"""``python -m utrbert pretrain``: the pretraining chapter's recipe on your own 3'UTRs, resumable.

Contract::

    python -m utrbert pretrain (--corpus FASTA [FASTA ...] | --book-corpus) --out DIR
        [--from CHECKPOINT] (--tokens N | --steps N) [--ladder-tokens N ...] [--max-minutes M]
        [--size small] [--k 3] [--window-nt 128] [--batch-size 32] [--peak-lr 5e-4] [--warmup-steps 300]
        [--seed 0] [--precision auto|fp32|bf16] [--fast-dropout] [--device cpu|cuda] [--export DIR]

``--corpus`` reads 3'UTR FASTA files (the record id is the gene: give one record per gene, or split genes
yourself); ``--book-corpus`` builds the book's corpus (longest-ORF 3'UTRs of DM3Loc, ``UTRBERT_DATA``).
Genes are split 95/5 into training and held-out windows. ``--from`` continues from an exported checkpoint
(``models/utrbert-small-k3``): fresh optimizer and schedule, its ``tokens_seen`` counted. ``--tokens`` is this
run's budget (converted to optimizer steps); ``--ladder-tokens`` are *total* budgets whose checkpoints are
kept. Run the same command again to resume after an interruption or ``--max-minutes``; other settings into
the same ``--out`` are refused. ``--export`` writes the final checkpoint as fp16 with a model card once the
schedule is complete.
"""

from __future__ import annotations

import argparse
import json
import logging

__all__ = ["register"]

logger = logging.getLogger(__name__)


def _main(args: argparse.Namespace) -> int:
    from utrbert.models.pretraining_recipe import (
        PretrainingRecipe,
        book_utr_records,
        export_run_checkpoint,
        fasta_utr_records,
        run_pretraining,
    )
    from utrbert.data.registry import resolve_data_dir

    recipe = PretrainingRecipe(
        size=args.size, k=args.k, window_nt=args.window_nt, batch_size=args.batch_size, peak_lr=args.peak_lr,
        warmup_steps=args.warmup_steps, seed=args.seed, precision=args.precision, device=args.device,
        position_init=args.position_init, fast_dropout=args.fast_dropout,
    )  # fmt: skip
    from utrbert.models.model import require_device

    try:
        require_device(args.device)
        if args.book_corpus:
            records, name = book_utr_records(resolve_data_dir(None)), "DM3Loc 3'UTRs (longest-ORF calls)"
        else:
            records, name = fasta_utr_records(args.corpus), ", ".join(args.corpus)
        outcome = run_pretraining(
            records, args.out, recipe, tokens=args.tokens, steps=args.steps, init_from=args.init_from,
            ladder_tokens=args.ladder_tokens, max_minutes=args.max_minutes, corpus_name=name,
        )  # fmt: skip
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        logger.error("%s", exc)
        return 2
    logger.info("step %d of %d, %s tokens seen", outcome["steps_done"], outcome["plan"]["max_steps"],
                f"{outcome['tokens_seen']:,}")  # fmt: skip
    if not outcome["finished"]:
        logger.info("not finished: run the same command again to continue")
        return 0
    if args.export:
        exported = export_run_checkpoint(args.out, outcome["steps_done"], args.export, {"corpus": name})
        logger.info("exported %s", exported)
    print(json.dumps({"steps": outcome["steps_done"], "tokens_seen": outcome["tokens_seen"]}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pretrain`` subcommand."""
    parser = subparsers.add_parser("pretrain", help="masked-LM pretraining on 3'UTRs (resumable)",
                                   description=__doc__.split("\n\n")[0])  # fmt: skip
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", nargs="+", help="3'UTR FASTA files")
    source.add_argument("--book-corpus", action="store_true", help="the book's DM3Loc 3'UTRs (UTRBERT_DATA)")
    parser.add_argument("--out", required=True, help="run directory (checkpoints, train_log.jsonl, run.json)")
    parser.add_argument("--from", dest="init_from", default=None, help="exported checkpoint to continue from")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--tokens", type=float, help="this run's token budget (e.g. 6.5e7)")
    budget.add_argument("--steps", type=int, help="optimizer steps")
    parser.add_argument("--ladder-tokens", type=float, nargs="*", default=[], help="total budgets to keep")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this")
    from utrbert.models.pretraining_recipe import PretrainingRecipe

    recipe = PretrainingRecipe()  # the defaults are the recipe's (the book's cpu recipe)
    parser.add_argument("--size", default=recipe.size)
    parser.add_argument("--k", type=int, default=recipe.k)
    parser.add_argument("--window-nt", type=int, default=recipe.window_nt)
    parser.add_argument("--position-init", default=recipe.position_init, choices=["sinusoidal", "random"])
    parser.add_argument("--batch-size", type=int, default=recipe.batch_size)
    parser.add_argument("--peak-lr", type=float, default=recipe.peak_lr)
    parser.add_argument("--warmup-steps", type=int, default=recipe.warmup_steps)
    parser.add_argument("--seed", type=int, default=recipe.seed)
    parser.add_argument("--precision", default=recipe.precision, choices=["auto", "fp32", "bf16"])
    parser.add_argument("--fast-dropout", action="store_true",
                        help="dropout masks from cheaper random numbers (same distribution; faster on a CPU)")
    parser.add_argument("--device", default=recipe.device)
    parser.add_argument("--export", default=None, help="write the finished run's fp16 checkpoint here")
    parser.set_defaults(func=_main)
