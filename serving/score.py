"""Batch scoring of article archives, top to bottom.

The input stream is cut into chunks of a fixed number of records, in a fixed order; chunk
k becomes the Parquet part `part-<k>.parquet`, written to a temporary name and renamed.
A part therefore exists whole or not at all, and `--resume` skips the chunks whose part
exists: after a crash every input row ends up in exactly one part. Reading and writing
run in their own threads, beside inference; memory holds a few chunks, whatever the
archive's size. Each chunk is sorted by length so batches carry little padding.
"""
from __future__ import annotations

import contextlib

import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from secnews.training.errors import SecnewsError
from tqdm import tqdm

from .sources import Record, count_records, iter_records
from .store import resolve_model

JOB = "job.json"
MANIFEST = "manifest.json"
_DONE = object()


def chunks(records: Iterator[Record], size: int) -> Iterator[tuple[int, list[Record]]]:
    chunk, k = [], 0
    for rec in records:
        chunk.append(rec)
        if len(chunk) == size:
            yield k, chunk
            chunk, k = [], k + 1
    if chunk:
        yield k, chunk


def predict_chunk(predictor, chunk: list[Record]) -> tuple[np.ndarray, dict | None, dict | None, list | None]:
    """Positions of the chunk's scorable records, their probabilities and the predictor's
    decisions. The whole chunk is one read: its windows are tokenised together and sorted by
    length across the chunk, so batches carry little padding."""
    idx = np.array([i for i, r in enumerate(chunk) if r.error is None], dtype=np.int64)
    if not len(idx):
        return idx, None, None, None
    proba, named = predictor.read([chunk[i].text for i in idx])
    return idx, proba, predictor.decide(proba), named


def part_name(k: int) -> str:
    return f"part-{k:06d}.parquet"


def rows_of(records: list[Record], idx: np.ndarray, proba: dict | None, decided: dict | None, spaces,
            tag: str, named: list | None = None, span_task: str | None = None) -> pa.Table:
    """One row per record: id, source, row, error, model, and per task its label(s) (the
    predictor's `decide`, multi-label lists by score), score and uncertain flag; null where
    the record could not be scored. With an actor span head (`named`), the actor task's
    label is the name the span head read where it read one, and `<task>_known`,
    `<task>_decided_by`, `<task>_span_start` / `_end` say what decided it."""
    n = len(records)
    missing = np.ones(n, bool)
    missing[idx] = False
    cols = {"id": pa.array([r.id for r in records], pa.string()),
            "source": pa.array([r.source for r in records], pa.string()),
            "row": pa.array([r.row for r in records], pa.int64()),
            "error": pa.array([r.error for r in records], pa.string()),
            "date": pa.array([r.date for r in records], pa.string()),
            "model": pa.array([tag] * n, pa.string())}

    def spread(values, dtype, fill=None) -> np.ndarray:
        full = np.full(n, fill, dtype=dtype)
        if decided is not None:
            full[idx] = values
        return full

    for name, space in spaces.items():
        d = decided[name] if decided is not None else None
        if space.type == "multi":
            lists = [None] * n
            if d is not None:
                order = np.argsort(-proba[name], axis=1, kind="stable")
                for k, i in enumerate(idx):
                    lists[i] = [space.labels[j] for j in order[k] if d["chosen"][k, j]]
            cols[name] = pa.array(lists, pa.list_(pa.string()))
        else:
            labels = np.array(space.labels, dtype=object)
            cols[name] = pa.array(spread(labels[d["best"]] if d else None, object), pa.string())
            cols[f"{name}_score"] = pa.array(spread(np.round(d["score"], 4) if d else None, np.float64, np.nan),
                                             pa.float64(), mask=missing)
            if space.hierarchical:
                coarse = np.array(space.coarse, dtype=object)
                cols[f"{name}_parent"] = pa.array(spread(coarse[d["parent"]] if d else None, object), pa.string())
        cols[f"{name}_uncertain"] = pa.array(spread(d["uncertain"] if d else None, bool, False), pa.bool_(),
                                             mask=missing)
        if span_task is not None and name == span_task:  # same columns in every part, scored or not
            _span_columns(cols, name, idx if named is not None else idx[:0], named or [], n, missing)
    return pa.table(cols)


