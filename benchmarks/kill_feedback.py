"""Durability of analysts' corrections: the service is SIGKILLed while 16 clients post
`/feedback`; after a restart every correction that was acknowledged (200) is in the database,
whole, exactly once.

    python benchmarks/kill_feedback.py --model MODEL --out benchmarks/results [--clients 16] [--kills 3]

Each round serves MODEL on 127.0.0.1 (its own BENTOML_HOME and feedback database, shared by
the rounds), lets the clients post corrections (each with the article, a unique article id
and an actor name) for a random 3 to 8 seconds, then SIGKILLs the server's process group.
After the last round it restarts the service once more (it must come up on the same database)
and reads the database: acknowledged ids missing, rows duplicated, rows whose labels do not
parse, SQLite's integrity check. Writes `kill_feedback.json`.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.common import write_result  # noqa: E402
from benchmarks.fuzz import workers  # noqa: E402
from benchmarks.serve import start_server  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def client(url: str, name: str, stop: threading.Event, acked: list, failed: list) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=30) as http:
        i = 0
        while not stop.is_set():
            article_id = f"{name}-{i}"
            body = {"article": {"id": article_id, "text": f"Gunmen attacked a checkpoint ({article_id})."},
                    "labels": {"actor": f"Group {name}"}}
            try:
                r = http.post("/feedback", json=body)
                (acked if r.status_code == 200 else failed).append(article_id)
            except httpx.HTTPError:
                failed.append(article_id)  # the server died under it: never acknowledged
                return
            i += 1


def kill_tree(proc) -> None:
    below = workers(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10  # the worker follows its server out (serving/lifeline.py)
    while time.time() < deadline and any(Path(f"/proc/{p}").exists() for p in below):
        time.sleep(0.1)
    return [p for p in below if Path(f"/proc/{p}").exists()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="model directory")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    acked, failed, rounds, orphans = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        for k in range(args.kills):
            proc, url = start_server(args.model, home)
            stop = threading.Event()
            before = len(acked)
            threads = [threading.Thread(target=client, args=(url, f"r{k}c{c}", stop, acked, failed))
                       for c in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(float(rng.uniform(3, 8)))
            orphans += kill_tree(proc)
            stop.set()
            for t in threads:
                t.join()
            rounds.append({"acknowledged": len(acked) - before})
            log(f"round {k + 1}: {rounds[-1]['acknowledged']} corrections acknowledged, then SIGKILL")
        proc, url = start_server(args.model, home)  # comes up on the database the kills left
        kill_tree(proc)
        db = sqlite3.connect(home / "feedback.sqlite3")
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT article_id, labels FROM feedback").fetchall()
        db.close()
    stored = [r[0] for r in rows]
    unparsable = 0
    for _, labels in rows:
        try:
            json.loads(labels)
        except (TypeError, ValueError):
            unparsable += 1
    report = {"command": "python benchmarks/kill_feedback.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
              "clients": args.clients, "kills": args.kills, "rounds": rounds,
              "acknowledged": len(acked), "acknowledged_missing": len(set(acked) - set(stored)),
              "stored": len(stored), "duplicated": len(stored) - len(set(stored)),
              "stored_not_acknowledged": len(set(stored) - set(acked)),  # written, the answer lost in the kill
              "unparsable_rows": unparsable, "integrity_check": integrity, "orphan_workers": len(orphans)}
    log(json.dumps({k: v for k, v in report.items() if k != "rounds"}, indent=1))
    write_result(args.out, "kill_feedback.json", report)


if __name__ == "__main__":
    main()
