"""Bad input through the readers, the tokenizer and the command line: each class is refused with a message that
names the file (and line or record), or normalised in a documented way. One row per class of bad input."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from utrbert.__main__ import main
from utrbert.data.readers import read_labeled_sequences, read_sequences
from utrbert.data.records import DataFormatError
from utrbert.tokens.kmers import SequenceError
from utrbert.tokens.tokenization import KmerTokenizer


@dataclass(frozen=True)
class Refused:
    """A reader call on a file with ``content`` (bytes or text) refused with ``error`` whose message matches
    ``message`` (the file's name is always required too, as ``{path}``)."""

    name: str
    suffix: str
    content: bytes | str
    message: str
    labelled: bool = True
    k: int | None = None
    error: type[Exception] = DataFormatError


def _gzip_truncated() -> bytes:
    data = gzip.compress(b">a class:1\nACGUACGUACGU\n>b class:0\nACGUACGUAAAA\n" * 50)
    return data[: len(data) // 2]


REFUSED = [
    Refused("text before the first header", ".fa", "ACGU\n>a class:1\nACGU\n", r"line 1: sequence text before the first"),
    Refused("empty FASTA", ".fa", "", r"no FASTA records found"),
    Refused("FASTA header without an id", ".fa", ">\nACGU\n", r"line 1: empty FASTA header", labelled=False),
    Refused("duplicate FASTA id", ".fa", ">a class:1\nACGU\n>a class:0\nACGA\n", r"line 3, record 'a': duplicate id"),
    Refused("empty sequence", ".fa", ">a class:1\n>b class:0\nACGU\n", r"record 'a': empty sequence"),
    Refused("FASTA cut after a header", ".fa", ">a\nACGUACGU\n>b\n", r"line 3, record 'b': empty sequence", labelled=False),
    Refused("a character that is no nucleotide code", ".fa", ">a class:1\nACGXQ\n", r"record 'a'"),
    Refused("protein sequence", ".fa", ">p class:1\nMKTAYIAKQRQISFVKSHFSRQ\n", r"record 'p'"),
    Refused("no label in a labelled FASTA", ".fa", ">a some text\nACGU\n", r"record 'a'|line 1"),
    Refused("two different labels in one header", ".fa", ">a class:1 label=0\nACGU\n", r"two different labels"),
    Refused("non-integer label", ".tsv", "id\tsequence\tlabel\na\tACGUACGU\tyes\n", r"record 'a': label 'yes'"),
    Refused("missing label value", ".tsv", "id\tsequence\tlabel\na\tACGUACGU\t\n", r"record 'a': missing label"),
    Refused("no label column", ".tsv", "id\tsequence\na\tACGUACGU\n", r"has no 'label' column"),
    Refused("no sequence column", ".tsv", "id\tseq\tlabel\na\tACGU\t1\n", r"has no 'sequence' column"),
    Refused("repeated column", ".tsv", "id\tsequence\tsequence\tlabel\na\tACGU\tACGU\t1\n", r"repeats a column"),
    Refused("blank sequence cell", ".tsv", "id\tsequence\tlabel\na\t   \t1\n", r"record 'a': empty sequence"),
    Refused("duplicate table id", ".tsv", "id\tsequence\na\tACGU\na\tACGA\n", r"line 3, record 'a': duplicate id",
            labelled=False),
    Refused("sequence shorter than k", ".tsv", "id\tsequence\tlabel\na\tAC\t1\n", r"record 'a': sequence of 2 nt is shorter",
            k=3),
    Refused("k-mers of another k", ".tsv", "id\tsequence\tlabel\na\tACG CGU GUA\t1\n", r"length \[3\].*k=4", k=4),
    Refused("equal pieces that are not overlapping k-mers", ".tsv", "id\tsequence\tlabel\na\tACG CGA GUA\t1\n",
            r"do not overlap", k=3),
    Refused("k-mer text inside a FASTA", ".fa", ">a class:1\nACG CGU GUA\n", r"line 2: space-separated overlapping k-mers"),
    Refused("FASTA content under a table name", ".txt", ">a class:1\nACGU\n", r"first line is a FASTA header"),
    Refused("truncated gzip file", ".fa.gz", _gzip_truncated(), r"middle of the gzip stream"),
    Refused("corrupt gzip file", ".fa.gz", b"\x1f\x8b\x08\x00garbage-not-deflate", r"cannot be read|gzip"),
    Refused("not UTF-8 text", ".fa", b">a class:1\nAC\xff\xfeGU\n", r"not UTF-8"),
    Refused("unknown file suffix", ".seq", ">a class:1\nACGU\n", r"cannot tell the format", error=ValueError),
    Refused("empty table", ".tsv", "", r"empty file"),
]


@pytest.mark.parametrize("case", REFUSED, ids=[case.name for case in REFUSED])
def test_bad_files_are_refused_naming_file_and_record(case: Refused, tmp_path: Path) -> None:
    path = tmp_path / f"input{case.suffix}"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    reader: Callable[..., object] = read_labeled_sequences if case.labelled else read_sequences
    with pytest.raises(case.error) as error:
        reader(path, k=case.k)
    assert str(path) in str(error.value) or path.name in str(error.value)
    assert re.search(case.message, str(error.value)), str(error.value)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("CRLF line endings", b">a class:1\r\nACGU\r\nACGU\r\n", [("a", "ACGUACGU", 1)]),
        ("byte-order mark (FASTA)", b"\xef\xbb\xbf>a class:1\nACGU\n", [("a", "ACGU", 1)]),
        ("lower case and T", b">a class:0\nacgtacgt\n", [("a", "ACGUACGU", 0)]),
        ("multi-line sequence", b">a class:1\nACGU\nUUUU\n\n", [("a", "ACGUUUUU", 1)]),
        ("k-mer text in a table", None, [("a", "ACGUA", 1)]),
        ("byte-order mark (table)", None, [("a", "ACGU", 1)]),
    ],
)
def test_documented_normalisations(name: str, content: bytes | None, expected: list, tmp_path: Path) -> None:
    """Accepted variations that mean the same records (README: 'Accepted input')."""
    if name == "k-mer text in a table":
        path = tmp_path / "in.tsv"
        path.write_text("id\tsequence\tlabel\na\tACG CGU GUA\t1\n")
    elif name == "byte-order mark (table)":
        path = tmp_path / "in.tsv"
        path.write_bytes(b"\xef\xbb\xbfid\tsequence\tlabel\na\tACGU\t1\n")
    else:
        path = tmp_path / "in.fa"
        path.write_bytes(content)
    records = read_labeled_sequences(path, k=3)
    assert [(r.id, r.sequence, r.label) for r in records] == expected


