"""The scorecard page (``notebooks/00_scorecard.ipynb``): each claim of the paper next to this book's figure, the
strongest baseline's figure and a verdict, computed from the chapters' ``results/<chapter>.json`` files.

A claim is a :class:`Claim`: what the paper says (``paper``: its figure where the paper gives one and it is on
file here, else its words), and a rule that reads the results and returns a :class:`Verdict`. The rules only
compare numbers the chapters wrote; a chapter that has not written its file gives ``not run``. Claims about
tools this book does not run (SRAMP, DM3Loc, ...) are checked against the strongest baseline the book does run,
and the row says so.

>>> verdict_of(0.84, 0.81, margin=0.0)
'reproduced'
>>> verdict_of(0.80, 0.81, margin=0.0)
'not reproduced'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

Results = Mapping[str, Mapping[str, Any]]
"""Chapter name (``rbp``, ``m6a``, ...) -> the ``values`` of ``results/<chapter>.json``."""

VERDICTS = ("reproduced", "not reproduced", "not comparable", "not run")

CHAPTER_FILES = ("pretraining", "rbp", "motifs", "m6a", "localization", "representations")
"""The results files the scorecard reads (``results/<name>.json``), one per chapter with claims."""


@dataclass(frozen=True)
class Verdict:
    """This book's figure, the strongest baseline's, the verdict (one of :data:`VERDICTS`) and why."""

    ours: str
    baseline: str
    verdict: str
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class Claim:
    """One quantitative claim of the paper and the rule that checks it against this book's results."""

    key: str
    section: str
    claim: str
    paper: str
    needs: tuple[str, ...]
    check: Callable[[Results], Verdict]


def read_results(results_dir: str | os.PathLike[str], names: Sequence[str] = CHAPTER_FILES) -> dict[str, dict[str, Any]]:
    """The ``values`` of every ``<results_dir>/<name>.json`` that exists (a missing file is left out)."""
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        path = Path(results_dir) / f"{name}.json"
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("values"), dict):
            raise ValueError(f"{path}: expected a chapter results file with a 'values' object")
        found[name] = record["values"]
    return found


def results_provenance(results_dir: str | os.PathLike[str], names: Sequence[str] = CHAPTER_FILES) -> pd.DataFrame:
    """Profile, data, device and date of each chapter's results file (the ``context`` it was written with)."""
    rows = []
    for name in names:
        path = Path(results_dir) / f"{name}.json"
        if path.is_file():
            context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
            rows.append({"results": f"{name}.json", "profile": context.get("profile"), "data": context.get("data_kind"),
                         "device": context.get("device"), "executed": str(context.get("date", ""))[:10],
                         "synthetic": bool(context.get("synthetic_data", False))})
    return pd.DataFrame(rows, columns=["results", "profile", "data", "device", "executed", "synthetic"])


def verdict_of(ours: float, baseline: float, margin: float = 0.0) -> str:
    """``reproduced`` when ``ours`` beats ``baseline`` by more than ``margin``, else ``not reproduced``."""
    return "reproduced" if ours - baseline > margin else "not reproduced"


def _paired(per_set: Mapping[str, Mapping[str, float]], a: str, b: str) -> tuple[int, int, float]:
    """Sets where method ``a`` beats ``b``, sets with both, and the two-sided Wilcoxon signed-rank p."""
    from scipy.stats import wilcoxon

    pairs = [(row[a], row[b]) for row in per_set.values() if a in row and b in row]
    wins = sum(x > y for x, y in pairs)
    diffs = [x - y for x, y in pairs]
    p = float(wilcoxon(diffs).pvalue) if len(diffs) >= 6 and any(diffs) else float("nan")
    return wins, len(pairs), p


def _best_baseline(means: Mapping[str, float], baselines: Sequence[str]) -> tuple[str, float]:
    present = {m: means[m] for m in baselines if m in means}
    if not present:
        raise KeyError(f"none of the baselines {list(baselines)} has a result")
    name = max(present, key=present.__getitem__)
    return name, present[name]


# ---------------------------------------------------------------------------------------------------- rules

RBP_BASELINES = ("kmer_lr", "cnn")


