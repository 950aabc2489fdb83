"""Standard errors from CIs, direction counts, and forest plots with alt text from the numbers."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

import pandas as pd
import pytest
from conftest import ROOT

import evidencebook as eb
from evidencebook._plots import forest_plot


Z_975 = NormalDist().inv_cdf(0.975)  # an oracle independent of the package (the standard library's quantile)


def test_standard_error_from_a_ratio_ci_is_on_the_log_scale() -> None:
    # Chien 2019: RR 0.44 (0.11 to 1.75)
    assert eb.standard_error(0.44, 0.11, 1.75, "RR") == pytest.approx((math.log(1.75) - math.log(0.11)) / (2 * Z_975))
    assert eb.standard_error(0.24, 0.08, 0.40, "SMD") == pytest.approx(0.32 / (2 * Z_975))


def test_the_95_percent_quantile_is_the_normal_quantile_and_ratio_measures_have_one_owner() -> None:
    from scipy import special

    from evidencebook import _vocabulary

    assert eb.Z95 == special.ndtri(0.975) and eb.Z95 == pytest.approx(Z_975, rel=1e-15)
    # the coded ratio measures are the coded measures on the log scale; no other list of ratio measures exists
    assert set(_vocabulary.RATIO_MEASURES) == set(_vocabulary.MEASURES) & eb.LOG_SCALE_MEASURES == {"RR", "OR", "HR"}
    assert [eb.no_effect(m) for m in ("RR", "OR", "HR", "SMD", "Hedges g", "MD", "RD")] == [1, 1, 1, 0, 0, 0, 0]
    assert list(eb.no_effects(pd.Series(["HR", "MD"]))) == [1.0, 0.0]


def test_an_absurd_archived_ci_gives_a_non_finite_standard_error_not_a_crash() -> None:
    # an archive is history: a version coded before today's checks may hold a ratio CI below zero
    assert not math.isfinite(eb.standard_error(0.5, -1e308, 1.0, "RR"))
    meta_checked = pytest.raises(ValueError, match="> 0")  # the engine's checked form refuses the same CI
    with meta_checked:
        eb.effect_from_ci([0.5], [-1e308], [1.0], "RR")


def test_direction_counts_group_the_reported_wording() -> None:
    counts = eb.direction_counts(pd.DataFrame({"direction": ["favours peer (modest)", "favours peer",
                                                             "no difference (equivalence)", "n/a"]}))
    assert counts.to_dict() == {"favours peer": 2, "no difference": 1, "not stated / descriptive": 1}


def test_forest_plot_has_title_axis_labels_and_one_row_per_estimate() -> None:
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    effects = eb.effect_rows(eb.domain_findings(evidence.outcomes, ["recovery", "hope"]), evidence.studies, "standardised")
    fig = forest_plot(effects, "standardised", "Recovery and hope")
    ax = fig.axes[0]
    assert fig.get_suptitle() == "Recovery and hope"
    assert ax.get_xlabel().startswith("SMD / Hedges g") and ax.get_ylabel()
    assert len(ax.get_yticklabels()) == len(effects) == 13


def test_forest_figure_alt_text_carries_every_estimate() -> None:
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    html = eb.forest_figure(evidence, ["hope"], "standardised", "Hope")
    # one plot per comparison type: Fuhr 2014's peers added to care apart from the rest
    assert 'alt="Forest plot: Hope: peer support added to usual care. 1 estimates' in html
    assert 'alt="Forest plot: Hope: peer support mixed or not stated. 3 estimates' in html
    assert "SMD 0.24 (0.02 to 0.46)" in html and "<figcaption>" in html


def test_gap_map_counts_sources_per_domain_and_population() -> None:
    from evidencebook._vocabulary import DOMAINS, POPULATION_GROUPS
    from evidencebook._plots import gap_map_alt_text, gap_map_plot
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    cells = eb.gap_map_counts(evidence.outcomes, evidence.studies, list(DOMAINS), list(POPULATION_GROUPS))
    recovery_smi = cells[(cells["domain"] == "recovery") & (cells["population_group"] == "SMI")].iloc[0]
    assert (recovery_smi["sources"], recovery_smi["findings"], recovery_smi["share_favouring"]) == (5, 5, 0.8)
    assert cells["findings"].sum() == len(evidence.outcomes)
    fig = gap_map_plot(cells, list(DOMAINS), list(POPULATION_GROUPS), "Gap map")
    assert fig.axes[0].get_xlabel() == "Population group" and fig.axes[0].get_ylabel() == "Outcome domain"
    assert "recovery, SMI: 5 sources, 5 findings, 80% favouring" in gap_map_alt_text(cells, "Gap map")


def test_prisma_counts_follow_the_screening_tags() -> None:
    studies = pd.DataFrame({"study_id": list("ABCDEFG"), "screening": [
        "FT:include", "FT:include", "FT:exclude", "FT:exclude", "TA:exclude", "TA:include", "unscreened"],
        "exclusion_reason": ["", "", "wrong population", "", "", "", ""]})
    counts = eb.prisma_counts(studies)
    assert counts == {"identified": 7, "unscreened": 1, "screened": 6, "excluded_title_abstract": 1,
                      "awaiting_full_text": 1, "assessed_full_text": 4,
                      "excluded_full_text": {"wrong population": 1, "reason not given": 1},
                      "undecided_full_text": 0, "included": 2, "conflicts_title_abstract": 0,
                      "conflicts_full_text": 0}
    assert eb.prisma_counts(studies, new_ids={"A", "E"})["identified"] == 2


def test_prisma_counts_hold_conflicts_awaiting_resolution_at_their_stage() -> None:
    studies = pd.DataFrame({"study_id": list("ABCDE"), "screening": [
        "TA:conflict", "TA:include", "FT:conflict", "FT:include", "FT:exclude"],
        "exclusion_reason": ["", "", "", "", "wrong design"]})
    counts = eb.prisma_counts(studies)
    assert (counts["conflicts_title_abstract"], counts["awaiting_full_text"], counts["excluded_title_abstract"]) == (1, 1, 0)
    assert (counts["conflicts_full_text"], counts["assessed_full_text"], counts["included"]) == (1, 3, 1)
    assert counts["excluded_full_text"] == {"wrong design": 1} and counts["undecided_full_text"] == 0
    from evidencebook._plots import prisma_alt_text, prisma_plot
    alt = prisma_alt_text(counts, "Flow")
    assert "1 awaiting resolution of a reviewers' conflict at title and abstract" in alt
    assert "1 awaiting resolution of a reviewers' conflict at full text" in alt
    drawn = [t.get_text() for t in prisma_plot(counts, "Flow").axes[0].texts]
    assert sum("Conflicts awaiting resolution (n = 1)" in t for t in drawn) == 2


def _double_screened(table: list[tuple[str, str, int]], stage: str = "TA") -> pd.DataFrame:
    """A studies table whose items AB and CD screened at ``stage``: ``n`` items for each (AB's, CD's) decision pair."""
    votes = [f"{stage}:{ab}@AB|{stage}:{cd}@CD" for ab, cd, n in table for _ in range(n)]
    return pd.DataFrame({"study_id": [f"S{i}" for i in range(len(votes))], "screening_votes": votes})


def test_cohens_kappa_on_a_hand_computed_two_by_two_table() -> None:
    # 50 items:            CD include  CD exclude
    #     AB include           20           5        (AB includes 25)
    #     AB exclude           10          15        (AB excludes 25)
    #                   (CD includes 30, excludes 20)
    # p_o = (20 + 15) / 50 = 0.70;  p_e = (25/50)(30/50) + (25/50)(20/50) = 0.30 + 0.20 = 0.50
    # kappa = (0.70 - 0.50) / (1 - 0.50) = 0.40   (the worked example of Cohen's kappa in most textbooks)
    studies = _double_screened([("include", "include", 20), ("include", "exclude", 5),
                                ("exclude", "include", 10), ("exclude", "exclude", 15)])
    table = eb.screening_agreement(studies).set_index("stage")
    assert table.loc["title/abstract", "double_screened"] == 50 and table.loc["title/abstract", "agreed"] == 35
    assert table.loc["title/abstract", "percent_agreement"] == pytest.approx(70.0)
    assert table.loc["title/abstract", "kappa"] == pytest.approx(0.40)
    assert table.loc["full text", "double_screened"] == 0 and math.isnan(table.loc["full text", "kappa"])


def test_kappa_is_one_for_perfect_agreement_zero_at_chance_and_undefined_without_variation() -> None:
    assert eb.cohen_kappa([("include", "include"), ("exclude", "exclude")]) == pytest.approx(1.0)
    # Each reviewer includes half, independently of the other: agreement 50% is exactly chance.
    chance = [("include", "include"), ("include", "exclude"), ("exclude", "include"), ("exclude", "exclude")]
    assert eb.cohen_kappa(chance) == pytest.approx(0.0)
    assert math.isnan(eb.cohen_kappa([("include", "include")] * 3))  # p_e = 1: kappa is not defined
    assert math.isnan(eb.cohen_kappa([]))
    # Three categories: 4 items, 3 agree (p_o = 0.75); AB gave include 2, exclude 1, maybe 1, CD include 1,
    # exclude 1, maybe 2: p_e = (2*1 + 1*1 + 1*2) / 16 = 5/16; kappa = (12/16 - 5/16) / (11/16) = 7/11
    three = [("include", "include"), ("exclude", "exclude"), ("maybe", "maybe"), ("include", "maybe")]
    assert eb.cohen_kappa(three) == pytest.approx(7 / 11)


def test_only_two_named_reviewers_with_one_decision_each_count_as_double_screened() -> None:
    studies = pd.DataFrame({"study_id": list("ABCDEF"), "screening_votes": [
        "TA:include@AB|TA:exclude@CD|TA:resolved:include@EF",  # counts: the resolution is not a vote
        "TA:include|TA:include@CD",                            # one named reviewer only
        "TA:include@AB|TA:include@CD|TA:include@EF",           # three reviewers
        "TA:include@AB|TA:exclude@AB|TA:include@CD",           # AB gave two decisions
        "FT:include@consensus|FT:include@AB",                  # a consensus is not a reviewer
        "TA:include|FT:include"]})                             # one reviewer, tags without initials
    assert eb.screening_pairs(studies["screening_votes"][0], "TA") == ("include", "exclude")
    table = eb.screening_agreement(studies).set_index("stage")
    assert table["double_screened"].to_dict() == {"title/abstract": 1, "full text": 0}


def test_the_evidence_map_and_data_quality_show_agreement_and_conflicts() -> None:
    from evidencebook._book_quality import screening_agreement_html, screening_conflicts

    studies = _double_screened([("include", "include", 3), ("exclude", "exclude", 1), ("include", "exclude", 1)], "FT")
    html = screening_agreement_html(studies)
    assert "<td>full text</td><td>5</td><td>4</td><td>80%</td><td>0.55</td>" in html  # kappa = (5*4 - (4*3 + 1*2)) / (25 - 14) = 6/11
    assert "<td>title/abstract</td><td>0</td><td>0</td><td></td><td>no item double-screened</td>" in html
    single = pd.DataFrame({"study_id": ["A"], "screening_votes": ["TA:include|FT:include"]})
    assert "No item has been screened independently by two reviewers yet" in screening_agreement_html(single)
    conflicted = pd.DataFrame({"study_id": ["A", "B"], "citation_key": ["a2020", "b2021"], "title": ["T1", "T2"],
                               "screening": ["FT:conflict", "FT:include"],
                               "screening_votes": ["TA:include@AB|FT:include@AB|FT:exclude@CD", "FT:include"]})
    assert screening_conflicts(conflicted).to_dict("records") == [
        {"citation_key": "a2020", "title": "T1", "stage": "full text (FT)", "decisions": "AB include, CD exclude"}]


def test_the_bundled_evidence_has_no_double_screening_as_methods_says() -> None:
    # Methods states it in words; when the library gains double screening, this fails and Methods must be updated.
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    assert not eb.screening_agreement(evidence.studies)["double_screened"].any()
    assert evidence.studies["screening_votes"].str.fullmatch(r"(TA|FT):include(\|(TA|FT):include)*").all()
    methods = (ROOT / "book" / "methods.md").read_text(encoding="utf-8")
    assert "was screened by one reviewer per stage, so no item is double-screened" in " ".join(methods.split())


def _effects(**columns) -> pd.DataFrame:
    base = {"measure": ["SMD", "RR"], "estimate": [-0.3, 0.5], "ci_low": [-0.5, 0.25], "ci_high": [-0.1, 1.0],
            "better": ["lower", "lower"], "direction": ["favours peer", "no difference"]}
    return pd.DataFrame({**base, **columns})


def test_harmonise_negates_differences_and_inverts_ratios_when_lower_is_better() -> None:
    out = eb.harmonise(_effects())
    assert out.loc[0].tolist() == pytest.approx([0.3, 0.1, 0.5])
    assert out.loc[1].tolist() == pytest.approx([2.0, 1.0, 4.0])
    unclear = eb.harmonise(_effects(better=["unclear", "higher"]))
    assert unclear.loc[0].isna().all() and unclear.loc[1].tolist() == pytest.approx([0.5, 0.25, 1.0])


def test_finding_directions_count_an_estimate_on_its_side_significant_or_not() -> None:
    findings = pd.DataFrame({"measure": ["SMD", "RR", "OR", "narrative", "narrative", "narrative"],
                             "estimate": [-0.3, 1.4, 0.871, float("nan"), float("nan"), float("nan")],
                             "better": ["lower", "lower", "lower", "", "", ""],
                             "direction": ["", "", "no difference (not significant)", "favours peer", "no difference",
                                           "favours control"]})
    assert eb.finding_directions(findings).tolist() == [
        "favours peer support", "favours the comparison", "favours peer support", "favours peer support",
        "direction unclear", "favours the comparison"]


def test_pooled_groups_pool_primary_studies_with_a_shared_synthesis_group() -> None:
    # Synthetic: three primary RCTs of readmission (RR) in one synthesis group, one review-level row.
    effects = pd.DataFrame({
        "finding_id": ["F1", "F2", "F3", "F4"],
        "measure": ["RR"] * 4, "evidence_level": ["primary", "primary", "primary", "review"],
        "synthesis_group": ["readmission-12m"] * 4, "better": ["lower"] * 4, "comparison_type": [""] * 4,
        "estimate": [0.7, 0.8, 0.6, 0.5], "ci_low": [0.5, 0.6, 0.4, 0.3], "ci_high": [0.98, 1.07, 0.9, 0.8]})
    effects = effects.join(eb.harmonise(effects))
    pooled = eb.pooled_groups(effects)
    assert len(pooled) == 1 and pooled.loc[0, "k"] == 3  # the review-level row is not pooled
    y = np.log(1 / effects["estimate"][:3])
    v = ((np.log(effects["ci_high"][:3]) - np.log(effects["ci_low"][:3])) / (2 * eb.Z95)) ** 2
    direct = eb.pool(y.to_numpy(), v.to_numpy(), method="REML", test="adhoc", pi_method="t(k-1)")
    assert pooled.loc[0, "estimate"] == pytest.approx(math.exp(direct.estimate))
    assert pooled.loc[0, "ci_low"] == pytest.approx(math.exp(direct.ci_low))
    assert pooled.loc[0, "estimate"] > 1  # harmonised: fewer readmissions favour peer support
    assert pooled.loc[0, "pi_low"] <= pooled.loc[0, "ci_low"]


def _synthetic_group(k: int) -> pd.DataFrame:
    """Synthetic primary studies of one outcome (RR, lower is better) for plot tests."""
    effects = pd.DataFrame({
        "label": [f"Study{i} {2010 + i}" for i in range(k)], "year": [str(2010 + i) for i in range(k)],
        "outcome": ["readmission"] * k, "study_type": ["primary"] * k, "risk_of_bias": ["low"] * k,
        "finding_id": [f"F{i}" for i in range(k)], "measure": ["RR"] * k, "evidence_level": ["primary"] * k,
        "synthesis_group": ["readmission"] * k, "better": ["lower"] * k, "comparison_type": [""] * k,
        "estimate": np.linspace(0.6, 0.95, k), "ci_low": np.linspace(0.4, 0.7, k), "ci_high": np.linspace(0.9, 1.3, k)})
    effects = effects.join(eb.harmonise(effects))
    effects["se"] = (np.log(effects["h_high"]) - np.log(effects["h_low"])) / (2 * eb.Z95)
    effects["significant"] = effects["ci_high"] < 1
    return effects


def test_cumulative_by_year_starts_with_one_study_and_ends_at_the_pooled_estimate() -> None:
    effects = _synthetic_group(6)
    moves = eb.cumulative_by_year(effects, "readmission")
    pooled = eb.pooled_groups(effects)
    assert moves["k"].tolist() == [1, 2, 3, 4, 5, 6]
    assert moves["estimate"].iloc[0] == pytest.approx(1 / 0.6)
    assert moves["estimate"].iloc[-1] == pytest.approx(pooled.loc[0, "estimate"], rel=1e-6)


def test_cumulative_by_year_past_the_limit_has_one_row_per_year_equal_to_the_per_study_fit_at_its_end() -> None:
    from evidencebook._meta import cumulative
    from evidencebook._synthesis import CUMULATIVE_STUDIES

    k = CUMULATIVE_STUDIES + 20
    effects = _synthetic_group(k)
    effects["year"] = [str(2000 + (i + 3) // 4) for i in range(k)]  # a first year of one study, then 4 a year
    effects["estimate"] = 0.6 + 0.3 * np.sin(np.arange(k))  # estimates that disagree: tau² > 0
    effects = effects.drop(columns=[c for c in eb.harmonise(effects).columns]).join(eb.harmonise(effects))
    moves = eb.cumulative_by_year(effects, "readmission")
    years = sorted(set(effects["year"]))
    assert len(moves) == len(years)  # one row per year, not per study
    assert moves["added"].tolist()[:2] == ["2000: 1 study", "2001: 4 studies"]
    y = np.log(effects["h_estimate"])
    per_study = cumulative(y, ((np.log(effects["h_high"]) - np.log(effects["h_low"])) / (2 * eb.Z95)) ** 2,
                           method="REML")
    ends = [max(i for i, year in enumerate(effects["year"]) if year == y_) for y_ in years]
    assert moves["k"].tolist() == [end + 1 for end in ends]
    assert moves["estimate"].to_numpy() == pytest.approx(np.exp(per_study["estimate"].to_numpy()[ends]), rel=1e-9)
    assert moves["ci_low"].to_numpy() == pytest.approx(np.exp(per_study["ci_low"].to_numpy()[ends]), rel=1e-9)
    assert moves["estimate"].iloc[-1] == pytest.approx(eb.pooled_groups(effects).loc[0, "estimate"], rel=1e-6)


def test_forest_with_pooled_diamond_and_funnel_from_ten_studies() -> None:
    from evidencebook._plots import forest_plot, funnel_plot
    effects = _synthetic_group(12)
    pooled = eb.pooled_groups(effects)
    fig = forest_plot(effects, "ratio", "Synthetic readmission", pooled)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 13 and labels[-1].startswith("Pooled: readmission")
    right = [t.get_text() for t in fig.axes[0].child_axes[0].get_yticklabels()]
    weights = [float(t.split("%")[0]) for t in right[:12]]
    assert sum(weights) == pytest.approx(100, abs=0.2) and right[0].endswith("· low")
    funnel = funnel_plot(effects, pooled.loc[0, "estimate"], "ratio", "Funnel")
    assert funnel.axes[0].get_ylabel() == "Standard error"
    with pytest.raises(ValueError, match="at least 10"):
        funnel_plot(effects.head(5), 1.2, "ratio", "too few")


def _version(rows: list[tuple[str, float, float, float, str]]) -> pd.DataFrame:
    """The outcome status of a synthetic evidence version: (study, RR, CI low, CI high, design) readmission findings."""
    ids = [r[0] for r in rows]
    studies = pd.DataFrame({"study_id": ids, "authors": [f"Author{i}" for i in ids], "year": ["2020"] * len(rows),
                            "title": ["T"] * len(rows), "screening": ["FT:include"] * len(rows),
                            "study_type": ["primary"] * len(rows), "risk_of_bias": ["low"] * len(rows),
                            "design_type": [r[4] for r in rows], "report_of": ids})
    outcomes = pd.DataFrame({"finding_id": [f"F{i}" for i in ids], "study_id": ids, "domain": ["hospitalisation"] * len(rows),
                             "measure": ["RR"] * len(rows), "estimate": [r[1] for r in rows],
                             "ci_low": [r[2] for r in rows], "ci_high": [r[3] for r in rows],
                             "better": ["lower"] * len(rows), "evidence_level": ["primary"] * len(rows),
                             "synthesis_group": ["readmission-12m"] * len(rows), "direction": [""] * len(rows),
                             "n_participants": [200] * len(rows)})
    return eb.outcome_status(outcomes, studies)


def test_version_changes_flag_what_cochrane_treats_as_a_new_citable_version() -> None:
    trials = [("A", 0.5, 0.4, 0.62, "RCT"), ("B", 0.6, 0.5, 0.72, "RCT"), ("C", 0.55, 0.45, 0.67, "RCT")]
    v1 = _version(trials)
    pooled = v1[v1["kind"] == "pooled"].iloc[0]
    assert (pooled["k"], pooled["direction"], pooled["ci_crosses_null"]) == (3, "favours peer support", False)
    # two discordant studies arrive: the pooled CI now includes no effect and certainty drops a level
    v2 = _version([*trials, ("D", 1.9, 1.6, 2.3, "RCT"), ("E", 1.7, 1.4, 2.1, "cohort")])
    changes = eb.version_changes(v1, v2).set_index("outcome")
    row = changes.loc["readmission-12m (mixed or not stated, RR)"]
    assert row["change"] == "changed" and (row["k_old"], row["k_new"]) == (3, 5)
    assert row["triggers"] == "CI now includes no effect; certainty changed: high → low"
    assert "tau² 0 → 0.418" in row["notes"] and row["pi_high_new"] > row["ci_high_new"]
    # nothing moved: nothing flagged; a version that drops the outcome says so
    same = eb.version_changes(v2, v2)
    assert set(same["change"]) == {"unchanged"} and (same["triggers"] == "").all()
    assert set(eb.version_changes(v2, v2.iloc[:0])["change"]) == {"removed"}


def test_a_change_of_direction_is_a_trigger() -> None:
    v1 = _version([("A", 0.5, 0.4, 0.62, "RCT"), ("B", 0.6, 0.5, 0.72, "RCT")])
    v2 = _version([("A", 2.0, 1.6, 2.5, "RCT"), ("B", 1.8, 1.5, 2.2, "RCT")])
    row = eb.version_changes(v1, v2).set_index("outcome").loc["readmission-12m (mixed or not stated, RR)"]
    assert "direction changed: favours peer support → favours the comparison" in row["triggers"]


def test_a_forest_of_many_estimates_shows_the_newest_and_tables_the_pooled() -> None:
    # Synthetic: 50 primary readmission studies in one synthesis group.
    k = 50
    ids = [f"S{i:03d}" for i in range(k)]
    studies = pd.DataFrame({"study_id": ids, "authors": [f"Author{i}" for i in range(k)], "title": ["T"] * k,
                            "year": [str(1990 + i % 35) for i in range(k)], "study_type": ["primary"] * k,
                            "risk_of_bias": ["low"] * k, "screening": ["FT:include"] * k, "report_of": ids,
                            "citation_key": [i.lower() for i in ids]})
    outcomes = pd.DataFrame({"finding_id": [f"F{i}" for i in ids], "study_id": ids, "outcome": ["readmission"] * k,
                             "domain": ["hospitalisation"] * k, "measure": ["RR"] * k, "better": ["lower"] * k,
                             "evidence_level": ["primary"] * k, "synthesis_group": ["readmission"] * k,
                             "estimate": np.linspace(0.6, 0.95, k), "ci_low": np.linspace(0.4, 0.7, k),
                             "ci_high": np.linspace(0.9, 1.3, k)})
    evidence = eb.Evidence(studies, outcomes, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {})
    html = eb.forest_figure(evidence, ["hospitalisation"], "ratio", "Readmission")
    assert f"shows the {eb.FOREST_ROWS} newest of 50 estimates" in html
    assert html.count("Author") >= eb.FOREST_ROWS and "Random-effects pooled estimates" in html
    assert "<td>readmission</td><td>mixed or not stated</td><td>RR</td><td>50</td>" in html


def test_the_sign_test_is_scipys_binomtest() -> None:
    from scipy.stats import binomtest

    from evidencebook._synthesis import _sign_test

    for total in range(1, 61):
        for benefit in range(total + 1):
            test = binomtest(benefit, total, 0.5)
            ci = test.proportion_ci(confidence_level=0.95, method="wilson")
            assert _sign_test(benefit, total) == pytest.approx((test.pvalue, ci.low, ci.high), rel=1e-12, abs=1e-15)


def test_the_distribution_functions_of_pooling_are_scipy_stats() -> None:
    from scipy import stats

    from evidencebook._meta import distributions

    x, q, df = np.array([0.0, 0.3, 1.96, 4.5]), np.array([0.001, 0.025, 0.05, 0.5]), np.array([1.0, 3.0, 9.0, 40.0])
    np.testing.assert_allclose(distributions.norm.sf(x), stats.norm.sf(x), rtol=1e-13)
    np.testing.assert_allclose(distributions.norm.isf(q), stats.norm.isf(q), rtol=1e-13)
    np.testing.assert_allclose(distributions.t.sf(x, df), stats.t.sf(x, df), rtol=1e-13)
    np.testing.assert_allclose(distributions.t.isf(q, df), stats.t.isf(q, df), rtol=1e-13)
    np.testing.assert_allclose(distributions.chi2.sf(x + 0.1, df), stats.chi2.sf(x + 0.1, df), rtol=1e-13)
    np.testing.assert_allclose(distributions.chi2.isf(q, df), stats.chi2.isf(q, df), rtol=1e-13)
    np.testing.assert_allclose(distributions.chi2.ppf(q, df), stats.chi2.ppf(q, df), rtol=1e-13)
    np.testing.assert_allclose(distributions.f.sf(x + 0.1, df, df + 2), stats.f.sf(x + 0.1, df, df + 2), rtol=1e-13)


def test_a_conflict_synced_from_zotero_is_reported_left_out_counted_and_listed(project: eb.Settings) -> None:
    from conftest import GOOD_NOTE, note, parent

    snapshot = eb.read_snapshot(project.snapshot)
    items = [*snapshot.items, parent("AAAAAAAA", tags=("screen:TA:include@AB", "screen:TA:include@CD",
                                                       "screen:FT:include@AB", "screen:FT:exclude:wrong design@CD")),
             note("NNNNNNNN", "AAAAAAAA", GOOD_NOTE)]
    report = eb.build_evidence(project, eb.Snapshot(snapshot.library, items))
    assert [p for p in report.problems if p.item_key == "AAAAAAAA" and "screening conflict" in p.message]
    evidence = eb.load_evidence(project)
    assert eb.validate_tables({"studies.csv": evidence.studies, "outcomes.csv": evidence.outcomes,
                               "state_policy.csv": evidence.policy, "regions.csv": evidence.regions}).empty
    row = evidence.studies.set_index("study_id").loc["AAAAAAAA"]
    assert (row["screening"], row["screening_votes"]) == (
        "FT:conflict", "TA:include@AB|TA:include@CD|FT:include@AB|FT:exclude@CD")
    assert "AAAAAAAA" not in set(evidence.included["study_id"])
    assert "T1" not in set(eb.included_findings(evidence.outcomes, evidence.studies)["finding_id"])
    assert eb.prisma_counts(evidence.studies)["conflicts_full_text"] == 1
    agreement = eb.screening_agreement(evidence.studies).set_index("stage")
    assert agreement.loc["title/abstract", ["double_screened", "agreed"]].tolist() == [1, 1]
    assert agreement.loc["full text", ["double_screened", "agreed"]].tolist() == [1, 0]
    page = str(eb.data_quality(evidence))
    assert "<h3>Screening conflicts</h3>" in page and "AB include, CD exclude" in page
    assert "screening conflict at full text (FT)" in page  # the warning, in the coding problems


# --- risk of bias: robvis's traffic-light and summary plots, the page, the forest plot's column --------------------

def _judgements(rows: dict[str, list[str]], weights: dict[str, float] | None = None) -> pd.DataFrame:
    """Judgements per assessment label, D1... then the overall, as risk_of_bias_assessments gives them."""
    records = [{"label": label, "domain_id": ("overall" if i == len(levels) - 1 else f"D{i + 1}"),
                "judgement": level, "weight": (weights or {}).get(label, float("nan"))}
               for label, levels in rows.items() for i, level in enumerate(levels)]
    return pd.DataFrame(records)


ROB2_ROWS = {"Alpha 2019": ["low", "low", "some concerns", "low", "low", "some concerns"],
             "Beta 2020": ["low", "high", "low", "low", "low", "high"],
             "Gamma 2021, finding G1": ["low", "low", "low", "low", "low", "low"]}


def test_the_traffic_light_plot_has_a_row_per_assessment_a_column_per_domain_and_alt_text_for_each() -> None:
    from evidencebook._plots import traffic_light_alt_text, traffic_light_plot

    judged = _judgements(ROB2_ROWS)
    fig = traffic_light_plot(judged, eb.ROB_DOMAINS["RoB 2"], eb.ROB_JUDGEMENTS["RoB 2"], "RoB 2 trials")
    ax = fig.axes[0]
    assert fig.get_suptitle() == "RoB 2 trials" and ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["D1", "D2", "D3", "D4", "D5", "Overall"]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(ROB2_ROWS)  # one row per study, in order
    symbols = sorted(t.get_text() for t in ax.texts)  # each judgement drawn with its symbol, not colour alone
    assert symbols.count("+") == 14 and symbols.count("\u2212") == 2 and symbols.count("\u00d7") == 2
    key = " ".join(t.get_text() for t in fig.texts)
    assert "D1 randomisation process" in key and "\u2212 some concerns" in key
    alt = traffic_light_alt_text(judged, "RoB 2", "RoB 2 trials")
    assert alt.startswith("Traffic-light plot: RoB 2 trials. RoB 2 judgements of 3 assessments")
    assert ("Beta 2020: D1 low, D2 high, D3 low, D4 low, D5 low, overall high." in alt
            and "Gamma 2021, finding G1: D1 low" in alt)
    plt_close(fig)


def test_the_summary_plot_gives_each_judgements_share_unweighted_and_weighted_by_participants() -> None:
    from evidencebook._plots import _shares, rob_summary_alt_text, rob_summary_plot

    domains, levels = eb.ROB_DOMAINS["RoB 2"], eb.ROB_JUDGEMENTS["RoB 2"]
    judged = _judgements(ROB2_ROWS, {"Alpha 2019": 300.0, "Beta 2020": 100.0})  # Gamma's size is not coded
    columns = ["D1", "D2", "D3", "D4", "D5", "overall"]
    plain, weighted = _shares(judged, columns, levels, False), _shares(judged, columns, levels, True)
    assert plain.loc["overall"].round(1).to_dict() == {"low": 33.3, "some concerns": 33.3, "high": 33.3}
    assert weighted.loc["overall"].to_dict() == {"low": 0.0, "some concerns": 75.0, "high": 25.0}
    assert weighted.loc["D2"].to_dict() == {"low": 75.0, "some concerns": 0.0, "high": 25.0}
    fig = rob_summary_plot(judged, domains, levels, "RoB 2 summary")
    unweighted_ax, weighted_ax = fig.axes
    assert fig.get_suptitle() == "RoB 2 summary"
    assert unweighted_ax.get_title(loc="left").startswith("Unweighted")
    assert "2 with a known size" in weighted_ax.get_title(loc="left")
    assert unweighted_ax.get_xlabel() == "Share of judgements (%)" and unweighted_ax.get_ylabel() == "Domain"
    assert len(unweighted_ax.get_yticklabels()) == 6  # five domains and the overall
    drawn = [t.get_text() for t in weighted_ax.texts]  # share and symbol on the bar: not colour only
    assert "\u2212 75%" in drawn and "\u00d7 25%" in drawn
    plt_close(fig)
    alt = rob_summary_alt_text(judged, domains, levels, "RoB 2", "RoB 2 summary")
    assert "over 3 assessments; and weighted by participants, over the 2 with a known size" in alt
    assert "Overall: low 33%, some concerns 33%, high 33%; weighted: some concerns 75%, high 25%." in alt
    unweighted_only = rob_summary_plot(_judgements(ROB2_ROWS), domains, levels, "no sizes")
    assert len(unweighted_only.axes) == 1  # no size known: no weighted panel, and the alt text says so
    plt_close(unweighted_only)
    assert "no weighted plot" in rob_summary_alt_text(_judgements(ROB2_ROWS), domains, levels, "RoB 2", "t")


def plt_close(fig) -> None:
    import matplotlib.pyplot as plt
    plt.close(fig)


def _assessed_evidence(tmp_path) -> eb.Evidence:
    from conftest import GOOD_NOTE, note, parent

    (tmp_path / "pyproject.toml").write_text("[tool.evidencebook]\nlibrary_id = 0\n", encoding="utf-8")
    settings = eb.load_settings(tmp_path)
    rob2 = ["# Risk of bias", "tool: RoB 2", "D1: low", "D2: some concerns (open label)", "D3: low", "D4: low",
            "D5: low"]
    robins = ["# Risk of bias", "tool: ROBINS-I", "confounding: serious (no adjustment for severity)",
              *[f"D{n}: low" for n in range(2, 8)]]
    items = []
    for key, name, lines in (("AAAAAAAA", "Alpha", rob2), ("BBBBBBBB", "Beta", robins), ("CCCCCCCC", "Gamma", [])):
        finding = [*GOOD_NOTE[:6], f"# Outcome {key[:2]}", *GOOD_NOTE[7:], "n_participants: 120"]
        items += [parent(key, creators=[{"creatorType": "author", "lastName": name}]),
                  note(f"NNNNNNN{key[0]}", key, [*finding, *lines])]
    eb.build_evidence(settings, eb.Snapshot({"version": 1}, items))
    return eb.load_evidence(settings)


def test_the_risk_of_bias_page_draws_each_tool_and_tables_every_judgement(tmp_path) -> None:
    evidence = _assessed_evidence(tmp_path)
    figures = eb.risk_of_bias_figures(evidence)
    assert figures.count("<figure") == 4  # a traffic-light and a summary plot per tool
    assert 'alt="Traffic-light plot: RoB 2: 1 assessment of randomised trials.' in figures
    assert "Alpha 2020: D1 low, D2 some concerns, D3 low, D4 low, D5 low, overall some concerns." in figures
    assert "Beta 2020: D1 serious, D2 low" in figures and "over the 1 with a known size" in figures
    tables = eb.risk_of_bias_tables(evidence)
    assert "<td>\u2212 some concerns</td><td>open label</td>" in tables
    assert "no adjustment for severity" in tables and "derived from the domains: worst D1" in tables
    assert 'href="studies.html#study-alpha2020synthetic"' in tables
    assert "1 of 3 included primary studies have no risk-of-bias judgement: Gamma 2020." in tables


def test_the_risk_of_bias_page_says_so_when_nothing_is_assessed() -> None:
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    assert "No included study has been assessed domain by domain yet" in eb.risk_of_bias_figures(evidence)
    tables = eb.risk_of_bias_tables(evidence)
    assert "No judgement is recorded domain by domain" in tables
    assert "Overall judgements recorded without their domains" in tables  # the reviews' own statements
    assert "21 of 21 included primary studies have no risk-of-bias judgement" in tables


def test_the_forest_plots_risk_of_bias_column_shows_the_whole_overall_judgement(tmp_path) -> None:
    evidence = _assessed_evidence(tmp_path)
    effects = eb.effect_rows(evidence.outcomes, evidence.studies, "ratio")
    fig = forest_plot(effects, "ratio", "Readmission")
    (right,) = fig.axes[0].child_axes  # the secondary (right-hand) axis
    column = sorted(t.get_text() for t in right.get_yticklabels())
    assert column == ["?", "serious", "some concerns"]  # not 'some conce', and '?' where not assessed
    plt_close(fig)


# dat.bcg (Colditz et al. 1994, as metafor ships it): log RR and its variance per trial, to the 4 decimals the
# reference prints (shared/notes/meta-analysis-reference.md); metafor's REML fit gives tau² = 0.3132.
BCG_YI = [-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694, -1.3713, -0.3394,
          0.4459, -0.0173]
BCG_VI = [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730, 0.0124, 0.5325, 0.0714]
BCG_TAU2 = 0.3132


def _bcg_effects() -> pd.DataFrame:
    """The 13 BCG trials as effect rows of one synthesis group (RR, higher is better: nothing is flipped)."""
    y, se = np.array(BCG_YI), np.sqrt(BCG_VI)
    effects = pd.DataFrame({
        "finding_id": [f"BCG{i}" for i in range(1, 14)], "label": [f"Trial {i}" for i in range(1, 14)],
        "outcome": ["tuberculosis"] * 13, "study_type": ["primary"] * 13, "risk_of_bias": ["low"] * 13,
        "measure": ["RR"] * 13, "evidence_level": ["primary"] * 13, "synthesis_group": ["bcg"] * 13,
        "better": ["higher"] * 13, "comparison_type": [""] * 13, "estimate": np.exp(y),
        "ci_low": np.exp(y - eb.Z95 * se), "ci_high": np.exp(y + eb.Z95 * se)})
    effects = effects.join(eb.harmonise(effects))
    effects["significant"] = (effects["ci_low"] > 1) | (effects["ci_high"] < 1)
    return effects


def _drawn_weights(fig: Any) -> list[str]:
    """The weight column of a forest plot, as drawn: the text before '%' of each study row's right-hand label."""
    right = [t.get_text() for t in fig.axes[0].child_axes[0].get_yticklabels()]
    return [label.split("%")[0] for label in right if "·" in label]


