"""Actors benchmark: can secnews name the group an article says is behind an event, including
a group it never saw in training?

    # 1. the held-out names, and the training command of the model that never sees them
    python benchmarks/actors.py holdout --data-root ../shared/datasets
    # 2. score the main model (and the held-out one)
    python benchmarks/actors.py run --data-root ../shared/datasets --model MODEL \
        [--unseen-model MODEL_TRAINED_WITHOUT_THE_HELD_OUT_NAMES] --out benchmarks/results

Reports (benchmarks/results/actors.json):
  acled_known  ACLED standard test split, each row's actor as coded: exact-name accuracy
               over the rows whose actor is one of the model's labels (`accuracy`), over
               the rows whose actor is a rarer name the closed head can only call Other
               (`rare_names`), over all rows (`all_rows`), and the closed-set head's
               accuracy against the labels folded into its own (the figure of today's
               models, `closed_set_accuracy`);
  unseen       20% of the ACLED actor names with >= 10 rows (seed 0; coders' categories
               Protesters/Rioters/Civilians/Unidentified/Sole Perpetrator are not names)
               were held out of every source of the --unseen-model's training
               (split.holdout_actors); exact-name accuracy on their ACLED test rows;
  news         the frozen news set: articles naming a group known to the ACLED export,
               naming one unknown to it, and attributing to nobody (Unidentified);
  muc          MUC-3/4 test articles naming a perpetrator organisation.
An answer names the gold actor when, after normalisation (case, hyphens and spaces, a
leading "the", ACLED's period suffix and a trailing qualifier in parentheses such as
"(Kenya)", the alias table), it equals the coded name or one of the forms the coded name
stands for (each part of "A and/or B", "JNIM" for "JNIM: Group for Support of Islam and
Muslims"; "Military Forces of Kenya" is only itself).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from secnews.training.modeldir import load  # noqa: E402
from secnews.training.names import kin_index, learn_names, read_names  # noqa: E402
from secnews.training.places import learn_places, read_places  # noqa: E402
from secnews.training.spans import find_mentions, name_variants  # noqa: E402
from secnews.training.taxonomy import Taxonomy  # noqa: E402
from secnews.training.train import prepare  # noqa: E402
from secnews.training.validation import coded_labels  # noqa: E402

NEWS = ROOT / "datasets" / "news_eval" / "news_eval.jsonl"
TAXONOMY = ROOT / "configs" / "taxonomy"
CATEGORIES = {"Protesters", "Rioters", "Civilians", "Unidentified", "Other"}
TRAIN_DATA = ["acled:{root}/acled/acled_events.csv.gz", "gtd:{root}/gtd/gtd_iraq_2012_2017.csv",
              "gtd:{root}/gtd/drone_attacks_gtd_acled.csv", "muc:{root}/muc34/muc34.jsonl.gz",
              "datasets/starter/*.jsonl", "datasets/articles/*.jsonl"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def key(name: str) -> str:
    name = re.sub(r"\s*\(\d{4}-(\d{4})?\)", "", name)
    name = re.sub(r"\s*\([^)]*\)\s*$", "", name.strip())
    name = re.sub(r"^the\s+", "", name.strip(), flags=re.IGNORECASE)
    return re.sub(r"[\s\-]+", " ", name).strip().lower()


class Names:
    def __init__(self):
        tax = Taxonomy(TAXONOMY)
        self.normalise, self.aliases, self.states = tax.actors, tax.actors.names, tax.states

    def forms(self, gold: str) -> set[str]:
        forms = {gold, *name_variants(gold, self.aliases)}
        return {key(self.normalise(f) or f) for f in forms} | {key(f) for f in forms}

    def same(self, pred: str | None, gold: str) -> bool:
        if pred is None:
            return False
        return key(self.normalise(pred) or pred) in self.forms(gold) or key(pred) in self.forms(gold)


def acled_names(root: Path) -> tuple[list[str], dict[str, int]]:
    import pandas as pd

    norm = Taxonomy(TAXONOMY).actors
    counts = pd.read_csv(root / "acled" / "acled_events.csv.gz", usecols=["actor1"])["actor1"].map(norm).value_counts()
    return sorted(counts.index), counts.to_dict()


def holdout_names(root: Path, seed: int = 0, share: float = 0.2) -> list[str]:
    _, counts = acled_names(root)
    pool = sorted(n for n, c in counts.items() if c >= 10 and n not in CATEGORIES
                  and not n.startswith("Sole Perpetrator"))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(pool, size=int(round(share * len(pool))), replace=False).tolist())


def prepared(model, spec: str | list[str], root: Path, holdout: bool = False):
    """`spec`'s rows (one source or several) read and split with the model's own config; with
    `holdout`, the model's split.holdout_actors stay out of train as they did in its training."""
    cfg = copy.deepcopy(model.config)  # the data to read; the model keeps its own
    specs = [spec] if isinstance(spec, str) else spec
    cfg.data.paths, cfg.data.format, cfg.data.max_rows = [s.format(root=root) for s in specs], "native", None
    cfg.data.taxonomy = str(TAXONOMY)
    if not holdout:
        cfg.split.holdout_actors = []
    return prepare(cfg, lambda m: None, spaces=model.spaces).df


