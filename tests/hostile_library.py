"""A generated hostile Zotero library (SYNTHETIC: made up for the safe-rendering tests, not evidence).

Every string field that a researcher can type in Zotero carries script, markup, link, template and
LaTeX/BibTeX injection payloads.  Each (item, field) pair gets its own marker ``4242_NNNN`` (a valid
JavaScript number), so a payload found alive in the output names the field it came from
(:data:`WHERE`).  :func:`violations` checks one HTML document or fragment and returns what is unsafe.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import lxml.html

__all__ = ["EVAL_MARKERS", "INVISIBLE", "LONG_WORD", "MARKER_RE", "SPOOF", "STUDY_KEYS", "WHERE", "hostile_items",
           "hostile_library", "marker", "marker_of", "notebook_violations", "payload", "violations"]

MARKER_RE = re.compile(r"4242_\d{4}")
WHERE: dict[str, str] = {}  # marker -> "ITEMKEY field"
_count = [0]

# What would appear if something evaluated a template or read a file:
# {{4242*1001}} and #{4242*1001} evaluate to 4246242; /etc/passwd starts with "root:".
EVAL_MARKERS = ("4246242", "root:x:0:0")


def marker(where: str) -> str:
    _count[0] += 1
    m = f"4242_{_count[0]:04d}"
    WHERE[m] = where
    return m


def payload(where: str, multiline: bool = False) -> str:
    """Every injection at once, with this field's marker.  An even number of '$' (matplotlib mathtext)."""
    m = marker(where)
    text = (f"HOSTILE {m} {SPOOF} <script>alert({m})</script> <img src=x onerror=alert({m})> "
            f"\"><svg onload=alert({m})> "
            f"'><iframe src=javascript:alert({m})></iframe> </textarea><script>alert({m})</script> "
            f"[x](javascript:alert({m})) {{raw}}`html`<b onclick=alert({m})>raw role</b> "
            f"{{{{4242*1001}}}} #{{4242*1001}} }} \\input{{/etc/passwd}} $\\input{{/etc/passwd}}$ %")
    if multiline:
        text += f"\n\n```{{raw}} html\n<script>alert({m})</script>\n```\n\n:::{{raw}} html\n<b onclick=alert({m})>x</b>\n:::\n"
    return text


# Characters that display spoofed text (a right-to-left override, zero-width characters): in every payload, and
# never raw in any output (shown as "[U+202E]" and so on).
SPOOF = "\u202egnp.exe\u202c zero\u200bwidth\u200djoin\ufeff"
INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")

# Alive payload fragments: any of these in raw HTML means a payload was not escaped.
ALIVE = ("<script>alert(4242_", "<img src=x onerror=alert(4242_", "<svg onload=alert(4242_",
         "<iframe src=javascript:alert(4242_", "<b onclick=alert(4242_")


def _urls(m: str) -> list[str]:
    return [
        f"javascript:alert({m})",
        f" JaVaScRiPt:alert({m})",
        f"\tjava\nscript:alert({m})",
        f"&#106;avascript:alert({m})",
        f"&#x6A;avascript&colon;alert({m})",
        f"data:text/html,<script>alert({m})</script>",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCg0MjQyKTwvc2NyaXB0Pg==",
        f"vbscript:msgbox({m})",
        f"\x01javascript:alert({m})",
        f'https://example.org/x"onmouseover="alert({m})"><script>alert({m})</script>',
    ]


def url_payload(where: str, i: int) -> str:
    options = _urls(marker(where))
    return options[i % len(options)]


# One word of 10,000 characters, in a title shown on the Studies and References pages and in every brief.
LONG_WORD = "W" * 10_000

LIBRARY = {"id": 4242, "name": "Hostile library (synthetic, for tests)", "type": "group", "version": 4242}
STUDY_KEYS = [f"HSTLAAA{c}" for c in "23456789AB"]


def _item(key: str, data: dict[str, Any]) -> dict[str, Any]:
    body = {"key": key, "version": 7, "dateAdded": "2026-01-01T00:00:00Z", "dateModified": "2026-01-01T00:00:00Z",
            "relations": {}, "collections": [], **data}
    return {"key": key, "version": 7, "library": {k: LIBRARY[k] for k in ("id", "name", "type")}, "meta": {},
            "data": body}