def test_pooled_groups_carry_metafors_weights_and_the_forest_plot_draws_exactly_those() -> None:
    effects = _bcg_effects()
    pooled = eb.pooled_groups(effects)
    assert pooled.loc[0, "tau2"] == pytest.approx(BCG_TAU2, abs=5e-4)
    # metafor's weights(rma(yi, vi)): 1 / (vi + tau²), as a share of their sum, by hand from the reference.
    by_hand = 1 / (np.array(BCG_VI) + BCG_TAU2)
    expected = dict(zip(effects["finding_id"], 100 * by_hand / by_hand.sum()))
    weights = pooled.loc[0, "weights"]
    assert weights.keys() == expected.keys()
    assert [weights[k] for k in expected] == pytest.approx(list(expected.values()), abs=0.01)
    assert expected["BCG1"] == pytest.approx(5.06, abs=0.005) and expected["BCG8"] == pytest.approx(10.19, abs=0.005)
    fig = forest_plot(effects, "ratio", "BCG", pooled)
    assert _drawn_weights(fig) == [f"{weights[k]:.0f}" for k in effects["finding_id"]]
    # The plot draws the pool's weights, not its own: other weights handed in are the weights drawn.
    other = pooled.assign(weights=[{k: 100 / 13 if k != "BCG1" else 40.0 for k in expected}])
    assert _drawn_weights(forest_plot(effects, "ratio", "BCG", other)) == ["40"] + ["8"] * 12
