"""Provenance of results: where a number came from (profile, data, device, versions) and how it is stored.

Every chapter writes its headline numbers with :func:`write_results` to ``results/<chapter>.json``
and shows :func:`context_markdown` on its page; benchmarks record :func:`environment` with their
figures.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from utrbert.data.synthetic import is_demo_data

__all__ = ["environment", "device_description", "run_context", "context_markdown", "write_results"]

_PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "pandas", "scikit-learn")
"""Distributions whose versions are recorded next to every figure (utrbert's own comes from ``utrbert.__version__``:
its distribution is named ``utrbert-book`` on the package index, the import name stays ``utrbert``)."""


def package_versions(packages: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    """``utrbert`` (this package's version) and each installed distribution's version, or ``not installed``."""
    from utrbert import __version__

    versions = {"utrbert": __version__}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def device_description(device: str | None = None) -> str:
    """Human-readable description of the compute device: the GPU name, or the CPU model and core count."""
    import torch

    if (device is None or str(device).startswith("cuda")) and torch.cuda.is_available():
        index = torch.device(device or "cuda").index or 0
        return f"GPU: {torch.cuda.get_device_name(index)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu} ({os.cpu_count()} logical cores)"


_CODE_PATHS = ("utrbert", "notebooks", "profiles", "benchmarks", "requirements.txt", "pyproject.toml")
"""Paths whose uncommitted changes make a run "dirty" (executed chapters and results are outputs, not code)."""


def _git_commit() -> str:
    """Short commit id of the code, with ``-dirty`` when code paths have uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True, check=True, cwd=here
        ).stdout.strip()
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True, cwd=here
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *_CODE_PATHS],
            capture_output=True,
            text=True,
            check=True,
            cwd=top,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if changes else commit


def environment(device: str | None = None) -> dict[str, str]:
    """Device, package versions, git commit and UTC date, for recording next to any figure."""
    versions = {"python": platform.python_version(), **package_versions()}
    return {
        "device": device_description(device),
        **versions,
        "git_commit": _git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def data_label(path: str | os.PathLike[str]) -> str:
    """How a page names a data directory without the machine's paths: ``$UTRBERT_DATA`` when it is the directory
    that variable names, a path relative to the working directory when inside it, else ``.../<folder name>``.

    >>> data_label("/somewhere/else/data")
    '.../data'
    """
    data = Path(path).resolve()
    named = os.environ.get("UTRBERT_DATA", "").strip()
    if named and Path(named).resolve() == data:
        return "$UTRBERT_DATA"
    try:
        return str(data.relative_to(Path.cwd().resolve()))
    except ValueError:
        return f".../{data.name}"


def run_context(profile: str, data_dir: str | os.PathLike[str] | None, device: str | None = None) -> dict[str, Any]:
    """What produced a chapter's numbers: profile, data (and whether it is synthetic), device, versions."""
    data = Path(data_dir) if data_dir is not None else None
    synthetic = data is not None and is_demo_data(data)
    return {
        "profile": profile,
        "data_dir": None if data is None else data_label(data),
        "data_kind": "synthetic demo data (not a result)" if synthetic else "real public data",
        "synthetic_data": synthetic,
        **environment(device),
    }


def context_markdown(context: dict[str, Any]) -> str:
    """A short Markdown block stating profile, data and device, for the top of an executed chapter."""
    lines = [
        f"**Profile** `{context['profile']}` · **data** {context['data_kind']} (`{context['data_dir']}`) · "
        f"**device** {context['device']}",
        f"utrbert {context['utrbert']} (commit `{context['git_commit']}`), torch {context['torch']}, "
        f"transformers {context['transformers']}, executed {context['date']}.",
    ]
    if context["synthetic_data"]:
        lines.insert(0, "**Synthetic demo data: the numbers on this page are not results.**")
    return "\n\n".join(lines)


def _plain(value: Any) -> Any:
    """JSON-ready copy of numbers, arrays and containers (NaN becomes null).

    >>> _plain({"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
    {'a': 0.5, 'b': [0, 1], 'c': None}
    """
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results(
    results_dir: str | os.PathLike[str], chapter: str, values: dict[str, Any], context: dict[str, Any]
) -> Path:
    """Write ``<results_dir>/<chapter>.json`` holding the headline ``values`` and their ``context``."""
    from utrbert.runs.store import atomic_write_json

    path = Path(results_dir) / f"{chapter}.json"
    record = {"chapter": chapter, "values": _plain(values), "context": _plain(context)}
    atomic_write_json(path, record, indent=2, default=None)
    return path
