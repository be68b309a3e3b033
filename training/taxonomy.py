"""Source mappings to the default schema. The rules are data (configs/taxonomy/*.yaml);
this module only knows how to apply each kind of rule."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .errors import SecnewsError
from .places import dominant


class TaxonomyError(SecnewsError):
    pass


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise TaxonomyError(f"taxonomy file {path} does not exist (data.taxonomy names the folder)")
    return yaml.safe_load(path.read_text())


def read_hierarchy(path: str | Path) -> dict[str, list[str]]:
    """{parent: [children]} from YAML, checked for shape and for a child under two parents."""
    raw = _read_yaml(Path(path))
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise TaxonomyError(f"{path}: expected a mapping of parent label to a list of child labels")
    seen: dict[str, str] = {}
    for parent, children in raw.items():
        for child in children:
            if child in seen:
                raise TaxonomyError(f"{path}: {child!r} is listed under both {seen[child]!r} and {parent!r}")
            if child in raw:
                raise TaxonomyError(f"{path}: {child!r} is both a parent and a child label")
            seen[child] = parent
    return {str(k): [str(c) for c in v] for k, v in raw.items()}


def read_descriptions(path: str | Path) -> dict[str, str]:
    """{label: what it means} from YAML (the codebook's definitions in the project's words)."""
    raw = _read_yaml(Path(path))
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
        raise TaxonomyError(f"{path}: expected a mapping of label to a non-empty description")
    return {str(k): " ".join(v.split()) for k, v in raw.items()}


def _regex_pairs(pairs: list, where: str) -> list[tuple[re.Pattern, Any]]:
    out = []
    for item in pairs or []:
        if not (isinstance(item, list) and len(item) == 2):
            raise TaxonomyError(f"{where}: expected [regex, value] pairs, found {item!r}")
        out.append((re.compile(item[0], re.IGNORECASE), item[1]))
    return out


class ActorNormalizer:
    """Strip period suffixes, rewrite generic names, map aliases to one canonical name."""

    def __init__(self, spec: dict):
        self.strip = [re.compile(p) for p in spec.get("strip", [])]
        self.rewrite = _regex_pairs(spec.get("rewrite", []), "actors.yaml rewrite")
        self.aliases = {}
        self.names: dict[str, list[str]] = {}  # canonical name -> its other names
        for canonical, names in (spec.get("aliases") or {}).items():
            self.names[canonical] = list(names)
            for name in [canonical, *names]:
                self.aliases[name.strip().lower()] = canonical

    def __call__(self, name: Any) -> str | None:
        if name is None or (isinstance(name, float) and name != name):
            return None
        name = str(name).strip()
        for pattern in self.strip:
            name = pattern.sub("", name).strip()
        if not name:
            return None
        for pattern, canonical in self.rewrite:
            if pattern.search(name):
                return canonical
        return self.aliases.get(name.lower(), name)


class StateForces:
    """Coders' state-force names ("Military Forces of Kenya") and the words news uses for
    them ("Kenyan troops", "Kenya police"), from states.yaml."""

    def __init__(self, spec: dict):
        self.roles = {role: sorted(words, key=len, reverse=True) for role, words in (spec.get("roles") or {}).items()}
        # role words that name a state force with no country before them (a subset of roles)
        self.bare = {role: {w.lower() for w in words} for role, words in (spec.get("bare") or {}).items()}
        self.countries = {c: [c, *(d or [])] for c, d in (spec.get("countries") or {}).items()}
        self.by_word = {w.lower(): c for c, words in self.countries.items() for w in words}
        # longest first: "South Sudan" before "Sudan"
        self._names = sorted(self.countries, key=len, reverse=True)
        # countries coders write with "the" ("Military Forces of the Philippines")
        self.with_the = {c.lower() for c in spec.get("the") or []}

    def name(self, role: str, country: str) -> str:
        """The coders' name of a country's force: "Military Forces of Kenya", "... of the Philippines"."""
        return f"{role.capitalize()} Forces of {'the ' if country.lower() in self.with_the else ''}{country}"

    def parse(self, name: str) -> tuple[str, str] | None:
        """("military" | "police", country) of a coder's state-force name, else None."""
        m = re.match(r"^(military|police) forces of (?:the )?(.+)$", name.strip(), re.IGNORECASE)
        if not m:
            return None
        rest = m.group(2).lower()
        country = next((c for c in self._names if rest == c.lower() or rest.startswith(c.lower() + " ")), None)
        return (m.group(1).lower(), country) if country and m.group(1).lower() in self.roles else None

    @cached_property
    def _country_words(self) -> re.Pattern | None:
        words = sorted({w for ws in self.countries.values() for w in ws}, key=len, reverse=True)
        return re.compile(r"\b(?:%s)\b" % "|".join(map(re.escape, words))) if words else None

    def named_country(self, text: str) -> str | None:
        """The country a text names by its own name or nationality, written with its capitals
        ("Myanmar", "Burmese"): the most named one, when it is named at least three times as
        often as any other; None when it names none or several alike."""
        if self._country_words is None:
            return None
        return dominant(Counter(self.by_word[m.group(0).lower()] for m in self._country_words.finditer(text)))

    def variants(self, role: str, country: str) -> list[str]:
        return [f"{w} {r}" for w in self.countries.get(country, [country]) for r in self.roles.get(role, [])]

    def role_of(self, text: str) -> str | None:
        """"police", "the soldiers": the role a bare role word names (no country before it)."""
        t = re.sub(r"^the\s+", "", " ".join(text.split()).strip(), flags=re.IGNORECASE).lower()
        return next((role for role, words in self.bare.items() if t in words), None)

    def compose(self, text: str) -> str | None:
        """"Ukrainian forces", "Ukraine's army" -> "Military Forces of Ukraine"; None when the
        words are not a nationality (or a country's possessive) followed by a role."""
        t = " ".join(text.split()).strip()
        t = re.sub(r"^the\s+", "", t, flags=re.IGNORECASE)
        for role, words in self.roles.items():
            for w in words:
                if t.lower().endswith(" " + w.lower()):
                    # "Sudan's army" as "Sudanese army": a possessive country is its nationality
                    country = self.by_word.get(re.sub(r"['’]s$", "", t[: -len(w)].strip()).lower())
                    if country:
                        return self.name(role, country)
        return None