@pytest.mark.parametrize(
    ("name", "call", "error", "message"),
    [
        ("k outside 3..6", lambda: KmerTokenizer(k=7), ValueError, r"k must be one of \(3, 4, 5, 6\)"),
        ("sequence longer than the model window", lambda: KmerTokenizer(k=3)(["A" * 600]), SequenceError,
         r"sequence #0: 600 nt .* model window of 512"),
        ("a character that is no nucleotide code", lambda: KmerTokenizer(k=3)(["ACGU", "ACG*U"]), SequenceError,
         r"#1"),
        ("an empty sequence", lambda: KmerTokenizer(k=3)(["ACGU", ""]), SequenceError, r"#1"),
    ],
)
def test_tokenizer_refuses_bad_sequences_naming_them(name: str, call: Callable[[], object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_a_reordered_vocabulary_is_refused_at_the_first_wrong_line(tmp_path: Path) -> None:
    tokens = KmerTokenizer(k=3).ids_to_tokens
    swapped = [*tokens[:5], tokens[6], tokens[5], *tokens[7:]]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(swapped) + "\n")
    with pytest.raises(ValueError, match=r"line 6 holds 'AAU' where 'AAA' belongs"):
        KmerTokenizer(k=3, vocab_file=str(path))


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("missing model directory", ["predict", "--model", "{tmp}/nope", "--input", "{fa}", "--out", "{tmp}/o.tsv"],
         r"nope"),
        ("missing input file", ["attention", "--model", "{tmp}/nope", "--input", "{tmp}/none.fa", "--out", "{tmp}/o.tsv"],
         r"none\.fa|nope"),
        ("finetune on a file with one class", ["finetune", "--train", "{one}", "--test", "{one}", "--out", "{tmp}/run"],
         r"one\.tsv"),
        ("motifs with scores for no positive", ["motifs", "--pos", "{fa}", "--neg", "{fa}", "--scores", "{tmp}/s.tsv",
                                                "--out", "{tmp}/m", "--db", "none"], r"s\.tsv|no such file"),
    ],
)
def test_command_line_refuses_bad_input_with_exit_code_2(name: str, args: list[str], message: str, tmp_path: Path,
                                                         caplog) -> None:
    fasta = tmp_path / "in.fa"
    fasta.write_text(">a\nACGUACGUAC\n")
    one = tmp_path / "one.tsv"
    one.write_text("id\tsequence\tlabel\n" + "".join(f"r{i}\tACGUACGUACGU\t1\n" for i in range(20)))
    filled = [a.format(tmp=tmp_path, fa=fasta, one=one) for a in args]
    assert main(["-q", *filled]) == 2
    assert re.search(message, caplog.text), caplog.text


