"""A brief as a page and a PDF: the executed notebook drawn as standalone HTML, the check that nothing
secret or private is published, and the headless Chromium that prints two Letter pages."""

from __future__ import annotations

import copy
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ._briefs import content_hash, evidence_for, kernel_cached
from ._config import Settings
from ._display import e
from ._errors import BriefError
from ._kernels import SECRET_NAMES

if TYPE_CHECKING:
    import nbformat


__all__: list[str] = []

# Debian's Chromium, headless; no network features that would phone out while printing.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# A signed certainty (solid) looks different from a proposal (dashed, italic) and from one that needs re-review.
_CERTAINTY_CSS = """
.eb-certainty { display: inline-block; padding: 0 .3em; border-radius: 3px; }
.eb-signed { border: 2px solid #1b6f5a; font-weight: bold; }
.eb-proposed { border: 1px dashed #555; font-style: italic; }
.eb-stale { border: 2px solid #a3330d; color: #a3330d; font-weight: bold; }
"""
_PRINT_CSS = """
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; color: #1b1b1b; line-height: 1.45;
       max-width: 54rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; }
h2 { font-size: 1.15rem; margin: 1.3rem 0 .4rem; padding-bottom: .15rem; border-bottom: 1px solid #c8c8c8; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; vertical-align: top; padding: .25rem .45rem; border-bottom: 1px solid #dedede; }
th { background: #f1f1f1; }
a { color: #0b57a4; }
.eb-more, .eb-cite { font-size: .9rem; color: #444; }
.eb-bottom-line { font-size: 1.05rem; padding: .5rem .7rem; border-left: 4px solid #1b6f5a; background: #f3f8f6; }
.eb-levers th[scope="row"] { width: 15%; }
.eb-levers td:nth-child(2) { width: 52%; }
.eb-levers ul, .eb-local ul { margin: 0; padding-left: 1.1em; }
.eb-levers p { margin: 0 0 .2rem; }
.eb-expired, .eb-conflict { color: #a3330d; }
.eb-held-back:empty { display: none; }
/* Nothing widens the page on a phone: a word longer than the line (a 100,000-character title, a URL) breaks
   anywhere in text, and in a table cell that holds one (html_table marks it); a table wider than the screen
   scrolls inside its own wrapper; an image shrinks to fit. Words elsewhere in tables stay whole. */
h1, h2, h3, p, li, dd, dt, blockquote, caption, figcaption { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; }
main > table { display: block; overflow-x: auto; }
@page { size: Letter; margin: 0.45in 0.5in 0.55in; }
@media print {
  body { font-size: 8.4pt; line-height: 1.28; max-width: none; margin: 0; padding: 0; }
  h1 { font-size: 14.5pt; margin: 0 0 3pt; }
  h2 { font-size: 10.5pt; margin: 7pt 0 3pt; break-after: avoid; }
  p, ul { margin: 2.5pt 0; } ul { padding-left: 13pt; } li { margin: 1pt 0; }
  table { font-size: 7.4pt; } th, td { padding: 1.2pt 3pt; }
  tr, li { break-inside: avoid; }
  .eb-table { overflow: visible !important; }
  .eb-screen-only { display: none; }
  .eb-review-link[href^="http"]::after { content: " (" attr(href) ")"; }
  .eb-more, .eb-cite, .eb-held-back { font-size: 7.6pt; }
  .eb-bottom-line { font-size: 9.4pt; padding: 3pt 5pt; }
  .eb-levers table { font-size: 7.2pt; }
  /* A lever with many facts may run on to the next page (its facts stay whole): a whole row moved on left
     page 1 half empty. */
  .eb-levers tr { break-inside: auto; }
}
"""


