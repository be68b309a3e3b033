"""Score a model on the news development set (datasets/news_dev/): the set decoding rules are
chosen on, so that the frozen news set (datasets/news_eval/) is scored once, after the choice.

    python benchmarks/news_dev.py --model MODEL [--out DIR] [--show]

Prints and writes (news_dev.json) the event, target and relevance figures in the shape
benchmarks/articles.py gives the news set, and exact-name actor accuracy by the kind of gold
actor the set records (`actor_kind`: known, unknown, unidentified, crowd), each article's actor
answer with what decided it. `--show` prints the wrong actor answers. Needs no shared data.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.actors import Names  # noqa: E402
from benchmarks.articles import news_metrics, read_news  # noqa: E402
from benchmarks.common import write_result  # noqa: E402
from secnews.training.modeldir import load  # noqa: E402

DEV = ROOT / "datasets" / "news_dev" / "news_dev.jsonl"
KINDS = ("known", "unknown", "unidentified", "crowd")


def actor_report(names: Names, articles: list[dict], answers: list[dict]) -> dict:
    """Exact-name accuracy by gold kind, and every event article's answer."""
    rows = []
    for a, p in zip(articles, answers):
        if a["relevance"] != "event":
            continue
        actor = p["actor"]
        rows.append({"id": a["id"], "kind": a["actor_kind"], "gold": a["actor"], "answer": actor["label"],
                     "right": names.same(actor["label"], a["actor"]), "decided_by": actor.get("decided_by"),
                     "mention": actor.get("mention"), "closed_set": (actor.get("closed_set") or {}).get("label")})
    by_kind = {k: [r["right"] for r in rows if r["kind"] == k] for k in KINDS}
    named = by_kind["known"] + by_kind["unknown"]
    return {**{f"{k}_accuracy": round(float(np.mean(v)), 4) if v else None for k, v in by_kind.items()},
            "named_accuracy": round(float(np.mean(named)), 4) if named else None,
            "all_accuracy": round(float(np.mean([r["right"] for r in rows])), 4),
            "n_by_kind": {k: len(v) for k, v in by_kind.items()}, "answers": rows}


def score(model, articles: list[dict]) -> dict:
    news, answers = news_metrics(model, articles)
    return {"news": news, "actor": actor_report(Names(), articles, answers)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, default=DEV, help="the development articles (JSON Lines)")
    ap.add_argument("--out", type=Path, help="folder (news_dev.json inside) or .json file")
    ap.add_argument("--show", action="store_true", help="print the wrong actor answers")
    args = ap.parse_args()
    if not args.data.is_file():
        ap.error(f"--data {args.data}: no such file")
    report = {"command": "python benchmarks/news_dev.py " + " ".join(sys.argv[1:]), "model": args.model,
              **score(load(args.model), read_news(args.data))}
    ev, act = report["news"]["tasks"]["event_type"], report["actor"]
    print(f"event fine {ev['accuracy']} coarse {ev['coarse']['accuracy']} background picked {ev['background_picked']}; "
          f"target micro {report['news']['tasks']['target']['micro_f1']}")
    print("actor " + ", ".join(f"{k} {act[f'{k}_accuracy']} ({act['n_by_kind'][k]})" for k in KINDS)
          + f"; named {act['named_accuracy']}, all {act['all_accuracy']}")
    if args.show:
        for r in act["answers"]:
            if not r["right"]:
                print(f"  {r['id']} [{r['kind']}] gold {r['gold']!r} answer {r['answer']!r} by {r['decided_by']} "
                      f"mention {r['mention']!r} closed {r['closed_set']!r}")
    if args.out:
        out = args.out if args.out.suffix == ".json" else args.out / "news_dev.json"
        print(f"wrote {write_result(out.parent, out.name, report)}")


if __name__ == "__main__":
    main()
