"""Articles benchmark: today's model against the article reader, on notes and on articles.

    python benchmarks/articles.py --data-root ../shared/datasets --before MODEL --after MODEL \
        [--baseline MODEL] --out benchmarks/results

Each model is scored on
  acled  the ACLED standard test split (coder notes),
  muc    the MUC-3/4 test articles (tst1-4) mapped into the default schema
         (configs/taxonomy/muc.yaml): event (mostly the coarse level), targets, actor, relevance,
  news   the frozen news evaluation set (datasets/news_eval/news_eval.jsonl): event fine and
         coarse accuracy and macro-F1, targets, actor accuracy (a closed-set model gets
         every actor outside its labels wrong), relevance precision/recall/F1 (the `event`
         class: a model without a relevance task calls everything an event), and
         `uncertain` coverage and precision (the event answers not flagged; their accuracy),
         how often the answer is a background event of the article, and per-sub-type F1.
Every model reads data through the current taxonomy folder (so today's model sees MUC in
the default schema too). Writes OUT/articles.json and OUT/articles.md; prints a summary.
"""
from __future__ import annotations

import copy
import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sklearn.metrics import f1_score, precision_recall_fscore_support  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from secnews.training.evaluate import compute_metrics  # noqa: E402
from secnews.training.modeldir import load  # noqa: E402
from secnews.training.train import encode, prepare  # noqa: E402

NEWS = ROOT / "datasets" / "news_eval" / "news_eval.jsonl"
TAXONOMY = ROOT / "configs" / "taxonomy"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def brief(tasks: dict) -> dict:
    """metrics.json's task entries without the per-label tables (kept in full elsewhere)."""
    out = {}
    for name, m in tasks.items():
        out[name] = {k: v for k, v in m.items() if k != "per_label"}
        if "coarse" in m:
            out[name]["coarse"] = {k: v for k, v in m["coarse"].items() if k != "per_label"}
        if name in ("event_type", "target") and "per_label" in m:
            out[name]["per_label_f1"] = {l: v["f1"] for l, v in m["per_label"].items()}
    return out


def score_split(predictor, paths: list[str], split: str = "test") -> dict:
    cfg = copy.deepcopy(predictor.config)  # the data to read; the model keeps its own
    cfg.data.paths, cfg.data.format, cfg.data.max_rows = paths, "native", None
    cfg.data.taxonomy = str(TAXONOMY)
    prep = prepare(cfg, lambda m: None, spaces=predictor.spaces)
    rows = prep.df[prep.df["fold"] == split] if split != "all" else prep.df
    t0 = time.perf_counter()
    proba = predictor.predict_proba(rows["text"].tolist())
    seconds = time.perf_counter() - t0
    tasks = compute_metrics(predictor.spaces, encode(rows, cfg, predictor.spaces), proba)
    return {"tasks": brief(tasks), "n": len(rows), "seconds": round(seconds, 1)}