def scrub_notebook(nb: "nbformat.NotebookNode", title: str) -> "nbformat.NotebookNode":
    """Title the brief, and keep only what a reader needs: no paths of the build machine,
    no papermill metadata but the parameters, no kernel warnings (build logs, not content)."""
    nb = copy.deepcopy(nb)
    nb.cells[0].source = f"# {e(title)}"  # a region's name is text, not markup
    papermill = nb.metadata.get("papermill", {})
    nb.metadata["papermill"] = {"parameters": papermill.get("parameters", {})}
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":  # a reused kernel counts on: number this brief's cells from 1
            count += 1
            cell.execution_count = count
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] = count
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            cell.metadata["tags"] = sorted({*tags, "remove-cell"})  # kept in the notebook, not shown
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return nb


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _output_html(output: Mapping[str, Any], markdown: Callable[[str], str]) -> str:
    """One output of a code cell as HTML: rich HTML as the brief drew it (escaped where it was
    built), images inline, plain text escaped; stderr (kernel warnings) and errors left out."""
    kind = output.get("output_type")
    if kind == "stream":
        return f"<pre>{e(_text(output.get('text', '')))}</pre>" if output.get("name") == "stdout" else ""
    if kind not in ("display_data", "execute_result"):
        return ""
    data = output.get("data", {})
    if "text/html" in data:
        return _text(data["text/html"])
    if "image/svg+xml" in data:
        return _text(data["image/svg+xml"])
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            return f'<img src="data:{mime};base64,{_text(data[mime]).strip()}" alt="Figure">'
    if "text/markdown" in data:
        return markdown(_text(data["text/markdown"]))
    return f"<pre>{e(_text(data.get('text/plain', '')))}</pre>" if "text/plain" in data else ""


def notebook_html(nb: "nbformat.NotebookNode") -> str:
    """The body of the standalone page: the notebook's markdown and outputs, no code, no cell
    tagged ``remove-cell`` or output tagged ``remove-output`` (as the book shows it).

    A few lines of mistune instead of nbconvert: a tenth of the time a brief, no second
    parse of the page (nbconvert re-serialises it with BeautifulSoup), and a clean markup for
    the print layout.
    """
    import mistune

    markdown = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])
    parts = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "remove-cell" in tags:
            continue
        if cell.cell_type == "markdown":
            parts.append(str(markdown(_text(cell.source))))
        elif cell.cell_type == "code" and "remove-output" not in tags:
            parts += [_output_html(o, markdown) for o in cell.get("outputs", [])]
    return "\n".join(p for p in parts if p)


def standalone_links(body: str, book_prefix: str) -> str:
    """Point the brief's relative links into the book (``../page.html``) at the built book from where
    the standalone page sits (``book_prefix``, e.g. ``../html/book/``); absolute links stay."""
    def relink(tag: re.Match[str]) -> str:
        return tag[0].replace('href="../', f'href="{book_prefix}', 1) if "eb-book-link" in tag[0] else tag[0]

    return re.sub(r"<a\s[^>]*>", relink, body)  # whatever the order of the link's attributes


