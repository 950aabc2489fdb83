"""What's new in an evidence version, as Markdown: built from the changelog and the archived versions, safe for
any title the library holds, and end to end against the Zotero emulator through the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from zotero_emulator import ZoteroEmulator, make_item, make_note

import evidencebook as eb
from evidencebook._cli import NOTHING_NEW, main
from evidencebook._living import (VersionNews, markdown_text, moved_estimates, stale_judgements, version_news,
                                  whats_new_markdown)

# GitHub's flavour as far as a Python renderer goes: tables, strikethrough, raw HTML and bare-address autolinks.
GFM = MarkdownIt("gfm-like", {"linkify": True})
JOINER = "\u2060"

HOSTILE_TITLES = [
    "A [trial](https://evil.example/x) of peer support",
    "An image ![x](https://evil.example/i.png) inside",
    "Raw <img src=x onerror=alert(1)> and <script>alert(1)</script> HTML",
    "An autolink <https://evil.example> and an entity &lt;b&gt; and &#x3C;script>",
    "Bare www.evil.example and https://evil.example/path and me@evil.example",
    "A | table | break\n|---|---|\n| row | here |",
    "Line one\n\n- a new list item\r\n# a heading\u2028and a separator",
    "**bold** _em_ ~~struck~~ `code` \\ backslash C:\\path\\",
    "Hello @octocat, see #12 and org/repo#3",
    "Spoofed \u202egnp.exe\u202c zero\u200bwidth",
]


def rendered_text(markdown: str) -> str:
    """The HTML GitHub-like Markdown renders ``markdown`` to."""
    return GFM.render(markdown)


def shown(title: str) -> str:
    """What a reader should see: the title with its whitespace collapsed, invisible characters named, and a joiner
    after '@' and '#'."""
    text = re.sub(r"[\s\u2028\u2029]+", " ", eb.visible(title)).strip()
    return re.sub(r"([@#])(?=\w)", rf"\1{JOINER}", text)


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_a_hostile_title_renders_as_exactly_its_text(title: str) -> None:
    html = rendered_text(f"- Tester 2021: {markdown_text(title)} (ABCD2345)\n")
    assert html == f"<ul>\n<li>Tester 2021: {escapeHtml(shown(title))} (ABCD2345)</li>\n</ul>\n"
    assert "<a " not in html and "<img" not in html and "<table" not in html and "<script" not in html


def test_without_escaping_the_same_titles_would_inject(title: str = HOSTILE_TITLES[0]) -> None:
    """The renderer used above does turn raw titles into links, HTML and tables (so the test above can fail)."""
    assert "<a href" in rendered_text(f"- {HOSTILE_TITLES[0]}\n")
    assert "<img src=x" in rendered_text(f"- {HOSTILE_TITLES[2]}\n")
    assert "<a href" in rendered_text(f"- {HOSTILE_TITLES[4]}\n")
    assert "<table>" in rendered_text(HOSTILE_TITLES[5].replace("A | table | break", "| A | table |"))


def _news(**changes) -> VersionNews:
    base = dict(number=3, date="2026-12-05", library_version=41, previous=2,
                studies={"added": [], "updated": [], "removed": []},
                findings={"added": [], "updated": [], "removed": []},
                outcomes=pd.DataFrame(columns=["outcome", "kind", "change", "triggers", "notes", "certainty_old",
                                               "certainty_new"]))
    return VersionNews(**{**base, **changes})


def test_every_hostile_title_stays_in_its_own_list_item_of_the_whole_description() -> None:
    rows = [{"study_id": f"K{n:07d}", "label": f"Author{n} 2020", "title": t} for n, t in enumerate(HOSTILE_TITLES)]
    news = _news(studies={"added": rows, "updated": [], "removed": rows[:2]},
                 moved=[{"finding_id": "F1", "study": HOSTILE_TITLES[0], "outcome": HOSTILE_TITLES[5],
                         "measure": "<b>RR</b>", "old_measure": "<b>RR</b>", "old": "0.5 (0.25 to 1)",
                         "new": "0.7 (0.35 to 1.4)"}])
    html = rendered_text(whats_new_markdown(news))
    assert html.count("<li>") == len(HOSTILE_TITLES) + 2 + 1
    for tag in ("<a ", "<img", "<table", "<script", "<b>", "<h1", "<strong>bold", "<code>", "<del>"):
        assert tag not in html, tag
    assert f"<h3>Studies added ({len(HOSTILE_TITLES)})</h3>" in html and "<h3>Studies removed (2)</h3>" in html
    assert f"<li>F1, {escapeHtml(shown(HOSTILE_TITLES[0]))}, " in html and "0.5 (0.25 to 1) → 0.7 (0.35 to 1.4)" in html


def test_a_long_list_is_cut_with_a_count_of_the_rest() -> None:
    rows = [{"study_id": f"K{n:07d}", "label": f"A{n} 2020", "title": "t"} for n in range(120)]
    text = whats_new_markdown(_news(studies={"added": rows, "updated": [], "removed": []}))
    assert "### Studies added (120)" in text and text.count("\n- A") == 50 and "- … and 70 more" in text


def test_a_version_that_changed_no_study_or_finding_names_the_files_that_changed() -> None:
    text = whats_new_markdown(_news(files=["state_policy.csv"], counts={"policy_facts": (170, 192)}))
    assert "No study or finding changed; the files that did: `state_policy.csv`." in text
    assert "Counts: policy facts 170 → 192." in text


def test_moved_estimates_names_only_findings_whose_estimate_ci_or_measure_changed() -> None:
    studies = pd.DataFrame([{"study_id": "S1", "authors": "Pitt et al.", "title": "T", "year": "2013"}])
    old = pd.DataFrame([
        {"finding_id": "F1", "study_id": "S1", "citation_key": "pitt", "outcome": "o1", "measure": "RR",
         "estimate": 0.5, "ci_low": 0.25, "ci_high": 1.0},
        {"finding_id": "F2", "study_id": "S1", "citation_key": "pitt", "outcome": "o2", "measure": "RR",
         "estimate": 0.8, "ci_low": 0.6, "ci_high": 1.1},
        {"finding_id": "F3", "study_id": "S1", "citation_key": "pitt", "outcome": "o3", "measure": "narrative",
         "estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}])
    new = old.copy()
    new.loc[0, "estimate"] = 0.7
    new.loc[2, ["measure", "estimate", "ci_low", "ci_high"]] = ["MD", -0.64, -1.3, 0.02]
    new = pd.concat([new, old.iloc[[1]].assign(finding_id="F4")])  # a new finding is not a moved one
    moved = moved_estimates(old, new, studies)
    assert [(m["finding_id"], m["study"], m["old"], m["new"]) for m in moved] == [
        ("F1", "Pitt et al. 2013", "0.5 (0.25 to 1)", "0.7 (0.25 to 1)"),
        ("F3", "Pitt et al. 2013", "no estimate", "-0.64 (-1.3 to 0.02)")]
    assert moved[1]["old_measure"] == "narrative" and moved[1]["measure"] == "MD"


def test_a_judgement_is_stale_in_the_version_that_changed_what_it_rests_on_only() -> None:
    prints = {1: "a", 2: "a", 3: "b", 4: "b"}
    judgement = {"domain": "hope", "comparison_type": "x", "evidence_version": 1}
    check = {n: stale_judgements([judgement], n, lambda v, j: prints.get(v)) for n in (2, 3, 4)}
    assert check == {2: [], 3: [judgement], 4: []}  # stale from version 3 on; named once, where it happened
    assert stale_judgements([{**judgement, "evidence_version": 0}], 3, lambda v, j: prints.get(v)) == []  # not kept


# -- end to end: the emulator, two syncs and the command -----------------------------------------------------------

KEY = "secret-key-1234"
HOSTILE = "Peer [support](https://evil.example) <b>trial</b> | www.evil.example"


def _study(key: str, note: str, finding: str, estimate: float, **data) -> tuple[dict, dict]:
    return make_item(key, **data), make_note(note, key, finding, estimate)


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project synced from the emulator, a change made through the emulator's write path, and a second sync."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_type = "group"\nlibrary_id = 4242\n',
                                         encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setenv("ZOTERO_API_KEY", KEY)
    monkeypatch.setenv("CI", "true")
    runner = CliRunner()
    with ZoteroEmulator() as emu:
        emu.put(*_study("AAAAAAAA", "NAAAAAAA", "F1", 0.5, creators=[{"creatorType": "author", "lastName": "Pitt"}]))
        emu.put(*_study("BBBBBBBB", "NBBBBBBB", "F2", 0.6))
        emu.put(*_study("CCCCCCCC", "NCCCCCCC", "F3", 0.8))
        first = runner.invoke(main, ["sync", "--endpoint", emu.url])
        assert first.exit_code == 0, first.output
        # One study added (with a hostile title), one estimate moved: Pitt's finding F1 from 0.5 to 0.9.
        emu.put(*_study("DDDDDDDD", "NDDDDDDD", "F4", 0.4, title=HOSTILE, date="2024"))
        emu.put(make_note("NAAAAAAA", "AAAAAAAA", "F1", 0.9))
        second = runner.invoke(main, ["sync", "--endpoint", emu.url])
        assert second.exit_code == 0, second.output
        yield eb.load_settings(root), runner, emu


def test_whats_new_after_a_sync_names_exactly_what_changed_in_zotero(synced) -> None:
    settings, runner, _ = synced
    assert eb.read_manifest(settings)["evidence_version"] == 2
    result = runner.invoke(main, ["whats-new"])
    assert result.exit_code == 0, result.output
    text = result.output
    today = eb.read_manifest(settings)["date"]
    assert text == f"""## What's new in evidence version 2 ({today})

