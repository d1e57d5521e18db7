"""BERT models for k-mer RNA on stock Hugging Face ``Bert*`` classes: named sizes, building, loading.

3UTRBERT checkpoints are plain BERT-base with a vocabulary of ``4**k + 5`` tokens, so no custom modeling
code is needed. This module only knows how to build them at a named size, load them from either the
original 3UTRBERT directory format (``config.json`` + ``vocab.txt`` + ``pytorch_model.bin`` with legacy
``LayerNorm.gamma/beta`` names) or the Hugging Face safetensors format, and check that model and
tokenizer agree.

Attention: models are built with ``sdpa`` attention (fast, for training and inference). Attention
*weights* are only returned by the eager implementation; switch with :func:`use_eager_attention` before
calling the model with ``output_attentions=True``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel, PreTrainedModel

from utrbert.tokens.kmers import SPECIAL_TOKENS, check_k
from utrbert.tokens.tokenization import KmerTokenizer

__all__ = [
    "MODEL_SIZES",
    "TASKS",
    "POSITION_INITS",
    "build_config",
    "build_model",
    "sinusoidal_positions",
    "k_from_vocab_size",
    "load_model",
    "require_device",
    "load_encoder_checkpoint",
    "save_legacy_checkpoint",
    "use_eager_attention",
    "export_checkpoint",
    "check_tokenizer_matches",
    "checkpoint_identity",
    "weight_files",
]

logger = logging.getLogger(__name__)

MODEL_SIZES: dict[str, dict[str, int]] = {
    # tests and smoke runs: seconds on a CPU
    "tiny": {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64},
    # comparisons that need several models on a CPU (the k-mer size study; about 0.5 M parameters at k=3)
    "mini": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 512},
    # real runs on a CPU (about 3.4 M parameters)
    "small": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4, "intermediate_size": 1024},
    # the paper's BERT-base, as in the original config.json files
    "base": {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
}
"""Named model sizes; every size has 512 positions, like the published checkpoints."""

TASKS: dict[str, type[PreTrainedModel]] = {
    "mlm": BertForMaskedLM,
    "classification": BertForSequenceClassification,
    "encoder": BertModel,
}
"""Model heads by task name: masked-LM pretraining, sequence classification, bare encoder."""

# a pooler is only in checkpoints saved with one; it belongs to the head, not the encoder
_HEAD_PREFIXES = {
    "mlm": ("cls.",),
    "classification": ("classifier.", "bert.pooler."),
    "encoder": ("pooler.",),
}


def k_from_vocab_size(vocab_size: int) -> int:
    """The k of a 3UTRBERT vocabulary size (``4**k + 5``).

    >>> k_from_vocab_size(69), k_from_vocab_size(4101)
    (3, 6)
    """
    sizes = {4**k + len(SPECIAL_TOKENS): k for k in (3, 4, 5, 6)}
    if vocab_size not in sizes:
        raise ValueError(f"vocab_size {vocab_size} is not a 3UTRBERT k-mer vocabulary size {sorted(sizes)}")
    return sizes[vocab_size]


def build_config(size: str = "tiny", k: int = 3, **overrides: Any) -> BertConfig:
    """A ``BertConfig`` for a named size and k; the vocabulary size follows k.

    >>> config = build_config("base", k=6)
    >>> config.vocab_size, config.num_hidden_layers, config.hidden_size, config.max_position_embeddings
    (4101, 12, 768, 512)
    """
    if size not in MODEL_SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of {sorted(MODEL_SIZES)}")
    k = check_k(k)
    vocab_size = 4**k + len(SPECIAL_TOKENS)
    if "vocab_size" in overrides and overrides["vocab_size"] != vocab_size:
        raise ValueError(f"vocab_size {overrides['vocab_size']} does not match k={k} (expected {vocab_size})")
    settings: dict[str, Any] = {
        "vocab_size": vocab_size,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": SPECIAL_TOKENS.index("[PAD]"),
        **MODEL_SIZES[size],
    }
    settings.update(overrides)
    return BertConfig(**settings)


def _apply_task(config: BertConfig, task: str, num_labels: int, problem_type: str | None) -> BertConfig:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    if task == "classification":
        if num_labels < 1:
            raise ValueError(f"num_labels must be positive, got {num_labels}")
        allowed = (None, "single_label_classification", "multi_label_classification", "regression")
        if problem_type not in allowed:
            raise ValueError(f"problem_type must be one of {allowed}, got {problem_type!r}")
        config.num_labels = num_labels
        config.problem_type = problem_type
    return config


POSITION_INITS = ("random", "sinusoidal")
"""The starts of the learned position embeddings :func:`build_model` offers."""


def sinusoidal_positions(n_positions: int, dim: int, amplitude: float = 0.05) -> torch.Tensor:
    """The Transformer's sine/cosine position table (Vaswani et al. 2017), scaled to ``amplitude``.

    Row ``p`` holds ``sin(p / 10000**(2i/dim))`` in even and ``cos(...)`` in odd columns. A fixed linear map
    turns row ``p`` into row ``p + d`` for every ``p``, which is what a head needs to read its neighbours.

    >>> table = sinusoidal_positions(512, 8, amplitude=1.0)
    >>> tuple(table.shape), table[0, :4].tolist()
    ((512, 8), [0.0, 1.0, 0.0, 1.0])
    """
    if dim % 2:
        raise ValueError(f"the sinusoidal table needs an even width, got {dim}")
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]
    frequency = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(n_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return (amplitude * table).float()


def build_model(
    config: BertConfig,
    task: str = "mlm",
    num_labels: int = 2,
    problem_type: str | None = None,
    attn_implementation: str = "sdpa",
    seed: int = 0,
    position_init: str = "random",
    position_amplitude: float = 0.05,
) -> PreTrainedModel:
    """A randomly initialised model for ``task``, deterministic for ``seed`` (the global RNG is left as it was).

    ``problem_type="multi_label_classification"`` switches the classification loss to BCE (localization).
    ``position_init="sinusoidal"`` starts the (still learned) position embeddings from
    :func:`sinusoidal_positions` instead of BERT's random normal ones: with overlapping k-mers and k-span
    masking, a masked k-mer can only be predicted by reading its neighbours' nucleotides; until a model
    finds its neighbours, its masked accuracy sits on a plateau (the k-mer left in place by the 10 %
    "unchanged" masks, composition otherwise), and from BERT's random position embeddings a small model
    stays there longer (see the pretraining chapter). The architecture and the saved checkpoint are plain
    BERT either way.
    """
    if position_init not in POSITION_INITS:
        raise ValueError(f"position_init must be one of {POSITION_INITS}, got {position_init!r}")
    config = _apply_task(BertConfig.from_dict(config.to_dict()), task, num_labels, problem_type)
    config._attn_implementation = attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TASKS[task](config)
    if position_init == "sinusoidal":
        table = model.base_model.embeddings.position_embeddings.weight
        with torch.no_grad():
            table.copy_(sinusoidal_positions(table.shape[0], table.shape[1], position_amplitude))
    return model


def check_tokenizer_matches(model: PreTrainedModel, tokenizer: KmerTokenizer) -> None:
    """Raise if the model's vocabulary or positions do not fit the tokenizer."""
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(
            f"model vocabulary has {model.config.vocab_size} tokens but the k={tokenizer.k} tokenizer has "
            f"{len(tokenizer)}"
        )
    if tokenizer.model_max_length > model.config.max_position_embeddings:
        raise ValueError(
            f"tokenizer window {tokenizer.model_max_length} exceeds the model's "
            f"{model.config.max_position_embeddings} positions"
        )


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars for one call (this module logs what it loaded)."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def require_device(device: str) -> None:
    """Refuse a CUDA device on a machine where torch sees none, with a message instead of torch's assertion.

    >>> require_device("cpu")
    """
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device here (torch {torch.__version__}); "
                         "use --device cpu")
    if not str(device).startswith(("cuda", "cpu", "mps")):
        raise ValueError(f"unknown device {device!r}; use cpu or cuda")


