"""What a browser gets from the service: the analyst's page at `/` (BentoML's OpenAPI page
moves to `/docs`), and the recent corrections it lists (`GET /feedback?limit=N`, read-only).

An ASGI middleware, because BentoML owns `/` and answers any other method on `/feedback`
with 405 before a mounted app is asked."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs

PAGE = Path(__file__).with_name("static") / "index.html"
MAX_LIMIT = 500


async def _send(send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


def _error(msg: str, loc: list, kind: str) -> bytes:
    return json.dumps({"error": msg, "detail": [{"type": kind, "loc": loc, "msg": msg}]}).encode()


class Pages:
    """`recent(limit)`: the newest corrections, or None while the model (and store) loads."""

    def __init__(self, app, recent=lambda limit: None):
        self.app, self.recent = app, recent
        self.page = PAGE.read_bytes()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method")
        if path == "/feedback" and method not in ("GET", "HEAD", "POST"):
            # BentoML would say only POST is allowed; GET is too
            body = json.dumps({"error": f"method {method} is not allowed on /feedback"}).encode()
            await send({"type": "http.response.start", "status": 405,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"allow", b"GET, HEAD, POST")]})
            return await send({"type": "http.response.body", "body": body})
        if method not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        if path == "/":
            return await _send(send, 200, self.page, b"text/html; charset=utf-8")
        if path == "/docs":
            return await self.app({**scope, "path": "/", "raw_path": b"/"}, receive, send)
        if path == "/feedback":
            return await self._recent(scope, send)
        return await self.app(scope, receive, send)

    async def _recent(self, scope, send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        raw = (query.get("limit") or ["20"])[-1]
        # not str.isdigit: "²" is a digit to it and int() refuses it (a fuzzer's hang, issue 14)
        if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
            return await _send(send, 400, _error(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}",
                                                 ["query", "limit"], "value_error"))
        rows = self.recent(int(raw))
        if rows is None:
            return await _send(send, 503, json.dumps({"error": "the model is still loading"}).encode())
        await _send(send, 200, json.dumps(rows, ensure_ascii=False).encode())
