"""Choose model.transformer.span_attention (training/linking.py, ActorLinker.attributed), or
with `--vary span_unclaimed` whether ActorLinker.unattributed answers Unidentified, on data
that is not the frozen news set, then score the news set and MUC-3/4 with each value; the
model's other settings stay as its config has them.

    python benchmarks/span_attention.py --model MODEL --data-root ../shared/datasets --sets dev --out dev.json
    python benchmarks/span_attention.py --model MODEL --data-root ../shared/datasets --sets test --out test.json

dev: the model's composed validation articles (validation ledes from its own split, with
background paragraphs that name other events' groups), the hand-written training articles
of datasets/articles/ (a linker rule learns nothing from them) and 2,000 validation notes.
test: the frozen news set and MUC-3/4 test articles naming a perpetrator organisation.
The encoder runs once per set; each value only re-runs the linker. Exact-name accuracy
as benchmarks/actors.py scores it, by kind of gold actor (a named group, `Unidentified`,
a coders' category such as Protesters).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.actors import CATEGORIES, NEWS, TRAIN_DATA, Names, rows_of  # noqa: E402
from secnews.training.compose import compose, read_paragraphs  # noqa: E402
from secnews.training.data import article_text  # noqa: E402
from secnews.training.modeldir import load  # noqa: E402
from secnews.training.train import prepare  # noqa: E402
from secnews.training.validation import coded_column  # noqa: E402

# each linker setting tried: its values and the ActorLinker attribute it sets
SETTINGS = {"span_attention": ("attention", [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]),
            "span_unclaimed": ("unclaimed", [False, True])}


def score(model, names: Names, texts: list[str], golds: list[str], label: str, vary: str) -> dict:
    proba, _, spans, candidates = model.backend.read(texts, evidence=False)
    decided, space = model.decide(proba), model.spaces["actor"]
    attr, values = SETTINGS[vary]
    out = {}
    for value in values:
        setattr(model.linker, attr, value)
        hits: dict[str, list[bool]] = {"named": [], "unidentified": [], "category": []}
        said_unidentified = []  # per answer "Unidentified": whether the gold is too (its precision)
        for i, gold in enumerate(golds):
            closed = model._single(proba["actor"][i], space, {k: v[i] for k, v in decided["actor"].items()}, None)
            answer = model.linker.answer(closed, texts[i], candidates[i], spans[i], False, proba["actor"][i])
            kind = "unidentified" if gold == "Unidentified" else "category" if gold in CATEGORIES else "named"
            hits[kind].append(names.same(answer["label"], gold))
            if answer["label"] == "Unidentified":
                said_unidentified.append(gold == "Unidentified")
        every = sum(hits.values(), [])
        out[str(value)] = {**{k: {"accuracy": round(float(np.mean(v)), 4), "n": len(v)} for k, v in hits.items() if v},
                           "all": round(float(np.mean(every)), 4),
                           "unidentified_precision": {"precision": round(float(np.mean(said_unidentified)), 4)
                                                      if said_unidentified else None, "n": len(said_unidentified)}}
        print(label, value, out[str(value)], file=sys.stderr, flush=True)
    return out


def as_coded(rows) -> list[str]:
    col = coded_column("actor")
    return (rows[col].where(rows[col].notna(), rows["actor"]) if col in rows else rows["actor"]).tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--sets", nargs="+", choices=["dev", "test"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--vary", choices=sorted(SETTINGS), default="span_attention")
    args = ap.parse_args()
    model, names, root = load(args.model), Names(), args.data_root
    if model.linker is None:
        raise SystemExit(f"{args.model}: no actor span head, nothing to choose")
    report: dict = {"command": "python benchmarks/span_attention.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])}
    if "dev" in args.sets:
        cfg = copy.deepcopy(model.config)
        cfg.data.paths, cfg.data.format, cfg.data.max_rows = [d.format(root=root) for d in TRAIN_DATA], "native", None
        df = prepare(cfg, lambda m: None, spaces=model.spaces).df
        val = df[df["fold"] == "val"]
        composed, _ = compose(val, cfg, "val", cfg.compose.val_articles, {}, read_paragraphs(cfg.compose.paragraphs),
                              cfg.train.seed + 1, lambda m: None)  # the articles training validated on
        composed = composed[composed["actor"].notna()]
        report["composed_val"] = score(model, names, composed["text"].tolist(), as_coded(composed), "composed_val",
                                       args.vary)
        notes = val[val["actor"].notna()]
        notes = notes.sample(n=min(2000, len(notes)), random_state=0)
        report["val_notes"] = score(model, names, notes["text"].tolist(), as_coded(notes), "val_notes", args.vary)
        hand = (ROOT / "datasets/articles/articles.jsonl").read_text(encoding="utf-8").splitlines()
        hand = [json.loads(l) for l in hand if l.strip()]
        hand = [a for a in hand if a.get("actor")]
        report["handwritten"] = score(model, names, [article_text(a.get("title"), a["text"]) for a in hand],
                                      [a["actor"] for a in hand], "handwritten", args.vary)
    if "test" in args.sets:
        news = [json.loads(l) for l in NEWS.read_text(encoding="utf-8").splitlines() if l.strip()]
        news = [a for a in news if a.get("actor")]
        report["news"] = score(model, names, [article_text(a.get("title"), a["text"]) for a in news],
                               [a["actor"] for a in news], "news", args.vary)
        muc = rows_of(model, "muc:{root}/muc34/muc34.jsonl.gz", root)
        muc = muc[muc["actor"].notna() & (muc["actor"] != "Unidentified")]
        report["muc"] = score(model, names, muc["text"].tolist(), muc["actor"].tolist(), "muc", args.vary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
