"""The built site in a real browser: Debian's Chromium, driven by Playwright (no browser download).

Every page of the site is served from a local web server and opened at desktop and at phone width. The tests
check that no page logs a console error, throws, or fails to load one of its own files; that every internal link
and anchor resolves; that every image has alt text; that search finds a study by its author; and that at phone
width no page scrolls sideways and the navigation opens. Accessibility: axe-core on every page and standalone brief
(light and dark), a keyboard walk with a visible focus and a skip link, and tables that show their last column or
scroll from the keyboard at 1280 px. Screenshots of an outcome page are saved in
`test-artifacts/browser/` (gitignored).
"""

from __future__ import annotations

import csv
import functools
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

pytest_plugins = ["site_fixture"]  # the `site` fixture: one `evidencebook build` per session, shared with test_book.py

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
# Without the background-networking flags Chromium opens connections of its own, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}

pytestmark = pytest.mark.book


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the site, relative to its root (Sphinx's copied assets and sources excluded)."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if p.relative_to(site).parts[0] not in ("_static", "_sources"))
    assert len(pages) > 60, pages  # chapters, search, index and a brief for every region
    return pages


# --- static checks (lxml over the files) ----------------------------------------------------------------------


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    import lxml.html

    tree = lxml.html.fromstring(path.read_bytes())
    return frozenset(tree.xpath("//@id") + tree.xpath("//a/@name"))


def test_every_internal_link_and_anchor_resolves(site: Path) -> None:
    import lxml.html

    root = site.resolve()
    broken = []
    for name in site_pages(site):
        page = root / name
        tree = lxml.html.fromstring(page.read_bytes())
        refs = [(el.tag, el.get("href")) for el in tree.xpath("//a[@href] | //link[@href]")]
        refs += [(el.tag, el.get("src")) for el in tree.xpath("//img[@src] | //script[@src] | //iframe[@src]")]
        for tag, ref in refs:
            parts = urlsplit(ref.strip())
            if parts.scheme or parts.netloc:  # external (https:, mailto:, data:...): not the site's to resolve
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(root) or not target.is_file():
                broken.append(f"{name}: <{tag}> {ref!r} -> no such file")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in _ids(target):
                broken.append(f"{name}: <{tag}> {ref!r} -> no element with id {fragment!r} in "
                              f"{target.relative_to(root).as_posix()}")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:60])


def test_every_page_declares_its_language_title_and_icon(site: Path) -> None:
    """The redirect at the site's root too: a page without an icon makes the browser ask the host for /favicon.ico
    (whether the request goes out before the redirect is a race, so the browser tests alone could miss it)."""
    import lxml.html

    lacking = {}
    for name in site_pages(site):
        tree = lxml.html.fromstring((site / name).read_bytes())
        missing = [what for what, found in (("lang", tree.xpath("/html/@lang")),
                                            ("title", [t for t in tree.xpath("//head/title/text()") if t.strip()]),
                                            ("icon", tree.xpath("//head/link[@rel='icon']/@href"))) if not found]
        if missing:
            lacking[name] = missing
    assert not lacking, f"pages without {lacking}"


# --- the browser ----------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # the browser left before a reply: not an error
            super().handle_error(request, client_address)


