"""Serving benchmark: a served model against the same model called in-process, in one run.

    python benchmarks/serve.py --model MODEL_DIR [--clients 1 8 32] [--seconds 20] [--texts N]

Starts `secnews serve` on 127.0.0.1 (its own BENTOML_HOME), measures in-process
`predict` articles/s on the same texts, then drives the server with N concurrent clients
(one article per request; bounded by --seconds and --max-requests; loopback only) and
prints requests/s, articles/s, p50/p95/p99 latency, errors and the ratio of served to
in-process articles/s; also to the service's own arrangement without HTTP (its worker
processes and model lanes, `configs/serve.yaml`, each predicting a share in-process), which
is what the HTTP layer costs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.common import median_rate, write_result  # noqa: E402
from secnews.training.modeldir import RUNTIME_ENV  # noqa: E402


def load_texts(n: int, data_root: Path | None) -> list[str]:
    """ACLED notes (cleaned, as the readers give them) when the shared data is there, else the starter set."""
    from secnews.training.config import load_config
    from secnews.training.data import read_data

    cfg = load_config(ROOT / "configs" / "baseline.yaml")
    if data_root and (data_root / "acled/acled_events.csv.gz").is_file():
        cfg.data.paths, cfg.data.format = [str(data_root / "acled/acled_events.csv.gz")], "acled"
    texts = [t for t in read_data(cfg.data, cfg.tasks)["text"].tolist() if t.strip()]
    rng = np.random.default_rng(0)
    return [texts[i] for i in rng.choice(len(texts), size=min(n, len(texts)), replace=False)]


def in_process(model: Path, texts: list[str], batch: int, min_seconds: float = 8.0) -> float:
    """Median articles/s of whole passes over the texts, repeated for at least `min_seconds`:
    one pass over 512 notes takes ~1.5 s, and single passes of the same model on the same texts
    gave 347.8 and 388.5 articles/s in two runs minutes apart (session 10)."""
    from secnews.training import load

    return median_rate(load(model).answers, texts, batch, passes=1, min_seconds=min_seconds)[0]


def in_process_workers(model: Path, texts: list[str], batch: int) -> float:
    """The service's arrangement without the HTTP layer: its model lane processes
    (serving/lanes.py; workers x lanes of them, configs/serve.yaml), each fed its share of the
    texts in calls of `batch` by a thread of its own, all started together. Articles/s of them
    all: the most the served model could answer, against which the HTTP layer's cost shows."""
    import threading

    from secnews.serving.lanes import LanePool
    from secnews.serving.settings import load_serve_config, worker_plan

    workers, lanes, threads = worker_plan(load_serve_config())
    pool = LanePool(model, workers * lanes, threads)
    try:
        def feed(share: list[str]) -> None:
            for i in range(0, len(share), batch):
                pool.run(share[i:i + batch])

        feeders = [threading.Thread(target=feed, args=(texts[k::workers * lanes],)) for k in range(workers * lanes)]
        start = time.perf_counter()
        for t in feeders:
            t.start()
        for t in feeders:
            t.join()
        return len(texts) / (time.perf_counter() - start)
    finally:
        pool.close()


