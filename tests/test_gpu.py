"""The CUDA path: bf16 pretraining and exact resume, bf16 fine-tuning, [CLS] attention on the GPU, fused AdamW,
``torch.compile``, fp16 export and the peak-FLOPs table.

Every test is marked ``gpu`` and skipped (by ``conftest.py``) when torch sees no CUDA device. The module imports
only torch, NumPy, pytest and ``utrbert`` modules that need neither the notebook stack (papermill, nbformat,
ipykernel, jupyter-book) nor the analysis extras (biopython, memelite, logomaker, umap, captum, viennarna), so it
is collected on the lent GPU machine, whose image has none of them (``test_gpu_check.py`` checks this on the
CPU). ``scripts/gpu_check.py`` runs it there.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from utrbert.interpret.attention import cls_attention
from utrbert.models.finetuning import FinetuneConfig, encode_records, finetune, predict_scores, split_train_valid
from utrbert.tokens.masking import KmerSpanMaskingCollator
from utrbert.models.metrics import binary_metrics
from utrbert.models.model import build_config, build_model, export_checkpoint, load_model
from utrbert.models.pretraining import PEAK_FLOPS, PretrainingConfig, latest_checkpoint, peak_flops, pretrain
from utrbert.data.synthetic import make_binary_dataset
from utrbert.tokens.tokenization import KmerTokenizer

pytestmark = pytest.mark.gpu

CUDA = "cuda"
SEQUENCES = ["ACGUACGUAGCUAGCUAGNNACGUUUA", "ACGUAGCUAGGG", "GGA", "UUUUACGACGAUCGAUCGAUGCAUGCAUGCAGCAUCGAU", "CAGUCA"]


def _windows(n: int = 32, length: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random RNA windows of varying length, padded to 48 tokens (k = 3)."""
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGU"), int(rng.integers(length // 2, length)))) for _ in range(n)]
    enc = KmerTokenizer(k=3).encode_corpus(seqs).padded(max_length=48)
    return enc["input_ids"], enc["attention_mask"]


def _mlm(seed: int = 0, **overrides: float) -> torch.nn.Module:
    return build_model(build_config("tiny", k=3, **overrides), seed=seed)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}