def _note(key: str, parent: str, lines: list[str], table: bool = False) -> dict[str, Any]:
    """A child note as Zotero's editor stores typed text: every line escaped; '# x' is a heading."""
    parts = []
    for line in lines:
        line = line.replace("\n", "")  # a note line is one paragraph
        if line.startswith("# "):
            parts.append(f"<h2>{html.escape(line[2:])}</h2>")
        elif line.startswith("RAW "):  # markup as stored (a pasted fragment), not escaped
            parts.append(f"<p>{line[4:]}</p>")
        elif table and ": " in line:
            k, v = line.split(": ", 1)
            parts.append(f"<table><tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr></table>")
        else:
            parts.append(f"<p>{html.escape(line)}</p>")
    return _item(key, {"itemType": "note", "parentItem": parent, "tags": [],
                       "note": f'<div data-schema-version="9">{"".join(parts)}</div>'})


def _study(i: int) -> list[dict[str, Any]]:
    key = STUDY_KEYS[i]
    p = lambda field, multiline=False: payload(f"{key} {field}", multiline)  # noqa: E731
    data: dict[str, Any] = {
        "itemType": "journalArticle",
        # a trailing backslash (BibTeX); one word longer than any line (it made References 444,883 px wide)
        "title": p("title", multiline=i == 0) + ("\\" if i == 3 else "") + (f" {LONG_WORD}" if i == 0 else ""),
        "creators": [{"creatorType": "author", "firstName": p("creator firstName"), "lastName": p("creator lastName")},
                     {"creatorType": "author", "name": p("creator name")},
                     *([{"creatorType": "author", "firstName": "Jane", "lastName": "Doe, Jr., PhD"}] if i == 5
                       else [])],
        "abstractNote": p("abstractNote", multiline=True),
        "publicationTitle": p("publicationTitle"),
        "date": str(2010 + i),
        "url": url_payload(f"{key} url", i),
        "DOI": p("DOI") if i % 2 else "",
        "extra": p("extra", multiline=True),
        "citationKey": "",
        "tags": [{"tag": "screen:FT:include"}, {"tag": p("tag")}],
    }
    if i == 0:
        data["citationKey"] = f'evil"><script>alert({marker(key + " citationKey")})</script>'
    elif i == 1:
        data["citationKey"] = f"brk{marker(key + ' citationKey')}}},@misc{{injected,title={{pwn"
    elif i == 2:
        data["extra"] = f'Citation Key: x"><svg/onload=alert({marker(key + " extra Citation Key")})>\n' + data["extra"]
    elif i == 3:
        data["extra"] = f"Citation Key: {{raw}}`html`<script>alert({marker(key + ' extra Citation Key')})</script>\n"
    n = lambda field: f"H{i}-{field}"  # noqa: E731
    lines = [
        "Extraction", "# Study", "study_type: primary", f"design: {p('note design')}", "design_type: RCT",
        f"population: {p('note population')}", "population_group: SMI", f"setting: {p('note setting')}",
        "setting_type: community mental health", "peer_role: peer mentor", f"country: {p('note country')}",
        f"us_state: Oregon; {p('note us_state')}", *(["region: southern-oregon"] if i % 3 == 0 else []),
        f"risk_of_bias: {p('note risk_of_bias')}",
        *(["confidence: low", f"confidence_reason: {p('note confidence_reason')}"] if i in (0, 5) else []),
        f"coded_by: {p('note coded_by')}",
        f"# Outcome {n('A')}<svg onload=alert({marker(key + ' finding id')})>",
        f"outcome: {p('note outcome A')}", "domain: recovery", f"comparison: {p('note comparison')}",
        "measure: SMD", f"measure_as_reported: {p('note measure_as_reported')}", "better: higher",
        f"synthesis_group: {_shared_group()}",  # one group for all: pooled (k = 10), with a funnel plot
        f"estimate: {0.2 + 0.03 * i:.2f}", f"ci_low: {0.05 + 0.02 * i:.2f}", f"ci_high: {0.5 + 0.04 * i:.2f}",
        f"n_studies: {p('note n_studies')}", f"n_participants: {p('note n_participants')}",
        f"direction: favours peer {p('note direction')}", f"quote: {p('note quote A')}", f"page: {p('note page')}",
        f"source_url: {url_payload(key + ' note source_url A', i + 1)}", f"source_type: {p('note source_type')}",
        f"notes: {p('note notes')}",
        f"# Outcome {n('B')}", f"outcome: {p('note outcome B')}", "domain: workforce", "measure: narrative",
        f"reported_statistic: {p('note reported_statistic')}",
        # the name of the key's variable and this machine's home folder, typed: evidence, not a leak
        f"quote: Keep ZOTERO_API_KEY out of {Path.home()}/notes. {p('note quote B')}",
        f"source_url: {url_payload(key + ' note source_url B', i + 2)}",
        f"# Outcome {n('C')}", f"outcome: {p('note outcome C')}", "domain: hospitalisation", "measure: RR",
        "better: lower", f"estimate: {0.7 + 0.01 * i:.2f}", "ci_low: 0.5", "ci_high: 0.98", "direction: favours peer",
        f"quote: {p('note quote C')}",
        f"# Outcome {n('D')}",
        f"RAW outcome: <script>alert({marker(key + ' note outcome D, stored as markup')})</script>"
        f"<img src=x onerror=alert({marker(key + ' note outcome D img, stored as markup')})> as stored",
        "domain: hope", "measure: SMD", "better: unclear",
        "estimate: 0.1", "ci_low: -0.1", "ci_high: 0.3", f"quote: {p('note quote D')}",
        # problems the data-quality page lists, with payloads in their messages
        f"{p('note free line')}",
        f"# Outcome {n('E')}", f"outcome: {p('note outcome E (coding error)')}", "domain: recovery", "measure: SMD",
        "estimate: 0.9", "ci_low: 0.1", "ci_high: 0.2", f"quote: {p('note quote E')}",
        # a RoB 2 assessment with payloads in its reasons and source (the Risk of bias page and its figures)
        *(["# Risk of bias", "tool: RoB 2", f"D1: low ({p('note rob D1 reason')})", "D2: some concerns",
           "D3: low", "D4: low", "D5: low", f"overall: high ({p('note rob overall reason')})",
           f"source: {p('note rob source')}"] if i in (1, 2) else []),
    ]
    lines = [line for line in lines if line]
    return [_item(key, data), _note(f"HSTLNTE{STUDY_KEYS[i][-1]}", key, lines, table=i == 4)]


