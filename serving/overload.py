"""Admission control: more work than the service can finish within its timeout is refused at
the door with 503 and `Retry-After`, instead of queueing until requests time out at random.

Counted per worker (one asyncio loop, so plain counters): the API requests in flight and
their body bytes (a request's work grows with its text). A request that would take either
past its limit (configs/serve.yaml: `max_in_flight`, `max_in_flight_bytes`) is answered 503
at once; one request alone is always admitted, however large (the per-request limits bound
it). Health, metrics, the page and the documents are never shed."""
from __future__ import annotations

import json
import math
import time

from .contract import API_ROUTES, header

SMOOTHING = 0.2  # weight of the newest request in the latency average Retry-After is made from


class Shed:
    def __init__(self, app, max_in_flight: int, max_in_flight_bytes: int):
        self.app, self.max_requests, self.max_bytes = app, max_in_flight, max_in_flight_bytes
        self.requests, self.bytes, self.shed = 0, 0, 0
        self.latency = 1.0  # seconds an admitted request recently took, start to finish

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in API_ROUTES:
            return await self.app(scope, receive, send)
        size = int(header(scope, b"content-length") or 0) if header(scope, b"content-length").isdigit() else 0
        if self.requests >= self.max_requests or (self.requests and self.bytes + size > self.max_bytes):
            return await self.refuse(send)
        self.requests, self.bytes = self.requests + 1, self.bytes + size
        start = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.requests, self.bytes = self.requests - 1, self.bytes - size
            self.latency += SMOOTHING * (time.monotonic() - start - self.latency)

    async def refuse(self, send) -> None:
        self.shed += 1
        wait = max(1, math.ceil(self.latency))
        msg = (f"the service is at capacity ({self.requests} requests, {self.bytes:,} bytes in flight; limits "
               f"max_in_flight {self.max_requests}, max_in_flight_bytes {self.max_bytes:,}): retry after {wait} s")
        body = json.dumps({"error": msg, "detail": [{"type": "overloaded", "loc": [], "msg": msg}]}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(wait).encode())]})
        await send({"type": "http.response.body", "body": body})