@pytest.fixture()
def deterministic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Deterministic CUDA kernels for one test (cuBLAS needs a fixed workspace); the previous setting is restored."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def test_bf16_pretraining_resumes_exactly_on_cuda(tmp_path: Path, deterministic: None) -> None:
    ids, mask = _windows()
    tokenizer = KmerTokenizer(k=3)
    collator = KmerSpanMaskingCollator(tokenizer, mlm_probability=0.15, seed=0)
    config = PretrainingConfig.from_schedule("smoke", grad_accumulation=2, device=CUDA, precision="bf16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        straight_model = _mlm()
        straight = pretrain(straight_model, collator, ids, mask, config, tmp_path / "a", tokenizer=tokenizer, progress=False)
        first = pretrain(_mlm(), collator, ids, mask, config, tmp_path / "b", progress=False, stop_at=6)
        resumed_model = _mlm(seed=1)  # other weights: everything must come from the checkpoint
        resumed = pretrain(resumed_model, collator, ids, mask, config, tmp_path / "b", progress=False)
    nondeterministic = sorted({str(w.message).splitlines()[0] for w in caught if "determinis" in str(w.message)})

    assert next(straight_model.parameters()).device.type == torch.device(CUDA).type
    assert len(first.step_losses) == 6 and latest_checkpoint(tmp_path / "b").name == f"checkpoint-{config.max_steps}"
    assert resumed.resumed_from == 6 and len(straight.step_losses) == config.max_steps
    assert all(math.isfinite(loss) for loss in straight.step_losses)
    assert resumed.step_losses == straight.step_losses, f"resume is not exact on CUDA; warnings: {nondeterministic}"
    a, b = _weights(straight_model), _weights(resumed_model)
    assert all(torch.equal(a[name], b[name]) for name in a), f"weights differ after resume; warnings: {nondeterministic}"


def test_bf16_finetuning_learns_a_planted_motif_on_cuda() -> None:
    tokenizer = KmerTokenizer(k=3)
    records = make_binary_dataset(600, 60, positive_fraction=0.5, seed=0)
    train, valid = split_train_valid(records[:500], 0.2, seed=0)
    test = encode_records(records[500:], tokenizer)
    config = FinetuneConfig(
        epochs=4, batch_size=16, peak_lr=3e-3, evals_per_epoch=1, patience=4, device=CUDA, precision="bf16"
    )
    model = build_model(build_config("tiny", k=3), task="classification", seed=0)
    result = finetune(model, encode_records(train, tokenizer), encode_records(valid, tokenizer), config, progress=False)
    bf16 = predict_scores(result.model, test, device=CUDA, precision="bf16")
    fp32 = predict_scores(result.model, test, device=CUDA, precision="fp32")
    assert next(result.model.parameters()).dtype == torch.float32  # autocast: the weights stay fp32
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    assert binary_metrics(test.labels, bf16)["auroc"] > 0.75
    np.testing.assert_allclose(bf16, fp32, atol=3e-2)


def test_cls_attention_on_cuda_agrees_with_the_cpu() -> None:
    encoding = KmerTokenizer(k=3).encode_corpus(SEQUENCES)
    model = build_model(build_config("tiny", k=3, initializer_range=0.1), task="mlm", seed=1)
    cpu = cls_attention(model, encoding, batch_size=2, layers=None, progress=False)
    gpu_model = copy.deepcopy(model)
    gpu = cls_attention(gpu_model, encoding, batch_size=2, layers=None, device=CUDA, progress=False)
    with torch.autocast(CUDA, dtype=torch.bfloat16):
        bf16 = cls_attention(gpu_model, encoding, batch_size=2, layers=None, device=CUDA, progress=False)
    assert next(gpu_model.parameters()).device.type == torch.device(CUDA).type
    assert gpu.token_scores.dtype == bf16.token_scores.dtype == np.float32
    np.testing.assert_allclose(gpu.token_scores, cpu.token_scores, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(gpu.to_sep, cpu.to_sep, atol=1e-4)
    np.testing.assert_allclose(bf16.token_scores, cpu.token_scores, atol=1e-2, equal_nan=True)


def test_fused_and_unfused_adamw_agree_after_a_few_steps() -> None:
    ids, mask = _windows(n=8)
    inputs = torch.as_tensor(ids, dtype=torch.long, device=CUDA)
    attention = torch.as_tensor(mask, dtype=torch.long, device=CUDA)
    labels = inputs.masked_fill(attention == 0, -100)
    config = PretrainingConfig(device=CUDA, precision="bf16")
    start = _mlm(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).to(CUDA)
    trained = {}
    for fused in (False, True):
        model = copy.deepcopy(start)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=1e-3, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay,
            fused=fused,
        )  # fmt: skip
        for _ in range(5):
            loss = model(input_ids=inputs, attention_mask=attention, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        trained[fused] = _weights(model)
    initial = _weights(start)
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(trained[True][name], initial[name])  # the steps changed the weights
    for key in initial:
        torch.testing.assert_close(trained[True][key], trained[False][key], rtol=1e-4, atol=1e-5, msg=key)


# torch's own tracing raises these two while compiling (dynamo reads .grad of a non-leaf tensor while it traces
# the masked-position gather; a torch module still uses torch.jit.script_method); our code triggers neither
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf Tensor:UserWarning")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_bf16_pretraining_runs_and_matches_eager(tmp_path: Path) -> None:
    ids, mask = _windows()
    collator = KmerSpanMaskingCollator(KmerTokenizer(k=3), mlm_probability=0.15, seed=0)
    losses = {}
    for compiled in (False, True):
        config = PretrainingConfig.from_schedule("smoke", max_steps=4, device=CUDA, precision="bf16", compile=compiled)
        model = _mlm(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # no dropout: the runs can agree
        result = pretrain(model, collator, ids, mask, config, tmp_path / str(compiled), resume=False, progress=False)
        losses[compiled] = result.step_losses
    assert len(losses[True]) == 4 and all(math.isfinite(loss) for loss in losses[True])
    np.testing.assert_allclose(losses[True], losses[False], rtol=2e-2)


def test_fp16_export_of_a_cuda_model_reloads_with_close_logits(tmp_path: Path) -> None:
    from safetensors import safe_open

    model = _mlm(seed=2).to(CUDA).eval()
    path = export_checkpoint(model, KmerTokenizer(k=3), tmp_path / "export", {"device": "cuda", "steps": 0})
    weights = next(model.parameters())
    assert weights.device.type == torch.device(CUDA).type and weights.dtype == torch.float32  # the model itself is untouched
    with safe_open(str(path / "model.safetensors"), framework="pt") as handle:
        assert {handle.get_slice(key).get_dtype() for key in handle.keys()} == {"F16"}
    loaded, tokenizer = load_model(path, task="mlm")
    assert tokenizer.k == 3 and next(loaded.parameters()).dtype == torch.float32
    ids = torch.tensor([[2, 10, 40, 60, 3]], device=CUDA)
    with torch.no_grad():
        expected, got = model(input_ids=ids).logits, loaded.to(CUDA)(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=2e-2, rtol=0)


def test_peak_flops_knows_this_device() -> None:
    name = torch.cuda.get_device_name(0)
    bf16, fp32 = peak_flops(CUDA, "bf16"), peak_flops(CUDA, "fp32")
    assert bf16 is not None and fp32 is not None, f"{name!r} is not in PEAK_FLOPS {sorted(PEAK_FLOPS)}"
    assert 1e14 < bf16 < 1e16 and fp32 < bf16
    assert peak_flops(CUDA, "bf16", override=123.0) == 123.0
