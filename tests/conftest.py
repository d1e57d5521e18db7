"""Shared pytest set-up: a headless matplotlib backend and skips for real-data and GPU tests.

Markers (declared in pyproject.toml):

* ``realdata``: skipped unless ``UTRBERT_DATA`` names an existing directory; use the ``real_data_dir``
  fixture to get it.
* ``gpu``: skipped unless torch sees a CUDA device (torch is imported only when such a test is collected).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports matplotlib: never open windows, in tests or in doctests collected after this file.
os.environ["MPLBACKEND"] = "Agg"

REPO_ROOT = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path | None:
    """The directory named by ``UTRBERT_DATA``, or None when unset or missing."""
    value = os.environ.get("UTRBERT_DATA")
    return Path(value) if value and Path(value).is_dir() else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``realdata`` tests without data and ``gpu`` tests without CUDA."""
    if _real_data_dir() is None:
        skip = pytest.mark.skip(reason="needs real data: set UTRBERT_DATA to the data directory")
        for item in items:
            if item.get_closest_marker("realdata") is not None:
                item.add_marker(skip)
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_items:
        import torch

        if not torch.cuda.is_available():
            skip = pytest.mark.skip(reason="needs a CUDA device")
            for item in gpu_items:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the directory holding ``_toc.yml``)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real data directory from ``UTRBERT_DATA``; the test is skipped when it is unset."""
    path = _real_data_dir()
    if path is None:
        pytest.skip("needs real data: set UTRBERT_DATA to the data directory")
    return path


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny k=3 binary classifier with its tokenizer (random weights, seed 0), as the commands read it."""
    from utrbert.models.model import build_config, build_model
    from utrbert.tokens.tokenization import KmerTokenizer

    directory = tmp_path_factory.mktemp("classifier")
    build_model(build_config("tiny", k=3, initializer_range=0.6), task="classification", seed=0).save_pretrained(directory)
    KmerTokenizer(k=3).save_pretrained(directory)
    return directory


@pytest.fixture
def utr_fasta(tmp_path: Path) -> Path:
    """A FASTA of 40 random 3'UTR-like sequences (120-300 nt, seed 0): a corpus small enough to pretrain on in seconds."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "utrs.fa"
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(40):
            handle.write(f">utr{i}\n{''.join(rng.choice(list('ACGU'), int(rng.integers(120, 300))))}\n")
    return path
