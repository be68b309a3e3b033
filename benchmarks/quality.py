"""Quality benchmark: the TF-IDF baseline and the fine-tuned transformer, trained and
scored on the same standard splits, in one run.

    python benchmarks/quality.py --data-root ../shared/datasets --out DIR [--max-train N] [--epochs E]

Main data: ACLED for event type and actor; ACLED-derived plus GTD (GTD Iraq and the GTD
rows of the drone database) for target — GTD rows carry only their target here. MUC-3/4
full articles are trained and scored on their own labels (configs/muc.yaml) so that the
news-prose behaviour is visible, not only the ACLED notes' split.

Writes DIR/report.json ({"baseline", "transformer", "train_seconds", "command", ...}, each
metrics part in metrics.json form) and DIR/report.md. The derived training file and the
models stay in DIR: never commit them (they hold the shared data's text).
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
from secnews.training.split import assign_split  # noqa: E402
from secnews.training.train import train  # noqa: E402

CONFIGS = ROOT / "configs"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main_data(root: Path, out: Path, max_train: int | None, seed: int) -> Path:
    """ACLED + GTD in the native format with the standard split written in."""
    tasks = load_config(CONFIGS / "baseline.yaml").tasks
    tax = str(CONFIGS / "taxonomy")
    acled = read_data(DataConfig(paths=[str(root / "acled/acled_events.csv.gz")], format="acled", taxonomy=tax), tasks)
    gtd = read_data(DataConfig(paths=[str(root / "gtd/gtd_iraq_2012_2017.csv"),
                                      str(root / "gtd/drone_attacks_gtd_acled.csv")], format="gtd", taxonomy=tax), tasks)
    gtd = gtd[gtd["target"].notna()].copy()
    gtd["event_type"], gtd["actor"] = None, None  # ACLED alone defines event and actor here
    df = pd.concat([acled.assign(source="acled"), gtd.assign(source="gtd")], ignore_index=True)
    df["split"] = assign_split(df, SplitConfig(method="standard", val_fraction=0.0))
    if max_train:
        train_rows = df[df["split"] == "train"]
        if len(train_rows) > max_train:
            keep = train_rows.sample(n=max_train, random_state=seed).index
            df = df[(df["split"] == "test") | df.index.isin(keep)]
    log(f"main data: {len(df):,} rows ({(df['split'] == 'test').sum():,} test); "
        + ", ".join(f"{s} {n:,}" for s, n in df["source"].value_counts().items()))
    path = out / "main_data.parquet"
    df[["id", "text", "split", "date", "event_type", "target", "actor"]].to_parquet(path)
    return path


def timed_train(config: Path, data: list[str], fmt: str, out: Path, overrides: list[str],
                reuse: bool = False) -> tuple[dict, float]:
    if reuse and (out / "metrics.json").is_file():  # a model this benchmark already trained
        log(f"reusing {out}")
        metrics = json.loads((out / "metrics.json").read_text())
        return metrics, metrics["train_seconds"]
    cfg = load_config(config, overrides=overrides, data_paths=data, data_format=fmt)
    t0 = time.perf_counter()
    model = train(cfg, out, log=log)
    seconds = time.perf_counter() - t0
    return json.loads((model / "metrics.json").read_text()), seconds


def row(task: str, level: str, b: dict, t: dict) -> str:
    diff = t["macro_f1"] - b["macro_f1"]
    return (f"| {task}{level} | {b['macro_f1']:.4f} | {t['macro_f1']:.4f} | {diff:+.4f} | "
            f"{b['micro_f1']:.4f} | {t['micro_f1']:.4f} | {t['micro_f1'] - b['micro_f1']:+.4f} | {t['n']:,} |")


def task_table(base: dict, trans: dict) -> list[str]:
    lines = ["| task | baseline macro-F1 | transformer macro-F1 | Δ | baseline micro-F1 | transformer micro-F1 | Δ | n |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for task, b in base["tasks"].items():
        t = trans["tasks"][task]
        if b.get("n") and t.get("n"):
            lines.append(row(task, "", b, t))
            if "coarse" in b and b["coarse"].get("n"):
                lines.append(row(task, " (coarse)", b["coarse"], t["coarse"]))
    return lines


def per_label_tables(base: dict, trans: dict) -> list[str]:
    lines = []
    for task, b in base["tasks"].items():
        levels = [("", b, trans["tasks"][task])]
        if "coarse" in b:
            levels.append((" (coarse)", b["coarse"], trans["tasks"][task]["coarse"]))
        for suffix, bl, tl in levels:
            if not bl.get("n"):
                continue
            lines += ["", f"### {task}{suffix}: per-label F1", "",
                      "| label | support | baseline F1 | transformer F1 | Δ |", "| --- | ---: | ---: | ---: | ---: |"]
            labels = sorted(set(bl["per_label"]) | set(tl["per_label"]),
                            key=lambda l: -(bl["per_label"].get(l) or tl["per_label"].get(l))["support"])
            for label in labels:
                bf = bl["per_label"].get(label, {}).get("f1", 0.0)
                tf = tl["per_label"].get(label, {}).get("f1", 0.0)
                sup = (bl["per_label"].get(label) or tl["per_label"].get(label))["support"]
                lines.append(f"| {label} | {sup} | {bf:.3f} | {tf:.3f} | {tf - bf:+.3f} |")
    return lines


def render(report: dict) -> str:
    b, t = report["baseline"], report["transformer"]
    tr = t.get("training", {})
    lines = ["# secnews quality benchmark", "", f"Command: `{report['command']}`", "",
             f"Main data: ACLED (event type, actor, target) + GTD (target only), standard split: "
             f"{b['n_train']:,} baseline training rows, {t['n_train']:,} transformer training rows "
             f"(train.max_per_label {report['transformer_config']['max_per_label']}), {b['n_test']:,} test rows.", "",
             "| | baseline | transformer |", "| --- | ---: | ---: |",
             f"| training time | {report['train_seconds']['baseline'] / 60:.1f} min | "
             f"{report['train_seconds']['transformer'] / 60:.1f} min |",
             f"| training examples/s | {report['examples_per_second']['baseline']:.1f} | "
             f"{report['examples_per_second']['transformer']:.1f} |",
             f"| transformer steps / epochs / stop | | {tr.get('steps')} / {tr.get('epochs')} / {tr.get('stopped')} |", "",
             "## Main data (ACLED standard test split; target also on GTD test rows)", ""]
    lines += task_table(b, t)
    if report.get("muc"):
        lines += ["", "## MUC-3/4 full articles (own labels; dev = train, tst1–4 = test)", ""]
        lines += task_table(report["muc"]["baseline"], report["muc"]["transformer"])
    lines += ["", "## Per-label F1 (main data)"] + per_label_tables(b, t)
    if report.get("muc"):
        lines += ["", "## Per-label F1 (MUC-3/4)"] + per_label_tables(report["muc"]["baseline"], report["muc"]["transformer"])
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True, type=Path, help="folder with acled/, gtd/, muc34/")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--max-train", type=int, help="subsample the main training rows (test kept whole)")
    p.add_argument("--epochs", type=float, help="transformer epochs (default: configs/default.yaml)")
    p.add_argument("--minutes", type=float, help="transformer wall-clock budget (train.max_minutes)")
    p.add_argument("--skip-muc", action="store_true")
    p.add_argument("--set", action="append", default=[], help="extra override for the transformer config")
    p.add_argument("--reuse", action="store_true",
                   help="finish a run that stopped: models already written under --out are scored, not retrained")
    args = p.parse_args()
    for sub in ("acled/acled_events.csv.gz", "gtd/gtd_iraq_2012_2017.csv", "muc34/muc34.jsonl.gz"):
        if not (args.data_root / sub).is_file():
            p.error(f"--data-root {args.data_root}: {sub} is missing")
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = list(args.set) + ([f"train.epochs={args.epochs}"] if args.epochs else []) \
        + ([f"train.max_minutes={args.minutes}"] if args.minutes else [])
    data_file = args.out / "main_data.parquet"
    data = [str(data_file if args.reuse and data_file.is_file() else main_data(args.data_root, args.out, args.max_train, seed=0))]

    log("== baseline")
    base, base_s = timed_train(CONFIGS / "baseline.yaml", data, "native", args.out / "baseline", [], args.reuse)
    log("== transformer")
    trans, trans_s = timed_train(CONFIGS / "default.yaml", data, "native", args.out / "transformer", overrides, args.reuse)
    report = {"baseline": base, "transformer": trans,
              "train_seconds": {"baseline": round(base_s, 1), "transformer": round(trans_s, 1)},
              "examples_per_second": {"baseline": round(base["n_train"] / base_s, 1),
                                      "transformer": trans.get("training", {}).get("examples_per_second", 0.0)},
              "transformer_config": {"max_per_label": load_config(CONFIGS / "default.yaml", overrides=overrides).train.max_per_label,
                                     "overrides": overrides},
              "command": "python benchmarks/quality.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])}
    if not args.skip_muc:
        muc = [str(args.data_root / "muc34/muc34.jsonl.gz")]
        log("== MUC-3/4 baseline")
        mb, mb_s = timed_train(CONFIGS / "muc.yaml", muc, "muc", args.out / "muc_baseline", [], args.reuse)
        log("== MUC-3/4 transformer")
        mt, mt_s = timed_train(CONFIGS / "muc.yaml", muc, "muc", args.out / "muc_transformer",
                               ["model.kind=transformer", "model.transformer.max_length=256", "train.epochs=6",
                                "train.lr=8e-5", "train.head_lr=2e-3", "train.eval_every=40", "train.max_minutes=10"],
                               args.reuse)
        report["muc"] = {"baseline": mb, "transformer": mt, "train_seconds": {"baseline": round(mb_s, 1),
                                                                              "transformer": round(mt_s, 1)}}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    (args.out / "report.md").write_text(render(report))
    print(args.out / "report.md")


if __name__ == "__main__":
    main()
