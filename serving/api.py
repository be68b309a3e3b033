"""The Python API, re-exported as `secnews.load`, `secnews.train`, `secnews.evaluate` and
`secnews.retrain`; the command line parses arguments, calls these and prints.

It lives in serving/ because `load` takes store tags and `retrain` promotes in the store
(BentoML), and imports run serving -> training."""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from secnews.training.errors import SecnewsError

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load(model: str | Path):
    """A model directory, or a tag of the BentoML model store (`secnews:latest`): the model
    object (training/predictor.py), callable on one article."""
    from secnews.training.modeldir import load as load_dir

    from .store import resolve_model

    path, _ = resolve_model(str(model))
    return load_dir(path)


def train(config: str | Path, out: str | Path | None = None, *, data: list[str] | None = None,
          data_format: str | None = None, overrides: list[str] | None = None, log: Log = _stderr) -> Path:
    """Train a model from a config file (or a shipped config by name: "baseline", "default");
    `data` replaces the config's data paths (each optionally FORMAT:PATH). Returns the new
    model directory (default models/<config>-<time>)."""
    from secnews.training.config import config_path, load_config
    from secnews.training.train import train as run

    cfg = load_config(config, overrides=overrides, data_paths=data, data_format=data_format)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return run(cfg, Path(out) if out else Path("models") / f"{config_path(config).stem}-{stamp}", log=log)


def evaluate(model: str | Path, data: list[str] | None = None, *, data_format: str | None = None,
             split: str = "test", out: str | Path | None = None, log: Log = _stderr) -> dict:
    """Score a model on labelled data (default: its training data, where it still is); the
    metrics are returned and written to `out` (default MODEL/evaluations/<data>-<split>.json)."""
    from secnews.training.train import evaluate as run

    if split not in ("test", "all"):
        raise SecnewsError(f"split must be 'test' or 'all', found {split!r}")
    from .store import resolve_model

    path, _ = resolve_model(str(model))
    metrics = run(path, data, data_format, split, log=log)
    out = Path(out) if out else path / "evaluations" / (
        f"{Path(data[0]).name.split('.')[0] if data else 'training-data'}-{split}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    os.replace(tmp, out)
    log(f"metrics written to {out}")
    return {**metrics, "metrics_file": str(out)}


@dataclass
class Retrained:
    model_dir: Path
    tag: str  # its tag in the model store
    promoted: bool  # `secnews:latest` now points at it
    forced: bool
    reason: str
    comparison: Path  # comparison.json in the child's directory


def retrain(parent: str | Path, data: list[str] | None = None, out: str | Path | None = None, *,
            data_format: str = "native", replay_data: list[str] | None = None, feedback: bool | str | Path = False,
            config: str | None = None, overrides: list[str] | None = None, force: bool = False,
            log: Log = _stderr) -> Retrained:
    """A child of `parent` (model directory or store tag) trained on `data` (and, with
    `feedback`, the analysts' corrections: True for the service's database, or a path), with the
    parent's data replayed (`replay_data`: where its files are now, found by hash, when the
    parent directory came from another machine). The child is stored; it becomes
    `secnews:latest` only when no task regressed beyond retrain.tolerance (or `force`)."""
    from secnews.training.retrain import retrain as run

    from .store import CANDIDATES, NAME, import_model, resolve_model

    parent_path, parent_ref = resolve_model(str(parent))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(out) if out else Path("models") / f"retrain-{stamp}"
    with tempfile.TemporaryDirectory() as tmp:
        rows = None
        if feedback:
            rows = export_feedback(None if feedback is True else str(feedback), Path(tmp) / "feedback.jsonl", log)
        outcome = run(parent_path, list(data or []), out, new_format=data_format, feedback=rows,
                      replay_data=list(replay_data or []), config=config, overrides=overrides, force=force,
                      parent_ref=parent_ref, log=log)
    verdict = outcome.comparison["promotion"]
    tag = import_model(outcome.path, name=NAME if outcome.promote else CANDIDATES)
    if outcome.promote:
        log(f"{tag} is now {NAME}:latest" + (" (forced: " + verdict["reason"] + ")" if verdict["forced"] else ""))
    else:
        log(f"{NAME}:latest left alone: {verdict['reason']}. The child is stored as {tag}; "
            f"see {outcome.path / 'comparison.md'} (force=True / --force promotes anyway)")
    return Retrained(outcome.path, tag, outcome.promote, verdict["forced"], verdict["reason"],
                     outcome.path / "comparison.json")


def export_feedback(db: str | None, out: Path, log: Log = _stderr) -> Path:
    """The analysts' corrections (the service's feedback database) as a native JSONL file."""
    from .feedback import FeedbackStore
    from .settings import feedback_db_path, load_serve_config

    path = Path(db).expanduser() if db else feedback_db_path(load_serve_config())
    if not path.is_file():
        raise SecnewsError(f"no feedback database at {path} (set --db or SECNEWS_FEEDBACK_DB)")
    store = FeedbackStore(path)
    try:
        n = store.export(out)
    finally:
        store.close()
    if n == 0:
        raise SecnewsError(f"the feedback database {path} holds no corrections yet")
    log(f"{n:,} corrected articles from {path}")
    return out
