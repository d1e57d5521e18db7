"""Figures for the book's chapters; every function draws on a given or new Axes and returns it.

Logos are drawn locally (no web services). Colours follow one nucleotide palette throughout the book.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

__all__ = [
    "plot_mutagenesis",
    "plot_logo",
    "NUCLEOTIDE_COLOURS",
    "plot_label_balance",
    "plot_length_distributions",
    "plot_composition",
    "plot_positional_frequencies",
    "plot_top_kmers",
    "plot_label_cooccurrence",
    "plot_method_comparison",
    "plot_paired_auroc",
    "plot_attention_landscape",
    "plot_token_scores",
]

NUCLEOTIDE_COLOURS = {"A": "#2ca02c", "C": "#1f77b4", "G": "#ff7f0e", "U": "#d62728", "other": "#7f7f7f"}


def _axes(ax: Axes | None, size: tuple[float, float] = (6, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_label_balance(fractions: pd.Series, ax: Axes | None = None, title: str = "") -> Axes:
    """Horizontal bars of the positive fraction per data set (or label)."""
    ax = _axes(ax, (6, max(2.5, 0.22 * len(fractions))))
    ax.barh(fractions.index.astype(str), fractions.to_numpy(), color="#4c72b0")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("positive fraction")
    ax.set_title(title)
    return ax


def plot_length_distributions(
    lengths: Mapping[str, Sequence[int]], ax: Axes | None = None, log: bool = True, bins: int = 60
) -> Axes:
    """Overlaid length histograms, one per named group (log-spaced bins by default)."""
    ax = _axes(ax)
    values = [np.asarray(v) for v in lengths.values()]
    low, high = min(v.min() for v in values), max(v.max() for v in values)
    edges = np.geomspace(max(low, 1), high + 1, bins) if log else np.linspace(low, high + 1, bins)
    for name, v in zip(lengths, values):
        ax.hist(v, bins=edges, histtype="step", linewidth=1.5, label=f"{name} (n={len(v):,})")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("length (nt)")
    ax.set_ylabel("sequences")
    ax.legend(frameon=False)
    return ax


def plot_composition(composition: pd.DataFrame, ax: Axes | None = None, title: str = "") -> Axes:
    """Stacked bars of nucleotide fractions; rows are groups, columns A, C, G, U (and ``other``)."""
    ax = _axes(ax, (6, max(2.5, 0.3 * len(composition))))
    left = np.zeros(len(composition))
    for column in composition.columns:
        values = composition[column].to_numpy()
        ax.barh(composition.index.astype(str), values, left=left, color=NUCLEOTIDE_COLOURS.get(column), label=column)
        left += values
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of nucleotides")
    ax.legend(ncol=len(composition.columns), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_title(title, pad=24)
    return ax


def plot_positional_frequencies(
    frequencies: Mapping[str, pd.DataFrame], centre: int, ax: Axes | None = None, flank: int = 10
) -> Axes:
    """Per-position nucleotide frequency around a centre, one line style per group (e.g. sites vs non-sites)."""
    ax = _axes(ax, (7, 3.5))
    styles = ["-", "--", ":", "-."]
    for (name, table), style in zip(frequencies.items(), styles):
        window = table.loc[centre - flank : centre + flank]
        offsets = window.index.to_numpy() - centre
        for letter in ("A", "C", "G", "U"):
            ax.plot(offsets, window[letter], style, color=NUCLEOTIDE_COLOURS[letter], label=f"{letter} {name}")
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_xlabel("position relative to the candidate A")
    ax.set_ylabel("frequency")
    ax.legend(ncol=2, fontsize="small", frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    return ax


def plot_top_kmers(enrichment: pd.DataFrame, n: int = 15, ax: Axes | None = None, title: str = "") -> Axes:
    """Bars of the ``n`` most enriched k-mers (``log2_ratio`` column of :func:`kmer_enrichment`)."""
    ax = _axes(ax, (4, 0.25 * n + 1))
    top = enrichment.head(n)
    ax.barh(top.index.astype(str), top["log2_ratio"].to_numpy(), color="#8172b2")
    ax.invert_yaxis()
    ax.set_xlabel("log2 frequency ratio, positives / negatives")
    ax.set_title(title)
    return ax


def plot_label_cooccurrence(labels: np.ndarray, names: Sequence[str], ax: Axes | None = None) -> Axes:
    """Heatmap of P(column label | row label) for a 0/1 label matrix (records x labels)."""
    ax = _axes(ax, (5.5, 4.5))
    labels = np.asarray(labels, dtype=float)
    together = labels.T @ labels
    conditional = together / np.maximum(np.diag(together)[:, None], 1)
    image = ax.imshow(conditional, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            colour = "white" if conditional[i, j] < 0.6 else "black"
            ax.text(j, i, f"{conditional[i, j]:.2f}", ha="center", va="center", fontsize=8, color=colour)
    ax.figure.colorbar(image, ax=ax, label="P(column | row)")
    return ax


def _method_colours(colours: Mapping[str, str] | None) -> Mapping[str, str]:
    """``colours``, or the shared method registry's (:data:`utrbert.runs.builtin_methods.METHODS`)."""
    if colours is not None:
        return colours
    from utrbert.runs.builtin_methods import METHODS

    return METHODS.colours()


