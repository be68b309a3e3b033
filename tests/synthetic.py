"""Short synthetic security reports for the retraining tests, written from templates: the
event, target and actor each show in their own words, so a small model learns them."""
import random

EVENTS = {
    "Armed clash": ["fighters of {actor} clashed with {target} near {place}",
                    "{actor} gunmen exchanged fire with {target} outside {place} for hours"],
    "Shelling/artillery/missile attack": ["{actor} fired rockets at {target} in {place}",
                                          "mortar rounds launched by {actor} landed among {target} at {place}"],
    "Attack": ["{actor} attackers shot unarmed {target} in {place}",
               "{actor} raided {place} and killed several {target} in their homes"],
    "Peaceful protest": ["supporters of {actor} marched peacefully past {target} offices in {place}",
                         "a calm rally organised by {actor} gathered outside {target} buildings in {place}"],
}
TARGETS = {"military": "soldiers", "police": "police officers", "civilians": "villagers"}
PLACES = ["Karbala", "Mosul", "Tikrit", "Basra", "Kirkuk", "Samarra", "Ramadi", "Najaf", "Erbil", "Hilla"]
OLD_ACTORS = ["Northern Front", "Harbor Militia", "Valley Guards"]
NEW_ACTOR = "Crimson Brigade"


def reports(actors: list[str], n: int, seed: int, prefix: str) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        event = list(EVENTS)[i % len(EVENTS)]
        actor = actors[(i // len(EVENTS)) % len(actors)]
        target = list(TARGETS)[rng.randrange(len(TARGETS))]
        sentence = rng.choice(EVENTS[event]).format(actor=actor, target=TARGETS[target], place=rng.choice(PLACES))
        text = f"{sentence[0].upper()}{sentence[1:]} on day {rng.randrange(1, 29)}, officials said. Report {prefix}{i}."
        rows.append({"id": f"{prefix}{i}", "text": text, "event_type": event, "target": [target], "actor": actor})
    return rows


def config_yaml(kind: str = "tfidf", encoder: str | None = None) -> str:
    """A config over these reports (the taxonomy and hierarchy of the project's configs)."""
    model = ("model:\n  kind: tfidf\n  tfidf: {word_ngrams: [1, 2], char_ngrams: [3, 4], max_features: 5000, "
             "min_df: 1, C: 10.0, max_iter: 300, n_jobs: 1}\n") if kind == "tfidf" else (
        f"model:\n  kind: transformer\n  transformer: {{encoder: {encoder}, max_length: 48, stride: 8, batch_size: 32}}\n"
        "train: {epochs: 30, batch_size: 16, lr: 3.0e-3, head_lr: 3.0e-2, eval_every: 1000, patience: 100, "
        "bf16: false, abstain_precision: null, log_every: 5}\n")
    return f"""data:
  paths: []
  format: native
  taxonomy: {TAXONOMY}
split: {{method: standard, val_fraction: 0.0}}
tasks:
  - {{name: event_type, labels: hierarchy, hierarchy: {TAXONOMY}/event_types.yaml}}
  - {{name: target, type: multi, labels: [military, police, civilians]}}
  - {{name: actor, labels: from_data, min_count: 3, other_label: Other}}
{model}eval: {{plots: false}}
"""


from .conftest import CONFIGS  # noqa: E402

TAXONOMY = CONFIGS / "taxonomy"
