"""Standard errors from CIs, direction counts, and forest plots with alt text from the numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from conftest import ROOT

import evidencebook as eb
from evidencebook._plots import forest_plot


def test_standard_error_from_a_ratio_ci_is_on_the_log_scale() -> None:
    # Chien 2019: RR 0.44 (0.11 to 1.75)
    assert eb.standard_error(0.44, 0.11, 1.75, "RR") == pytest.approx((math.log(1.75) - math.log(0.11)) / 3.919927969)
    assert eb.standard_error(0.24, 0.08, 0.40, "SMD") == pytest.approx(0.32 / 3.919927969)


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
    assert len(ax.get_yticklabels()) == len(effects) == 12


def test_forest_figure_alt_text_carries_every_estimate() -> None:
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    html = eb.forest_figure(evidence, ["hope"], "standardised", "Hope")
    assert 'alt="Forest plot: Hope. 4 estimates' in html
    assert "SMD 0.24 (0.02 to 0.46)" in html and "<figcaption>" in html


def test_gap_map_counts_sources_per_domain_and_population() -> None:
    from evidencebook._coding import DOMAINS, POPULATION_GROUPS
    from evidencebook._plots import gap_map_alt_text, gap_map_plot
    evidence = eb.load_evidence(eb.load_settings(ROOT))
    cells = eb.gap_map_counts(evidence.outcomes, evidence.studies, list(DOMAINS), list(POPULATION_GROUPS))
    recovery_smi = cells[(cells["domain"] == "recovery") & (cells["population_group"] == "SMI")].iloc[0]
    assert (recovery_smi["sources"], recovery_smi["findings"], recovery_smi["share_favouring"]) == (5, 5, 1.0)
    assert cells["findings"].sum() == len(evidence.outcomes)
    fig = gap_map_plot(cells, list(DOMAINS), list(POPULATION_GROUPS), "Gap map")
    assert fig.axes[0].get_xlabel() == "Population group" and fig.axes[0].get_ylabel() == "Outcome domain"
    assert "recovery, SMI: 5 sources, 5 findings, 100% favouring" in gap_map_alt_text(cells, "Gap map")


def test_prisma_counts_follow_the_screening_tags() -> None:
    studies = pd.DataFrame({"study_id": list("ABCDEFG"), "screening": [
        "FT:include", "FT:include", "FT:exclude", "FT:exclude", "TA:exclude", "TA:include", "unscreened"],
        "exclusion_reason": ["", "", "wrong population", "", "", "", ""]})
    counts = eb.prisma_counts(studies)
    assert counts == {"identified": 7, "unscreened": 1, "screened": 6, "excluded_title_abstract": 1,
                      "awaiting_full_text": 1, "assessed_full_text": 4,
                      "excluded_full_text": {"wrong population": 1, "reason not given": 1},
                      "undecided_full_text": 0, "included": 2}
    assert eb.prisma_counts(studies, new_ids={"A", "E"})["identified"] == 2
