"""Invented group names for the span head, so that it learns attribution from the sentence and
not from the names it has seen.

Distant supervision tags a name only where it is the coded actor. A name the training data
codes as the actor of none of its rows ("held out", or a group formed after the data) then
appears only untagged, as a target or in background, and the head learns that this name is
never the answer: on the unseen-actors benchmark it tagged almost nothing. Replacing the
coded actor's mentions in a share of the rows with an invented name ("Valori Liberation
Front") makes the head find the perpetrator by its role in the sentence ("... militants
claimed the attack"). The closed-set head sees those rows as `Other`: it cannot know the
invented group, which is also what it should answer for a real group it never saw.

State forces keep their names: news writes them as nationality + role ("Kenyan troops"),
which the states table composes for any country.
"""
from __future__ import annotations

import numpy as np

ONSETS = ["b", "d", "f", "g", "h", "k", "l", "m", "n", "r", "s", "t", "v", "z", "sh", "kh", "tr", "br"]
VOWELS = ["a", "e", "i", "o", "u", "a", "o"]
# shapes of real armed-group names, in the languages news copy carries them in
PATTERNS = ["{W} Liberation Front", "{W} Liberation Army", "{W} People's Defence Force", "{W} Ethnic Militia",
            "Ansar al-{W}", "Jama'at {W}", "{W} Brigades", "Liwa {W}", "{W} Revolutionary Army", "Bloque {W}",
            "Frente {W}", "Movement for the Defence of {W}", "{W} Cartel", "Kataib {W}", "{W} Salvation Front",
            "{W} Resistance Movement", "Army of {W}", "{W} Martyrs Brigade", "{W} Hills Defence Army",
            "Union of {W} Patriots", "{W} {V} Movement", "{A}"]


def invented_word(rng: np.random.Generator) -> str:
    syllables = int(rng.integers(2, 4))
    word = "".join(ONSETS[rng.integers(len(ONSETS))] + VOWELS[rng.integers(len(VOWELS))] for _ in range(syllables))
    return word.capitalize()


def invented_acronym(rng: np.random.Generator) -> str:
    return "".join(chr(ord("A") + int(rng.integers(26))) for _ in range(int(rng.integers(3, 5))))


def invented_name(rng: np.random.Generator) -> str:
    pattern = PATTERNS[rng.integers(len(PATTERNS))]
    return pattern.format(W=invented_word(rng), V=invented_word(rng), A=invented_acronym(rng))


def replace_spans(text: str, spans: list[tuple[int, int]], name: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` with every span replaced by `name`, and the new spans (spans do not overlap)."""
    out, new, last, shift = [], [], 0, 0
    for a, b in sorted(spans):
        out.append(text[last:a])
        start = a + shift
        out.append(name)
        new.append((start, start + len(name)))
        shift += len(name) - (b - a)
        last = b
    out.append(text[last:])
    return "".join(out), new


def disguise(texts: list[str], actors: list, mentions: list, share: float, is_group, other: str | None,
             seed: int) -> tuple[list[str], list, list, int]:
    """A share of the rows whose coded actor is a named group (`is_group(name)`) and is
    written in the text: each mention replaced by one invented name, the actor label set to
    `other` (the closed-set label for "not one of mine", None when the space has none).
    Returns new lists and how many rows changed."""
    rng = np.random.default_rng(seed)
    texts, actors, mentions = list(texts), list(actors), list(mentions)
    changed = 0
    for i, spans in enumerate(mentions):
        if not spans or not isinstance(actors[i], str) or not is_group(actors[i]) or rng.random() >= share:
            continue
        texts[i], mentions[i] = replace_spans(texts[i], spans, invented_name(rng))
        actors[i] = other
        changed += 1
    return texts, actors, mentions, changed
