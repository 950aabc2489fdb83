"""Write the notebooks of the book and the brief template from their cell lists.

Notebooks are generated so that their sources stay short and reviewable here; outputs are
added by executing them (`make notebooks`), and nbval then checks that they still match.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

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


def outcome_chapter(title: str, intro: str, domains: list[str], scales: list[tuple[str, str]]) -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(f"# {title}\n\n{intro}"),
        code(f"import evidencebook as eb\n\nevidence = eb.load_evidence(eb.load_settings())\ndomains = {domains!r}"),
        new_markdown_cell("## Summary"),
        code("eb.outcome_summary(evidence, domains)"),
        new_markdown_cell("## Summary of findings\n\n"
                          "A *proposed* certainty per outcome domain, computed from the coding (GRADE-like: start high for "
                          "randomised evidence, go down for risk of bias not assessed, inconsistent directions and "
                          "imprecision). It stands until the review team signs it off."),
        code("eb.sof_table(evidence, domains)"),
        new_markdown_cell("## Estimates"),
    ]
    for scale, plot_title in scales:
        cells.append(code(f"eb.forest_figure(evidence, domains, {scale!r}, {plot_title!r})", "nbval-ignore-output"))
    cells += [
        new_markdown_cell("## Every finding\n\nEach row links its quoted passage to the page it was read from."),
        code("eb.findings_table(evidence, domains)"),
    ]
    return notebook(cells)


PAGES = {
    "book/outcomes/recovery.ipynb": outcome_chapter(
        "Recovery, hope and empowerment",
        "Does peer support help people towards personal recovery, hope and a sense of agency?",
        ["recovery", "hope", "empowerment", "quality of life"],
        [("standardised", "Recovery, hope, empowerment and quality of life: standardised effects")],
    ),
    "book/outcomes/service-use.ipynb": outcome_chapter(
        "Hospitalisation, crisis care and engagement",
        "Does peer support change how people use hospitals, crisis and emergency services, and treatment?",
        ["hospitalisation", "crisis/ED use", "engagement", "service use", "substance use"],
        [("ratio", "Hospitalisation, crisis care, engagement and substance use: ratio measures"),
         ("standardised", "Crisis care and service use: standardised effects")],
    ),
    "book/studies.ipynb": notebook([
        new_markdown_cell("# Studies\n\n"
                          "Every included study and report: how it was coded in Zotero, and each finding with the passage "
                          "it was read from. Tables elsewhere in the book link here."),
        code("import evidencebook as eb\n\neb.study_entries(eb.load_evidence(eb.load_settings()))"),
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
        code("eb.policy_table(evidence)"),
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
                          "studies and findings added, updated and removed."),
        code("import evidencebook as eb\n\neb.whats_new(eb.load_settings())"),
    ]),
    "notebooks/brief.ipynb": notebook([
        new_markdown_cell("# Regional brief"),
        new_code_cell("# A kernel reused for brief after brief: each brief starts from an empty namespace.\n"
                      "%reset -f", metadata={"tags": ["reset", "remove-input"]}),
        new_code_cell('# The region to brief: a state, "DC", a postal code or a sub-state region id.\n'
                      'region = "oregon"', metadata={"tags": ["parameters", "remove-input"]}),
        code("import evidencebook as eb\n\nbrief = eb.Brief.for_region(region)\nbrief.header()"),
        new_markdown_cell("## What the evidence says"),
        code("brief.headline()"),
        new_markdown_cell("## Local evidence"),
        code("brief.local_evidence()"),
        new_markdown_cell("## Policy context"),
        code("brief.policy_context()"),
        new_markdown_cell("## Putting peers to work well"),
        code("brief.implementation()"),
        new_markdown_cell("## Sources and version"),
        code("brief.sources()"),
    ]),
}


def main() -> None:
    import json

    digest = json.loads((ROOT / "evidence" / "manifest.json").read_text(encoding="utf-8"))["content_hash"]
    for path, nb in PAGES.items():
        if path.startswith("book/"):  # the evidence hash keys the execution cache (see eb.stamp_notebooks)
            next(c for c in nb.cells if c.cell_type == "code").metadata["evidencebook"] = {"evidence_hash": digest}
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        print("wrote", path)


if __name__ == "__main__":
    main()
