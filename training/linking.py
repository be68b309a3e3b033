"""From the actor span the model read to a name: normalised, linked to a known actor when it
is one, the name itself (`known: false`) when it is not.

Known actors are the closed-set head's labels, the alias table the model was trained with
(`actors.yaml`, copied into the model directory) and the analysts' registry
(`secnews actors add`, read at load time, so a confirmed name needs no retraining).
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import yaml

from .config import TransformerConfig
from .errors import SecnewsError
from .labels import LabelSpace
from .names import CATEGORIES, kin_index, kin_name, read_names
from .places import country_of, read_places
from .sentences import PARAGRAPH_BREAK, headline_end, paragraph_of, sentence_spans
from .spans import ACRONYM, Span, doer_mentions, mention_pattern
from .taxonomy import ActorNormalizer, StateForces

# ACLED codes a demonstration's actor as the crowd, whoever else the report names (the police
# who broke it up, the party that called it): in the shared export Protesters are actor1 of
# 27,472 of 27,472 peaceful protests and 1,785 of 1,812 protests with intervention, Rioters of
# 3,485 of 3,576 violent demonstrations and 3,072 of 3,131 mob violence events. (Excessive force
# against protesters is left to the heads: 392 of 438 there, but news blames the police.)
CROWD_EVENTS = {"peaceful protest": "Protesters", "protest with intervention": "Protesters",
                "violent demonstration": "Rioters", "mob violence": "Rioters"}
# words every kind of group uses: a span made only of these names nobody in particular
GENERIC = {"forces", "force", "army", "armed", "national", "islamic", "militia", "militias", "militants", "group",
           "groups", "front", "movement", "brigade", "brigades", "liberation", "people", "people's", "popular",
           "revolutionary", "resistance", "defence", "defense", "security", "rebels", "rebel", "fighters", "the",
           "of", "al", "al-", "and", "state", "council", "union", "party", "unit", "units", "cartel", "gang"}
# what news calls a group without naming it: a span of these, GENERIC words and nationalities
# ("Syrian militia", "ethnic rebel army", "Colombian dissident") names nobody in particular
DESCRIPTORS = {"ethnic", "tribal", "local", "coalition", "dissident", "dissidents", "separatist", "separatists",
               "jihadist", "jihadists", "islamist", "islamists", "insurgent", "insurgents", "gunmen", "gangs",
               "paramilitary", "paramilitaries", "extremist", "extremists", "militant"}
LEADING = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)
# "of the Semliki Valley Brotherhood": the span head took the connector before a name with it
LEADING_CONNECTOR = re.compile(r"^(?:of|for|and|by)\s+(?:the\s+)?(?=\S)", re.IGNORECASE)
# a rank or title opens a person's name ("Brigadier Hamid Osman Jaafar", "Colonel Wilson
# Andrade"): a commander or a spokesman is not the group; a group's name may hold such a word
# ("General Command") but then also a word that says it is a body (GENERIC, BODIES)
TITLES = {"president", "minister", "governor", "mayor", "senator", "general", "gen", "brigadier", "colonel", "col",
          "lieutenant", "lt", "major", "maj", "captain", "capt", "commander", "sergeant", "sgt", "mr", "mrs", "ms",
          "dr", "sheikh", "superintendent", "inspector", "spokesman", "spokeswoman", "prime", "deputy"}
BODIES = {"command", "directorate", "staff", "guard", "guards", "service", "services", "office", "ministry",
          "agency", "committee", "battalion", "regiment", "division", "corps", "police", "brotherhood", "companies"}
# "separatist Mehran Liberation Army", "militant group, Lashkar-e-Khurasan": lower-case words
# in front of a capitalised name say what it is (only in ordinarily cased text; "al-" is a name's)
DESCRIBED = re.compile(r"^(?:[a-z]+[\s,]+)+(?=[A-Z0-9])")
UNCLOSED = re.compile(r"\s*\([^()]*$")  # "Kalay Valley Revolutionary Force (KVRF": the span stopped inside
# "NAF rebel forces", "NAF rebel" (the span head stopped before "forces"), "SAF soldiers": the group is
# the acronym, the rest says what its members are
MEMBERS = re.compile(r"\s+(?:rebel\s+)?(?:forces|force|rebels|rebel|militia|militias|militiamen|fighters|militants|soldiers|"
                     r"troops|members|gunmen|units?)$", re.IGNORECASE)
POSSESSIVE = re.compile(r"['’]s$")
# a capitalised word's start, but not an article's ("The Burmese army": the name starts after it)
WORD_START = re.compile(r"\b(?!The\b)[A-Z]")
POSSESSOR = re.compile(r"^((?:[\w\-]+\s+)?[\w\-]+)['’]s\s+(?=\S)")  # "Sudan's ", "South Sudan's "
# the dateline that opens wire copy: a town in capitals, a comma ("KISMAYO, Somalia, Aug 17 ...")
DATELINE = re.compile(r"[A-Z][A-Z'’\-\. ]+,")
# all of it, through the agency and the dash: "GOMA, Oct 21 (secnews) - "
WIRE_DATELINE = re.compile(DATELINE.pattern + r"[^\n]{0,80}?\([^()\n]{1,40}\)[ \t]*[-–—]+[ \t]*")
# a person noun a span takes after a group's name ("Fano militiamen", "M23 rebels"): MEMBERS's
# persons, not the words many names end with ("forces", "militia")
TRAILING_MEMBER = re.compile(r"\s+(?:militiamen|fighters|militants|rebels|gunmen|members|insurgents|guerrillas|jihadists)$")
NAME_CHAR = re.compile(r"[A-Z0-9]")  # what a name keeps: a capital or a digit
# "Russian-backed", "al Qaeda-linked": a word that says whom a group leans on, not its name
BACKED = re.compile(r"-(?:backed|linked|allied|aligned|affiliated|supported|sponsored|based|led)$")

# what the event did to a group: named right before "were killed" ("Five Kenyan police officers
# were killed"), or right after "attack on", "offensive against", "checkpoint run by", "kills
# three", "killing three members of", "weapons belonging to": the victim, the target or the
# owner of what was seized, which news names in its lede as often as the attacker
# (ActorLinker.suffered). Headlines tell it in the present tense ("drone strike kills three PKK
# militants", "army seizes Al Shabaab explosives cache"; session 32, development sets)
SUFFERED_AFTER = re.compile(r"\s*(?:[\w'’\-]+\s+){0,2}?(?:was|were|had\s+been|have\s+been|has\s+been)\s+"
                            r"(?:\w+ly\s+)?(?:killed|wounded|injured|hurt|abducted|kidnapped|attacked|ambushed|"
                            r"targeted|hit|struck|shot|captured|detained|arrested)\b", re.IGNORECASE)
SUFFERED_BEFORE = re.compile(
    r"(?:\b(?:attacks?|assaults?|raids?|strikes?|ambush(?:es)?|bombings?|operations?|offensives?|campaigns?|"
    r"crackdowns?|fight|war)\s+(?:on|against|targeting)|"
    r"\b(?:run|held|manned|operated|controlled)\s+by|"
    r"\b(?:killing|killed|kills?|wounding|wounded|targeting|targeted|targets|capturing|captured|hits|strikes|struck|"
    r"pound(?:s|ed)|shell(?:s|ed)|bomb(?:s|ed)|raid(?:s|ed)|seiz(?:e|es|ed|ing)|hunt(?:s|ed|ing)?|routed|overran|"
    r"dislodged|repelled)(?:\s+at\s+least)?)"
    r"\s+(?:(?!by\b)[\w'’\-]+\s+){0,2}(?:of\s+(?:the\s+)?)?$|"
    r"\bbelong(?:s|ed|ing)?\s+to\s+(?:the\s+)?$", re.IGNORECASE)

# "Niger's Tillaberi region": a span the word after it makes a place (not "state": Islamic State)
PLACE_AFTER = re.compile(r"\s+(?:region|province|county|district|governorate|department|municipality|prefecture)\b",
                         re.IGNORECASE)
# a noun a role word qualifies ("police officer", "police station"): the role word is no doer there
FORCE_NOUN = re.compile(r"\s+(?:officers?|stations?|posts?|patrols?|vehicles?|cars?|trucks?|commanders?|"
                        r"chiefs?|spokes(?:man|woman|person)|reservists?|bases?|camps?|headquarters|units?|convoys?)\b",
                        re.IGNORECASE)
# a role word's country after it: "Military forces of Armenia fired ..."
FORCE_OF = re.compile(r"\s+(?:forces\s+)?of\s+(?:the\s+)?([A-Z][\w\-]*(?:\s+[A-Z][\w\-]*){0,3})")
CONNECTORS = {"of", "al", "el", "de", "del", "la", "le", "des", "du", "wal", "and", "e", "i", "y", "for", "the"}
CALENDAR = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
            "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
            "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
WORD = re.compile(r"[\w'’\-]+")
WORD_CHAR = re.compile(r"\w")
# a sentence that says who is behind an event (claimed, blamed, suspected, ...), unless it
# denies it: a name there counts wherever the sentence stands (ActorLinker.attributed)
ATTRIBUTES = re.compile(r"\b(?:claim\w*|blam\w*|responsib\w*|behind|accus\w*|suspect\w*|attribut\w*|"
                        r"carried\s+out|hallmarks?|loyal\s+to|linked\s+to|allied\s+to|affiliated|involv\w*|"
                        r"perpetrat\w*|speculat\w*|believed)\b",
                        re.IGNORECASE)
# an article saying nobody claimed the event, that it is not clear who did, or that unknown people did it
UNCLAIMED = re.compile(r"\b(?:no\s+(?:(?:\w+\s+(?:or\s+)?)?group|one|organi[sz]ation|faction|party)\b[^.;]{0,40}?\b"
                       r"(?:claim\w*|responsib\w*)|nobody\b[^.;]{0,20}?\bclaim\w*|"
                       r"(?:not|un)\s*(?:immediately\s+)?clear\s+who|"
                       r"(?:has|have|had|was|were)\s+(?:yet\s+)?(?:not|n['’]t)\s+(?:yet\s+)?(?:been\s+)?claimed|"
                       r"unclaimed|(?:unidentified|unknown)\s+(?:gunmen|assailants|attackers|men|armed\s+\w+|militants|"
                       r"perpetrators|group)|(?:gunmen|attackers|assailants)\s+"
                       r"(?:who\s+)?(?:have\s+)?not\s+(?:yet\s+)?been\s+identified)", re.IGNORECASE)
UNCLAIMED_CLAUSE = re.compile(r"(?:%s)[^,;]*?(?=,|;|\bbut\b|\bhowever\b|$)" % UNCLAIMED.pattern,
                              re.IGNORECASE)
# a sentence that denies an attribution, or says there is nothing to base one on ("no evidence
# linking that group to Saturday's attack", "cautioned against blaming", "denying any involvement")
DENIES = re.compile(r"\b(?:den(?:y|ies|ied|ying)|rejected|not\s+involved|ruled\s+out|cautioned\s+against|"
                    r"no\s+(?:\w+\s+)?(?:evidence|information|indication|proof|involvement))\b", re.IGNORECASE)
# an attribution about other events: another time ("In January, ...", "in 2019") or a habit
# ("have often blamed X for violence in the region", "usually blames"), or blame taken back
# ("residents had initially blamed X"); news tells its own event's attribution
# without these, and background paragraphs with them. Not "last year": "a channel it has used
# since last year" attributes this event (news_dev, README session 20)
ELSEWHEN = re.compile(r"\b(?:in\s+(?:(?:early|late|mid)[\s-]+)?(?:january|february|march|april|may|june|july|"
                      r"august|september|october|november|december|\d{4})|in\s+the\s+past|in\s+previous|"
                      r"last\s+(?:spring|summer|autumn|fall|winter)|"
                      r"(?:has|have)\s+(?:long|often|frequently|routinely|repeatedly)|"
                      r"(?:often|frequently|usually|typically|initially|originally|at\s+first)\s+blam\w*)\b",
                      re.IGNORECASE)


def dated_before(text: str, start: int) -> bool:
    """Whether, past the lede, an earlier sentence of the paragraph holding character `start`
    dated its story elsewhere (ELSEWHEN): "In January, JNIM fighters attacked an army outpost
    ... JNIM claimed that assault a day later" attributes January's attack. The lede's own
    paragraph tells the event, whatever it compares the event with."""
    title = headline_end(text)
    opens = [m.end() for m in PARAGRAPH_BREAK.finditer(text, 0, start)]  # one per paragraph before this one
    if len(opens) <= paragraph_of(text, title) + (title > 0):
        return False
    return ELSEWHEN.search(text, opens[-1], start) is not None


def says_who(said: str, text: str, start: int) -> bool:
    """Whether a sentence (`said`, standing at `start` of `text`) attributes the article's own
    event: an attribution word (ATTRIBUTES), no denial (DENIES), not dated elsewhere by itself
    (ELSEWHEN) or by an earlier sentence of its paragraph (dated_before)."""
    return bool(ATTRIBUTES.search(said)) and not DENIES.search(said) and not ELSEWHEN.search(said) \
        and not dated_before(text, start)


KNOWN_REACH = 90  # how far around a span a known name holding it is looked for (the longest form: 82 characters)
PRIOR_MASS = 0.05  # the least probability the closed head's state forces of one country need to place a role word


def ordinary_case(text: str) -> bool:
    """Whether a text is ordinary wire copy, its names capitalised (not all-caps MUC-3/4 copy,
    not lower-cased text), read from its first 2,000 characters."""
    head = text[:2000]
    upper, lower = sum(map(str.isupper, head)), sum(map(str.islower, head))  # per text: map, not a generator
    return 0 < upper < lower


def sentence_of(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The sentence (of `spans`) a mention starting at `start` stands in, else the mention itself."""
    return next(((a, b) for a, b in spans if a <= start < b), (start, end))


