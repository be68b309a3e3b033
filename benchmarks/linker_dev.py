"""Score the actor linker's decoding rules on development data only, with the encoder run once
per set: the model's outputs are cached, so an edit to training/linking.py is rescored in
seconds, and a rule is chosen before the frozen news set, the ACLED test split or MUC-3/4
(benchmarks/actors.py) ever see it.

    # first run: reads the sets, runs the model, writes the cache and the answers
    python benchmarks/linker_dev.py --model MODEL --data-root ../shared/datasets \
        --cache /tmp/linker_cache/MODEL_NAME --out base.json
    # after editing training/linking.py: the cached outputs through the new rules
    python benchmarks/linker_dev.py --model MODEL --data-root ../shared/datasets \
        --cache /tmp/linker_cache/MODEL_NAME --out rule.json --base base.json

The sets (never a test split, never the frozen set):
  dev1, dev2      datasets/news_dev, datasets/news_dev2: written for choosing rules;
  handwritten     datasets/articles: the hand-written training articles (in-sample for the
                  heads, not for the rules);
  val_notes       2,000 of the model's ACLED validation rows (its own split, seed 0);
  composed_val    the validation articles the model's training composed (compose.val_articles);
  unseen_val      with a model trained with split.holdout_actors: the validation-side rows of
                  the held-out names, which that model never saw (all its folds but test).
Prints each set's exact-name accuracy (benchmarks/actors.py's comparison) and, with --base,
every answer that changed: gained, lost, wrong to another wrong, or right and respelled.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.actors import TRAIN_DATA, Names, log, names_for, places_for, prepared  # noqa: E402
from benchmarks.articles import read_news  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from secnews.training.data import article_text  # noqa: E402
from secnews.training.modeldir import load  # noqa: E402
from secnews.training.names import kin_index, read_names  # noqa: E402
from secnews.training.spans import Span  # noqa: E402
from secnews.training.validation import coded_labels  # noqa: E402

ACLED = "acled:{root}/acled/acled_events.csv.gz"
NOTES = 2000


def news_set(path: Path) -> tuple[list[str], list[str], list[str]]:
    arts = [a for a in read_news(path) if a.get("relevance", "event") == "event" and a.get("actor")]
    return [a["id"] for a in arts], [article_text(a.get("title"), a["text"]) for a in arts], [a["actor"] for a in arts]


def model_rows(model, root: Path) -> pd.DataFrame:
    """The model's own split of the ACLED export (held-out names in their natural folds);
    `actor` as coded."""
    df = prepared(model, ACLED, root)
    df["actor"] = df[coded_labels(df, "actor")]
    return df


def composed_val(model, root: Path) -> tuple[list[str], list[str], list[str]]:
    """The validation articles `secnews train` composed for this model (same config, data and
    seed, so the same articles)."""
    from secnews.training.compose import compose, read_paragraphs

    cfg = model.config
    df = prepared(model, TRAIN_DATA, root, holdout=True)
    val = df[df["fold"] == "val"]
    arts, _ = compose(val, cfg, "val", cfg.compose.val_articles, {}, read_paragraphs(cfg.compose.paragraphs),
                      cfg.train.seed + 1, lambda m: None)
    col = coded_labels(arts, "actor")
    arts = arts[arts[col].notna()]
    return [f"cv-{i}" for i in range(len(arts))], arts["text"].tolist(), arts[col].tolist()


def read_sets(model, root: Path, names: list[str]) -> dict[str, tuple[list, list, list]]:
    sets = {}
    if "dev1" in names:
        sets["dev1"] = news_set(ROOT / "datasets" / "news_dev" / "news_dev.jsonl")
    if "dev2" in names:
        sets["dev2"] = news_set(ROOT / "datasets" / "news_dev2" / "news_dev2.jsonl")
    if "handwritten" in names:
        sets["handwritten"] = news_set(ROOT / "datasets" / "articles" / "articles.jsonl")
    held = list(model.config.split.holdout_actors or [])
    if "val_notes" in names or ("unseen_val" in names and held):
        df = model_rows(model, root)
        val = df[(df["fold"] == "val") & df["actor"].notna()]
        if "val_notes" in names:
            pick = val.sample(n=min(NOTES, len(val)), random_state=0).sort_index()
            sets["val_notes"] = ([f"vn-{i}" for i in pick.index], pick["text"].tolist(), pick["actor"].tolist())
        if "unseen_val" in names and held:
            rows = df[(df["fold"] != "test") & df["actor"].isin(set(held))]
            sets["unseen_val"] = ([f"uv-{i}" for i in rows.index], rows["text"].tolist(), rows["actor"].tolist())
    if "composed_val" in names:
        sets["composed_val"] = composed_val(model, root)
    return sets


def digest(texts: list[str]) -> str:
    return hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]


def save_read(folder: Path, out) -> None:
    proba, best, spans, names = out
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "proba.npz", **proba)
    if best is not None:
        np.savez(folder / "best.npz", **best)
    (folder / "spans.json").write_text(json.dumps({
        "spans": [[[int(a), int(b)] for a, b in row] for row in spans],
        "names": [[[int(s.start), int(s.end), float(s.score), float(s.weight)] for s in row] for row in names]}))


def load_read(folder: Path):
    with np.load(folder / "proba.npz") as z:
        proba = {k: z[k] for k in z.files}
    best = None
    if (folder / "best.npz").exists():
        with np.load(folder / "best.npz") as z:
            best = {k: z[k] for k in z.files}
    doc = json.loads((folder / "spans.json").read_text())
    spans = [[tuple(s) for s in row] for row in doc["spans"]]
    names = [[Span(int(a), int(b), float(c), float(d)) for a, b, c, d in row] for row in doc["names"]]
    return proba, best, spans, names


def cached_read(model, cache: Path, set_name: str, texts: list[str]):
    """The backend's read of `texts`, from the cache when it holds these very texts."""
    folder = cache / f"{set_name}-{digest(texts)}"
    if (folder / "spans.json").exists():
        return load_read(folder)
    t0 = time.perf_counter()
    out = model.backend.read(texts, evidence=True)
    log(f"  {set_name}: {len(texts):,} texts through the model in {time.perf_counter() - t0:.0f}s")
    save_read(folder, out)
    return out


