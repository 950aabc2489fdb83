"""Honest synthesis on small synthetic fixtures: every finding counted, one vote per study, no test across
reviews, overlap (CCA), the certainty chain, comparisons kept apart, and signed judgements that go stale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evidencebook as eb
from evidencebook._certainty import certainty_chain, judgement_status, load_judgements, question_fingerprint


def _studies(rows: list[dict]) -> pd.DataFrame:
    base = {"authors": "", "title": "T", "year": "2020", "screening": "FT:include", "study_type": "primary",
            "design": "", "design_type": "RCT", "risk_of_bias": "not assessed", "review_quality": "",
            "citation_key": "", "includes": "", "report_of": ""}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["report_of"] = frame["report_of"].where(frame["report_of"].ne(""), frame["study_id"])
    frame["citation_key"] = frame["citation_key"].where(frame["citation_key"].ne(""), frame["study_id"].str.lower())
    frame["authors"] = frame["authors"].where(frame["authors"].ne(""), "Author " + frame["study_id"])
    return frame


def _findings(rows: list[dict]) -> pd.DataFrame:
    base = {"domain": "hospitalisation", "measure": "narrative", "estimate": np.nan, "ci_low": np.nan,
            "ci_high": np.nan, "better": "lower", "direction": "", "evidence_level": "primary",
            "comparison_type": "", "review_certainty": "", "n_participants": pd.NA, "synthesis_group": "",
            "outcome": "readmission", "reported_statistic": "", "secondary": False, "quote": "q", "source_url": ""}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["finding_id"] = [f"F{i}" for i in range(len(frame))]
    return frame


def test_nulls_and_unclear_findings_are_counted_not_dropped() -> None:
    studies = _studies([{"study_id": k} for k in "ABCD"])
    findings = _findings([{"study_id": "A", "direction": "favours peer"},
                          {"study_id": "B", "direction": "no difference"},  # no estimate: unclear, but counted
                          {"study_id": "C", "measure": "OR", "estimate": 0.871, "ci_low": 0.6, "ci_high": 1.2,
                           "direction": "no difference (not significant)"},  # counts on its estimate's side
                          {"study_id": "D", "direction": "n/a (descriptive)"}])
    sof = eb.summary_of_findings(findings, studies, ["hospitalisation"]).iloc[0]
    assert (sof["findings"], sof["favour_peer"], sof["favour_comparison"], sof["unclear"]) == (4, 2, 0, 2)
    assert (sof["studies"], sof["study_votes_peer"], sof["study_votes_unclear"]) == (4, 2, 2)


def test_a_summary_is_worked_out_once_per_content_and_again_when_a_finding_changes() -> None:
    studies = _studies([{"study_id": k} for k in "AB"])
    findings = _findings([{"study_id": "A", "direction": "favours peer"}, {"study_id": "B", "direction": "favours peer"}])
    first = eb.summary_of_findings(findings, studies, ["hospitalisation"])
    first.loc[0, "findings"] = -1  # a caller's copy: what the next caller gets is not changed by it
    assert eb.summary_of_findings(findings.copy(), studies.copy(), ["hospitalisation"]).loc[0, "findings"] == 2
    findings.loc[1, "direction"] = "favours comparison"  # the same frame, changed in place: worked out again
    again = eb.summary_of_findings(findings, studies, ["hospitalisation"]).iloc[0]
    assert (again["favour_peer"], again["favour_comparison"]) == (1, 1)


def test_each_question_is_kept_by_its_content_and_only_a_changed_one_is_synthesised_again(tmp_path) -> None:
    # Processes share what they synthesised (pages, briefs and the feed run side by side): a question whose
    # findings and studies did not change is read back (an altered kept row shows it), a changed one is redone.
    import json as json_

    from evidencebook import _certainty, _cache

    studies = _studies([{"study_id": k} for k in "ABC"])
    findings = _findings([{"study_id": "A", "direction": "favours peer"},
                          {"study_id": "B", "domain": "symptoms", "direction": "favours peer"}])
    _cache.keep_content_in(tmp_path)
    try:
        _certainty._work_out_summary(findings, studies, ["hospitalisation", "symptoms"])
        kept = {json_.loads(p.read_text())["domain"]: p for p in tmp_path.glob("question-*.cache")}
        assert sorted(kept) == ["hospitalisation", "symptoms"]
        for path in kept.values():
            path.write_text(path.read_text().replace('"findings": 1', '"findings": 99'))
        findings.loc[1, "direction"] = "favours comparison"  # the symptoms question changes, the other does not
        again = _certainty._work_out_summary(findings, studies, ["hospitalisation", "symptoms"]).set_index("domain")
        assert again.loc["hospitalisation", "findings"] == 99  # read back
        assert again.loc["symptoms", "findings"] == 1 and again.loc["symptoms", "favour_comparison"] == 1  # redone
        assert isinstance(again.loc["symptoms", "steps"], _certainty.Chain)
    finally:
        _cache.keep_content_in(None)


def test_reports_of_one_study_vote_once_and_a_study_votes_once_per_question() -> None:
    studies = _studies([{"study_id": "A", "year": "2022"}, {"study_id": "B", "year": "2024", "report_of": "A"},
                        {"study_id": "C"}])
    findings = _findings([{"study_id": "A", "direction": "no difference"},
                          {"study_id": "B", "measure": "RR", "estimate": 0.86, "ci_low": 0.67, "ci_high": 1.11},
                          {"study_id": "C", "direction": "favours peer"},
                          {"study_id": "C", "direction": "favours peer"},
                          {"study_id": "C", "direction": "favours control"}])
    votes = eb.study_votes(findings, studies).set_index("study")
    assert list(votes.index) == ["A", "C"]  # B is a report of A
    assert votes.loc["A", "reports"] == "A|B" and votes.loc["A", "vote"] == "favours peer support"
    assert votes.loc["C", "vote"] == "favours peer support" and votes.loc["C", "rule"] == "2 of 3 findings with a direction"
    count = eb.vote_count(votes.reset_index())
    assert (count["benefit"], count["harm"], count["studies"], count["total"]) == (2, 0, 2, 2)
    assert count["p"] == pytest.approx(0.5)


def test_a_tie_is_unclear_and_no_sign_test_runs_over_votes_that_are_not_independent() -> None:
    studies = _studies([{"study_id": "A"}])
    findings = _findings([{"study_id": "A", "direction": "favours peer"},
                          {"study_id": "A", "direction": "favours control"},
                          {"study_id": "A", "direction": "favours peer", "domain": "engagement"}])
    votes = eb.study_votes(findings, studies)
    assert votes.set_index("domain").loc["hospitalisation", "vote"] == "direction unclear"
    with pytest.raises(eb.SynthesisError, match="one vote per study"):
        eb.vote_count(votes)  # two domains of one study are not two independent votes


def test_reviews_never_vote_and_are_never_tested_together() -> None:
    studies = _studies([{"study_id": "R1", "study_type": "review"}, {"study_id": "R2", "study_type": "review"}])
    findings = _findings([{"study_id": "R1", "evidence_level": "review", "direction": "favours peer"},
                          {"study_id": "R2", "evidence_level": "review", "direction": "favours peer"}])
    assert eb.study_votes(findings, studies).empty
    sof = eb.summary_of_findings(findings, studies, ["hospitalisation"]).iloc[0]
    assert (sof["studies"], sof["reviews"], sof["favour_peer"]) == (0, 2, 2)
    evidence = eb.Evidence(studies, findings, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), {})
    summary = eb.outcome_summary(evidence, ["hospitalisation"])
    assert "sign test" not in summary and "neither pooled nor vote-tested" in summary


def test_corrected_covered_area_against_a_hand_computed_matrix() -> None:
    # Three reviews, four primary studies: R1 = {a, b, c}, R2 = {b, c}, R3 = {c, d}: N = 7, r = 4, c = 3.
    # CCA = (7 - 4) / (4 * 3 - 4) = 3 / 8 = 37.5%, very high overlap.
    studies = _studies([{"study_id": "R1", "study_type": "review", "includes": "Alpha 2001; Beta 2002; gamma"},
                        {"study_id": "R2", "study_type": "review", "includes": "Beta 2002; gamma"},
                        {"study_id": "R3", "study_type": "review", "includes": "gamma; Delta 2004"},
                        {"study_id": "GAMMA", "citation_key": "gamma"}])
    matrix = eb.citation_matrix(studies, ["R1", "R2", "R3"])
    assert matrix.shape == (4, 3) and int(matrix.to_numpy().sum()) == 7
    assert "Author GAMMA 2020" in matrix.index  # a library item is named as its study
    assert eb.corrected_covered_area(matrix) == pytest.approx(3 / 8)
    assert eb.overlap_reading(3 / 8) == "very high" and eb.overlap_reading(0.05) == "slight"
    assert np.isnan(eb.corrected_covered_area(matrix[["R1"]] if "R1" in matrix else matrix.iloc[:, :1]))


def test_the_certainty_chain_names_every_step_and_its_reason() -> None:
    studies = _studies([{"study_id": "A", "risk_of_bias": "high (no blinding)"}, {"study_id": "B"},
                        {"study_id": "R", "study_type": "review", "design": "meta-analysis of RCTs",
                         "review_quality": "critically low"}])
    findings = _findings([{"study_id": "A", "measure": "RR", "estimate": 0.8, "ci_low": 0.6, "ci_high": 1.1,
                           "n_participants": 100},
                          {"study_id": "B", "direction": "favours peer", "n_participants": 80},
                          {"study_id": "R", "evidence_level": "review", "measure": "RR", "estimate": 0.7,
                           "ci_low": 0.5, "ci_high": 0.95, "review_certainty": "very low"}])
    chain = certainty_chain(findings, studies)
    steps = {s.domain: s for s in chain.steps}
    assert chain.start == "high" and "3 of 3 sources are randomised" in chain.start_reason
    assert steps["risk of bias"].change == -1 and "2 of 3 at high risk" in steps["risk of bias"].reason
    assert steps["inconsistency"].judgement == "not serious"
    assert steps["indirectness"].judgement == "not assessed"  # comparison not coded: said, not hidden
    assert steps["imprecision"].change == -1 and "1 of 2 95% CIs include no effect" in steps["imprecision"].reason
    assert steps["publication bias"].judgement == "not assessed" and "1 primary study with" in steps["publication bias"].reason
    # the review rates its own evidence very low: the overview claims no more
    assert steps["reviews' own GRADE"].judgement == "at most very low" and chain.final == "very low"
    assert "start high" in chain.text() and chain.text().endswith("= very low")


def test_imprecision_is_judged_from_the_cis_not_only_their_absence() -> None:
    studies = _studies([{"study_id": k, "risk_of_bias": "low"} for k in "AB"])
    precise = _findings([{"study_id": k, "measure": "RR", "estimate": 0.6, "ci_low": 0.5, "ci_high": 0.7,
                          "n_participants": 500} for k in "AB"])
    wide = precise.assign(ci_high=1.3)
    assert {s.domain: s for s in certainty_chain(precise, studies).steps}["imprecision"].change == 0
    assert {s.domain: s for s in certainty_chain(wide, studies).steps}["imprecision"].change == -1
    assert certainty_chain(precise, studies).final == "high"


def test_comparison_types_split_votes_pools_and_summary_rows() -> None:
    studies = _studies([{"study_id": k} for k in "ABCD"])
    findings = _findings([{"study_id": k, "domain": "quality of life", "measure": "SMD", "better": "higher",
                           "estimate": est, "ci_low": est - 0.2, "ci_high": est + 0.2, "synthesis_group": "qol",
                           "comparison_type": kind}
                          for k, est, kind in (("A", 0.3, "added to usual care"), ("B", 0.2, "added to usual care"),
                                               ("C", -0.1, "replacing staff"), ("D", -0.2, "replacing staff"))])
    sof = eb.summary_of_findings(findings, studies, ["quality of life"]).set_index("comparison_type")
    assert sof.loc["added to usual care", "study_votes_peer"] == 2
    assert sof.loc["replacing staff", "study_votes_comparison"] == 2
    effects = eb.effect_rows(findings, studies, "standardised")
    pooled = eb.pooled_groups(effects).set_index("comparison_type")
    assert set(pooled.index) == {"added to usual care", "replacing staff"} and (pooled["k"] == 2).all()


def test_hksj_with_the_ad_hoc_correction_is_never_narrower_than_wald() -> None:
    # Homogeneous studies (Q < k - 1): plain HKSJ is 'bizarrely narrow', the ad hoc version is not.
    y, v = [0.10, 0.12, 0.11], [0.01, 0.02, 0.015]
    wald, knha, adhoc = (eb.pool(y, v, method="REML", test=t) for t in ("z", "knha", "adhoc"))
    assert knha.ci_high - knha.ci_low < wald.ci_high - wald.ci_low  # the problem
    assert adhoc.ci_high - adhoc.ci_low >= wald.ci_high - wald.ci_low
    heterogeneous = [0.1, 0.6, -0.3], [0.01, 0.01, 0.01]  # Q > k - 1: the correction changes nothing
    assert eb.pool(*heterogeneous, test="adhoc").ci_low == pytest.approx(eb.pool(*heterogeneous, test="knha").ci_low)


def test_a_signed_judgement_goes_stale_when_the_evidence_under_it_changes(tmp_path) -> None:
    path = tmp_path / "judgements.toml"
    path.write_text('[[judgement]]\ndomain = "hospitalisation"\ncertainty = "low"\nsigned_by = "A. Reviewer"\n'
                    'signed_on = 2026-12-01\nevidence_version = 3\nreasons = "two small trials"\n', encoding="utf-8")
    (j,) = load_judgements(path).to_dict("records")
    assert (j["comparison_type"], j["signed_on"], j["evidence_version"]) == ("mixed or not stated", "2026-12-01", 3)
    studies = _studies([{"study_id": "A"}])
    then = _findings([{"study_id": "A", "direction": "favours peer"}])
    signed = question_fingerprint(then, studies, "hospitalisation", "mixed or not stated")
    assert judgement_status(signed, question_fingerprint(then, studies, "hospitalisation", "mixed or not stated")) == "signed"
    other_domain = pd.concat([then, _findings([{"study_id": "A", "domain": "hope"}])], ignore_index=True)
    other_domain["finding_id"] = ["F0", "F1"]
    assert judgement_status(signed, question_fingerprint(other_domain, studies, "hospitalisation",
                                                         "mixed or not stated")) == "signed"
    moved = then.assign(direction="no difference")
    assert judgement_status(signed, question_fingerprint(moved, studies, "hospitalisation",
                                                         "mixed or not stated")) == "needs re-review"
    assert judgement_status(None, signed) == "needs re-review"  # its version is not kept: cannot be checked
    signed_html = eb.certainty_label("moderate", {**j, "status": "signed"})
    stale_html = eb.certainty_label("moderate", {**j, "status": "needs re-review"})
    proposed_html = eb.certainty_label("moderate", None)
    assert "eb-signed" in signed_html and "the rules propose moderate" in signed_html
    assert "eb-stale" in stale_html and "needs re-review" in stale_html
    assert "eb-proposed" in proposed_html and "eb-signed" not in proposed_html


def test_a_malformed_judgements_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "judgements.toml"
    path.write_text('[[judgement]]\ndomain = "hope"\ncertainty = "great"\nsigned_by = "x"\nsigned_on = "d"\n'
                    'evidence_version = 1\nreasons = ""\n', encoding="utf-8")
    with pytest.raises(eb.EvidenceError, match="certainty 'great' is not one of"):
        load_judgements(path)
    assert load_judgements(tmp_path / "absent.toml").empty


def test_losing_a_pooled_estimate_is_a_trigger() -> None:
    old = pd.DataFrame([{"outcome": "g (mixed or not stated, RR)", "domain": "hospitalisation", "kind": "pooled",
                         "k": 3, "direction": "favours peer support", "certainty": "low", "ci_crosses_null": False}])
    changes = eb.version_changes(old, old.iloc[:0])
    assert changes.loc[0, "change"] == "removed" and changes.loc[0, "triggers"] == "pooled estimate lost"


def test_every_finding_has_a_chapter_besides_studies_and_reports_of_one_study_are_grouped() -> None:
    from conftest import ROOT

    from evidencebook._vocabulary import DOMAINS

    evidence = eb.load_evidence(eb.load_settings(ROOT))
    assert set().union(*eb.OUTCOME_CHAPTERS.values()) == set(DOMAINS)
    shown = "".join(eb.findings_table(evidence, list(domains)) for domains in eb.OUTCOME_CHAPTERS.values())
    included = eb.included_findings(evidence.outcomes, evidence.studies)
    missing = [f for f in included["finding_id"] if f"<td>{f}</td>" not in shown]
    assert missing == [] and len(included) == len(evidence.outcomes)
    # Beaudoin 2022 and Chambers 2024 report one Navigator trial: one study on the Studies page, one vote
    entries = eb.study_entries(evidence)
    assert 'One study, 2 reports:</strong> counted once in every vote, count and brief; its other report: ' \
           '<a href="#study-chambers2024effect">' in entries
    votes = eb.study_votes(included, evidence.studies)
    assert set(votes.loc[votes["label"].str.startswith("Beaudoin"), "reports"]) == {"H5NCWI6F|UKMNNIWS"}
    assert not votes["label"].str.startswith("Chambers").any()


def test_a_signed_judgement_is_flagged_on_its_page_and_in_whats_new_when_a_sync_changes_its_evidence(
        project: eb.Settings) -> None:
    import copy
    import datetime as dt

    from evidencebook._zotero import Snapshot, read_snapshot

    version = int(eb.load_evidence(project).manifest["evidence_version"])
    (project.evidence / "judgements.toml").write_text(
        "".join(f'[[judgement]]\ndomain = "hospitalisation"\ncomparison_type = "{c}"\ncertainty = "very low"\n'
                f'signed_by = "A. Reviewer"\nsigned_on = 2026-12-05\nevidence_version = {version}\nreasons = "r"\n\n'
                for c in ("added to usual care", "replacing staff")), encoding="utf-8")
    domains = ["hospitalisation"]
    before = eb.sof_table(eb.load_evidence(project), domains, project)
    assert before.count('class="eb-certainty eb-signed"') == 2 and "needs re-review" not in before
    # Chien 2019 corrects its hospital-admission estimate (added to usual care): a new evidence version
    snapshot = read_snapshot(project.snapshot)
    items = copy.deepcopy(snapshot.items)
    (chien,) = [i for i in items if "<h2>Outcome O15</h2>" in i["data"].get("note", "")]
    chien["data"]["note"] = chien["data"]["note"].replace("<p>estimate: 0.44</p>", "<p>estimate: 0.45</p>")
    eb.build_evidence(project, Snapshot(snapshot.library, items), today=dt.date(2030, 1, 1))
    after = eb.sof_table(eb.load_evidence(project), domains, project)
    assert after.count('class="eb-certainty eb-stale"') == 1 and after.count('class="eb-certainty eb-signed"') == 1
    news = eb.whats_new(project)
    assert news.count("Signed judgement needs re-review") == 1
    assert "hospitalisation (added to usual care), signed very low by A. Reviewer" in news
