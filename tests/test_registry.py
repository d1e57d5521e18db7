"""Dataset registry: data-directory resolution, checksums, atomic downloads (file:// only, never the network)."""

from __future__ import annotations

import hashlib
import re
import socket
import urllib.error
import zipfile
from pathlib import Path
from types import MappingProxyType

import pytest

from utrbert.data import registry
from utrbert.data.registry import (
    DATA_DIR_ENV,
    DATASETS,
    ChecksumError,
    DataFile,
    Dataset,
    DatasetNotFoundError,
    Source,
    dataset_path,
    download_file,
    extract_wheel_member,
    fetch_dataset,
    get_dataset,
    md5_file,
    resolve_data_dir,
    verify_dataset,
)
from utrbert.data.synthetic import write_demo_data


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a test tried to reach the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def part_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


# ----- the registered data sets -----------------------------------------------------------------------------


def test_registry_has_the_expected_data_sets_and_folders() -> None:
    expected = {
        "rbp31": "rbp31",
        "mst_m6a": "m6a/mst_m6a",
        "dm3loc": "localization/dm3loc",
        "3utrbert_vocab": "3utrbert_vocab",
        "attract_meme": "motifs/attract_meme",
        "attract_raw": "motifs/attract_raw",
        "ray2013": "motifs/ray2013",
        "rbpbench": "motifs/rbpbench",
    }
    assert {name: d.relative_path for name, d in DATASETS.items()} == expected


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_file_has_a_checksum_and_a_pinned_source(name: str) -> None:
    dataset = DATASETS[name]
    assert dataset.description and dataset.upstream and dataset.license and dataset.files
    paths = [f.path for f in dataset.files]
    assert len(paths) == len(set(paths))
    for data_file in dataset.files:
        assert re.fullmatch(r"[0-9a-f]{32}", data_file.md5 or ""), data_file.path
        source = data_file.source
        assert source is not None
        if source.url is not None:
            # GitHub raw files at a full 40-hex commit, never a moving branch
            assert re.match(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/", source.url), source.url
        else:
            assert re.fullmatch(r"[\w.-]+==[\w.]+", source.package or "")
            assert re.fullmatch(r"[0-9a-f]{64}", source.wheel_sha256 or "") and source.member


def test_rbp31_registry_covers_31_sets_with_train_and_test() -> None:
    paths = [f.path for f in DATASETS["rbp31"].files]
    sets = {p.split("/")[0] for p in paths}
    assert len(sets) == 31 and len(paths) == 62
    for set_name in sets:
        for folder in ("training_sample_0", "test_sample_0"):
            assert f"{set_name}/30000/{folder}/sequences.fa.gz" in paths
    name = "31_ICLIP_U2AF65_Hela_iCLIP_ctrl+kd_all_clusters"
    plus = get_dataset("rbp31").file(f"{name}/30000/test_sample_0/sequences.fa.gz")
    assert plus.source is not None and "ctrl%2Bkd" in (plus.source.url or "")  # '+' is quoted in the URL


def test_dm3loc_fasta_comes_from_the_pinned_wheel() -> None:
    source = get_dataset("dm3loc").file("modified_multilabel_seq_nonredundent.fasta").source
    assert source is not None and source.package == "dm3loc==1.2.0"
    assert source.member == "DM3Loc/testdata/modified_multilabel_seq_nonredundent.fasta"
    assert "pip download --no-deps dm3loc==1.2.0" in source.describe()


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="rbp31"):
        get_dataset("rbp32")


def test_source_needs_exactly_one_origin() -> None:
    with pytest.raises(ValueError):
        Source()
    with pytest.raises(ValueError):
        Source(url="https://x", package="a==1", member="m")
    with pytest.raises(ValueError):
        Source(package="a", member="m")


# ----- finding the data directory ---------------------------------------------------------------------------


def test_resolve_data_dir_argument_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(other) == other


def test_resolve_data_dir_without_anything_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(DatasetNotFoundError, match=DATA_DIR_ENV):
        resolve_data_dir()


def test_resolve_data_dir_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope")


@pytest.mark.parametrize(
    ("name", "route"), [("rbp31", "raw.githubusercontent.com/xypan1232/iDeepS"), ("dm3loc", "dm3loc==1.2.0")]
)
def test_missing_dataset_error_gives_the_download_route(tmp_path: Path, name: str, route: str) -> None:
    with pytest.raises(DatasetNotFoundError, match=re.escape(route)):
        dataset_path(name, tmp_path)


def test_dataset_path_on_demo_data(tmp_path: Path) -> None:
    root = write_demo_data(tmp_path / "demo")
    assert dataset_path("dm3loc", root) == root / "localization" / "dm3loc"


def test_demo_data_never_verifies_as_the_published_data(tmp_path: Path) -> None:
    root = write_demo_data(tmp_path / "demo")
    rbp31 = verify_dataset("rbp31", root, progress=False)
    assert not rbp31.ok and {c.status for c in rbp31.checks} == {"missing"}  # demo set names differ from the real
    dm3loc = verify_dataset("dm3loc", root, progress=False)  # same file names, different content
    assert not dm3loc.ok and {c.status for c in dm3loc.checks} == {"mismatch"}


# ----- verification -----------------------------------------------------------------------------------------