def _beats_best_baseline(per_unit: Mapping[str, Mapping[str, float]], means: Mapping[str, float],
                         baselines: Sequence[str], unit: str, tools: str, extra: str = "") -> Verdict:
    """The fine-tuned pretrained model against the strongest of ``baselines`` (by mean AUROC): reproduced when
    its mean is higher and it wins on more than half of the ``unit``s (sets, data sets)."""
    name, base = _best_baseline(means, baselines)
    wins, n, p = _paired(per_unit, "pretrained", name)
    verdict = verdict_of(means["pretrained"], base) if wins > n / 2 else "not reproduced"
    test = f" (Wilcoxon p {p:.2g})" if p == p else ""  # NaN: too few pairs for the test
    return Verdict(
        ours=f"mean AUROC {means['pretrained']:.3f} over {n} {unit}{extra}",
        baseline=f"{name} {base:.3f}",
        verdict=verdict,
        reason=f"higher on {wins} of {n} {unit}{test}; against the book's baselines, not {tools}",
    )


def _rbp_beats_baselines(results: Results) -> Verdict:
    rbp = results["rbp"]
    metrics = rbp.get("metrics", {}).get("pretrained", {})
    extra = ", ".join(f"{key.upper()} {metrics[key]:.3f}" for key in ("f1", "mcc", "acc") if key in metrics)
    return _beats_best_baseline(rbp["per_set"], rbp["mean_auroc"], RBP_BASELINES, "sets", "the paper's tools",
                                f" ({extra})" if extra else "")


def _rbp_pretraining_helps(results: Results) -> Verdict:
    rbp = results["rbp"]
    means = rbp["mean_auroc"]
    wins, n, p = _paired(rbp["per_set"], "pretrained", "scratch")
    gap = means["pretrained"] - means["scratch"]
    verdict = "reproduced" if gap > 0 and p < 0.05 else "not reproduced"
    return Verdict(
        ours=f"pretrained {means['pretrained']:.3f} vs scratch {means['scratch']:.3f} (gap {gap:+.3f})",
        baseline=f"scratch {means['scratch']:.3f}",
        verdict=verdict,
        reason=f"pretrained higher on {wins} of {n} sets, Wilcoxon p {p:.2g} (verdict: gap > 0 and p < 0.05)",
    )


def _k_comparison(results: Results) -> Verdict:
    per_k = results["representations"]["per_k_mean"]
    ranked = sorted(per_k, key=lambda k: per_k[k]["pretrained"], reverse=True)
    text = ", ".join(f"k={k} {per_k[k]['pretrained']:.3f}" for k in sorted(per_k, key=int))
    spread = per_k[ranked[0]]["pretrained"] - per_k[ranked[-1]]["pretrained"]
    best_scratch = max(v["scratch"] for v in per_k.values())
    return Verdict(
        ours=f"fine-tuned panel AUROC {text}",
        baseline=f"best from-scratch {best_scratch:.3f}",
        verdict="not comparable",
        reason=f"the paper's per-k figures are not on file here; best k={ranked[0]}, spread {spread:.3f} (small models, "
               "1,200 pretraining steps each)",
    )


M6A_BASELINES = ("kmer_lr", "cnn")


def _m6a_beats_baselines(results: Results) -> Verdict:
    m6a = results["m6a"]
    if "pretrained" not in m6a["mean_auroc"]:
        return Verdict("no complete data set", "", "not run", "the chapter has no data set with every method yet")
    return _beats_best_baseline(m6a["auroc"], m6a["mean_auroc"], M6A_BASELINES, "data sets",
                                "SRAMP/WHISTLE/iMRM/DeepM6ASeq")


def _m6a_site_attention(results: Results) -> Verdict:
    tests = results["m6a"]["site_attention"]
    higher = {name: t["site"]["median_pos"] > t["site"]["median_neg"] and t["site"]["p"] < 0.05 for name, t in tests.items()}
    text = "; ".join(f"{name}: AUC {t['site']['auc']:.3f}, p {t['site']['p']:.2g}" for name, t in tests.items())
    n_yes = sum(higher.values())
    verdict = "reproduced" if n_yes == len(higher) else "not reproduced"
    return Verdict(ours=text, baseline="negative adenosines (the test's other group)", verdict=verdict,
                   reason=f"sites carry more attention (Mann-Whitney p < 0.05) in {n_yes} of {len(higher)} data sets analysed")


