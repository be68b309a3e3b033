"""What the benchmark scripts share: writing a result file whole."""
from __future__ import annotations

import json
from pathlib import Path


def write_result(folder: Path, name: str, report: dict) -> Path:
    """`folder/name` as indented JSON, written to a temporary file first and renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return tmp.replace(folder / name)
