"""The risk-of-bias page: RoB 2 and ROBINS-I judgements, domain by domain, with robvis's two figures.

The judgements come from the Risk of bias sections of the extraction notes (``evidence/risk_of_bias.csv``);
a study's overall judgement is also its ``risk_of_bias``, which the forest plots and the certainty chain read.
"""

from __future__ import annotations

import pandas as pd

from ._rob_sections import ROB_DOMAINS, ROB_JUDGEMENTS
from ._display import HTML, e, html_table, study_label
from ._evidence import Evidence

__all__ = ["risk_of_bias_assessments", "risk_of_bias_figures", "risk_of_bias_tables"]

_FOR = {"RoB 2": "randomised trials", "ROBINS-I": "non-randomised studies of interventions"}
_NOT_JUDGED = ("", "not assessed")


def risk_of_bias_assessments(evidence: Evidence) -> pd.DataFrame:
    """The included studies' judgements, with a ``label`` per assessment (the study, and the finding when it is
    judged per outcome; unique on the page) and its ``weight``: the participants of the finding, or of the
    study's largest finding, where coded (else NA)."""
    included = evidence.included
    rob = evidence.risk_of_bias
    rob = rob[rob["study_id"].isin(set(included["study_id"]))].copy()
    if rob.empty:
        return rob.assign(label=pd.Series(dtype=object), weight=pd.Series(dtype=float))
    studies = included.set_index("study_id")
    names = {i: study_label(s["authors"], s["title"], s["year"]) for i, s in studies.iterrows()}
    taken = pd.Series(list(names.values())).value_counts()
    names = {i: (n if taken[n] == 1 else f"{n} ({studies.loc[i, 'citation_key']})") for i, n in names.items()}
    rob["label"] = [names[s] + (f", finding {f}" if f else "") for s, f in zip(rob["study_id"], rob["finding_id"])]
    sizes = pd.to_numeric(evidence.outcomes["n_participants"], errors="coerce")
    by_finding = dict(zip(evidence.outcomes["finding_id"], sizes))
    by_study = sizes.groupby(evidence.outcomes["study_id"]).max().to_dict()
    rob["weight"] = [by_finding.get(f) if f else by_study.get(s) for s, f in zip(rob["study_id"], rob["finding_id"])]
    rob["weight"] = pd.to_numeric(rob["weight"], errors="coerce").astype(float)
    return rob


def _figures(judged: pd.DataFrame, tool: str) -> str:
    from ._plots import (figure_html, rob_summary_alt_text, rob_summary_plot, traffic_light_alt_text,
                         traffic_light_plot)

    domains, levels = ROB_DOMAINS[tool], ROB_JUDGEMENTS[tool]
    n = judged["label"].nunique()
    title = f"{tool}: {n} {'assessment' if n == 1 else 'assessments'} of {_FOR[tool]}"
    light = figure_html(traffic_light_plot(judged, domains, levels, f"Traffic-light plot. {title}"),
                        traffic_light_alt_text(judged, tool, title),
                        f"{tool} judgements per domain (D1 to D{len(domains)}) and overall: colour and symbol give "
                        "the judgement; the overall is stated by the reviewer with its reason, or the worst domain.")
    summary = figure_html(rob_summary_plot(judged, domains, levels, f"Summary plot. {title}"),
                          rob_summary_alt_text(judged, domains, levels, tool, title),
                          "The share of each judgement per domain; weighted by participants where the number of "
                          "participants is coded (assessments without it are left out of the weighted bars).")
    return f"<h3>{e(tool)} ({e(_FOR[tool])})</h3>{light}{summary}"


def _judgement_table(judged: pd.DataFrame, studies_page: str) -> HTML:
    from ._book import study_anchor
    from ._plots import ROB_STYLE

    rows = judged.assign(
        study=[f'<a href="{e(studies_page)}#{e(study_anchor(k))}">{e(label)}</a>'
               for k, label in zip(judged["citation_key"], judged["label"])],
        what=["Overall" if d == "overall" else f"{d} {name}" for d, name in zip(judged["domain_id"], judged["domain"])],
        said=[f"{ROB_STYLE[j][1]} {j}" for j in judged["judgement"]],
        line=[f"{k}, line {n}" for k, n in zip(judged["note_key"], judged["note_line"])])
    return html_table(rows, {"study": "Study", "tool": "Tool", "what": "Domain", "said": "Judgement",
                             "reason": "Reason", "source": "Source", "line": "Extraction note"}, safe=("study",))


def risk_of_bias_figures(evidence: Evidence) -> HTML:
    """robvis's two figures for each tool used; says so when no study is assessed domain by domain."""
    judged = risk_of_bias_assessments(evidence)
    if judged.empty:
        return HTML("<p><strong>No included study has been assessed domain by domain yet.</strong> A study is "
                    "assessed in a <em>Risk of bias</em> section of its extraction note, with RoB 2 (randomised "
                    "trials) or ROBINS-I (non-randomised studies): see <em>Contributing a study</em>. Until then "
                    "its risk of bias shows as “?” in the forest plots and counts as not assessed in the "
                    "certainty of evidence.</p>")
    return HTML("".join(_figures(judged[judged["tool"] == tool], tool) for tool in ROB_DOMAINS
                        if (judged["tool"] == tool).any()))


def risk_of_bias_tables(evidence: Evidence, studies_page: str = "studies.html") -> HTML:
    """Every judgement with its reason, the overall judgements recorded without domains, and the included
    primary studies not assessed."""
    judged = risk_of_bias_assessments(evidence)
    included = evidence.included
    level = included["risk_of_bias"].str.split(" (", regex=False).str[0]
    parts = [_judgement_table(judged, studies_page) if len(judged) else
             HTML("<p>No judgement is recorded domain by domain.</p>")]
    overall_only = included[~included["study_id"].isin(set(judged["study_id"])) & ~level.isin(_NOT_JUDGED)]
    if len(overall_only):
        rows = overall_only.assign(
            label=[study_label(a, t, y) for a, t, y in zip(overall_only["authors"], overall_only["title"],
                                                            overall_only["year"])],
            judgement=overall_only["risk_of_bias"].str.split(" (", regex=False).str[0],
            reason=overall_only["risk_of_bias"].str.partition(" (")[2].str.removesuffix(")"))
        parts.append("<h3>Overall judgements recorded without their domains</h3><p>An overall judgement in the "
                     "study's <code>risk_of_bias</code> field, as a source states it (for a review: its own "
                     "judgement of the studies it includes); no domain is judged here.</p>"
                     + html_table(rows, {"label": "Source", "study_type": "Type", "judgement": "Judgement",
                                         "reason": "As stated"}))
    primary = included[included["study_type"] == "primary"]
    unjudged = primary[~primary["study_id"].isin(set(judged["study_id"])) & level[primary.index].isin(_NOT_JUDGED)]
    names = sorted(study_label(a, t, y) for a, t, y in zip(unjudged["authors"], unjudged["title"], unjudged["year"]))
    parts.append(f"<h3>Not assessed</h3><p>{len(unjudged)} of {len(primary)} included primary studies have no "
                 "risk-of-bias judgement" + (": " + e(", ".join(names)) if names else "") + ".</p>")
    return HTML("".join(parts))
