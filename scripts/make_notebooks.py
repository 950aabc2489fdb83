"""Write the notebooks of the book and the brief template from their cell lists.

Notebooks are generated so that their sources stay short and reviewable here; outputs are
added by executing them (`make notebooks`), and nbval then checks that they still match.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from evidencebook import BOOK_PAGES, OUTCOME_CHAPTERS, load_settings, page_stamp

ROOT = Path(__file__).resolve().parents[1]
HIDE = {"tags": ["remove-input"]}


def code(source: str, *tags: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"tags": ["remove-input", *tags]})


def notebook(cells: list) -> nbformat.NotebookNode:
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"  # stable ids keep diffs to real changes
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def outcome_chapter(page: str, title: str, intro: str, scales: list[tuple[str, str]]) -> nbformat.NotebookNode:
    domains = list(OUTCOME_CHAPTERS[page])  # one list, shared with the page's cache stamp
    cells = [
        new_markdown_cell(f"# {title}\n\n{intro}"),
        # The box first, from the chapter's own summary of findings (its cache stamp is on this cell).
        code("import evidencebook as eb\n\nsettings = eb.load_settings()\nevidence = eb.load_evidence(settings)\n"
             f"domains = {domains!r}\neb.chapter_box(evidence, domains, settings)"),
        new_markdown_cell("## Summary\n\n"
                          "Every finding is counted, in one of three groups: favours peer support, favours the "
                          "comparison, or direction unclear. Independent primary studies vote once each; reviews "
                          "share trials, so they are shown side by side and never counted as votes."),
        code("eb.outcome_summary(evidence, domains)"),
        new_markdown_cell("## Summary of findings\n\n"
                          "One row per question (outcome and comparison type), with its certainty (GRADE) and the "
                          "chain of reasons behind it: the start level by design, each of the five GRADE domains with "
                          "its rule and judgement, and the final level. A certainty marked *proposed* is computed "
                          "from the coding; one the review team has signed off is shown with who signed it and "
                          "when, and is marked *needs re-review* when the evidence under it changes."),
        code("eb.sof_table(evidence, domains, settings)"),
        new_markdown_cell("## Independent studies and their votes"),
        code("eb.study_votes_table(evidence, domains)"),
        new_markdown_cell("## Reviews, side by side"),
        code("eb.review_overview(evidence, domains)"),
        new_markdown_cell("## Estimates"),
    ]
    for scale, plot_title in scales:
        cells.append(code(f"eb.forest_figure(evidence, domains, {scale!r}, {plot_title!r})", "nbval-ignore-output"))
    cells += [
        new_markdown_cell("## Every finding\n\nEach row links its quoted passage to the page it was read from."),
        code("eb.findings_table(evidence, domains)"),
    ]
    return notebook(cells)


# The introduction's opening, in plain words (a test holds it to Flesch-Kincaid grade 9, as the boxes).
INTRO_OPENING = (
    "Peers are people who have lived through mental illness or drug or alcohol use, and who use what they learned "
    "to help others. This review brings together what is known about their work in mental health and addiction "
    "care. They go by many names: peer support specialists, recovery coaches, recovery mentors, and family and "
    "youth peers. The review is living: when new studies come out, we add them and build this site again. The "
    "banner at the top of each page says which version of the evidence it shows."
)
INTRO_REST = """## Who peers are

In the words of the Southern Oregon Peer Workforce Project {cite:p}`coreSouthernOregon`:

> Peers are people with personal experience with mental health conditions or substance use disorders, or both, who
> use that knowledge to help others facing similar struggles.
> Peers are known by various titles, including peer support specialist, certified recovery mentor, family/youth
> support specialist, and peer mentor, among others.

## The questions

1. **What works, and for whom?** Does peer support change recovery, hope and empowerment, the use of hospitals and
   crisis services, engagement in treatment and substance use, for people with serious mental illness, substance use
   disorders or both? See {doc}`outcomes/recovery` and {doc}`outcomes/service-use`.
2. **How sure are we?** Each finding shows its source, its quoted passage and whether it was read from the primary
   report or from another review; review-level estimates that share trials are never pooled ({doc}`methods`).
3. **What enables a peer workforce?** State Medicaid coverage, certification and workforce figures
   ({doc}`policy`), and what regional work recommends for supervision, training and careers.
4. **What does it mean for my state or region?** A brief for every state, DC and sub-state region ({doc}`briefs`).

## How to read this site

