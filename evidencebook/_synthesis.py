"""Synthesis: what the findings of a domain say, and no more.

* Each finding's comparison type; the effect arithmetic it uses (the value of no effect, the standard
  error a CI implies, which measures are ratios) is :mod:`._effects`'.
* Direction of effect per finding, and one vote per independent primary study (reports of
  one study joined), counted by direction with a sign test (SWiM, Cochrane Handbook ch. 12).
* Review-level findings side by side (an overview of reviews), never pooled or vote-tested
  together since reviews share trials; their overlap as Pieper's corrected covered area.
* Forest-plot rows harmonised so that larger favours peer support; random-effects pools of
  primary studies that share a synthesis group, comparison type and measure, each with the
  weights its studies had in it (what the forest plot draws); a pool's path as studies arrived.
* The gap map, PRISMA counts and the screening reviewers' agreement (Cohen's kappa).

The statistics themselves (metafor's numbers) are in :mod:`._meta`; certainty (GRADE) in
:mod:`._certainty`; what changed between versions in :mod:`._living`.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ._display import study_label
from ._effects import effect_from_ci, no_effects, on_log_scale
from ._errors import SynthesisError

__all__ = ["DIRECTIONS", "NOT_STATED", "POOLING_METHOD", "VOTE_RULE", "citation_matrix", "comparison_types",
           "corrected_covered_area", "cumulative_by_year", "direction_counts", "domain_findings", "effect_rows",
           "finding_directions", "gap_map_counts", "harmonise", "included_findings", "overlap_reading",
           "pooled_groups", "prisma_counts", "review_findings", "SCREENING_STAGES", "cohen_kappa", "screening_agreement",
           "screening_pairs", "study_labels", "study_votes", "vote_count"]

NOT_STATED = "mixed or not stated"  # the comparison type of findings that do not code one

# Scales on which estimates of different measures can share one axis.
SCALES = {"SMD": "standardised", "Hedges g": "standardised", "MD": "mean difference",
          "RR": "ratio", "OR": "ratio", "HR": "ratio", "RD": "risk difference"}


def domain_findings(outcomes: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """Every finding (effect or narrative) in the given outcome domains."""
    return outcomes[outcomes["domain"].isin(domains)].copy()


def effect_rows(findings: pd.DataFrame, studies: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Effect findings on one scale, labelled for a forest plot, newest study first.

    Adds ``label``, ``se`` and ``significant`` (the CI excludes the null).
    """
    effects = findings[findings["estimate"].notna() & findings["measure"].map(SCALES).eq(scale)].copy()
    meta = studies.set_index("study_id")[["authors", "year", "study_type", "risk_of_bias"]]
    effects = effects.join(meta, on="study_id")
    effects["label"] = effects["study_id"].map(study_labels(studies))
    effects["se"] = effect_from_ci(effects["estimate"], effects["ci_low"], effects["ci_high"], effects["measure"])[1]
    null = no_effects(effects["measure"])
    effects["significant"] = (effects["ci_low"] > null) | (effects["ci_high"] < null)
    effects = effects.join(harmonise(effects))
    effects["flipped"] = effects["better"].eq("lower")  # negated or inverted so that larger favours peer support
    effects["comparison_type"] = comparison_types(effects)
    return effects.sort_values(["year", "label", "finding_id"], ascending=[False, True, True])


def harmonise(effects: pd.DataFrame) -> pd.DataFrame:
    """Estimates turned so that larger always favours peer support.

    The convention: where lower is better (readmissions, symptoms, overdoses), a difference
    is negated and a ratio inverted, and the CI bounds swap.  Findings whose better
    direction is ``unclear`` get no harmonised value.
    """
    ratio = on_log_scale(effects["measure"])
    lower = effects["better"].eq("lower")
    unclear = ~effects["better"].isin(["higher", "lower"])

    def flip(x: pd.Series) -> pd.Series:
        return np.where(ratio, 1.0 / x, -x)

    out = pd.DataFrame(index=effects.index)
    out["h_estimate"] = np.where(lower, flip(effects["estimate"]), effects["estimate"])
    out["h_low"] = np.where(lower, flip(effects["ci_high"]), effects["ci_low"])
    out["h_high"] = np.where(lower, flip(effects["ci_low"]), effects["ci_high"])
    out.loc[unclear, ["h_estimate", "h_low", "h_high"]] = np.nan
    return out


POOLING_METHOD = ("REML, Hartung-Knapp-Sidik-Jonkman CI with the ad hoc correction max(1, q) (never narrower than "
                  "the Wald CI), prediction interval t(k-1)")


def pooled_groups(effects: pd.DataFrame) -> pd.DataFrame:
    """Random-effects (REML) pooling of primary studies coded with the same ``synthesis_group``,
    comparison type and measure (:data:`POOLING_METHOD`).

    Review-level estimates are never pooled (they share trials); groups with k = 1 are left
    out.  Works on harmonised values: ratios on the log scale, then back-transformed.  All
    groups are pooled in one vectorised pass.  ``weights`` holds, per group, each pooled
    finding's share (%) of the weight (``finding_id`` -> percent) from the fit itself: the
    forest plot draws these, so a plot can never show weights the pool did not use.  HKSJ as such can give a CI narrower than the
    Wald CI when the few studies agree (Q < k - 1); the ad hoc correction (metafor's
    ``test="adhoc"``, Röver, Knapp and Friede 2015) prevents that.
    """
    from ._meta import pool_groups

    columns = ["synthesis_group", "comparison_type", "measure", "k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "tau2", "I2",
               "method", "weights"]
    primary = effects[(effects["evidence_level"] == "primary") & effects["synthesis_group"].ne("")
                      & effects["h_estimate"].notna()]
    if primary.empty:
        return pd.DataFrame(columns=columns)
    yi, se = effect_from_ci(primary["h_estimate"], primary["h_low"], primary["h_high"], primary["measure"])
    frame = pd.DataFrame({
        "synthesis_group": primary["synthesis_group"], "comparison_type": comparison_types(primary),
        "measure": primary["measure"], "yi": yi, "vi": se ** 2,
    }).set_axis(primary["finding_id"])  # the weights come back keyed by finding
    pooled = pool_groups(frame, ["synthesis_group", "comparison_type", "measure"], method="REML", test="adhoc",
                         pi_method="t(k-1)", weights=True)
    pooled = pooled[pooled["status"] == "ok"].reset_index()
    back = on_log_scale(pooled["measure"])
    for col in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        pooled[col] = np.where(back, np.exp(pooled[col]), pooled[col])
    pooled["k"] = pooled["k"].astype(int)
    pooled["method"] = POOLING_METHOD
    return pooled[columns].reset_index(drop=True)


CUMULATIVE_STUDIES = 40  # past this, the cumulative table has one row per year, not one per study


def cumulative_by_year(effects: pd.DataFrame, group: str, comparison: str = NOT_STATED) -> pd.DataFrame:
    """How a pooled estimate moved as studies arrived (a living view): REML re-pooled after each study, in
    order of year, while there are at most :data:`CUMULATIVE_STUDIES`; past that, re-pooled after each
    year's studies (one row per year, ``added`` naming the year and how many studies it added).

    Per study, k studies make k rows and k fits of up to k studies each: at 3,000 studies that is a
    table no one reads and a minute of fitting; per year the rows are as many as the years.
    """
    from ._meta import cumulative

    cell = effects[(effects["synthesis_group"] == group) & (effects["evidence_level"] == "primary")
                   & (comparison_types(effects) == comparison)]
    cell = cell.sort_values(["year", "finding_id"])
    ratio = on_log_scale(cell["measure"].iloc[0])
    y, se = effect_from_ci(cell["h_estimate"], cell["h_low"], cell["h_high"], cell["measure"].iloc[0])
    if len(cell) <= CUMULATIVE_STUDIES:
        table = cumulative(y, se ** 2, labels=list(cell["label"]), method="REML")
    else:
        table = _cumulative_years(np.asarray(y, dtype=float), np.asarray(se, dtype=float) ** 2,
                                  cell["year"].to_numpy())
    if ratio:
        for col in ("estimate", "ci_low", "ci_high"):
            if col in table:
                table[col] = np.exp(table[col])
    return table


def _cumulative_years(y: np.ndarray, v: np.ndarray, years: np.ndarray) -> pd.DataFrame:
    """The cumulative REML fit after each year's studies (``y``, ``v`` in order of year): exactly the rows of
    :func:`~evidencebook._meta.cumulative` at each year's last study, fitted for those prefixes only."""
    from ._meta import pool_groups
    from ._meta._common import z_crit

    keep = ~(np.isnan(y) | np.isnan(v))
    y, v, years = y[keep], v[keep], years[keep]
    ends = [i for i in range(len(y)) if i == len(y) - 1 or years[i + 1] != years[i]]  # each year's last study
    member = np.concatenate([np.arange(end + 1) for end in ends])
    prefix = np.repeat(np.arange(len(ends)), [end + 1 for end in ends])
    fits = pool_groups(pd.DataFrame({"prefix": prefix, "yi": y[member], "vi": v[member]}), "prefix",
                       method="REML").reset_index(drop=True)
    starts = [0, *(end + 1 for end in ends[:-1])]
    fits.insert(0, "added", [f"{years[end]}: {end + 1 - start} {'study' if end == start else 'studies'}"
                             for start, end in zip(starts, ends)])
    if ends[0] == 0:  # the first year has one study: its own estimate and z-based CI, not pooled (as cumulative)
        z, sd = z_crit(95.0), float(np.sqrt(v[0]))
        for col, value in {"k": 1, "estimate": y[0], "se": sd, "ci_low": y[0] - z * sd, "ci_high": y[0] + z * sd,
                           "status": "single study"}.items():
            fits.loc[0, col] = value
    return fits


# --- vote counting by direction of effect (SWiM; Cochrane Handbook ch. 12) ---------------

FAVOURS_PEER, FAVOURS_COMPARISON, UNCLEAR = "favours peer support", "favours the comparison", "direction unclear"
DIRECTIONS = (FAVOURS_PEER, FAVOURS_COMPARISON, UNCLEAR)
VOTE_RULE = ("one vote per independent primary study, outcome domain and comparison type: the direction shared by "
             "most of the study's findings with a direction (a harmonised estimate's side of no effect, whether or "
             "not it is significant; else the direction the source states); a tie, or no finding with a direction, "
             "is 'direction unclear'. Reports of one study vote once. Reviews do not vote: they share trials.")


