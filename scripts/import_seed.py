"""Turn the starter evidence in ``evidence/seed/`` into a Zotero library snapshot.

This is the one-off step a review team would do by hand in Zotero: create an item per
publication (or per policy source), tag the screening decision, and write an extraction
note with the coded study and its findings.  It is kept so that the bundled snapshot can
be regenerated and audited: run ``python scripts/import_seed.py`` and ``git diff`` shows
nothing.

Rules it follows (see ``evidence/seed/README.md``):

- every number is copied from the seed row that quotes it; nothing is derived or filled in;
- a row whose estimate does not come with a 95% CI stays a narrative finding, and its
  statistic is kept verbatim as ``reported_statistic``;
- a trial's per-arm data (events and totals, or means, SDs and totals) is written as the raw
  fields only when complete, and only once the note parser reads them (see ``raw_data_is_read``);
- a seed ``citation_key`` pins the item's key, so a review's ``includes`` can name the trial;
- the coding it adds (outcome domain, population group, study type) is a classification of
  the seed's own words, made by the rules below, and says so in the note.
"""

from __future__ import annotations

import csv
import hashlib
import re
import sys
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidencebook._fields import OUTCOME_FIELDS  # noqa: E402
from evidencebook._notes import write_note  # noqa: E402
from evidencebook._vocabulary import THEMES  # noqa: E402
from evidencebook._zotero import write_snapshot  # noqa: E402

SEED = ROOT / "evidence" / "seed"
SNAPSHOT = ROOT / "evidence" / "zotero"
LIBRARY = {"type": "group", "id": 0, "name": "Peer support workforce review (bundled seed)"}
IMPORTED = "2026-11-28T00:00:00Z"
KEY_ALPHABET = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"

# Outcome label -> domain. First match wins; order matters (e.g. "readmission" before "use").
DOMAIN_RULES = [
    (r"quality of the review|methodological quality", "other"),
    (r"cost", "cost"),
    (r"hospital|readmission|inpatient", "hospitalisation"),
    (r"crisis|emergency|acute care", "crisis/ED use"),
    (r"overdose|substance|alcohol|drug use|relapse|moud", "substance use"),
    (r"engagement|initiation|retention|appointment|attrition|primary care visit|treatment engagement", "engagement"),
    (r"recovery", "recovery"),
    (r"hope", "hope"),
    (r"empower|activation|confidence", "empowerment"),
    (r"quality of life", "quality of life"),
    (r"symptom|depression|anxiety", "symptoms"),
    (r"service use", "service use"),
    (r"satisfaction", "other"),
    (r"adverse", "other"),
    (r"regard|understanding", "other"),
]

POPULATION_RULES = [
    (r"co-occurring|dual diagnosis|co-occurring mh", "co-occurring"),
    (r"\bSUD\b|substance|opioid|alcohol|addiction", "SUD"),
    (r"\bSMI\b|schizophrenia|severe|serious|major mental|psychotic|secondary mh", "SMI"),
    (r"mental|psychiatric|diagnoses", "mental health (mixed)"),
]

DESIGN_RULES = [
    (r"umbrella", "umbrella review"),
    # "(no meta-analysis)" (Bassuk 2016, Chinman 2014) must not read as a review with one.
    (r"(?<!no )meta-analysis", "systematic review with meta-analysis"),
    (r"review", "systematic review"),
    (r"cluster RCT", "cluster RCT"),
    (r"RCT", "RCT"),
    (r"quasi-experimental", "quasi-experimental"),
    (r"pre-post|single-group", "pre-post or single group"),
    (r"observational", "observational cohort"),
]

SETTING_RULES = [
    (r"jail|criminal", "criminal justice"),
    (r"emergency|\bEDs?\b", "emergency department"),
    (r"inpatient|hospital|discharge|admission|crisis resolution", "inpatient and transition from hospital"),
    (r"SUD|recovery support|recovery coach", "substance use treatment and recovery support"),
    (r"case manag|ACT|statutory|Medicaid|community|mental health services|VHA", "community mental health"),
]

