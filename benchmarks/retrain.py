"""Retraining on real data: a parent trained on ACLED events before 2020, retrained with the
2020-2024 events through `secnews.training.retrain.retrain` (what `secnews retrain` runs).

    python benchmarks/retrain.py --data-root ../shared/datasets --out DIR [--config configs/baseline.yaml]
        [--set train.max_minutes=20]

Prints and writes DIR/retrain_report.json: parent and child macro/micro-F1 on the pre-2020
test rows (the parent's test split) and on the 2020-2024 test rows, the labels new in the
child, the promotion verdict and the timings. The derived data files and both models stay
in DIR: never commit them (they hold the shared data's text).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from secnews.training.config import DataConfig, SplitConfig, load_config  # noqa: E402
from secnews.training.data import read_data  # noqa: E402
from secnews.training.retrain import retrain  # noqa: E402
from secnews.training.split import assign_split  # noqa: E402
from secnews.training.train import train  # noqa: E402

CUT = "2020-01-01"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def split_by_date(root: Path, out: Path, config: Path) -> tuple[Path, Path]:
    cfg = load_config(config)
    df = read_data(DataConfig(paths=[str(root / "acled/acled_events.csv.gz")], format="acled",
                              taxonomy=str(ROOT / "configs/taxonomy")), cfg.tasks)
    # the standard split (sha1 of the raw note), written in: the native reader then keeps it
    df["split"] = assign_split(df, SplitConfig(method="standard", val_fraction=0.0))
    dates = pd.to_datetime(df["date"], errors="coerce")
    cols = ["id", "text", "split", "date", "event_type", "target", "actor"]
    old, new = df[dates < CUT][cols], df[(dates >= CUT) & (dates < "2025-01-01")][cols]
    paths = []
    for name, part in (("acled_before_2020", old), ("acled_2020_2024", new)):
        path = out / f"{name}.parquet"
        part.to_parquet(path)
        log(f"{name}: {len(part):,} rows")
        paths.append(path)
    return paths[0], paths[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", type=Path, default=ROOT / "configs/baseline.yaml")
    p.add_argument("--set", action="append", default=[], help="override for parent and child configs")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    old, new = split_by_date(args.data_root, args.out, args.config)

    t0 = time.perf_counter()
    parent = args.out / "parent"
    if not parent.exists():
        train(load_config(args.config, overrides=args.set, data_paths=[str(old)], data_format="native"), parent, log)
    parent_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcome = retrain(parent, [str(new)], args.out / f"child-{time.strftime('%H%M%S')}", overrides=args.set, log=log)
    child_s = time.perf_counter() - t0

    c = outcome.comparison
    summary = {split: {task: {k: d[k] for k in ("n", "parent", "child", "delta_macro_f1")}
                       | ({"coarse": {k: d["coarse"][k] for k in ("parent", "child", "delta_macro_f1")}} if "coarse" in d else {})
                       for task, d in body["tasks"].items() if d.get("n")}
               for split, body in c["splits"].items()}
    report = {"config": str(args.config), "overrides": args.set, "cut": CUT, "splits": summary,
              "new_labels": c["new_labels"], "promotion": c["promotion"],
              "seconds": {"parent": round(parent_s, 1), "child": round(child_s, 1)},
              "child": str(outcome.path),
              "command": "python benchmarks/retrain.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])}
    (args.out / "retrain_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