Synced from Zotero library version 5; compared with evidence version 1.

No outcome changed in a way that calls for a new citable version.

### Studies added (1)

- Tester 2024: {markdown_text(HOSTILE)} (DDDDDDDD)

### Findings whose estimate moved (1)

- F1, Pitt 2021, readmission (RR): 0.5 (0.25 to 1) → 0.9 (0.45 to 1.8)

Findings added (1): F4; updated (1): F1.

### Other outcome changes

- hospitalisation \\(mixed or not stated\\): k 3 → 4

Counts: effect estimates 3 → 4; included 3 → 4; outcomes 3 → 4; studies 3 → 4.
"""
    html = rendered_text(text)
    assert "<a " not in html and "<b>" not in html and escapeHtml(HOSTILE) in html


def test_a_signed_judgement_whose_evidence_the_sync_changed_is_named_for_re_review(synced) -> None:
    """Signed on version 1; the second sync moved Pitt's estimate under it, so version 2 names it (and only the
    question it rests on: a judgement on another domain stays as signed)."""
    settings, runner, _ = synced
    (settings.evidence / "judgements.toml").write_text(
        '[[judgement]]\ndomain = "hospitalisation"\ncertainty = "low"\nsigned_by = "R. Reviewer"\n'
        'signed_on = 2026-12-01\nevidence_version = 1\nreasons = "two small trials"\n\n'
        '[[judgement]]\ndomain = "hope"\ncertainty = "low"\nsigned_by = "R. Reviewer"\n'
        'signed_on = 2026-12-01\nevidence_version = 1\nreasons = "none coded"\n', encoding="utf-8")
    text = runner.invoke(main, ["whats-new"]).output
    assert text.endswith("### Signed judgements that need re-review\n\n- hospitalisation (mixed or not stated): "
                         "signed low by R. Reviewer on evidence version 1; what it rests on changed\n\n"
                         "Counts: effect estimates 3 → 4; included 3 → 4; outcomes 3 → 4; studies 3 → 4.\n")
    assert "hope" not in text


def test_a_version_whose_predecessor_was_not_kept_names_its_studies_and_says_what_it_cannot_compare(synced) -> None:
    import shutil

    settings, runner, _ = synced
    shutil.rmtree(settings.evidence / "versions" / "v0001")
    text = runner.invoke(main, ["whats-new"]).output
    assert "; evidence version 1 was not kept, so estimates and certainty are not compared." in text
    assert f"- Tester 2024: {markdown_text(HOSTILE)} (DDDDDDDD)" in text and "Findings added (1): F4" in text
    assert "### Findings whose estimate moved" not in text and "citable version" not in text


def test_whats_new_since_the_version_before_the_sync_and_nothing_new_after_it(synced) -> None:
    settings, runner, _ = synced
    since = runner.invoke(main, ["whats-new", "--since", "1"])
    assert since.exit_code == 0 and since.output == runner.invoke(main, ["whats-new", "--version", "2"]).output
    both = runner.invoke(main, ["whats-new", "--since", "0"]).output
    assert both.index("evidence version 2") < both.index("evidence version 1 (")  # newest first
    assert "the first evidence version, so everything in it is new" in both
    nothing = runner.invoke(main, ["whats-new", "--since", "2"])
    assert nothing.exit_code == NOTHING_NEW == 3
    assert nothing.stdout == "" and "nothing new: no evidence version after version 2" in nothing.stderr


def test_a_sync_that_makes_no_new_evidence_version_is_nothing_new(synced) -> None:
    """What the workflow does: note the evidence version, sync, then --since it.  An unchanged library, or an
    edit that changes no table (an abstract), makes no new version: exit 3, and no pull request."""
    settings, runner, emu = synced
    assert runner.invoke(main, ["sync", "--endpoint", emu.url]).output.endswith("nothing changed; nothing written\n")
    emu.edit("BBBBBBBB", abstractNote="A new abstract")
    edited = runner.invoke(main, ["sync", "--endpoint", emu.url])
    assert edited.exit_code == 0 and eb.read_manifest(settings)["zotero"]["library_version"] == emu.version
    assert version_news(settings).number == 2
    assert runner.invoke(main, ["whats-new", "--since", "2"]).exit_code == 3


def test_triggers_certainty_changes_and_stale_judgements_are_named_first_and_apart() -> None:
    from evidencebook._living import STATUS_COLUMNS, version_changes

    def status(estimate: float, low: float, high: float, certainty: str) -> pd.DataFrame:
        row = {"outcome": "hope (added to usual care, SMD)", "domain": "hope", "comparison_type": "added to usual care",
               "kind": "pooled", "measure": "SMD", "k": 3, "estimate": estimate, "ci_low": low, "ci_high": high,
               "pi_low": float("nan"), "pi_high": float("nan"), "tau2": 0.0, "direction": "favours peer support",
               "ci_crosses_null": low <= 0 <= high, "certainty": certainty, "fingerprint": ""}
        quiet = {**row, "outcome": "symptoms (added to usual care, SMD)", "domain": "symptoms", "estimate": 0.1,
                 "ci_low": 0.05, "ci_high": 0.15, "ci_crosses_null": False, "certainty": "high"}  # the same in both
        return pd.DataFrame([row, quiet], columns=STATUS_COLUMNS)

    changes = version_changes(status(0.2, -0.05, 0.45, "low"), status(0.3, 0.1, 0.5, "moderate"))
    judgement = {"domain": "hope", "comparison_type": "added to usual care", "certainty": "low",
                 "signed_by": "R. <i>Reviewer</i>", "evidence_version": 2}
    text = whats_new_markdown(_news(outcomes=changes[changes["change"] != "unchanged"], stale=[judgement]))
    assert text.index("### Triggers for a new citable version") < text.index("### Certainty changes")
    assert ("- **hope \\(added to usual care, SMD\\)**: CI now excludes no effect; certainty changed: low → moderate "
            "(estimate 0.2 → 0.3; 95% CI -0.05 to 0.45 → 0.1 to 0.5)") in text
    assert "### Certainty changes\n\n- hope \\(added to usual care, SMD\\): low → moderate\n" in text
    assert ("### Signed judgements that need re-review\n\n- hope (added to usual care): signed low by "
            "R. \\<i\\>Reviewer\\</i\\> on evidence version 2; what it rests on changed") in text
    assert "symptoms" not in text and "No study or finding changed" not in text


def test_the_hostile_library_synced_in_renders_inert_in_the_description(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field of the generated hostile library (script, markup, link, template and spoofing payloads) arrives
    through a sync; What's new names its studies and findings, and GitHub-like Markdown renders none of it live."""
    from hostile_library import INVISIBLE, STUDY_KEYS, hostile_items, violations

    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.evidencebook]\nlibrary_type = "group"\nlibrary_id = 4242\n',
                                         encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setenv("ZOTERO_API_KEY", KEY)
    monkeypatch.setenv("CI", "true")
    runner = CliRunner()
    with ZoteroEmulator() as emu:
        emu.put(*_study("AAAAAAAA", "NAAAAAAA", "F1", 0.5))
        assert runner.invoke(main, ["sync", "--endpoint", emu.url]).exit_code == 0
        emu.put(*hostile_items())
        synced = runner.invoke(main, ["sync", "--endpoint", emu.url])
        assert synced.exit_code == 0, synced.output
    text = runner.invoke(main, ["whats-new"]).output
    assert "### Studies added (" in text and all(key in text for key in STUDY_KEYS)
    html = rendered_text(text)
    assert violations(html, fragment=True) == []
    assert "<a " not in html and "<img" not in html and "<script" not in html
    assert set(re.findall(r"</?([a-z0-9]+)", html)) <= {"h2", "h3", "p", "ul", "li", "strong", "code"}
    assert not INVISIBLE.findall(html.replace("@\u2060", "@").replace("#\u2060", "#"))  # spoofing shown as [U+...]
    assert "[U+202E]gnp.exe[U+202C]" in html


