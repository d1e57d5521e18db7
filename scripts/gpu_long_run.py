#!/usr/bin/env python3
"""Finish the book's long pretraining run on a lent GPU, and the work that needs the finished model, in one call.

The long run of chapter ``02_pretraining`` (``profiles/cpu.yaml``: ``run_state_dir``, ``init_from``) spans
sessions on a CPU. When a session is lent a GPU for a few minutes, this script carries what the run needs to the
machine, continues it there with exact resume, and brings back what the chapter reads, in three steps::

    python scripts/gpu_long_run.py bundle [--bundle .gpurun]          # here: pack the run state and its data
    python scripts/gpu_long_run.py run --bundle .gpurun --out $OUT    # there (python3 of the image), one call
    python scripts/gpu_long_run.py unpack DIR                         # here: DIR holds what came back

``bundle`` writes (into a folder that git ignores, 64 MiB at most with the code): the saved run state
(:func:`~utrbert.models.pretraining_recipe.save_run_state`'s folder) as ``state.tar.xz``; the corpus as a FASTA
of the book's 3'UTRs named by gene (``utr3.fa.gz``: :func:`~utrbert.models.pretraining_recipe.fasta_utr_records`
reads back the same training windows, which the resume checks by digest); the run's initial checkpoint
(``init/``, whose digest the run's plan holds); the RBP-31 panel sets of the budget curve (``rbp31/``) and
``bundle.json`` (the chapter's panel settings, read from the profile, and digests of everything).

``run`` works to a deadline (``--budget-s``), each stage fail-soft and in order of value: (1) continue the run
(bf16 on the GPU; the plan, data and trajectory are checked as in any resume) for at most ``--train-minutes``,
then pack the run's latest state; (2) when the run is finished, export the final ladder rung (fp16, held-out
masked accuracy at 128 and 510 nt); (3) ``scripts/gpu_check.py`` (env, GPU tests, throughput benchmark);
(4) the rung's fine-tuning items on the panel and its frozen-embedding probes (resumable items: what does not
fit is computed later by the chapter). ``$OUT`` gets at most 8 files: ``summary.json``, ``session.log``,
``state.tar.xz.part-*``, ``rung.tar``, ``gpu_check.tar`` and ``items.tar``.

``unpack`` puts them where the chapter looks: the state into the profile's ``run_state_dir`` (the chapter
restores it and, the run being finished, exports the reference checkpoint), the rung under ``ladder_dir``, the
items under ``budget_results_dir``; and the gpu check's files under ``scratch/gpu-check``.

``run --dry-run`` does the same on the CPU with a few seconds of training and a tiny panel (tests and CI).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # the lent machine runs the script from a bare copy of the tree
    sys.path.insert(0, str(REPO_ROOT))

logger = logging.getLogger("gpu_long_run")

CHAPTER = "02_pretraining"
PART_BYTES = 15 * 2**20
"""Size of the pieces of the packed run state (files that come back from the machine are at most 16 MiB)."""
STATE_ARCHIVE = "state.tar.xz"


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chapter_parameters(profile: str = "cpu") -> dict[str, Any]:
    """The pretraining chapter's parameters in ``profile`` as the runner gives them, paths made absolute."""
    from utrbert.book.runner import declared_parameters, load_profile, resolve_parameters

    template = REPO_ROOT / "notebooks" / f"{CHAPTER}.ipynb"
    declared = declared_parameters(template)
    cells = json.loads(template.read_text(encoding="utf-8"))["cells"]
    defaults: dict[str, Any] = {}  # the template's own values (its parameters cell is plain assignments)
    exec("".join(next(c["source"] for c in cells if c["cell_type"] == "code")), {}, defaults)
    params = defaults | resolve_parameters(load_profile(profile), CHAPTER, declared, repo_root=REPO_ROOT,
                                output_dir=REPO_ROOT / "book")  # fmt: skip
    paths = ("run_state_dir", "init_from", "export_dir", "ladder_dir", "budget_results_dir")
    return {key: str(REPO_ROOT / value) if key in paths and value else value for key, value in params.items()}


