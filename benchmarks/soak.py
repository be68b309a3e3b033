"""Soak and overload: the transformer service under 20 minutes of mixed traffic, then more
clients than it can take.

    python benchmarks/soak.py --model MODEL --data-root ../shared/datasets --out benchmarks/results \
        [--minutes 20] [--clients 32] [--overload-clients 256] [--overload-seconds 60]

Soak: --clients clients on 127.0.0.1, each sending one request after another: 5% bad
requests (blank or over-long text, wrong types, unknown fields, broken JSON, a form body, too
many articles), 5% `/feedback` corrections (each with its article and a unique id), the rest
`/classify` with 1 to 4 articles whose lengths are drawn log-uniformly from 1 to 100,000
characters (ACLED notes, GTD summaries and MUC-3/4 articles, joined and cut). Per minute:
requests, answers by status, p50/p99 latency of valid `/classify` calls, the service's RSS
(server and worker processes, sampled every 5 s). Memory is flat when the mean RSS of the last
5 minutes is within 10% of minutes 5-10. After the run every acknowledged correction must be
in the feedback database.

Overload: --overload-clients clients send one-article requests (about 300 words) for
--overload-seconds; answers by status (the excess should get 503 + Retry-After, none time
out), p99 of the admitted, and the slowest `/livez` answer meanwhile.

Writes `soak.json`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.common import write_result  # noqa: E402
from benchmarks.fuzz import workers  # noqa: E402
from benchmarks.score import archive  # noqa: E402
from benchmarks.serve import start_server  # noqa: E402

MAX_CHARS = 100_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def article(corpus: list[str], rng: np.random.Generator, length: int) -> str:
    """A text of `length` characters made of whole corpus texts, the last one cut."""
    parts, n = [], 0
    while n < length:
        t = corpus[int(rng.integers(len(corpus)))]
        parts.append(t)
        n += len(t) + 2
    text = "\n\n".join(parts)[:length]
    return text if text.strip() else "a" * length


def bad_request(rng: np.random.Generator, corpus: list[str]) -> tuple[bytes, str]:
    """A body the service must refuse with a 4xx, and its content type."""
    kind = int(rng.integers(7))
    if kind == 0:
        return json.dumps({"articles": [{"text": "   "}]}).encode(), "application/json"
    if kind == 1:
        return json.dumps({"articles": [{"text": "x" * (MAX_CHARS + 1)}]}).encode(), "application/json"
    if kind == 2:
        return json.dumps({"articles": [{"text": 42}]}).encode(), "application/json"
    if kind == 3:
        return json.dumps({"articles": [{"text": "ok", "colour": "red"}]}).encode(), "application/json"
    if kind == 4:
        return b'{"articles": [{"text": "unterminated', "application/json"
    if kind == 5:
        return b"articles=text", "application/x-www-form-urlencoded"
    return json.dumps({"articles": [{"text": corpus[i % len(corpus)][:200]} for i in range(65)]}).encode(), \
        "application/json"


def rss_mib(pid: int) -> float:
    total = 0
    for p in {pid, *workers(pid)}:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def sample_memory(pid: int, start: float, stop: threading.Event, samples: list) -> None:
    while not stop.is_set():
        samples.append((time.perf_counter() - start, rss_mib(pid)))
        stop.wait(5)


async def soak(url: str, corpus: list[str], clients: int, seconds: float, seed: int) -> tuple[list, list]:
    import httpx

    records, acked = [], []  # (second, route, status, latency_s, valid)
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    lengths = np.exp(np.random.default_rng(seed).uniform(0, np.log(MAX_CHARS), 1_000_000)).astype(int)

    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        async def client(c: int) -> None:
            rng = np.random.default_rng(seed * 1000 + c)
            i = 0
            while time.perf_counter() - start < seconds:
                i += 1
                draw = rng.random()
                t0 = time.perf_counter()
                if draw < 0.05:
                    route, valid = "/classify", False
                    body, ctype = bad_request(rng, corpus)
                    req = http.post(route, content=body, headers={"content-type": ctype})
                elif draw < 0.10:
                    route, valid = "/feedback", True
                    aid = f"soak-{c}-{i}"
                    req = http.post(route, json={"article": {"id": aid, "text": article(corpus, rng, 2000)},
                                                 "labels": {"actor": "Soak Test Brigade"}})
                else:
                    route, valid = "/classify", True
                    k = int(rng.integers(1, 5))
                    req = http.post(route, json={"articles": [
                        {"text": article(corpus, rng, int(lengths[(c * 7919 + i * 4 + j) % len(lengths)]))}
                        for j in range(k)]})
                try:
                    r = await req
                    status = r.status_code
                    if route == "/feedback" and status == 200:
                        acked.append(aid)
                except httpx.HTTPError as e:
                    status = f"error:{type(e).__name__}"
                records.append((t0 - start, route, status, time.perf_counter() - t0, valid))

        await asyncio.gather(*(client(c) for c in range(clients)))
    return records, acked


async def overload(url: str, texts: list[str], clients: int, seconds: float) -> dict:
    import httpx

    statuses, admitted, live = Counter(), [], []
    retry_after = set()
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        async def client(c: int) -> None:
            i = c
            while time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                try:
                    r = await http.post("/classify", json={"articles": [{"text": texts[i % len(texts)]}]})
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        admitted.append(time.perf_counter() - t0)
                    elif r.status_code == 503:
                        retry_after.add(r.headers.get("retry-after"))
                        await asyncio.sleep(float(r.headers.get("retry-after") or 1))
                except httpx.HTTPError as e:
                    statuses[f"error:{type(e).__name__}"] += 1
                i += clients

        async def probe() -> None:
            while time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                try:
                    r = await http.get("/livez")
                    live.append((r.status_code, time.perf_counter() - t0))
                except httpx.HTTPError:
                    live.append((None, time.perf_counter() - t0))
                await asyncio.sleep(0.5)

        await asyncio.gather(probe(), *(client(c) for c in range(clients)))
    return {"clients": clients, "seconds": seconds, "status": {str(k): v for k, v in statuses.items()},
            "admitted_p50_ms": round(float(np.percentile(admitted, 50)) * 1000, 1) if admitted else None,
            "admitted_p99_ms": round(float(np.percentile(admitted, 99)) * 1000, 1) if admitted else None,
            "retry_after_values": sorted(v for v in retry_after if v),
            "livez_probes": len(live), "livez_not_200": sum(s != 200 for s, _ in live),
            "livez_slowest_ms": round(max(t for _, t in live) * 1000, 1) if live else None}


def per_minute(records: list, samples: list, minutes: int) -> list[dict]:
    out = []
    for m in range(minutes):
        rows = [r for r in records if m * 60 <= r[0] < (m + 1) * 60]
        ok = [r[3] for r in rows if r[1] == "/classify" and r[4] and r[2] == 200]
        mem = [v for t, v in samples if m * 60 <= t < (m + 1) * 60]
        out.append({"minute": m + 1, "requests": len(rows), "status": dict(Counter(str(r[2]) for r in rows)),
                    "p50_ms": round(float(np.percentile(ok, 50)) * 1000, 1) if ok else None,
                    "p99_ms": round(float(np.percentile(ok, 99)) * 1000, 1) if ok else None,
                    "rss_mib": round(float(np.mean(mem)), 1) if mem else None})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="model directory (the transformer)")
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--minutes", type=int, default=20)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--overload-clients", type=int, default=256)
    ap.add_argument("--overload-seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _, corpus = archive(args.data_root, tmp / "archive", 20_000)
        home = tmp / "home"
        home.mkdir()
        proc, url = start_server(args.model, home)
        before = workers(proc.pid)
        samples, stop = [], threading.Event()
        start = time.perf_counter()
        sampler = threading.Thread(target=sample_memory, args=(proc.pid, start, stop, samples), daemon=True)
        sampler.start()
        log(f"soak: {args.clients} clients for {args.minutes} min against {url}")
        records, acked = asyncio.run(soak(url, corpus, args.clients, args.minutes * 60, args.seed))
        stop.set()
        sampler.join()
        short = [t for t in corpus if 1200 <= len(t) <= 2400] or corpus  # about 200-400 words
        log(f"overload: {args.overload_clients} clients for {args.overload_seconds:.0f} s")
        over = asyncio.run(overload(url, short, args.overload_clients, args.overload_seconds))
        restarted = len(workers(proc.pid) - before)
        alive = proc.poll() is None
        from benchmarks.kill_feedback import kill_tree

        kill_tree(proc)
        db = sqlite3.connect(home / "feedback.sqlite3")
        stored = {r[0] for r in db.execute("SELECT article_id FROM feedback WHERE article_id LIKE 'soak-%'")}
        db.close()
    minutes = per_minute(records, samples, args.minutes)
    status = Counter(str(r[2]) for r in records)
    valid_5xx = sum(1 for r in records if r[4] and (str(r[2]).startswith("5") or str(r[2]).startswith("error")))
    bad_5xx = sum(1 for r in records if not r[4] and (str(r[2]).startswith("5") or str(r[2]).startswith("error")))
    early = [m["rss_mib"] for m in minutes[4:10] if m["rss_mib"]]
    late = [m["rss_mib"] for m in minutes[-5:] if m["rss_mib"]]
    ratio = float(np.mean(late) / np.mean(early)) if early and late else None
    report = {"command": "python benchmarks/soak.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
              "minutes": args.minutes, "clients": args.clients, "requests": len(records),
              "status": dict(status), "valid_requests_5xx_or_failed": valid_5xx, "bad_requests_5xx": bad_5xx,
              "bad_requests": sum(1 for r in records if not r[4]),
              "bad_requests_4xx": sum(1 for r in records if not r[4] and str(r[2]).startswith("4")),
              "per_minute": minutes,
              "memory": {"minutes_5_10_mib": round(float(np.mean(early)), 1) if early else None,
                         "last_5_mib": round(float(np.mean(late)), 1) if late else None,
                         "last_5_over_5_10": round(ratio, 4) if ratio else None,
                         "flat": ratio is not None and abs(ratio - 1) <= 0.10},
              "feedback": {"acknowledged": len(acked), "acknowledged_in_db": len(set(acked) & stored),
                           "missing": len(set(acked) - stored)},
              "server_alive": alive, "worker_restarts": restarted, "overload": over}
    log(json.dumps({k: v for k, v in report.items() if k != "per_minute"}, indent=1))
    write_result(args.out, "soak.json", report)


if __name__ == "__main__":
    main()
