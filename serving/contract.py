"""The HTTP contract, kept in one ASGI middleware: what the API endpoints accept and what
the OpenAPI document says about it.

- A POST to an API endpoint must say `Content-Type: application/json`; anything else
  (multipart, a form, text) gets 415 with the same error body as a 400, instead of a 500
  from deep inside the request parser.
- GET /docs.json is corrected where BentoML's generated document disagrees with the
  server: the error body's `detail` (a list of validation errors, not a string), the 415
  answer, and /feedback's rule "exactly one of `article` or `article_id`" (a `oneOf`), so a
  client generated from the document, or a schema-driven fuzzer, meets the server it reads.
"""
from __future__ import annotations

import json

from .schemas import VISIBLE

API_ROUTES = ("/classify", "/feedback")

ERROR_DETAIL = {
    "description": "validation errors, one per problem: where (`loc`), what (`type`, `msg`)",
    "type": "array",
    "items": {"type": "object", "required": ["type", "loc", "msg"],
              "properties": {"type": {"type": "string"}, "msg": {"type": "string"},
                             "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}},
              "additionalProperties": True}}
ERROR = {"type": "object", "title": "Error", "required": ["error"],
         "properties": {"error": {"type": "string", "title": "Message"}, "detail": ERROR_DETAIL}}


RECENT = {
    "summary": "the newest corrections (read-only; what the analyst's page lists)",
    "parameters": [{"name": "limit", "in": "query", "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 20}}],
    "responses": {
        "200": {"description": "newest first", "content": {"application/json": {"schema": {"type": "array", "items": {
            "type": "object", "required": ["id", "created", "labels"],
            "properties": {"id": {"type": "integer"}, "created": {"type": "string"},
                           "article_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                           "title": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                           "labels": {"type": "object"},
                           "model": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                           "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}}}}},
        "400": {"description": "Bad Request", "content": {"application/json": {"schema": ERROR}}},
        "503": {"description": "the model is still loading", "content": {"application/json": {"schema": ERROR}}}}}


def header(scope, name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class Contract:
    """`tasks`: called at request time, the served model's tasks as GET /metadata lists them
    (empty while the model loads): the document then says which labels /feedback takes."""

    def __init__(self, app, routes: tuple[str, ...] = API_ROUTES, tasks=lambda: None, max_label_chars: int = 200):
        self.app, self.routes, self.tasks, self.max_label_chars = app, routes, tasks, max_label_chars

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "")
        if method == "POST" and path in self.routes and not is_json(header(scope, b"content-type")):
            return await self._unsupported(scope, send)
        if method == "GET" and path == "/docs.json":
            return await self._docs(scope, receive, send)
        if path in self.routes:
            return await self.app(scope, receive, _ErrorBody(send))
        return await self.app(scope, receive, send)

    async def _unsupported(self, scope, send) -> None:
        got = header(scope, b"content-type") or "none"
        body = json.dumps({"error": f"Content-Type {got!r} is not accepted: send the request body as JSON "
                                    "with Content-Type: application/json",
                           "detail": [{"type": "unsupported_media_type", "loc": ["header", "content-type"],
                                       "msg": f"expected application/json, got {got}"}]}).encode()
        await send({"type": "http.response.start", "status": 415,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _docs(self, scope, receive, send) -> None:
        start, chunks = {}, []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200:
            body = json.dumps(correct_spec(json.loads(body), self.tasks(), self.max_label_chars)).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": start.get("status", 500),
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _ErrorBody:
    """BentoML 1.4 sends a 4xx raised by the service (InvalidArgument, NotFound) as a JSON
    list holding the error object (`({"error": ...},)`); the document, and every other
    error, says an object. The one-element list is unwrapped."""

    def __init__(self, send):
        self.send, self.start, self.chunks = send, None, []

    async def __call__(self, message):
        if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
            self.start = message
            return
        if self.start is None:
            return await self.send(message)
        self.chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(self.chunks)
        try:
            data = json.loads(body)
            if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
                body = json.dumps(data[0]).encode()
        except ValueError:
            pass
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        await self.send({**self.start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await self.send({"type": "http.response.body", "body": body})


def labels_schema(tasks: list[dict], max_chars: int) -> dict:
    """/feedback's `labels` for the served model: its tasks only; a closed task's own labels
    (a hierarchical task also takes a parent); an open task (actor) any name."""
    props = {}
    for t in tasks:
        if t.get("open"):
            one = {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": VISIBLE}
        else:
            one = {"type": "string", "enum": list(dict.fromkeys([*t["labels"], *(t.get("parents") or {}).values()]))}
        props[t["name"]] = {"type": "array", "items": one} if t["type"] == "multi" else one  # []: none of them
    return {"type": "object", "properties": props, "additionalProperties": False, "minProperties": 1,
            "description": "corrected labels, by task of the served model: a label, or a list for a multi-label task"}


def correct_spec(spec: dict, tasks: list[dict] | None = None, max_label_chars: int = 200) -> dict:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        if name in schemas:
            schemas[name].setdefault("properties", {})["detail"] = ERROR_DETAIL
    text = (schemas.get("Article") or {}).get("properties", {}).get("text")
    if text is not None:
        text["pattern"] = VISIBLE  # not only spaces: the server says "text is blank"
    schemas["UnsupportedMediaType"] = {**ERROR, "title": "UnsupportedMediaType",
                                       "description": "Unsupported Media Type: the body must be JSON"}
    schemas["Overloaded"] = {**ERROR, "title": "Overloaded", "description": "Service Unavailable: at capacity"}
    for path in API_ROUTES:
        op = (spec.get("paths", {}).get(path) or {}).get("post")
        if op is None:
            continue
        if op.get("requestBody"):
            op["requestBody"]["required"] = True  # no body is a 4xx, never a valid request
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        nullable_defaults(body)
        for answer in op.get("responses", {}).values():
            nullable_defaults(answer.get("content", {}).get("application/json", {}).get("schema", {}),
                              also=("article_id",))
        op.setdefault("responses", {})["415"] = {
            "description": "Unsupported Media Type",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UnsupportedMediaType"}}}}
        op["responses"]["503"] = {
            "description": "at capacity (serving/overload.py): retry after the seconds in Retry-After",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Overloaded"}}}}
    spec.setdefault("paths", {}).setdefault("/feedback", {})["get"] = RECENT
    op = (spec.get("paths", {}).get("/feedback") or {}).get("post") or {}
    inline = (((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}).get("schema")
    for schema in [v for k, v in schemas.items() if k.startswith("feedback") and k.endswith("Input")] + [inline]:
        if schema is not None and "article" in schema.get("properties", {}):
            one_article(schema)
            if tasks:
                schema["properties"]["labels"] = labels_schema(tasks, max_label_chars)
    return spec


def one_article(schema: dict) -> None:
    """/feedback takes exactly one of `article` or `article_id` (the other absent or null)."""
    schema["oneOf"] = [
        {"title": "a new article", "required": ["article"],
         "properties": {"article": {"$ref": "#/components/schemas/Article"}, "article_id": {"type": "null"}}},
        {"title": "an article this service classified", "required": ["article_id"],
         "properties": {"article_id": {"type": "string"}, "article": {"type": "null"}}}]
    schema["description"] = "exactly one of `article` or `article_id` (the other absent or null)"


def nullable_defaults(schema: dict, also: tuple[str, ...] = ()) -> None:
    """BentoML writes an API parameter `x: T | None = None` as plain `T` (default null):
    the server takes null, so the document says so too."""
    for name, prop in (schema.get("properties") or {}).items():
        optional = prop.get("default", "") is None or name in also
        if optional and "anyOf" not in prop and prop.get("type") != "null":
            meta = {k: prop.pop(k) for k in ("default", "title", "description") if k in prop}
            schema["properties"][name] = {"anyOf": [prop, {"type": "null"}], **meta}
