"""Durability of batch scoring: `secnews score` SIGKILLed at random points of a 50,000-article
job, then `--resume` until it finishes; every article must be in the output exactly once.

    python benchmarks/kill_score.py --model MODEL --data-root ../shared/datasets --out benchmarks/results \
        [--n 50000] [--kills 5] [--seed 0]

The archive (ACLED notes, GTD summaries and MUC-3/4 articles cycled to N, as
benchmarks/score.py writes it) goes to a temporary folder, never into the repository. Each
run is killed (SIGKILL to its process group) once it has written a random 1 to 6 new parts
and then worked a random 0 to 3 seconds more: mid-part, mid-rename or mid-read. Writes
`kill_score.json`: articles, kills, the parts on disk at each kill, rows read back, ids
lost, ids duplicated, the command.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.common import write_result  # noqa: E402
from benchmarks.score import archive  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parts(out: Path) -> int:
    return len(list(out.glob("part-*.parquet")))


def killed_run(cmd: list[str], out: Path, rng: np.random.Generator) -> dict:
    """One run of the scorer, SIGKILLed after it wrote a random number of new parts."""
    start_parts, want = parts(out), int(rng.integers(1, 7))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.perf_counter()
    while parts(out) < start_parts + want and proc.poll() is None and time.perf_counter() - t0 < 600:
        time.sleep(0.02)
    time.sleep(float(rng.uniform(0, 3)))
    finished = proc.poll() is not None
    if not finished:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return {"parts_before": start_parts, "parts_at_kill": parts(out), "seconds": round(time.perf_counter() - t0, 1),
            "finished_before_kill": finished}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model directory or store tag")
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="folder for kill_score.json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths, _ = archive(args.data_root, tmp / "archive", args.n)
        out = tmp / "scored"
        cmd = [sys.executable, "-m", "secnews.serving.cli", "score", *map(str, paths), "--model", str(args.model),
               "--out", str(out), "--chunk-size", str(args.chunk_size)]
        t0 = time.perf_counter()
        kills = []
        for k in range(args.kills):
            kills.append(killed_run(cmd + (["--resume"] if k else []), out, rng))
            log(f"kill {k + 1}: {kills[-1]}")
        done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the final --resume failed: {done.stderr[-2000:]}")
        ids = [i for p in sorted(out.glob("part-*.parquet")) for i in pq.read_table(p, columns=["id"])["id"].to_pylist()]
        expected = {str(i) for i in range(args.n)}
        seen = set(ids)
        report = {"command": "python benchmarks/kill_score.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                  "articles": args.n, "kills": sum(not k["finished_before_kill"] for k in kills), "runs": kills,
                  "rows": len(ids), "lost": len(expected - seen), "duplicated": len(ids) - len(seen),
                  "unexpected": len(seen - expected), "parts": parts(out),
                  "seconds": round(time.perf_counter() - t0, 1),
                  "leftover_temporary_files": [p.name for p in out.glob(".*")]}
    log(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
    write_result(args.out, "kill_score.json", report)


if __name__ == "__main__":
    main()
