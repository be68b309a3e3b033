"""From the actor span the model read to a name: normalised, linked to a known actor when it
is one, the name itself (`known: false`) when it is not.

Known actors are the closed-set head's labels, the alias table the model was trained with
(`actors.yaml`, copied into the model directory) and the analysts' registry
(`secnews actors add`, read at load time, so a confirmed name needs no retraining).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from .labels import LabelSpace
from .spans import Span
from .taxonomy import ActorNormalizer, StateForces

CATEGORIES = {"other", "unidentified", "protesters", "rioters", "civilians"}
LEADING = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)
POSSESSIVE = re.compile(r"['’]s$")
ACRONYM = re.compile(r"^[A-Z][A-Z0-9\-]{1,7}$")


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
        raise ValueError(f"{path}: expected a mapping 'actors: {{name: [aliases]}}'")
    return {str(k): [str(a) for a in (v or [])] for k, v in (data.get("actors") or {}).items()}


def add_to_registry(name: str, aliases: list[str], path: Path | None = None) -> Path:
    """Add (or extend) one actor in the registry; written to a temporary file, then renamed."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("actor name: empty")
    if len(name) > 200:
        raise ValueError(f"actor name: {len(name)} characters, at most 200")
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
    m = re.search(r"([^()]{1,120}?)\s*\(\s*" + re.escape(acronym) + r"\s*\)", text)
    if not m:
        return None
    words = re.findall(r"[\w'’]+(?:-[\w'’]+)*", m.group(1))[-10:]
    for k in range(1, len(words) + 1):
        initials = "".join(p[0] for w in words[-k:] for p in w.split("-") if p and p[0].isupper())
        if initials == acronym.replace("-", ""):
            return " ".join(words[-k:])
    return None


class ActorLinker:
    def __init__(self, spec: dict, labels: list[str], registry: dict[str, list[str]], threshold: float = 0.5,
                 states: StateForces | None = None):
        spec = dict(spec or {})
        self.states = states or StateForces({})
        aliases = dict(spec.get("aliases") or {})
        for canonical, names in registry.items():
            aliases[canonical] = list(dict.fromkeys([*aliases.get(canonical, []), *names]))
        spec["aliases"] = aliases
        self.normalizer = ActorNormalizer(spec)
        self.known = {l.lower(): l for l in labels if l.lower() not in CATEGORIES}
        for canonical in aliases:
            self.known.setdefault(canonical.lower(), canonical)
        self.threshold = threshold

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
        return cls(table("actors.yaml"), labels, read_registry(), space.threshold if space is not None else 0.5,
                   StateForces(table("states.yaml")))

    def name(self, raw: str, text: str) -> tuple[str, bool]:
        """The normalised name of a span and whether it is a known actor."""
        name = POSSESSIVE.sub("", LEADING.sub("", " ".join(raw.split()).strip(" ,.;:\"'()[]")))
        state = self.states.compose(name)  # "Kenyan troops" -> "Military Forces of Kenya"
        if state:
            return self.lookup(state) or state, self.lookup(state) is not None
        found = self.lookup(name)
        if found:
            return found, True
        if ACRONYM.match(name):  # "KH" after "Kataeb Hezbollah (KH)": the full name
            full = expand_acronym(name, text)
            if full:
                found = self.lookup(full)
                return (found, True) if found else (full, False)
        if name.isupper() and " " in name:  # MUC-3/4 wire copy is upper case
            name = name.title()
        return self.normalizer(name) or name, False

    def lookup(self, name: str) -> str | None:
        canonical = self.normalizer(name)
        return self.known.get(canonical.lower()) if canonical else None

    def named(self, text: str, span: Span) -> dict:
        """What the span head decided: the linked name, its score, whether it is known, where."""
        label, known = self.name(span.text(text), text)
        return {"label": label, "score": round(span.score, 4), "known": known, "span": [span.start, span.end],
                "uncertain": span.score < self.threshold}

    def answer(self, closed: dict, text: str, span: Span | None, sentence_spans: list, evidence: bool) -> dict:
        """The actor answer: the span's name when the head found one, else the closed-set
        head's label; `decided_by` says which."""
        if span is None:
            return {**closed, "known": closed["label"].lower() != "other", "decided_by": "closed"}
        out = {**closed, **self.named(text, span), "mention": span.text(text), "decided_by": "span",
               "closed_set": {"label": closed["label"], "score": closed["score"]}}
        if evidence:
            sent = next(((a, b) for a, b in sentence_spans if a <= span.start < b), (span.start, span.end))
            out["evidence"] = text[sent[0]:sent[1]]
        return out