def _span_columns(cols: dict, name: str, idx: np.ndarray, named: list, n: int, missing: np.ndarray) -> None:
    label, score = cols[name].to_pylist(), cols[f"{name}_score"].to_pylist()
    uncertain = cols[f"{name}_uncertain"].to_pylist()
    known, by, start, end = [None] * n, [None] * n, [None] * n, [None] * n
    for k, i in enumerate(idx):
        a = named[k]
        known[i], by[i] = a["known"], a["decided_by"]
        if a["decided_by"] != "closed":  # the span head, the places, the role, the unclaimed or the event rule
            label[i], score[i], uncertain[i] = a["label"], a["score"], a["uncertain"]
        if "span" in a:
            start[i], end[i] = a["span"]
    cols[name] = pa.array(label, pa.string())
    cols[f"{name}_score"] = pa.array(score, pa.float64(), mask=missing)
    cols[f"{name}_uncertain"] = pa.array(uncertain, pa.bool_(), mask=missing)
    cols[f"{name}_known"] = pa.array(known, pa.bool_())
    cols[f"{name}_decided_by"] = pa.array(by, pa.string())
    cols[f"{name}_span_start"] = pa.array(start, pa.int64())
    cols[f"{name}_span_end"] = pa.array(end, pa.int64())


@contextlib.contextmanager
def writing(out: Path, what: str):
    """A full disk, a read-only or unwritable --out: one line that says so and how to go on
    (parts are renamed into place only when whole, so `--resume` loses nothing)."""
    try:
        yield
    except OSError as e:
        reason = e.strerror or str(e)
        raise SecnewsError(f"{out}: cannot write {what}: {reason}. Free space or fix the folder's permissions, "
                           "then run the same command with --resume: the parts already written are kept") from None