def read_news(path: Path = NEWS) -> list[dict]:
    """The frozen news set's articles, or another file of articles in its fields (news_dev)."""
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def news_metrics(predictor, articles: list[dict]) -> dict:
    from secnews.training.data import article_text

    texts = [article_text(a.get("title"), a["text"]) for a in articles]
    answers = predictor.answers(texts)
    spaces = predictor.spaces
    ev = spaces["event_type"]
    parents = ev.parents
    relevant = [a["relevance"] == "event" for a in articles]
    idx = [i for i, r in enumerate(relevant) if r]
    gold = [articles[i]["event_type"] for i in idx]
    pred = [answers[i]["event_type"]["label"] for i in idx]
    gold_c, pred_c = [parents[g] for g in gold], [answers[i]["event_type"]["parent"] for i in idx]
    labels = sorted(set(gold) | set(pred))
    per_type = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    event = {"n": len(idx), "accuracy": round(float(np.mean([g == p for g, p in zip(gold, pred)])), 4),
             "macro_f1": round(float(f1_score(gold, pred, labels=sorted(set(gold)), average="macro", zero_division=0)), 4),
             "coarse": {"accuracy": round(float(np.mean([g == p for g, p in zip(gold_c, pred_c)])), 4),
                        "macro_f1": round(float(f1_score(gold_c, pred_c, average="macro", zero_division=0)), 4)},
             "per_label_f1": {l: round(float(f), 4) for l, f in zip(labels, per_type[2]) if l in set(gold)},
             "background_picked": sum(p != g and p in (articles[i].get("background_events") or [])
                                      for i, g, p in zip(idx, gold, pred))}
    tl = spaces["target"].labels
    yt = np.array([[l in (articles[i]["target"] or []) for l in tl] for i in idx], int)
    yp = np.array([[any(x["label"] == l for x in answers[i]["target"]["labels"]) for l in tl] for i in idx], int)
    present = [j for j in range(len(tl)) if yt[:, j].any() or yp[:, j].any()]
    target = {"n": len(idx), "micro_f1": round(float(f1_score(yt, yp, average="micro", zero_division=0)), 4),
              "macro_f1": round(float(f1_score(yt[:, present], yp[:, present], average="macro", zero_division=0)), 4),
              "exact_match": round(float((yt == yp).all(1).mean()), 4)}
    ga = [articles[i]["actor"] for i in idx]
    pa = [answers[i]["actor"]["label"] for i in idx]
    known = set(spaces["actor"].labels)
    actor = {"n": len(idx), "accuracy": round(float(np.mean([g == p for g, p in zip(ga, pa)])), 4),
             "in_label_space": sum(g in known for g in ga)}
    if "relevance" in spaces:
        said_event = [answers[i]["relevance"]["label"] == "event" for i in range(len(articles))]
    else:
        said_event = [True] * len(articles)
    p, r, f, _ = precision_recall_fscore_support(relevant, said_event, average="binary", zero_division=0)
    pn, rn, fn, _ = precision_recall_fscore_support([not x for x in relevant], [not x for x in said_event],
                                                    average="binary", zero_division=0)
    sure = [k for k, i in enumerate(idx) if not answers[i]["event_type"]["uncertain"]]
    low = [k for k, i in enumerate(idx) if answers[i]["event_type"]["score"] < 0.5]
    uncertain = {"coverage": round(len(sure) / max(len(idx), 1), 4),
                 "precision": round(float(np.mean([gold[k] == pred[k] for k in sure])), 4) if sure else None,
                 "below_0.5": len(low),
                 "below_0.5_flagged": sum(answers[idx[k]]["event_type"]["uncertain"] for k in low)}
    lede = [k for k, i in enumerate(idx) if articles[i].get("lede_reports_event", True)]
    return {"tasks": {"event_type": event, "target": target, "actor": actor},
            "relevance": {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
                          "none_precision": round(float(pn), 4), "none_recall": round(float(rn), 4),
                          "none_f1": round(float(fn), 4), "n": len(articles), "n_none": relevant.count(False)},
            "uncertain": uncertain,
            "lede_event_accuracy": round(float(np.mean([gold[k] == pred[k] for k in lede])), 4),
            "n": len(articles)}, answers


def showcase(articles: list[dict], answers: list[dict], id_: str | None) -> dict | None:
    """The answer to the article built like issue 10's (rockets on a base, 650 words)."""
    for a, ans in zip(articles, answers):
        if a["id"] == id_:
            return {"id": id_, "words": len(a["text"].split()), "gold": {k: a[k] for k in ("event_type", "target", "actor")},
                    "event_type": {k: ans["event_type"].get(k) for k in ("label", "score", "uncertain", "evidence")},
                    "target": [{"label": t["label"], "score": t["score"], "evidence": t.get("evidence")}
                               for t in ans["target"]["labels"]],
                    "actor": {k: ans["actor"].get(k) for k in ("label", "score", "evidence")},
                    "lede": a["text"].split("\n\n")[0]}
    return None