def _capital(word: str) -> bool:
    return word[:1].isupper() or word[:1].isdigit() or word[:3].lower() in ("al-", "el-")


def proper_noun(text: str, span: Span) -> Span:
    """A span grown to the whole capitalised name it sits in ("Haram" -> "Boko Haram",
    "Jalisco" -> "Jalisco New Generation Cartel"): over neighbouring capitalised words and
    lower-case connectors between them ("of", "al", "de"), not across punctuation, not over
    days and months, and not back over the first word of a sentence."""
    start, end = span.start, span.end
    while True:  # rightwards: [connector] Capitalised
        m = re.match(r"[ \t]+((?:(?:%s)[ \t]+)?)([\w'’\-]+)" % "|".join(CONNECTORS), text[end:end + 60])
        if not m or not _capital(m.group(2)) or m.group(2).lower() in CALENDAR:
            break
        end += m.end()
    while True:  # leftwards
        m = re.search(r"([\w'’\-]+)((?:[ \t]+(?:%s))?)[ \t]+$" % "|".join(CONNECTORS), text[max(0, start - 60):start])
        if not m or not _capital(m.group(1)) or m.group(1).lower() in CALENDAR:
            break
        word_start = start - (len(text[max(0, start - 60):start]) - m.start(1))
        before = text[:word_start].rstrip(" \t")
        if not before or before[-1] in ".!?\n\"“:":  # the sentence's first word is capitalised anyway
            break
        start = word_start
    return Span(start, end, span.score)


