"""Greedy batching for the model: a request never waits for company.

BentoML's adaptive batcher holds a lone request back for the average wait it has seen lately,
so after a busy minute one client's 40-word note waited ~250 ms before the model saw it
(session 5's throughput race). Here the model takes whatever is queued the
moment it is free: at idle a request goes straight in; while a batch runs, the requests that
arrive meanwhile queue and go in together as the next batch (up to `max_articles` articles and
`max_chars` characters; a bigger request is a batch of its own). Batches form only when there
is load, which is the only time they help.

One wait, only under load: after a call of n articles, the next call waits up to `linger_s`
for n articles to be queued. At 32 clients the model's answers go out together, and the
clients' next requests come back over the few milliseconds the event loop takes to write
the answers and read the requests; without the wait the first of them went in alone, and
the model ran a call of 1-3 articles while the rest queued behind it. After a call of one
article (a lone client) the next request is already enough and never waits.

The model runs off the event loop, so the loop keeps reading requests while it works:
`lanes` calls at once, each on a thread of its own (in the service each thread hands its
call to a model process, serving/lanes.py). A free lane takes its share of what is queued
(1/free lanes of it), so a burst from 32 clients becomes two calls of 16 on two lanes
rather than one of 32 on one lane while the other idles. What the service does with a call's
answers before they go out (`finish`: its result objects, remembering the articles' ids in
SQLite) runs after the lane is free again, on a thread of its own: inside the lane it kept
the model process waiting for a few ms of every call.
After each call the heap's free pages go back to the system (glibc's `malloc_trim`): without
it glibc keeps the high-water mark of the largest batches a server has seen, and a 20-minute
soak of 1 to 100,000-character articles grew the service's RSS by 31% (session 5; flat since, soak.json).
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import ctypes
import ctypes.util
from typing import Callable, Sequence


def _malloc_trim() -> Callable[[], None]:
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


trim_heap = _malloc_trim()


class Batcher:
    def __init__(self, fn: Callable[[list], list], max_articles: int, max_chars: int,
                 size: Callable[[object], int], observe: Callable[[int], None] | None = None,
                 linger_s: float = 0.0, lanes: int = 1,
                 finish: Callable[[list, list], list] | None = None):
        """`fn` maps a list of items to one answer per item, in order; `size` is an item's
        characters; `observe` is told each batch's item count (a metric); `linger_s`: the
        longest wait for as many articles as the last call had; `lanes`: model calls that may
        run at once, each on a thread of its own; `finish(items, answers)`, when given, makes
        the final answers of a call once its lane is free (one thread, calls in turn)."""
        self.fn, self.max_articles, self.max_chars, self.size = fn, max_articles, max_chars, size
        self.observe, self.linger_s, self.lanes = observe, linger_s, lanes
        self.last_articles = 1  # articles in the last call: the load the next call waits for
        self.arrived = asyncio.Event()
        self.queue: collections.deque[tuple[list, int, asyncio.Future]] = collections.deque()  # items, chars, answer
        self.running = False
        self.busy = 0  # lanes with a call in progress
        self.lane_free = asyncio.Event()
        self.calls: set[asyncio.Task] = set()
        self.executor = concurrent.futures.ThreadPoolExecutor(lanes, thread_name_prefix="secnews-model")
        self.finish = finish
        self.finisher = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="secnews-finish") if finish else None

    async def __call__(self, items: Sequence) -> list:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        items = list(items)
        self.queue.append((items, sum(map(self.size, items)), future))
        self.arrived.set()
        if not self.running:
            self.running = True
            loop.create_task(self.drain())
        return await future

    def take(self, share: int = 1) -> list[tuple[list, asyncio.Future]]:
        """The next batch: queued requests in arrival order while they fit the limits (the
        first always goes in) and this lane's `share` of the queued articles (1/share of them,
        rounded up, so that free lanes split a burst instead of one taking it all);
        requests whose client has gone are dropped."""
        limit = min(self.max_articles, -(-self.queued_articles() // share))
        jobs, articles, chars = [], 0, 0
        while self.queue:
            items, c, future = self.queue[0]
            if future.done():  # cancelled: the client disconnected or timed out
                self.queue.popleft()
                continue
            if jobs and (articles + len(items) > limit or chars + c > self.max_chars):
                break
            self.queue.popleft()
            jobs.append((items, future))
            articles, chars = articles + len(items), chars + c
        return jobs

    def queued_articles(self) -> int:
        return sum(len(items) for items, _, future in self.queue if not future.done())

    async def linger(self) -> None:
        """Under load, wait (at most `linger_s`) until the queue holds as many articles as the
        last call had (at most one call's worth)."""
        loop = asyncio.get_running_loop()
        want, deadline = min(self.last_articles, self.max_articles), loop.time() + self.linger_s
        while self.queued_articles() < want and (left := deadline - loop.time()) > 0:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                return

    def call(self, items: list) -> list:
        try:
            return self.fn(items)
        finally:
            trim_heap()  # a few ms after a 180,000-character batch, 0.2 ms after a note

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while self.busy >= self.lanes:
                    self.lane_free.clear()
                    await self.lane_free.wait()
                await self.linger()
                if not (jobs := self.take(share=self.lanes - self.busy)):
                    break
                flat = [item for items, _ in jobs for item in items]
                self.last_articles = len(flat)
                if self.observe:
                    self.observe(len(flat))
                self.busy += 1
                task = loop.create_task(self.answer(jobs, flat))
                self.calls.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(self.calls.discard)
        finally:
            self.running = False

    async def answer(self, jobs: list[tuple[list, asyncio.Future]], flat: list) -> None:
        """One model call on a free lane; each request of the batch gets its answers or the error."""
        loop = asyncio.get_running_loop()
        try:
            try:
                answers = await loop.run_in_executor(self.executor, self.call, flat)
            finally:
                self.busy -= 1
                self.lane_free.set()
            if self.finish:
                answers = await loop.run_in_executor(self.finisher, self.finish, flat, answers)
        except Exception as e:  # every request of the batch gets the error
            for _, future in jobs:
                if not future.done():
                    future.set_exception(e)
            return
        start = 0
        for items, future in jobs:
            if not future.done():
                future.set_result(answers[start:start + len(items)])
            start += len(items)