def rows_of(model, spec: str, root: Path):
    """`spec`'s test rows, `actor` as coded: validation folds a name outside the model's
    labels into Other, which no answer should be scored against (Other names nobody)."""
    df = prepared(model, spec, root)
    df = df[df["fold"] == "test"].copy()
    df["closed_actor"] = df["actor"]
    df["actor"] = df[coded_labels(df, "actor")]
    return df


def written_as(text: str, gold: str, aliases: dict, states) -> str:
    """How a row's text writes its coded actor: "name" (the coded name or a form the span
    head is taught: an alias, an acronym, "Kenyan police"; spans.name_variants), "role" (of a
    state force, only a bare role word: "Police shoot two suspects"), or "other" (another form,
    "French Operation Barkhane forces", "Ingessana militia", "gendarmes", or none at all, "The
    OSCE SMM observed 12 explosions near Lebedynske"). Where the unseen figure is lost."""
    if find_mentions(text, [gold, *name_variants(gold, aliases, states), *name_variants(gold, aliases)]):
        return "name"
    parsed = states.parse(gold)
    if parsed and find_mentions(text, sorted(states.bare.get(parsed[0], ()))):
        return "role"
    return "other"


def places_for(model, root: Path) -> str:
    """The places table the linker reads: the model's own places.json, or, for a model
    directory written before places.json existed, the same table learnt here from the ACLED
    training rows that model was trained on (its held-out names removed): a deterministic
    function of the training rows, as `secnews train` now writes it."""
    if model.linker is None or read_places(model.path):
        return "the model's places.json"
    df = prepared(model, "acled:{root}/acled/acled_events.csv.gz", root, holdout=True)
    train = df[df["fold"] == "train"]
    model.linker.places = learn_places(train["text"].tolist(), train["country"].tolist())
    return (f"learnt by this benchmark from the model's {len(train):,} ACLED training rows "
            f"({len(model.linker.places):,} place words; the model directory predates places.json)")


def names_for(model, root: Path) -> str:
    """The names table the linker reads: the model's own names.json, or, for a model directory
    written before names.json existed, the same table learnt here from the rows of every source
    that model was trained on (its own split, its held-out names kept out), as `secnews train`
    now writes it."""
    if model.linker is None or read_names(model.path):
        return "the model's names.json"
    df = prepared(model, TRAIN_DATA, root, holdout=True)
    train = df[df["fold"] == "train"]
    table = learn_names(train[coded_labels(train, "actor")].tolist())
    model.linker.kin = kin_index(table)
    return (f"learnt by this benchmark from the model's {len(train):,} training rows ({len(table):,} names; "
            "the model directory predates names.json)")


def answers(model, texts: list[str]) -> list[dict]:
    t0 = time.perf_counter()
    out = [a["actor"] for a in model.answers(texts, evidence=False)]
    log(f"    {len(texts):,} texts in {time.perf_counter() - t0:.0f}s")
    return out


