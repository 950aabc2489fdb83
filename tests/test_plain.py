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
    assert said[2:4] == eb._briefs.national_sentences(evidence, judgements)  # the briefs' bottom line, word for word
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
