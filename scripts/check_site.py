"""Check the rendered book as a reader's browser sees it: every page loads, no broken image or internal link,
no machine path, no traceback in an output.

    python scripts/check_site.py [_build/html] [--browser auto|chromium|none]

Each page is loaded in headless Chromium (Debian package ``chromium``) and checked on the DOM after its scripts
ran (``--dump-dom``); without a browser (``--browser none``, or ``auto`` when none is installed) the HTML files
are checked as written, and the report says so. Exit status 1 when any page has a problem.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

logger = logging.getLogger("check_site")

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
MACHINE_PATH = re.compile(r"(/work/(main|shared)\b|/root/|/home/[a-z_][\w-]*/|/tmp/(pytest|tmp)|[A-Z]:\\Users\\)")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|output_error|ansi-red-fg\">[A-Za-z]*Error")
REDIRECT = re.compile(r"<meta[^>]+http-equiv=[\"']?refresh[\"']?[^>]+url=([^\"'>\s]+)", re.IGNORECASE)
IMAGE_MAGIC = {"png": b"\x89PNG", "jpeg": b"\xff\xd8", "gif": b"GIF8", "svg+xml": b"<"}


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    images: int = 0
    links: int = 0


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[str] = []
        self.links: list[str] = []
        self.body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "body":
            self.body = True
        elif tag == "img" and values.get("src"):
            self.images.append(values["src"] or "")
        elif tag in ("a", "link") and values.get("href"):
            self.links.append(values["href"] or "")
        elif tag == "script" and values.get("src"):
            self.links.append(values["src"] or "")


def find_browser() -> str | None:
    """The first headless-capable Chromium on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def rendered_dom(browser: str, page: Path, timeout_s: float = 60) -> str:
    """The page's DOM after load, as headless Chromium serialises it."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--virtual-time-budget=5000", "--dump-dom", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0 or "<body" not in done.stdout:
        raise RuntimeError(f"{browser} could not load {page} (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return done.stdout


def _check_image(src: str, page: Path, site: Path) -> str | None:
    if src.startswith("data:"):
        header, _, payload = src.partition(",")
        kind = header.removeprefix("data:image/").split(";")[0]
        try:
            raw = base64.b64decode(payload, validate=True) if ";base64" in header else unquote(payload).encode()
        except (binascii.Error, ValueError):
            return f"image with a corrupt data URI ({header[:40]})"
        magic = IMAGE_MAGIC.get(kind)
        if not raw or (magic is not None and not raw.lstrip().startswith(magic)):
            return f"image data that is not {kind} ({header[:40]})"
        return None
    return _check_target(src, page, site, "image")


def _check_target(url: str, page: Path, site: Path, what: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https", "mailto", "data", "javascript") or url.startswith("#"):
        return None
    if parsed.scheme == "file":
        target = Path(unquote(parsed.path))
    else:
        target = (page.parent / unquote(parsed.path)).resolve()
    if not target.exists():
        return f"broken {what}: {url}"
    try:
        target.resolve().relative_to(site.resolve())
    except ValueError:
        return f"{what} outside the site: {url}"
    return None


def check_page(page: Path, site: Path, browser: str | None, extra_paths: tuple[str, ...] = ()) -> PageReport:
    """Problems of one page: load failure, broken images and internal links, machine paths, tracebacks."""
    report = PageReport(str(page.relative_to(site)))
    redirect = REDIRECT.search(page.read_text(encoding="utf-8", errors="replace"))
    if redirect:  # a redirect stub (index.html): its target must exist; the target is checked as its own page
        report.links = 1
        if (problem := _check_target(redirect.group(1), page, site, "redirect")) is not None:
            report.problems.append(problem)
        return report
    try:
        html = rendered_dom(browser, page) if browser else page.read_text(encoding="utf-8")
    except (RuntimeError, subprocess.TimeoutExpired, UnicodeDecodeError) as exc:
        report.problems.append(f"does not load: {exc}")
        return report
    collector = _Collector()
    collector.feed(html)
    if not collector.body:
        report.problems.append("no <body> after loading")
    report.images, report.links = len(collector.images), len(collector.links)
    for src in collector.images:
        if (problem := _check_image(src, page, site)) is not None:
            report.problems.append(problem)
    for href in collector.links:
        if (problem := _check_target(href, page, site, "link")) is not None:
            report.problems.append(problem)
    text = re.sub(r"data:[^\"' )]+", "", html)  # embedded images are not text
    for match in sorted({m.group(0) for m in MACHINE_PATH.finditer(text)}):
        report.problems.append(f"machine path on the page: {match!r}")
    for path in extra_paths:
        if path and path in text:
            report.problems.append(f"machine path on the page: {path!r}")
    if TRACEBACK.search(text):
        report.problems.append("a traceback or error output on the page")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", type=Path, default=Path("_build/html"), help="the rendered book")
    parser.add_argument("--browser", choices=["auto", "chromium", "none"], default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.site / "index.html").is_file():
        logger.error("%s has no index.html: build the book first (make book)", args.site)
        return 2
    browser = find_browser() if args.browser != "none" else None
    if args.browser == "chromium" and browser is None:
        logger.error("no Chromium on PATH (Debian: apt-get install chromium)")
        return 2
    how = f"headless {Path(browser).name}" if browser else "the HTML files as written (no browser installed)"
    repo = str(Path.cwd().resolve())
    extra = (repo, os.environ.get("UTRBERT_DATA", ""))
    pages = sorted(p for p in args.site.rglob("*.html") if "_static" not in p.parts)
    reports = [check_page(page, args.site, browser, extra) for page in pages]
    bad = [r for r in reports if r.problems]
    for report in reports:
        status = "ok" if not report.problems else f"{len(report.problems)} problem(s)"
        logger.info("%-40s %3d images %4d links  %s", report.page, report.images, report.links, status)
        for problem in report.problems[:10]:
            logger.info("    %s", problem)
    logger.info("%d pages checked with %s: %d with problems", len(reports), how, len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