_SYNTH = {}


def _shared_group() -> str:
    if "g" not in _SYNTH:
        _SYNTH["g"] = payload("all studies note synthesis_group")
    return _SYNTH["g"]


def hostile_items() -> list[dict[str, Any]]:
    """The hostile library's items (parents and notes); the same items and markers on every call."""
    _count[0] = 0
    WHERE.clear()
    _SYNTH.clear()
    items: list[dict[str, Any]] = []
    for i in range(len(STUDY_KEYS)):
        items += _study(i)
    # excluded and unscreened records: their screening reasons feed the PRISMA flow
    items.append(_item("HSTLEXC2", {"itemType": "journalArticle", "title": payload("HSTLEXC2 title"), "creators": [],
                                    "date": "2020", "url": "", "extra": "",
                                    "tags": [{"tag": "screen:FT:exclude:" + payload("HSTLEXC2 FT exclusion reason")}]}))
    items.append(_item("HSTLEXC3", {"itemType": "report", "title": payload("HSTLEXC3 title"), "creators": [],
                                    "date": "2021", "url": "", "extra": "",
                                    "tags": [{"tag": "screen:TA:exclude:" + payload("HSTLEXC3 TA exclusion reason")},
                                             {"tag": "screen:" + payload("HSTLEXC3 malformed screening tag")}]}))
    items.append(_item("HSTLUNS2", {"itemType": "webpage", "title": payload("HSTLUNS2 title"), "creators": [],
                                    "websiteTitle": payload("HSTLUNS2 websiteTitle"), "date": "", "url": "",
                                    "extra": "", "tags": []}))
    # policy sources with Policy facts notes
    for j, (key, state, fact) in enumerate((("HSTLPLC2", "Oregon", "Medicaid reimburses peer support"),
                                            ("HSTLPLC3", "OR", "Certification and training"))):
        items.append(_item(key, {"itemType": "webpage", "title": payload(f"{key} title"), "creators": [],
                                 "websiteTitle": payload(f"{key} websiteTitle"), "date": "2024",
                                 "url": url_payload(f"{key} url", j * 9), "extra": payload(f"{key} extra"),
                                 "tags": [{"tag": "policy-source"}, {"tag": payload(f"{key} tag")}]}))
        items.append(_note(f"HSTLPNT{j + 2}", key, [
            "Policy facts",
            f"# Policy fact HP{j}<script>alert({marker(key + ' fact id')})</script>",
            f"state: {state}", f"fact: {fact} {payload(key + ' fact')}", f"value: {payload(key + ' value')}",
            f"as_of: {payload(key + ' as_of')}", f"quote: {payload(key + ' quote')}",
            f"source_type: {payload(key + ' source_type')}", f"notes: {payload(key + ' notes')}",
        ]))
    return items


