"""Article archives as a stream of records, in a fixed order (so a job can resume):
JSONL, CSV, Parquet (also .gz), and folders of .txt / .html files.

A record that cannot be scored (empty text, undecodable bytes, HTML with no article text)
is still yielded, with `error` saying why: the scorer counts and lists it, and goes on."""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow.parquet as pq
from secnews.training.data import article_text
from secnews.training.errors import SecnewsError

TEXT_FILES = (".txt", ".html", ".htm")
_WORD = re.compile(r"[^\W\d_]{2,}")
TABLES = (".jsonl", ".jsonl.gz", ".ndjson", ".csv", ".csv.gz", ".parquet")


@dataclass
class Record:
    id: str
    source: str
    row: int
    text: str
    error: str | None = None
    date: str | None = None  # the input's `date` column, when it has one (the archive report plots it)


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    return next((k for k in TABLES if name.endswith(k)), None)


def expand(inputs: list[str | Path]) -> list[Path]:
    out = []
    for item in map(Path, inputs):
        if item.is_dir():
            out.append(item)
        elif item.is_file():
            if not _kind(item) and item.suffix.lower() not in TEXT_FILES:
                raise SecnewsError(f"{item}: not an archive secnews reads; expected .jsonl, .csv or .parquet "
                                 "(optionally .gz), .txt/.html, or a folder of .txt/.html files")
            out.append(item)
        else:
            raise SecnewsError(f"{item}: no such file or folder")
    return out


def _text(value, title=None) -> str:
    return article_text(title, "" if value is None or (isinstance(value, float) and value != value) else str(value))


def _html_to_text(raw: bytes) -> tuple[str, str | None]:
    import trafilatura

    try:  # bytes: trafilatura finds the page's own encoding
        text = trafilatura.extract(raw, include_comments=False, include_tables=False, favor_recall=True) or ""
    except Exception as e:  # a maintained extractor, but still a parser of arbitrary input
        return "", f"broken HTML: {type(e).__name__}: {e}"
    # it passes non-HTML through as text: without a single word there is no article
    return text, (None if _WORD.search(text) else "HTML holds no article text")


def _file_record(path: Path, rid: str, row: int) -> Record:
    raw = path.read_bytes()
    if path.suffix.lower() in (".html", ".htm"):
        text, error = _html_to_text(raw)
        return Record(rid, str(path), row, text, error)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Record(rid, str(path), row, "", f"undecodable bytes (not UTF-8) at byte {e.start}")
    return Record(rid, str(path), row, text, None if text.strip() else "empty text")


def _check(rec: Record) -> Record:
    if rec.error is None and not rec.text.strip():
        rec.error = "empty text"
    return rec


def _table_rows(path: Path) -> Iterator[dict]:
    kind = _kind(path)
    if kind == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
    elif kind in (".csv", ".csv.gz"):
        for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=4096):
            yield from chunk.to_dict("records")
    else:
        opener = gzip.open if kind.endswith(".gz") else open
        with opener(path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    yield json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    yield {"__error__": f"unreadable line: {type(e).__name__}"}


def iter_records(inputs: list[str | Path]) -> Iterator[Record]:
    for path in expand(inputs):
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_FILES)
            for row, f in enumerate(files):
                yield _file_record(f, str(f.relative_to(path)), row)
        elif path.suffix.lower() in TEXT_FILES:
            yield _file_record(path, path.name, 0)
        else:
            for row, rec in enumerate(_table_rows(path)):
                rid = rec.get("id")
                rid = str(rid) if rid not in (None, "") else f"{path.name}:{row}"
                if "__error__" in rec:
                    yield Record(rid, str(path), row, "", rec["__error__"])
                elif "text" not in rec:
                    yield Record(rid, str(path), row, "", "no 'text' field")
                else:
                    date = rec.get("date")
                    date = None if date is None or (isinstance(date, float) and date != date) else str(date)[:32]
                    yield _check(Record(rid, str(path), row, _text(rec.get("text"), rec.get("title")), date=date))


def count_records(inputs: list[str | Path]) -> int | None:
    """A cheap total for the progress bar's ETA, or None when counting would cost a pass."""
    total = 0
    for path in expand(inputs):
        kind = _kind(path)
        if path.is_dir():
            total += sum(1 for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_FILES)
        elif kind == ".parquet":
            total += pq.ParquetFile(path).metadata.num_rows
        elif kind in (".jsonl", ".ndjson"):
            with open(path, "rb") as fh:
                total += sum(1 for line in fh if line.strip())
        elif kind is None:
            total += 1
        else:
            return None  # gzip or CSV with quoted newlines: no cheap count
    return total