def answer_set(model, out, texts: list[str]) -> list[dict]:
    real = model.backend.read
    model.backend.read = lambda *a, **k: out
    try:
        return [a["actor"] for a in model.answers(texts, evidence=True)]
    finally:
        model.backend.read = real


def compare(base: dict, now: dict) -> dict:
    """Per set: answers right now and wrong before (gained), the reverse (lost), wrong answers
    that changed to another wrong one, and right ones now written another way."""
    out = {}
    for name, rows in now.items():
        before = {r["id"]: r for r in base.get(name, {}).get("answers", [])}
        kinds = {"gained": [], "lost": [], "wrong_to_wrong": [], "right_respelled": []}
        for r in rows["answers"]:
            b = before.get(r["id"])
            if b is None or b["answer"] == r["answer"]:
                continue
            kind = ("gained" if r["right"] and not b["right"] else "lost" if b["right"] and not r["right"]
                    else "right_respelled" if r["right"] else "wrong_to_wrong")
            kinds[kind].append({"id": r["id"], "gold": r["gold"], "before": b["answer"], "after": r["answer"]})
        out[name] = kinds
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--cache", type=Path, required=True, help="folder for the model's cached outputs")
    ap.add_argument("--sets", default="dev1,dev2,handwritten,val_notes,composed_val,unseen_val")
    ap.add_argument("--out", type=Path, required=True, help="the answers (.json)")
    ap.add_argument("--base", type=Path, help="an earlier --out to list the changed answers against")
    ap.add_argument("--show", action="store_true", help="print every wrong answer")
    args = ap.parse_args()
    wanted = [s.strip() for s in args.sets.split(",") if s.strip()]
    model = load(args.model)
    if model.linker is None:
        ap.error(f"--model {args.model}: no actor span head, so no linker to score")
    log(f"places: {places_for(model, args.data_root)}")
    if os.environ.get("LINKER_DEV_NO_NAMES") != "1":  # the names table switched off: what a model before it answered
        learnt, own = args.cache / "names.json", bool(read_names(model.path))
        if not own and learnt.exists():  # learning it reads every training source
            model.linker.kin = kin_index(json.loads(learnt.read_text()))
        else:
            log(f"names: {names_for(model, args.data_root)}")
            if not own:
                args.cache.mkdir(parents=True, exist_ok=True)
                learnt.write_text(json.dumps(sorted({n for v in model.linker.kin.values() for n, _ in v})))
    names = Names()
    index = args.cache / "sets.json"
    if index.exists():  # the set texts too are cached: reading ACLED and composing takes minutes
        sets = {k: tuple(v) for k, v in json.loads(index.read_text()).items() if k in wanted}
    else:
        sets = {}
    missing = [s for s in wanted if s not in sets]
    if missing:
        sets.update(read_sets(model, args.data_root, missing))
        args.cache.mkdir(parents=True, exist_ok=True)
        old = json.loads(index.read_text()) if index.exists() else {}
        index.write_text(json.dumps({**old, **sets}))
    report = {"command": "python benchmarks/linker_dev.py " + " ".join(sys.argv[1:]), "model": args.model, "sets": {}}
    for name in wanted:
        if name not in sets:
            continue
        ids, texts, golds = sets[name]
        preds = answer_set(model, cached_read(model, args.cache, name, texts), texts)
        rows = [{"id": i, "gold": g, "answer": p["label"], "right": names.same(p["label"], g),
                 "decided_by": p.get("decided_by"), "mention": p.get("mention")}
                for i, g, p in zip(ids, golds, preds)]
        report["sets"][name] = {"accuracy": round(float(np.mean([r["right"] for r in rows])), 4), "n": len(rows),
                                "answers": rows}
        print(f"{name:13s} {report['sets'][name]['accuracy']:.4f} of {len(rows)}")
        if args.show:
            for r in rows:
                if not r["right"]:
                    print(f"    {r['id']}: gold {r['gold']!r} answer {r['answer']!r} by {r['decided_by']} "
                          f"mention {r['mention']!r}")
    if args.base:
        changes = compare(json.loads(args.base.read_text())["sets"], report["sets"])
        report["changes"] = changes
        net = 0
        for name, c in changes.items():
            net += len(c["gained"]) - len(c["lost"])
            print(f"{name:13s} +{len(c['gained'])} -{len(c['lost'])} ~{len(c['wrong_to_wrong'])}")
            for kind in ("gained", "lost", "wrong_to_wrong", "right_respelled"):
                for r in c[kind]:
                    print(f"    {kind}: {r['id']} gold {r['gold']!r}: {r['before']!r} -> {r['after']!r}")
        print(f"net {net:+d}")
    print(f"wrote {write_result(args.out.parent, args.out.name, report)}")


if __name__ == "__main__":
    main()