def registry_path() -> Path:
    """The analysts' actor registry: $SECNEWS_ACTORS, else actors.yaml in $SECNEWS_HOME
    (default ~/.secnews)."""
    if os.environ.get("SECNEWS_ACTORS"):
        return Path(os.environ["SECNEWS_ACTORS"])
    return Path(os.environ.get("SECNEWS_HOME", Path.home() / ".secnews")) / "actors.yaml"


def read_registry(path: Path | None = None) -> dict[str, list[str]]:
    """canonical name -> aliases, from the registry file (empty when there is none)."""
    path = path or registry_path()
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not isinstance(data.get("actors", {}), dict):
        raise SecnewsError(f"{path}: expected a mapping 'actors: {{name: [aliases]}}'")
    return {str(k): [str(a) for a in (v or [])] for k, v in (data.get("actors") or {}).items()}


def with_registry(aliases: dict[str, list[str]], registry: dict[str, list[str]]) -> dict[str, list[str]]:
    """An alias table (canonical -> other names) with the registry's names added."""
    merged = dict(aliases)
    for canonical, names in registry.items():
        merged[canonical] = list(dict.fromkeys([*merged.get(canonical, []), *names]))
    return merged


def add_to_registry(name: str, aliases: list[str], path: Path | None = None) -> Path:
    """Add (or extend) one actor in the registry; written to a temporary file, then renamed."""
    name = " ".join(name.split())
    if not name:
        raise SecnewsError("actor name: empty")
    if len(name) > 200:
        raise SecnewsError(f"actor name: {len(name)} characters, at most 200")
    path = path or registry_path()
    actors = read_registry(path)
    merged = list(dict.fromkeys([*actors.get(name, []), *(" ".join(a.split()) for a in aliases if a.strip())]))
    actors[name] = merged
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump({"actors": actors}, allow_unicode=True, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def expand_acronym(acronym: str, text: str) -> str | None:
    """The words before "(ACRONYM)" in the text whose capitalised initials spell it."""
    # the "(ACRONYM)" first, then the words before it: one pattern with the lazy group in front
    # tried up to 120 characters at every position of the text (11 ms a call on a MUC article)
    m = None
    for paren in re.finditer(r"\(\s*" + re.escape(acronym) + r"\s*\)", text):
        head = text[max(0, paren.start() - 240):paren.end()]
        m = re.search(r"([^()]{1,120}?)\s*\(\s*" + re.escape(acronym) + r"\s*\)\Z", head)
        if m:
            break
    if not m:
        return spelled_out(acronym, text)
    words = re.findall(r"[\w'’]+(?:-[\w'’]+)*", m.group(1))[-10:]
    for k in range(1, len(words) + 1):
        initials = "".join(p[0] for w in words[-k:] for p in w.split("-") if p and p[0].isupper())
        if initials == acronym.replace("-", ""):
            return " ".join(words[-k:])
    return None


def spelled_out(acronym: str, text: str) -> str | None:
    """The first run of capitalised words in the text (connectors such as "of" between them
    allowed) whose initials spell the acronym: "Rapid Support Forces ... the RSF" without a
    parenthesis. Not in all-caps wire copy, where every word is capitalised."""
    letters = acronym.replace("-", "")
    if len(letters) < 2 or not any(c.islower() for c in text[:2000]):
        return None
    words = re.findall(r"[\w'’]+(?:-[\w'’]+)*", text)
    for i, first in enumerate(words):
        if first[0] != letters[0]:
            continue
        got, j, taken = "", i, []
        while j < len(words) and len(got) < len(letters):
            w = words[j]
            if taken and w in CONNECTORS:
                taken.append(w)
            elif w[0].isupper():
                got += "".join(p[0] for p in w.split("-") if p[:1].isupper())
                taken.append(w)
                if not letters.startswith(got):
                    break
            else:
                break
            j += 1
        if got == letters and len(taken) > 1 and taken[-1] not in CONNECTORS:
            return " ".join(taken)
    return None


@functools.lru_cache(maxsize=512)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern | None:
    """A role's or a country's words as one compiled pattern (spans.mention_pattern), kept:
    the linker asks for the same few lists on every article."""
    return mention_pattern(list(words))


class ActorLinker:
    def __init__(self, spec: dict, labels: list[str], registry: dict[str, list[str]], threshold: float = 0.5,
                 states: StateForces | None = None, defer: float = 2.0, places: dict[str, str] | None = None,
                 cutoff: float = 0.5, floor: float = 0.2, attention: float = 0.0, unclaimed: bool = False,
                 names: dict[str, int] | None = None):
        spec = dict(spec or {})
        self.kin = kin_index(names or {})  # the communal groups training coded, by the short form notes write
        self.attention = attention  # see attributed
        self.unclaimed = unclaimed  # see unattributed
        self.places = places or {}  # place word -> country (places.py), learnt at training time
        self.defer = defer  # closed-set answers of a named actor at least this sure stand
        # a candidate span names the actor at `cutoff`; at `floor` when the closed head says Other
        self.cutoff, self.floor = cutoff, floor
        self.states = states or StateForces({})
        aliases = with_registry(spec.get("aliases") or {}, registry)
        spec["aliases"] = aliases
        self.normalizer = ActorNormalizer(spec)
        self.known = {l.lower(): l for l in labels if l.lower() not in CATEGORIES}
        self.crowds = set(labels) & set(CROWD_EVENTS.values())  # the crowds this model can answer (crowd)
        for canonical in aliases:
            self.known.setdefault(canonical.lower(), canonical)
        # every written form of a known actor (hyphens as spaces) -> its name
        self._forms = {re.sub(r"[\s\-]+", " ", k): v for k, v in self.known.items()}
        for alias, canonical in self.normalizer.aliases.items():
            if canonical.lower() in self.known:
                self._forms.setdefault(re.sub(r"[\s\-]+", " ", alias), self.known[canonical.lower()])
        self.threshold = threshold
        # the country of each closed-set label that is a state force ("Military Forces of Kenya")
        self._label_country = [(self.states.parse(l) or (None, None))[1] for l in labels]

    @classmethod
    def for_model(cls, path, config, space: LabelSpace | None) -> "ActorLinker":
        tax = getattr(getattr(config, "data", None), "taxonomy", None)

        def table(name: str) -> dict:
            # the model directory's copy first (self-contained), else the training taxonomy
            for folder in (path, tax):
                if folder and (Path(folder) / name).is_file():
                    return yaml.safe_load((Path(folder) / name).read_text(encoding="utf-8")) or {}
            return {}

        labels = space.labels if space is not None else []
        tc = getattr(getattr(config, "model", None), "transformer", None)
        # a config written before span_cutoff/span_floor gets today's defaults; one written
        # before span_defer never defers (2.0), as such models answered when they were trained
        cutoff, floor = (getattr(tc, k, getattr(TransformerConfig, k)) for k in ("span_cutoff", "span_floor"))
        return cls(table("actors.yaml"), labels, read_registry(), space.threshold if space is not None else 0.5,
                   StateForces(table("states.yaml")), getattr(tc, "span_defer", 2.0), read_places(path),
                   cutoff, floor, getattr(tc, "span_attention", 0.0), getattr(tc, "span_unclaimed", False),
                   read_names(path))

    def country_mass(self, proba) -> dict[str, float]:
        """The closed-set head's probabilities on state forces, summed by country."""
        mass: dict[str, float] = {}
        for country, p in zip(self._label_country, proba):
            if country:
                mass[country] = mass.get(country, 0.0) + float(p)
        return mass

    def prior_country(self, proba) -> str | None:
        """The country the closed-set head's state forces point to (their probabilities summed
        by country), or None when it gives them next to nothing: what the head read of a
        text's places and style, for a role word the text does not say whose it is."""
        mass = self.country_mass(proba)
        best = max(mass, key=mass.get, default=None)
        return best if best is not None and mass[best] >= PRIOR_MASS else None

    def name(self, raw: str, text: str, closed_proba=None) -> tuple[str, bool]:
        """The normalised name of a span and whether it is a known actor; `closed_proba`, the
        closed head's probabilities, places a bare role word when the text's own place names
        do not (prior_country)."""
        name = POSSESSIVE.sub("", LEADING.sub("", " ".join(raw.split()).strip(" ,.;:\"'()[]-–—")))
        first = self.first_party(name, text)
        if first is not None:  # "Syrian army and HTS": two parties, and the first is actor1
            return self.name(first, text, closed_proba)
        # "Kenyan troops" -> "Military Forces of Kenya"; "Police" in Narok County -> "Police Forces of Kenya"
        state = self.states.compose(name) or self.placed_role(name, text, closed_proba)
        if state:
            found = self.lookup(state)
            return found or state, found is not None
        found = self.lookup(name) or self.known_inside(name)
        if found:
            return found, True
        name = self.unpossessed(self.undescribed(name))
        if (found := self.lookup(name)) is not None:
            return found, True
        if ACRONYM.match(bare := MEMBERS.sub("", name)):
            name = bare
        if ACRONYM.match(name):  # "KH" after "Kataeb Hezbollah (KH)": the full name
            full = expand_acronym(name, text)
            if full:
                found = self.lookup(full)
                return (found, True) if found else (full, False)
        if name.isupper() and " " in name:  # MUC-3/4 wire copy is upper case
            name = name.title()
        name = self.normalizer(name) or name
        if kin := self.kin_of(name, text):
            return kin, True
        bare = TRAILING_MEMBER.sub("", name)
        if bare != name and NAME_CHAR.search(bare) and ordinary_case(text):  # "Fano militiamen" -> "Fano"
            found = self.lookup(bare)
            return (found, True) if found else (bare, False)
        return name, False

    def first_party(self, name: str, text: str = "") -> str | None:
        """The first of two parties a span joins ("Syrian army and HTS" -> "Syrian army"), when
        the whole is no known name and the first reads as a known actor, a state force or a
        communal group training coded ("Degodia and Garre"); None otherwise ("Justice and
        Equality Movement"). ACLED codes the party that acted first; the span head, taught
        every part of a coded "A and B" as a mention, may take both."""
        if self.lookup(name):
            return None
        a, sep, b = name.partition(" and ")
        if not sep or not a.strip() or not b.strip():
            return None
        return a if (self.states.compose(a) or self.lookup(a) or self.kin_of(a, text)) else None

    def kin_of(self, name: str, text: str) -> str | None:
        """The communal group training coded that a short form stands for ("Degodia militiamen"
        -> "Degodia Ethnic Militia (Kenya)"; names.py), the text's country deciding between two."""
        if not self.kin:
            return None
        return kin_name(self.kin, name, lambda: country_of(text, self.places) if self.places else None)

    @staticmethod
    def undescribed(name: str) -> str:
        """The name without what the span took around it: lower-case descriptor words in
        front ("separatist", "militant group,"; not connectors such as "de", but a leading "of
        the"; a run that ends in "the": "separatist group, the"), and an unclosed parenthesis behind."""
        name = LEADING_CONNECTOR.sub("", UNCLOSED.sub("", name).strip(" ,"))
        if m := DESCRIBED.match(name):
            words = re.split(r"[\s,]+", m.group(0).strip(" ,"))
            if words[-1] == "the":  # the article opens the name, it does not join two of its words
                words.pop()
            if not CONNECTORS.intersection(words):
                name = name[m.end():]
        return name

    def unpossessed(self, name: str) -> str:
        """The name without a country's possessive in front ("Sudan's RSF" -> "RSF"): the
        country says whose group it is, not what it is called. A state force's role after it
        ("Sudan's army") was composed before this is asked."""
        m = POSSESSOR.match(name)
        if m and self.place_word(m.group(1)):
            return name[m.end():]
        return name

    def placed_role(self, name: str, text: str, closed_proba=None) -> str | None:
        """A bare role word ("Police", "soldiers") as the state force of the country the
        text's places belong to, else of the closed head's (prior_country, worked out only
        here: most answers never need it); None for anything else."""
        role = self.states.role_of(name)
        if role is None:
            return None
        # the places the text names (learnt at training time), else the country it names itself,
        # else the closed head's guess: a bare role word has no country of its own to keep
        country = (country_of(text, self.places) if self.places else None) or self.states.named_country(text) or (
            self.prior_country(closed_proba) if closed_proba is not None else None)
        return self.states.name(role, country) if country else None

    def known_inside(self, name: str) -> str | None:
        """The longest known name or alias written inside a longer span ("Islamist militant
        group al Shabaab", "Nasr al-Islam wal Muslimin (JNIM"), not inside a longer word.

        A form found inside starts after a non-word character and ends before one, so only
        the span's stretches between two such characters are looked up in the forms table:
        a regex search per form took 0.312 ms a span, this 0.0125 ms (session 12)."""
        low = " " + re.sub(r"[\s\-]+", " ", name.lower()) + " "
        cuts = [i for i, c in enumerate(low) if not WORD_CHAR.match(c)]
        hits = [(j - i - 1, self._forms[low[i + 1:j]]) for a, i in enumerate(cuts) for j in cuts[a + 1:]
                if j - i > 3 and low[i + 1:j] in self._forms]
        return max(hits)[1] if hits else None

    def lookup(self, name: str) -> str | None:
        canonical = self.normalizer(name)
        return self.known.get(canonical.lower()) if canonical else None

    def choose(self, text: str, candidates: list[Span]) -> Span | None:
        """The strongest candidate that reads as a name: a nationality followed by a role
        word takes the role ("Ukrainian" + "forces"); a bare country or nationality ("Iran"
        of "Iran-backed"), a span of generic words only ("Forces", "National") or, in
        ordinarily cased text, one without a capital or digit ("force") is not a name."""
        mixed = ordinary_case(text)
        for span in candidates:
            if mixed and (span := self.after_dateline(text, span)) is None:
                continue  # "1 (secnews)": the dateline's date and agency
            span = self.with_role(text, span)
            if mixed:
                span = proper_noun(text, span)
            span = self.with_known(text, span)
            words = [w.lower() for w in WORD.findall(span.text(text))]
            if not words or all(w in GENERIC for w in words):
                continue
            if all(w in GENERIC or w in DESCRIPTORS or BACKED.search(w) or self.place_word(w) for w in words) and not (
                    self.states.compose(span.text(text)) or self.states.role_of(span.text(text))):
                continue  # "Syrian militia", "ethnic rebel army": a kind of group, not a name
            if mixed and not NAME_CHAR.search(span.text(text)) and not self.states.role_of(span.text(text)):
                continue  # a lower-case span names nobody, except a state force's bare role word ("police")
            if mixed and self.placed_only(span.text(text)):
                continue  # "Libyan coastal", "Moldova's Russian-backed": only a country is written with a capital
            if self.person(words):
                continue  # "Brigadier Hamid Osman Jaafar": a commander, not the group
            if mixed and self.in_dateline(text, span):
                continue  # "MAARAT AL-SABIL, Syria, May 3 (secnews) -": the dateline's town
            if self.suffered(text, span):
                continue  # "Five Kenyan police officers were killed": the victim, not the attacker
            if PLACE_AFTER.match(text, span.end):
                continue  # "Niger's Tillaberi region": a place
            if self.states.by_word.get(POSSESSIVE.sub("", " ".join(words))) and not self.states.compose(span.text(text)):
                continue  # a bare country or nationality, "Niger's" of "Niger's interior ministry" too
            return span
        return None

    @staticmethod
    def person(words: list[str]) -> bool:
        """Whether a span's words (lower case) are a person's name after a rank or title."""
        return len(words) > 1 and words[0].rstrip(".") in TITLES and not any(
            w in GENERIC or w in BODIES for w in words[1:])

    @staticmethod
    def suffered(text: str, span: Span) -> bool:
        """Whether the text makes the span the one the event was done to: "were killed" right
        after it, "attack on", "checkpoint run by", "kills three members of" or "belonging to"
        right before it (SUFFERED_AFTER, _BEFORE)."""
        return SUFFERED_AFTER.match(text, span.end) is not None or \
            SUFFERED_BEFORE.search(text[max(0, span.start - 60):span.start]) is not None

    @staticmethod
    def in_dateline(text: str, span: Span) -> bool:
        """Whether the span stands in the capitals that open a line before a comma: wire copy's
        dateline town ("MAARAT AL-SABIL, Syria, May 3 (secnews) -"), all of it or a part."""
        line = text.rfind("\n", 0, span.start) + 1
        m = DATELINE.match(text, line)
        return m is not None and span.end <= m.end() - 1

    @staticmethod
    def after_dateline(text: str, span: Span) -> Span | None:
        """The span without what it took of the wire dateline ("GOMA, Oct 21 (secnews) - M23
        rebels" -> "M23 rebels"); None when all of it stands there ("1 (secnews)"): a dateline
        gives a town, a date and the agency, never the actor. A dateline without "(agency) -"
        is left to in_dateline, which knows its town."""
        line = text.rfind("\n", 0, span.start) + 1
        m = WIRE_DATELINE.match(text, line)
        if m is None or span.start >= m.end():
            return span
        return Span(m.end(), span.end, span.score, span.weight) if span.end > m.end() else None

    def placed_only(self, span_text: str) -> bool:
        """Whether every capitalised word of a span is a country or a nationality (a possessive,
        "Russian-backed" too) and the span is no state force ("Libyan coastal" is not a name;
        "Libyan forces" is one)."""
        if self.states.compose(span_text) or self.states.role_of(span_text):
            return False
        caps = [w for w in WORD.findall(span_text) if _capital(w)]
        return bool(caps) and all(self.place_word(w) for w in caps)

    def place_word(self, word: str) -> bool:
        """A country or nationality, also as a possessive ("Niger's") or a backer ("Russian-backed")."""
        return POSSESSIVE.sub("", BACKED.sub("", word)).lower() in self.states.by_word

    def with_role(self, text: str, span: Span) -> Span:
        """"Ukrainian" (or "Sudan's") followed by "forces" ("army") in the text: the span takes
        the role word; a role word after a country's possessive or nationality ("blamed
        Myanmar's military"), the country: it says whose force it is, where the places the
        text names may not (a country training never saw)."""
        if POSSESSIVE.sub("", span.text(text).strip()).lower() not in self.states.by_word:
            return self.with_country(text, span)
        rest = text[span.end:span.end + 40].lower()
        for words in self.states.roles.values():
            for w in words:
                m = re.match(r"\s+" + re.escape(w) + r"\b", rest)
                if m:
                    return Span(span.start, span.end + m.end(), span.score)
        return span

    @functools.cached_property
    def _known_pattern(self) -> re.Pattern | None:
        return mention_pattern(list(self._forms))

    def with_known(self, text: str, span: Span) -> Span:
        """A span inside a written form of a known actor takes the whole form ("FARABUNDO" of
        "FARABUNDO MARTI NATIONAL LIBERATION FRONT"): the span head is often sure of one word of
        a name and not of the rest, and in all-caps copy (MUC-3/4) no capital shows where the
        name ends (proper_noun)."""
        if self._known_pattern is None:
            return span
        # a form holding the span is at most KNOWN_REACH long, so it ends before the bound; a match
        # that reaches the bound may be cut inside a word there (the bound reads as the text's end)
        end = min(len(text), span.end + KNOWN_REACH)
        around = [m for m in self._known_pattern.finditer(text, max(0, span.start - KNOWN_REACH), end)
                  if m.start() <= span.start and span.end <= m.end() and (m.start(), m.end()) != (span.start, span.end)
                  and (m.end() < end or end == len(text))]
        best = max(around, key=lambda m: m.end() - m.start(), default=None)
        return Span(best.start(), best.end(), span.score, span.weight) if best else span

    def with_country(self, text: str, span: Span) -> Span:
        """A span that ends a role word ("military", "forces" of "armed forces"), widened back
        to the country's possessive or nationality written right before the role ("blamed
        Myanmar's military", "Sri Lanka's army"): the widest stretch StateForces.compose reads."""
        for m in WORD_START.finditer(text, max(0, span.start - 48), span.start):
            if self.states.compose(text[m.start():span.end]):
                return Span(m.start(), span.end, span.score)
        return span

    def named(self, text: str, span: Span, closed_proba=None) -> dict:
        """What the span head decided: the linked name, its score, whether it is known, where."""
        label, known = self.name(span.text(text), text, closed_proba)
        return {"label": label, "score": round(span.score, 4), "known": known, "span": [span.start, span.end],
                "uncertain": span.score < self.threshold, "decided_by": "span"}

    def decide(self, closed_label: str, closed_score: float, text: str, candidates: list[Span],
               bounds: list[tuple[int, int]] | None = None) -> Span | None:
        """The span that names the actor, or None when the closed-set head decides: it keeps
        its answer when it is at least `defer` sure of a named actor the text could be about;
        otherwise the strongest candidate that reads as a name. A state force the text never
        mentions (no "police", "troops", ... anywhere) is a guess from the place: a
        closed head that never saw Al Shabaab is 0.99 sure Kenyan notes are about Kenya's
        military, while the span head reads "Al Shabaab militants stormed ...". Nor is a state
        force the text mentions only outside the span head's candidates (`mentioned`). A candidate
        counts from `cutoff`, or from `floor` when the closed head answers Other: it knows
        the group is none of its own, and a flagged name says more than Other does. A closed
        `Unidentified` at least `defer` sure stands too: an article that says nobody claimed
        the attack still names groups (background, denials), and the span head marks them."""
        label = closed_label.lower()
        title = headline_end(text)
        candidates = self.attributed(text, candidates, title, bounds)
        if closed_score >= self.defer and (label == "unidentified" or (
                label not in CATEGORIES and self.mentioned(closed_label, text, candidates))):
            return None
        least = self.floor if label == "other" else self.cutoff
        pool = [c for c in candidates if c.score >= least]
        # names where the article tells its event first; a name admitted only by an attribution
        # word ("police suspected the cargo was bound for Al Shabaab") after them
        main = [c for c in pool if c.score >= self.cutoff and self.in_event(c, title)]
        first = {id(c) for c in main}  # choose read these already: each one it refused it would refuse again
        return self.choose(text, main) or self.choose(text, [c for c in pool if id(c) not in first])

    def in_event(self, span: Span, title: int) -> bool:
        """Whether a name stands where the article tells its event: in a sentence the reader weighs
        at least `attention` of its main one, or in the headline (`title`: where it ends), which
        tells the same event though the reader, taught to read the lede, gives it a tenth of it;
        there from `cutoff` only, as headlines name targets too ("attack on Ecuador police station")."""
        return not self.attention or span.weight >= self.attention or (span.start < title and span.score >= self.cutoff)

    def attributed(self, text: str, candidates: list[Span], title: int,
                   bounds: list[tuple[int, int]] | None = None) -> list[Span]:
        """The candidates that stand where the article tells its event or who did it: in the
        event's sentences (in_event), or in one that attributes (ATTRIBUTES) without denying
        (DENIES). A name in a background paragraph ("In January, militants from AQAP fought
        ...") is another event's actor. `title`: where the headline ends (headline_end)."""
        if all(self.in_event(c, title) for c in candidates):
            return candidates
        bounds = bounds or sentence_spans(text)  # the reader's own sentence spans, when the caller has them
        keep = []
        for c in candidates:
            if not self.in_event(c, title):
                a, b = sentence_of(bounds, c.start, c.end)
                said = text[a:b]
                if not says_who(said, text, a):
                    continue
            keep.append(c)
        return keep

    def named_in_event(self, text: str, candidates: list[Span]) -> bool:
        """Whether the span head reads a name (from `cutoff`) in a sentence the reader weighs
        at least `attention` of the main one: a note names its actor as the subject of the
        event ("Al Shabaab militants attacked ..."), without an attribution word, while a
        background paragraph may say "unidentified gunmen"."""
        return self.choose(text, [c for c in candidates if c.score >= self.cutoff and c.weight >= self.attention]) \
            is not None

    @staticmethod
    def unattributed(text: str, bounds: list[tuple[int, int]] | None = None) -> bool:
        """The article says nobody claimed the event, or that unknown people did it
        (UNCLAIMED), and no sentence attributes it to anyone: none says claimed, blamed,
        suspected, ... once its "no group has claimed ..." clause is taken out, except to deny it.
        `bounds`: the text's sentence spans, when the caller has them."""
        if not UNCLAIMED.search(text):
            return False
        for a, b in bounds or sentence_spans(text):
            said = UNCLAIMED_CLAUSE.sub(" ", text[a:b])  # "no group claimed responsibility" up to "but"
            if says_who(said, text, a):
                return False
        return True

    def nobody_known(self, closed_label: str, text: str) -> bool:
        """Whether a closed `Other` (some group the head does not know), with no name read
        from the text, is better said `Unidentified`: the article says nobody claimed the
        event or that it is not known who did it (UNCLAIMED), though some sentence blames
        someone it does not name ("accused unnamed 'terrorist groups'") or a group the span
        head did not read. `Other` names nobody, so no exact name is lost (`unclaimed` models only)."""
        return self.unclaimed and closed_label.lower() == "other" and UNCLAIMED.search(text) is not None

    def mentioned(self, label: str, text: str, candidates: list[Span] = ()) -> bool:
        """Whether the text could be about `label`: for a state force, one of its role words
        ("RSF soldiers", "Russian forces" and "police" all are); any other named actor is
        taken as mentioned (its forms are many). Where the span head read a name (a
        candidate from `cutoff`), the role words count only inside a candidate of its own:
        in "Al Shabaab militants attacked a police base" the police are the target."""
        parsed = self.states.parse(label)
        if not parsed:
            return True
        words = self.states.roles.get(parsed[0], [])
        if not self._says(text, words):
            return False
        if not any(c.score >= self.cutoff for c in candidates):
            return True
        return any(self._says(c.text(text), words) for c in candidates if c.score >= self.floor)

    def placed(self, label: str, text: str) -> str | None:
        """A closed-set state force recomposed from what the text says, or None to keep it:
        the role the text names when it names only the other one ("Military Forces of Kenya"
        for "Policemen beat up residents"), and the country the text's places belong to when
        it does not name the label's own ("Police Forces of Sri Lanka" for a police shooting
        in Narok County -> "Police Forces of Kenya")."""
        parsed = self.states.parse(label)
        if not parsed or not label.lower().endswith(parsed[1].lower()):
            return None  # a unit's own name ("... Burkina Faso Gendarmerie") is more than its role words say
        role, country = parsed
        others = [r for r in self.states.roles if r != role and self._says(text, self.states.roles[r])]
        if others and not self._says(text, self.states.roles.get(role, [])):
            role = others[0]
        # the text's place words only: a country it merely names is often a background story's
        # (composed validation: Kenya's police moved to Nepal by a paragraph on its landslides)
        if self.places and not self._says(text, self.states.countries.get(country, [country])):
            country = country_of(text, self.places) or country
        moved = self.states.name(role, country)
        return moved if (role, country) != parsed else None

    def role_doer(self, closed: dict, text: str, sentence_spans: list, evidence: bool,
                  closed_proba=None) -> dict | None:
        """A state force whose role word the event's sentence makes the doer ("Police shot
        dead two suspects", "... were beaten by police": spans.doer_mentions), when the span
        head read no name and the closed head has no state force to place: one whose country
        training never saw has no label of its own. Not over a named actor the closed head is
        `defer` sure of, nor over a sure coders' category other than Other and Unidentified (a
        riot's note often opens with the police it clashed with), nor where the text says
        nobody is known to have done it. The event's sentence: the first after the headline
        (and the headline); ordinarily cased text only (all-caps wire copy has no capitals to read)."""
        label = closed["label"].lower()
        if label not in ("other", "unidentified") and closed["score"] >= self.defer:
            return None
        if self.states.parse(closed["label"]) or not self.states.bare:
            return None
        title = headline_end(text)
        end = next((b for a, b in sentence_spans or [] if b > title), len(text))
        said = sorted(m for words in self.states.bare.values() for m in doer_mentions(text[:end], tuple(words), True))
        if not said or UNCLAIMED.search(text) or not ordinary_case(text):
            return None
        for a, b in said:
            force = self.doer_force(text, a, b, text[:end], closed_proba)
            if force is None:
                continue
            found = self.lookup(force)
            # how sure: the closed head's probability on that country's state forces
            country = (self.states.parse(force) or (None, None))[1]
            score = round(self.country_mass(closed_proba).get(country, 0.0), 4) if closed_proba is not None \
                else closed["score"]
            out = {k: v for k, v in closed.items() if k != "evidence"}
            out.update({"label": found or force, "score": score, "uncertain": score < self.threshold,
                        "known": found is not None, "span": [a, b], "mention": text[a:b], "decided_by": "role",
                        "closed_set": {"label": closed["label"], "score": closed["score"]}})
            if evidence:
                out["evidence"] = text[slice(*sentence_of(sentence_spans, a, b))]
            return out
        return None

    def doer_force(self, text: str, a: int, b: int, event: str, closed_proba=None) -> str | None:
        """The state force a doer's role word (text[a:b], with the capitalised word before it
        when there is one) names: "Kenyan police" its nationality's, "military forces of
        Armenia" the country after it, "police" or "Isiolo police" the country of the event's
        places (`event`: its sentences; a background paragraph's places are another story's),
        else of the closed head's state forces (placed_role); None for "One police officer"
        (a noun after the role: a member or a thing) and "Ward police" (a word no place)."""
        if FORCE_NOUN.match(text, b):
            return None
        words = text[a:b]
        role = words if self.states.role_of(words) else words.split(None, 1)[-1]
        if (force := self.states.compose(words)) is not None:
            return force
        if role != words and not (self.places and country_of(words[:-len(role)], self.places)):
            return None
        of = FORCE_OF.match(text, b)
        if of and (country := self.states.named_country(of.group(1))) and (kind := self.states.role_of(role)):
            return self.states.name(kind, country)
        return self.placed_role(role, event, closed_proba)

    @staticmethod
    def _says(text: str, words: list[str]) -> bool:
        pattern = _words_pattern(tuple(words))
        return pattern is not None and pattern.search(text) is not None

    @staticmethod
    def closed(label: str) -> dict:
        """What the answer adds when the closed-set head decided: `Other` is the one label that
        names nobody known."""
        return {"known": label.lower() != "other", "decided_by": "closed"}

    @staticmethod
    def said_unidentified(closed: dict) -> dict:
        """The answer of the unclaimed rules (unattributed, nobody_known), the closed head's kept beside it."""
        return {**closed, "label": "Unidentified", "known": True, "decided_by": "unclaimed",
                "closed_set": {"label": closed["label"], "score": closed["score"]}}

    def crowd(self, closed: dict, event: dict | None) -> dict | None:
        """The crowd a demonstration's event answer codes as its actor (CROWD_EVENTS), when the
        closed-set head has that label: the police an article says broke up a protest, or the
        party that called it, are not the actor of a protest. None for any other event."""
        label = CROWD_EVENTS.get(str((event or {}).get("label", "")).lower())
        if label not in self.crowds:
            return None
        if closed["label"] == label:
            return {**closed, **self.closed(label)}
        out = {k: v for k, v in closed.items() if k != "evidence"}  # the closed head's sentence was for its label
        out.update({"label": label, "score": round(float(event["score"]), 4), "uncertain": bool(event.get("uncertain")),
                    "known": True, "decided_by": "event",
                    "closed_set": {"label": closed["label"], "score": closed["score"]}})
        if event.get("evidence"):
            out["evidence"] = event["evidence"]  # the sentence that reports the demonstration
        return out

    def answer(self, closed: dict, text: str, candidates: list[Span], sentence_spans: list, evidence: bool,
               closed_proba=None, event: dict | None = None) -> dict:
        """The actor answer: the crowd of a demonstration (`crowd`), else the span's name
        (`decide`), else the closed-set head's label; `decided_by` says which. `closed_proba`:
        the closed head's probabilities (prior_country); `event`: the event answer
        (`label`, `score`, `uncertain`), when the model has the event task."""
        crowd = self.crowd(closed, event)
        if crowd is not None:
            return crowd
        # a coders' category (Rioters: "unidentified men vandalised ...") is an answer of its own
        if self.unclaimed and closed["label"].lower() not in CATEGORIES - {"other"} \
                and self.unattributed(text, sentence_spans) and not self.named_in_event(text, candidates):
            return self.said_unidentified(closed)
        span = self.decide(closed["label"], closed["score"], text, candidates, sentence_spans)
        if span is None:
            moved = self.placed(closed["label"], text)
            if moved is None and (doer := self.role_doer(closed, text, sentence_spans, evidence, closed_proba)):
                return doer
            if moved is None:
                if self.nobody_known(closed["label"], text):
                    return self.said_unidentified(closed)
                return {**closed, **self.closed(closed["label"])}
            # "... of the United States": a model directory's states table from before `the:` composes without it
            found = self.lookup(moved) or self.lookup(moved.replace(" Forces of ", " Forces of the "))
            return {**closed, "label": found or moved, "known": found is not None, "decided_by": "places",
                    "closed_set": {"label": closed["label"], "score": closed["score"]}}
        out = {**closed, **self.named(text, span, closed_proba), "mention": span.text(text),
               "closed_set": {"label": closed["label"], "score": closed["score"]}}
        if evidence:
            out["evidence"] = text[slice(*sentence_of(sentence_spans, span.start, span.end))]
        return out