- Numbers are shown as the source reports them, with a link to the passage they were read from.
- *Secondary* marks a finding read from another review's table or a summary rather than the original report.
- *Low confidence* marks a source whose authors or year could not be confirmed.
- Technical words link to the {doc}`glossary` the first time a page uses them."""


PAGES = {
    # The root page (book/intro in _toc.yml, so its address stays book/intro.html): a notebook, so that its box
    # is computed from the evidence and its cache stamp sees the evidence change.
    "book/intro.ipynb": notebook([
        new_markdown_cell(f"# Peer support in behavioral health: a living evidence review\n\n{INTRO_OPENING}"),
        code("import evidencebook as eb\n\nsettings = eb.load_settings()\neb.intro_box(eb.load_evidence(settings), settings)"),
        new_markdown_cell(INTRO_REST),
    ]),
    "book/outcomes/recovery.ipynb": outcome_chapter(
        "book/outcomes/recovery.ipynb", "Recovery, hope and empowerment",
        "Does peer support help people towards personal recovery, hope and a sense of agency?",
        [("standardised", "Recovery, hope, empowerment and quality of life: standardised effects")],
    ),
    "book/outcomes/service-use.ipynb": outcome_chapter(
        "book/outcomes/service-use.ipynb", "Hospitalisation, crisis care and engagement",
        "Does peer support change how people use hospitals, crisis and emergency services, and treatment?",
        [("ratio", "Hospitalisation, crisis care, engagement and substance use: ratio measures"),
         ("standardised", "Crisis care and service use: standardised effects")],
    ),
    "book/outcomes/other-outcomes.ipynb": outcome_chapter(
        "book/outcomes/other-outcomes.ipynb", "Symptoms, cost, the workforce and other outcomes",
        "What else the sources report: symptoms, costs, housing and employment, findings about the peer "
        "workforce itself, and outcomes that fit no other chapter.",
        [("standardised", "Symptoms and other outcomes: standardised effects"),
         ("ratio", "Other outcomes: ratio measures")],
    ),
    "book/studies.ipynb": notebook([
        new_markdown_cell("# Studies\n\n"
                          "Every included study and report: how it was coded in Zotero, and each finding with the passage "
                          "it was read from. Tables elsewhere in the book link here."),
        code("import evidencebook as eb\n\neb.study_entries(eb.load_evidence(eb.load_settings()))"),
    ]),
    "book/risk-of-bias.ipynb": notebook([
        new_markdown_cell("# Risk of bias\n\n"
                          "How far each included study's results can be trusted, domain by domain: RoB 2 for "
                          "randomised trials (five domains: randomisation process, deviations from intended "
                          "interventions, missing outcome data, measurement of the outcome, selection of the reported "
                          "result) and ROBINS-I for non-randomised studies (seven domains, from confounding to "
                          "selection of the reported result). The judgements are recorded in each study's extraction "
                          "note in Zotero, with their reasons; robvis's two figures show them: the traffic-light "
                          "plot, one row per study, and the summary plot, the share of each judgement per domain "
                          "(also weighted by the number of participants, where it is coded). A study's overall "
                          "judgement is what its forest-plot row shows and what the certainty of evidence counts. "
                          "Judgements are recorded only where a source states them, or the review team makes them: "
                          "none is inferred."),
        code("import evidencebook as eb\n\nevidence = eb.load_evidence(eb.load_settings())"),
        new_markdown_cell("## Figures"),
        code("eb.risk_of_bias_figures(evidence)", "nbval-ignore-output"),
        new_markdown_cell("## Every judgement, with its reason"),
        code("eb.risk_of_bias_tables(evidence)"),
    ]),
    "book/evidence-map.ipynb": notebook([
        new_markdown_cell("# Evidence map\n\n"
                          "Where the evidence is and where it is missing: outcome domains by population, and how "
                          "records flowed through screening (PRISMA 2020), for this evidence version and cumulatively."),
        code("import evidencebook as eb\n\nsettings = eb.load_settings()\nevidence = eb.load_evidence(settings)"),
        code("eb.evidence_map(evidence, settings)", "nbval-ignore-output"),
    ]),
    "book/policy.ipynb": notebook([
        new_markdown_cell("# State policy landscape\n\n"
                          "Medicaid coverage, certification and workforce facts for every state, each with its "
                          "source and date. Where sources disagree, every fact is kept, newest first."),
        code("import evidencebook as eb\n\nevidence = eb.load_evidence(eb.load_settings())"),
        new_markdown_cell("## Map"),
        code("eb.policy_landscape(evidence)", "nbval-ignore-output"),
        new_markdown_cell("## Every fact, with its source and date"),
        code("eb.policy_table(evidence)"),
    ]),
    "book/implementation.ipynb": notebook([
        new_markdown_cell("# Implementation: barriers and recommendations\n\n"
                          "What the sources say about putting peers to work well: role clarity, supervision by "
                          "peers, pay, training, career paths, integration into teams, stigma and culturally "
                          "specific services. Each passage is quoted as coded in Zotero, under the theme it was "
                          "coded with, and links to its source and its entry on the Studies page. These are "
                          "qualitative findings: they are grouped, never counted as effects."),
        code("import evidencebook as eb\n\neb.implementation_themes(eb.load_evidence(eb.load_settings()))"),
    ]),
    "book/briefs.ipynb": notebook([
        new_markdown_cell("# Regional briefs\n\n"
                          "A two-page brief for every state, DC and sub-state region: the evidence, what is known "
                          "locally, and the state's policy levers. Make one yourself with "
                          "`evidencebook brief <region>`."),
        code("import evidencebook as eb\n\nevidence = eb.load_evidence(eb.load_settings())"),
        code("eb.regions_index(evidence)"),
    ]),
    "book/data-quality.ipynb": notebook([
        new_markdown_cell("# Data quality\n\n"
                          "The state of the coding behind this version of the review, computed from the evidence "
                          "tables: schema checks, coding problems reported by the sync, and the flags a reader "
                          "should weigh. `evidencebook check` prints the same report."),
        code("import evidencebook as eb\n\neb.data_quality(eb.load_evidence(eb.load_settings()))"),
    ]),
    "book/whats-new.ipynb": notebook([
        new_markdown_cell("# What's new\n\n"
                          "Every evidence version, newest first, computed from the Zotero library at each sync: the "
                          "studies and findings added, updated and removed, and for each outcome how its pooled "
                          "estimate, confidence and prediction intervals, tau², number of studies (k) and certainty "
                          "moved. Changes that Cochrane's guidance for living reviews treats as a reason for a new "
                          "citable version are flagged: a confidence interval that now includes or excludes no "
                          "effect, a change of direction, a change of certainty. Every version's tables stay "
                          "readable: each section links to them."),
        code("import evidencebook as eb\n\neb.whats_new(eb.load_settings())"),
    ]),
    "notebooks/brief.ipynb": notebook([
        new_markdown_cell("# Regional brief"),
        new_code_cell('# The region to brief: a state, "DC", a postal code or a sub-state region id.\n'
                      'region = "oregon"\n# Whether a PDF is printed beside the brief (the brief then links it).\npdf = True',
                      metadata={"tags": ["parameters", "remove-input"]}),
        code("import evidencebook as eb\n\nbrief = eb.Brief.for_region(region, pdf=pdf)\nbrief.header()"),
        new_markdown_cell("## Bottom line"),
        code("brief.bottom_line()"),
        new_markdown_cell("## What this state can do"),
        code("brief.levers()"),
        new_markdown_cell("## Local results"),
        code("brief.local_evidence()"),
        new_markdown_cell("## Regions, programmes and laws"),
        code("brief.local_context()"),
        new_markdown_cell("## What the evidence says"),
        code("brief.headline()"),
        new_markdown_cell("## Putting peers to work well"),
        code("brief.implementation()"),
        new_markdown_cell("## Sources and version"),
        code("brief.sources()"),
    ]),
}


def execute(path: str) -> None:
    """Run a notebook in place with nbconvert's executor, as ``make notebooks`` does (no timings kept)."""
    from nbconvert.preprocessors import ExecutePreprocessor

    target = ROOT / path
    nb = nbformat.read(target, as_version=4)
    ExecutePreprocessor(timeout=600, kernel_name="python3", record_timing=False).preprocess(
        nb, {"metadata": {"path": str(target.parent)}})
    nbformat.write(nb, target)
    print("executed", path)


def main(argv: list[str]) -> None:
    """Write every notebook of the book (its source from PAGES, with its cache stamp); with ``--execute``, run
    each one in place afterwards.  PAGES and the package's BOOK_PAGES are the one list of pages: a test checks
    that the table of contents and pytest's test paths agree with them."""
    settings = load_settings(ROOT)
    for path, nb in PAGES.items():
        if path in BOOK_PAGES:  # what the page reads keys its execution cache (see eb.stamp_notebooks)
            stamp = page_stamp(settings, BOOK_PAGES[path])
            next(c for c in nb.cells if c.cell_type == "code").metadata["evidencebook"] = {"reads": stamp}
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        print("wrote", path)
    if "--execute" in argv:
        for path in PAGES:
            execute(path)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
