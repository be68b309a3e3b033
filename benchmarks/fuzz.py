"""Fuzz benchmark: a long schema-driven fuzzing run against a real `secnews serve`.

    python benchmarks/fuzz.py [--model MODEL_DIR] [--cases 10000] [--seed 0] [--out benchmarks/results]

Serves the model (default: the smoke config trained on the starter set, in seconds) on
127.0.0.1 with its own BENTOML_HOME, runs schemathesis with every check against its
/docs.json until about --cases requests were sent (loopback only), and prints and writes
`fuzz.json`: requests, status_4xx, status_5xx, schema_violations (schemathesis failures:
responses or statuses the document does not describe, schema-valid requests refused,
schema-invalid ones accepted), server_restarts (workers that were not there at the start),
the command and the schemathesis summary.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.serve import start_server  # noqa: E402


def workers(pid: int) -> set[int]:
    """Every process below `pid` (BentoML's worker runs in a session of its own)."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def smoke_model(folder: Path) -> Path:
    from secnews.training.config import load_config
    from secnews.training.train import train

    return train(load_config(ROOT / "configs" / "smoke.yaml"), folder / "smoke", log=lambda m: None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="model directory (default: the smoke model, trained here)")
    ap.add_argument("--cases", type=int, default=10_000, help="at least about this many requests (schemathesis sets the pace: 10,000 gave 31,013)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="folder for fuzz.json")
    args = ap.parse_args()
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if cli is None:
        raise SystemExit("schemathesis is not installed: pip install -e '.[test]'")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or smoke_model(tmp)
        proc, url = start_server(model, tmp / "home")
        before = workers(proc.pid)
        # the POST operations produce nearly all cases; --max-examples is per operation and phase
        examples = max(10, args.cases // 3)
        cmd = [cli, "run", f"{url}/docs.json", "--checks", "all", "--max-examples", str(examples),
               "--seed", str(args.seed), "--report", "har", "--report-har-path", str(tmp / "run.har")]
        t0 = time.perf_counter()
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            after = workers(proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        seconds = time.perf_counter() - t0
        entries = json.loads((tmp / "run.har").read_text())["log"]["entries"] if (tmp / "run.har").is_file() else []
    statuses = [e["response"]["status"] for e in entries]
    failures = {code: int(n) for code, n in re.findall(r"❌ (ST\d+)[^:\n]*: (\d+)", run.stdout)}
    summary = next((l.strip() for l in run.stdout.splitlines() if "generated" in l), "")
    report = {"requests": len(statuses), "status_2xx": sum(200 <= s < 300 for s in statuses),
              "status_4xx": sum(400 <= s < 500 for s in statuses), "status_5xx": sum(s >= 500 for s in statuses),
              "by_status": {str(s): statuses.count(s) for s in sorted(set(statuses))},
              "schema_violations": sum(failures.values()), "failures": failures,
              "server_restarts": len(after - before), "schemathesis_exit": run.returncode,
              "schemathesis_summary": summary, "seconds": round(seconds, 1),
              "model": str(args.model) if args.model else "configs/smoke.yaml on the starter set",
              "command": "python benchmarks/fuzz.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])}
    print(json.dumps(report, indent=1))
    if run.returncode not in (0, 1):
        print(run.stdout[-3000:], run.stderr[-3000:], file=sys.stderr)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        if run.returncode:  # what schemathesis found, with the requests that reproduce it
            (args.out / "fuzz-failures.txt").write_text(run.stdout)
        tmp_out = args.out / ".fuzz.json.tmp"
        tmp_out.write_text(json.dumps(report, indent=1) + "\n")
        tmp_out.replace(args.out / "fuzz.json")


if __name__ == "__main__":
    main()
