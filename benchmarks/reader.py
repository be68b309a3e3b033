"""Where the article reader looks, and what its target head can rank: a diagnosis, not a race.

    python benchmarks/reader.py --model MODEL --data-root ../shared/datasets --out DIR

- `attention`: on the frozen news set (read as the service reads it: headline, blank line,
  body) and on MUC-3/4 test articles (no headline), the mean attention weight of sentence 0
  and sentence 1, and the share of articles whose sentence 0 holds more than 0.9 of it;
- `headline`: of the news set's wrong event answers, how many are what the head says of
  sentence 0 alone, and the news figures with the headlines left out;
- `muc_targets`: per target label on the MUC-3/4 test event articles, ROC AUC of the article
  score and the best F1 any single cutoff reaches (chosen on those articles: a ceiling for
  cutoffs, not a result), against the F1 at the model's own cutoffs.
Writes DIR/reader.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sklearn.metrics import f1_score, roc_auc_score  # noqa: E402

from articles import news_metrics, read_news  # noqa: E402
from common import write_result  # noqa: E402
from secnews.training.data import article_text  # noqa: E402
from secnews.training.modeldir import load  # noqa: E402
from secnews.training.train import encode, prepare  # noqa: E402
from secnews.training.transformer import probabilities  # noqa: E402


@torch.inference_mode()
def sentences_read(backend, texts: list[str]) -> list[dict]:
    """Per text: each sentence's vector and attention weight, in sentence order, and the
    article's logits (the backend's own pass: `TransformerBackend.reads`)."""
    out: list[dict] = [{} for _ in texts]
    for arts, batch, read in backend.reads(backend.encode(list(texts)), with_sentences=True):
        art = batch.sent_article.numpy()[read.present.numpy()]
        for b, a in enumerate(arts):
            rows = np.flatnonzero(art == b)
            out[a] = {"vec": read.sent_vec[rows], "alpha": read.alpha[rows, 0].float().numpy(),
                      "logits": {name: v[b] for name, v in read.logits.items()}}
    return out


def attention(reads: list[dict]) -> dict:
    first = np.array([r["alpha"][0] for r in reads])
    second = np.array([r["alpha"][1] if len(r["alpha"]) > 1 else 0.0 for r in reads])
    return {"n": len(reads), "sentence_0": round(float(first.mean()), 4), "sentence_1": round(float(second.mean()), 4),
            "share_sentence_0_over_0.9": round(float((first > 0.9).mean()), 4)}


def headline(model, articles: list[dict], reads: list[dict]) -> dict:
    labels, head = model.spaces["event_type"].labels, model.backend.model.heads["event_type"]
    wrong = same = 0
    for a, r in zip(articles, reads):
        if a["relevance"] != "event":
            continue
        answer = labels[int(r["logits"]["event_type"].argmax())]
        if answer != a["event_type"]:
            wrong += 1
            with torch.inference_mode():  # the head on sentence 0 alone (a temperature keeps the argmax)
                same += answer == labels[int(head(r["vec"][0]).argmax())]
    bare, _ = news_metrics(model, [{**a, "title": None} for a in articles])
    event = bare["tasks"]["event_type"]
    return {"wrong_event_answers": wrong, "of_them_sentence_0s_answer": same,
            "without_headlines": {"fine_accuracy": event["accuracy"], "coarse_accuracy": event["coarse"]["accuracy"],
                                  "background_picked": event["background_picked"]}}


def muc_test(model, root: Path):
    """The MUC-3/4 test articles (mapped into the default schema) and their target golds."""
    cfg = copy.deepcopy(model.config)
    cfg.data.paths, cfg.data.format, cfg.data.max_rows = [f"muc:{root / 'muc34/muc34.jsonl.gz'}"], "native", None
    cfg.data.taxonomy = str(ROOT / "configs" / "taxonomy")
    rows = prepare(cfg, lambda m: None, spaces=model.spaces).df
    rows = rows[rows["fold"] == "test"]
    return rows["text"].tolist(), encode(rows, cfg, model.spaces)["target"]


def muc_targets(model, gold: dict, reads: list[dict]) -> dict:
    keep = gold["mask"].astype(bool)
    y = gold["y"][keep].astype(bool)
    logits = torch.stack([r["logits"]["target"] for r, k in zip(reads, keep) if k])
    p = probabilities({"target": logits}, model.spaces)["target"]
    space = model.spaces["target"]
    cut = space.cutoff_array()
    out = {}
    for j, label in enumerate(space.labels):
        if y[:, j].sum() < 3:
            continue
        best = max(f1_score(y[:, j], p[:, j] >= q, zero_division=0) for q in np.linspace(0.01, 0.99, 99))
        out[label] = {"support": int(y[:, j].sum()), "answered": int((p[:, j] >= cut[j]).sum()),
                      "roc_auc": round(float(roc_auc_score(y[:, j], p[:, j])), 4),
                      "f1_at_model_cutoff": round(float(f1_score(y[:, j], p[:, j] >= cut[j], zero_division=0)), 4),
                      "best_f1_any_cutoff": round(float(best), 4)}
    return {"n": int(keep.sum()), "labels": out,
            "mean_best_f1_any_cutoff": round(float(np.mean([v["best_f1_any_cutoff"] for v in out.values()])), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="a transformer model directory with the attention reader")
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = load(args.model)
    if not getattr(model.backend, "reads_articles", False):
        sys.exit(f"{args.model}: not a model with the article reader (model.transformer.pooling: attention)")
    articles = read_news()
    news = sentences_read(model.backend, [article_text(a.get("title"), a["text"]) for a in articles])
    muc_texts, muc_gold = muc_test(model, args.data_root)
    muc = sentences_read(model.backend, muc_texts)
    report = {"command": "python benchmarks/reader.py " + " ".join(sys.argv[1:]), "model": str(args.model),
              "attention": {"news": attention(news), "muc": attention(muc)},
              "headline": headline(model, articles, news), "muc_targets": muc_targets(model, muc_gold, muc)}
    print(json.dumps(report, indent=1))
    write_result(args.out, "reader.json", report)


if __name__ == "__main__":
    main()