def load_model(
    path: str | os.PathLike[str],
    task: str = "mlm",
    num_labels: int = 2,
    problem_type: str | None = None,
    attn_implementation: str = "sdpa",
    seed: int = 0,
) -> tuple[PreTrainedModel, KmerTokenizer]:
    """Load a local checkpoint directory and its tokenizer; never reaches a hub.

    Accepts the original 3UTRBERT format (``config.json``, ``vocab.txt``, ``pytorch_model.bin`` with
    legacy ``LayerNorm.gamma/beta`` names) and the Hugging Face format (``model.safetensors``, or the shards
    named by ``model.safetensors.index.json`` that ``save_pretrained(max_shard_size=...)`` writes). Loading an
    MLM checkpoint for another task keeps the encoder and initialises the new head (seeded); any encoder
    weight missing from the checkpoint is an error, not a silent re-initialisation.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory {directory} does not exist")
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json")
    try:
        raw_config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{config_path}: not valid JSON ({error})") from error
    k = k_from_vocab_size(int(raw_config.get("vocab_size", -1)))
    vocab_path = directory / "vocab.txt"
    tokenizer = KmerTokenizer(k=k, vocab_file=str(vocab_path) if vocab_path.is_file() else None)
    weight_files(directory)  # a clear error for missing weights or shards, before transformers tries
    config = BertConfig.from_dict(raw_config)
    config = _apply_task(config, task, num_labels, problem_type)
    with torch.random.fork_rng(devices=[]), _quiet_transformers():
        torch.manual_seed(seed)
        try:
            model, info = TASKS[task].from_pretrained(
                directory,
                config=config,
                attn_implementation=attn_implementation,
                local_files_only=True,
                output_loading_info=True,
                dtype=torch.float32,  # a checkpoint stored in fp16 still trains and runs in fp32 (autocast does bf16)
            )
        except RuntimeError as error:  # shapes that disagree with config.json
            if "mismatched" not in str(error) and "size mismatch" not in str(error):
                raise
            raise ValueError(f"{directory}: the weights' shapes differ from those config.json describes (hidden_size "
                             f"{config.hidden_size}, {config.num_hidden_layers} layers, vocabulary {config.vocab_size}): "
                             "a config.json from another model?") from None  # fmt: skip
        except Exception as error:  # a truncated or foreign weight file (safetensors' own error type)
            if type(error).__name__ not in ("SafetensorError", "HeaderTooLarge", "UnpicklingError", "EOFError"):
                raise
            files = ", ".join(p.name for p in weight_files(directory))
            raise ValueError(f"{directory}: cannot read the weights ({files}): {error} (truncated or not a "
                             "safetensors file?)") from None  # fmt: skip
    head_prefixes = _HEAD_PREFIXES[task]
    missing = [name for name in info["missing_keys"] if not name.startswith(head_prefixes)]
    if missing:
        raise ValueError(f"{directory}: checkpoint lacks encoder weights {missing[:5]} ({len(missing)} in all)")
    if info.get("mismatched_keys"):
        raise ValueError(f"{directory}: weights with the wrong shape: {info['mismatched_keys'][:5]}")
    new_head = [name for name in info["missing_keys"] if name.startswith(head_prefixes)]
    if new_head:
        logger.info("%s: initialised a new %s head (%d tensors, seed %d)", directory, task, len(new_head), seed)
    check_tokenizer_matches(model, tokenizer)
    model.eval()
    return model, tokenizer


def save_legacy_checkpoint(model: BertForMaskedLM, tokenizer: KmerTokenizer, path: str | os.PathLike[str]) -> Path:
    """Write a checkpoint in the original 3UTRBERT layout (legacy ``gamma``/``beta`` LayerNorm names).

    Used to test that published checkpoints load; the published ones cannot be downloaded here.
    """
    check_tokenizer_matches(model, tokenizer)
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    keys = (
        "attention_probs_dropout_prob hidden_act hidden_dropout_prob hidden_size initializer_range "
        "intermediate_size max_position_embeddings num_attention_heads num_hidden_layers type_vocab_size vocab_size"
    ).split()
    config = {key: getattr(model.config, key) for key in keys}
    config["architectures"] = ["BertForMaskedLM"]
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    tokenizer.save_vocabulary(str(directory))
    state = {}
    for name, tensor in model.state_dict().items():
        if "LayerNorm." in name:
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[name] = tensor.detach().clone()
    torch.save(state, directory / "pytorch_model.bin")
    return directory


def use_eager_attention(model: PreTrainedModel) -> PreTrainedModel:
    """Switch a model to eager attention so that ``output_attentions=True`` returns attention weights."""
    model.set_attn_implementation("eager")
    return model


_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_INDEX_SUFFIX = ".index.json"


def weight_files(path: str | os.PathLike[str]) -> list[Path]:
    """The weight files of a checkpoint directory: one file, or the shards its index names, in index order.

    A single ``model.safetensors`` wins over a sharded one, safetensors over ``pytorch_model.bin``; an index
    that names a missing shard is an error (a checkpoint copied back in pieces, with a piece lost).
    """
    directory = Path(path)
    for name in _WEIGHT_FILES:
        if (directory / name).is_file():
            return [directory / name]
        index = directory / (name + _INDEX_SUFFIX)
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{index}: not a sharded-checkpoint index ({error!r})") from error
            shards = [directory / shard for shard in dict.fromkeys(weight_map.values())]
            missing = [shard.name for shard in shards if not shard.is_file()]
            if missing:
                raise FileNotFoundError(f"{directory}: {index.name} names missing shards {missing}")
            return shards
    raise FileNotFoundError(f"{directory}: no model.safetensors or pytorch_model.bin (single or sharded)")


def checkpoint_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Name and weight digest of a checkpoint directory (so a retrained checkpoint counts as a different input).

    One weight file: its md5. Shards: the md5 of their md5s in index order (and their number).
    """
    import hashlib

    from utrbert.data.registry import file_digest

    directory = Path(path)
    files = weight_files(directory)
    if len(files) == 1:
        return {"name": directory.name, "weights_md5": file_digest(files[0])}
    digests = " ".join(file_digest(shard) for shard in files)
    combined = hashlib.md5(digests.encode("ascii"), usedforsecurity=False).hexdigest()
    return {"name": directory.name, "weights_md5": combined, "weight_shards": len(files)}


