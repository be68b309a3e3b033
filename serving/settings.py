"""Service settings: one small YAML file, validated like the training config."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

import yaml
from secnews.training.config import ConfigError, _build

DEFAULT = Path(__file__).resolve().parents[1] / "configs" / "serve.yaml"


@dataclass
class ServeConfig:
    max_articles: int = 64
    max_text_chars: int = 100_000
    max_title_chars: int = 1_000
    max_id_chars: int = 200
    max_batch_articles: int = 32  # serving/batcher.py: articles and characters per model call
    max_batch_chars: int = 200_000
    # under load, the longest wait for a call as big as the last one (serving/batcher.py); 0: none
    batch_linger_ms: int = field(default=20, metadata={"least": 0})
    timeout_s: int = 120
    # worker processes (BentoML's), each with its own copy of the model and its own event loop
    workers: int = 1
    # model calls that may run at once in each worker, each in a model process of its own
    # (serving/lanes.py) with cores // (workers x lanes) torch threads; auto: one per usable
    # core, at most MAX_AUTO_LANES
    lanes: int | Literal["auto"] = "auto"
    # BentoML's per-request access log and OpenTelemetry span: off unless asked for (the
    # event loop's time goes to them; configs/serve.yaml has the measured figures)
    access_log: bool = False
    tracing: bool = False
    # admission control (serving/overload.py): beyond these, API requests get 503 + Retry-After
    max_in_flight: int = 64
    max_queue_s: int = 60  # the longest wait for the work ahead of a request (at the measured rate)
    # analysts' corrections (POST /feedback); SECNEWS_FEEDBACK_DB overrides the path
    feedback_db: str = "~/.secnews/feedback.sqlite3"
    keep_classified: int = 100_000  # recent articles a correction may name by id
    max_note_chars: int = 2_000


MAX_AUTO_LANES = 4


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_plan(cfg: "ServeConfig", cores: int | None = None) -> tuple[int, int, int]:
    """(worker processes, model lanes in each, torch threads in each lane). A small encoder
    scales badly across threads: on 2 cores one process with 2 threads answered 270.7 ACLED
    notes/s and one with 1 thread 216.4; two 1-thread callers in one process 382.5-391.7
    together (session 10)."""
    cores = cores or usable_cores()
    lanes = max(1, min(cores // cfg.workers, MAX_AUTO_LANES)) if cfg.lanes == "auto" else cfg.lanes
    return cfg.workers, lanes, max(1, cores // (cfg.workers * lanes))


def bentoml_options(cfg: "ServeConfig") -> dict:
    """BentoML service options from our settings: the access log, and tracing (an excluded-URL
    pattern that matches every path keeps OpenTelemetry's middleware from opening a span)."""
    options: dict = {"logging": {"access": {"enabled": cfg.access_log}}}
    if not cfg.tracing:
        options["tracing"] = {"excluded_urls": ["."]}
    return options


def feedback_db_path(cfg: "ServeConfig") -> Path:
    return Path(os.environ.get("SECNEWS_FEEDBACK_DB") or cfg.feedback_db).expanduser()


def load_serve_config(path: str | Path | None = None) -> ServeConfig:
    path = Path(path or os.environ.get("SECNEWS_SERVE_CONFIG") or DEFAULT)
    raw = yaml.safe_load(path.read_text()) if path.is_file() else {}
    try:
        cfg = _build(ServeConfig, raw or {}, "")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    for f in fields(cfg):  # every number is at least 1 unless its field says otherwise
        value, least = getattr(cfg, f.name), f.metadata.get("least", 1)
        if isinstance(value, int) and not isinstance(value, bool) and value < least:
            raise ConfigError(f"{path}: {f.name} must be at least {least}, found {value}")
    return cfg
