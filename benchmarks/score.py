"""Batch-scoring benchmark for a transformer model, in one run:

  1. `secnews score` over an archive of N articles (a subprocess; its peak RSS is read back),
  2. the bare model forward over the same texts (encoder and heads over every window,
     pre-tokenised, length-sorted batches of the model's batch size, at the model's precision:
     benchmarks/throughput.py's),
  3. a plain loop of per-article calls, as a `pipeline("text-classification")` user would
     write it (tokenise one text, forward, softmax), on the first --loop-n texts.

    python benchmarks/score.py --model DIR --data-root ../shared/datasets --out DIR [--n 50000]

The archive (ACLED notes, GTD summaries and MUC-3/4 articles, cycled to N) is written
under --out as .jsonl.gz parts; never commit it.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from secnews.training import load  # noqa: E402
from secnews.training.config import DataConfig, load_config  # noqa: E402
from secnews.training.data import read_data  # noqa: E402
from benchmarks.throughput import bare_forward  # noqa: E402


def archive(root: Path, out: Path, n: int, files: int = 5) -> tuple[list[Path], list[str]]:
    tasks, tax = load_config(ROOT / "configs/baseline.yaml").tasks, str(ROOT / "configs/taxonomy")
    texts = []
    for rel, fmt in (("acled/acled_events.csv.gz", "acled"), ("gtd/gtd_iraq_2012_2017.csv", "gtd")):
        texts += read_data(DataConfig(paths=[str(root / rel)], format=fmt, taxonomy=tax), tasks)["text"].tolist()
    with gzip.open(root / "muc34/muc34.jsonl.gz", "rt") as fh:
        texts += [json.loads(line)["text"] for line in fh]
    texts = [t for t in texts if t.strip()]
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    texts = [texts[i % len(texts)] for i in range(n)]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in range(files):
        path = out / f"archive-{f}.jsonl.gz"
        with gzip.open(path, "wt") as fh:
            for i in range(f, n, files):
                fh.write(json.dumps({"id": str(i), "text": texts[i]}) + "\n")
        paths.append(path)
    order = [i for f in range(files) for i in range(f, n, files)]  # the order the scorer reads
    return paths, [texts[i] for i in order]


@torch.inference_mode()
def per_article_loop(backend, texts: list[str]) -> float:
    tok, cfg = backend.tokenizer, backend.cfg
    start = time.perf_counter()
    for t in texts:
        enc = tok(t, truncation=True, max_length=cfg.max_length, return_tensors="pt")
        logits = backend.model(enc["input_ids"], enc["attention_mask"])
        {k: torch.softmax(v, -1) for k, v in logits.items()}
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--data-root", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--loop-n", type=int, default=1_000, help="texts for the per-article loop (a rate)")
    p.add_argument("--bare-n", type=int, default=10_000, help="texts for the bare forward (a rate)")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    paths, texts = archive(args.data_root, args.out / "archive", args.n)
    scored = args.out / "scored"
    cmd = [sys.executable, "-m", "secnews.serving.cli", "score", *map(str, paths), "--model", str(args.model),
           "--out", str(scored), "--batch-size", str(args.batch_size)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    score_rate = args.n / (time.perf_counter() - start)
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2  # KiB -> GiB
    manifest = json.loads((scored / "manifest.json").read_text())

    predictor = load(args.model)
    if predictor.manifest["kind"] != "transformer":
        p.error("this benchmark compares against the bare transformer forward; give a transformer model")
    backend = predictor.backend
    backend.set_batch_size(args.batch_size)
    bare, _ = bare_forward(backend, texts[: args.bare_n])
    loop = per_article_loop(backend, texts[: args.loop_n])
    inner = manifest["articles_per_second_this_run"]  # from the first record read to the last part written
    report = {"n": args.n, "bare_n": min(args.bare_n, args.n), "loop_n": min(args.loop_n, args.n), "score_articles_per_s": inner, "score_end_to_end_articles_per_s": round(score_rate, 1),
              "bare_forward_articles_per_s": round(bare, 1), "per_article_loop_articles_per_s": round(loop, 1),
              "score_over_bare": round(inner / bare, 3), "score_over_loop": round(inner / loop, 2),
              "score_peak_rss_gib": round(peak_gb, 2), "rows": manifest["counts"], "command": " ".join(sys.argv),
              "precision": "bf16" if backend.bf16 else "fp32", "torch_threads": torch.get_num_threads()}
    print(json.dumps(report, indent=2))
    (args.out / "score_report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