def run_model(path: Path, root: Path, articles: list[dict], showcase_id: str | None) -> dict:
    log(f"scoring {path}")
    predictor = load(path)
    out = {"model": str(path), "kind": predictor.manifest["kind"],
           "reader": getattr(predictor.config.model.transformer, "pooling", "mean")
           if predictor.manifest["kind"] == "transformer" else None,
           "train_seconds": json.loads((path / "metrics.json").read_text()).get("train_seconds")}
    out["acled"] = score_split(predictor, [f"acled:{root / 'acled/acled_events.csv.gz'}"])
    log("  acled: " + json.dumps({t: m.get("macro_f1") for t, m in out["acled"]["tasks"].items()}))
    out["muc"] = score_split(predictor, [f"muc:{root / 'muc34/muc34.jsonl.gz'}"])
    log("  muc: " + json.dumps({t: (m.get("macro_f1"), m.get("coarse", {}).get("macro_f1"))
                                 for t, m in out["muc"]["tasks"].items()}))
    out["news"], answers = news_metrics(predictor, articles)
    out["news"]["showcase"] = showcase(articles, answers, showcase_id)
    log(f"  news: event acc {out['news']['tasks']['event_type']['accuracy']} coarse "
        f"{out['news']['tasks']['event_type']['coarse']['accuracy']} relevance {out['news']['relevance']['f1']}")
    return out


MODELS = ("before", "previous", "after", "baseline")


def common_macro(r: dict, report: dict, task: str) -> float:
    """Macro-F1 over the labels today's model has: the later models added 6 target labels
    ACLED notes rarely carry (media, aid_ngo, ...) and the sub-type "Chemical weapon", which
    has no ACLED row at all (any prediction of it scores F1 0 there, 1/25 of the average),
    so a macro average over each model's own labels is not comparable across label sets."""
    t = r["acled"]["tasks"][task]
    if r is report["before"]:
        return t["macro_f1"]
    before = report["before"]["acled"]["tasks"][task]
    labels = before.get("labels") or list(before.get("per_label_f1") or (TODAY_TARGETS if task == "target" else []))
    return round(float(np.mean([t["per_label_f1"].get(l, 0.0) for l in labels])), 4)


TODAY_TARGETS = ["military", "police", "foreign_forces", "government", "civilians", "armed_group", "protesters"]