def accuracy(names: Names, preds: list[dict], golds: list[str]) -> dict:
    hits = [names.same(p["label"], g) for p, g in zip(preds, golds)]
    return {"accuracy": round(float(np.mean(hits)), 4) if hits else None, "n": len(hits)}


def closed_accuracy(preds: list[dict], folded: list[str]) -> float:
    """The closed-set head's answer against the gold folded into its labels (today's figure)."""
    got = [(p.get("closed_set") or p)["label"] for p in preds]
    return round(float(np.mean([a == b for a, b in zip(got, folded)])), 4)


def with_linker(model, args) -> None:
    """The linker rules --span-attention / --span-unclaimed set instead of the model's own."""
    if model.linker is None:
        return
    if args.span_attention is not None:
        model.linker.attention = args.span_attention
    if args.span_unclaimed is not None:
        model.linker.unclaimed = args.span_unclaimed == "true"


def run(args) -> dict:
    names = Names()
    model = load(args.model)
    with_linker(model, args)
    root = args.data_root
    report: dict = {"command": "python benchmarks/actors.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                    "models": {"model": model.manifest.get("name"), "unseen_model": None,
                               "span_attention": model.linker.attention if model.linker else None,
                               "span_unclaimed": model.linker.unclaimed if model.linker else None}}
    held = holdout_names(root)
    report["models"]["places"] = places_for(model, root)
    report["models"]["names"] = names_for(model, root)

    log("acled: standard test split")
    test = rows_of(model, "acled:{root}/acled/acled_events.csv.gz", root)
    test = test[test["actor"].notna()]
    preds = answers(model, test["text"].tolist())
    golds = test["actor"].tolist()
    # known: the coded actor is one of the model's labels; rare: a name the closed head can
    # only call Other, which the answer must name from the text (the open set at home)
    labels = set(model.spaces["actor"].labels) - {"Other"}
    known_rows = [i for i, g in enumerate(golds) if g in labels]
    rare = [i for i, g in enumerate(golds) if g not in labels and g not in CATEGORIES]
    named = [i for i, g in enumerate(golds) if g not in CATEGORIES]
    report["acled_known"] = {
        **accuracy(names, [preds[i] for i in known_rows], [golds[i] for i in known_rows]),
        "closed_set_accuracy": closed_accuracy(preds, test["closed_actor"].tolist()),
        "all_rows": accuracy(names, preds, golds),
        "rare_names": accuracy(names, [preds[i] for i in rare], [golds[i] for i in rare]),
        "named_groups": accuracy(names, [preds[i] for i in named], [golds[i] for i in named]),
        "decided_by_span": round(float(np.mean([p.get("decided_by") == "span" for p in preds])), 4),
        "decided_by_places": round(float(np.mean([p.get("decided_by") == "places" for p in preds])), 4)}

    if args.unseen_model:
        log("unseen: test rows of the held-out names, scored by the model trained without them")
        unseen = load(args.unseen_model)
        with_linker(unseen, args)
        report["models"]["unseen_model"] = unseen.manifest.get("name")
        trained_without = set(unseen.config.split.holdout_actors)
        if trained_without != set(held):
            raise SystemExit(f"--unseen-model was trained with split.holdout_actors {sorted(trained_without)[:5]}..., "
                             f"not this benchmark's {len(held)} names: retrain with `actors.py holdout`'s command")
        rows = test[test["actor"].isin(held)]
        places = places_for(unseen, root)
        report["models"]["unseen_names"] = names_for(unseen, root)
        preds_u = answers(unseen, rows["text"].tolist())
        report["unseen"] = {**accuracy(names, preds_u, rows["actor"].tolist()), "held_out_names": held,
                            "places": places, "per_name": {}}
        for name in sorted(set(rows["actor"])):
            idx = np.flatnonzero(rows["actor"].to_numpy() == name)
            report["unseen"]["per_name"][name] = accuracy(names, [preds_u[i] for i in idx], [name] * len(idx))
        # the figure by how the row's text writes the actor: its name, a bare role word only, another form or none
        written = np.array([written_as(t, g, names.aliases, names.states) for t, g in zip(rows["text"], rows["actor"])])
        report["unseen"]["written_as"] = {
            kind: accuracy(names, [preds_u[i] for i in np.flatnonzero(written == kind)], rows["actor"].to_numpy()[written == kind].tolist())
            for kind in ("name", "role", "other")}
        report["unseen"]["examples"] = [{"gold": g, "answer": p["label"], "decided_by": p.get("decided_by")}
                                        for g, p in list(zip(rows["actor"], preds_u))[:40]]

    log("news: the frozen news set")
    articles = [json.loads(l) for l in NEWS.read_text(encoding="utf-8").splitlines() if l.strip()]
    articles = [a for a in articles if a.get("actor")]
    known_names, _ = acled_names(root)
    known = {key(n) for n in known_names}
    preds_n = answers(model, [f"{a['title']}\n\n{a['text']}" if a.get("title") else a["text"] for a in articles])
    groups = {"known": [], "unknown": [], "unidentified": [], "crowd": []}
    for a, p in zip(articles, preds_n):
        g = a["actor"]
        kind = ("unidentified" if g == "Unidentified" else "crowd" if g in CATEGORIES
                else "known" if key(g) in known else "unknown")
        groups[kind].append((p, g, a["id"]))
    acc = {k: accuracy(names, [p for p, _, _ in v], [g for _, g, _ in v]) for k, v in groups.items()}
    named = groups["known"] + groups["unknown"]
    report["news"] = {"known_accuracy": acc["known"]["accuracy"], "unknown_accuracy": acc["unknown"]["accuracy"],
                      "unidentified_accuracy": acc["unidentified"]["accuracy"],
                      "named_accuracy": accuracy(names, [p for p, _, _ in named], [g for _, g, _ in named])["accuracy"],
                      "crowd_accuracy": acc["crowd"]["accuracy"],
                      "n": len(articles), "n_by_kind": {k: v["n"] for k, v in acc.items()},
                      "answers": [{"id": i, "gold": g, "answer": p["label"], "known": p.get("known"),
                                   "decided_by": p.get("decided_by"), "right": names.same(p["label"], g)}
                                  for kind in ("known", "unknown", "unidentified") for p, g, i in groups[kind]]}

    log("muc: MUC-3/4 test articles naming a perpetrator organisation")
    muc = rows_of(model, "muc:{root}/muc34/muc34.jsonl.gz", root)
    muc = muc[muc["actor"].notna() & (muc["actor"] != "Unidentified")]
    preds_m = answers(model, muc["text"].tolist())
    report["muc"] = accuracy(names, preds_m, muc["actor"].tolist())
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("holdout", help="print the held-out names and the training command without them")
    h.add_argument("--data-root", type=Path, required=True)
    h.add_argument("--out", default="models/actors-unseen")
    r = sub.add_parser("run", help="score the models")
    r.add_argument("--data-root", type=Path, required=True)
    r.add_argument("--model", required=True, help="the model trained with the README's command")
    r.add_argument("--unseen-model", help="the same recipe trained with the held-out names removed")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--span-attention", type=float, default=None,
                   help="score with this model.transformer.span_attention instead of the models' own "
                        "(a linker rule: the same encoder outputs, no retraining)")
    r.add_argument("--span-unclaimed", choices=["true", "false"], default=None,
                   help="score with model.transformer.span_unclaimed set so instead of the models' own")
    args = ap.parse_args()
    if args.cmd == "holdout":
        held = holdout_names(args.data_root)
        log(f"{len(held)} names held out: {', '.join(held)}")
        data = " ".join(shlex.quote(d.format(root=args.data_root)) for d in TRAIN_DATA)
        print(f"secnews train configs/default.yaml --out {args.out} --data {data} "
              f"--set {shlex.quote('split.holdout_actors=' + json.dumps(held))}")
        return
    report = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "actors.json.tmp"
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    tmp.replace(args.out / "actors.json")
    log(json.dumps({k: {kk: vv for kk, vv in v.items() if kk in ("accuracy", "n", "closed_set_accuracy",
                                                                   "known_accuracy", "unknown_accuracy",
                                                                   "unidentified_accuracy", "named_accuracy")}
                    for k, v in report.items() if isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
