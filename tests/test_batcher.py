"""The service's batcher (serving/batcher.py): no wait at idle, coalescing under load, limits,
errors and cancelled requests. Plain asyncio, no server: the served path is in test_service."""
import asyncio
import threading

import pytest
from secnews.serving.batcher import Batcher


class Model:
    """Records each call's items; the first call can be held until released."""
    def __init__(self, hold_first: bool = False, fail_on: str | None = None):
        self.calls: list[list] = []
        self.release = threading.Event()
        self.started = threading.Event()
        self.hold_first, self.fail_on = hold_first, fail_on

    def __call__(self, items: list) -> list:
        self.calls.append(list(items))
        self.started.set()
        if self.hold_first and len(self.calls) == 1:
            self.release.wait(10)
        if self.fail_on in items:
            raise RuntimeError(f"cannot read {self.fail_on}")
        return [f"answer:{i}" for i in items]


async def behind_a_busy_call(model: Model, batcher: Batcher, requests: list[list], cancel: int | None = None):
    """Requests sent while the model works on a first call; what each gets back (an exception
    as itself). `cancel`: the index of a request whose client goes away before the model is free."""
    first = asyncio.ensure_future(batcher(["x"]))
    while not model.started.is_set():
        await asyncio.sleep(0.001)
    later = [asyncio.ensure_future(batcher(r)) for r in requests]
    await asyncio.sleep(0.01)
    if cancel is not None:
        later[cancel].cancel()
    model.release.set()
    assert await first == ["answer:x"]
    return await asyncio.gather(*later, return_exceptions=True)


def test_a_lone_request_goes_straight_in():
    model = Model()

    async def go():
        b = Batcher(model, max_articles=32, max_chars=1000, size=len)
        return await asyncio.wait_for(b(["a", "b"]), 5)

    assert asyncio.run(go()) == ["answer:a", "answer:b"]
    assert model.calls == [["a", "b"]]


def test_requests_arriving_while_the_model_works_share_its_next_call_within_the_limits():
    model = Model(hold_first=True)
    b = Batcher(model, max_articles=3, max_chars=1000, size=len)
    big = [f"big{i}" for i in range(5)]  # over max_articles: a call of its own
    got = asyncio.run(behind_a_busy_call(model, b, [[f"r{i}"] for i in range(5)] + [big]))
    assert got == [[f"answer:r{i}"] for i in range(5)] + [[f"answer:{i}" for i in big]]  # each its own, in order
    assert model.calls == [["x"], ["r0", "r1", "r2"], ["r3", "r4"], big]


def test_the_character_limit_splits_batches_too():
    model = Model(hold_first=True)
    b = Batcher(model, max_articles=100, max_chars=10, size=len)
    got = asyncio.run(behind_a_busy_call(model, b, [["abcdef"]] * 3))  # 6 characters each: one per call
    assert got == [["answer:abcdef"]] * 3
    assert model.calls[1:] == [["abcdef"]] * 3


def test_an_error_reaches_every_request_of_its_batch_and_the_next_batch_still_runs():
    model = Model(hold_first=True, fail_on="bad")
    b = Batcher(model, max_articles=10, max_chars=1000, size=len)
    got = asyncio.run(behind_a_busy_call(model, b, [["bad"], ["ok"]]))
    assert all(isinstance(r, RuntimeError) and "cannot read bad" in str(r) for r in got)
    assert asyncio.run(b(["after"])) == ["answer:after"]


def test_a_cancelled_request_is_not_sent_to_the_model():
    model = Model(hold_first=True)
    b = Batcher(model, max_articles=10, max_chars=1000, size=len)
    got = asyncio.run(behind_a_busy_call(model, b, [["gone"], ["kept"]], cancel=0))
    assert isinstance(got[0], asyncio.CancelledError) and got[1] == ["answer:kept"]
    assert model.calls == [["x"], ["kept"]]


def test_under_load_the_next_call_waits_for_a_burst_as_big_as_the_last_call():
    """After a call of 4 articles, requests arriving a few milliseconds apart go in together."""
    model = Model()

    async def go():
        b = Batcher(model, max_articles=32, max_chars=1000, size=len, linger_s=5.0)
        await b(["a", "b", "c", "d"])
        first = asyncio.ensure_future(b(["e"]))
        later = []
        for item in ("f", "g", "h"):
            await asyncio.sleep(0.01)
            later.append(asyncio.ensure_future(b([item])))
        return await asyncio.wait_for(asyncio.gather(first, *later), 5)

    assert asyncio.run(go()) == [["answer:e"], ["answer:f"], ["answer:g"], ["answer:h"]]
    assert model.calls == [["a", "b", "c", "d"], ["e", "f", "g", "h"]]


