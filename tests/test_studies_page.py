"""The Studies page at scale (filter, pages of results, anchors) and a search index that finds every study.

Unit tests read `study_entries` (its anchors and the data attributes the filter reads) and build a tiny Sphinx
project to check the search hook (`evidencebook._search`). The tests marked `book` use the built site of
tests/site_fixture.py (one build per session, shared with tests/test_browser.py): its search index, and the
Studies page in Chromium, with the bundled studies and with 2,000 generated SYNTHETIC ones (benchmarks/build.py's
generator, through benchmarks/studies_page.py), whose screenshots go to `test-artifacts/studies/`.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import lxml.html
import pandas as pd
import pytest

import evidencebook as eb

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "studies"
pytest_plugins = ["site_fixture"]


@pytest.fixture(scope="module")
def evidence() -> Any:
    return eb.load_evidence(eb.load_settings(ROOT))


def _entries(html: str) -> list[Any]:
    return lxml.html.fromstring(f"<div>{html}</div>").xpath("//section[@class='eb-study']")


# --- the page's HTML ------------------------------------------------------------------------------------------


def test_each_entry_keeps_its_anchor_and_carries_what_the_filter_reads(evidence: Any) -> None:
    sections = _entries(eb.study_entries(evidence))
    included = evidence.included.set_index("citation_key")
    assert sorted(s.get("id") for s in sections) == sorted(eb.study_anchor(k) for k in included.index)
    by_anchor = {eb.study_anchor(k): k for k in included.index}
    domains = evidence.outcomes.groupby("study_id")["domain"].agg(lambda d: "|".join(sorted(set(d.dropna()))))
    for section in sections:
        study = included.loc[by_anchor[section.get("id")]]
        assert section.get("data-design") == (study["design_type"] if isinstance(study["design_type"], str) else "")
        assert section.get("data-states") == "|".join(sorted(str(study["state_codes"] or "").split("|"))).strip("|")
        assert section.get("data-domains") == domains.get(study["study_id"], "")
    # The bundled review has studies in several domains, designs and states: the filter has something to do.
    assert {"recovery", "hospitalisation"} <= {d for s in sections for d in s.get("data-domains").split("|")}
    assert sum(bool(s.get("data-states")) for s in sections) >= 5


def test_the_filter_is_hidden_without_javascript_and_every_control_is_labelled(evidence: Any) -> None:
    page = lxml.html.fromstring(f"<div>{eb.study_entries(evidence)}</div>")
    form = page.xpath("//form[contains(@class, 'eb-study-filter')]")[0]
    assert form.get("hidden") is not None and page.xpath("//nav[@class='eb-study-pages']")[0].get("hidden") is not None
    controls = form.xpath(".//input | .//select")
    assert [c.get("name") for c in controls] == ["q", "domain", "design", "state"]
    for control in controls:
        assert form.xpath(f".//label[@for='{control.get('id')}']")[0].text_content().strip(), control.get("name")
    assert form.xpath(".//*[@role='status' and @aria-live='polite']")
    states = {o.get("value"): o.text for o in form.xpath(".//select[@name='state']/option") if o.get("value")}
    assert states["OR"] == "Oregon" and all(len(code) == 2 for code in states)
    used = {d for s in _entries(eb.study_entries(evidence)) for d in s.get("data-domains").split("|") if d}
    assert {o.get("value") for o in form.xpath(".//select[@name='domain']/option") if o.get("value")} == used


def test_findings_keep_their_anchors_inside_the_folded_details(evidence: Any) -> None:
    for section in _entries(eb.study_entries(evidence)):
        details = section.xpath("./details")
        assert len(details) == 1 and details[0].get("open") is None
        assert section.xpath("./h3") and details[0].xpath("./summary")[0].text_content().startswith("Coding and ")
        for finding in section.xpath(".//li[starts-with(@id, 'finding-')]"):
            assert finding.xpath("ancestor::details"), finding.get("id")


def test_a_hostile_domain_or_design_is_escaped_and_matches_its_option(evidence: Any) -> None:
    hostile = 'a "quoted" <b>|piped</b>'
    outcomes = evidence.outcomes.copy()
    outcomes.loc[outcomes.index[0], "domain"] = hostile
    studies = evidence.studies.copy()
    studies.loc[studies["study_id"] == outcomes.loc[outcomes.index[0], "study_id"], "design_type"] = hostile
    changed = dataclasses.replace(evidence, outcomes=outcomes, studies=studies)
    page = lxml.html.fromstring(f"<div>{eb.study_entries(changed)}</div>")
    assert not page.xpath("//section//b[text()='|piped']")  # escaped: no element made of it
    section = page.xpath(f"//section[@data-design='{hostile}']")
    assert len(section) == 1 and hostile in section[0].get("data-domains")
    assert hostile in {o.get("value") for o in page.xpath("//select[@name='design']/option")}


# --- search: a raw-HTML output's words are indexed one by one ----------------------------------------------------


def _search_index(outdir: Path) -> dict[str, Any]:
    text = (outdir / "searchindex.js").read_text(encoding="utf-8")
    return dict(json.loads(text[text.index("(") + 1: text.rindex(")")]))


def _pages_for(index: dict[str, Any], word: str) -> set[str]:
    """The pages the search box offers for ``word``: body words and title words, stemmed as Sphinx stems them."""
    from sphinx.search.en import SearchEnglish

    language = SearchEnglish({})
    pages: set[str] = set()
    for part in language.split(word):
        stem = language.stem(part.lower())
        for table in ("terms", "titleterms"):
            found = index[table].get(stem, [])
            pages |= {index["docnames"][i] for i in ([found] if isinstance(found, int) else found)}
    return pages


def _tiny_project(tmp_path: Path, extensions: list[str]) -> Path:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "conf.py").write_text(f"extensions = {extensions!r}\n", encoding="utf-8")
    (source / "index.rst").write_text(
        "Recovery\n========\n\n.. raw:: html\n\n"
        "   <table><tr><td>peer care</td><td><a href='studies.html#study-white2020'>White et al. 2020</a></td>"
        "<td>O&#x27;Connell 2021</td></tr></table><script>var hidden = 'Scriptword';</script>\n", encoding="utf-8")
    out = tmp_path / f"out-{len(extensions)}"
    result = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", str(source), str(out)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return out


def test_search_finds_each_word_of_a_raw_html_table(tmp_path: Path) -> None:
    plain = _search_index(_tiny_project(tmp_path, []))
    assert not _pages_for(plain, "White")  # Sphinx alone indexes "careWhite": the bug this hook fixes
    out = _tiny_project(tmp_path, ["evidencebook._search"])
    index = _search_index(out)
    for word in ("White", "care", "Connell", "2020"):
        assert _pages_for(index, word) == {"index"}, word
    assert not _pages_for(index, "Scriptword")  # a script is not text the page shows
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("White et al. 2020") == 1  # the words are for the index only: the page shows its table once


# --- the built site: its search index -----------------------------------------------------------------------------


def _included(site: Path) -> pd.DataFrame:
    studies = pd.read_csv(site.parents[1] / "evidence" / "studies.csv", dtype=str, keep_default_na=False)
    return studies[studies["screening"].str.endswith(":include") & (studies["author_list"].str.strip() != "")]


@pytest.mark.book
def test_search_finds_the_recovery_chapter_by_the_authors_it_cites(site: Path) -> None:
    index = _search_index(site)
    for author in ("Fuhr", "White", "Chinman", "Pitt"):
        assert "book/outcomes/recovery" in _pages_for(index, author), author


@pytest.mark.book
def test_search_finds_every_page_that_discusses_a_study_by_its_first_author(site: Path) -> None:
    """A page discusses a study when it links to the study's entry or names it as every page does
    ('Chinman et al. 2015', :func:`~evidencebook._display.study_label`) in its text."""
    from evidencebook._display import study_label

    index = _search_index(site)
    studies = [(eb.study_anchor(r.citation_key), study_label(r.authors, r.title, r.year),
                r.author_list.split(";")[0].split(",")[0].strip()) for r in _included(site).itertuples()]
    missed, checked = [], set()
    for name in index["docnames"]:
        page = (site / f"{name}.html").read_bytes()
        article = lxml.html.fromstring(page).xpath("//article[contains(@class, 'bd-article')]")
        text = article[0].text_content() if article else ""
        markup = page.decode("utf-8")
        for anchor, label, surname in studies:
            if f'studies.html#{anchor}"' in markup or f'id="{anchor}"' in markup or label in text:
                checked.add((name, anchor))
                if name not in _pages_for(index, surname):
                    missed.append(f"{surname} ({label}) on {name}")
    assert len(checked) > 100 and len({name for name, _ in checked}) > 8, sorted(checked)
    assert not missed, f"{len(missed)} of {len(checked)} missed:\n" + "\n".join(missed[:40])


# --- the built site: the Studies page in a browser ----------------------------------------------------------------

import test_browser  # noqa: E402
from test_browser import DESKTOP, PHONE, Session  # noqa: E402

# tests/test_browser.py's fixtures, shared: the site served once per module, Debian's Chromium, one way of
# recording console errors and requests to other origins (Session).
base_url = test_browser.base_url
browser = test_browser.browser

READY = "html[data-eb-studies=ready]"
VISIBLE = "() => Array.from(document.querySelectorAll('section.eb-study')).filter(s => !s.hidden).map(s => s.id)"


def _studies(session: Session, hash_: str = "") -> Any:
    page = session.open(f"book/studies.html{hash_}")
    page.wait_for_selector(READY)
    return page


def _status(page: Any) -> str:
    return page.inner_text(".eb-filter-count")


def _filter(page: Any, control: str, value: str) -> None:
    """Choose ``value`` in a filter control (as a reader would) and wait until its results are shown."""
    before = page.get_attribute("form.eb-study-filter", "data-applied")
    if control == "q":
        page.fill("#eb-filter-q", value)
    else:
        page.select_option(f"#eb-filter-{control}", value)
    page.wait_for_function(f"() => document.querySelector('form.eb-study-filter').dataset.applied !== '{before}'")


@pytest.mark.book
def test_filter_by_domain_design_state_and_words(site: Path, base_url: str, browser: Any) -> None:
    session = Session(browser, base_url, **DESKTOP)
    try:
        page = _studies(session)
        everything = page.evaluate(VISIBLE)
        assert len(everything) == min(50, page.locator("section.eb-study").count())
        assert page.is_visible("form.eb-study-filter")
        assert page.is_visible("nav.eb-study-pages") == (page.locator("section.eb-study").count() > 50)
        _filter(page, "domain", "recovery")
        shown = page.evaluate(VISIBLE)
        domains = page.eval_on_selector_all("section.eb-study:not([hidden])", "s => s.map(x => x.dataset.domains)")
        assert shown and all("recovery" in d.split("|") for d in domains) and len(shown) < len(everything)
        assert f"of {len(shown)} stud" in _status(page) and f"(of {page.locator('section.eb-study').count()})" in _status(page)
        _filter(page, "domain", "")
        _filter(page, "state", "OR")
        states = page.eval_on_selector_all("section.eb-study:not([hidden])", "s => s.map(x => x.dataset.states)")
        assert states and all("OR" in s.split("|") for s in states)
        _filter(page, "state", "")
        _filter(page, "design", "RCT")
        designs = page.eval_on_selector_all("section.eb-study:not([hidden])", "s => s.map(x => x.dataset.design)")
        assert designs and set(designs) == {"RCT"}
        _filter(page, "design", "")
        _filter(page, "q", "chinman")
        texts = page.eval_on_selector_all("section.eb-study:not([hidden])", "s => s.map(x => x.textContent)")
        assert texts and all("chinman" in t.lower() for t in texts) and len(texts) < len(everything)
        _filter(page, "q", "no study has this word zzqx")
        assert page.evaluate(VISIBLE) == [] and _status(page).startswith("No study matches")
        # Keyboard: the reset button is reachable with Tab from the words field, and Enter on it shows everything.
        page.focus("#eb-filter-q")
        for _ in range(4):
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.type") == "reset"
        before = page.get_attribute("form.eb-study-filter", "data-applied")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => document.querySelector('form.eb-study-filter').dataset.applied !== '{before}'")
        assert page.evaluate(VISIBLE) == everything and page.input_value("#eb-filter-q") == ""
    finally:
        session.close()
    assert not session.problems, session.problems


@pytest.fixture(scope="module")
def synthetic_url(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The site, its Studies page showing 2,000 generated SYNTHETIC studies, served locally."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import studies_page
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    work = tmp_path_factory.mktemp("synthetic-2000")
    entries = studies_page.studies_html(studies_page.synthetic_evidence(2000, work))
    synthetic = studies_page.site_with_studies(site, entries, work / "site")
    server = studies_page.serve(synthetic)
    yield next(server), synthetic
    server.close()


@pytest.mark.book
def test_pages_of_results_and_a_jump_to_a_study_on_another_page(synthetic_url: Any, browser: Any) -> None:
    url, synthetic = synthetic_url
    session = Session(browser, url, **DESKTOP)
    try:
        page = _studies(session)
        assert page.locator("section.eb-study").count() == 2000
        first = page.evaluate(VISIBLE)
        assert len(first) == 50 and "page 1 of 40" in _status(page)
        page.click("nav.eb-study-pages button[data-step='1']")
        second = page.evaluate(VISIBLE)
        assert len(second) == 50 and not set(first) & set(second) and "page 2 of 40" in _status(page)
        # A filter, then a link to a study it hides (on another page of results): the study is shown and in view.
        _filter(page, "state", "AK")
        target = page.evaluate("() => Array.from(document.querySelectorAll('section.eb-study'))"
                               ".filter(s => s.dataset.states !== 'AK').pop().id")
        page.evaluate(f"() => {{ window.location.hash = '{target}'; }}")
        page.wait_for_function(f"() => !document.getElementById('{target}').hidden")
        assert page.is_visible(f"#{target}") and page.evaluate(
            f"() => {{ const r = document.getElementById('{target}').getBoundingClientRect(); "
            "return r.top >= -1 && r.top < window.innerHeight; }")
        assert page.eval_on_selector(f"#{target} details", "d => d.open")
        # Opened from another page: a finding's anchor, on the last page of results.
        finding = page.evaluate("() => document.querySelector('section.eb-study:last-of-type li[id^=finding-]').id")
        page = _studies(session, f"#{finding}")
        page.wait_for_function(f"() => document.getElementById('{finding}').checkVisibility()")
        assert "page 40 of 40" in _status(page)
        assert page.evaluate(f"() => {{ const r = document.getElementById('{finding}').getBoundingClientRect(); "
                             "return r.top >= -1 && r.top < window.innerHeight; }")
    finally:
        session.close()
    assert not session.problems, session.problems


FILTER_TIME = """async ([name, value]) => {
  const form = document.querySelector('form.eb-study-filter');
  const status = form.querySelector('.eb-filter-count');
  const start = performance.now();
  const changed = new Promise(resolve => new MutationObserver((_, o) => { o.disconnect(); resolve(); })
    .observe(status, {childList: true, characterData: true, subtree: true}));
  form.elements[name].value = value;
  form.elements[name].dispatchEvent(new Event('input', {bubbles: true}));
  await changed;
  await new Promise(requestAnimationFrame);
  return performance.now() - start;
}"""


@pytest.mark.book
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_at_2000_studies_the_filter_answers_quickly_fits_a_phone_and_is_photographed(
        synthetic_url: Any, browser: Any, device: str) -> None:
    url, synthetic = synthetic_url
    size = (synthetic / "book" / "studies.html").stat().st_size
    assert size < 5_000_000, f"the Studies page at 2,000 studies is {size:,} bytes"
    session = Session(browser, url, **(DESKTOP if device == "desktop" else PHONE))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page = _studies(session)
        took = page.evaluate(FILTER_TIME, ["domain", "recovery"])
        took = max(took, page.evaluate(FILTER_TIME, ["state", "OR"]))
        assert took < 1000, f"filtering 2,000 studies took {took:.0f} ms"
        assert "Showing 1" in _status(page) and "(of 2,000)" in _status(page)
        width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1] + 1, f"the page is {width[0]}px wide on a {width[1]}px screen"
        page.locator("form.eb-study-filter").scroll_into_view_if_needed()
        page.evaluate("() => window.scrollBy(0, -80)")
        page.screenshot(path=str(ARTIFACTS / f"studies-2000-filtered-{device}.png"))
        print(f"{device}: {size:,} bytes, filter {took:.0f} ms, status {_status(page)!r}")
    finally:
        session.close()
    assert not session.problems, session.problems


@pytest.mark.book
def test_without_javascript_every_study_is_shown_and_no_control_that_does_nothing(site: Path, base_url: str,
                                                                                   browser: Any) -> None:
    session = Session(browser, base_url, java_script_enabled=False, **PHONE)
    try:
        page = session.open("book/studies.html")
        sections = page.locator("section.eb-study")
        assert sections.count() > 0 and all(sections.nth(i).is_visible() for i in range(sections.count()))
        assert not page.is_visible("form.eb-study-filter") and not page.is_visible("nav.eb-study-pages")
        width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1] + 1
        # A link to the last study still lands on it (entries off screen are not laid out: content-visibility).
        last = sections.nth(sections.count() - 1).get_attribute("id")
        page = session.open(f"book/studies.html#{last}")
        # Waited for (5 s at most): entries laid out late can move the target after the first scroll to it.
        page.wait_for_function(f"() => {{ const r = document.getElementById('{last}').getBoundingClientRect(); "
                               "return r.top >= -1 && r.top < window.innerHeight; }", timeout=5000)
    finally:
        session.close()