def load_encoder_checkpoint(model_dir: str | os.PathLike[str]) -> tuple[Any, Any]:
    """Load a checkpoint for attention or embeddings: a fine-tuned classifier as one, anything else as MLM."""
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")) if (
        Path(model_dir) / "config.json").is_file() else {}
    architectures = config.get("architectures") or []
    task = "classification" if any("SequenceClassification" in a for a in architectures) else "mlm"
    num_labels = len(config.get("id2label", {})) or 2
    return load_model(model_dir, task=task, num_labels=num_labels)


def export_checkpoint(
    model: PreTrainedModel,
    tokenizer: KmerTokenizer,
    path: str | os.PathLike[str],
    card: Mapping[str, Any],
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write a compact, loadable checkpoint: safetensors weights in ``dtype``, ``vocab.txt`` and a model card.

    ``card`` (data, steps, seed, held-out metrics, the command that reproduces it ...) is written both as
    ``model_card.json`` and as a readable ``README.md``. :func:`load_model` reads the result (in fp32).
    """
    from utrbert.runs.store import atomic_directory

    check_tokenizer_matches(model, tokenizer)
    directory = Path(path)
    with atomic_directory(directory) as building:  # an existing checkpoint is replaced whole, or left as it was
        with _quiet_transformers():
            copy.deepcopy(model).to(device="cpu", dtype=dtype).save_pretrained(building, safe_serialization=True)
        tokenizer.save_pretrained(building)
        text = json.dumps(dict(card), indent=2, sort_keys=True, default=str)
        (building / "model_card.json").write_text(text + "\n", encoding="utf-8")
        lines = [f"# {directory.name}", "", "A utrbert BERT checkpoint (masked-language model over k-mers of 3'UTRs).", ""]
        lines += [f"- **{key}**: {json.dumps(value, default=str) if isinstance(value, (dict, list)) else value}" for key, value in card.items()]
        (building / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory
