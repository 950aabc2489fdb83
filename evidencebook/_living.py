"""The living review: where each question stands in one evidence version, and what moved between two.

:func:`version_news` gathers what one evidence version changed and :func:`whats_new_markdown`
writes it as Markdown: the description of the pull request that the scheduled sync opens
(``evidencebook whats-new``), read by reviewers on GitHub before the version is published.

A question is an outcome domain and a comparison type (a summary-of-findings row), or one
pooled estimate.  Cochrane's guidance for living systematic reviews names the changes that
call for a new citable version (:data:`TRIGGERS`); stating them in advance is part of the
protocol, and What's new flags them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from ._certainty import (cell_fingerprint, certainty_chain, load_judgements, question_fingerprint,
                         summary_of_findings)
from ._config import Settings
from ._display import study_label, visible
from ._effects import no_effect
from ._errors import EvidenceError
from ._synthesis import (FAVOURS_COMPARISON, FAVOURS_PEER, SCALES, comparison_types, effect_rows, included_findings,
                         pooled_groups, review_findings, study_votes)

__all__ = ["STATUS_COLUMNS", "TRIGGERS", "VersionNews", "markdown_text", "moved_estimates", "outcome_status",
           "stale_judgements", "version_changes", "version_news", "whats_new_markdown"]

STATUS_COLUMNS = ["outcome", "domain", "comparison_type", "kind", "measure", "k", "estimate", "ci_low", "ci_high",
                  "pi_low", "pi_high", "tau2", "direction", "ci_crosses_null", "certainty", "fingerprint"]

# Cochrane's living-review guidance: changes that call for a new citable version.
TRIGGERS = ("CI now includes no effect", "CI now excludes no effect", "direction changed", "certainty changed",
            "pooled estimate lost")


def _side(estimate: float, null: float) -> str:
    return "favours peer support" if estimate > null else "favours the comparison" if estimate < null else "no difference"


def _lean(directions: pd.Series, who: str) -> str:
    a, b = int((directions == FAVOURS_PEER).sum()), int((directions == FAVOURS_COMPARISON).sum())
    return ("" if not a + b else f"{who} favour peer support" if a > b else f"{who} favour the comparison" if b > a
            else f"{who} evenly split")


def outcome_status(outcomes: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Where each question stands in one evidence version: one row per outcome domain and comparison
    type, and one per pooled estimate (estimate, CI, PI, tau², k and its own certainty).

    ``direction`` is the pooled estimate's side of no effect for a pool, and for a question the
    lean of its independent studies' votes (else of its reviews' findings); ``k`` counts
    independent sources; ``fingerprint`` hashes what the question's certainty rests on, so that
    a signed judgement can be checked against any version.
    """
    domains = sorted(set(outcomes["domain"]) - {""})
    outcomes = included_findings(outcomes, studies)
    sof = summary_of_findings(outcomes, studies, domains)
    cells = dict(iter(outcomes.groupby([outcomes["domain"], comparison_types(outcomes)], sort=False)))
    rows = []
    for r in sof.itertuples():
        cell = cells[(r.domain, r.comparison_type)]
        lean = (_lean(study_votes(cell, studies)["vote"], "studies")
                or _lean(review_findings(cell, studies)["vote"], "reviews") or "no direction reported")
        rows.append({"outcome": f"{r.domain} ({r.comparison_type})", "domain": r.domain,
                     "comparison_type": r.comparison_type, "kind": "domain", "measure": "",
                     "k": int(r.sources), "direction": lean, "certainty": r.proposed_certainty,
                     "fingerprint": cell_fingerprint(cell, studies)})
    for scale in sorted(set(SCALES.values())):
        effects = effect_rows(outcomes, studies, scale)
        for r in pooled_groups(effects).to_dict("records"):
            members = effects[(effects["synthesis_group"] == r["synthesis_group"])
                              & (effects["comparison_type"] == r["comparison_type"])
                              & (effects["measure"] == r["measure"]) & (effects["evidence_level"] == "primary")]
            null = no_effect(r["measure"])
            chain = certainty_chain(members, studies, r["comparison_type"], pooled=r)
            rows.append({"outcome": f"{r['synthesis_group']} ({r['comparison_type']}, {r['measure']})",
                         "domain": members["domain"].iloc[0], "comparison_type": r["comparison_type"],
                         "kind": "pooled", "measure": r["measure"], "k": int(r["k"]), "estimate": r["estimate"],
                         "ci_low": r["ci_low"], "ci_high": r["ci_high"], "pi_low": r["pi_low"],
                         "pi_high": r["pi_high"], "tau2": r["tau2"], "direction": _side(r["estimate"], null),
                         "ci_crosses_null": bool(r["ci_low"] <= null <= r["ci_high"]), "certainty": chain.final,
                         "fingerprint": ""})
    return pd.DataFrame(rows, columns=STATUS_COLUMNS).sort_values(["domain", "kind", "outcome"]).reset_index(drop=True)


def version_status(settings: Settings, number: int) -> pd.DataFrame:
    """:func:`outcome_status` of an archived evidence version.

    Archives never change, so each version's status is computed once (per code version) and
    kept in the build cache: a new version then costs What's new one synthesis, not one per version.
    """
    from ._evidence import load_version, read_manifest

    def synthesise() -> pd.DataFrame:
        version = load_version(settings, number)
        return outcome_status(version.outcomes, version.studies)

    # Made once: What's new and the feed (written while the pages run) both ask for a new version's status.
    return _kept_frame(settings, f"outcome-status-v{number:04d}", str(read_manifest(settings, number).get("content_hash")),
                       synthesise)


def _kept_frame(settings: Settings, name: str, key: str, make: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``make()``, kept in the build cache under ``name`` and ``key`` (as JSON: every float as it was)."""
    import io

    from ._cache import DiskCache

    def text() -> str:
        return str(make().to_json(orient="table", double_precision=15))

    cache = DiskCache(settings.cache_dir)
    kept = cache.get(name, key, text)
    try:
        return pd.read_json(io.StringIO(kept), orient="table")
    except ValueError:  # a torn or foreign file: made again
        kept = text()
        cache.write(name, key, kept)
        return pd.read_json(io.StringIO(kept), orient="table")


def version_status_changes(settings: Settings, number: int) -> pd.DataFrame:
    """:func:`version_changes` from archived evidence version ``number - 1`` to ``number``.

    Kept in the build cache like each version's status: What's new and the feed read every version's changes
    on every build, and only a new version's are worked out.  Raises as :func:`version_status` does.
    """
    from ._evidence import read_manifest

    key = "".join(str(read_manifest(settings, n).get("content_hash")) for n in (number - 1, number))
    return _kept_frame(settings, f"version-changes-v{number:04d}", key,
                       lambda: version_changes(version_status(settings, number - 1), version_status(settings, number)))


def version_changes(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Per question, what moved from one version's :func:`outcome_status` to the next, with the
    changes Cochrane treats as triggers for a new citable version (:data:`TRIGGERS`) flagged.

    Columns: the outcome, ``change`` (new, removed, changed, unchanged), old_/new_ values,
    ``triggers`` (a '; '-joined list, empty when none) and ``notes`` (other changes worth reading).
    """
    merged = old.merge(new, on=["outcome", "kind"], how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for r in merged.to_dict("records"):
        triggers, notes = [], []
        if r["_merge"] == "right_only":
            change = "new"
        elif r["_merge"] == "left_only":
            change = "removed"
            if r["kind"] == "pooled":
                triggers.append(TRIGGERS[4])
        else:
            if r["kind"] == "pooled" and r["ci_crosses_null_old"] != r["ci_crosses_null_new"]:
                triggers.append(TRIGGERS[0] if r["ci_crosses_null_new"] else TRIGGERS[1])
            if r["direction_old"] != r["direction_new"]:
                triggers.append(f"{TRIGGERS[2]}: {r['direction_old']} → {r['direction_new']}")
            if r["certainty_old"] != r["certainty_new"]:
                triggers.append(f"{TRIGGERS[3]}: {r['certainty_old']} → {r['certainty_new']}")
            if r["k_old"] != r["k_new"]:
                notes.append(f"k {int(r['k_old'])} → {int(r['k_new'])}")
            for col, label in (("estimate", "estimate"), ("tau2", "tau²")):
                a, b = r[f"{col}_old"], r[f"{col}_new"]
                if pd.notna(a) and pd.notna(b) and not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                    notes.append(f"{label} {a:.3g} → {b:.3g}")
            for col, label in (("ci", "95% CI"), ("pi", "PI")):
                a = (r[f"{col}_low_old"], r[f"{col}_high_old"])
                b = (r[f"{col}_low_new"], r[f"{col}_high_new"])
                if all(pd.notna(x) for x in (*a, *b)) and not all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b)):
                    notes.append(f"{label} {a[0]:.3g} to {a[1]:.3g} → {b[0]:.3g} to {b[1]:.3g}")
            change = "changed" if triggers or notes else "unchanged"
        domain = r["domain_new"] if isinstance(r.get("domain_new"), str) else r["domain_old"]
        rows.append({"outcome": r["outcome"], "domain": domain, "kind": r["kind"], "change": change,
                     **{f"{c}_{v}": r.get(f"{c}_{v}") for c in ("k", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                                                                "tau2", "direction", "certainty") for v in ("old", "new")},
                     "triggers": "; ".join(triggers), "notes": "; ".join(notes)})
    return pd.DataFrame(rows).sort_values(["domain", "kind", "outcome"]).reset_index(drop=True) if rows else pd.DataFrame(
        columns=["outcome", "domain", "kind", "change", "triggers", "notes"])


# -- What's new in one evidence version, as Markdown ------------------------------------------------------------

# The ASCII punctuation that can start Markdown or HTML mid-line ('$' too: GitHub renders $math$), each of which
# CommonMark lets a backslash turn into plain text; ',;'"?%-/' cannot, ':' can only before '/' (an address) and '.'
# only before a letter (``www.`` and e-mail autolinks).  Library text never starts a line here.
_MD_PUNCTUATION = re.compile(r"([!#$&()*+<=>@\[\\\]^_`{|}~]|:(?=/)|\.(?=[^\W\d_]))")
_MD_SPACE = re.compile(r"[\s\x00-\x1f\x7f\u2028\u2029]+")
_LISTED = 50  # names shown per list; a first sync of a large library says "and N more" instead of 2,000 lines


def markdown_text(value: Any) -> str:
    """Text from the library (a title, an author, an outcome) as Markdown that shows exactly that text.

    A title is typed by anyone with write access to the Zotero library and lands in a pull request's
    description: every punctuation character is escaped, so no link, image, emphasis, raw HTML, entity,
    heading or table cell can start inside it, and GitHub's bare-address autolinks lose their ``://`` and
    ``www.``; line breaks become spaces, so the text cannot leave its list item.  Invisible and
    direction-changing characters are shown as their code point ('[U+202E]'), as on every page.  ``@name``
    and ``#12`` then get a word joiner after the sign, so a title neither notifies a GitHub user nor links an issue.
    """
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    text = _MD_SPACE.sub(" ", visible(text))
    text = re.sub(r"([@#])(?=\w)", "\\1\u2060", text.strip())
    return _MD_PUNCTUATION.sub(r"\\\1", text)


def _number(value: Any) -> str:
    return "?" if value is None or pd.isna(value) else f"{float(value):.4g}"


def _estimate(row: dict[str, Any]) -> str:
    """'0.44 (0.2 to 0.97)', as a reviewer reads it (4 significant digits); 'no estimate' for a narrative finding."""
    if all(pd.isna(row.get(c)) for c in ("estimate", "ci_low", "ci_high")):
        return "no estimate"
    text = _number(row.get("estimate"))
    if pd.notna(row.get("ci_low")) or pd.notna(row.get("ci_high")):
        text += f" ({_number(row.get('ci_low'))} to {_number(row.get('ci_high'))})"
    return text


@dataclass(frozen=True)
class VersionNews:
    """What one evidence version changed, compared with the version before it (``previous``; None when
    there is none, or it was not kept and so cannot be compared)."""

    number: int
    date: str
    library_version: Any
    previous: int | None
    studies: dict[str, list[dict[str, str]]]  # added / updated / removed: study_id, label, title
    findings: dict[str, list[str]]  # added / updated / removed: finding ids
    moved: list[dict[str, Any]] = field(default_factory=list)  # findings whose estimate or CI moved
    outcomes: pd.DataFrame | None = None  # :func:`version_changes` rows that changed (None: not compared)
    stale: list[dict[str, Any]] = field(default_factory=list)  # signed judgements this version made stale
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # manifest counts that changed
    coding_errors: int = 0
    files: list[str] = field(default_factory=list)  # evidence files whose content changed (from the manifests)


def _study_rows(ids: list[str], frames: list[pd.DataFrame], citation_keys: dict[str, str]) -> list[dict[str, str]]:
    """Each study named by author-year and title, looked up in the first frame that has it."""
    rows = []
    for study_id in ids:
        found = next((f[f["study_id"] == study_id].iloc[0] for f in frames
                      if len(f) and (f["study_id"] == study_id).any()), None)
        if found is None:  # a version whose tables were not kept: its citation key is all that is known
            rows.append({"study_id": study_id, "label": citation_keys.get(study_id, study_id), "title": ""})
        else:
            rows.append({"study_id": study_id, "label": study_label(found["authors"], found["title"], found["year"]),
                         "title": str(found["title"])})
    return rows


def moved_estimates(old: pd.DataFrame, new: pd.DataFrame, studies: pd.DataFrame) -> list[dict[str, Any]]:
    """Findings in both versions whose estimate, CI or measure changed: id, study label, outcome, measure
    (and ``old_measure``), and ``old``/``new`` as 'estimate (low to high)'."""
    before = {r["finding_id"]: r for r in old.to_dict("records")}
    labels = {r["study_id"]: study_label(r["authors"], r["title"], r["year"]) for r in studies.to_dict("records")}
    moved = []
    for r in new.to_dict("records"):
        was = before.get(r["finding_id"])
        if was is None:
            continue

        def differs(a: Any, b: Any) -> bool:
            if pd.isna(a) or pd.isna(b):
                return pd.isna(a) != pd.isna(b)
            return not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)

        if any(differs(was[c], r[c]) for c in ("estimate", "ci_low", "ci_high")) or was["measure"] != r["measure"]:
            moved.append({"finding_id": r["finding_id"], "study": labels.get(r["study_id"], r["citation_key"]),
                          "outcome": r["outcome"], "measure": r["measure"], "old_measure": was["measure"],
                          "old": _estimate(was), "new": _estimate(r)})
    return moved


def stale_judgements(judgements: list[dict[str, Any]], number: int,
                     fingerprint: Callable[[int, dict[str, Any]], str | None]) -> list[dict[str, Any]]:
    """Signed judgements that version ``number`` made stale: what the judgement rests on was as signed in
    the version before and is not in this one.  ``fingerprint(version, judgement)`` is the question's
    fingerprint in a version (None when that version is not kept)."""
    stale = []
    for j in judgements:
        signed = int(j["evidence_version"])
        if signed >= number:
            continue
        then = fingerprint(signed, j)
        if then is not None and fingerprint(number - 1, j) == then and fingerprint(number, j) != then:
            stale.append(j)
    return stale


def version_news(settings: Settings, number: int | None = None) -> VersionNews:
    """What evidence version ``number`` (default: the current one) changed, read from the changelog, the
    manifests and the archived tables of it and of the version before."""
    from ._evidence import evidence_versions, load_version, read_changelog, read_manifest

    entries = {int(e["evidence_version"]): e for e in read_changelog(settings)}
    number = int(read_manifest(settings)["evidence_version"]) if number is None else number
    if number not in entries:
        raise EvidenceError(f"evidence version {number} is not in {settings.evidence / 'changelog.json'} "
                            f"(it records versions {', '.join(map(str, sorted(entries))) or 'none'})")
    entry, kept = entries[number], set(evidence_versions(settings))
    loaded: dict[int, Any] = {}

    def version(n: int) -> Any:
        if n not in kept:
            return None
        if n not in loaded:
            loaded[n] = load_version(settings, n)
        return loaded[n]

    now, before = version(number), version(number - 1)
    frames = [v.studies for v in (now, before) if v is not None]
    studies = {what: _study_rows(entry.get("studies", {}).get(what, []), frames, entry.get("citation_keys", {}))
               for what in ("added", "updated", "removed")}
    findings = {what: list(entry.get("outcomes", {}).get(what, [])) for what in ("added", "updated", "removed")}
    manifest = now.manifest if now is not None else read_manifest(settings)
    if now is None or before is None:
        return VersionNews(number, str(entry["date"]), entry.get("zotero_library_version"), None, studies, findings,
                           coding_errors=int(manifest.get("counts", {}).get("coding_errors", 0)))
    changes = version_changes(outcome_status(before.outcomes, before.studies),
                              outcome_status(now.outcomes, now.studies))

    def fingerprint(n: int, j: dict[str, Any]) -> str | None:
        v = version(n)
        return None if v is None else question_fingerprint(v.outcomes, v.studies, j["domain"], j["comparison_type"])

    judgements = load_judgements(settings.evidence / "judgements.toml").to_dict("records")
    old_counts, new_counts = before.manifest.get("counts", {}), manifest.get("counts", {})
    counts = {k: (int(old_counts[k]), int(new_counts[k])) for k in new_counts
              if k in old_counts and old_counts[k] != new_counts[k]}
    old_files, new_files = before.manifest.get("files", {}), manifest.get("files", {})
    files = sorted(name for name in new_files if old_files.get(name) != new_files[name])
    return VersionNews(number, str(entry["date"]), entry.get("zotero_library_version"), number - 1, studies, findings,
                       moved_estimates(before.outcomes, now.outcomes, now.studies),
                       changes[changes["change"] != "unchanged"].reset_index(drop=True),
                       stale_judgements(judgements, number, fingerprint), counts,
                       int(new_counts.get("coding_errors", 0)), files)


def _listed(lines: list[str]) -> list[str]:
    extra = len(lines) - _LISTED
    return lines[:_LISTED] + ([f"- … and {extra} more"] if extra > 0 else [])