def _write_part(out: Path, k: int, table: pa.Table) -> None:
    tmp = out / f".{part_name(k)}.tmp"
    with writing(out, part_name(k)):
        try:
            pq.write_table(table, tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a half-written part must not fill what space is left
            raise
        os.replace(tmp, out / part_name(k))


def _start_job(out: Path, job: dict, resume: bool) -> set[int]:
    """Create or check the job folder; return the chunks already written."""
    with writing(out, "the job folder"):
        out.mkdir(parents=True, exist_ok=True)
    for tmp in out.glob(".part-*.tmp"):  # a part cut short by a crash
        tmp.unlink()
    done = {int(p.name[5:11]) for p in out.glob("part-*.parquet")}
    if (out / JOB).exists():
        if not resume:
            raise SecnewsError(f"{out} already holds a scoring job; pass --resume to finish it, or choose another --out")
        previous = json.loads((out / JOB).read_text())
        for key in ("inputs", "chunk_size", "model"):
            if previous[key] != job[key]:
                raise SecnewsError(f"--resume: {key} differs from the job in {out} "
                                 f"(was {previous[key]!r}, now {job[key]!r}); resume needs the same job")
    elif done:
        raise SecnewsError(f"{out} holds parts but no {JOB}; choose an empty --out")
    else:
        tmp = out / f".{JOB}.tmp"
        with writing(out, JOB):
            tmp.write_text(json.dumps(job, indent=2))
            os.replace(tmp, out / JOB)
    return done


def score(inputs: list[str], model: str, out: Path, resume: bool = False, batch_size: int = 64,
          chunk_size: int = 2048, log: Callable[[str], None] = print) -> dict:
    from secnews.training import load

    if batch_size < 1 or chunk_size < 1:
        raise SecnewsError(f"--batch-size and --chunk-size must be at least 1, found {batch_size} and {chunk_size}")
    out = Path(out)
    model_path, tag = resolve_model(model)
    inputs = [str(Path(i).resolve()) for i in inputs]
    job = {"inputs": inputs, "chunk_size": chunk_size, "model": tag}
    done = _start_job(out, job, resume)
    predictor = load(model_path)
    predictor.set_batch_size(batch_size)
    total = count_records(inputs)
    if done:
        log(f"resuming: {len(done)} parts already written")

    todo: queue.Queue = queue.Queue(maxsize=2)
    written: queue.Queue = queue.Queue(maxsize=2)
    errors: list[BaseException] = []
    stop = threading.Event()  # set on the first error: every thread winds down, none waits forever

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for k, chunk in chunks(iter_records(inputs), chunk_size):
                if not put(todo, (k, chunk)):
                    return
        except BaseException as e:  # surfaced in the main thread
            errors.append(e)
            stop.set()
        finally:
            put(todo, _DONE)

    def writer() -> None:
        try:
            while True:
                try:
                    item = written.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set():
                        return
                    continue
                if item is _DONE:
                    return
                _write_part(out, *item)
        except BaseException as e:
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=writer, daemon=True)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    n_scored = n_bad = n_skipped = 0
    bar = tqdm(total=total, unit="art", desc="scoring", mininterval=1, smoothing=0.1)
    try:
        while not stop.is_set():
            try:
                item = todo.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                break
            k, chunk = item
            if k in done:
                n_skipped += len(chunk)
                bar.update(len(chunk))
                continue
            idx, proba, decided, named = predict_chunk(predictor, chunk)
            if not put(written, (k, rows_of(chunk, idx, proba, decided, predictor.spaces, tag, named,
                                            predictor.span_task))):
                break
            n_scored += len(idx)
            n_bad += len(chunk) - len(idx)
            bar.update(len(chunk))
            bar.set_postfix(bad=n_bad)
        put(written, _DONE)
    except BaseException:
        stop.set()  # the scoring itself failed: the reader and the writer stop too
        raise
    finally:
        for t in threads:
            t.join()
    bar.close()
    if errors:
        raise errors[0]
    seconds = time.perf_counter() - start
    manifest = _manifest(out, job, seconds, n_scored, n_skipped)
    log(f"scored {n_scored:,} articles in {seconds:.1f}s ({n_scored / max(seconds, 1e-9):.1f} articles/s); "
        f"{manifest['counts']['bad']:,} bad rows; {manifest['counts']['rows']:,} rows in {len(manifest['parts'])} parts")
    return manifest


def _manifest(out: Path, job: dict, seconds: float, n_scored: int | None, n_skipped: int) -> dict:
    """Counts and bad rows are read back from the parts, so a resumed job reports the whole."""
    parts = sorted(out.glob("part-*.parquet"))
    rows = bad = 0
    bad_rows = []
    for p in parts:
        t = pq.read_table(p, columns=["id", "source", "row", "error"])
        rows += t.num_rows
        errs = t.column("error").to_pylist()
        for i in np.flatnonzero([e is not None for e in errs]):
            bad += 1
            if len(bad_rows) < 1000:
                bad_rows.append({"id": t.column("id")[i].as_py(), "source": t.column("source")[i].as_py(),
                                 "row": t.column("row")[i].as_py(), "reason": errs[i]})
    n_scored = rows - bad if n_scored is None else n_scored  # None: everything in the parts is this run's
    manifest = {**job, "parts": [p.name for p in parts],
                "counts": {"rows": rows, "scored": rows - bad, "bad": bad,
                           "scored_this_run": n_scored, "skipped_as_done": n_skipped},
                "seconds_this_run": round(seconds, 1),
                "articles_per_second_this_run": round(n_scored / max(seconds, 1e-9), 1),
                "bad_rows": bad_rows, "bad_rows_listed": len(bad_rows)}
    tmp = out / f".{MANIFEST}.tmp"
    with writing(out, MANIFEST):
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, out / MANIFEST)
    return manifest