@pytest.fixture()
def toy_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Dataset, Path]:
    """A registered toy data set whose upstream files are local file:// URLs and a local wheel."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    a, b = b">x\nACGU\n", b"motif data\n"
    (upstream / "a.fa").write_bytes(a)
    wheel = tmp_path / "wheels" / "toypkg-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("toypkg/data/b.txt", b)
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    dataset = Dataset(
        name="toy",
        description="toy",
        relative_path="toys/toy",
        upstream="local",
        license="none",
        citation="none",
        files=(
            DataFile("a.fa", md5_bytes(a), Source(url=(upstream / "a.fa").as_uri())),
            DataFile(
                "sub/b.txt",
                md5_bytes(b),
                Source(package="toypkg==1.0", member="toypkg/data/b.txt", wheel_sha256=wheel_sha),
            ),
        ),
    )
    monkeypatch.setattr(registry, "DATASETS", MappingProxyType({**DATASETS, "toy": dataset}))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return dataset, data_dir


def test_fetch_then_verify_then_detect_changes(toy_dataset: tuple[Dataset, Path], tmp_path: Path) -> None:
    dataset, data_dir = toy_dataset
    with pytest.raises(DatasetNotFoundError, match="wheel_dir"):
        fetch_dataset("toy", data_dir, progress=False)
    root = fetch_dataset("toy", data_dir, wheel_dir=tmp_path / "wheels", progress=False)
    assert root == data_dir / "toys" / "toy"
    assert verify_dataset("toy", data_dir, progress=False).ok
    (root / "a.fa").write_bytes(b">x\nACGA\n")
    (root / "sub" / "b.txt").unlink()
    report = verify_dataset("toy", data_dir, progress=False)
    assert {c.path: c.status for c in report.checks} == {"a.fa": "mismatch", "sub/b.txt": "missing"}
    assert "mismatch" in report.summary()
    fetch_dataset("toy", data_dir, wheel_dir=tmp_path / "wheels", progress=False)  # repairs both
    assert verify_dataset("toy", data_dir, progress=False).ok
    assert not part_files(data_dir)


def test_fetch_names_the_pip_command_when_the_wheel_is_absent(
    toy_dataset: tuple[Dataset, Path], tmp_path: Path
) -> None:
    _, data_dir = toy_dataset
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="pip download --no-deps toypkg==1.0"):
        fetch_dataset("toy", data_dir, wheel_dir=empty, progress=False)


# ----- download_file and wheel members ----------------------------------------------------------------------


def test_download_file_from_file_url_is_verified_and_atomic(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 5000
    source = tmp_path / "src.bin"
    source.write_bytes(payload)
    dest = tmp_path / "out" / "dest.bin"
    assert download_file(source.as_uri(), dest, md5_bytes(payload), progress=False) == dest
    assert dest.read_bytes() == payload and md5_file(dest) == md5_bytes(payload)
    assert not part_files(tmp_path)


def test_download_checksum_mismatch_deletes_and_keeps_old_file(tmp_path: Path) -> None:
    source = tmp_path / "src.txt"
    source.write_bytes(b"new content")
    dest = tmp_path / "dest.txt"
    with pytest.raises(ChecksumError, match="expected 0{32}"):
        download_file(source.as_uri(), dest, "0" * 32, progress=False)
    assert not dest.exists() and not part_files(tmp_path)
    dest.write_bytes(b"old content")
    with pytest.raises(ChecksumError):
        download_file(source.as_uri(), dest, "0" * 32, progress=False)
    assert dest.read_bytes() == b"old content"


def test_download_replaces_a_wrong_existing_file_and_keeps_a_right_one(tmp_path: Path) -> None:
    source = tmp_path / "src.txt"
    source.write_bytes(b"right")
    dest = tmp_path / "dest.txt"
    dest.write_bytes(b"wrong")
    download_file(source.as_uri(), dest, md5_bytes(b"right"), progress=False)
    assert dest.read_bytes() == b"right"
    source.unlink()  # a right file is not fetched again
    download_file(source.as_uri(), dest, md5_bytes(b"right"), progress=False)
    assert dest.read_bytes() == b"right"


def test_download_errors_leave_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(urllib.error.URLError):
        download_file((tmp_path / "absent").as_uri(), tmp_path / "d.txt", progress=False)
    assert not (tmp_path / "d.txt").exists() and not part_files(tmp_path)
    with pytest.raises(ValueError, match="scheme"):
        download_file("ftp://example.org/x", tmp_path / "d.txt", progress=False)


def test_extract_wheel_member_checks_sha256_and_md5(tmp_path: Path) -> None:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/data.txt", b"payload")
    dest = tmp_path / "out" / "data.txt"
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    extract_wheel_member(wheel, "pkg/data.txt", dest, md5_bytes(b"payload"), wheel_sha)
    assert dest.read_bytes() == b"payload"
    with pytest.raises(ChecksumError, match="sha256"):
        extract_wheel_member(wheel, "pkg/data.txt", tmp_path / "x.txt", wheel_sha256="0" * 64)
    with pytest.raises(ChecksumError, match="md5"):
        extract_wheel_member(wheel, "pkg/data.txt", tmp_path / "y.txt", md5="0" * 32)
    with pytest.raises(KeyError, match="pkg/absent"):
        extract_wheel_member(wheel, "pkg/absent", tmp_path / "z.txt")
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "y.txt").exists() and not part_files(tmp_path)