def _serve(directory: Path) -> Iterator[str]:
    """``directory`` served on 127.0.0.1 at an ephemeral port, from a thread of this process."""
    server = _Server(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, name=f"server-{directory.name}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """The site, served."""
    yield from _serve(site)


@pytest.fixture(scope="module")
def build_url(site: Path) -> Iterator[str]:
    """The whole build folder, served: the standalone briefs (`briefs/`) link into the site (`html/`) beside them."""
    yield from _serve(site.parent)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("No `chromium` on PATH: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Session:
    """A browser context on the site that records, page by page, whatever went wrong.

    Requests to any other origin are recorded as problems: the site must work offline and from any host. (They
    are not intercepted: routing requests would turn off the browser's cache and make every page slow.)
    Every page declares its icon, so the browser never probes `/favicon.ico` (a path a GitHub Pages project
    site does not own): a request for it is a problem like any other.
    """

    def __init__(self, browser: Any, base_url: str, **options: Any) -> None:
        self.base = base_url
        self.context = browser.new_context(**options)
        self.context.set_default_timeout(20_000)
        self.problems: dict[str, list[str]] = {}
        self.current = ""
        own = re.compile(rf"^{re.escape(base_url)}/")

        def note(problem: str) -> None:
            self.problems.setdefault(self.current, []).append(problem)

        def request(request: Any) -> None:
            if not own.match(request.url) and request.url.split(":")[0] in ("http", "https", "ws", "wss"):
                note(f"request to another origin: {request.url}")

        def console(message: Any) -> None:
            if message.type == "error":
                where = message.location.get("url", "")
                note(f"console error: {message.text} ({where}:{message.location.get('lineNumber')})")

        def response(response: Any) -> None:
            if own.match(response.url) and response.status >= 400:
                note(f"HTTP {response.status}: {response.url}")

        def failed(request: Any) -> None:
            # The browser loads a page's icon after the page, and the next visit aborts it: an aborted icon is
            # not a fault (a missing one is: its 404 is caught above).
            if request.resource_type == "other" and request.url.endswith("/favicon.svg") and "ABORTED" in str(
                    request.failure):
                return
            if own.match(request.url):
                note(f"request failed: {request.url} ({request.failure})")

        self.page = self.context.new_page()
        self.page.on("request", request)
        self.page.on("console", console)
        self.page.on("pageerror", lambda error: note(f"uncaught exception: {error}"))
        self.page.on("response", response)
        self.page.on("requestfailed", failed)

    def open(self, name: str) -> Any:
        """Load a page (relative to the site root) and wait until it and everything it loads is in."""
        self.current = name
        self.page.goto(f"{self.base}/{name}", wait_until="load")
        if name == "index.html":  # a redirect to the first chapter: let it finish before the next page
            self.page.wait_for_url(f"{self.base}/book/intro.html", wait_until="load")
        return self.page

    def close(self) -> None:
        self.context.close()


IMAGES_WITHOUT_ALT = """() => Array.from(document.images)
    .filter(img => !(img.getAttribute('alt') || '').trim())
    .map(img => img.outerHTML.slice(0, 160))"""

# The layout viewport's width (clientWidth), not window.innerWidth: on a phone the browser zooms out to show content
# that overflows, and innerWidth (the visual viewport) then grows with the page and hides the overflow.
FITS_WIDTH = """() => {
  const width = document.documentElement.clientWidth;
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.classList.length ? '.' + Array.from(el.classList).join('.') : '')
      + ' "' + (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 50) + '"'
      + ' right=' + Math.round(el.getBoundingClientRect().right);
  const harmless = el => {  // inside a box that scrolls or clips, or fixed to the screen: cannot widen the page
    if (getComputedStyle(el).position === 'fixed') return true;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (style.overflowX !== 'visible' || style.position === 'fixed') return true;
    }
    return false;
  };
  const wide = [];
  if (document.documentElement.scrollWidth > width + 1) {
    for (const el of document.body.querySelectorAll('*')) {
      if (wide.length >= 5) break;
      const right = el.getBoundingClientRect().right;
      const parent = el.parentElement.getBoundingClientRect().right;
      if (right > width + 1 && parent <= width + 1 && !harmless(el)) wide.push(describe(el));
    }
  }
  const toggles = Array.from(document.querySelectorAll('.primary-toggle')).filter(b => {
    const r = b.getBoundingClientRect();
    return b.checkVisibility({visibilityProperty: true}) && r.width > 0 && r.left >= 0 && r.right <= width
        && r.top >= 0 && r.bottom <= document.documentElement.clientHeight;
  });
  return {scrollWidth: document.documentElement.scrollWidth, width, innerWidth: window.innerWidth, wide,
          toggles: toggles.length};
}"""


# Each table of the site (in its scrolling wrapper, `.eb-table`): does its last column show, and if it does not, can a
# keyboard reach the wrapper (a named tab stop), and does the wrapper show that it scrolls? Headless Chromium hides
# scrollbars, so the cue checked is the site's own: a shadow at the edge with more to show (a background that
# scrolls with the content).
TABLES = """() => Array.from(document.querySelectorAll('.eb-table')).map(wrapper => {
  const heads = Array.from(wrapper.querySelectorAll('thead th'), th => th.textContent.trim());
  const last = wrapper.querySelector('thead th:last-child');
  const style = getComputedStyle(wrapper);
  return {heads: heads.join(' | ').slice(0, 90), lastHead: heads[heads.length - 1] || '',
          fits: !last || last.getBoundingClientRect().right <= wrapper.getBoundingClientRect().right + 1,
          tabStop: wrapper.tabIndex === 0, role: wrapper.getAttribute('role'), name: wrapper.getAttribute('aria-label'),
          cue: style.backgroundImage.includes('gradient') && style.backgroundAttachment.includes('local')};
})"""


@pytest.fixture(scope="module")
def desktop_visit(site: Path, base_url: str, browser: Any) -> dict[str, Any]:
    """Every page opened once at desktop width: the problems recorded, the images without alt text and the tables."""
    session = Session(browser, base_url, **DESKTOP)
    pages = site_pages(site)
    images: dict[str, list[str]] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    try:
        for name in pages:
            page = session.open(name)
            missing = page.evaluate(IMAGES_WITHOUT_ALT)
            if missing:
                images[name] = missing
            tables[name] = page.evaluate(TABLES)
        session.current = "(after the last page)"
        session.page.evaluate("() => 0")  # let any event still in flight arrive
    finally:
        session.close()
    return {"pages": pages, "problems": session.problems, "images_without_alt": images, "tables": tables}


def _listing(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}: {item}" for page, items in sorted(found.items()) for item in items[:8])


def test_no_page_logs_an_error_or_fails_to_load_a_file(desktop_visit: dict[str, Any]) -> None:
    problems = desktop_visit["problems"]
    assert len(desktop_visit["pages"]) > 60
    assert not problems, f"{len(problems)} of {len(desktop_visit['pages'])} pages had problems:\n{_listing(problems)}"


def test_every_image_has_alt_text(desktop_visit: dict[str, Any]) -> None:
    missing = desktop_visit["images_without_alt"]
    assert not missing, f"images without alt text on {len(missing)} pages:\n{_listing(missing)}"


def _a_study_author(site: Path) -> str:
    """The surname of the first author of an included study (from the built copy's evidence/studies.csv)."""
    with open(site.parents[1] / "evidence" / "studies.csv", encoding="utf-8", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["study_id"])
    for row in rows:
        surname = row["author_list"].split(",")[0].split(";")[0].strip()
        if row["screening"] == "FT:include" and re.fullmatch(r"[A-Za-z]{6,}", surname):
            return surname
    raise AssertionError("no included study with a plain surname of six letters or more")


def test_search_finds_a_study_by_its_author(site: Path, base_url: str, browser: Any) -> None:
    author = _a_study_author(site)
    session = Session(browser, base_url, **DESKTOP)
    try:
        page = session.open(f"search.html?q={author}")
        page.wait_for_function("() => (document.querySelector('#search-results .search-summary') || {})"
                               ".textContent")  # set when the search has finished
        summary = page.inner_text("#search-results .search-summary")
        hrefs = page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(a => a.getAttribute('href'))")
    finally:
        session.close()
    results = sorted({urlsplit(href).path for href in hrefs})
    assert "book/studies.html" in results, f"search for {author!r}: {summary} {results}"
    for result in results:  # and every page it offers does mention the author
        assert author.lower() in (site / result).read_text(encoding="utf-8").lower(), (author, result)
    assert not session.problems, _listing(session.problems)


def test_every_page_fits_a_phone_and_shows_the_navigation_button(site: Path, base_url: str, browser: Any) -> None:
    session = Session(browser, base_url, **PHONE)
    overflow: dict[str, list[str]] = {}
    no_toggle: list[str] = []
    try:
        for name in site_pages(site):
            found = session.open(name).evaluate(FITS_WIDTH)
            if max(found["scrollWidth"], found["innerWidth"]) > found["width"] + 1:
                overflow[name] = [f"page is {found['scrollWidth']}px wide on a {found['width']}px screen (zoomed out "
                                  f"to {found['innerWidth']}px)"] + found["wide"]
            if not found["toggles"]:
                no_toggle.append(name)
    finally:
        session.close()
    assert not overflow, f"{len(overflow)} pages scroll sideways on a phone:\n{_listing(overflow)}"
    assert not no_toggle, f"no visible navigation button on a phone: {no_toggle}"
    assert not session.problems, _listing(session.problems)


def test_the_navigation_opens_on_a_phone_and_leads_to_a_chapter(base_url: str, browser: Any) -> None:
    session = Session(browser, base_url, **PHONE)
    try:
        page = session.open("book/intro.html")
        studies = page.get_by_role("navigation", name="Main").get_by_role("link", name="Studies", exact=True)
        assert not studies.is_visible()  # the navigation is folded away on a phone...
        page.locator(".primary-toggle").filter(visible=True).first.click()
        studies.wait_for(state="visible", timeout=5_000)  # ...until the button opens it
        studies.click()
        page.wait_for_url(f"{base_url}/book/studies.html", wait_until="load")
    finally:
        session.close()
    assert not session.problems, _listing(session.problems)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_screenshot_of_an_outcome_page(base_url: str, browser: Any, device: str) -> None:
    options = DESKTOP if device == "desktop" else PHONE
    session = Session(browser, base_url, **options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"recovery-{device}.png"
    try:
        page = session.open("book/outcomes/recovery.html")
        page.locator("img[alt^='Forest plot']").first.wait_for(state="visible")
        page.screenshot(path=str(path), full_page=True)
    finally:
        session.close()
    png = path.read_bytes()
    width = int.from_bytes(png[16:20], "big")
    scale = options.get("device_scale_factor", 1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width == options["viewport"]["width"] * scale
    assert int.from_bytes(png[20:24], "big") > options["viewport"]["height"] * scale  # the full page, not the window
    print(f"screenshot: {path}")


@pytest.mark.parametrize("device", ["desktop", "phone"])
@pytest.mark.parametrize("page_name", ["intro", "outcomes/service-use"])
def test_screenshot_of_a_what_we_found_box(base_url: str, browser: Any, device: str, page_name: str) -> None:
    # The plain-language box that opens the intro and each outcome chapter, as a reader first sees it.
    options = DESKTOP if device == "desktop" else PHONE
    session = Session(browser, base_url, **options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"what-we-found-{page_name.split('/')[-1]}-{device}.png"
    try:
        page = session.open(f"book/{page_name}.html")
        box = page.locator(".eb-what-we-found").first
        box.wait_for(state="visible")
        text = box.inner_text()
        width = box.evaluate("b => b.getBoundingClientRect().width")
        box.screenshot(path=str(path))
    finally:
        session.close()
    assert text.startswith("What we found"), text
    assert 0 < width <= options["viewport"]["width"], width  # never wider than the screen
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not session.problems, _listing(session.problems)
    print(f"screenshot: {path}: {text!r}")


# --- accessibility: axe-core, the keyboard, tables at 1280 px ------------------------------------------------

# WCAG 2.0 and 2.1, levels A and AA. axe-playwright-python carries axe-core in its wheel: nothing is downloaded.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
               "resultTypes": ["violations"]}
BLOCKING = ("serious", "critical")  # axe's impacts are minor, moderate, serious and critical


def standalone_briefs(site: Path) -> list[str]:
    """Every standalone brief page (`_build/briefs/<region>.html`, handed on as they are), relative to `_build/`."""
    briefs = sorted(f"briefs/{path.name}" for path in (site.parent / "briefs").glob("*.html"))
    assert len(briefs) > 50, briefs  # one per region
    return briefs


def is_redirect(page: Path) -> bool:
    """A page that only sends the browser on (index.html): the navigation would destroy axe's page mid-check."""
    return re.search(rb"<meta[^>]+http-equiv=.refresh", page.read_bytes()[:4000], re.IGNORECASE) is not None


def test_axe_finds_no_serious_or_critical_violation_on_any_page_or_brief(site: Path, build_url: str,
                                                                          browser: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    on_site = [f"html/{name}" for name in site_pages(site) if not is_redirect(site / name)]
    pages = on_site + standalone_briefs(site)
    blocking: dict[str, list[str]] = {}
    by_impact: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    # The site follows the reader's light or dark setting (the theme's "auto" mode): both are checked. A standalone
    # brief is handed on and read on phones too, where its wide tables scroll: checked at 390 px as well.
    briefs = pages[len(on_site):]
    for scheme, device, names in (("light", DESKTOP, pages), ("dark", DESKTOP, on_site), ("light", PHONE, briefs)):
        session = Session(browser, build_url, **device, color_scheme=scheme)
        where = scheme if device is DESKTOP else f"{scheme}, 390 px"
        try:
            for name in names:
                for violation in axe.run(session.open(name), options=AXE_OPTIONS).response["violations"]:
                    impact, rule = violation["impact"], violation["id"]
                    by_impact[impact] = by_impact.get(impact, 0) + 1
                    by_rule[f"{rule} ({impact})"] = by_rule.get(f"{rule} ({impact})", 0) + 1
                    if impact in BLOCKING:
                        targets = ", ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:4])
                        blocking.setdefault(f"{name} ({where})", []).append(
                            f"{rule} ({impact}): {violation['help']} at {targets}")
        finally:
            session.close()
    site_count = len(on_site)
    summary = (f"axe-core, WCAG 2.0/2.1 A and AA: {len(pages)} pages checked ({site_count} site pages, "
               f"{len(pages) - site_count} standalone briefs), the site pages again in dark mode and the briefs again at "
               f"390 px; violations (one "
               f"per rule, page and mode) by impact: "
               + (", ".join(f"{impact} {by_impact.get(impact, 0)}" for impact in ("critical", "serious", "moderate",
                                                                                   "minor")))
               + "".join(f"\n  {rule}: {count} pages" for rule, count in sorted(by_rule.items())))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe-summary.txt").write_text(summary + "\n", encoding="utf-8")
    print(summary)
    assert site_count > 60 and len(pages) - site_count > 50
    assert not blocking, f"serious or critical WCAG violations on {len(blocking)} pages:\n{_listing(blocking)}"


# The element that has the keyboard focus, marked as reached; its box (or its first child's, for a <summary> whose
# box is empty) to photograph; `again` once the walk comes back round to an element it reached before.
FOCUS_STOP = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const again = el.hasAttribute('data-eb-reached');
  el.setAttribute('data-eb-reached', '');
  let box = el.getBoundingClientRect();
  if (!box.width || !box.height) {
    for (const child of el.querySelectorAll('*')) {
      const b = child.getBoundingClientRect();
      if (b.width && b.height) { box = b; break; }
    }
  }
  const name = (el.getAttribute('aria-label') || el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
  return {again, what: `<${el.tagName.toLowerCase()}> "${name}"`, x: box.x, y: box.y, w: box.width, h: box.height};
}"""

# Every control a reader can see and use, that the walk did not reach.
NOT_REACHED = """() => Array.from(document.querySelectorAll(
    'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])'))
  .filter(el => !el.hasAttribute('data-eb-reached') && !el.disabled && el.tabIndex >= 0 && !el.closest('[inert]')
          && el.checkVisibility({visibilityProperty: true}) && el.getBoundingClientRect().width > 0)
  .map(el => `<${el.tagName.toLowerCase()}> "${(el.getAttribute('aria-label') || el.textContent || '').trim()
               .replace(/\\s+/g, ' ').slice(0, 40)}"`)"""


def _keyboard_pages(site: Path) -> list[str]:
    """One page of each kind: the intro, a chapter, tables that scroll, the map, references, search and a brief."""
    brief = next(name for name in site_pages(site) if name.startswith("book/briefs/"))
    return ["book/intro.html", "book/outcomes/recovery.html", "book/risk-of-bias.html", "book/policy.html",
            "book/references.html", "search.html", brief]


def test_the_keyboard_reaches_every_control_and_always_shows_where_it_is(site: Path, base_url: str,
                                                                           browser: Any) -> None:
    """Tab from the top of a page round to the top again: every control a reader can see is reached, and each
    looks different while it has the focus (a photograph of it with and without the focus differ)."""
    session = Session(browser, base_url, **DESKTOP)
    unreached: dict[str, list[str]] = {}
    no_focus_style: dict[str, list[str]] = {}
    stops: dict[str, int] = {}
    try:
        for name in _keyboard_pages(site):
            page = session.open(name)
            viewport = page.viewport_size
            for count in range(600):
                page.keyboard.press("Tab")
                stop = page.evaluate(FOCUS_STOP)
                if stop is None or stop["again"]:  # out of the page, or round to the start again
                    break
                x, y = max(stop["x"] - 8, 0), max(stop["y"] - 8, 0)
                clip = {"x": x, "y": y, "width": max(min(stop["w"] + 16, viewport["width"] - x), 1),
                        "height": max(min(stop["h"] + 16, viewport["height"] - y), 1)}
                focused = page.screenshot(clip=clip, animations="disabled")
                page.evaluate("() => { window.ebFocused = document.activeElement; document.activeElement.blur(); }")
                unfocused = page.screenshot(clip=clip, animations="disabled")
                page.evaluate("() => window.ebFocused.focus()")  # the next Tab goes on from here
                if focused == unfocused:
                    no_focus_style.setdefault(name, []).append(stop["what"])
            else:
                pytest.fail(f"{name}: 600 Tab presses did not come round to the start")
            stops[name] = count
            missed = page.evaluate(NOT_REACHED)
            if missed:
                unreached[name] = missed
    finally:
        session.close()
    print("tab stops:", stops)
    assert all(count > 15 for count in stops.values()), stops  # the walk went through the page
    assert not unreached, f"controls the keyboard cannot reach:\n{_listing(unreached)}"
    assert not no_focus_style, f"controls that show no focus:\n{_listing(no_focus_style)}"
    assert not session.problems, _listing(session.problems)


def test_the_back_to_top_button_passes_axe_when_shown(base_url: str, browser: Any) -> None:
    # axe checks each page as it opens; the theme's "Back to top" button is hidden until the reader scrolls back up
    # a long page, below 1200 px (it was white on orange at 2.45:1). Headless scrolling does not reliably fire the
    # theme's trigger, so the button is shown the way the theme shows it (display) and axe checks it as styled.
    from axe_playwright_python.sync_playwright import Axe

    session = Session(browser, base_url, **PHONE)
    try:
        page = session.open("book/outcomes/recovery.html")
        page.evaluate("() => { document.getElementById('pst-back-to-top').style.display = 'block'; }")
        assert page.is_visible("#pst-back-to-top")
        options = {**AXE_OPTIONS, "runOnly": {"type": "rule", "values": ["color-contrast"]}}
        violations = Axe().run(page, context="#pst-back-to-top", options=options).response["violations"]
    finally:
        session.close()
    assert not violations, [(v["id"], v["impact"], v["nodes"][0]["failureSummary"]) for v in violations]


def test_the_first_tab_stop_skips_to_the_main_content(base_url: str, browser: Any) -> None:
    session = Session(browser, base_url, **DESKTOP)
    try:
        page = session.open("book/outcomes/recovery.html")
        page.keyboard.press("Tab")
        link = page.evaluate("() => [document.activeElement.tagName, document.activeElement.textContent.trim()]")
        assert link == ["A", "Skip to main content"]
        page.wait_for_function("() => document.activeElement.getBoundingClientRect().top >= 0")  # it slides in
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"#main-content$"))
        assert page.evaluate("() => document.activeElement.id") == "main-content"  # the focus moved, not only the view
        page.keyboard.press("Tab")  # and the next stop is in the main content, past the navigation
        assert page.evaluate("() => !!document.activeElement.closest('#main-content')")
    finally:
        session.close()
    assert not session.problems, _listing(session.problems)


def test_at_1280px_every_table_shows_its_last_column_or_scrolls_visibly_from_the_keyboard(
        desktop_visit: dict[str, Any]) -> None:
    """A summary of findings shows its last column, the certainty and who signed it off, without scrolling; any
    other table too wide for its column is a named tab stop (a keyboard scrolls it) that shows it scrolls."""
    hidden: dict[str, list[str]] = {}
    counted = scrolling = 0
    for name, tables in desktop_visit["tables"].items():
        for table in tables:
            counted += 1
            if table["fits"]:
                continue
            scrolling += 1
            if table["lastHead"] == "Certainty":
                hidden.setdefault(name, []).append(f"summary of findings [{table['heads']}]: its last column is cut off")
            elif not (table["tabStop"] and table["role"] == "region" and table["name"] and table["cue"]):
                hidden.setdefault(name, []).append(
                    f"[{table['heads']}] scrolls, but tab stop {table['tabStop']}, role {table['role']}, name "
                    f"{table['name']!r}, shadow cue {table['cue']}")
    print(f"{counted} tables at 1280 px, {scrolling} scroll sideways")
    assert counted > 50 and scrolling > 0  # the check saw the tables, and some do scroll
    assert not hidden, f"tables whose last column is out of reach at 1280 px:\n{_listing(hidden)}"


def test_a_summary_of_findings_with_signed_judgements_fits_at_1280px(site: Path, build_url: str,
                                                                     browser: Any) -> None:
    """The certainty column with a reviewer's sign-off in every row (the label the pages show for one) still fits:
    on a chapter, on a brief in the book and on a standalone brief."""
    from evidencebook._certainty import certainty_label

    signed = certainty_label("low", {"signed_by": "Alexandra Montgomery-Richardson", "signed_on": "2026-11-30",
                                     "evidence_version": 12, "status": "signed", "certainty": "moderate",
                                     "reasons": "downgraded once for risk of bias: outcome assessors were not "
                                                "blinded in two of the three trials"})
    brief = standalone_briefs(site)[0]
    pages = ["html/book/outcomes/recovery.html", f"html/book/{brief}", brief]
    session = Session(browser, build_url, **DESKTOP)
    cut: list[str] = []
    try:
        for name in pages:
            found = session.open(name).evaluate("""(signed) => {
              const tables = Array.from(document.querySelectorAll('.eb-table')).filter(w =>
                  (w.querySelector('thead th:last-child') || {}).textContent === 'Certainty');
              for (const w of tables) w.querySelectorAll('tbody td:last-child').forEach(td => { td.innerHTML = signed; });
              return tables.map(w => w.querySelector('thead th:last-child').getBoundingClientRect().right
                                     - w.getBoundingClientRect().right);
            }""", signed)
            assert found, f"{name}: no summary of findings"
            cut += [f"{name}: the last column ends {overhang:.0f}px past the table's edge" for overhang in found
                    if overhang > 1]
    finally:
        session.close()
    assert not cut, "\n".join(cut)