def included_findings(outcomes: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """The findings of studies included at the last screening stage: only these reach plots, pools, votes and briefs."""
    included = studies.loc[studies["screening"].str.endswith(":include"), "study_id"]
    return outcomes[outcomes["study_id"].isin(set(included))]


def comparison_types(findings: pd.DataFrame) -> pd.Series:
    """Each finding's comparison type, with uncoded findings as :data:`NOT_STATED`."""
    column = findings["comparison_type"] if "comparison_type" in findings else pd.Series("", index=findings.index)
    return column.fillna("").replace("", NOT_STATED)


def finding_directions(findings: pd.DataFrame) -> pd.Series:
    """Each finding's direction of effect: one of :data:`DIRECTIONS`.

    An estimate counts on its side of no effect (harmonised by ``better``), significant or not;
    without one, the direction the source states ('favours peer ...', 'favours control ...');
    anything else ('no difference' with no estimate, 'mixed', descriptive) is unclear.
    """
    # Column by column (a loop over 50,000 findings' rows took seconds, and What's new runs it per question).
    if findings.empty:
        return pd.Series([], index=findings.index, dtype=object)
    better = findings["better"] if "better" in findings else pd.Series("", index=findings.index)
    estimate = pd.to_numeric(findings["estimate"], errors="coerce").to_numpy(dtype=float)
    null = no_effects(findings["measure"])
    higher = (better == "higher").to_numpy()
    from_estimate = ~np.isnan(estimate) & better.isin(("higher", "lower")).to_numpy()
    by_estimate = np.where(estimate == null, UNCLEAR,
                           np.where((estimate > null) == higher, FAVOURS_PEER, FAVOURS_COMPARISON))
    stated = findings["direction"] if "direction" in findings else pd.Series("", index=findings.index)
    text = stated.map(lambda d: str(d).strip().lower())
    by_text = np.where(text.str.startswith("favours peer"), FAVOURS_PEER,
                       np.where(text.str.startswith(("favours control", "favours comparison", "favours the comparison",
                                                     "favours usual")), FAVOURS_COMPARISON, UNCLEAR))
    return pd.Series(np.where(from_estimate, by_estimate, by_text), index=findings.index, dtype=object)


def study_labels(studies: pd.DataFrame) -> pd.Series:
    """'Author et al. 2014' per study id (the title's start when no author is coded)."""
    return pd.Series([study_label(a, t, y) for a, t, y in zip(studies["authors"], studies["title"], studies["year"])],
                     index=studies["study_id"].values, dtype=object)


def _majority(directions: list[str]) -> tuple[str, str]:
    """A study's vote from its findings' directions, and the rule that picked it."""
    directed = [d for d in directions if d != UNCLEAR]
    if not directed:
        return UNCLEAR, "no finding with a direction"
    counts = Counter(directed).most_common()
    if len(counts) == 1:
        return counts[0][0], ("its one finding with a direction" if len(directed) == 1
                               else f"all {len(directed)} findings with a direction agree")
    if counts[0][1] > counts[1][1]:
        return counts[0][0], f"{counts[0][1]} of {len(directed)} findings with a direction"
    return UNCLEAR, f"its findings split {counts[0][1]}-{counts[1][1]}"


def study_votes(findings: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """One row per independent primary study, outcome domain and comparison type (see :data:`VOTE_RULE`).

    ``study`` is the study's first report (``report_of``); ``reports`` and ``findings`` list
    what it rests on, ``vote`` is one of :data:`DIRECTIONS` and ``rule`` says how it was picked.
    """
    columns = ["study", "label", "domain", "comparison_type", "reports", "findings", "vote", "rule"]
    primary = findings[findings["evidence_level"] == "primary"]
    if primary.empty:
        return pd.DataFrame(columns=columns)
    report_of = (dict(zip(studies["study_id"], studies["report_of"])) if "report_of" in studies
                 else dict(zip(studies["study_id"], studies["study_id"])))
    groups: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}  # plain Python: thousands of studies
    for study_id, finding_id, domain, comparison, vote in zip(
            primary["study_id"], primary["finding_id"], primary["domain"], comparison_types(primary),
            finding_directions(primary)):
        key = (report_of.get(study_id) or study_id, domain, comparison)
        groups.setdefault(key, []).append((study_id, finding_id, vote))
    # Labels of the studies that vote here only: labelling all 10,000 took longer than the votes.
    labels = study_labels(studies[studies["study_id"].isin({study for study, _, _ in groups})]).to_dict()
    rows = []
    for (study, domain, comparison), cell in sorted(groups.items()):
        vote, rule = _majority([v for _, _, v in cell])
        rows.append({"study": study, "label": labels.get(study, study), "domain": domain,
                     "comparison_type": comparison, "reports": "|".join(sorted({s for s, _, _ in cell})),
                     "findings": "|".join(f for _, f, _ in cell), "vote": vote, "rule": rule})
    return pd.DataFrame(rows, columns=columns)


def vote_count(votes: pd.DataFrame) -> dict[str, Any]:
    """The study votes of one question (one domain and comparison type), counted.

    Returns the counts per direction, the share of studies with a direction that favour peer
    support with its Wilson 95% CI, and a two-sided sign test.  Both assume independent votes,
    so a study that votes twice is an error (votes of several domains or comparisons, or of
    reviews, must never be counted together).  This counts directions; it estimates no effect size.
    """
    if votes["study"].duplicated().any():
        raise SynthesisError("vote counting needs one vote per study; these studies vote more than once: "
                             + ", ".join(sorted(set(votes.loc[votes["study"].duplicated(), "study"]))))
    counts = {d: int((votes["vote"] == d).sum()) for d in DIRECTIONS}
    benefit, harm = counts[FAVOURS_PEER], counts[FAVOURS_COMPARISON]
    total = benefit + harm
    result: dict[str, Any] = {"benefit": benefit, "harm": harm, "unclear": counts[UNCLEAR],
                              "studies": int(len(votes)), "total": total, "share": float("nan"),
                              "ci_low": float("nan"), "ci_high": float("nan"), "p": float("nan")}
    if total:
        p, ci_low, ci_high = _sign_test(benefit, total)
        result |= {"share": benefit / total, "ci_low": ci_low, "ci_high": ci_high, "p": p}
    return result


def _sign_test(benefit: int, total: int) -> tuple[float, float, float]:
    """The two-sided exact sign test's p and the Wilson 95% CI of the share, as
    ``scipy.stats.binomtest(benefit, total).pvalue`` and ``.proportion_ci(method="wilson")``
    compute them (for p = 0.5 the two tails are equal), from scipy.special: importing
    scipy.stats takes about a second, paid by every page that counts votes."""
    from scipy import special

    p = min(1.0, 2 * float(special.bdtr(min(benefit, total - benefit), total, 0.5))) if 2 * benefit != total else 1.0
    z = float(special.ndtri(0.975))
    share = benefit / total
    denom = 2 * (total + z**2)
    center = (2 * total * share + z**2) / denom
    delta = z / denom * math.sqrt(4 * total * share * (1 - share) + z**2)
    return p, 0.0 if benefit == 0 else center - delta, 1.0 if benefit == total else center + delta


def review_findings(findings: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Review-level findings, side by side (an overview of reviews): never pooled or vote-tested together,
    since reviews share primary trials.  Adds the review's label, its quality (AMSTAR 2), and
    the finding's direction (``vote``) and comparison type."""
    reviews = findings[findings["evidence_level"] == "review"]
    meta = studies.set_index("study_id")
    quality = meta["review_quality"] if "review_quality" in meta else pd.Series("", index=meta.index)
    return reviews.assign(label=reviews["study_id"].map(study_labels(studies)),
                          review_quality=reviews["study_id"].map(quality).fillna(""),
                          comparison_type=comparison_types(reviews), vote=finding_directions(reviews))


# --- overlap of reviews (Pieper et al. 2014) ---------------------------------------------

def citation_matrix(studies: pd.DataFrame, review_ids: list[str]) -> pd.DataFrame:
    """Primary studies (rows) by reviews (columns): True where the review includes the study.

    Built from each review's ``includes`` (citation keys or item keys of library items, else
    'Author Year' labels); library items are resolved to their study (``report_of``) so two
    reports of one trial are one row.  Reviews that code no ``includes`` are left out.
    """
    meta = studies.set_index("study_id")
    report_of = meta["report_of"] if "report_of" in meta else pd.Series(meta.index, index=meta.index)
    by_name = {**dict(zip(studies["citation_key"], studies["study_id"])), **{i: i for i in studies["study_id"]}}
    labels = study_labels(studies)
    columns: dict[str, set[str]] = {}
    for review in review_ids:
        entries = str(meta.at[review, "includes"]).split(";") if "includes" in meta else []
        rows = set()
        for entry in filter(None, (x.strip() for x in entries)):
            item = by_name.get(entry)
            rows.add(str(labels.get(report_of.get(item, item), entry)) if item else " ".join(entry.split()))
        if rows:
            columns[str(labels.get(review, review))] = rows
    names = sorted(set().union(*columns.values())) if columns else []
    return pd.DataFrame({review: [n in rows for n in names] for review, rows in columns.items()}, index=names,
                        dtype=bool)


def corrected_covered_area(matrix: pd.DataFrame) -> float:
    """Pieper's CCA = (N - r) / (r * c - r): N inclusions, r primary studies, c reviews (NaN below 2 reviews)."""
    r, c = matrix.shape
    if c < 2 or r == 0:
        return float("nan")
    return (int(matrix.to_numpy().sum()) - r) / (r * c - r)


def overlap_reading(cca: float) -> str:
    """Pieper's reading of a CCA: slight (0-5%), moderate (6-10%), high (11-15%), very high (above 15%)."""
    percent = 100 * cca
    return "slight" if percent <= 5 else "moderate" if percent <= 10 else "high" if percent <= 15 else "very high"


def direction_counts(findings: pd.DataFrame) -> pd.Series:
    """Findings counted by the direction their source reports (not a pooled result)."""
    coarse = findings["direction"].str.extract(r"^(favours peer|favours control|no difference|mixed)")[0]
    return coarse.fillna("not stated / descriptive").value_counts()


def gap_map_counts(findings: pd.DataFrame, studies: pd.DataFrame, domains: list[str],
                   groups: list[str]) -> pd.DataFrame:
    """Outcome domain x population group: sources, findings and the share reported as favouring peer support.

    One row per non-empty cell, with the study ids in it (for links).
    """
    joined = findings.join(studies.set_index("study_id")[["population_group"]], on="study_id")
    joined["population_group"] = joined["population_group"].replace("", "not coded")
    rows = []
    for (domain, group), cell in joined.groupby(["domain", "population_group"], sort=False):
        if domain not in domains:
            continue
        favour = cell["direction"].str.startswith("favours peer").mean()
        rows.append({"domain": domain, "population_group": group, "sources": cell["study_id"].nunique(),
                     "findings": len(cell), "share_favouring": float(favour),
                     "study_ids": "|".join(sorted(cell["study_id"].unique()))})
    order = {d: i for i, d in enumerate(domains)}
    group_order = {g: i for i, g in enumerate([*groups, "not coded"])}
    table = pd.DataFrame(rows, columns=["domain", "population_group", "sources", "findings", "share_favouring",
                                        "study_ids"])
    return table.sort_values(["domain", "population_group"], key=lambda c: c.map(
        order if c.name == "domain" else group_order)).reset_index(drop=True)


def prisma_counts(studies: pd.DataFrame, new_ids: set[str] | None = None) -> dict[str, Any]:
    """PRISMA 2020 numbers from the screening decisions (``screening`` column), optionally for new records only.

    A stage where reviewers disagree and nothing resolves it (``TA:conflict``, ``FT:conflict``) is counted as
    awaiting resolution at that stage: it is neither excluded nor carried forward.
    """
    s = studies if new_ids is None else studies[studies["study_id"].isin(new_ids)]
    stage = s["screening"].str.split(":").str[0]
    decision = s["screening"].str.split(":").str[-1]
    full_text = s[stage == "FT"]
    reasons = full_text.loc[decision[stage == "FT"] == "exclude", "exclusion_reason"].replace("", "reason not given")
    return {
        "identified": int(len(s)),
        "unscreened": int((s["screening"] == "unscreened").sum()),
        "screened": int((s["screening"] != "unscreened").sum()),
        "excluded_title_abstract": int(((stage == "TA") & (decision == "exclude")).sum()),
        "conflicts_title_abstract": int(((stage == "TA") & (decision == "conflict")).sum()),
        "awaiting_full_text": int(((stage == "TA") & decision.isin(["include", "maybe"])).sum()),
        "assessed_full_text": int(len(full_text)),
        "excluded_full_text": {str(k): int(v) for k, v in reasons.value_counts().items()},
        "undecided_full_text": int(((stage == "FT") & (decision == "maybe")).sum()),
        "conflicts_full_text": int(((stage == "FT") & (decision == "conflict")).sum()),
        "included": int(((stage == "FT") & (decision == "include")).sum()),
    }


SCREENING_STAGES = {"TA": "title/abstract", "FT": "full text"}


def screening_pairs(votes: str, stage: str) -> tuple[str, str] | None:
    """The two decisions of an item double-screened at ``stage``, the reviewers in alphabetical order, or None.

    Double-screened means exactly two named reviewers with one decision each (``screening_votes`` column);
    resolutions, unnamed tags and a consensus are not independent screening and are left out.
    """
    by_reviewer: dict[str, set[str]] = {}
    for vote in filter(None, str(votes).split("|")):
        head, _, reviewer = vote.partition("@")
        parts = head.split(":")
        if parts[0] != stage or len(parts) != 2 or not reviewer or reviewer == "consensus":
            continue
        by_reviewer.setdefault(reviewer, set()).add(parts[1])
    if len(by_reviewer) != 2 or any(len(d) != 1 for d in by_reviewer.values()):
        return None
    first, second = (next(iter(by_reviewer[r])) for r in sorted(by_reviewer))
    return first, second


def cohen_kappa(pairs: list[tuple[str, str]]) -> float:
    """Cohen's kappa of two raters' decisions, (p_o - p_e) / (1 - p_e), computed from whole counts.

    NaN when it is undefined: no pairs, or chance agreement is 1 (both raters gave one and the same decision
    throughout, so there is no variation to agree on).
    """
    n = len(pairs)
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    agreed = sum(a == b for a, b in pairs)
    chance = sum(first[c] * second[c] for c in first)  # n^2 * p_e
    if n == 0 or chance == n * n:
        return math.nan
    return (n * agreed - chance) / (n * n - chance)


def screening_agreement(studies: pd.DataFrame) -> pd.DataFrame:
    """Agreement of two reviewers per screening stage: items double-screened, how many agreed, the percentage
    agreement and Cohen's kappa (NaN when no item is double-screened or kappa is undefined).

    Each item's first rater is the reviewer whose initials sort first; items screened by one reviewer, or by
    more than two, do not count.
    """
    votes = studies["screening_votes"] if "screening_votes" in studies else pd.Series([], dtype=str)
    rows = []
    for stage, name in SCREENING_STAGES.items():
        pairs = [p for p in (screening_pairs(v, stage) for v in votes) if p is not None]
        agreed = sum(a == b for a, b in pairs)
        rows.append({"stage": name, "double_screened": len(pairs), "agreed": agreed,
                     "percent_agreement": 100 * agreed / len(pairs) if pairs else math.nan,
                     "kappa": cohen_kappa(pairs)})
    return pd.DataFrame(rows, columns=["stage", "double_screened", "agreed", "percent_agreement", "kappa"])