def start_server(model: Path, home: Path, settings: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`settings`: environment over this process's (e.g. SECNEWS_PRECISION for one server)."""
    # its own feedback database too: the benchmark's ids must not land in the user's
    env = {**os.environ, **(settings or {}), "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true",
           "SECNEWS_FEEDBACK_DB": str(home / "feedback.sqlite3")}
    tag = subprocess.run([sys.executable, "-m", "secnews.serving.cli", "models", "import", str(model)], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "secnews.serving.cli", "serve", tag, "--port", str(port)], env=env,
                            stdout=open(home / "serve.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError((home / "serve.log").read_text()[-2000:])
        time.sleep(0.5)
    raise RuntimeError("server not ready in 180 s")


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One keep-alive HTTP/1.1 exchange on an open connection; returns the status code.
    Reads a Content-Length or a chunked body to its end and keeps none of it."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        at = lower.find(b"content-length:")
        if at >= 0:
            await reader.readexactly(int(lower[at + 15:lower.index(b"\r\n", at)]))
    return status


def request_bytes(host: str, i: int, text: str) -> bytes:
    body = json.dumps({"articles": [{"id": str(i), "text": text}]}).encode()
    return (f"POST /classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def drive(url: str, texts: list[str], clients: int, seconds: float, max_requests: int) -> dict:
    """`clients` concurrent keep-alive connections, each sending one article per request and
    waiting for the answer before the next. A bare asyncio HTTP/1.1 client with the request
    bytes built before the clock starts: the load generator shares the server's 2 cores, and
    httpx took 1.6-1.8 ms of CPU a request (0.22-0.25 of a core at ~140 requests/s), which the
    server paid for in throughput.
    `client_cpu_share`: the generator's CPU time over the run's wall time (1.0 = one core)."""
    host, port = url.removeprefix("http://").split(":")
    latencies, errors, sent = [], 0, 0
    bodies = [request_bytes(host, i, text) for i, text in enumerate(texts)]

    async def worker(k: int) -> None:
        nonlocal errors, sent
        reader, writer = await asyncio.open_connection(host, int(port))
        i = k
        try:
            while time.perf_counter() < stop_at and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    ok = await post(reader, writer, bodies[i % len(bodies)]) == 200
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                latencies.append(time.perf_counter() - t0)
                errors += not ok
                i += clients
        finally:
            writer.close()

    stop_at = time.perf_counter() + seconds
    cpu0, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    lat = np.array(latencies) * 1000
    done = len(latencies) - errors
    return {"clients": clients, "requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(done / elapsed, 1), "articles_per_s": round(done / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1), "client_cpu_share": round(cpu / elapsed, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="model directory")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--seconds", type=float, default=20.0, help="per client level")
    p.add_argument("--max-requests", type=int, default=5000, help="per client level")
    p.add_argument("--texts", type=int, default=512)
    p.add_argument("--batch", type=int, default=64, help="in-process predict batch size")
    p.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--out", type=Path, help="a folder to write serve.json in (as the other benchmarks), or a .json file")
    args = p.parse_args()
    out = None if args.out is None else args.out if args.out.suffix == ".json" else args.out / "serve.json"

    texts = load_texts(args.texts, args.data_root)
    baseline = in_process(args.model, texts, args.batch)
    print(f"in-process predict: {baseline:.1f} articles/s ({len(texts)} texts, batches of {args.batch})")
    arranged = in_process_workers(args.model, texts * max(1, 4096 // len(texts)), 32)
    print(f"in-process, the service's workers and lanes without HTTP: {arranged:.1f} articles/s")
    home = Path(tempfile.mkdtemp(prefix="secnews-bench-"))
    proc, url = start_server(args.model, home)
    results = []
    try:
        asyncio.run(drive(url, texts, 4, 3, 50))  # warm-up
        print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'art/s':>7} {'p50 ms':>8} "
              f"{'p95 ms':>8} {'p99 ms':>8} {'served/in-process':>18} {'/workers':>9}")
        for c in args.clients:
            r = asyncio.run(drive(url, texts, c, args.seconds, args.max_requests))
            r["ratio"] = round(r["articles_per_s"] / baseline, 3)
            r["ratio_to_workers_without_http"] = round(r["articles_per_s"] / arranged, 3)
            results.append(r)
            print(f"{c:>7} {r['requests']:>8} {r['errors']:>6} {r['requests_per_s']:>7} {r['articles_per_s']:>7} "
                  f"{r['p50_ms']:>8} {r['p95_ms']:>8} {r['p99_ms']:>8} {r['ratio']:>18} "
                  f"{r['ratio_to_workers_without_http']:>9}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    if out:  # the prediction settings of this run too (SECNEWS_PRECISION, SECNEWS_PACK_WINDOWS)
        settings = {env: os.environ[env] for env in RUNTIME_ENV if os.environ.get(env)}
        print(write_result(out.parent, out.name, {
            "in_process_articles_per_s": round(baseline, 1), "in_process_workers_articles_per_s": round(arranged, 1),
            "levels": results, "model": str(args.model), "settings": settings, "command": " ".join(sys.argv)}))


if __name__ == "__main__":
    main()
