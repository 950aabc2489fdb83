"""The identities the tables publish: each study's citation key and each finding's id, unique and stable.

A published identity stays with its item; a newcomer that asks for one is refused (and told who holds it),
so that a citation or a link to a finding never moves to another study between two builds.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ._errors import Problem
from ._notes import plain

__all__ = ["Published"]


def pinned_key(data: dict[str, Any]) -> str:
    """Zotero 8's citationKey, else Better BibTeX's pinned key in Extra, else ''."""
    if data.get("citationKey", "").strip():
        return str(data["citationKey"]).strip()
    for line in data.get("extra", "").splitlines():
        match = re.match(r"^\s*(citation key|bibtex)\s*:\s*(\S+)\s*$", line, re.IGNORECASE)
        if match:
            return match[2]
    return ""


_KEY_CHARS = re.compile(r"[A-Za-z0-9_:.+/-]+")  # what BibTeX, Sphinx and an HTML anchor all accept


def usable_key(key: str) -> bool:
    return bool(_KEY_CHARS.fullmatch(key))


def _generated_key(data: dict[str, Any]) -> str:
    """firstauthorYEARword, e.g. lloydevans2014systematic (ASCII, lower case)."""
    creators = data.get("creators") or [{}]
    first = creators[0].get("lastName") or creators[0].get("name") or "anon"
    year = (re.search(r"[0-9]{4}", data.get("date", "")) or [""])[0]  # ASCII digits: the key goes into BibTeX
    word = next((w for w in re.findall(r"[A-Za-z]+", data.get("title", "")) if len(w) > 3), "item")
    ascii_name = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_name.lower()) + year + word.lower()


@dataclass(frozen=True)
class Published:
    """Identities the evidence tables already publish: each stays with its item.

    ``citation_keys`` maps a study's item key to its published citation key; ``finding_ids`` maps a
    published finding id to the item key of its study.  :func:`code_items` gives a contested identity
    to the item that publishes it, then to the item added to Zotero first (then the lower key).
    """

    citation_keys: Mapping[str, str] = field(default_factory=dict)
    finding_ids: Mapping[str, str] = field(default_factory=dict)


def first_come(parents: Mapping[str, dict[str, Any]]) -> list[str]:
    """Item keys in the order the items were added to Zotero, then by key (an item without a date comes last)."""
    return sorted(parents, key=lambda k: (str(parents[k]["data"].get("dateAdded") or "~"), k))


def unique_citation_keys(parents: Mapping[str, dict[str, Any]], order: list[str], published: Mapping[str, str],
                   describe: Callable[[str], str]) -> tuple[dict[str, str], list[Problem]]:
    """Every item's citation key, unique (BibTeX compares keys without case), and the collisions met.

    A published key stays with its item as long as the item still asks for it (its pin, or its generated
    key); then pinned keys, then generated ones, each first come first served.  A pinned key that another
    item holds is refused (error) and the item keeps its published key or gets its generated one; a
    generated key that another item holds gets the item's own key as a suffix (warning).  Suffixing never
    fails: a suffixed key that is taken too gets a number.
    """
    pinned = {k: pinned_key(parents[k]["data"]) for k in order}
    pinned = {k: value if usable_key(value) else "" for k, value in pinned.items()}
    base = {k: _generated_key(parents[k]["data"]) for k in order}
    holder: dict[str, str] = {}  # casefolded key -> item key
    keys: dict[str, str] = {}

    def take(item: str, key: str) -> None:
        holder[key.casefold()] = item
        keys[item] = key

    def asks_for(item: str, key: str) -> bool:  # its pinned key, or a generated one (a refused pin falls back to it)
        own = f"{base[item]}-{item.lower()}"
        return key in (pinned[item], base[item], own) or re.fullmatch(re.escape(own) + r"-[0-9]+", key) is not None

    reserved: dict[str, str] = {}  # item -> the published key it keeps (unless its pin is free)
    for item in order:
        key = published.get(item, "")
        if key and asks_for(item, key) and key.casefold() not in holder:
            holder[key.casefold()] = item
            reserved[item] = key
    refused: dict[str, str] = {}  # item -> the holder of the key it pinned
    waiting = [item for item in order if pinned[item]]
    while waiting:  # an item that gets its pin frees its published fallback, which another pin may be waiting for
        freed = False
        for item in waiting:
            owner = holder.get(pinned[item].casefold(), item)
            if owner != item:
                refused[item] = owner
                continue
            refused.pop(item, None)
            fallback = reserved.pop(item, pinned[item])
            if fallback.casefold() != pinned[item].casefold():
                del holder[fallback.casefold()]
                freed = True
            take(item, pinned[item])
        waiting = [item for item in refused if freed]
    for item in order:
        if item not in keys and item in reserved:
            take(item, reserved[item])
    for item in order:
        if item not in keys:
            key, number = base[item], 1
            while key.casefold() in holder:
                number += 1
                key = f"{base[item]}-{item.lower()}" + (f"-{number - 1}" if number > 2 else "")
            take(item, key)
    # Said on every build while it holds (not only when first given), so that the tables of an unchanged library
    # are the same from one build to the next.
    problems = []
    for item in order:
        key = keys[item]
        if item in refused:
            owner = refused[item]
            problems.append(Problem(item, 0, "citationKey", f"citation key {pinned[item]!r} is already the key of "
                                    f"item {owner} ({describe(owner)}); this item is cited as {key!r} until you "
                                    "pin another key in Zotero"))
        elif key not in (pinned[item], base[item]) and holder.get(base[item].casefold(), item) != item:
            owner = holder[base[item].casefold()]
            problems.append(Problem(item, 0, "citationKey", f"the generated citation key {base[item]!r} is already "
                                    f"the key of item {owner} ({describe(owner)}); this item is cited as {key!r} "
                                    "(pin a key in Zotero to choose another)", "warning"))
    return keys, problems


# A finding id claimed by a note: (finding id, item key, note key, note line, the finding's record or None when it
# was left out for an error; it still holds its id).
Claim = tuple[str, str, str, int, "dict[str, Any] | None"]


def unique_findings(claims: list[Claim], order: list[str],
                     published: Mapping[str, str], descriptions: Mapping[str, str],
                     ) -> tuple[list[dict[str, Any]], list[Problem]]:
    """One finding per id: the item that publishes it keeps it, else the item added first; the others are
    reported (at their own note line, naming the holder) and left out."""
    rank = {key: position for position, key in enumerate(order)}
    by_id: dict[str, list[Claim]] = {}
    for claim in claims:
        by_id.setdefault(claim[0], []).append(claim)
    kept, problems = [], []
    for finding_id, rivals in by_id.items():
        rivals.sort(key=lambda c: (rank[c[1]], c[2], c[3]))
        # The publisher keeps its id even while its finding has an error (a newcomer cannot slip in meanwhile);
        # otherwise the first finding that can be used, else the first.
        owner = published.get(finding_id)
        mine = [c for c in rivals if c[1] == owner] or rivals
        winner = next((c for c in mine if c[4] is not None), mine[0])
        if winner[4] is not None:
            kept.append(winner[4])
        for _, item, note_key, line, _record in rivals:
            if (item, note_key, line) == winner[1:4]:
                continue
            where = (f"line {winner[3]} of this note" if note_key == winner[2] else
                     f"item {winner[1]} ({descriptions[winner[1]]}), note {winner[2]}, line {winner[3]}")
            problems.append(Problem(note_key, line, "id", f"finding id {plain(finding_id, 40)} is already used by "
                                    f"{where}; this finding was left out: give it another id"))
    return kept, problems