def plot_method_comparison(
    table: pd.DataFrame, ax: Axes | None = None, metric: str = "test AUROC", colours: Mapping[str, str] | None = None
) -> Axes:
    """One row per set (y), one marker per method (x = ``metric``; every column of ``table``), sets ordered by
    their mean over methods. ``colours``: method -> colour (a method registry's
    :meth:`~utrbert.runs.benchmark.MethodRegistry.colours`; default: the shared registry's)."""
    colours = _method_colours(colours)
    ax = _axes(ax, (8, max(3.0, 0.25 * len(table))))
    order = table.mean(axis=1).sort_values().index
    rows = np.arange(len(order))
    for method in table.columns:
        ax.scatter(table.loc[order, method], rows, s=22, label=method, color=colours.get(method), zorder=3)
    ax.set_yticks(rows, [str(name) for name in order], fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(metric)
    ax.legend(frameon=False, loc="lower right")
    return ax


def plot_paired_auroc(table: pd.DataFrame, x: str, y: str, ax: Axes | None = None, colour: str | None = None) -> Axes:
    """Scatter of method ``y`` against method ``x`` per set, with the diagonal; points above it favour ``y``."""
    ax = _axes(ax, (5, 5))
    both = table[[x, y]].dropna()
    if both.empty:
        ax.text(0.5, 0.5, f"no set has both {x} and {y}", ha="center", va="center", transform=ax.transAxes)
        return ax
    low = float(np.floor(both.min().min() * 20) / 20)
    high = float(np.ceil(both.max().max() * 20) / 20)
    ax.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--")
    ax.scatter(both[x], both[y], s=24, color=colour or _method_colours(None).get(y), zorder=3)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    above = int((both[y] > both[x]).sum())
    ax.set_title(f"{y} vs {x}: {above} of {len(both)} sets above the diagonal", fontsize=10)
    ax.set_xlabel(f"{x} test AUROC")
    ax.set_ylabel(f"{y} test AUROC")
    return ax


def plot_attention_landscape(
    landscape: Mapping[str, Sequence[float]], ax: Axes | None = None, title: str = "", centre: int | None = None
) -> Axes:
    """Mean [CLS] attention per nucleotide of positive and negative windows, x relative to the window centre."""
    ax = _axes(ax, (6, 3.5))
    positive = np.asarray(landscape["positive_mean"], dtype=float)
    negative = np.asarray(landscape["negative_mean"], dtype=float)
    centre = len(positive) // 2 if centre is None else centre
    x = np.arange(len(positive)) - centre
    for values, name, colour in ((positive, "positive", "#c44e52"), (negative, "negative", "#8c8c8c")):
        n = landscape.get(f"n_{name}")
        ax.plot(x, values, color=colour, label=f"{name}s" + ("" if n is None else f" (n={int(n):,})"))
    ax.axvline(0, color="black", linewidth=0.6, linestyle=":")
    ax.set_xlabel("position relative to the crosslink site (nt)")
    ax.set_ylabel("mean [CLS] attention")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_logo(pwm, ax: Axes | None = None, title: str | None = None, information: bool = True) -> Axes:
    """A sequence logo of a :class:`~utrbert.motifs.pwm.Pwm` drawn locally with logomaker (no web service).

    ``information=True`` scales letters to bits (information content), otherwise to probabilities.
    """
    import logomaker

    from utrbert.motifs.pwm import RNA_ALPHABET

    ax = _axes(ax, (max(2.0, 0.45 * pwm.width), 1.6))
    frame = pd.DataFrame(pwm.matrix, columns=list(RNA_ALPHABET))
    if information:
        frame = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
    logomaker.Logo(frame, ax=ax, color_scheme="classic", show_spines=False)
    ax.set_ylabel("bits" if information else "probability")
    ax.set_ylim(0, 2 if information else 1)
    ax.set_xticks(range(pwm.width))
    ax.set_xticklabels([str(i + 1) for i in range(pwm.width)], fontsize=7)
    ax.set_title(pwm.name if title is None else title, fontsize=9)
    return ax


def plot_mutagenesis(matrix: pd.DataFrame, sequence: str, ax: Axes | None = None, title: str = "") -> Axes:
    """Heatmap of a 4 x L mutagenesis ``delta`` matrix (rows A C G U), centred at 0, reference letters on x."""
    ax = _axes(ax, (max(6.0, 0.12 * matrix.shape[1]), 2.2))
    limit = float(np.nanmax(np.abs(matrix.to_numpy()))) or 1.0
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(4))
    ax.set_yticklabels(list(matrix.index))
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_xticklabels(list(sequence.upper().replace("T", "U"))[: matrix.shape[1]], fontsize=6)
    ax.set_xlabel("reference sequence")
    ax.set_ylabel("substituted to")
    ax.figure.colorbar(image, ax=ax, label="score change")
    if title:
        ax.set_title(title)
    return ax


