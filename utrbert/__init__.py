"""utrbert: an open, tested re-implementation of 3UTRBERT on stock Hugging Face BERT.

Heavy pieces (transformers, torch) are imported on first use, so ``import utrbert`` stays cheap and has
no side effects. The Hugging Face Auto classes read a utrbert checkpoint once the k-mer tokenizer is known to
them: ``utrbert.register_auto_classes()`` (or any use of :class:`~utrbert.tokens.tokenization.KmerTokenizer`)::

    import utrbert
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    utrbert.register_auto_classes()
    tokenizer = AutoTokenizer.from_pretrained("models/utrbert-small-k3")
    model = AutoModelForMaskedLM.from_pretrained("models/utrbert-small-k3", dtype="float32")
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
    "register_auto_classes": "utrbert.tokens.tokenization",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'utrbert' has no attribute {name!r}")