_TABLE_WRAPPER = re.compile(r'<div class="(eb-table[^"]*)"([^>]*)>(?=<table>)')
_HEADER = re.compile(r'<th scope="col">(.*?)</th>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def keyboard_scrollable(body: str) -> str:
    """Each table wrapper made a named tab stop (WCAG's scrollable-region-focusable): on a phone a wide table scrolls
    sideways inside it, which a keyboard user can only do if it takes focus. The site marks the wrappers that do
    scroll with a script; a standalone brief has no scripts, so every wrapper is marked (a stop on a table that fits
    costs one Tab)."""
    def named(found: re.Match[str]) -> str:
        start = found.end()
        end = body.find("</table>", start)  # this table's own headers, never a later one's
        headers = [_TAG.sub("", h).strip() for h in _HEADER.findall(body, start, end if end >= 0 else len(body))]
        name = f"Table of {', '.join(h for h in headers[:3] if h)}" if any(headers) else "Table"
        # The header text is already escaped HTML (tags stripped): it goes into the attribute as it is.
        return (f'<div class="{found[1]}"{found[2]} tabindex="0" role="region" '
                f'aria-label="{name.replace(chr(34), "&quot;")} (scrolls sideways on a narrow screen)">')
    return _TABLE_WRAPPER.sub(named, body)


def standalone_page(title: str, body: str) -> str:
    """A complete, self-contained HTML page (no scripts, no network) that prints on two Letter pages."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{e(title)}</title>\n<style>{_PRINT_CSS}{_CERTAINTY_CSS}</style>\n</head>\n"
            f"<body>\n<main>\n{keyboard_scrollable(body)}\n</main>\n</body>\n</html>\n")


def _footer(title: str) -> str:
    return (f'<div style="font-size:7pt;width:100%;text-align:center;color:#555">{e(title)} · page '
            '<span class="pageNumber"></span> of <span class="totalPages"></span></div>')


# Where a word that holds a path starts and ends: at any character a path (or an HTML entity) does not use, such
# as whitespace, markup, quotes (the brief's “ ” and the backslashes of the notebook's JSON) and the ellipsis a
# shortened quote ends with.
_TOKEN_EDGE = re.compile(r"[^\w./~+@%=,&;#:-]")


def _typed_word(text: str, start: int, end: int, typed_words: set[str]) -> bool:
    """Whether the word of ``text`` that holds ``text[start:end]`` is one of ``typed_words``, or the start of one
    cut short by an ellipsis (a shortened quote)."""
    left = max((m.end() for m in _TOKEN_EDGE.finditer(text, max(0, start - 2000), start)), default=max(0, start - 2000))
    right = _TOKEN_EDGE.search(text, end)
    word = text[left:right.start() if right else len(text)]
    if word in typed_words:
        return True
    cut = bool(right) and text.startswith(("…", "\\u2026"), right.start())  # raw, or as JSON may write it
    return cut and any(typed.startswith(word) for typed in typed_words)


def leaked(text: str, root: Path, home: Path, secrets: list[str], typed: str = "") -> str:
    """What in ``text`` would publish a secret or a path of the build machine (its project path, home folder); ''
    if nothing.

    Secrets are the values of the environment's secret variables, never their names.  A path counts where it
    starts one (``/root/x``, ``file:///root/x``), not inside a web address (``https://example.org/root/x``), and
    not where it is a word of ``typed``: the text of the evidence, as rendered, which holds whatever a Zotero
    member typed (a quote that names ``/home/runner/`` is evidence, not the machine).
    """
    for secret in secrets:
        if secret and secret in text:
            return "a secret from the environment"
    paths = [(re.compile(re.escape(str(root))), f"the project's path {root}")]
    if len(str(home)) > 1:
        paths.append((re.compile(r"(?<![\w.:-])" + re.escape(str(home)) + r"/"), f"the home folder {home}"))
    typed_words = set(_TOKEN_EDGE.split(typed)) - {""}
    for pattern, what in paths:
        for found in pattern.finditer(text):
            if not _typed_word(text, found.start(), found.end(), typed_words):
                return what
    return ""


def _typed_paths(settings: Settings, needles: tuple[str, ...]) -> str:
    """Every cell of the evidence that names one of ``needles``, raw and as the pages render it (one per line)."""
    import pandas as pd

    from ._display import e

    evidence = evidence_for(settings)
    cells: set[str] = set()
    for frame in (evidence.studies, evidence.outcomes, evidence.policy, evidence.regions, evidence.problems):
        for column in frame.columns:
            if pd.api.types.is_numeric_dtype(frame[column]):
                continue
            values = frame[column].astype(str)
            hits = values[[any(n in v for n in needles) for v in values]]
            cells.update(hits)
    return "\n".join(form for cell in sorted(cells) for form in (cell, e(cell)))


def check_publishable(region_id: str, texts: list[str], settings: Settings) -> None:
    """Refuse to publish a brief that carries a secret or a path of the build machine that the evidence does not."""
    secrets = [v for k, v in os.environ.items() if SECRET_NAMES.search(k) and len(v) >= 8]
    root, home = settings.root, Path.home()
    typed = ""
    if any(str(root) in text or str(home) + "/" in text for text in texts):  # rare: only then read the evidence
        needles = (str(root), str(home) + "/")
        typed = kernel_cached(("typed-paths", str(root), content_hash(settings), *needles),
                        lambda: _typed_paths(settings, needles))
    for text in texts:
        found = leaked(text, root, home, secrets, typed)
        if found:
            raise BriefError(f"brief for {region_id}: its output would publish {found}; nothing written")


# --- the machinery: a kernel and a browser ---------------------------------------------------

def chromium_path(region_id: str = "") -> str:
    """Debian's Chromium on PATH, or a BriefError telling the user how to install it."""
    found = shutil.which("chromium")
    if not found:
        who = f"brief for {region_id}: " if region_id else ""
        raise BriefError(f"{who}cannot print the PDF: Chromium is not installed (no 'chromium' on PATH). "
                         "Run 'make chromium' (Debian's package), or leave the PDF out with --no-pdf.")
    return found


MAX_PAGES = 2  # a brief prints on two Letter pages

# Hide the ``hide`` optional items with the highest rank (data-eb-rank), show the others, and say in the
# held-back note what is held back and where it is (the full brief); returns how many optional items there are.
_HOLD_BACK_JS = """(hide) => {
  const items = Array.from(document.querySelectorAll('.eb-optional'))
    .sort((a, b) => Number(b.dataset.ebRank) - Number(a.dataset.ebRank));
  const held = new Map();
  items.forEach((item, i) => {
    item.style.display = i < hide ? 'none' : '';
    if (i < hide) held.set(item.dataset.ebGroup, (held.get(item.dataset.ebGroup) || 0) + 1);
  });
  const note = document.querySelector('.eb-held-back');
  if (note) {
    note.textContent = '';
    if (held.size) {
      const parts = Array.from(held, ([group, n]) => {
        const [one, many] = group.split('|');
        return n + ' ' + (n === 1 ? one : many);
      });
      note.append('Held back from this printed brief for space: ' + parts.join(', ') + '. All of them are in the '
                  + 'full brief: ');
      const href = note.dataset.ebHref;
      if (href) {
        const a = document.createElement('a');
        a.href = href;
        a.textContent = href;
        note.append(a, '.');
      } else {
        note.append(note.dataset.ebWhere + '.');
      }
    }
  }
  return items.length;
}"""


def pdf_pages(pdf: bytes) -> int:
    """How many pages a PDF has."""
    import io

    import pypdf

    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


# The page's content box in CSS pixels (96 a inch): Letter less the @page margins of _PRINT_CSS.
PAGE_BOX_PX = (round((8.5 - 0.5 - 0.5) * 96), round((11 - 0.45 - 0.55) * 96))

# How far the layout in columns may be off from Chromium's print before a guess that one item fewer overflows is
# trusted without printing it: more than the largest margin a page break can drop (a heading's 7pt, 9.3 px) and
# rounding.  Measured on the 52 bundled briefs, the columns gave the printed page count at the fit in every one,
# and one item fewer overflowed by 4 to 38 px a page.
GUESS_SLACK_PX = 12

# Lays the brief out as it prints, once per candidate, without printing: with print media emulated, <main> is
# given the page's content width and cut into columns one page high. Chromium fragments columns as it fragments
# pages (rows and list items kept whole, a heading kept with what follows), so the number of columns is the
# number of pages. Binary search for the fewest items to hold back; returns it, how many optional items there
# are, whether one fewer overflows even with GUESS_SLACK_PX more room a page (then it need not be printed to
# know), and whether the layout is wider than the page (Chromium would shrink the print: no guess then).
_GUESS_JS = """([pages, width, height, slack]) => {
  const holdBack = %s;
  const main = document.querySelector('main');
  if (!main) { return {fewest: 0, optional: holdBack(0), sure: false, wide: true}; }  // not a brief's page
  const saved = main.getAttribute('style');
  const columns = (hide, room) => {
    holdBack(hide);
    main.style.cssText = `width:${width}px;height:${room}px;column-width:${width}px;column-gap:0;`
                         + 'column-fill:auto;overflow:visible';
    return Math.ceil((main.scrollWidth - 1) / width);
  };
  main.style.cssText = `width:${width}px`;
  const optional = holdBack(0);
  const wide = main.scrollWidth > width + 1;
  let low = 0, high = optional;  // the fewest lies in [low, high] (high if even holding all back overflows)
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (columns(middle, height) <= pages) { high = middle; } else { low = middle + 1; }
  }
  const sure = low === 0 || columns(low - 1, height + slack) > pages;
  holdBack(low);
  if (saved === null) { main.removeAttribute('style'); } else { main.setAttribute('style', saved); }
  return {fewest: low, optional, sure, wide};
}""" % _HOLD_BACK_JS.strip()


@dataclass(frozen=True)
class Guess:
    """What the layout in columns says before printing: hold back ``fewest`` items; ``sure`` that one fewer
    overflows; how many ``optional`` items there are (None: not counted)."""

    fewest: int
    sure: bool
    optional: int | None = None


@dataclass(frozen=True)
class Fitted:
    """A printed brief: the PDF, its page count, how many optional items it holds back and how many prints it
    took (the measure of the fitting's cost)."""

    pdf: bytes
    pages: int
    held: int
    prints: int


def fit(print_pdf: Callable[[], bytes], hold_back: Callable[[int], int], pages: int = MAX_PAGES,
        guess: Guess | None = None) -> Fitted:
    """The PDF that holds back the fewest optional items and fits on ``pages`` pages: every page is used before
    anything is held back.  ``hold_back(n)`` hides the ``n`` least needed items (and returns how many there are);
    ``print_pdf()`` prints what is shown.  Holding back more never lengthens the brief, so a search between the
    largest count known to overflow and the smallest known to fit finds the fewest (a brief whose required parts
    alone overflow keeps them all, and holds back every optional item).

    Each print costs a tenth of a second or more, a layout a few milliseconds: with a ``guess`` from the layout
    (:data:`_GUESS_JS`) the search starts there, and one print is enough when the guess fits and is ``sure``
    that one item fewer overflows; then its neighbours, then halves.  The PDF returned is always a print that
    was checked, whatever the guess said.
    """
    counted = guess.optional if guess else None
    optional = hold_back(0) if counted is None else counted
    shown: int | None = 0 if counted is None else None  # what the page holds back now (None: not known here)
    printed: dict[int, tuple[bytes, int]] = {}
    overflows, fits = -1, optional + 1  # the largest count known to overflow, the smallest known to fit

    def probe(n: int) -> None:
        nonlocal overflows, fits, shown
        if n != shown:
            hold_back(n)
            shown = n
        pdf = print_pdf()
        printed[n] = (pdf, pdf_pages(pdf))
        if printed[n][1] <= pages:
            fits = n
        else:
            overflows = n

    first = min(guess.fewest, optional) if guess else 0
    probe(first)
    if guess and guess.sure and fits == first:
        overflows = first - 1
    if guess:  # a guess is near the answer: its neighbour on the open side before halving
        neighbour = first - 1 if fits == first else first + 1
        if overflows < neighbour < fits:
            probe(neighbour)
    while overflows + 1 < fits:  # counts between the two are unknown
        probe((overflows + fits) // 2)
    held = min(fits, optional)  # optional: nothing fits, so everything optional is held back (and was printed)
    if shown != held:
        hold_back(held)  # the page as printed (its held-back note says what the PDF holds back)
    pdf, count = printed[held]
    return Fitted(pdf, count, held, len(printed))


def fit_pages(print_pdf: Callable[[], bytes], hold_back: Callable[[int], int], pages: int = MAX_PAGES) -> bytes:
    """:func:`fit` without a guess: the PDF only."""
    return fit(print_pdf, hold_back, pages).pdf


def guess_layout(page: Any, pages: int = MAX_PAGES) -> Guess | None:
    """:data:`_GUESS_JS` on a Playwright page that shows a brief; None if its layout is wider than the page (or
    it has no <main>)."""
    page.emulate_media(media="print")
    try:
        found = page.evaluate(_GUESS_JS, [pages, *PAGE_BOX_PX, GUESS_SLACK_PX])
    finally:
        page.emulate_media(media="null")  # as before: printing chooses its own media
    return None if found["wide"] else Guess(int(found["fewest"]), bool(found["sure"]), int(found["optional"]))


class Printer:
    """One headless Chromium, started in the background and driven from one thread of its own
    (Playwright's sync API belongs to the thread that started it; briefs run on any thread)."""

    def __init__(self, executable: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidencebook-printer")
        self._executable = executable
        self._state: dict[str, Any] = {}
        self._started = self._thread.submit(self._launch)

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        playwright = self._state.get("playwright") or sync_playwright().start()
        self._state["playwright"] = playwright
        browser = playwright.chromium.launch(executable_path=self._executable, args=CHROMIUM_ARGS)
        self._state.update(browser=browser, page=browser.new_page())

    def _print(self, page_html: str, title: str) -> Fitted:
        if not self._state["browser"].is_connected():  # Chromium crashed under an earlier brief
            self._launch()
        page = self._state["page"]
        page.set_content(page_html, wait_until="load")  # from memory: no file:// path in the PDF

        def pdf() -> bytes:
            return bytes(page.pdf(format="Letter", print_background=True, prefer_css_page_size=True, tagged=True,
                                  outline=True, display_header_footer=True, header_template="<span></span>",
                                  footer_template=_footer(title)))

        return fit(pdf, lambda hide: int(page.evaluate(_HOLD_BACK_JS, hide)), MAX_PAGES, guess_layout(page))

    def print_brief(self, page_html: str, title: str) -> Fitted:
        """The brief printed on two pages (:func:`fit`), with what it took."""
        self._started.result()
        return self._thread.submit(self._print, page_html, title).result()

    def pdf(self, page_html: str, title: str) -> bytes:
        return self.print_brief(page_html, title).pdf

    def _stop(self) -> None:
        for name in ("browser", "playwright"):
            try:
                thing = self._state.pop(name, None)
                if thing is not None:
                    thing.close() if name == "browser" else thing.stop()
            except Exception:  # already gone: nothing left to stop
                pass

    def close(self) -> None:
        try:
            self._thread.submit(self._stop).result(timeout=30)
        finally:
            self._thread.shutdown(wait=False)