def markdown(report: dict) -> str:
    lines = ["# Articles benchmark", "", f"Command: `{report['command']}`", ""]
    models = [k for k in MODELS if k in report]
    lines += ["| | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]

    def cell(get):
        vals = []
        for m in models:
            try:
                v = get(report[m])
                vals.append(f"{v:.4f}" if isinstance(v, float) else str(v))
            except (KeyError, TypeError):
                vals.append("–")
        return " | ".join(vals)

    rows = [("training minutes", lambda r: round(r["train_seconds"] / 60, 1)),
            ("ACLED event fine macro-F1", lambda r: r["acled"]["tasks"]["event_type"]["macro_f1"]),
            ("ACLED event fine macro-F1, today's 24 sub-types", lambda r: common_macro(r, report, "event_type")),
            ("ACLED event coarse macro-F1", lambda r: r["acled"]["tasks"]["event_type"]["coarse"]["macro_f1"]),
            ("ACLED target macro-F1", lambda r: r["acled"]["tasks"]["target"]["macro_f1"]),
            ("ACLED target macro-F1, today's 7 labels", lambda r: common_macro(r, report, "target")),
            ("ACLED actor macro-F1", lambda r: r["acled"]["tasks"]["actor"]["macro_f1"]),
            ("MUC event coarse macro-F1", lambda r: r["muc"]["tasks"]["event_type"]["coarse"]["macro_f1"]),
            ("MUC event coarse accuracy", lambda r: r["muc"]["tasks"]["event_type"]["coarse"]["accuracy"]),
            ("MUC target macro-F1", lambda r: r["muc"]["tasks"]["target"]["macro_f1"]),
            ("MUC target micro-F1", lambda r: r["muc"]["tasks"]["target"]["micro_f1"]),
            ("MUC actor macro-F1", lambda r: r["muc"]["tasks"]["actor"]["macro_f1"]),
            ("MUC actor accuracy", lambda r: r["muc"]["tasks"]["actor"]["accuracy"]),
            ("MUC relevance macro-F1", lambda r: r["muc"]["tasks"]["relevance"]["macro_f1"]),
            ("news event fine accuracy", lambda r: r["news"]["tasks"]["event_type"]["accuracy"]),
            ("news event fine macro-F1", lambda r: r["news"]["tasks"]["event_type"]["macro_f1"]),
            ("news event coarse accuracy", lambda r: r["news"]["tasks"]["event_type"]["coarse"]["accuracy"]),
            ("news background event picked", lambda r: r["news"]["tasks"]["event_type"]["background_picked"]),
            ("news target micro-F1", lambda r: r["news"]["tasks"]["target"]["micro_f1"]),
            ("news target macro-F1", lambda r: r["news"]["tasks"]["target"]["macro_f1"]),
            ("news actor accuracy", lambda r: r["news"]["tasks"]["actor"]["accuracy"]),
            ("news relevance precision", lambda r: r["news"]["relevance"]["precision"]),
            ("news relevance recall", lambda r: r["news"]["relevance"]["recall"]),
            ("news relevance F1", lambda r: r["news"]["relevance"]["f1"]),
            ("news no-event F1", lambda r: r["news"]["relevance"]["none_f1"]),
            ("news uncertain coverage", lambda r: r["news"]["uncertain"]["coverage"]),
            ("news precision when not uncertain", lambda r: r["news"]["uncertain"]["precision"])]
    for name, get in rows:
        lines.append(f"| {name} | {cell(get)} |")
    lines += ["", "## News set: per-sub-type F1", "", "| sub-type | " + " | ".join(models) + " |",
              "|---|" + "---:|" * len(models)]
    subtypes = sorted(report[models[0]]["news"]["tasks"]["event_type"]["per_label_f1"])
    for s in subtypes:
        lines.append(f"| {s} | {cell(lambda r: r['news']['tasks']['event_type']['per_label_f1'].get(s))} |")
    for m in models:
        sc = report[m]["news"].get("showcase")
        if sc:
            lines += ["", f"## {m}: the 650-word rockets article ({sc['id']}, {sc['words']} words)", "",
                      "```json", json.dumps(sc, indent=1, ensure_ascii=False), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--before", type=Path, help="today's model (mean reader)")
    ap.add_argument("--after", type=Path, help="the article reader")
    ap.add_argument("--one", metavar="NAME=MODEL", help="score one model alone into articles_NAME.json (a "
                                                        "recipe's run beside the committed comparison)")
    ap.add_argument("--baseline", type=Path, help="the TF-IDF baseline trained on the same data as --after")
    ap.add_argument("--previous", type=Path, help="an earlier article reader, shown beside --after")
    ap.add_argument("--reuse", type=Path, help="an earlier articles.json: a model scored there (same directory, same "
                                               "manifest) is not scored again")
    ap.add_argument("--showcase", default=None, help="id of the news article to show in full")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    articles = read_news()
    report = {"command": "python benchmarks/articles.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])}
    if args.one:
        name, _, path = args.one.partition("=")
        if not name or not path or not Path(path, "manifest.json").is_file():
            ap.error(f"--one: expected NAME=MODEL with a model directory, found {args.one!r}")
        report[name] = run_model(Path(path), args.data_root, articles, args.showcase)
        print(write_result(args.out, f"articles_{name}.json", report))
        return
    if not args.before or not args.after:
        ap.error("--before and --after are required (or --one NAME=MODEL)")
    earlier = json.loads(args.reuse.read_text()) if args.reuse else {}
    for name in MODELS:
        path = getattr(args, name)
        if not path:
            continue
        digest = hashlib.sha256((path / "manifest.json").read_bytes()).hexdigest()
        found = [r for r in earlier.values() if isinstance(r, dict) and r.get("model") == str(path)
                 and r.get("manifest_sha256", digest) == digest]
        if found:
            log(f"{path}: reusing its figures from {args.reuse}")
            report[name] = {**found[0], "manifest_sha256": digest}
        else:
            report[name] = {**run_model(path, args.data_root, articles, args.showcase), "manifest_sha256": digest}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (("articles.json", json.dumps(report, indent=1, ensure_ascii=False)),
                       ("articles.md", markdown(report))):
        tmp = args.out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, args.out / name)
    print(markdown(report))


if __name__ == "__main__":
    main()
