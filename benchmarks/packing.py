"""Packed encoder rows against one row per window, in one process on the same texts.

    python benchmarks/packing.py --model MODEL --data-root ../shared/datasets --out benchmarks/results [--n 1024]

A service lane gets calls of about 16 one-article requests; a call of 16 ACLED notes makes a
few tiny encoder calls (width groups), each padded to its widest note. With
`model.transformer.pack_windows` the short windows share rows of `max_length` tokens, each
seeing only itself (a block-diagonal mask, its own position ids). Measured: `answers` (predict
with evidence) in calls of 16, 32 and 64 ACLED test notes and of 16 MUC-3/4 articles, packed
and not, alternating, medians of 3 passes each; and how many answers differ between the two
(bf16 rounding differs when a window shares its row). Writes `packing.json`.
"""
from __future__ import annotations

import argparse
import multiprocessing
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import median_rate, write_result  # noqa: E402
from benchmarks.throughput import log, texts_of  # noqa: E402
from secnews.training.modeldir import load  # noqa: E402

CALLS = [("notes", 16), ("notes", 32), ("notes", 64), ("muc", 16)]
MUC_TEXTS = 256  # a MUC-3/4 article is 10-20 notes' worth of tokens


def labels(answers: list[dict]) -> list[tuple]:
    return [(a["event_type"]["label"], tuple(t["label"] for t in a["target"]["labels"]), a["actor"]["label"])
            for a in answers]


def read_texts(model_dir: Path, root: Path, n: int) -> dict[str, list[str]]:
    """ACLED test notes and MUC-3/4 articles, read in a child process: a process that ran the
    data preparation keeps numpy's OpenBLAS threads, which slowed calls of 16 notes about
    twofold in session 14 (benchmarks/results/README.md)."""
    notes, texts, _ = texts_of(load(model_dir), root, n)
    return {"notes": texts[:len(notes)], "muc": texts[len(notes):][:MUC_TEXTS]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="transformer model directory (torch)")
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        sets = pool.submit(read_texts, args.model, args.data_root, args.n).result()
    model = load(args.model)
    backend = model.backend
    width = backend.cfg.max_length
    r: dict = {"command": "python benchmarks/packing.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
               "torch_threads": torch.get_num_threads(), "precision": "bf16" if backend.bf16 else "fp32",
               "texts": {k: len(v) for k, v in sets.items()}, "calls": {}}
    for name, batch in CALLS:
        rates = {}
        for packed in (False, True, False, True):  # alternating: the cores drift between passes
            backend.pack_width = width if packed else None
            rate, passes = median_rate(model.answers, sets[name], batch)
            rates.setdefault("packed" if packed else "rows", []).extend(passes)
        row = {k: float(np.median(v)) for k, v in rates.items()}
        row["packed_over_rows"] = round(row["packed"] / row["rows"], 3)
        row["passes"] = rates
        r["calls"][f"{name}_{batch}"] = row
        log(f"{name} in calls of {batch}: rows {row['rows']:.1f}, packed {row['packed']:.1f} articles/s "
            f"({row['packed_over_rows']}x)")
    for name, items in sets.items():
        backend.pack_width = None
        plain = labels(model.answers(items))
        backend.pack_width = width
        packed = labels(model.answers(items))
        r[f"answers_identical_{name}"] = round(float(np.mean([a == b for a, b in zip(plain, packed)])), 4)
    log(f"identical answers: notes {r['answers_identical_notes']}, MUC {r['answers_identical_muc']}")
    print(write_result(args.out, "packing.json", r))


if __name__ == "__main__":
    main()
