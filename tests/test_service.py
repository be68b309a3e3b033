"""The BentoML service as an integrator meets it: a real `bentoml serve` (through
`secnews serve`) on 127.0.0.1, its own BENTOML_HOME, called over HTTP."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from secnews.training import load

from .conftest import ROOT

ARTICLE = ("Two rockets struck a base south of Baghdad that hosts coalition trainers. Nobody was hurt. "
           "Officials blamed Kataeb Hezbollah, an Iran-backed militia.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, path: str, body=None, raw: bytes | None = None, timeout: float = 60):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, _decode(r.read())
    except urllib.error.HTTPError as e:
        return e.code, _decode(e.read())


def _decode(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:  # /readyz, /metrics: plain text
        return raw.decode()


def secnews(env, *args):
    return subprocess.run([sys.executable, "-m", "secnews.serving.cli", *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def start_server(env: dict, model, log_path) -> tuple[subprocess.Popen, str, list, int]:
    """`secnews serve MODEL` on a free loopback port; returns once /readyz says 200."""
    port = free_port()
    log = open(log_path, "a")
    # a model directory: `serve` finds the version imported before instead of adding another
    proc = subprocess.Popen([sys.executable, "-m", "secnews.serving.cli", "serve", str(model), "--port", str(port)],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    polls, first_ready = [], None
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            status, _ = call(url, "/readyz", timeout=5)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = None
        polls.append(status)
        if status == 200:
            # ready must mean the model answers, not just that the process is up
            first_ready = call(url, "/classify", {"articles": [{"text": ARTICLE}]})[0]
            break
        assert proc.poll() is None, open(log_path).read()[-3000:]
        time.sleep(0.3)
    else:
        stop_server(proc, signal.SIGKILL)
        pytest.fail("service not ready in 120 s: " + open(log_path).read()[-3000:])
    return proc, url, polls, first_ready


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, read from /proc: BentoML's worker runs in a session of
    its own, so signalling the server's process group does not reach it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_server(proc, sig=signal.SIGTERM) -> None:
    """Signal the server's process group, then kill whatever it started that outlived it (the
    worker of a SIGKILLed server keeps serving as an orphan: issue 14), so no test leaves a
    process behind."""
    below = descendants(proc.pid)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=30)
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in below):
        time.sleep(0.2)
    for p in below:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextlib.contextmanager
def running_server(model, home, extra_env: dict | None = None):
    """`secnews serve MODEL` for the length of a with-block: {url, proc, env, db}."""
    env = {**service_env(home), **(extra_env or {})}
    proc, url, _, first = start_server(env, model, home / "serve.log")
    assert first == 200
    try:
        yield {"url": url, "proc": proc, "env": env, "db": home / "feedback.sqlite3"}
    finally:
        stop_server(proc)


def service_env(home) -> dict:
    return {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "HF_HUB_OFFLINE": "1",
            "SECNEWS_FEEDBACK_DB": str(home / "feedback.sqlite3")}


@pytest.fixture(scope="module")
def server(smoke_model, tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml_home")
    env = service_env(home)
    imported = secnews(env, "models", "import", smoke_model)
    assert imported.returncode == 0, imported.stderr
    tag = imported.stdout.strip()
    proc, url, polls, first_ready = start_server(env, smoke_model, home / "serve.log")
    yield {"url": url, "tag": tag, "env": env, "polls": polls, "first_ready": first_ready, "model": smoke_model,
           "proc": proc}
    stop_server(proc)


def test_ready_only_with_the_model_loaded(server):
    assert server["polls"][0] != 200  # not ready at start
    assert server["first_ready"] == 200


def test_serve_reuses_the_imported_version(server):
    listed = secnews(server["env"], "models", "list")
    assert listed.returncode == 0 and listed.stdout.count("secnews:") == 1 and server["tag"] in listed.stdout
    assert "tfidf" in listed.stdout and "macro-F1 event_type=" in listed.stdout


def test_classify_returns_every_task_with_evidence_and_tag(server):
    status, body = call(server["url"], "/classify", {"articles": [{"id": "a1", "text": ARTICLE},
                                                                  {"title": "Sit-in", "text": "Nurses held a sit-in."}]})
    assert status == 200 and [r["id"] for r in body] == ["a1", None]
    expected = load(server["model"]).answers([ARTICLE, "Sit-in\n\nNurses held a sit-in."])
    for got, want in zip(body, expected):
        assert got["model"] == server["tag"]
        assert {k: v for k, v in got.items() if k not in ("id", "model")} == json.loads(json.dumps(want))
    assert body[0]["event_type"]["evidence"] and body[0]["event_type"]["parent"]


@pytest.mark.parametrize("limit", ["abc", "%C2%B2", "0", "501", "99999999999999999999"])
def test_recent_feedback_refuses_a_limit_that_is_not_a_small_whole_number(server, limit):
    status, body = call(server["url"], f"/feedback?limit={limit}", timeout=10)  # "²" once hung the worker
    assert status == 400 and body["detail"][0]["loc"] == ["query", "limit"]
    status, body = call(server["url"], "/feedback?limit=3", timeout=10)
    assert status == 200 and isinstance(body, list)


def test_a_request_larger_than_the_batch_limit_comes_back_whole_and_in_order(server):
    articles = [{"id": f"n{i}", "text": f"Report {i}: {ARTICLE}"} for i in range(40)]  # max_batch_articles is 32
    status, body = call(server["url"], "/classify", {"articles": articles})
    assert status == 200 and [r["id"] for r in body] == [a["id"] for a in articles]


def test_concurrent_requests_are_batched_and_match_single_calls(server):
    texts = [json.loads(line)["text"] for line in (ROOT / "datasets/starter/reports_unrest.jsonl").read_text().splitlines()[:24]]
    single = [call(server["url"], "/classify", {"articles": [{"id": str(i), "text": t}]})[1][0] for i, t in enumerate(texts)]
    with ThreadPoolExecutor(24) as pool:
        for _ in range(3):
            burst = list(pool.map(lambda it: call(server["url"], "/classify", {"articles": [{"id": str(it[0]), "text": it[1]}]}),
                                  enumerate(texts)))
            assert all(status == 200 for status, _ in burst)
            assert [b[0] for _, b in burst] == single
    metrics = call(server["url"], "/metrics")[1]
    count = sum(float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("secnews_batch_articles_count"))
    total = sum(float(l.split()[-1]) for l in metrics.splitlines() if l.startswith("secnews_batch_articles_sum"))
    assert count > 0 and total > count  # some model calls carried more than one request


@pytest.mark.parametrize("body,field,says", [
    ({"articles": [{"title": "no text"}]}, ["articles", 0, "text"], "Field required"),
    ({"articles": [{"text": ""}]}, ["articles", 0, "text"], "at least 1 character"),
    ({"articles": [{"text": "   "}]}, ["articles", 0, "text"], "blank"),
    ({"articles": [{"text": 42}]}, ["articles", 0, "text"], "valid string"),
    ({"articles": [{"text": "ok", "id": 7}]}, ["articles", 0, "id"], "valid string"),
    ({"articles": "one article"}, ["articles"], "valid array"),
    ({"articles": []}, ["articles"], "at least 1 item"),
    ({"articles": [{"text": "x"}] * 65}, ["articles"], "at most 64 items"),
    ({"articles": [{"text": "x" * 100_001}]}, ["articles", 0, "text"], "at most 100000 characters"),
    ({"articles": [{"text": "ok", "colour": "red"}]}, ["articles", 0, "colour"], "Extra inputs"),
    ({"article": [{"text": "ok"}]}, ["articles"], "Field required"),
])
def test_bad_input_is_a_400_naming_field_and_limit(server, body, field, says):
    status, answer = call(server["url"], "/classify", body)
    assert status == 400
    (detail,) = answer["detail"]
    assert detail["loc"] == field and says in detail["msg"]


def test_broken_json_and_the_service_stays_up(server):
    status, answer = call(server["url"], "/classify", raw=b'{"articles": [')
    assert status == 400 and "Invalid JSON" in answer["detail"][0]["msg"]
    assert call(server["url"], "/livez")[0] == 200
    assert call(server["url"], "/classify", {"articles": [{"text": ARTICLE}]})[0] == 200


def test_metadata_health_and_metrics(server):
    status, meta = call(server["url"], "/metadata")
    assert status == 200 and meta["model"] == server["tag"] and meta["kind"] == "tfidf"
    tasks = {t["name"]: t for t in meta["tasks"]}
    assert set(tasks) == {"event_type", "target", "actor"} and len(tasks["event_type"]["labels"]) == 25
    assert tasks["event_type"]["parents"]["Grenade"] == "Explosions/Remote violence"
    assert meta["metrics"]["event_type"]["macro_f1"] > 0 and meta["limits"]["max_articles"] == 64
    for path in ("/livez", "/readyz"):
        assert call(server["url"], path)[0] == 200
    assert "bentoml_service_request_total" in call(server["url"], "/metrics")[1]


def test_the_configured_workers_and_lanes_answer_concurrent_requests_and_corrections_by_id(server):
    """configs/serve.yaml's worker processes run (one by default, each with `lanes: auto`
    model lanes: one per core); 24 articles classified over 8 concurrent connections, each
    then corrected by its id over another connection (the workers, when more than one, share
    the correction store)."""
    from secnews.serving.settings import load_serve_config, worker_plan

    def cmdline(pid: int) -> str:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    workers = [p for p in descendants(server["proc"].pid) if "_bentoml_impl" in cmdline(p)]
    assert len(workers) == worker_plan(load_serve_config())[0]
    label = call(server["url"], "/metadata")[1]["tasks"][0]
    ids = [f"w{i}" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        classified = list(pool.map(lambda i: call(server["url"], "/classify",
                                                  {"articles": [{"id": i, "text": f"{i}. {ARTICLE}"}]})[0], ids))
        corrected = list(pool.map(lambda i: call(server["url"], "/feedback", {
            "article_id": i, "labels": {label["name"]: label["labels"][0] if label["type"] == "single"
                                        else [label["labels"][0]]}}), ids))
    assert classified == [200] * len(ids)
    assert [(status, body["article_id"]) for status, body in corrected] == [(200, i) for i in ids]


def test_a_killed_server_leaves_no_worker_serving_and_a_busy_port_is_named(smoke_model, tmp_path):
    """Issue 14: `kill -KILL` of the server's process group used to leave BentoML's worker
    (a session of its own) answering on the port, and a restart died with a traceback."""
    env = service_env(tmp_path)
    proc, url, _, first = start_server(env, smoke_model, tmp_path / "serve.log")
    assert first == 200
    port = int(url.rsplit(":", 1)[1])
    below = descendants(proc.pid)
    assert below, "the server started no worker"
    busy = secnews(env, "serve", smoke_model, "--port", port)
    err = busy.stderr.strip().splitlines()
    assert busy.returncode == 2 and len(err) == 1, busy.stderr
    assert f"port {port} on 127.0.0.1 is already in use by pid" in err[0]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in below):
        time.sleep(0.2)
    alive = [p for p in below if os.path.exists(f"/proc/{p}")]
    for p in alive:  # do not leave it behind even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers outlived the killed server: {alive}"
    with socket.socket() as s:  # nothing answers on the port any more
        assert s.connect_ex(("127.0.0.1", port)) != 0


def post_with_headers(url: str, body: dict):
    req = urllib.request.Request(url + "/classify", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_overload_is_refused_at_the_door_with_retry_after(smoke_model, tmp_path):
    """More concurrent work than the limits allow: the excess gets 503 + Retry-After at once
    (not a timeout), the admitted requests are answered, health checks answer throughout."""
    (tmp_path / "home").mkdir()
    limits = tmp_path / "serve.yaml"
    limits.write_text("max_in_flight: 2\n")
    heavy = {"articles": [{"text": ARTICLE * 200} for _ in range(16)]}  # 16 articles of ~33,000 characters
    with running_server(smoke_model, tmp_path / "home", {"SECNEWS_SERVE_CONFIG": str(limits)}) as s:
        with ThreadPoolExecutor(24) as pool:
            posted = [pool.submit(post_with_headers, s["url"], heavy) for _ in range(24)]
            live = [call(s["url"], "/livez", timeout=10)[0] for _ in range(5)]
            results = [f.result() for f in posted]
        assert call(s["url"], "/classify", {"articles": [{"text": ARTICLE}]})[0] == 200  # recovers
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503} and statuses.count(503) >= 1 and statuses.count(200) >= 2, statuses
    _, body, headers = next(r for r in results if r[0] == 503)
    retry = {k.lower(): v for k, v in headers.items()}["retry-after"]
    assert int(retry) >= 1 and "max_in_flight 2" in body["error"] and body["detail"][0]["type"] == "overloaded"
    assert all(len(b) == 16 for status, b, _ in results if status == 200)
    assert live == [200] * 5


def test_admission_by_expected_wait_refuses_only_what_cannot_be_answered_in_time():
    """Shed in front of an app that reads 1 MB/s: a request whose bytes ahead would take
    longer than max_queue_s is refused with 503 + Retry-After; one at an idle worker, and
    health checks, never are."""
    import asyncio

    from secnews.serving.overload import Shed

    async def slow_app(scope, receive, send):  # 1,000,000 body bytes per second, one at a time
        async with lock:
            await asyncio.sleep(int(dict(scope["headers"])[b"content-length"]) / 1_000_000)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def request(shed, size, path="/classify", method="POST"):
        sent = []

        async def send(message):
            sent.append(message)
        await shed({"type": "http", "method": method, "path": path,
                    "headers": [(b"content-length", str(size).encode())]}, None, send)
        return sent[0]["status"], dict(sent[0]["headers"])

    async def scenario():
        shed = Shed(slow_app, max_in_flight=64, max_queue_s=0.5)
        for _ in range(3):  # the worker learns its rate
            assert (await request(shed, 50_000))[0] == 200
        big = [request(shed, 200_000) for _ in range(6)]  # 1.2 s of work at 1 MB/s; 0.5 s allowed
        answers = await asyncio.gather(*big, request(shed, 10, "/livez", "GET"))
        statuses = [status for status, _ in answers[:-1]]
        assert answers[-1][0] == 200 and statuses.count(200) >= 2 and statuses.count(503) >= 2, statuses
        assert all(int(h[b"retry-after"]) >= 1 for s, h in answers[:-1] if s == 503)
        assert (await request(shed, 5_000_000))[0] == 200  # idle again: any size is taken

    lock = asyncio.Lock()
    asyncio.run(scenario())
