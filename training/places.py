"""Which country a text is about, from the place names its training notes taught.

ACLED notes name villages, counties and provinces ("Trans Mara, Narok County"), rarely the
country. A closed-set head that never saw Kenya's police answers "Police Forces of Sri
Lanka" for "A police officer shot dead a driver in Trans Mara, Narok County": the role is
right, the country is a guess. The places table, learnt at training time from the notes'
capitalised words and their rows' `country`, gives the country back. Stored in the model
directory as `places.json` (a plain table, hash-verified with the rest).
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

PLACES = "places.json"
# a capitalised word or a run of them, hyphens and apostrophes inside ("Elgeyo-Marakwet", "Bu'ale")
CAPITALISED = re.compile(r"\b[A-Z][\w'’\-]{3,}(?:\s+[A-Z][\w'’\-]{3,})*")
MIN_ROWS = 3  # a word seen fewer times says nothing about a country
PURITY = 0.95  # and one seen in several countries' notes is not a place of one


def place_words(text: str) -> set[str]:
    """The capitalised words and word runs of a text: candidate place names."""
    out = set()
    for m in CAPITALISED.finditer(text):
        words = m.group(0).split()
        out.update(words)
        if len(words) > 1:
            out.add(" ".join(words))
    return out


def learn_places(texts: list[str], countries: list, min_rows: int = MIN_ROWS, purity: float = PURITY) -> dict[str, str]:
    """place word -> country, for words seen in at least `min_rows` texts of which at least
    `purity` share one country. Texts without a country are skipped."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for text, country in zip(texts, countries):
        if isinstance(country, str) and country:
            for word in place_words(text):
                seen[word][country] += 1
    table = {}
    for word, by_country in seen.items():
        n = sum(by_country.values())
        country, k = by_country.most_common(1)[0]
        if n >= min_rows and k / n >= purity:
            table[word] = country
    return dict(sorted(table.items()))


def country_of(text: str, table: dict[str, str]) -> str | None:
    """The one country the text's known place words point to; None when they point to none
    or disagree (a note about Kenya's police in Somalia names both)."""
    return dominant(Counter(table[w] for w in place_words(text) if w in table))


def dominant(votes: Counter) -> str | None:
    """The country with the most votes, when it has at least three times as many as any
    other; None when there are none or several come close."""
    if not votes:
        return None
    (country, k), *rest = votes.most_common()
    return country if not rest or k >= 3 * rest[0][1] else None


def read_places(folder: Path | None) -> dict[str, str]:
    """A model directory's places table; empty for directories written before it existed."""
    path = Path(folder) / PLACES if folder else None
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