def hostile_library() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(items, library.json) of the hostile library."""
    return hostile_items(), dict(LIBRARY)


# --- checks ---------------------------------------------------------------------------------

URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcdoc",
                  "codebase", "cite", "longdesc", "manifest", "ping")
ACTIVE_TAGS = ("script", "svg", "iframe", "frame", "object", "embed", "applet", "base", "form", "math", "textarea",
               "style", "link", "meta")
_STRIP = re.compile(r"[\x00-\x20\x7f]+")


def _unsafe_url(value: str) -> bool:
    flat = _STRIP.sub("", value).lower()
    return flat.startswith(("javascript:", "vbscript:", "data:text/html", "data:application/", "data:image/svg"))


def violations(document: str, fragment: bool = False) -> list[str]:
    """Every sign of a payload that is alive in this HTML (empty when the document is inert)."""
    found = [f"raw text contains {a!r}..." for a in ALIVE if a.lower() in document.lower()]
    found += [f"evaluated or read: {m!r}" for m in EVAL_MARKERS if m in document]
    found += [f"raw U+{ord(ch):04X} (displays spoofed text) near {document[max(0, i - 60):i]!r}"
              for i, ch in ((hit.start(), hit[0]) for hit in INVISIBLE.finditer(document))][:5]
    if not document.strip():
        return found
    root = (lxml.html.fragment_fromstring(document, create_parent="div") if fragment
            else lxml.html.document_fromstring(document))
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower().rsplit("}", 1)[-1]
        text = "".join(el.itertext()) if tag in ACTIVE_TAGS else ""
        attrs = " ".join(f"{k}={v}" for k, v in el.attrib.items())
        if tag in ACTIVE_TAGS and MARKER_RE.search(text + " " + attrs):
            found.append(f"<{tag}> carries {_name(text + ' ' + attrs)}: {(attrs + ' ' + text)[:160]!r}")
        if tag == "img" and el.get("src", "").strip() == "x":
            found.append(f"<img src=x> element from a payload: {attrs[:160]!r}")
        if tag == "b" and "raw role" in (el.text or ""):
            found.append(f"<b> element from a raw-role payload: {attrs[:160]!r}")
        for name, value in el.attrib.items():
            lname = name.lower()
            if lname.startswith("on") and (MARKER_RE.search(value) or MARKER_RE.search(name)):
                found.append(f"<{tag} {name}=...> event handler from {_name(value)}: {value[:120]!r}")
            if lname in URL_ATTRIBUTES and _unsafe_url(value):
                found.append(f"<{tag} {name}=...> unsafe URL from {_name(value)}: {value[:120]!r}")
            if lname == "style" and MARKER_RE.search(value):
                found.append(f"<{tag} style=...> from {_name(value)}")
    return found


def marker_of(where: str) -> str:
    """The marker of one (item, field), e.g. ``marker_of("HSTLAAA2 title")``."""
    return next(m for m, w in WHERE.items() if w == where)


def _name(text: str) -> str:
    m = MARKER_RE.search(text)
    return f"{m[0]} ({WHERE.get(m[0], '?')})" if m else "no marker"


def notebook_violations(text: str) -> list[str]:
    """Checks an .ipynb: HTML outputs as HTML, and no payload in markdown cells or markdown/latex/js outputs."""
    nb = json.loads(text)
    found = []
    for n, cell in enumerate(nb["cells"]):
        source = "".join(cell.get("source", ""))
        if cell["cell_type"] == "markdown" and MARKER_RE.search(source):
            found.append(f"cell {n}: markdown source carries {_name(source)}")
        for output in cell.get("outputs", []):
            for mime, value in output.get("data", {}).items():
                value = "".join(value) if isinstance(value, list) else str(value)
                if mime == "text/html":
                    found += [f"cell {n} text/html: {v}" for v in violations(value, fragment=True)]
                elif mime in ("text/markdown", "text/latex", "application/javascript", "image/svg+xml") \
                        and MARKER_RE.search(value):
                    found.append(f"cell {n}: {mime} output carries {_name(value)}")
    return found