def test_a_lone_client_never_waits_for_company():
    """After a call of one article, the next request is enough: no linger, however long."""
    model = Model()

    async def go():
        b = Batcher(model, max_articles=32, max_chars=1000, size=len, linger_s=30.0)
        for item in ("a", "b", "c"):
            assert await asyncio.wait_for(b([item]), 2) == [f"answer:{item}"]

    asyncio.run(go())
    assert model.calls == [["a"], ["b"], ["c"]]


def test_the_wait_ends_at_linger_s_when_the_burst_does_not_come():
    model = Model()

    async def go():
        b = Batcher(model, max_articles=32, max_chars=1000, size=len, linger_s=0.05)
        await b(["a", "b", "c"])
        return await asyncio.wait_for(b(["d"]), 2)

    assert asyncio.run(go()) == ["answer:d"]
    assert model.calls == [["a", "b", "c"], ["d"]]


def test_two_lanes_split_a_burst_and_run_their_calls_at_the_same_time():
    """16 one-article requests queued at once with 2 free lanes: two calls of 8, running
    together (each waits at a barrier that only both calls reach), each answer to its request."""
    barrier = threading.Barrier(2, timeout=5)
    calls, threads = [], set()

    def model(items):
        calls.append(list(items))
        threads.add(threading.get_ident())
        barrier.wait()  # a BrokenBarrierError if the other call never runs beside this one
        return [f"answer:{i}" for i in items]

    async def go():
        b = Batcher(model, max_articles=32, max_chars=10_000, size=len, lanes=2)
        return await asyncio.wait_for(asyncio.gather(*(b([f"r{i}"]) for i in range(16))), 10)

    assert asyncio.run(go()) == [[f"answer:r{i}"] for i in range(16)]
    assert sorted(map(len, calls)) == [8, 8] and len(threads) == 2


def test_the_linger_setting_takes_zero_and_refuses_a_negative_wait(tmp_path):
    from secnews.serving.settings import load_serve_config
    from secnews.training.config import ConfigError

    path = tmp_path / "serve.yaml"
    path.write_text("batch_linger_ms: 0\n")
    assert load_serve_config(path).batch_linger_ms == 0
    path.write_text("batch_linger_ms: -5\n")
    with pytest.raises(ConfigError, match="batch_linger_ms must be at least 0, found -5"):
        load_serve_config(path)


def test_lanes_auto_is_one_per_core_up_to_four_and_the_threads_split_the_cores(tmp_path):
    from secnews.serving.settings import bentoml_options, load_serve_config, worker_plan
    from secnews.training.config import ConfigError

    path = tmp_path / "serve.yaml"
    path.write_text("max_articles: 64\n")
    auto = load_serve_config(path)
    # (worker processes, model lanes in each, torch threads in each lane)
    assert [worker_plan(auto, cores=c) for c in (1, 2, 3, 16)] == [(1, 1, 1), (1, 2, 1), (1, 3, 1), (1, 4, 4)]
    path.write_text("lanes: 1\n")
    assert worker_plan(load_serve_config(path), cores=2) == (1, 1, 2)
    path.write_text("workers: 2\n")
    assert worker_plan(load_serve_config(path), cores=8) == (2, 4, 1)
    path.write_text("lanes: 0\n")
    with pytest.raises(ConfigError, match="lanes must be at least 1, found 0"):
        load_serve_config(path)
    path.write_text("lanes: many\n")
    with pytest.raises(ConfigError, match="lanes: expected"):
        load_serve_config(path)
    # the access log and tracing are off unless asked for, and a bool is not a number to bound
    assert bentoml_options(auto) == {"logging": {"access": {"enabled": False}}, "tracing": {"excluded_urls": ["."]}}
    path.write_text("access_log: true\ntracing: true\n")
    assert bentoml_options(load_serve_config(path)) == {"logging": {"access": {"enabled": True}}}


def test_finish_runs_after_the_lane_is_free_and_its_answers_are_what_requests_get():
    """One lane: the first call's `finish` waits until the model has started the second call,
    which it can only do once the lane is free; each request gets its finished answers, and an
    error in `finish` reaches the requests of that call only."""
    model_calls, second_started = [], threading.Event()

    def model(items):
        model_calls.append(list(items))
        if len(model_calls) == 2:
            second_started.set()
        return [f"answer:{i}" for i in items]

    def finish(items, answers):
        if items == ["a"]:
            assert second_started.wait(5), "the lane was held while the first call was finished"
        if items == ["bad"]:
            raise ValueError("cannot finish bad")
        return [a.upper() for a in answers]

    async def go():
        b = Batcher(model, max_articles=1, max_chars=1000, size=len, lanes=1, finish=finish)
        first = asyncio.ensure_future(b(["a"]))
        await asyncio.sleep(0.05)
        return await asyncio.wait_for(asyncio.gather(first, b(["b"]), b(["bad"]), return_exceptions=True), 10)

    first, second, bad = asyncio.run(go())
    assert first == ["ANSWER:A"] and second == ["ANSWER:B"]
    assert isinstance(bad, ValueError) and "cannot finish bad" in str(bad)
