"""MEME reading/writing (against memelite's reader and the real ATtRACT file) and per-nucleotide score files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from utrbert.motifs.meme import MemeFormatError, rbp_of, read_meme, write_meme
from utrbert.motifs.pwm import Pwm, iupac_pwm
from utrbert.interpret.score_files import ScoreFileError, provenance_path, read_scores, write_scores


def _motifs() -> list[Pwm]:
    rng = np.random.default_rng(0)
    return [Pwm("m1", rng.dirichlet(np.ones(4), size=7), alt_name="PUM2:ENSG1:m1", nsites=12),
            iupac_pwm("UGCAUGU", name="m2")]


def test_meme_round_trip_and_memelite_reads_our_files(tmp_path) -> None:
    from memelite.io import read_meme as memelite_read

    path = write_meme(_motifs(), tmp_path / "out.meme")
    back = read_meme(path)
    assert [(m.name, m.alt_name, m.nsites) for m in back] == [("m1", "PUM2:ENSG1:m1", 12), ("m2", "", 0)]
    for a, b in zip(_motifs(), back):
        assert np.allclose(a.matrix, b.matrix, atol=1e-6)
    theirs = memelite_read(str(path))
    assert list(theirs) == ["m1 PUM2:ENSG1:m1", "m2"]
    assert np.allclose(theirs["m1 PUM2:ENSG1:m1"].T, back[0].matrix, atol=1e-6)
    assert rbp_of(back[0]) == "PUM2" and rbp_of(back[1]) == ""


@pytest.mark.parametrize(
    "body, message",
    [("ALPHABET= ACGU\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n", "w= 2 but 1"),
     ("ALPHABET= ACGU\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5\n", "3 values"),
     ("ALPHABET= ACGU\n\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.9 0.5 0.5 0.5\n", "sums to"),
     ("ALPHABET= ACDEFGHIKLMNPQRSTVWY\n", "alphabet"),
     ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n0.25 0.25 0.25 0.25\n", "ALPHABET"),
     ("ALPHABET= ACGU\n", "no MOTIF"),
     ("ALPHABET= ACGU\nMOTIF a\nletter-probability matrix: w= 1\n1 0 0 0\nMOTIF a\n"
      "letter-probability matrix: w= 1\n1 0 0 0\n", "twice")],
)
def test_corrupt_meme_files_name_the_problem(tmp_path, body: str, message: str) -> None:
    path = tmp_path / "bad.meme"
    path.write_text("MEME version 5\n\n" + body)
    with pytest.raises(MemeFormatError, match=message):
        read_meme(path)


def test_dna_alphabet_files_are_read_as_rna(tmp_path) -> None:
    path = tmp_path / "dna.meme"
    path.write_text("MEME version 4\n\nALPHABET= ACGT\n\nMOTIF x X\nletter-probability matrix: alength= 4 w= 2\n"
                    "0 0 0 1\n1 0 0 0\n")
    assert read_meme(path)[0].consensus == "UA"


@pytest.mark.realdata
def test_the_attract_human_database_reads_completely(real_data_dir) -> None:
    motifs = read_meme(real_data_dir / "motifs/attract_meme/ATtRACT/Homo_sapiens.meme")
    assert len(motifs) == 1194
    rbps = {rbp_of(m) for m in motifs}
    assert len(rbps) == 159 and {"PUM2", "QKI", "HNRNPC", "ELAVL1", "TARDBP"} <= rbps


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz", ".npz"])
def test_score_files_round_trip_with_provenance(tmp_path, suffix: str) -> None:
    rng = np.random.default_rng(2)
    scores = {"chr1:+:1-101": rng.random(101), "b": rng.random(7), "c": rng.random(1)}
    path = write_scores(scores, tmp_path / f"scores{suffix}", {"model": "m", "k": 3})
    back = read_scores(path)
    assert list(back) == list(scores)
    for key in scores:
        assert back[key].shape == scores[key].shape
        assert np.allclose(back[key], scores[key], rtol=1e-5)
    assert '"k": 3' in provenance_path(path).read_text()


def test_padded_npz_without_lengths_is_trimmed_of_nan(tmp_path) -> None:
    path = tmp_path / "user.npz"
    np.savez(path, ids=np.array(["a", "b"]), scores=np.array([[1.0, 2.0, 3.0], [4.0, np.nan, np.nan]]))
    back = read_scores(path)
    assert back["a"].tolist() == [1.0, 2.0, 3.0] and back["b"].tolist() == [4.0]


@pytest.mark.parametrize(
    "text, message",
    [("id\tscores\na\t1,2\na\t3\n", "appears twice"), ("id\tscores\na\t1,x\n", "not numbers"),
     ("id\tvalues\na\t1\n", "header"), ("id\tscores\na\t\n", "no scores"), ("id\tscores\na\t1\t2\n", "2 tab"),
     ("id\tscores\na\t1,nan\n", "NaN")],
)
def test_corrupt_score_files_name_the_record(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(ScoreFileError, match=message):
        read_scores(path)


def test_truncated_gzip_score_file_is_an_error(tmp_path) -> None:
    path = tmp_path / "s.tsv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("id\tscores\n" + "".join(f"r{i}\t1,2,3\n" for i in range(2000)))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ScoreFileError, match="cannot read"):
        read_scores(path)


def test_score_files_are_replaced_whole_and_a_mismatched_provenance_is_named(tmp_path) -> None:
    import numpy as np

    from utrbert.interpret.score_files import ScoreFileError, provenance_path, read_score_provenance, read_scores, write_scores

    path = tmp_path / "scores.npz"
    write_scores({"a": np.array([0.1, 0.2])}, path, {"model": "first"})
    old_provenance = provenance_path(path).read_text()
    assert read_score_provenance(path)["model"] == "first"
    write_scores({"a": np.array([0.3, 0.4, 0.5])}, path, {"model": "second"})
    assert read_scores(path)["a"].tolist() == pytest.approx([0.3, 0.4, 0.5])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.npz", "scores.npz.provenance.json"]  # no temporaries
    provenance_path(path).write_text(old_provenance)  # as if killed between the data and its provenance
    with pytest.raises(ScoreFileError, match="describes another version of scores.npz"):
        read_score_provenance(path)
    tsv = tmp_path / "scores.tsv.gz"
    write_scores({"b": np.array([1.0])}, tsv, {})
    assert read_scores(tsv)["b"].tolist() == [1.0] and "data_sha256" in read_score_provenance(tsv)