def _clean_rules(spec: dict) -> list[re.Pattern]:
    return [re.compile(p, re.IGNORECASE) for p in spec.get("clean", [])]


def clean_text(text: str, rules: list[re.Pattern]) -> str:
    for pattern in rules:
        text = pattern.sub(" ", text).strip()
    return text[:1].upper() + text[1:] if text else text


@dataclass
class Taxonomy:
    """All mappings in one taxonomy folder, read lazily so a reader loads only its own."""

    folder: Path

    @cached_property
    def actors(self) -> ActorNormalizer:
        return ActorNormalizer(_read_yaml(self.folder / "actors.yaml") or {})

    @cached_property
    def states(self) -> StateForces:
        path = self.folder / "states.yaml"
        return StateForces(_read_yaml(path) if path.is_file() else {})

    @cached_property
    def acled(self) -> "AcledMapping":
        return AcledMapping(_read_yaml(self.folder / "acled.yaml") or {})

    @cached_property
    def muc(self) -> "MucMapping":
        path = self.folder / "muc.yaml"
        return MucMapping(_read_yaml(path) if path.is_file() else None)

    @cached_property
    def gtd(self) -> "GtdMapping":
        return GtdMapping(_read_yaml(self.folder / "gtd.yaml") or {})


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


class AcledMapping:
    def __init__(self, spec: dict):
        self.inter = {str(k): v for k, v in (spec.get("inter_targets") or {}).items()}
        self.state_forces = _regex_pairs(spec.get("state_forces"), "acled.yaml state_forces")
        self.country = re.compile(spec.get("state_force_country", r"$^"), re.IGNORECASE)
        self.name_rules = _regex_pairs(spec.get("name_rules"), "acled.yaml name_rules")
        self.clean = _clean_rules(spec)

    def _state_force(self, name: str, country: str | None) -> set[str]:
        labels = set()
        for pattern, label in self.state_forces:
            if pattern.search(name):
                labels.add(label)
                break
        m = self.country.search(name)
        if m and country and m.group(1).strip().lower() != str(country).strip().lower():
            labels.add("foreign_forces")
        return labels

    def targets(self, actor2: Any, inter2: Any, assoc_actor_2: Any = None, country: Any = None) -> list[str]:
        labels: set[str] = set()
        names = [] if _is_missing(actor2) else [str(actor2)]
        if not _is_missing(assoc_actor_2):
            names += [n.strip() for n in str(assoc_actor_2).split(";") if n.strip()]
        if not _is_missing(inter2):
            key = str(inter2).strip()
            key = key[:-2] if key.endswith(".0") else key  # numeric codes read as floats
            rule = self.inter.get(key)
            if rule == "state_forces":
                if names:
                    labels |= self._state_force(names[0], None if _is_missing(country) else country)
            elif rule:
                labels |= set(rule)
        for name in names:
            for pattern, label in self.name_rules:
                if pattern.search(name):
                    labels.add(label)
        return sorted(labels)