def _m6a_drach(results: Results) -> Verdict:
    drach = results["m6a"]["drach"]
    text = "; ".join(f"{name}: {d['fraction_with_drach']:.0%} vs {d['control_fraction_with_drach']:.0%}" for name, d in drach.items())
    ok = sum(d["fraction_with_drach"] > d["control_fraction_with_drach"] for d in drach.values())
    return Verdict(ours=f"high-attention regions holding DRACH: {text}", baseline="same-length regions at random places of the same windows",
                   verdict="reproduced" if ok == len(drach) else "not reproduced",
                   reason=f"above the control in {ok} of {len(drach)} data sets analysed")


PAPER_STOP_CODON_R = -0.77


def _m6a_stop_codon(results: Results) -> Verdict:
    stop = results["m6a"]["stop_codon"]
    text = "; ".join(f"{name}: r {s['pearson_r']:+.2f} (p {s['p']:.2g})" for name, s in stop.items())
    ok = sum(s["pearson_r"] < 0 and s["p"] < 0.05 for s in stop.values())
    return Verdict(ours=text, baseline="no association (r = 0)",
                   verdict="reproduced" if ok == len(stop) else "not reproduced",
                   reason=f"negative and significant (p < 0.05) in {ok} of {len(stop)} data sets analysed; the paper's "
                          f"r is {PAPER_STOP_CODON_R}")


LOCALIZATION_BASELINES = ("cnn", "kmer_lr", "length")


def _macro(loc: Mapping[str, Any], method: str, metric: str) -> float:
    return float(loc["cross_fold"][method]["macro"][metric])


def _localization_best(results: Results) -> Verdict:
    loc = results["localization"]
    methods = loc["cross_fold"]
    ours = {m: _macro(loc, m, "auroc") for m in ("embedding_head", "attention_head") if m in methods}
    bases = {m: _macro(loc, m, "auroc") for m in LOCALIZATION_BASELINES if m in methods}
    best_ours = max(ours, key=ours.__getitem__)
    name, base = _best_baseline(bases, LOCALIZATION_BASELINES)
    auprc = _macro(loc, best_ours, "auprc"), _macro(loc, name, "auprc")
    ok = ours[best_ours] > base and auprc[0] > auprc[1]
    return Verdict(
        ours=f"{best_ours} macro AUROC {ours[best_ours]:.3f}, AUPRC {auprc[0]:.3f} ({loc['n_mrnas']} of "
             f"{loc['n_mrnas_total']} mRNAs)",
        baseline=f"{name} AUROC {base:.3f}, AUPRC {auprc[1]:.3f}",
        verdict="reproduced" if ok else "not reproduced",
        reason="both macro AUROC and AUPRC must be higher; against the book's baselines, not DM3Loc/RNATracker",
    )


def _localization_features(results: Results) -> Verdict:
    loc = results["localization"]
    methods = loc["cross_fold"]
    sequence_only = [m for m in ("cnn", "kmer_lr") if m in methods]  # models that read the nucleotides alone
    if not sequence_only:
        return Verdict("", "", "not run", "no sequence-only model in the localization results")
    best = max(sequence_only, key=lambda m: _macro(loc, m, "auroc"))
    seq = _macro(loc, best, "auroc")
    feats = {m: _macro(loc, m, "auroc") for m in ("embedding_head", "attention_head") if m in methods}
    ok = sum(v > seq for v in feats.values())
    return Verdict(ours=", ".join(f"{m} {v:.3f}" for m, v in feats.items()),
                   baseline=f"best sequence-only model ({best}) {seq:.3f}",
                   verdict="reproduced" if ok == len(feats) else "not reproduced",
                   reason=f"{ok} of {len(feats)} feature sets above sequence alone (macro AUROC)")


PAPER_MOTIFS_MATCHED = 133


def _motifs_matched(results: Results) -> Verdict:
    motifs = results["motifs"]
    per_set = motifs["per_set"]
    matched = sum(int(s["n_matched"]) for s in per_set.values())
    n_motifs = sum(int(s["n_motifs"]) for s in per_set.values())
    own = f"own RBP's motif recovered in {motifs['n_own_recovered']} of {motifs['n_own_possible']} sets"
    return Verdict(ours=f"{matched} of {n_motifs} motifs matched (TOMTOM q < {motifs['settings']['match_q']}) over "
                        f"{len(per_set)} sets; {own}",
                   baseline="(no baseline method for motif discovery)",
                   verdict=verdict_of(matched, PAPER_MOTIFS_MATCHED - 1),
                   reason=f"the paper counts {PAPER_MOTIFS_MATCHED} documented motifs recovered, this book its discovered "
                          "motifs with an ATtRACT match; verdict: at least as many")


