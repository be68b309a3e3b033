"""The attributed actor as a span of the text: distant supervision, token tags and decoding.

Training has no span annotations, only the coded actor's name (ACLED actor1, GTD gname,
MUC-3/4 perpetrator organisation). Where a form of that name occurs in the text, its
occurrences are the answer; a row whose actor is a category ("Protesters", "Unidentified"),
a state force ("Military Forces of X": coders' names, not what wire copy writes) or whose
name does not occur trains "no span". Only the coded actor is tagged, not every group the
text names: the head learns attribution (who is said to be behind it), not mention.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

# coders' category names, and state forces when no states table is given: the closed-set head answers these
# ("NAF: United Armed Forces of Novorossiya" is a name: only a leading "Military/Police Forces of" is not)
NOT_A_NAME = re.compile(r"^(protesters|rioters|civilians|unidentified|other|government of|"
                        r"((former|mutiny of)\s+)?(military|police) forces of)", re.IGNORECASE)
PERIOD = re.compile(r"\s*\(\d{4}-(\d{4})?\)")
MIN_CHARS = 3
ACRONYM = re.compile(r"^[A-Z][A-Z0-9\-]{1,7}$")


def name_variants(name: str, aliases: dict[str, list[str]] | None = None, states=None) -> list[str]:
    """The forms a coded name takes in text: the name, its aliases, each part of an
    "A and/or B" name, the acronym before a colon ("JNIM: Group for ..." -> "JNIM") and the
    long form after it, a parenthesised acronym ("... (ISIL)" -> "ISIL") and the name
    without its parenthesis; for a state force (`states`: taxonomy.StateForces), the
    nationality + role forms news uses ("Kenyan troops"). Not the bare role words: tagged
    too (session 12), they taught the head to read "security forces" in protest notes as the
    actor (unseen-names recipe: unseen rows 0.3542 -> 0.3594, known rows 0.9263 -> 0.9210).
    Longest first, so a match takes the whole name."""
    if states is not None and name and (parsed := states.parse(name)):
        return sorted(states.variants(*parsed), key=len, reverse=True)
    if not name or NOT_A_NAME.search(name.strip()):
        return []
    forms = [name, *((aliases or {}).get(name, []))]
    out: list[str] = []
    for form in forms:
        for part in re.split(r"\s+and/or\s+", PERIOD.sub("", form)):
            part = part.strip()
            pieces = [part]
            if ":" in part:
                head, tail = part.split(":", 1)
                pieces += [head.strip(), tail.strip()]
            for piece in list(pieces):
                m = re.search(r"\(([^)]+)\)\s*$", piece)
                if m:  # "(ISIL)" is a name of its own; "(Iraq)", "(Greater Sahara)" only qualify it
                    pieces.append(piece[:m.start()].strip())
                    if ACRONYM.match(m.group(1).strip()):
                        pieces.append(m.group(1).strip())
            out += pieces
    seen, kept = set(), []
    for v in sorted(out, key=len, reverse=True):
        key = v.lower()
        if len(v) >= MIN_CHARS and key not in seen and not NOT_A_NAME.search(v):
            seen.add(key)
            kept.append(v)
    return kept


def _words(variant: str) -> str:
    # spaces and hyphens are interchangeable ("Al Shabaab" / "Al-Shabaab"), case is not kept
    return r"[\s\-]+".join(re.escape(w) for w in re.split(r"[\s\-]+", variant) if w)


def mention_pattern(variants: list[str]) -> re.Pattern | None:
    """One regex for all forms of a name, longest first (an alternation takes the first
    form that matches at a position, so a longer form wins over a shorter one inside it)."""
    forms = [_words(v) for v in sorted(variants, key=len, reverse=True) if v.strip()]
    return re.compile(r"(?<![\w])(?:" + "|".join(forms) + r")(?![\w])", re.IGNORECASE) if forms else None


def find_mentions(text: str, variants: list[str] | re.Pattern | None) -> list[tuple[int, int]]:
    """Character spans of every occurrence of any variant, not overlapping."""
    pattern = variants if isinstance(variants, re.Pattern) or variants is None else mention_pattern(variants)
    return [(m.start(), m.end()) for m in pattern.finditer(text)] if pattern is not None else []


# what a sentence may open with before its doer: a date ("27 February:", "On 5 March 2023,"),
# a place ("In Isiolo,"), "the"; a line break opens one only as a paragraph's (wire copy breaks lines)
OPENING = (r"(?:^|(?<=[.!?])\s+|\n[ \t]*\n\s*)"
           r"(?:(?:on|around|between)\s+)?(?:(?:\d{1,2}(?:\s*-\s*\d{1,2})?\s+[A-Za-z]+|[A-Za-z]+\s+\d{1,2})"
           r"(?:,?\s+\d{4})?\s*[:.,\-\u2013]\s*)?"
           r"(?:in\s+[^,.;]{1,60},\s*)?(?:the\s+)?")
# what follows a doer: any word but a passive's auxiliary, a joined second subject or a verb of
# saying ("Police said two men were killed": the police tell the event, they need not have done it)
NOT_DONE_TO = (r"(?=\s+(?!(?:was|were|is|are|been|being|had\s+been|have\s+been|has\s+been|and|or|"
               r"said|says|say|reported|reports|told|confirmed|stated|announced|added|believed?|suspect(?:ed|s)?|"
               r"claimed|blamed|accused|identified|named|have\s+said|had\s+said|later)\b)[a-z])")
# the verbs whose "by" names the doer ("shot dead by police", "were allegedly beaten by the police"),
# not any "by" ("a man wanted by the police")
DONE_BY = (r"\b(?:killed|shot(?:\s+dead)?|beaten|beat|arrested|detained|injured|wounded|attacked|assaulted|"
           r"dispersed|tortured|abducted|kidnapped|executed|harassed|raided|stormed|chased|pursued|bombed|shelled|"
           r"struck|hit|targeted|fired\s+(?:on|at|upon)|tear-?gassed|broken\s+up|disrupted|evicted|demolished|"
           r"seized|burn(?:ed|t)|looted|hurt|lynched|clubbed|whipped|flogged|raped|robbed|displaced)"
           r"(?:\s+\w+ly)?\s+by\s+(?:the\s+)?")


@functools.lru_cache(maxsize=64)
def doer_pattern(words: tuple[str, ...], qualified: bool = False) -> re.Pattern | None:
    """Where a sentence makes one of `words` (a state force's bare role words: "police",
    "soldiers") the doer: it opens the sentence ("Police shot dead two suspects", "27
    February: police killed ...", "In Isiolo, police beat ...") or follows a verb of harm and
    "by" ("were shot dead by police": DONE_BY). `qualified`: an opening role word may have a
    capitalised word before it ("Kenyan police killed ..."). Groups: that word (1, may be
    empty), the role word (2 or 3)."""
    if not words:
        return None
    alt = "|".join(_words(w) for w in sorted(words, key=len, reverse=True))
    before = r"((?-i:[A-Z][\w'’\-]*)[ \t]+)?" if qualified else "()"
    return re.compile(r"(?:%s)%s(%s)\b%s|%s(%s)\b" % (OPENING, before, alt, NOT_DONE_TO, DONE_BY, alt), re.IGNORECASE)


def doer_mentions(text: str, words: tuple[str, ...], qualified: bool = False) -> list[tuple[int, int]]:
    """Character spans of the bare role words a sentence makes the doer (doer_pattern), with
    the capitalised word before one when `qualified` ("Kenyan police", "Isiolo police")."""
    pattern = doer_pattern(tuple(words), qualified)
    if pattern is None:
        return []
    return [m.span(3) if m.group(3) else (m.start(1) if m.group(1) else m.start(2), m.end(2))
            for m in pattern.finditer(text)]


def row_mentions(texts: list[str], actors: list, relevance: list | None,
                 aliases: dict[str, list[str]], states=None, bare: bool = False) -> list[list[tuple[int, int]] | None]:
    """Per training text: the actor's mentions ([] = train "no span"; None = no signal,
    the row carries no actor and is not a no-event article). `bare`: a state force's bare
    role words count too where the text makes them the doer (doer_mentions)."""
    out = []
    cache: dict[str, re.Pattern | None] = {}
    for i, (text, actor) in enumerate(zip(texts, actors)):
        if actor is None or (isinstance(actor, float) and actor != actor):
            out.append([] if relevance is not None and relevance[i] == "none" else None)
            continue
        if actor not in cache:
            cache[actor] = mention_pattern(name_variants(str(actor), aliases, states))
        found = find_mentions(text, cache[actor])
        parsed = states.parse(str(actor)) if bare and states is not None else None
        if parsed:
            found = sorted(found + [(a, b) for a, b in doer_mentions(text, tuple(states.bare.get(parsed[0], ())))
                                    if not any(a < d and c < b for c, d in found)])
        out.append(found)
    return out


def token_tags(offsets: np.ndarray, spans: list[tuple[int, int]] | None) -> np.ndarray:
    """Per token of one window: 1 inside a mention, 0 outside, -1 not trained (special and
    padding tokens, or a text without signal)."""
    special = (offsets[:, 0] == 0) & (offsets[:, 1] == 0)
    if spans is None:
        return np.full(len(offsets), -1, dtype=np.int64)
    tags = np.zeros(len(offsets), dtype=np.int64)
    for a, b in spans:
        tags[(offsets[:, 0] >= a) & (offsets[:, 1] <= b) & (offsets[:, 1] > offsets[:, 0])] = 1
    tags[special] = -1
    return tags


@dataclass
class Span:
    start: int  # character offsets in the text
    end: int
    score: float  # in-span probability of its strongest token
    # the article reader's attention on the span's sentence over its most attended one's
    # (1.0: the main event's sentence, or no reader to ask)
    weight: float = 1.0

    def text(self, source: str) -> str:
        return source[self.start:self.end]


def decode(prob: np.ndarray, offsets: np.ndarray, cutoff: float = 0.5, low: float = 0.2) -> list[Span]:
    """Names in one window: every token at or above `cutoff` seeds a span, which grows over
    its neighbours at or above `low` (hysteresis: the head is often sure of one word piece
    of a name and less of the rest). Score: the span's strongest token. A span that stops
    inside a word is widened to the whole word by the caller (`widen`)."""
    real = ~((offsets[:, 0] == 0) & (offsets[:, 1] == 0))
    keep = real & (prob >= low)
    if not (keep & (prob >= cutoff)).any():  # most windows name nobody: no run to walk
        return []
    # runs of kept tokens, vectorised: a Python loop over every token of every window was
    # a visible share of predict's time on long articles
    edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(np.int8), 0]))
    starts, ends = edges[0::2], edges[1::2]
    top = np.maximum.reduceat(np.r_[prob, 0], edges)[0::2]  # each run's own maximum
    return [Span(int(offsets[i, 0]), int(offsets[j - 1, 1]), float(m))
            for i, j, m in zip(starts, ends, top) if m >= cutoff]


def widen(text: str, span: Span) -> Span:
    """A span cut inside a word (word pieces, "al-" of "al-Shabaab") grows to the whole word."""
    a, b = span.start, span.end
    inner = lambda i: text[i].isalnum() or (text[i] in "'-’" and 0 < i < len(text) - 1 and text[i + 1].isalnum())
    while a > 0 and inner(a - 1) and (text[a].isalnum() or text[a] in "-'’"):
        a -= 1
    while b < len(text) and inner(b) and (text[b - 1].isalnum() or text[b - 1] in "-'’"):
        b += 1
    return Span(a, b, span.score, span.weight)