def test_the_changes_kept_for_each_version_are_those_worked_out_from_the_two_statuses(tmp_path: Path) -> None:
    """What's new and the feed read each version's changes from the build cache: what is read back is what
    version_changes gives, for every kept version of the bundled review (the second read is the kept one)."""
    import shutil

    from evidencebook._living import version_changes, version_status, version_status_changes

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(root / "evidence", tmp_path / "evidence")
    settings = eb.load_settings(tmp_path)
    numbers = sorted(int(p.name[1:]) for p in (settings.evidence / "versions").glob("v*"))
    assert len(numbers) >= 2
    for n in numbers[1:]:
        expected = version_changes(version_status(settings, n - 1), version_status(settings, n))
        first = version_status_changes(settings, n)
        kept = version_status_changes(settings, n)
        assert list(settings.cache_dir.glob(f"version-changes-v{n:04d}-*.cache")), n
        for got in (first, kept):
            pd.testing.assert_frame_equal(got.astype(object).where(got.notna(), None),
                                          expected.astype(object).where(expected.notna(), None), check_dtype=False)
        assert list(kept["triggers"]) == list(expected["triggers"]) and list(kept["notes"]) == list(expected["notes"])


def test_a_kept_frame_gives_back_library_text_exactly(tmp_path: Path) -> None:
    """Outcome names in the kept changes come from the library (synthesis groups): text that looks like a number,
    a date, a missing value or markup comes back from the build cache as the same text."""
    import shutil

    from evidencebook._living import _kept_frame

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    settings = eb.load_settings(tmp_path)
    names = ["NaN", "null", "", "1e400", "Infinity", "2024-01-01", "True", "a,b", "<script>x</script>", "x" * 5000]
    frame = pd.DataFrame({"outcome": names, "k": range(len(names)), "estimate": [1.5] * len(names)})
    for _ in range(2):  # made, then read back from the cache
        back = _kept_frame(settings, "hostile-names", "key", lambda: frame)
        assert list(back["outcome"]) == names and list(back["k"]) == list(range(len(names)))
