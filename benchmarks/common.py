"""What the benchmark scripts share: writing a result file whole, timing passes over texts."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np


def median_rate(fn: Callable[[list[str]], list], texts: list[str], batch: int, passes: int = 3,
                min_seconds: float = 0.0) -> tuple[float, list[float]]:
    """Median articles/s of whole passes of `fn` over `texts` in calls of `batch` (at least
    `passes` passes and `min_seconds`), after one warm-up call, and each pass's rate. Single
    passes of the same model on the same texts moved 5-10% between runs on these cores
    (session 10), and a served figure is a 20-30-second average."""
    fn(texts[:batch])
    rates, began = [], time.perf_counter()
    while len(rates) < passes or time.perf_counter() - began < min_seconds:
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            fn(texts[i:i + batch])
        rates.append(len(texts) / (time.perf_counter() - start))
    return float(np.median(rates)), [round(r, 1) for r in rates]


def write_result(folder: Path, name: str, report: dict) -> Path:
    """`folder/name` as indented JSON, written to a temporary file first and renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return tmp.replace(folder / name)