PEER_ROLE_RULES = [
    (r"mutual support, peer support services", "mixed or not stated"),  # a review of several kinds
    (r"recovery coach|recovery specialist|recovery support|PRSS|CPRS|OORP|recovery program", "recovery coach or peer recovery specialist"),
    (r"wellness advocate|navigator", "peer navigator"),
    (r"mentor", "peer mentor"),
    (r"consumer-provider", "consumer-provider"),
    (r"peer specialist|\bPSs\b|peer support services|peer support program|Friends Connection|Vet-to-Vet", "peer support specialist"),
    (r"case manag", "peer case manager"),
    (r"group peer|mutual support|citizenship group", "group or mutual support"),
]

US_STATES = {
    "New Jersey", "Georgia", "Connecticut", "Rhode Island", "New York", "Montana", "Oregon",
}


def item_key(seed_id: str) -> str:
    """A stable 8-character Zotero-style key derived from a seed identifier."""
    digest = int.from_bytes(hashlib.sha256(seed_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(8):
        digest, rem = divmod(digest, len(KEY_ALPHABET))
        chars.append(KEY_ALPHABET[rem])
    return "".join(chars)


def classify(text: str, rules: list[tuple[str, str]], default: str) -> str:
    for pattern, label in rules:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return label
    return default


# Outcomes where less is better.  "inpatient" was missing (Chinman 2014's "inpatient service use"
# came out 'higher'); a bare "days" was too broad ("within 30 days", "at 30/60/90 days" made
# treatment engagement and MOUD initiation 'lower'): hospital days and days of use are caught by
# "hospital" and "substance".
LOWER_IS_BETTER = r"hospital|readmission|admission|inpatient|crisis|emergency|acute care|symptom|anxiety|depression|" \
    r"overdose|substance|drug|alcohol|relapse|adverse|attrition|cost"
# Outcomes named after something bad that are measured as its absence: more is better.
HIGHER_IS_BETTER = r"time out of (the )?hospital|community tenure"


def outcome_sense(outcome: str) -> str:
    """'lower' or 'higher': which way is better for an outcome label, by its first-named outcome."""
    first = outcome.split(";")[0]
    if re.search(HIGHER_IS_BETTER, first, re.IGNORECASE):
        return "higher"
    return "lower" if re.search(LOWER_IS_BETTER, first, re.IGNORECASE) else "higher"


def is_descriptive(row: dict) -> bool:
    """A finding with no comparison (a percentage engaged, a quality rating): it has no direction."""
    return row["direction"].strip().lower().startswith("n/a")


def better_direction(row: dict, effect: bool) -> str:
    """Which way is better for this finding: the seed's own coding, else the outcome's usual sense
    corrected by the source.

    A seed ``better`` column wins (it records a checked sign convention with its reason in
    ``notes``).  A descriptive finding gets 'unclear': it compares nothing.  Where the source
    reports a significant effect favouring one arm, its sign fixes the direction (this is how the
    Lloyd-Evans SMDs tabulated as negative improvements get 'lower').
    """
    if row.get("better", "").strip():
        return row["better"].strip()
    if is_descriptive(row):
        return "unclear"
    default = outcome_sense(row["outcome"])
    if not effect:
        return default
    estimate, low, high = (float(row[c]) for c in ("estimate", "ci_low", "ci_high"))
    null = 1.0 if re.match(r"(RR|OR|HR)\b", row["effect_measure"]) else 0.0
    if (low > null or high < null) and row["direction"].startswith(("favours peer", "favours control")):
        above = estimate > null
        favours_peer = row["direction"].startswith("favours peer")
        return "higher" if above == favours_peer else "lower"
    return default


# A trial's raw data per arm, as its source prints them (issue 17): binary outcomes give events
# and totals, continuous ones means, SDs and totals.  Nothing here is computed: a finding has
# either one complete set or none, and its quote (or its notes, naming the page) holds every number.
BINARY_FIELDS = ("events_peer", "n_peer", "events_comparison", "n_comparison")
CONTINUOUS_FIELDS = ("mean_peer", "sd_peer", "n_peer", "mean_comparison", "sd_comparison", "n_comparison")
RAW_FIELDS = tuple(dict.fromkeys(BINARY_FIELDS + CONTINUOUS_FIELDS))
RAW_MEASURES = {"binary": ("RR", "OR", "RD"), "continuous": ("MD", "SMD")}


def raw_data_is_read(known: "dict | set | tuple | None" = None) -> bool:
    """Whether the extraction-note parser reads the raw-data fields yet.

    Until it does, a note carrying them would be an unknown-field warning on every trial and a
    raw-data finding with a measure but no estimate would be refused; so the importer writes them
    only once the parser knows them, and the bundled snapshot changes exactly then.
    """
    return set(RAW_FIELDS) <= set(OUTCOME_FIELDS if known is None else known)


def raw_data(row: dict) -> tuple[str, dict[str, str]]:
    """('binary' | 'continuous' | '', the raw fields given) for a seed row; bad input raises a
    ValueError naming the row and the field."""
    given = {f: v for f in RAW_FIELDS if (v := row.get(f, "").strip())}
    if not given:
        return "", {}
    for field, value in given.items():
        if not is_number(value):
            raise ValueError(f"{row['id']}: {field} {value!r} is not a number")
    kind = "continuous" if any(f.startswith(("mean_", "sd_")) for f in given) else "binary"
    wanted = CONTINUOUS_FIELDS if kind == "continuous" else BINARY_FIELDS
    missing = [f for f in wanted if f not in given]
    if missing:
        raise ValueError(f"{row['id']}: {kind} raw data needs {', '.join(missing)} as well")
    measure = row.get("raw_measure", "").strip()
    if measure and measure not in RAW_MEASURES[kind]:
        raise ValueError(f"{row['id']}: raw_measure {measure!r} does not suit {kind} data "
                         f"(one of {', '.join(RAW_MEASURES[kind])})")
    return kind, {f: given[f] for f in wanted}


def creators(authors: str) -> tuple[list[dict], list[str]]:
    """Parse 'Lloyd-Evans B, Mayo-Wilson E' into Zotero creators; report what could not be read."""
    people, flags = [], []
    for token in [t.strip() for t in authors.split(",") if t.strip()]:
        match = re.fullmatch(r"([A-Z][\w'\-]+(?: [A-Z][\w'\-]+)*) ([A-Z]{1,3})", token)
        if match:
            people.append({"creatorType": "author", "firstName": match[2], "lastName": match[1]})
        elif re.fullmatch(r"[A-Z][\w'\-]+ et al\.", token):
            people.append({"creatorType": "author", "firstName": "", "lastName": token.split()[0]})
            flags.append("author list incomplete")
        else:
            flags.append("author list incomplete")
    if not people:
        flags.append("authors not captured")
    return people, sorted(set(flags))


def journal_fields(journal: str) -> dict[str, str]:
    """'BMC Psychiatry 14:39' -> publicationTitle, volume, pages; unreadable -> as is."""
    if journal.startswith("(not captured"):
        return {"publicationTitle": ""}
    match = re.fullmatch(r"(.*?) (\d+)(?:\((\d+)\))?(?::(\S+))?", journal)
    if match and not journal.startswith("Cochrane"):
        return {"publicationTitle": match[1], "volume": match[2], "issue": match[3] or "", "pages": match[4] or ""}
    return {"publicationTitle": journal}


def is_number(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+(\.\d+)?", text.strip()) is not None


def p(key: str, value: str) -> tuple[str, str]:
    """One ``key: value`` line of a note (written by the package's note writer, evidencebook.write_note)."""
    if "\n" in value:
        raise ValueError(f"multi-line value for {key!r}: {value!r}")
    return key, value


def heading(text: str) -> tuple[str, str]:
    """A section heading of a note ("Study", "Outcome O12", "Policy fact P1")."""
    return "#", text


def sections(body: list[tuple[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """A flat list of headings and fields as the note writer's sections."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for key, value in body:
        if key == "#":
            out.append((value, []))
        else:
            out[-1][1].append((key, value))
    return out


def optional(row: dict, *fields: str) -> list[str]:
    """Note lines for the coding fields a seed row fills; a field it leaves empty is left out."""
    return [p(field, value) for field in fields if (value := row.get(field, "").strip())]


def note_item(key: str, parent: str, version: int, title: str, body: list[tuple[str, str]], tag: str) -> dict:
    return {
        "key": key,
        "version": version,
        "library": LIBRARY,
        "meta": {},
        "data": {
            "key": key,
            "version": version,
            "itemType": "note",
            "parentItem": parent,
            "note": write_note(title, sections(body)),
            "tags": [{"tag": tag}],
            "relations": {},
            "dateAdded": IMPORTED,
            "dateModified": IMPORTED,
        },
    }


def parent_item(key: str, version: int, data: dict, tags: list[str]) -> dict:
    base = {
        "key": key,
        "version": version,
        "itemType": "journalArticle",
        "title": "",
        "creators": [],
        "abstractNote": "",
        "date": "",
        "DOI": "",
        "url": "",
        "citationKey": "",
        "extra": "",
        "tags": [{"tag": t} for t in tags],
        "collections": [],
        "relations": {},
        "dateAdded": IMPORTED,
        "dateModified": IMPORTED,
    }
    base.update(data)
    return {"key": key, "version": version, "library": LIBRARY, "meta": {}, "data": base}


def study_items(rows: list[dict], version: int, write_raw_data: bool | None = None) -> tuple[list[dict], int]:
    """Parent items and extraction notes for the seed's findings; raw data per arm is written
    when ``write_raw_data`` (default: when the parser reads those fields)."""
    if write_raw_data is None:
        write_raw_data = raw_data_is_read()
    groups: "OrderedDict[str, list[dict]]" = OrderedDict()
    for row in rows:
        # A publication is its DOI, title, authors and year together: several rows lack a DOI
        # and a title ("(not captured)"), and must not merge into one study.
        groups.setdefault((row["doi"], row["title"], row["authors"], row["year"]), []).append(row)
    items = []
    for rows_of_study in groups.values():
        first = rows_of_study[0]
        key = item_key("study:" + first["id"])
        people, flags = creators(first["authors"])
        year = re.search(r"\d{4}", first["year"])
        if not year or not re.fullmatch(r"\d{4}", first["year"]):
            flags.append(f"year as recorded: {first['year']}")
        review = "review" in first["design"].lower()
        data = {
            "title": first["title"],
            "creators": people,
            "date": year[0] if year else "",
            "DOI": first["doi"],
            "url": f"https://doi.org/{first['doi']}" if first["doi"] else first["source_url_read"],
            **journal_fields(first["journal"]),
        }
        if first["authors"] and not people:
            data["extra"] = f"Authors as recorded: {first['authors']}"
        # A pinned key keeps a trial's citation key fixed, so reviews can name it in 'includes'.
        if first.get("citation_key", "").strip():
            data["citationKey"] = first["citation_key"].strip()
        version += 1
        items.append(parent_item(key, version, data, ["screen:TA:include", "screen:FT:include"]))
        states = sorted({s.split(" (")[0] for r in rows_of_study if (s := r["us_state"])} & US_STATES)
        body = [
            heading("Study"),
            p("study_type", "review" if review else "primary"),
            p("design", first["design"]),
            p("design_type", classify(first["design"], DESIGN_RULES, "other")),
            p("population", first["population"]),
            p("population_group", classify(first["population"], POPULATION_RULES, "other")),
            p("setting", first["setting"]),
            p("setting_type", classify(first["setting"], SETTING_RULES, "mixed or not stated")),
            p("peer_role", classify(first["setting"] + " " + first["comparison"], PEER_ROLE_RULES, "mixed or not stated")),
            p("country", first["country"]),
            p("us_state", "; ".join(states)),
            p("risk_of_bias", first.get("risk_of_bias", "") or "not assessed"),
            *optional(first, "review_quality", "review_quality_source", "same_study_as", "includes"),
            p("confidence", "low" if flags else "as recorded"),
            p("confidence_reason", "; ".join(flags)),
            p("coded_by", "evidencebook seed import (rule-based classification of the seed's wording)"),
        ]
        for row in rows_of_study:
            effect = all(is_number(row[c]) for c in ("estimate", "ci_low", "ci_high"))
            measure = row["effect_measure"]
            base = re.match(r"(SMD|MD|RR|OR|HR|Hedges g)\b", measure)
            if effect and not base:
                raise ValueError(f"{row['id']}: unknown effect measure {measure!r}")
            kind, raw = raw_data(row)
            raw_measure = row.get("raw_measure", "").strip()
            if raw and not effect and not raw_measure:
                raise ValueError(f"{row['id']}: raw data without an estimate needs raw_measure (the review's measure)")
            if raw and effect and raw_measure and raw_measure != base[1]:
                raise ValueError(f"{row['id']}: raw_measure {raw_measure} differs from the reported {base[1]}")
            if raw and effect and base[1] not in RAW_MEASURES[kind]:
                raise ValueError(f"{row['id']}: {base[1]} cannot be computed from {kind} raw data; give raw_measure")
            write_raw = bool(raw) and write_raw_data
            body += [
                heading(f"Outcome {row['id']}"),
                p("outcome", row["outcome"]),
                p("domain", classify(row["outcome"], DOMAIN_RULES, "other")),
                p("comparison", row["comparison"]),
                *optional(row, "comparison_type", "review_certainty", "synthesis_group"),
                p("measure", base[1] if effect else raw_measure if write_raw else "narrative"),
                p("measure_as_reported", measure if effect and measure != base[1] else ""),
                p("better", better_direction(row, effect)),
                p("estimate", row["estimate"] if effect else ""),
                p("ci_low", row["ci_low"] if effect else ""),
                p("ci_high", row["ci_high"] if effect else ""),
                *([p(f, v) for f, v in raw.items()] if write_raw else []),
                p("reported_statistic", "" if effect else " ".join(x for x in (measure, row["estimate"]) if x)),
                p("n_studies", row["n_studies"]),
                p("n_participants", row["n_participants"]),
                p("direction", row["direction"]),
                p("quote", row["quote"]),
                p("source_url", row["source_url_read"]),
                p("source_type", row["source_type"]),
                p("notes", row["notes"]),
            ]
        version += 1
        items.append(note_item(item_key("note:" + first["id"]), key, version, "Extraction", body, "extraction"))
    return items, version


def policy_items(rows: list[dict], version: int) -> tuple[list[dict], int]:
    groups: "OrderedDict[str, list[dict]]" = OrderedDict()
    for row in rows:
        groups.setdefault(row["source_url"], []).append(row)
    items = []
    for url, facts in groups.items():
        key = item_key("policy:" + url)
        parsed = urlparse(url)
        version += 1
        data = {
            "itemType": "webpage",
            "title": (parsed.netloc + parsed.path).rstrip("/"),
            "websiteTitle": parsed.netloc,
            "url": url,
        }
        for field in ("publicationTitle", "DOI"):
            data[field] = ""
        items.append(parent_item(key, version, data, ["policy-source"]))
        body = []
        for fact in facts:
            body += [heading(f"Policy fact {fact['id']}")]
            body += [p(k, fact[k]) for k in ("state", "fact", "value", "as_of", "quote", "source_type", "notes")]
        version += 1
        items.append(note_item(item_key("policy-note:" + url), key, version, "Policy facts", body, "policy"))
    return items, version


# The five gray-literature documents: what each is, read from its own first lines.
#
# Each finding is (domain, quote, theme, outcome): the quote is verbatim from the document (a
# sentence or bullet; whitespace is normalised when it is checked, so a quote may run across the
# line breaks of the slide deck), the theme is one of evidencebook._vocabulary.THEMES, and the outcome
# label says whether the passage states a barrier, a recommendation or a description.  Finding ids
# are <document>-<position>: new findings go at the end of a document's list, never in between.
#
# "note_edit" marks a document whose extraction note was edited after the first import (the
# themes and outcome labels were coded then): the number is the edit, i.e. the sync that uploaded
# it (see NOTE_EDITS).
DOCUMENTS = {
    "000_d4f1131c2a464b7e.txt": {
        "itemType": "webpage",
        "citationKey": "coreSouthernOregon",
        "title": "CORE: Strengthening the peer workforce in Southern Oregon",
        "websiteTitle": "Providence Center for Outcomes Research & Education (CORE)",
        # The address recorded for policy fact P200 (evidence/seed/state_policy.csv); the stored page
        # there carries this text under its date, February 13, 2023 (an undated copy is stored at
        # https://es.providence.org/news/uf/681330324?streamId=7302425).
        "url": "https://blog.providence.org/center-for-outcomes-research-education/strengthening-the-peer-workforce-in-southern-oregon",
        "study": {"us_state": "Oregon", "region": "southern-oregon",
                  "design": "regional evidence review, interviews and focus groups (gray literature)"},
        "source_type": "gray literature (organisation web page)",
        "note_edit": 1,
        "findings": [
            ("workforce", "peers and supervisors from 14 different agencies",
             "other", "description: who took part"),
            ("workforce", "Encourage direct supervision by peers themselves and/or co-supervision models so that all "
                          "peers have access to supervisors with experiential knowledge of peer services.",
             "supervision by peers", "recommendation: supervision by peers"),
            ("workforce", "Give supervisors time and encouragement to meet individually with peer staff at least once "
                          "a month.",
             "supervision by peers", "recommendation: monthly one-to-one supervision"),
            ("workforce", "In 2007, the Centers for Medicare and Medicaid Services recognized peer support services as "
                          "an evidence-based model of care for mental and behavioral health and approved coverage for "
                          "the provision of peer services.",
             "funding and billing", "description: Medicaid coverage of peer services since 2007"),
            ("workforce", "Invest in training and cultivate a culture that supports professional development and "
                          "continuous learning.",
             "training and certification", "recommendation: invest in training"),
            ("workforce", "Educate leaders and decision-makers about peers\u2019 roles and scope.",
             "role clarity", "recommendation: educate leaders about peer roles"),
            ("workforce", "Provide peers with opportunities for growth and leadership and link them to training and "
                          "skill development for those future roles.",
             "career paths", "recommendation: growth and leadership opportunities"),
            ("workforce", "Identify community-centered care networks already in existence to increase access to "
                          "culturally and linguistically specific peer services.",
             "culturally specific services", "recommendation: culturally and linguistically specific services"),
            ("workforce", "I feel like the reason that we don't reach the Spanish as a first language population is "
                          "because we offer everything in English and then they have to try and fit in.",
             "culturally specific services", "barrier: services offered only in English"),
        ],
    },
    "001_f150d3bfe41e8bd4.txt": {
        "itemType": "blogPost",
        "citationKey": "threnhauserOpenMinds",
        # No address: no stored page with this text was found (searched by title words and by its quotes).
        "title": "OPEN MINDS article on adding peer support specialists to service delivery teams (title not captured)",
        "creators": [{"creatorType": "author", "firstName": "Sarah C.", "lastName": "Threnhauser"}],
        "study": {"design": "practice article (gray literature)"},
        "source_type": "gray literature (practice article, blog post)",
        "note_edit": 1,
        "findings": [
            ("workforce", "Involve peers as you would other staff in the organization\u2019s decision-making process.",
             "integration into teams", "recommendation: involve peers in decision-making"),
            ("workforce", "Pay them a fair wage and offer them access to continuing education so they can continue to "
                          "build skills and serve your clients.",
             "pay and benefits", "recommendation: pay a fair wage"),
            ("workforce", "Role confusion\u2014Often job descriptions are unclear, and staff does not know what to do "
                          "with peer staff.",
             "role clarity", "barrier: unclear job descriptions"),
            ("workforce", "Because the staff team has usually not had any orientation to the work of peers, often "
                          "peers are not invited to the table, not involved in committees, not involved in meetings, "
                          "not informed or asked about organizational changes.",
             "integration into teams", "barrier: peers left out of the team"),
            ("workforce", "Peers are sometimes treated as fragile and the company might make special allowance for "
                          "behavior not acceptable in other staff.",
             "stigma and organisational culture", "barrier: peers treated as fragile"),
            ("workforce", "It is not unusual for the peer to mistakenly be supervised as a \u201cmini therapist\u201d "
                          "or \u201cjunior social worker\u201d because that is the field the supervisor knows best.",
             "supervision by peers", "barrier: supervisors who do not know peer work"),
            ("workforce", "Hiring peers as supervisors is an effective way to ensure peer roles remain peer and are "
                          "optimized for success.",
             "supervision by peers", "recommendation: hire peers as supervisors"),
            ("workforce", "Successful peers should also be considered for other leadership and administrative roles "
                          "as they demonstrate their effectiveness",
             "career paths", "recommendation: leadership and administrative roles"),
        ],
    },
    "002_50f5f8cbdc16af86.txt": {
        "itemType": "blogPost",
        "citationKey": "omniRecoveryMonth",
        "title": "National Recovery Month | Exploring the World of Peer Recovery Specialists",
        # Found by its title and first paragraphs, which the stored page at this address shares word for word.
        "url": "https://omni.org/blog/2020/09/09/2020-9-9-national-recovery-month-exploring-the-world-of-peer-recovery-specialists",
        "study": {"us_state": "Virginia", "design": "practice article (gray literature)"},
        "source_type": "gray literature (organisation blog post)",
        "note_edit": 1,
        "findings": [
            ("workforce", "However, peers are still relatively new to the behavioral health scene, and there isn't "
                          "yet a clear roadmap for how to effectively integrate peers into existing provider "
                          "organizations.",
             "integration into teams", "barrier: no roadmap for integrating peers"),
            ("workforce", "Administrators, clinicians, and other traditionally educated or trained staff can be wary "
                          "of peers in their organization, since peers, though trained for their role, often "
                          "don\u2019t have the same professional education or naturally fit in with established "
                          "organizational hierarchies.",
             "stigma and organisational culture", "barrier: staff wary of peers"),
            ("workforce", "Peers and clinical staff come from different worlds and use different terminology which "
                          "can result in barriers to respectful communication between the two groups.",
             "integration into teams", "barrier: different terminology"),
            ("workforce", "People often hold on to prejudices that peers can't get the job done, or that they oppose "
                          "the use of prescribed medication in recovery, Others worry that adding peers to the team "
                          "will take up too many already scarce resources.",
             "stigma and organisational culture", "barrier: prejudice against peers"),
        ],
    },
    "003_4232182b00191c6c.txt": {
        "itemType": "presentation",
        "citationKey": "peerStaffTrainingDeck",
        # No address: no stored page with this text was found (searched by its quotes).
        "title": "Training deck on implementing peer staff: research, barriers and roles (title not captured)",
        "study": {"design": "training presentation (gray literature)"},
        "source_type": "gray literature (training presentation slides)",
        "note_edit": 1,
        "findings": [
            ("workforce", "Changing culture is more than hiring staff \u2013 it takes a team",
             "stigma and organisational culture", "recommendation: organisational buy-in"),
            ("workforce", "Provide a comprehensive training program - communicate role and responsibilities of peer "
                          "workforce, concepts of recovery and self- help to; non-peer staff including supervisors, "
                          "administration, and management",
             "role clarity", "recommendation: train non-peer staff in the peer role"),
            ("workforce", "Develop Clear Job Descriptions If you understand peer support the job description will "
                          "reflect that. One strategy to prevent drift to the mean\u2014peer support staff ending up "
                          "filing papers",
             "role clarity", "recommendation: clear job descriptions"),
            ("workforce", "Salary has a huge impact on success of peer support staff: \u2022 Coming off of benefits "
                          "can be a scary thing",
             "pay and benefits", "barrier: salary and loss of benefits"),
            ("workforce", "Increase success by providing health insurance and a living",
             "pay and benefits", "recommendation: health insurance and a living"),
            ("workforce", "Involve all staff in understanding the principles and values of peer support services, "
                          "competencies taught the peer workforce, and their code of ethics",
             "integration into teams", "recommendation: involve all staff in peer values"),
            ("workforce", "Supervision: Cultural Humility and Confronting Internal Bias No matter how supportive you "
                          "are of peer support you will find your own rough edges",
             "stigma and organisational culture", "recommendation: supervisors confront internal bias"),
        ],
    },
    "004_b07fc98a3aee5f2b.txt": {
        "itemType": "webpage",
        "citationKey": "ucsfPeerLandscape",
        "title": "The Peer Provider Workforce in Behavioral Health: A Landscape Analysis (announcement)",
        "websiteTitle": "UCSF Health Workforce Research Center on Long-Term Care",
        # Found by its title, which the stored page at this address opens with, followed by the same text.
        "url": "https://healthworkforce.ucsf.edu/news/ucsf-health-workforce-research-center-long-term-care-announces-peer-provider-workforce",
        "study": {"design": "landscape analysis announcement (gray literature)"},
        "source_type": "gray literature (announcement of a literature review, web page)",
        "note_edit": 1,
        "findings": [
            ("workforce", "This stigma creates challenges in employing peer providers alongside non-peer colleagues, "
                          "especially in traditional treatment settings and the friction between traditional and "
                          "recovery-oriented systems of care is an additional barrier to integrating peer providers.",
             "stigma and organisational culture", "barrier: stigma and friction with traditional care"),
            ("workforce", "Concerns have been raised that standardization and professionalization of the role might "
                          "jeopardize the special components of peer support that speak to lived experience, despite "
                          "the potential benefits of such professionalization, including expansion of roles, greater "
                          "capacity to serve people in need, and paid employment.",
             "training and certification", "barrier: professionalisation may dilute lived experience"),
        ],
    },
}
# Edits made in Zotero after the first import, by number: the date each was made.  Zotero gives
# every item uploaded in one write the same new library version, so the notes changed in edit N
# get version (last imported version + N), and the library version follows.
NOTE_EDITS = {1: "2026-11-29T00:00:00Z"}
_NOT_ITEM_FIELDS = ("study", "findings", "source_type", "note_edit")


def document_items(seed: Path, version: int) -> tuple[list[dict], int]:
    items, edited = [], []
    for name, doc in DOCUMENTS.items():
        text = (seed / "documents" / name).read_text(encoding="utf-8")
        key = item_key("document:" + name)
        data = {k: v for k, v in doc.items() if k not in _NOT_ITEM_FIELDS}
        data["extra"] = f"Source file: evidence/seed/documents/{name}"
        version += 1
        items.append(parent_item(key, version, data, ["screen:FT:include", "gray-literature"]))
        study = doc["study"]
        body = [
            heading("Study"),
            p("study_type", "gray literature"),
            p("design", study["design"]),
            p("design_type", "gray literature"),
            p("us_state", study.get("us_state", "")),
            p("region", study.get("region", "")),
            p("risk_of_bias", "not assessed"),
            p("coded_by", "evidencebook seed import"),
        ]
        for i, (domain, quote, theme, outcome) in enumerate(doc["findings"], start=1):
            if " ".join(quote.split()) not in " ".join(text.split()):
                raise ValueError(f"{name}: quote not found verbatim: {quote!r}")
            if theme not in THEMES:
                raise ValueError(f"{name}: theme {theme!r} is not one of {THEMES}")
            if not re.match(r"(barrier|recommendation|description)\b", outcome):
                raise ValueError(f"{name}: outcome {outcome!r} should say barrier, recommendation or description")
            body += [
                heading(f"Outcome {name[:3]}-{i}"),
                p("outcome", outcome),
                p("domain", domain),
                p("theme", theme),
                p("measure", "narrative"),
                p("direction", "n/a (descriptive)"),
                p("quote", quote),
                p("source_type", doc["source_type"]),
            ]
        version += 1
        note = note_item(item_key("document-note:" + name), key, version, "Extraction", body, "extraction")
        items.append(note)
        if doc.get("note_edit"):
            edited.append((note, doc["note_edit"]))
    imported = version
    for note, edit in edited:
        note["version"] = note["data"]["version"] = imported + edit
        note["data"]["dateModified"] = NOTE_EDITS[edit]
        version = max(version, imported + edit)
    return items, version


def main(seed: Path = SEED, snapshot: Path = SNAPSHOT) -> None:
    with (seed / "outcomes.csv").open(encoding="utf-8") as f:
        outcomes = list(csv.DictReader(f))
    with (seed / "state_policy.csv").open(encoding="utf-8") as f:
        policy = list(csv.DictReader(f))
    items, version = study_items(outcomes, 0)
    more, version = policy_items(policy, version)
    items += more
    more, version = document_items(seed, version)
    items += more
    keys = [i["key"] for i in items]
    assert len(keys) == len(set(keys)), "item key collision"
    write_snapshot(snapshot, items, library={**LIBRARY, "version": version})
    print(f"wrote {len(items)} items (library version {version}) to {snapshot}")


if __name__ == "__main__":
    main()
