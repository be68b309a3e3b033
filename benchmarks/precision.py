"""fp32 against bf16-autocast inference for a transformer model, in one run: test-split
metrics of both and the speed ratio, so bf16 is adopted only where it keeps accuracy.

    python benchmarks/precision.py --model DIR [--data PATH --format acled] [--max-rows N]
"""
from __future__ import annotations

import copy
import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from secnews.training import load  # noqa: E402
from secnews.training.evaluate import compute_metrics, summary_lines  # noqa: E402
from secnews.training.train import encode, prepare  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--data", nargs="+", help="default: the model's training data")
    p.add_argument("--format")
    p.add_argument("--max-rows", type=int, help="score only the first N test rows")
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    predictor = load(args.model)
    if predictor.manifest["kind"] != "transformer":
        p.error(f"{args.model} is a {predictor.manifest['kind']} model; this compares transformer inference")
    cfg = copy.deepcopy(predictor.config)  # the data to read; the model keeps its own
    if args.data:
        cfg.data.paths = [str(Path(d).resolve()) for d in args.data]
    if args.format:
        cfg.data.format = args.format
    prep = prepare(cfg, lambda m: None, spaces=predictor.spaces)
    rows = prep.df[prep.df["fold"] == "test"]
    if args.max_rows:
        rows = rows.head(args.max_rows)
    texts, gold = rows["text"].tolist(), encode(rows, cfg, predictor.spaces)
    results = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        predictor.backend.set_precision("bf16" if bf16 else "fp32")
        predictor.predict_proba(texts[:64])  # warm-up
        start = time.perf_counter()
        proba = predictor.predict_proba(texts)
        seconds = time.perf_counter() - start
        tasks = compute_metrics(predictor.spaces, gold, proba)
        results[name] = {"articles_per_s": round(len(texts) / seconds, 1), "tasks": tasks}
        print(f"== {name}: {len(texts) / seconds:.1f} articles/s over {len(texts):,} test rows")
        for line in summary_lines(tasks):
            print(line)
    print(f"bf16 / fp32 speed: {results['bf16']['articles_per_s'] / results['fp32']['articles_per_s']:.2f}x")
    for task in results["fp32"]["tasks"]:
        f, b = results["fp32"]["tasks"][task], results["bf16"]["tasks"][task]
        if f.get("n"):
            print(f"{task}: macro-F1 fp32 {f['macro_f1']:.4f} bf16 {b['macro_f1']:.4f} ({b['macro_f1'] - f['macro_f1']:+.4f})")
    if args.out:
        args.out.write_text(json.dumps({"command": "python benchmarks/precision.py " + " ".join(sys.argv[1:]),
                                        "model": str(args.model), "n": len(texts), **results}, indent=2))


if __name__ == "__main__":
    main()
