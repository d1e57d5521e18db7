"""utrbert: an open, tested re-implementation of 3UTRBERT on stock Hugging Face BERT.

Heavy pieces (transformers, torch) are imported on first use, so ``import utrbert`` stays cheap and has
no side effects.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "KmerTokenizer": "utrbert.tokens.tokenization",
    "KmerEncoding": "utrbert.tokens.tokenization",
    "SequenceError": "utrbert.tokens.kmers",
    "build_config": "utrbert.models.model",
    "build_model": "utrbert.models.model",
    "load_model": "utrbert.models.model",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'utrbert' has no attribute {name!r}")
