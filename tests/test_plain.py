"""The "What we found" boxes: plain words (Flesch-Kincaid grade 9 or lower), at most five sentences, and the
same numbers as the chapter's summary of findings, proposals said to be proposals."""

from __future__ import annotations

import importlib.util
import re

import pandas as pd
import pytest
from conftest import ROOT

import evidencebook as eb
from evidencebook._plain import MAX_SENTENCES, domain_sentence, noun

WORDS = {"none": 0, "no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
         "eight": 8, "nine": 9}
NAMES = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def evidence() -> eb.Evidence:
    return eb.load_evidence(eb.load_settings(ROOT))


@pytest.fixture(scope="module")
def judgements(evidence: eb.Evidence) -> pd.DataFrame:
    return eb.signed_judgements(eb.load_settings(ROOT), evidence.outcomes, evidence.studies)


def sentences(text: str) -> list[str]:
    """Sentences as a reader counts them: ended by . ! or ? before a space or the end."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def number(word: str) -> int:
    return WORDS[word.lower()] if word.lower() in WORDS else int(word)


def read_counts(sentence: str) -> dict[str, int]:
    """What a domain sentence says, read back from its words: findings in all, and how many point each way."""
    total = number(re.search(r": (\w+) findings?", sentence)[1])
    said = {"total": total, "for": 0, "against": 0, "unclear": 0}
    for key, words in (("for", r"favours? peer support"), ("against", r"favours? the other care"),
                       ("unclear", r"shows? (?:no|a) clear effect")):
        found = re.search(rf"(\w+) {words}", sentence)
        if found:
            said[key] = total if found[1] in ("all", "it") or found[1] == "none" and key == "unclear" else number(found[1])
    return said


def load_make_notebooks():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_box_and_the_intro_opening_read_at_grade_nine_or_lower(evidence, judgements) -> None:
    import textstat

    boxes = {"intro": eb.intro_sentences(evidence, judgements)}
    for page, domains in eb.OUTCOME_CHAPTERS.items():
        boxes[page] = eb.what_we_found(evidence, list(domains), judgements)
    grades = {}
    for page, said in boxes.items():
        text = " ".join(said)
        assert len(said) <= MAX_SENTENCES and len(sentences(text)) == len(said), (page, text)
        assert not re.search(r"\d\.\d|\bCI\b|SMD|GRADE|95%|[Pp]ooled|[Ss]ignifican", text), (page, text)
        grades[page] = textstat.flesch_kincaid_grade(text)
    grades["intro opening"] = textstat.flesch_kincaid_grade(load_make_notebooks().INTRO_OPENING)
    print("\nFlesch-Kincaid grades (textstat 0.7.8):", {k: round(v, 1) for k, v in grades.items()})
    assert len(grades) == 5 and max(grades.values()) <= 9, grades


def test_each_chapter_box_counts_what_its_summary_of_findings_counts(evidence, judgements) -> None:
    found = eb.included_findings(evidence.outcomes, evidence.studies)
    for page, domains in eb.OUTCOME_CHAPTERS.items():
        sof = eb.summary_of_findings(evidence.outcomes, evidence.studies, list(domains))
        said = eb.what_we_found(evidence, list(domains), judgements)
        per_domain = sof.groupby("domain", sort=False)[["findings", "favour_peer", "favour_comparison", "unclear"]].sum()
        assert len(said) == len(per_domain) + 1  # no more than four domains in any chapter today: one sentence each
        for sentence, (domain, row) in zip(said, per_domain.iterrows()):
            assert sentence.lower().startswith(noun(domain).lower() + ":"), sentence
            assert read_counts(sentence) == {"total": row["findings"], "for": row["favour_peer"],
                                             "against": row["favour_comparison"], "unclear": row["unclear"]}, sentence
            reviews = found.loc[found["domain"].eq(domain) & found["evidence_level"].eq("review"), "study_id"].nunique()
            if reviews:
                assert re.search(rf"\b{NAMES[reviews] if reviews < 10 else reviews} reviews?\b", sentence), sentence
        assert "(proposed by our rules, not yet signed off)" in said[-1]  # nothing is signed in the bundled evidence


def test_the_intro_box_counts_every_finding_on_what_peer_support_does(evidence, judgements) -> None:
    sof = eb.summary_of_findings(evidence.outcomes, evidence.studies, list(eb.INTRO_DOMAINS))
    said = eb.intro_sentences(evidence, judgements)
    total = int(sof["findings"].sum())
    assert said[0].startswith(f"We found {total} findings on what peer support does")
    parts = [int(sof[c].sum()) for c in ("favour_peer", "favour_comparison", "unclear")]
    assert sum(parts) == total
    assert [number(n) for n in re.findall(r"(\w+) (?:favours?|shows?) ", said[1])] == parts
    assert said[2:4] == eb._brief_text.national_sentences(evidence, judgements)  # the briefs' bottom line, word for word
    assert said[-1].startswith("Proposed means")


def _signed(sof: pd.DataFrame, status: str, rows: slice = slice(None)) -> pd.DataFrame:
    rated = sof[sof["proposed_certainty"].ne("not rated")].iloc[rows]
    return pd.DataFrame({"domain": rated["domain"], "comparison_type": rated["comparison_type"], "certainty": "high",
                         "status": status})


def test_a_signed_judgement_is_said_to_be_signed_and_a_stale_one_is_not(evidence) -> None:
    domains = list(eb.OUTCOME_CHAPTERS["book/outcomes/service-use.ipynb"])
    sof = eb.summary_of_findings(evidence.outcomes, evidence.studies, domains)
    assert eb.certainty_sentence(sof, _signed(sof, "signed")) == \
        "How sure we can be: high (signed off by the review team)."
    rated = int(sof["proposed_certainty"].ne("not rated").sum())
    some = eb.certainty_sentence(sof, _signed(sof, "signed", slice(0, 2)))
    assert some == f"How sure we can be: very low to high (2 of {rated} ratings signed off, the rest proposed)."
    # Signed on evidence that has changed since: the rules' proposal stands, and is called one.
    assert "proposed by our rules" in eb.certainty_sentence(sof, _signed(sof, "needs re-review"))
    assert eb.certainty_sentence(sof.assign(proposed_certainty="not rated"), None) == \
        "None of these findings is rated for how sure we can be."


def test_a_domain_sentence_accounts_for_every_finding_and_says_no_statistic() -> None:
    assert domain_sentence(["hospitalisation"], 9, 0, 2, "six studies, three reviews") == \
        "Hospital stays: 11 findings (six studies, three reviews); nine favour peer support and two show no clear effect."
    assert domain_sentence(["hope"], 5, 0, 0, "five reviews") == "Hope: five findings (five reviews); all favour peer support."
    assert domain_sentence(["cost"], 0, 1, 0, "one study") == "Costs: one finding (one study); it favours the other care."
    assert domain_sentence(["workforce"], 0, 0, 30, "five reports") == \
        "The peer workforce: 30 findings (five reports); none shows a clear effect."
    assert domain_sentence(["quality of life"], 1, 2, 1, "one study") == ("Quality of life: four findings (one study); "
                                                                         "one favours peer support, two favour the "
                                                                         "other care and one shows no clear effect.")


def test_a_chapter_with_many_domains_still_says_it_in_five_sentences(evidence) -> None:
    domains = sorted(set(evidence.outcomes["domain"]))
    assert len(domains) > MAX_SENTENCES
    said = eb.what_we_found(evidence, domains)
    assert len(said) == MAX_SENTENCES
    sof = eb.summary_of_findings(evidence.outcomes, evidence.studies, domains)
    assert sum(read_counts(s)["total"] for s in said[:-1]) == sof["findings"].sum()  # the last sentence shares the rest
    assert eb.what_we_found(evidence, ["no such domain"]) == ["No findings are coded here yet."]


def test_the_box_escapes_what_it_is_given_and_refuses_a_sixth_sentence() -> None:
    box = eb.what_we_found_box(["<script>alert(1)</script>: one finding (one study); it favours peer support."])
    assert "<script>" not in box and "&lt;script&gt;" in box and box.startswith('<div class="eb-what-we-found"')
    assert "width" not in box  # nothing of its own wider than a phone
    with pytest.raises(ValueError, match="at most 5 sentences"):
        eb.what_we_found_box(["A."] * 6)


def test_the_boxes_change_with_the_evidence_and_so_do_their_pages_stamps(project: eb.Settings, evidence) -> None:
    import dataclasses

    # A finding moves from hope to "other": the intro's and the chapter's boxes say so, and both pages' stamps change.
    pages = ("book/intro.ipynb", "book/outcomes/recovery.ipynb")
    stamps = {page: eb.page_stamp(project, eb.BOOK_PAGES[page]) for page in pages}
    path = project.evidence / "outcomes.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    finding = table.loc[table["domain"].eq("hope"), "finding_id"].iloc[0]
    path.write_text(table.assign(domain=table["domain"].mask(table["finding_id"].eq(finding), "other"))
                    .to_csv(index=False), encoding="utf-8")
    assert all(eb.page_stamp(project, eb.BOOK_PAGES[page]) != stamps[page] for page in pages)

    moved = dataclasses.replace(evidence, outcomes=evidence.outcomes.assign(
        domain=evidence.outcomes["domain"].mask(evidence.outcomes["finding_id"].eq(finding), "other")))
    recovery = list(eb.OUTCOME_CHAPTERS["book/outcomes/recovery.ipynb"])
    assert eb.what_we_found(evidence, recovery)[1] == "Hope: five findings (five reviews); all favour peer support."
    assert eb.what_we_found(moved, recovery)[1] == "Hope: four findings (four reviews); all favour peer support."
    assert eb.intro_sentences(moved)[0] != eb.intro_sentences(evidence)[0]


# --- the glossary, and each technical word linked to it on its first use on a page ---------------------------

GLOSSARY = ROOT / "book" / "glossary.md"


def glossary_entries() -> list[tuple[list[str], str]]:
    """The glossary's entries as written: (its names, its definition), read from the directive's text."""
    text = GLOSSARY.read_text(encoding="utf-8").split("```{glossary}")[1].split("```")[0]
    return [(names.strip().splitlines(), " ".join(definition.split()))
            for names, definition in re.findall(r"((?:^[^\s:].*\n)+)((?:^  .*\n?)+)", text, re.MULTILINE)]


def test_the_glossary_defines_every_technical_word_the_site_uses_in_plain_words() -> None:
    import textstat

    entries = glossary_entries()
    names = {n for found, _ in entries for n in found}
    wanted = {"SWiM", "sign test", "vote counting", "Hedges g", "SMD", "risk ratio", "odds ratio",
              "confidence interval", "random effects", "REML", "HKSJ", "heterogeneity", "I²", "GRADE", "RoB 2",
              "ROBINS-I", "AMSTAR 2", "CCA", "overlap", "PRISMA", "peer support specialist", "recovery coach",
              "Medicaid state plan", "tau²", "prediction interval", "forest plot", "corrected covered area",
              "publication bias", "imprecision", "inconsistency", "indirectness", "risk of bias", "Cohen's kappa"}
    assert wanted <= names, wanted - names
    grades = {found[0]: textstat.flesch_kincaid_grade(re.sub(r"Source: \[[^\]]*\]\([^)]*\)\.?", "", said))
              for found, said in entries}
    print(f"\n{len(entries)} glossary entries, {len(names)} terms; hardest definitions:",
          sorted(((round(g, 1), n) for n, g in grades.items()), reverse=True)[:3])
    assert len(entries) >= 60 and max(grades.values()) <= 12, max(grades.items(), key=lambda kv: kv[1])
    # GRADE's levels are named in its entry; no definition leans on TeX (the site loads nothing from elsewhere).
    assert all(level in dict((f[0], d) for f, d in entries)["GRADE"] for level in ("high", "moderate", "low", "very low"))
    assert "$" not in GLOSSARY.read_text(encoding="utf-8")


def _terms(*names: str) -> dict:
    from evidencebook._glossary import GlossaryTerm, _exact

    # Each name its own entry, except that 'SMD' and 'Hedges g' share one (as in the glossary).
    entry = {"Hedges g": "SMD"}
    return {(n if _exact(n) else n.lower()): GlossaryTerm(n, entry.get(n, n), "term-" + n.replace(" ", "-"), f"About {n}.")
            for n in names}


def test_the_first_use_of_each_entry_in_html_is_linked_and_nothing_else() -> None:
    terms = _terms("SMD", "Hedges g", "CI", "95% CI", "random effects", "I²", "REML", "odds ratio")
    pattern = eb.term_pattern(terms)
    seen: set[str] = set()
    markup = ('<h2>SMD</h2><table><thead><tr><th>CI</th></tr></thead><tbody><tr><td>Random effects &amp; the '
              'SMD (95% CI), then CI and Hedges g</td></tr></tbody></table><a href="x">I²</a><code>REML</code>'
              '<script>var s = "<p>I² REML</p>";</script><p>ORs, OR and I² &lt;b&gt;REML&lt;/b&gt; odds ratios</p>'
              "<!-- odds ratio -->")
    linked = eb.link_first_uses_in_html(markup, pattern, terms, seen, lambda t: f"glossary.html#{t.anchor}")

    def link(words: str, anchor: str) -> str:
        return f'<a class="reference internal eb-term" href="glossary.html#{anchor}" title="About {anchor[5:].replace("-", " ")}.">{words}</a>'

    assert linked == (
        '<h2>SMD</h2><table><thead><tr><th>CI</th></tr></thead><tbody><tr><td>'
        f'{link("Random effects", "term-random-effects")} &amp; the {link("SMD", "term-SMD")} '
        f'({link("95% CI", "term-95%-CI")}), then {link("CI", "term-CI")} and Hedges g</td></tr></tbody></table>'
        '<a href="x">I²</a><code>REML</code><script>var s = "<p>I² REML</p>";</script>'
        f'<p>ORs, OR and {link("I²", "term-I²")} &lt;b&gt;{link("REML", "term-REML")}&lt;/b&gt; '
        f'{link("odds ratios", "term-odds-ratio")}</p>'
        "<!-- odds ratio -->")
    assert seen == {"SMD", "CI", "95% CI", "random effects", "I²", "REML", "odds ratio"}  # a plural is a use too
    plurals = _terms("recovery coach", "RCT")
    assert eb.link_first_uses_in_html("<p>Recovery coaches in RCTs</p>", eb.term_pattern(plurals), plurals, set(),
                                      lambda t: "#") == (
        '<p><a class="reference internal eb-term" href="#" title="About recovery coach.">Recovery coaches</a> in '
        '<a class="reference internal eb-term" href="#" title="About RCT.">RCTs</a></p>')
    # Once linked on a page, never again on it.
    assert eb.link_first_uses_in_html("<p>SMD and CI</p>", pattern, terms, seen, lambda t: "#") == "<p>SMD and CI</p>"


def test_the_first_use_of_each_entry_in_a_doctree_is_linked_not_in_headings_links_or_code() -> None:
    from docutils import nodes

    from evidencebook._glossary import link_page

    terms = _terms("SMD", "GRADE", "random effects")
    page = nodes.section("", nodes.title("", "GRADE and SMD"),
                         nodes.paragraph("", "", nodes.reference("", "GRADE", refuri="https://example.org"),
                                         nodes.Text(" and "), nodes.literal("", "SMD"),
                                         nodes.Text(" then GRADE, SMD and GRADE again, with random effects.")),
                         nodes.raw("", "<p>The SMD in HTML, random effects</p>", format="html"))
    made = link_page(page, terms, lambda term: f"glossary.html#{term.anchor}")
    links = [(r.astext(), r["refuri"]) for r in page.findall(nodes.reference) if "eb-term" in r["classes"]]
    assert made == 3 and links == [("GRADE", "glossary.html#term-GRADE"), ("SMD", "glossary.html#term-SMD"),
                                   ("random effects", "glossary.html#term-random-effects")]
    assert page[0].astext() == "GRADE and SMD"  # the heading is as it was
    assert page[2].astext() == "<p>The SMD in HTML, random effects</p>"  # already linked above: the HTML is left


def test_a_built_page_links_each_term_once_to_its_glossary_entry(tmp_path) -> None:
    """A small Sphinx project with MyST, this glossary and the extension, built for real."""
    import subprocess
    import sys

    (tmp_path / "book").mkdir()
    (tmp_path / "conf.py").write_text('extensions = ["myst_parser", "evidencebook._glossary"]\n', encoding="utf-8")
    (tmp_path / "index.md").write_text("# Home\n\n```{toctree}\nbook/glossary\nbook/page\n```\n", encoding="utf-8")
    (tmp_path / "book" / "glossary.md").write_text(GLOSSARY.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "book" / "page.md").write_text(
        "# Random effects and GRADE\n\nThe SMD was pooled with random effects; [GRADE](https://example.org) and "
        "`CI`, then GRADE and the CI. Again: SMD, Hedges g, GRADE. Oregon (OR) and ORs. Two RCTs.\n\n"
        '<div><p>I² and <a href="x">tau²</a> then tau²</p></div>\n', encoding="utf-8")
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", str(tmp_path), str(tmp_path / "out")],
                   check=True, capture_output=True, text=True)
    page = (tmp_path / "out" / "book" / "page.html").read_text(encoding="utf-8")
    glossary = (tmp_path / "out" / "book" / "glossary.html").read_text(encoding="utf-8")
    linked = re.findall(r'<a class="[^"]*eb-term[^"]*" href="glossary\.html#([^"]+)"[^>]*>([^<]+)</a>', page)
    assert linked == [("term-SMD", "SMD"), ("term-random-effects", "random effects"), ("term-GRADE", "GRADE"),
                      ("term-CI", "CI"), ("term-RCT", "RCTs"), ("term-I2", "I²"), ("term-tau2", "tau²")], linked
    assert all(f'id="{anchor}"' in glossary for anchor, _ in linked)  # every link lands on its term
    assert "eb-term" not in glossary and "<h1>Random effects and GRADE" in page
