"""Redundancy removal with CD-HIT-EST (as the paper did for its m6A sets: 0.8 identity), reporting what it removed.

``cd-hit-est`` is an external program (Debian/Ubuntu package ``cd-hit``, or bioconda ``cd-hit``); it is called
only when asked for, and its absence is a clear error. Every input record ends up either kept (a cluster's
representative) or removed, with the representative that stands for it, so nothing disappears unexplained.

>>> text = ">Cluster 0\\n0\\t41nt, >a... *\\n1\\t41nt, >b... at +/90.24%\\n>Cluster 1\\n0\\t41nt, >c... *\\n"
>>> parse_clusters(text)
{'a': 'a', 'b': 'a', 'c': 'c'}
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from utrbert.data.records import SequenceRecord, normalized_sequence

__all__ = ["CdHitResult", "parse_clusters", "cd_hit_est"]

logger = logging.getLogger(__name__)

_MEMBER = re.compile(r"^\d+\t\d+nt, >(?P<id>.+?)\.\.\. (?P<rep>\*|at .*)$")


def parse_clusters(text: str) -> dict[str, str]:
    """``{record id: id of its cluster's representative}`` from a CD-HIT ``.clstr`` file's text."""
    out: dict[str, str] = {}
    members: list[str] = []
    representative: str | None = None

    def close() -> None:
        if members and representative is None:
            raise ValueError(f"a cluster without a representative: {members[:3]}")
        for member in members:
            out[member] = representative  # type: ignore[assignment]

    for line in text.splitlines():
        if line.startswith(">Cluster"):
            close()
            members, representative = [], None
        elif line.strip():
            match = _MEMBER.match(line.strip())
            if not match:
                raise ValueError(f"unreadable .clstr line: {line!r}")
            members.append(match["id"])
            if match["rep"] == "*":
                representative = match["id"]
    close()
    return out


@dataclass
class CdHitResult:
    """Kept records (input order), and for each removed id the representative that stands for it."""

    kept: list[SequenceRecord]
    removed: dict[str, str]
    identity: float
    command: list[str]

    def summary(self) -> dict[str, object]:
        n = len(self.kept) + len(self.removed)
        return {"n_input": n, "n_kept": len(self.kept), "n_removed": len(self.removed), "identity": self.identity,
                "command": " ".join(self.command)}


def cd_hit_est(
    records: Sequence[SequenceRecord], identity: float = 0.8, word_size: int = 5, threads: int = 1,
    executable: str = "cd-hit-est",
) -> CdHitResult:
    """Cluster ``records`` at ``identity`` with CD-HIT-EST (global identity ``-G 1``, one strand ``-r 0``,
    every sequence kept whole ``-l`` below the shortest) and keep one representative per cluster.

    Ids must be unique and free of whitespace (CD-HIT cuts headers at the first space).
    """
    program = shutil.which(executable)
    if program is None:
        raise FileNotFoundError(f"{executable!r} not found: install CD-HIT (Debian/Ubuntu: apt-get install cd-hit)")
    if not 0.8 <= identity <= 1.0 and word_size == 5:
        raise ValueError(f"identity {identity} needs a smaller word size than 5 (CD-HIT-EST: 0.75-0.8 -> 4)")
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("record ids must be unique")
    bad = [i for i in ids if not i or any(c.isspace() for c in i)]
    if bad:
        raise ValueError(f"record ids must be non-empty and without whitespace, e.g. {bad[:3]}")
    shortest = min(len(r.sequence) for r in records)
    with tempfile.TemporaryDirectory(prefix="cdhit_") as tmp:
        fasta, out = Path(tmp) / "in.fa", Path(tmp) / "out.fa"
        fasta.write_text("".join(f">{r.id}\n{normalized_sequence(r.sequence, r.id).replace('U', 'T')}\n" for r in records),
                         encoding="ascii")
        command = [program, "-i", str(fasta), "-o", str(out), "-c", str(identity), "-n", str(word_size), "-G", "1",
                   "-r", "0", "-l", str(max(5, shortest - 1)), "-d", "0", "-M", "0", "-T", str(threads)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"cd-hit-est failed ({completed.returncode}): {completed.stderr.strip()[-500:]}")
        clusters = parse_clusters((Path(tmp) / "out.fa.clstr").read_text(encoding="utf-8"))
    missing = [i for i in ids if i not in clusters]
    if missing:
        raise RuntimeError(f"cd-hit-est reported no cluster for {len(missing)} records, e.g. {missing[:3]}")
    kept = [r for r in records if clusters[r.id] == r.id]
    removed = {i: rep for i, rep in clusters.items() if i != rep}
    logger.info("cd-hit-est at %.2f identity: kept %d of %d records", identity, len(kept), len(records))
    shown = [Path(part).name if part.startswith(tmp) else part for part in command]
    return CdHitResult(kept, removed, identity, [Path(program).name, *shown[1:]])