def _embedding_vs_sequence(results: Results) -> Verdict:
    enc = results["representations"]["encodings"]
    frozen = {k: v["probe_auroc"] for k, v in enc.items() if k.startswith("3UTRBERT") and k.endswith("frozen")}
    bases = {k: v["probe_auroc"] for k, v in enc.items() if not k.startswith("3UTRBERT")}
    best = max(bases, key=bases.__getitem__)
    ours = max(frozen, key=frozen.__getitem__)
    return Verdict(ours="; ".join(f"{name}: probe AUROC {value:.3f}" for name, value in frozen.items()),
                   baseline=f"{best}: {bases[best]:.3f}",
                   verdict=verdict_of(frozen[ours], bases[best]),
                   reason=f"the better frozen pooling ({ours}) against the best sequence-only encoding; linear probe "
                          f"on one set ({results['representations']['classifier']['set']}); one-hot alone "
                          f"{bases.get('one-hot', float('nan')):.3f}")


CLAIMS: tuple[Claim, ...] = (
    Claim("rbp_vs_methods", "RBP binding", "Fine-tuned 3UTRBERT predicts RBP binding sites better than other methods",
          "outperforms the compared methods (RBP-31, AUROC, F1, MCC, ACC)", ("rbp",), _rbp_beats_baselines),
    Claim("rbp_pretraining", "RBP binding", "Pretraining helps: the pretrained model beats the same model trained from scratch",
          "pretrained above from-scratch (the paper's control)", ("rbp",), _rbp_pretraining_helps),
    Claim("k_comparison", "Representations", "k-mer size: the choice of k matters for fine-tuned performance",
          "per-k comparison (Fig. 6a, Supplementary Fig. 5)", ("representations",), _k_comparison),
    Claim("m6a_vs_methods", "m6A", "Fine-tuned 3UTRBERT predicts m6A sites better than other methods, per cell line",
          "beats SRAMP, WHISTLE, iMRM, DeepM6ASeq", ("m6a",), _m6a_beats_baselines),
    Claim("m6a_site_attention", "m6A", "m6A sites receive more attention than negative adenosines",
          "higher attention at sites (Mann-Whitney U)", ("m6a",), _m6a_site_attention),
    Claim("m6a_drach", "m6A", "High-attention regions match the DRACH consensus",
          "high-attention regions match RRACH/DRACH", ("m6a",), _m6a_drach),
    Claim("m6a_stop_codon", "m6A", "High-attention m6A sites accumulate near the stop codon",
          f"Pearson r = {PAPER_STOP_CODON_R} (distance from the stop codon vs fraction of high-attention sites)",
          ("m6a",), _m6a_stop_codon),
    Claim("localization_vs_methods", "Localization", "3UTRBERT features give the best localization AUROC and AUPRC",
          "best AUROC and AUPRC against DM3Loc, RNATracker, mRNALoc, iLoc-mRNA", ("localization",), _localization_best),
    Claim("localization_features", "Localization", "Embeddings and attention features beat sequence alone",
          "embedding and attention features above sequence only (Supplementary Fig. 3)", ("localization",),
          _localization_features),
    Claim("motifs_attract", "Motifs", "Attention-derived motifs match documented RBP motifs in ATtRACT",
          f"{PAPER_MOTIFS_MATCHED} documented motifs recovered (TOMTOM q < 0.01)", ("motifs",), _motifs_matched),
    Claim("embedding_vs_sequence", "Representations", "3UTRBERT embeddings separate bound from unbound better than "
          "sequence-only encodings", "embeddings above one-hot and structure encodings (Fig. 6c)", ("representations",),
          _embedding_vs_sequence),
)