def whats_new_markdown(news: VersionNews) -> str:
    """What's new in one evidence version as Markdown (GitHub's flavour): triggers first, then studies added
    and removed, estimates that moved, certainty changes, judgements to re-review and counts.  Every value
    from the library goes through :func:`markdown_text`."""
    md = markdown_text
    out = [f"## What's new in evidence version {news.number} ({md(news.date)})", "",
           f"Synced from Zotero library version {md(news.library_version)}"
           + (f"; compared with evidence version {news.previous}." if news.previous is not None else
              ": the first evidence version, so everything in it is new." if news.number == 1 else
              f"; evidence version {news.number - 1} was not kept, so estimates and certainty are not compared."), ""]
    outcomes = news.outcomes if news.outcomes is not None else pd.DataFrame(columns=["triggers"])
    fired = outcomes[outcomes["triggers"] != ""]
    if len(fired):
        out += ["### Triggers for a new citable version", "",
                "Changes that Cochrane's guidance for living systematic reviews treats as calling for a new "
                "citable version:", ""]
        out += _listed([f"- **{md(r['outcome'])}**: {md(r['triggers'])}"
                        + (f" ({md(r['notes'])})" if r["notes"] else "") for r in fired.to_dict("records")]) + [""]
    elif news.outcomes is not None:
        out += ["No outcome changed in a way that calls for a new citable version.", ""]
    for what in ("added", "removed", "updated"):
        rows = news.studies[what]
        if rows:
            out += [f"### Studies {what} ({len(rows)})", ""]
            out += _listed([f"- {md(r['label'])}" + (f": {md(r['title'])}" if r["title"] else "")
                            + f" ({md(r['study_id'])})" for r in rows]) + [""]
    if news.moved:
        out += [f"### Findings whose estimate moved ({len(news.moved)})", ""]
        out += _listed([f"- {md(r['finding_id'])}, {md(r['study'])}, {md(r['outcome'])} ({md(r['measure'])}): "
                        + (f"{md(r['old_measure'])}: " if r["old_measure"] != r["measure"] else "")
                        + f"{r['old']} → {r['new']}" for r in news.moved]) + [""]
    named = {what: ids for what, ids in news.findings.items() if ids}
    if named:
        out += ["Findings " + "; ".join(f"{what} ({len(ids)}): " + ", ".join(md(i) for i in ids[:_LISTED])
                                        + (f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else "")
                                        for what, ids in named.items()) + ".", ""]
    certainty = outcomes[outcomes["certainty_old"].notna() & outcomes["certainty_new"].notna()
                         & (outcomes["certainty_old"] != outcomes["certainty_new"])] if len(outcomes) else outcomes
    if len(certainty):
        out += ["### Certainty changes", ""]
        out += _listed([f"- {md(r['outcome'])}: {md(r['certainty_old'])} → {md(r['certainty_new'])}"
                        for r in certainty.to_dict("records")]) + [""]
    other = outcomes[(outcomes["triggers"] == "") & (outcomes["notes"] != "")] if len(outcomes) else outcomes
    if len(other):
        out += ["### Other outcome changes", ""]
        out += _listed([f"- {md(r['outcome'])}: {md(r['notes'])}" for r in other.to_dict("records")]) + [""]
    added_or_removed = outcomes[outcomes["change"].isin(["new", "removed"])] if len(outcomes) else outcomes
    if len(added_or_removed):
        out += ["### Outcomes new or no longer reported", ""]
        out += _listed([f"- {md(r['outcome'])}: {'new' if r['change'] == 'new' else 'removed'}"
                        for r in added_or_removed.to_dict("records")]) + [""]
    if news.stale:
        out += ["### Signed judgements that need re-review", ""]
        out += [f"- {md(j['domain'])} ({md(j['comparison_type'])}): signed {md(j['certainty'])} by "
                f"{md(j['signed_by'])} on evidence version {md(j['evidence_version'])}; what it rests on changed"
                for j in news.stale] + [""]
    if not any(news.studies.values()) and not named and not len(outcomes):
        out += ["No study or finding changed" + (f"; the files that did: {', '.join(f'`{f}`' for f in news.files)}."
                                                 if news.files else "."), ""]
    if news.counts:
        out += ["Counts: " + "; ".join(f"{k.replace('_', ' ')} {a} → {b}" for k, (a, b) in news.counts.items())
                + ".", ""]
    if news.coding_errors:
        out += [f"**{news.coding_errors} coding error(s)** were left out of this version: see `evidence/problems.csv`.",
                ""]
    return "\n".join(out).rstrip() + "\n"
