"""Figures draw what they are given (checked on the artists, headless)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from utrbert.book.plotting import (
    plot_composition,
    plot_label_balance,
    plot_label_cooccurrence,
    plot_length_distributions,
    plot_positional_frequencies,
    plot_token_scores,
    plot_top_kmers,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_bar_plots_draw_one_bar_per_row() -> None:
    fractions = pd.Series([0.2, 0.5], index=["set1", "set2"])
    assert [p.get_width() for p in plot_label_balance(fractions).patches] == [0.2, 0.5]
    composition = pd.DataFrame({"A": [0.3, 0.25], "C": [0.2, 0.25], "G": [0.2, 0.25], "U": [0.3, 0.25]}, index=["x", "y"])
    assert len(plot_composition(composition).patches) == 8
    enrichment = pd.DataFrame({"log2_ratio": [3.0, 2.0, 1.0]}, index=["UGUA", "GUAA", "AAAA"])
    assert [p.get_width() for p in plot_top_kmers(enrichment, n=2).patches] == [3.0, 2.0]


def test_line_and_histogram_plots_cover_their_inputs() -> None:
    ax = plot_length_distributions({"a": [100, 200, 300], "b": [1000, 5000]})
    assert len(ax.patches) == 2 and ax.get_xscale() == "log"
    table = pd.DataFrame(np.full((21, 4), 0.25), columns=list("ACGU"))
    ax = plot_positional_frequencies({"sites": table}, centre=10, flank=5)
    assert len(ax.lines) == 4 + 1  # four nucleotides and the centre line
    assert ax.lines[0].get_xdata().tolist() == list(range(-5, 6))


def test_cooccurrence_is_conditional_on_the_row_label() -> None:
    labels = np.array([[1, 1], [1, 0], [0, 1], [1, 1]])
    ax = plot_label_cooccurrence(labels, ["a", "b"])
    matrix = ax.images[0].get_array()
    assert matrix[0, 1] == pytest.approx(2 / 3) and matrix[1, 0] == pytest.approx(2 / 3)
    assert matrix[0, 0] == 1.0


def test_token_scores_write_every_token_coloured_by_its_score() -> None:
    ax = plot_token_scores(["AAA", "AAC", "ACG"], np.array([-1.0, 0.0, 1.0]), per_row=2)
    texts = ax.texts
    assert [t.get_text() for t in texts] == ["AAA", "AAC", "ACG"]
    faces = [t.get_bbox_patch().get_facecolor() for t in texts]
    assert faces[0][2] > faces[0][0] and faces[2][0] > faces[2][2]  # negative blue, positive red
    assert texts[2].get_position()[1] < texts[0].get_position()[1]  # wrapped to a second row
    with pytest.raises(ValueError, match="3 tokens but 2 scores"):
        plot_token_scores(["AAA", "AAC", "ACG"], np.array([0.0, 1.0]))
