"""Analysts' corrections, stored durably: SQLite in WAL mode, synchronous=FULL, so a
correction acknowledged by POST /feedback survives a crash or restart of the service.

Two tables: `feedback` (one row per correction) and `classified` (recent articles that
carried an id when classified, so a correction may name the id instead of resending text;
pruned to the newest `keep_classified`)."""
from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    article_id TEXT,
    title TEXT,
    text TEXT NOT NULL,
    labels TEXT NOT NULL,  -- JSON {task: label | [labels]}
    model TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS classified (
    article_id TEXT PRIMARY KEY,
    title TEXT,
    text TEXT NOT NULL,
    model TEXT,
    seen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS classified_seen ON classified (seen);
"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class FeedbackStore:
    def __init__(self, path: str | Path, keep_classified: int = 100_000):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.keep = keep_classified
        # one connection shared by the service's threads, serialised by a lock
        # timeout: the service's other worker processes write to the same file
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an acknowledged correction is on disk
        self.db.executescript(SCHEMA)
        # the classified-articles cache needs no fsync per request: losing its last rows in a
        # power cut only means a correction must then resend the text
        self.cache = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self.cache.execute("PRAGMA synchronous=NORMAL")
        self.lock = threading.Lock()
        self._writes = 0

    def close(self) -> None:
        self.cache.close()
        self.db.close()

    def remember(self, articles: list[tuple[str, str | None, str]], model: str) -> None:
        """(id, title, text) of classified articles that carry an id."""
        if not articles:
            return
        with self.lock:
            # IMMEDIATE: take the write lock before reading MAX(seen); another worker process
            # may be writing, and a deferred read-then-write would fail with SQLITE_BUSY
            self.cache.execute("BEGIN IMMEDIATE")
            seq = self.cache.execute("SELECT COALESCE(MAX(seen), 0) FROM classified").fetchone()[0]
            self.cache.executemany(
                "INSERT INTO classified (article_id, title, text, model, seen) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(article_id) DO UPDATE SET title=excluded.title, text=excluded.text, "
                "model=excluded.model, seen=excluded.seen",
                [(a, t, x, model, seq + i + 1) for i, (a, t, x) in enumerate(articles)])
            self.cache.execute("COMMIT")
            self._writes += len(articles)
            if self._writes >= 1000:  # prune now and then, not on every request
                self._writes = 0
                self.cache.execute("DELETE FROM classified WHERE seen <= (SELECT MAX(seen) FROM classified) - ?",
                                (self.keep,))

    def classified(self, article_id: str) -> dict | None:
        with self.lock:
            row = self.db.execute("SELECT title, text, model FROM classified WHERE article_id = ?",
                                  (article_id,)).fetchone()
        return None if row is None else {"title": row[0], "text": row[1], "model": row[2]}

    def add(self, *, text: str, labels: dict, article_id: str | None = None, title: str | None = None,
            model: str | None = None, note: str | None = None) -> int:
        with self.lock:
            cur = self.db.execute(
                "INSERT INTO feedback (created, article_id, title, text, labels, model, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_now(), article_id, title, text, json.dumps(labels, ensure_ascii=False), model, note))
            return int(cur.lastrowid)

    def rows(self) -> list[dict]:
        with self.lock:
            cur = self.db.execute("SELECT id, created, article_id, title, text, labels, model, note FROM feedback ORDER BY id")
            names = [c[0] for c in cur.description]
            out = [dict(zip(names, r)) for r in cur.fetchall()]
        for r in out:
            r["labels"] = json.loads(r["labels"])
        return out

    def recent(self, limit: int) -> list[dict]:
        """The newest `limit` corrections, newest first (what the analyst's page lists)."""
        with self.lock:
            cur = self.db.execute("SELECT id, created, article_id, title, labels, model, note FROM feedback "
                                  "ORDER BY id DESC LIMIT ?", (int(limit),))
            names = [c[0] for c in cur.description]
            out = [dict(zip(names, r)) for r in cur.fetchall()]
        for r in out:
            r["labels"] = json.loads(r["labels"])
        return out

    def export(self, out: str | Path) -> int:
        """Corrections as a native JSONL data file, one row per article: several corrections
        of one article (same id, or same text) merge task by task, the latest winning.
        Written to a temporary file and renamed. Returns the number of rows."""
        merged: dict[str, dict] = {}
        for r in self.rows():
            key = f"id:{r['article_id']}" if r["article_id"] else f"text:{r['title'] or ''}\n{r['text']}"
            row = merged.setdefault(key, {"id": r["article_id"] or f"feedback-{r['id']}", "source": "feedback"})
            row.update({"title": r["title"], "text": r["text"], "feedback_id": r["id"], **r["labels"]})
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        with open(tmp, "w") as fh:
            for row in merged.values():
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        return len(merged)
