"""The actor names a model's training rows coded, so the linker can name a rare group in its
coders' form.

The closed-set head keeps the names seen `min_count` times; ACLED codes hundreds more, most
of them communal groups in one form: "Degodia Ethnic Militia (Kenya)", "Dozo Communal
Militia (Burkina Faso)", "Los Boshes Gang". Notes write them short ("Degodia militiamen
attacked ...", "Dozo militiamen", "Los Boshes"), so the span head's answer was right in
substance and wrong by name. The names table (learnt at training time from the rows' coded
actor, stored in the model directory as `names.json`, hash-verified with the rest) maps the
short form back. A name held out of training is never in it.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Callable

NAMES = "names.json"
# coders' categories (lower case), not names: the linker reads them too
CATEGORIES = {"other", "unidentified", "protesters", "rioters", "civilians"}
# ACLED's communal groups: "<who> Ethnic|Communal|Clan|Sub-Clan|Tribal Militia (<country>)", "<who> Gang"
KIN = re.compile(r"^(?P<who>.+?)\s+(?:(?:Ethnic|Communal|Clan|Sub-Clan|Tribal)\s+Militia|Gang)"
                 r"(?:\s+\((?P<country>[^()]+)\))?$")
# what a note writes after the short form: "Degodia militiamen", "Merille raiders", "Los Boshes gang members"
KIN_AFTER = re.compile(r"(?:\s+(?:ethnic|communal|clan|tribal|militias?|militiamen|raiders|fighters|youths?|gangs?|"
                       r"members|tribesmen|herders))+$", re.IGNORECASE)


def learn_names(actors) -> dict[str, int]:
    """coded actor name -> training rows, coders' categories left out."""
    counts = Counter(a for a in actors if isinstance(a, str) and a.strip() and a.lower() not in CATEGORIES)
    return dict(sorted(counts.items()))


def read_names(folder: Path | None) -> dict[str, int]:
    """A model directory's names table; empty for directories written before it existed."""
    path = Path(folder) / NAMES if folder else None
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def short_key(text: str) -> str:
    return re.sub(r"[\s\-]+", " ", text).strip().lower()


def kin_index(names) -> dict[str, list[tuple[str, str | None]]]:
    """short form (lower case) -> [(coded name, its country)] for the communal names."""
    index: dict[str, list[tuple[str, str | None]]] = {}
    for name in names:
        m = KIN.match(name)
        if m:
            index.setdefault(short_key(m.group("who")), []).append((name, m.group("country")))
    return index


def kin_name(index: dict, span_name: str, country: Callable[[], str | None]) -> str | None:
    """The coded name a short form stands for ("Degodia militiamen" -> "Degodia Ethnic Militia
    (Kenya)"): the only one with that short form, else the one of the text's country (asked of
    `country` only then: reading an article's places is the costly part)."""
    key = short_key(KIN_AFTER.sub("", span_name))
    found = index.get(key) or []
    if len(found) <= 1:
        return found[0][0] if found else None
    where = country()
    here = [n for n, c in found if where and c == where]
    return here[0] if len(here) == 1 else None