@pytest.fixture(scope="module")
def classifier(tiny_classifier: Path) -> Path:
    return tiny_classifier


def _damaged_copy(classifier: Path, tmp_path: Path, damage: str) -> Path:
    import json
    import shutil

    target = tmp_path / damage
    shutil.copytree(classifier, target)
    if damage == "truncated weights":
        weights = target / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "config of another model":
        config = json.loads((target / "config.json").read_text())
        config.update(hidden_size=64, intermediate_size=128)
        (target / "config.json").write_text(json.dumps(config))
    elif damage == "no config":
        (target / "config.json").unlink()
    return target


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        ("truncated weights", ValueError, r"cannot read the weights \(model\.safetensors\).*truncated"),
        ("config of another model", ValueError, r"shapes differ from those config\.json describes"),
        ("no config", FileNotFoundError, r"no config\.json"),
    ],
)
def test_damaged_checkpoints_are_refused_naming_the_folder(damage: str, error: type, message: str, classifier: Path,
                                                           tmp_path: Path) -> None:
    from utrbert.models.model import load_model

    target = _damaged_copy(classifier, tmp_path, damage)
    with pytest.raises(error, match=message) as caught:
        load_model(target, task="classification", num_labels=2)
    assert str(target) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("attention layer beyond the model", ["attention", "--layers", "9"], r"layer 9 is out of range"),
        ("cuda without a CUDA device", ["predict", "--device", "cuda"], r"no CUDA device here"),
        ("unknown device", ["predict", "--device", "tpu7"], r"unknown device 'tpu7'"),
    ],
)
def test_command_line_options_that_cannot_work_are_refused(name: str, args: list[str], message: str, classifier: Path,
                                                          tmp_path: Path, caplog) -> None:
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    fasta = tmp_path / "in.fa"
    fasta.write_text(">a\nACGUACGUAC\n")
    command, *options = args
    assert main(["-q", command, "--model", str(classifier), "--input", str(fasta), "--out", str(tmp_path / "o.tsv"),
                 *options]) == 2  # fmt: skip
    assert re.search(message, caplog.text), caplog.text
    assert not (tmp_path / "o.tsv").exists()


def test_a_corrupt_score_file_and_a_malformed_profile_are_refused_by_name(tmp_path: Path, caplog) -> None:
    from utrbert.book.runner import ProfileError, load_profile

    fasta = tmp_path / "in.fa"
    fasta.write_text(">a\nACGUACGUAC\n")
    scores = tmp_path / "s.npz"
    scores.write_bytes(b"PK\x03\x04garbage")
    assert main(["-q", "motifs", "--pos", str(fasta), "--neg", str(fasta), "--scores", str(scores), "--out",
                 str(tmp_path / "m"), "--db", "none"]) == 2  # fmt: skip
    assert f"{scores}: cannot read" in caplog.text
    profile = tmp_path / "p.yaml"
    profile.write_text("profile: x\ndefaults: [unclosed\n")
    with pytest.raises(ProfileError, match=r"p\.yaml: not valid YAML \(line 3"):
        load_profile(profile)