# ---------------------------------------------------------------------------------------------------- bundle


def pack_directory(source: Path, archive: Path, arcname: str) -> Path:
    """``source`` as an xz-compressed tar file named ``arcname`` inside."""
    with tarfile.open(archive, "w:xz", preset=6) as tar:
        tar.add(source, arcname=arcname)
    return archive


def write_corpus_fasta(records: list[Any], path: Path) -> Path:
    """The 3'UTR records as gzipped FASTA, each named by its gene (so a reader that takes the id as the gene
    splits the genes exactly as the original records do)."""
    from utrbert.data.corpus import gene_key

    genes = [gene_key(r) for r in records]
    if len(set(genes)) != len(genes):
        raise ValueError("the corpus has several records per gene; a FASTA named by gene cannot hold it")
    with gzip.open(path, "wt", encoding="ascii", compresslevel=9) as handle:
        for gene, record in zip(genes, records):
            handle.write(f">{gene}\n{record.sequence}\n")
    return path


def bundle(target: Path, profile: str, data_dir: str | None, rungs: list[Path] | None = None,
           extra_sets: bool = False) -> dict[str, Any]:
    """Write the bundle that ``run`` needs into ``target`` (replacing it); return its description.

    With ``rungs`` (exported ladder rungs) the bundle holds no run state: ``run`` computes those rungs' panel
    items and probes only.
    """
    from utrbert.data.readers import find_rbp31_set, list_rbp31_sets
    from utrbert.data.registry import dataset_path, resolve_data_dir
    from utrbert.models.pretraining_recipe import book_utr_records

    params = chapter_parameters(profile)
    state = Path(params["run_state_dir"])
    if not rungs and not (state / "run.json").is_file():
        raise FileNotFoundError(f"{state}: no saved run state (run.json) to continue")
    data_root = resolve_data_dir(data_dir)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    init = Path(params["init_from"])
    if not rungs:
        pack_directory(state, target / STATE_ARCHIVE, "state")
        write_corpus_fasta(book_utr_records(data_root), target / "utr3.fa.gz")
        shutil.copytree(init, target / "init" / init.name)
    for rung in rungs or []:
        if not (Path(rung) / "model_card.json").is_file():
            raise FileNotFoundError(f"{rung}: not an exported rung (no model_card.json)")
        shutil.copytree(rung, target / "rungs" / Path(rung).parent.name / Path(rung).name)
    rbp31 = dataset_path("rbp31", data_root)
    panel = [find_rbp31_set(rbp31, s) for s in params["budget_sets"]]
    extra = [name for name in list_rbp31_sets(rbp31) if name not in panel] if extra_sets else []
    for name in panel + extra:
        shutil.copytree(rbp31 / name, target / "rbp31" / name)
    description = {
        "profile": profile,
        "chapter": CHAPTER,
        "state_dir": state.name,
        "init_name": init.name,
        "panel": panel,
        "extra_sets": extra,
        "seed": params.get("seed", 0),
        "model_size": params["model_size"],
        "k": params["k"],
        "window_nt": params["window_nt"],
        "heldout_fraction": params.get("heldout_fraction", 0.05),
        "max_heldout_windows": params["max_heldout_windows"],
        "budget_finetune": params["budget_finetune"],
        "budget_probe_windows": params.get("budget_probe_windows", 1000),
        "ladder_name": Path(params["export_dir"]).name,
        "rungs": [f"rungs/{Path(r).parent.name}/{Path(r).name}" for r in rungs or []],
        "files": {str(p.relative_to(target)): sha256(p) for p in sorted(target.rglob("*")) if p.is_file()},
    }
    (target / "bundle.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    logger.info("bundle %s: %.1f MB (%d files)", target, size / 1e6, len(description["files"]))
    return description


# ---------------------------------------------------------------------------------------------------- run


@dataclasses.dataclass
class Session:
    """Where ``run`` writes, its deadline and the summary it keeps up to date in ``out``."""

    out: Path
    work: Path
    deadline: float
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    records: list[Any] = dataclasses.field(default_factory=list)
    """The corpus records, once read (kept out of the summary)."""

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        tmp = self.out / "summary.json.tmp"
        tmp.write_text(json.dumps(self.summary, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, self.out / "summary.json")

    def stage(self, name: str, function: Any, *args: Any) -> Any:
        """Run one stage, recording its status, seconds and result (an exception is recorded, not raised)."""
        started = time.monotonic()
        logger.info("stage %s (%.0f s left)", name, self.left())
        try:
            result = function(*args)
            self.summary[name] = {"status": "ok", "seconds": round(time.monotonic() - started, 1), **(result or {})}
        except Exception as exc:  # fail-soft: the next stage still runs
            logger.exception("stage %s failed", name)
            self.summary[name] = {"status": "failed", "seconds": round(time.monotonic() - started, 1),
                                  "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
        self.save()
        return self.summary[name]


def split_file(path: Path, out: Path, part_bytes: int = PART_BYTES) -> list[str]:
    """Cut ``path`` into ``<name>.part-000``, ``-001``, ... in ``out``; return the part names."""
    names = []
    with open(path, "rb") as handle:
        for index, block in enumerate(iter(lambda: handle.read(part_bytes), b"")):
            name = f"{path.name}.part-{index:03d}"
            (out / name).write_bytes(block)
            names.append(name)
    return names


def join_parts(folder: Path, name: str, target: Path) -> Path:
    """Concatenate ``<name>.part-*`` of ``folder`` (in order) into ``target``."""
    parts = sorted(folder.glob(f"{name}.part-*"))
    if not parts:
        raise FileNotFoundError(f"{folder}: no {name}.part-* files")
    with open(target, "wb") as handle:
        for part in parts:
            handle.write(part.read_bytes())
    return target


def _recipe_from_plan(plan: dict[str, Any], device: str) -> Any:
    from utrbert.models.pretraining_recipe import PretrainingRecipe

    fields = {f.name for f in dataclasses.fields(PretrainingRecipe)}
    return PretrainingRecipe(**{**{k: v for k, v in plan["recipe"].items() if k in fields}, "device": device})


def stage_train(session: Session, bundle_dir: Path, description: dict[str, Any], device: str,
                train_minutes: float, reserve_s: float) -> dict[str, Any]:
    """Restore the state, continue the run to its end or the time box, pack the latest state into ``out``."""
    from utrbert.models.pretraining_recipe import fasta_utr_records, restore_run_state, run_pretraining, save_run_state

    with tarfile.open(bundle_dir / STATE_ARCHIVE, "r:xz") as tar:
        tar.extractall(session.work, filter="data")
    state, run = session.work / "state", session.work / "run"
    restore_run_state(state, run)
    plan = json.loads((state / "run.json").read_text(encoding="utf-8"))
    records = fasta_utr_records([bundle_dir / "utr3.fa.gz"])
    session.records = records
    minutes = max(0.05, min(train_minutes, (session.left() - reserve_s) / 60))
    started = time.monotonic()
    outcome = run_pretraining(
        records, run, _recipe_from_plan(plan, device), steps=plan["max_steps"],
        init_from=bundle_dir / "init" / description["init_name"], ladder_tokens=plan["ladder_tokens"],
        max_minutes=minutes, corpus_name=plan["corpus"]["name"], progress=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    trained = [r for r in outcome["log"] if r["step"] > (outcome["plan"]["executions"][-1]["from_step"])]
    tokens = sum(r["tokens"] for r in trained)
    save_run_state(run, session.work / "state-out")
    archive = pack_directory(session.work / "state-out", session.work / STATE_ARCHIVE, "state")
    parts = split_file(archive, session.out)
    return {
        "steps_done": outcome["steps_done"], "max_steps": plan["max_steps"], "finished": outcome["finished"],
        "tokens_seen": outcome["tokens_seen"], "time_box_minutes": round(minutes, 2), "wall_seconds": round(seconds, 1),
        "trained_steps": len(trained), "trained_tokens_per_s": tokens / sum(r["seconds"] for r in trained) if trained else None,
        "last_log": outcome["log"][-1] if outcome["log"] else None, "execution": outcome["plan"]["executions"][-1],
        "state_parts": parts,
    }  # fmt: skip


def _budget_point(rung: Path) -> Any:
    from utrbert.chapters.pretraining import BudgetPoint

    card = json.loads((rung / "model_card.json").read_text(encoding="utf-8"))
    return BudgetPoint(rung.parent.name.removeprefix("tokens-"), card["tokens_seen"], str(rung))


def stage_rung(session: Session, description: dict[str, Any]) -> dict[str, Any]:
    """Export the finished run's final checkpoint as the top ladder rung (fp16, held-out accuracy), as a tar file."""
    from utrbert.chapters.pretraining import export_ladder_checkpoint, heldout_windows

    train = session.summary.get("train", {})
    if not train.get("finished"):
        return {"skipped": "the run is not finished"}
    records = session.records
    d = description
    windows = {nt: heldout_windows(records, d["k"], nt, d["heldout_fraction"], d["seed"], d["max_heldout_windows"])
               for nt in (d["window_nt"], 510)}  # fmt: skip
    rung = export_ladder_checkpoint(session.work / "run", train["steps_done"], session.work / "ladder", windows,
                                    d["seed"], name=d["ladder_name"])  # fmt: skip
    with tarfile.open(session.out / "rung.tar", "w") as tar:
        tar.add(rung.parent, arcname=rung.parent.name)
    session.summary["rung_path"] = str(rung)
    card = json.loads((rung / "model_card.json").read_text(encoding="utf-8"))
    return {"rung": rung.parent.name, "tokens_seen": card["tokens_seen"],
            "heldout_masked_accuracy": card["heldout_masked_accuracy"]}  # fmt: skip


def stage_gpu_check(session: Session, budget_s: float, dry_run: bool) -> dict[str, Any]:
    """``scripts/gpu_check.py`` (env, GPU tests, benchmark) into one tar file; its own summary is returned."""
    folder = session.work / "gpu-check"
    budget = max(30.0, min(budget_s, session.left() - 20))
    command = [sys.executable, str(REPO_ROOT / "scripts" / "gpu_check.py"), "--stages", "env", "gpu_tests",
               "benchmark", "--budget-s", f"{budget:.0f}", "--out", str(folder)]  # fmt: skip
    if dry_run:
        command.append("--dry-run")
    env = {k: v for k, v in os.environ.items() if k != "UTRBERT_DATA"}  # the benchmark's seeded windows
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, timeout=budget + 30, check=False)
    with tarfile.open(session.out / "gpu_check.tar", "w") as tar:
        tar.add(folder, arcname="gpu-check")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return {"returncode": completed.returncode, "stages": {k: v.get("status") for k, v in summary.get("stages", {}).items()}}


def stage_panel(session: Session, bundle_dir: Path, description: dict[str, Any], device: str,
                dry_run: bool) -> dict[str, Any]:
    """The rungs' fine-tuning items on the panel and their frozen probes, until the deadline, as one tar file:
    the run's final rung when this call exported it, and the bundle's rungs."""
    d = description
    rungs = [bundle_dir / r for r in d.get("rungs", [])]
    if "rung_path" in session.summary:
        rungs.insert(0, Path(session.summary["rung_path"]))
    if not rungs:
        return {"skipped": "no final rung"}
    found = {}
    for rung in rungs:
        found[rung.parent.name] = _rung_items(session, bundle_dir, d, _budget_point(rung), device, dry_run)
    with tarfile.open(session.out / "items.tar", "w") as tar:
        tar.add(session.work / "items", arcname="items")
    return found


def _rung_items(session: Session, bundle_dir: Path, d: dict[str, Any], point: Any, device: str,
                dry_run: bool) -> dict[str, Any]:
    """One rung's panel items (until the deadline) and probes, under ``<work>/items``."""
    from utrbert.chapters.pretraining import budget_probe, budget_tag
    from utrbert.chapters.rbp_binding import run_benchmark
    from utrbert.models.finetuning import FinetuneConfig
    from utrbert.models.model import load_model
    from utrbert.runs.benchmark import BenchmarkSettings

    tune = d["budget_finetune"]
    settings = BenchmarkSettings(
        max_train=200 if dry_run else tune["max_train"], valid_fraction=0.1, seed=d["seed"], bert_size=d["model_size"],
        k=d["k"], pretrained=point.checkpoint,
        finetune=FinetuneConfig(epochs=1 if dry_run else tune["epochs"], batch_size=32, peak_lr=tune["peak_lr"],
                                seed=d["seed"], device=device),
    )  # fmt: skip
    panel = d["panel"][:1] if dry_run else d["panel"]
    items = session.work / "items"
    tag = budget_tag(point.tokens)
    rbp31 = bundle_dir / "rbp31"
    reserve_s = 45.0  # the probes and the tar file
    records = run_benchmark(
        rbp31, settings, items / tag, sets=panel, methods=["pretrained"], artifacts_dir=session.work / "artifacts" / tag,
        run_label=f"gpu {time.strftime('%Y-%m-%d')}", time_budget_s=max(1.0, session.left() - reserve_s), progress=False,
    )  # fmt: skip
    model, tokenizer = load_model(point.checkpoint, task="mlm")
    model.to(device)
    probes = []
    n = 100 if dry_run else d["budget_probe_windows"]
    for name in panel:
        if session.left() < 15:
            break
        probes.append(budget_probe(point, model, tokenizer, rbp31, name, items / "probes", n, n, d["seed"]))
    extra = d.get("extra_sets", [])[: 1 if dry_run else None]
    if extra and session.left() > reserve_s:
        records += run_benchmark(
            rbp31, settings, items / tag, sets=extra, methods=["pretrained"], artifacts_dir=session.work / "artifacts" / tag,
            run_label=f"gpu {time.strftime('%Y-%m-%d')}", time_budget_s=max(1.0, session.left() - reserve_s),
            progress=False,
        )  # fmt: skip
    return {"tag": tag, "panel_items": {r["set"]: r["metrics"]["auroc"] for r in records},
            "probes": {p["settings"]["set"]: p["probe_auroc"] for p in probes}}  # fmt: skip


def run(bundle_dir: Path, out: Path, budget_s: float, train_minutes: float, check_budget_s: float,
        device: str, dry_run: bool) -> dict[str, Any]:
    """All stages within ``budget_s`` seconds; ``out/summary.json`` says what each did."""
    import torch

    from utrbert.runs.provenance import environment

    out.mkdir(parents=True, exist_ok=True)
    description = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    bad = [name for name, digest in description["files"].items() if sha256(bundle_dir / name) != digest]
    if bad:
        raise ValueError(f"{bundle_dir}: files differ from bundle.json: {', '.join(bad)}")
    with tempfile.TemporaryDirectory(prefix="gpu-long-run-") as tmp:
        session = Session(out, Path(tmp), time.monotonic() + budget_s)
        session.summary["environment"] = environment(device)
        session.summary["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        session.summary["dry_run"] = dry_run
        if (bundle_dir / STATE_ARCHIVE).is_file():
            session.stage("train", stage_train, session, bundle_dir, description, device, train_minutes,
                          check_budget_s + 120.0)  # fmt: skip
            session.stage("rung", stage_rung, session, description)
        if check_budget_s > 0:
            session.stage("gpu_check", stage_gpu_check, session, check_budget_s, dry_run)
        session.stage("panel", stage_panel, session, bundle_dir, description, device, dry_run)
        session.save()
        return session.summary


# ---------------------------------------------------------------------------------------------------- unpack


def unpack(returned: Path, profile: str) -> dict[str, Any]:
    """Put what ``run`` returned where chapter ``02_pretraining`` of ``profile`` looks for it."""
    params = chapter_parameters(profile)
    summary = json.loads((returned / "summary.json").read_text(encoding="utf-8"))
    done: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if summary.get("train", {}).get("status") == "ok":
            archive = join_parts(returned, STATE_ARCHIVE, Path(tmp) / STATE_ARCHIVE)
            with tarfile.open(archive, "r:xz") as tar:
                tar.extractall(tmp, filter="data")
            state = Path(params["run_state_dir"])
            old = state.with_name(f".{state.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            if state.exists():
                state.rename(old)
            shutil.move(str(Path(tmp) / "state"), state)
            shutil.rmtree(old, ignore_errors=True)
            done["state"] = str(state)
        if (returned / "rung.tar").is_file():
            with tarfile.open(returned / "rung.tar") as tar:
                tar.extractall(params["ladder_dir"], filter="data")
            done["rung"] = str(Path(params["ladder_dir"]) / summary["rung"]["rung"])
        if (returned / "items.tar").is_file():
            with tarfile.open(returned / "items.tar") as tar:
                tar.extractall(tmp, filter="data")
            target = Path(params["budget_results_dir"])
            for path in sorted((Path(tmp) / "items").rglob("*")):
                if path.is_file():
                    destination = target / path.relative_to(Path(tmp) / "items")
                    if destination.exists():
                        raise FileExistsError(f"{destination} exists; not replacing an item")
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, destination)
            done["items"] = str(target)
        if (returned / "gpu_check.tar").is_file():
            with tarfile.open(returned / "gpu_check.tar") as tar:
                tar.extractall(REPO_ROOT / "scratch", filter="data")
            done["gpu_check"] = str(REPO_ROOT / "scratch" / "gpu-check")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("bundle", help="pack the run state and its data (here)")
    make.add_argument("--bundle", type=Path, default=REPO_ROOT / ".gpurun")
    make.add_argument("--profile", default="cpu")
    make.add_argument("--data-dir", default=None, help="data directory (default: UTRBERT_DATA)")
    make.add_argument("--extra-sets", action="store_true", help="with --rungs: every other RBP-31 set too")
    make.add_argument("--rungs", type=Path, nargs="*", default=None,
                      help="exported ladder rungs: a bundle for their panel items and probes only (no run state)")
    go = commands.add_parser("run", help="continue the run and the rest (on the lent machine)")
    go.add_argument("--bundle", type=Path, default=REPO_ROOT / ".gpurun")
    go.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", REPO_ROOT / "scratch" / "gpu-long-run")))
    go.add_argument("--budget-s", type=float, default=560.0, help="every stage ends before this many seconds")
    go.add_argument("--train-minutes", type=float, default=4.5)
    go.add_argument("--check-budget-s", type=float, default=150.0,
                    help="seconds for scripts/gpu_check.py (0: leave it out)")
    go.add_argument("--device", default="cuda")
    go.add_argument("--dry-run", action="store_true", help="CPU, seconds of training, a tiny panel")
    back = commands.add_parser("unpack", help="put what came back where the chapter reads it (here)")
    back.add_argument("returned", type=Path)
    back.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "bundle":
        bundle(args.bundle, args.profile, args.data_dir, args.rungs, args.extra_sets)
    elif args.command == "run":
        args.out.mkdir(parents=True, exist_ok=True)
        logging.getLogger().addHandler(logging.FileHandler(args.out / "session.log"))
        device = "cpu" if args.dry_run else args.device
        summary = run(args.bundle, args.out, args.budget_s, args.train_minutes, args.check_budget_s, device, args.dry_run)
        logger.info("stages: %s", {k: v.get("status") for k, v in summary.items() if isinstance(v, dict) and "status" in v})
    else:
        logger.info("unpacked: %s", unpack(args.returned, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
