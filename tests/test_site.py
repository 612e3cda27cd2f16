"""The built site: every page and its twin, and in a real browser the language switcher and search.

Headless Chromium (Debian's `chromium`, which `make test` installs) driven by Playwright.
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.slow  # every test here reads the built site (about a minute to build)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"\nmkdocs build --strict (EN + ES): {time.perf_counter() - start:.1f} s")
    return out


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def english_pages(site: Path) -> list[str]:
    pages = []
    for index in sorted(site.rglob("index.html")):
        rel = index.parent.relative_to(site).as_posix()
        if rel == "." or not rel.startswith(("es", "assets", "search")):
            pages.append("" if rel == "." else rel + "/")
    return pages


def open_page(page: Page, url: str, errors: list[str]) -> None:
    page.goto(url, wait_until="load")
    check_page(page, errors)


def check_page(page: Page, errors: list[str]) -> None:
    """The loaded page has every image and no script error."""
    broken = page.evaluate(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    assert not broken, f"{page.url}: broken images {broken}"
    assert not errors, f"{page.url}: page errors {errors}"


def switch_language(page: Page, lang: str) -> None:
    """As a reader does: open the header's language menu, pick the language."""
    page.hover(".md-header__option .md-select")
    page.click(f".md-select__link[hreflang='{lang}']")


SECTIONS = ("theory/", "lab/", "solutions/", "break/", "notebooks/")


def test_site_has_every_section(site: Path) -> None:
    pages = english_pages(site)
    for section in SECTIONS:
        assert any(p.startswith(section) for p in pages), section
    for page in pages:
        assert (site / "es" / page / "index.html").is_file(), f"no Spanish page for {page}"


def links(html: str, tag: str, attribute: str) -> list[str]:
    return re.findall(rf'<{tag}\b[^>]*?\s{attribute}="([^"]+)"', html)


def test_every_page_links_its_twin_and_every_picture(site: Path) -> None:
    """Each page's language menu leads to its twin and back, and every picture it shows is built."""
    for path in english_pages(site):
        for lang, twin in (("", f"es/{path}"), ("es/", path)):
            html = (site / lang / path / "index.html").read_text()
            assert f'<html lang="{lang[:2] or "en"}"' in html, f"{lang}{path}"
            menu = re.findall(r'<a href="([^"]+)" hreflang="(\w+)" class="md-select__link"', html)
            other = "en" if lang else "es"
            targets = [href for href, hreflang in menu if hreflang == other]
            assert targets, f"{lang}{path}: no link to the {other} page in the language menu"
            here = site if targets[0].startswith("/") else site / lang / path  # "/es/" from the home page
            landing = (here / targets[0].lstrip("/")).resolve()
            assert landing == (site / twin).resolve(), f"{lang}{path}: the menu leads to {landing}"
            for src in links(html, "img", "src"):
                picture = site / lang / path / src.split("#")[0]
                assert src.startswith(("data:", "http")) or picture.is_file(), f"{lang}{path}: {src}"


def test_a_reader_switches_language_and_back(site: Path, server: str, browser: Browser) -> None:
    """In a browser, on a page of each section: the menu works, and no page has a script error."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    pages = english_pages(site)
    sample = [""] + [next(p for p in pages if p.startswith(section)) for section in SECTIONS]
    for path in sample:
        open_page(page, f"{server}/{path}", errors)
        assert page.get_attribute("html", "lang") == "en", path
        switch_language(page, "es")
        page.wait_for_load_state("load")
        assert page.url == f"{server}/es/{path}", f"switching {path} to Spanish landed on {page.url}"
        assert page.get_attribute("html", "lang") == "es", path
        check_page(page, errors)
        switch_language(page, "en")
        page.wait_for_load_state("load")
        assert page.url == f"{server}/{path}", f"switching back from Spanish landed on {page.url}"


@pytest.mark.parametrize(("lang", "term"), [("", "intrinsic"), ("es/", "rango")])
def test_search_finds_a_known_term(server: str, browser: Browser, lang: str, term: str) -> None:
    page = browser.new_page()
    page.goto(f"{server}/{lang}", wait_until="load")
    page.click("input.md-search__input")
    # lunr builds its index in a web worker, slowly when the other test worker is busy; a query
    # typed before the index is ready is not run again, so type it again until results come.
    for _ in range(12):
        page.fill("input.md-search__input", "")
        page.type("input.md-search__input", term)
        try:
            page.wait_for_selector(".md-search-result__item", timeout=10_000)
            break
        except PlaywrightTimeout:
            continue
    assert page.locator(".md-search-result__item").count() > 0


def test_notebooks_render_as_pages_not_json(site: Path) -> None:
    for lang in ("", "es/"):
        html = (site / lang / "notebooks" / "02-lora-finetune" / "index.html").read_text()
        assert '"cell_type"' not in html and "jp-Notebook" in html, lang
    assert "barrido de rangos" in (site / "es/notebooks/02-lora-finetune/index.html").read_text()


# The theory pages' pictures (tools/diagrams.py, an mkdocs hook): each page links
# ../assets/diagrams/<name>.svg and gets the drawing in its own language.
PICTURES = {
    "theory/01-why-lora": "lora-bypass",
    "theory/02-parameter-count": "lora-shapes",
    "theory/03-rank-and-svd": "energy-curve",
    "theory/04-initialisation-and-scaling": "lora-bypass",
}
LANGUAGE = {"": ("en", "frozen", "congelado", " the "), "es/": ("es", "congelado", "frozen", " la ")}


def test_theory_pages_embed_their_pictures_in_their_language(site: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import diagrams

    for prefix, (lang, label, other, word) in LANGUAGE.items():
        for page, name in PICTURES.items():
            html = (site / prefix / page / "index.html").read_text()
            img = re.search(rf'<img alt="([^"]+)" src="\.\./\.\./assets/diagrams/{name}\.svg"', html)
            assert img, f"{prefix}{page}: no picture {name}.svg"
            alt = img.group(1)
            assert word in f" {alt.lower()} ", f"{prefix}{page}: the alt text is not in {lang}: {alt}"
            svg = (site / prefix / "assets/diagrams" / f"{name}.svg").read_text()
            assert svg == diagrams.render(name, lang), f"{prefix}{name}.svg is not the drawing of {lang}"
        bypass = (site / prefix / "assets/diagrams/lora-bypass.svg").read_text()
        assert label in bypass and other not in bypass, f"{prefix}lora-bypass.svg is not labelled in {lang}"
    # Theory 03's exercise 2 quotes where each curve of the picture first reaches E(r) = 0.9.
    reached = [diagrams.first_rank_reaching(curve) for curve in diagrams.energy_curves().values()]
    for page in ("theory/03-rank-and-svd.md", "theory/03-rank-and-svd.es.md"):
        text = (ROOT / page).read_text()
        for r in reached:
            assert f"\\(r = {r}\\)" in text, f"{page}: the picture reaches 0.9 at r = {r}"

