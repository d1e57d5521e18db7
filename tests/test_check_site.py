"""scripts/check_site.py on a small hand-written site: each kind of defect is found, a clean site passes."""

from __future__ import annotations

import base64
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_site.py"
spec = importlib.util.spec_from_file_location("check_site", SCRIPT)
check_site = importlib.util.module_from_spec(spec)
sys.modules["check_site"] = check_site  # dataclasses look their module up while the script is executed
spec.loader.exec_module(check_site)

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
BROWSERS = ["none"] + (["chromium"] if check_site.find_browser() else [])


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>"


def _site(tmp_path: Path, pages: dict[str, str]) -> Path:
    site = tmp_path / "html"
    (site / "book").mkdir(parents=True)
    (site / "_images").mkdir()
    (site / "_images" / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    for name, body in pages.items():
        (site / "book" / name).write_text(_page(body))
    return site


@pytest.mark.parametrize("browser", BROWSERS)
def test_a_clean_site_passes_and_each_defect_is_named(tmp_path: Path, browser: str, monkeypatch) -> None:
    clean = {"intro.html": f'<a href="other.html#x">o</a><img src="{PNG}"><img src="../_images/fig.png">',
             "other.html": '<a href="intro.html">back</a><a href="https://example.org">out</a>'}
    site = _site(tmp_path, clean)
    monkeypatch.chdir(tmp_path)
    args = [str(site), "--browser", browser]
    assert check_site.main(args) == 0

    bad = {"intro.html": '<a href="gone.html">x</a>',
           "image.html": '<img src="../_images/none.png"><img src="data:image/png;base64,!!notbase64">',
           "path.html": "<p>read from /work/shared/data/rbp31</p>",
           "trace.html": '<pre>Traceback (most recent call last):\n  File "x"</pre>'}
    site = _site(tmp_path / "bad", {**clean, **bad})
    reports = {r.page: r.problems for r in (check_site.check_page(p, site, check_site.find_browser() if browser != "none"
                                                                   else None) for p in sorted(site.rglob("*.html")))}
    assert any("broken link: gone.html" in p for p in reports["book/intro.html"])
    assert any("broken image" in p for p in reports["book/image.html"])
    assert any("corrupt data URI" in p for p in reports["book/image.html"])
    assert any("machine path" in p for p in reports["book/path.html"])
    assert reports["book/trace.html"] == ["a traceback or error output on the page"]
    assert reports["index.html"] == [] and reports["book/other.html"] == []
    assert check_site.main([str(site), "--browser", browser]) == 1


def test_a_redirect_to_nowhere_and_a_missing_site_are_reported(tmp_path: Path) -> None:
    site = _site(tmp_path, {})
    report = check_site.check_page(site / "index.html", site, None)
    assert report.problems == ["broken redirect: book/intro.html"]
    assert check_site.main([str(tmp_path / "nothing"), "--browser", "none"]) == 2
