"""Admission control: a request that would wait longer than the service can answer in time is
refused at the door with 503 and `Retry-After`, instead of queueing until requests time out
at random; up to that point requests queue (BentoML's batcher reads them in turn).

Counted per worker (one asyncio loop, so plain counters): the API requests in flight and their
body bytes, and the rate at which the worker gets through body bytes (bytes finished per
second with work in flight, over the last `WINDOW` seconds). A request is refused when the bytes ahead of it would
take longer than `max_queue_s` at that rate, or when `max_in_flight` requests are already in
flight (configs/serve.yaml). A request arriving at an idle worker is always taken; until the
worker has measured its rate only the count limit applies. Health, metrics, the page and the
documents are never refused."""
from __future__ import annotations

import collections
import json
import math
import time

from .contract import API_ROUTES, header

WINDOW = 60.0  # seconds of recent work the byte rate is measured over


class Shed:
    def __init__(self, app, max_in_flight: int, max_queue_s: float):
        self.app, self.max_requests, self.max_queue_s = app, max_in_flight, max_queue_s
        self.requests, self.bytes = 0, 0
        # running totals: seconds with work in flight, body bytes finished; sampled at each finish
        self.busy, self.finished, self.last = 0.0, 0, time.monotonic()
        self.samples: collections.deque = collections.deque()  # (at, busy, finished)

    def tick(self, now: float) -> None:
        if self.requests:
            self.busy += now - self.last
        self.last = now

    def rate(self, now: float) -> float | None:
        """Body bytes finished per busy second over the last WINDOW seconds (None: too few yet)."""
        while len(self.samples) > 1 and self.samples[0][0] < now - WINDOW:
            self.samples.popleft()
        if len(self.samples) < 3:
            return None
        _, busy, finished = self.samples[0]
        return (self.finished - finished) / (self.busy - busy) if self.busy > busy else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in API_ROUTES:
            return await self.app(scope, receive, send)
        length = header(scope, b"content-length")
        size = int(length) if length.isascii() and length.isdigit() else 0
        now = time.monotonic()
        self.tick(now)
        if self.requests:
            rate = self.rate(now)
            wait = (self.bytes + size) / rate if rate else 0.0
            if self.requests >= self.max_requests or wait > self.max_queue_s:
                return await self.refuse(send, wait, rate)
        self.requests, self.bytes = self.requests + 1, self.bytes + size
        try:
            await self.app(scope, receive, send)
        finally:
            now = time.monotonic()
            self.tick(now)
            self.requests, self.bytes, self.finished = self.requests - 1, self.bytes - size, self.finished + size
            self.samples.append((now, self.busy, self.finished))

    async def refuse(self, send, wait: float, rate: float | None) -> None:
        retry = max(1, min(60, math.ceil(wait - self.max_queue_s) if wait > self.max_queue_s else 1))
        msg = (f"the service is at capacity ({self.requests} requests, {self.bytes:,} bytes in flight, about "
               f"{wait:.0f} s of work at {(rate or 0) / 1000:,.0f} kB/s; limits max_in_flight {self.max_requests}, "
               f"max_queue_s {self.max_queue_s:g}): retry after {retry} s")
        body = json.dumps({"error": msg, "detail": [{"type": "overloaded", "loc": [], "msg": msg}]}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(retry).encode())]})
        await send({"type": "http.response.body", "body": body})
