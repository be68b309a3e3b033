"""`secnews score --engine spark`: the same reader and predictor inside Spark.

Spark distributes the input files (one task per file); inside `mapInPandas` each task
reads its files with the local engine's reader, so ids and bad rows are the same, and
predicts with the one `load`ed predictor of its Python worker: loaded once per worker
process (Spark reuses them), not once per batch. Output: the same Parquet columns as the
local engine, in part files, plus the same manifest.json.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from secnews.training.errors import SecnewsError

_PREDICTORS: dict[str, object] = {}  # per Python worker: model path -> predictor


def _predictor(path: str):
    if path not in _PREDICTORS:
        from secnews.training import load

        _PREDICTORS[path] = load(path)
    return _PREDICTORS[path]


def _score_files(model_path: str, tag: str, batch_size: int, chunk_size: int):
    def run(batches: Iterator) -> Iterator:
        from .score import chunks, predict_chunk, rows_of
        from .sources import iter_records

        predictor = _predictor(model_path)
        predictor.set_batch_size(batch_size)
        for frame in batches:
            for _, chunk in chunks(iter_records(frame["path"].tolist()), chunk_size):
                idx, proba, decided, named = predict_chunk(predictor, chunk)
                yield rows_of(chunk, idx, proba, decided, predictor.spaces, tag, named, predictor.span_task).to_pandas()
    return run


def score_spark(inputs: list[str], model: str, out: Path, master: str = "local[*]", batch_size: int = 64,
                chunk_size: int = 2048, log: Callable[[str], None] = print) -> dict:
    from pyspark.sql import SparkSession
    from pyspark.sql.pandas.types import from_arrow_schema
    from secnews.training import load

    from .score import _manifest, rows_of
    from .sources import expand
    from .store import resolve_model

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SecnewsError(f"{out} is not empty; the Spark engine writes a new job (choose another --out)")
    model_path, tag = resolve_model(model)
    files = [str(p.resolve()) for p in expand(inputs)]
    predictor = load(model_path)
    schema = from_arrow_schema(rows_of([], np.zeros(0, np.int64), None, None, predictor.spaces, tag,
                                       [] if predictor.span_task else None, predictor.span_task).schema)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers import serving/ and training/ from here
    spark = (SparkSession.builder.master(master).appName("secnews-score")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .config("spark.ui.enabled", "false").getOrCreate())
    start = time.perf_counter()
    try:
        paths = spark.createDataFrame([(f,) for f in files], "path string").repartition(len(files))
        scored = paths.mapInPandas(_score_files(str(model_path), tag, batch_size, chunk_size), schema)
        tmp = out.parent / f".{out.name}.spark-tmp"
        scored.write.mode("overwrite").parquet(str(tmp))
    finally:
        spark.stop()
    out.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(sorted(tmp.glob("part-*.parquet"))):
        part.rename(out / f"part-{i:06d}.parquet")  # the local engine's names
    shutil.rmtree(tmp)
    job = {"inputs": files, "chunk_size": chunk_size, "model": tag, "engine": "spark", "master": master}
    manifest = _manifest(out, job, time.perf_counter() - start, None, 0)
    log(f"spark ({master}): {manifest['counts']['rows']:,} rows, {manifest['counts']['bad']:,} bad, "
        f"in {manifest['seconds_this_run']}s")
    return manifest
