"""Training steps per minute of the default recipe, before and after the CPU training changes
of sessions 18 and 20, in one process on the same batches: the per-tensor AdamW, torch's own
attention kernel, nn.Dropout, the encoder's attention dropout and every encoder weight trained
(before) against the fused AdamW, the math attention kernel, CheapDropout,
train.attention_dropout and train.freeze_embeddings / freeze_layers (after, what `secnews
train` does; `--set train.freeze_layers=0 --set train.freeze_embeddings=false` leaves the
freezing out). Two fresh models from one seed; rounds alternate so that neither side gets the quieter
minutes. Run it alone on the cores.

    python benchmarks/train_speed.py --data-root ../shared/datasets [--steps 40 --rounds 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from secnews.training.compose import with_articles  # noqa: E402
from secnews.training.config import load_config  # noqa: E402
from secnews.training.train import actor_mentions, balance, encode, prepare, repeated  # noqa: E402
from secnews.training.trainer import (_gold_batch, cheap_dropout, class_weights, freeze,  # noqa: E402
                                      length_grouped_batches, optimizer, set_attention_dropout, train_step)
from secnews.training.transformer import article_batch, build, use_bf16  # noqa: E402


def training_rows(data_root: Path, n: int, overrides: list[str]):
    """n of the rows the README's train command fits on (composed articles included)."""
    data = [f"acled:{data_root}/acled/acled_events.csv.gz", f"muc:{data_root}/muc34/muc34.jsonl.gz",
            str(ROOT / "datasets/starter/*.jsonl"), str(ROOT / "datasets/articles/*.jsonl")]
    cfg = load_config(ROOT / "configs/default.yaml", overrides, data_paths=data)
    quiet = lambda m: None  # noqa: E731
    prep = prepare(cfg, quiet)
    df = prep.df
    rows, _ = with_articles(repeated(balance(df[df["fold"] == "train"], cfg), cfg, quiet), df[df["fold"] == "val"],
                            cfg, quiet)
    return cfg, prep.spaces, rows.sample(n=min(n, len(rows)), random_state=0).reset_index(drop=True)


def side(cfg, spaces, rows, after: bool):
    """A fresh model and optimiser set up as the trainer did before (after=False) or does now."""
    backend = build(cfg.model.transformer, spaces, cfg.train.seed)
    model = backend.model
    if after:
        freeze(model.encoder, cfg.train)
    opt = optimizer(model, cfg.train, backend.device)
    if not after:  # the same groups, the default per-tensor AdamW
        opt = torch.optim.AdamW([{k: g[k] for k in ("params", "lr", "weight_decay")} for g in opt.param_groups])
    else:
        set_attention_dropout(model.encoder, cfg.train.attention_dropout)
        cheap_dropout(model)
    model.train()
    return backend, opt


def run_steps(backend, opt, enc, gold, spaces, weights, batches, after: bool, bf16: bool) -> tuple[float, int]:
    """Seconds for the batches, and the real (unpadded) tokens they held."""
    tokens, start = 0, time.perf_counter()
    for idx in batches:
        b = article_batch(enc, idx, backend.tokenizer.pad_token_id, backend.device, headlines=backend.model.headlines)
        tokens += sum(int(m.sum()) for m in b.mask)
        train_step(backend.model, b, _gold_batch(gold, idx, backend.device), spaces, weights, opt, bf16,
                   math_attention=after)
    return time.perf_counter() - start, tokens


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--rows", type=int, default=4000, help="training rows to draw the batches from")
    p.add_argument("--steps", type=int, default=40, help="timed steps per side per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override, dotted")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = p.parse_args()
    if not (args.data_root / "acled/acled_events.csv.gz").exists():
        p.error(f"--data-root {args.data_root}: no acled/acled_events.csv.gz there")

    cfg, spaces, rows = training_rows(args.data_root, args.rows, args.overrides)
    sides = {name: side(cfg, spaces, rows, name == "after") for name in ("before", "after")}
    backend = sides["before"][0]
    gold = encode(rows, cfg, spaces)
    enc = backend.encode(rows["text"].tolist(), max_windows=backend.cfg.max_train_windows)
    enc.tag(actor_mentions(rows, cfg))
    weights = {n: class_weights(s, gold[n], cfg.train.class_weighting) for n, s in spaces.items()}
    bf16 = use_bf16("auto" if cfg.train.bf16 == "auto" else "bf16" if cfg.train.bf16 else "fp32", backend.device)
    batches = length_grouped_batches(enc.tokens(), cfg.train.batch_size, np.random.default_rng(0),
                                     cfg.train.tokens_per_batch)
    need = 5 + args.steps * args.rounds
    if len(batches) < need:
        p.error(f"--rows {args.rows} gives {len(batches)} batches; {need} are needed: raise --rows")
    for name, (b, opt) in sides.items():  # warm-up: first-call allocations and kernel choices
        run_steps(b, opt, enc, gold, spaces, weights, batches[:5], name == "after", bf16)
    seconds = {"before": 0.0, "after": 0.0}
    tokens = {"before": 0, "after": 0}
    per_round = []
    for r in range(args.rounds):
        chunk = batches[5 + r * args.steps:5 + (r + 1) * args.steps]
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        row = {}
        for name in order:
            b, opt = sides[name]
            s, t = run_steps(b, opt, enc, gold, spaces, weights, chunk, name == "after", bf16)
            seconds[name] += s
            tokens[name] += t
            row[name] = round(args.steps * 60 / s, 1)
        per_round.append(row)
        print(f"round {r + 1}: steps/min {row}", flush=True)
    rate = {name: args.steps * args.rounds * 60 / seconds[name] for name in seconds}
    report = {
        "command": "python benchmarks/train_speed.py " + " ".join(sys.argv[1:]),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "bf16_autocast": bf16,
        "steps_timed_per_side": args.steps * args.rounds,
        "steps_per_minute": {k: round(v, 1) for k, v in rate.items()},
        "tokens_per_second": {k: round(tokens[k] / seconds[k]) for k in seconds},
        "after_over_before": round(rate["after"] / rate["before"], 3),
        "per_round": per_round,
        "attention_dropout": {"before": "the encoder's", "after": cfg.train.attention_dropout},
        "frozen": {"before": "nothing", "after": {"embeddings": cfg.train.freeze_embeddings,
                                                  "layers": cfg.train.freeze_layers}},
    }
    print(f"steps/min before {rate['before']:.1f}, after {rate['after']:.1f}: "
          f"{report['after_over_before']}x", flush=True)
    print(f"wrote {write_result(args.out, 'train_speed.json', report)}")


if __name__ == "__main__":
    main()