class GtdMapping:
    def __init__(self, spec: dict):
        self.attack_types = spec.get("attack_types") or {}
        armed = spec.get("armed_assault_on_armed") or {}
        self.armed_event = armed.get("event")
        self.armed_targets = set(armed.get("target_types") or [])
        self.suicide = spec.get("suicide")
        self.drone_detail = re.compile(spec["drone_detail"]) if spec.get("drone_detail") else None
        self.drone = spec.get("drone")
        self.weapon_types = spec.get("weapon_types") or {}
        self.weapon_subtypes = spec.get("weapon_subtypes") or {}
        self.target_types = spec.get("target_types") or {}
        self.foreign = set(spec.get("foreign_if_nationality_differs") or [])
        self.clean = _clean_rules(spec)
        self._explosions = self.attack_types.get("Bombing/Explosion")

    def event(self, attack_type: Any, target_type: Any = None, suicide: Any = None,
              weapon_type: Any = None, weapon_subtype: Any = None, weapon_detail: Any = None) -> str | None:
        if _is_missing(attack_type):
            return None
        attack_type = str(attack_type).strip()
        if attack_type not in self.attack_types:
            raise TaxonomyError(f"GTD attack type {attack_type!r} is not in gtd.yaml attack_types")
        label = self.attack_types[attack_type]
        if attack_type == "Armed Assault" and str(target_type).strip() in self.armed_targets:
            return self.armed_event
        if label != self._explosions or label is None:
            return label
        if not _is_missing(suicide) and str(suicide).strip() in ("1", "1.0", "True"):
            return self.suicide
        if self.drone_detail and not _is_missing(weapon_detail) and self.drone_detail.search(str(weapon_detail)):
            return self.drone
        if not _is_missing(weapon_type) and str(weapon_type).strip() in self.weapon_types:
            return self.weapon_types[str(weapon_type).strip()]
        if not _is_missing(weapon_subtype) and str(weapon_subtype).strip() in self.weapon_subtypes:
            return self.weapon_subtypes[str(weapon_subtype).strip()]
        return label

    def targets(self, target_types: list[Any], nationalities: list[Any] | None = None,
                country: Any = None) -> list[str] | None:
        nationalities = nationalities or [None] * len(target_types)
        pairs = [(str(t).strip(), n) for t, n in zip(target_types, nationalities) if not _is_missing(t)]
        for ttype, _ in pairs:
            if ttype not in self.target_types:
                raise TaxonomyError(f"GTD target type {ttype!r} is not in gtd.yaml target_types")
        # a type mapped to null (Unknown) says nothing about the target
        pairs = [(t, n) for t, n in pairs if self.target_types[t] is not None]
        if not pairs:
            return None
        labels: set[str] = set()
        for ttype, nat in pairs:
            mapped = set(self.target_types[ttype])
            labels |= mapped
            if (mapped & self.foreign and not _is_missing(nat) and not _is_missing(country)
                    and str(nat).strip() != str(country).strip()):
                labels.add("foreign_forces")
        return sorted(labels)


class MucMapping:
    """MUC-3/4 keys -> the default schema's event_type, target and relevance. Without a
    muc.yaml in the taxonomy folder the default-schema columns stay empty."""

    def __init__(self, spec: dict | None):
        self.active = spec is not None
        spec = spec or {}
        self.incidents = spec.get("incident_types") or {}
        armed = spec.get("attack_on_armed") or {}
        self.armed_event, self.armed = armed.get("event"), set(armed.get("human_targets") or [])
        self.human = spec.get("human_targets") or {}
        self.physical = spec.get("physical_targets") or {}

    def default_schema(self, first_incident: Any, human: list[str], physical: list[str]) -> dict:
        if not self.active:
            return {}
        if _is_missing(first_incident):
            return {"event_type": None, "target": None, "relevance": "none"}
        incident = str(first_incident).strip()
        if incident not in self.incidents:
            raise TaxonomyError(f"MUC incident type {incident!r} is not in muc.yaml incident_types")
        event = self.incidents[incident]
        if incident == "ATTACK" and human and set(human) <= self.armed:
            event = self.armed_event
        targets: set[str] = set()
        for kind, table, values in (("human", self.human, human), ("physical", self.physical, physical)):
            for v in values:
                if v not in table:
                    raise TaxonomyError(f"MUC {kind} target type {v!r} is not in muc.yaml {kind}_targets")
                targets |= set(table[v])
        return {"event_type": event, "target": sorted(targets), "relevance": "event"}