def plot_token_scores(
    tokens: Sequence[str], scores: np.ndarray, ax: Axes | None = None, title: str = "", per_row: int = 20,
    label: str = "score", symmetric: bool = True,
) -> Axes:
    """Tokens written as text, each on a background coloured by its score (the paper's Fig. 7b style).

    ``symmetric`` centres the diverging colour scale at 0 (attributions); otherwise it runs from 0 up
    (attention). Tokens wrap every ``per_row`` tokens.
    """
    from matplotlib import cm, colors

    values = np.asarray(scores, dtype=float)
    if len(values) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(values)} scores")
    rows = max(1, -(-len(tokens) // per_row))
    ax = _axes(ax, (0.55 * per_row, 0.45 * rows + 0.6))
    top = float(np.nanmax(np.abs(values))) or 1.0
    norm = colors.Normalize(-top, top) if symmetric else colors.Normalize(0.0, top)
    cmap = plt.get_cmap("RdBu_r" if symmetric else "Reds")
    for i, (token, value) in enumerate(zip(tokens, values)):
        row, col = divmod(i, per_row)
        ax.text(col + 0.5, rows - row - 0.5, token, ha="center", va="center", family="monospace", fontsize=8,
                bbox={"boxstyle": "square,pad=0.25", "facecolor": cmap(norm(value)), "edgecolor": "none"})
    ax.set_xlim(0, per_row)
    ax.set_ylim(0, rows)
    ax.axis("off")
    ax.figure.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label, fraction=0.03, pad=0.01)
    if title:
        ax.set_title(title)
    return ax