def scorecard(results: Results, claims: Sequence[Claim] = CLAIMS,
              on_reference: Mapping[str, bool | None] | None = None) -> pd.DataFrame:
    """One row per claim: section, claim, the paper's figure, ours, the strongest baseline's, verdict, reason.

    A claim whose chapter results are missing, or lack the fields its rule reads, gets ``not run`` with the reason.
    ``on_reference``: chapter -> whether its results used the reference checkpoint (``same`` of
    :func:`checkpoint_table`); a claim on results of another checkpoint says so in ``why``.
    """
    rows = []
    for claim in claims:
        missing = [name for name in claim.needs if name not in results]
        if missing:
            verdict = Verdict("", "", "not run", f"no results/{missing[0]}.json yet")
        else:
            try:
                verdict = claim.check(results)
            except (KeyError, TypeError) as exc:
                verdict = Verdict("", "", "not run", f"results/{claim.needs[0]}.json lacks {exc}")
        stale = [name for name in claim.needs if (on_reference or {}).get(name) is False]
        if stale and verdict.verdict != "not run":
            verdict = Verdict(verdict.ours, verdict.baseline, verdict.verdict,
                              f"{verdict.reason} (results/{stale[0]}.json: an earlier checkpoint)")
        rows.append({"section": claim.section, "claim": claim.claim, "paper": claim.paper, "this book": verdict.ours,
                     "strongest baseline": verdict.baseline, "verdict": verdict.verdict, "why": verdict.reason})
    return pd.DataFrame(rows, index=pd.Index([c.key for c in claims], name="key"))


CHECKPOINT_PATHS: dict[str, tuple[str, ...]] = {
    "rbp": ("settings", "pretrained", "pretrained"),
    "motifs": ("checkpoint",),
    "m6a": ("checkpoint",),
    "localization": ("embedding",),
    "representations": ("settings", "classifier", "pretrained"),
}
"""Where each chapter's results name the pretrained checkpoint they used (a mapping with ``weights_md5``)."""


def checkpoint_table(results: Results, reference_md5: str,
                     paths: Mapping[str, Sequence[str]] = CHECKPOINT_PATHS) -> pd.DataFrame:
    """Which pretrained checkpoint each chapter's results name, against the reference checkpoint's weights md5.

    ``same`` is True or False, or None when the file does not record its checkpoint.

    >>> results = {"rbp": {"settings": {"pretrained": {"pretrained": {"weights_md5": "ab"}}}}, "m6a": {}}
    >>> checkpoint_table(results, "ab")["same"].tolist()
    [True, None]
    """
    rows = []
    for name, path in paths.items():
        if name not in results:
            continue
        node: Any = results[name]
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        md5 = node.get("weights_md5") if isinstance(node, Mapping) else None
        rows.append({"results": f"results/{name}.json", "weights md5": md5 or "(not recorded)",
                     "same": None if md5 is None else md5 == reference_md5})
    return pd.DataFrame(rows, columns=["results", "weights md5", "same"])


VERDICT_COLOURS = {"reproduced": "#d9f2d9", "not reproduced": "#f7d7d7", "not comparable": "#ececec", "not run": "#fff2cc"}
"""Background of the verdict cell on the page."""


def scorecard_for_readers(card: pd.DataFrame) -> Any:
    """The scorecard as the page shows it: one row per claim (``section: claim`` as the index), every cell in
    full and wrapped to a column width that fits the page, the verdict cell coloured (a pandas ``Styler``).

    >>> card = pd.DataFrame([{"section": "m6A", "claim": "c", "paper": "p", "this book": "o",
    ...                       "strongest baseline": "b", "verdict": "reproduced", "why": "w"}])
    >>> styled = scorecard_for_readers(card)
    >>> styled.data.columns.tolist(), "#d9f2d9" in styled.to_html()
    (['paper', 'this book', 'strongest baseline', 'verdict', 'why'], True)
    """
    shown = card.assign(claim=card["section"] + ": " + card["claim"]).set_index("claim")
    shown = shown[["paper", "this book", "strongest baseline", "verdict", "why"]]
    return (shown.style
            .format(escape="html")
            .map(lambda verdict: f"background-color: {VERDICT_COLOURS.get(verdict, 'white')}; font-weight: bold",
                 subset=["verdict"])
            .set_properties(**{"text-align": "left", "vertical-align": "top", "white-space": "normal", "max-width": "13em",
                               "font-size": "0.85em"})
            .set_table_styles([{"selector": "th", "props": "text-align: left; vertical-align: top; max-width: 13em; "
                                                         "font-size: 0.85em"}]))
