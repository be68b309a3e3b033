"""Training, top to bottom: read -> split -> label spaces -> validate -> fit -> evaluate -> write."""
from __future__ import annotations

import copy
import fnmatch
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .baseline import TfidfModel
from .card import render_card
from .config import Config, dump_config, resolve_data_path
from .data import fingerprint, read_data
from .errors import SecnewsError
from .evaluate import (
    answer_confidence,
    choose_cutoffs,
    choose_threshold,
    compute_metrics,
    summary_lines,
    write_plots,
)
from .labels import LabelSpace, build_space
from .linking import read_registry, with_registry
from .modeldir import bundle_config, library_versions, staging, write_manifest
from .names import NAMES, learn_names
from .places import PLACES, learn_places
from .spans import NOT_A_NAME, row_mentions
from .split import assign_split
from .surrogates import disguise
from .taxonomy import Taxonomy
from .validation import Report, coded_column, coded_labels, validate

Log = Callable[[str], None]


@dataclass
class Prepared:
    df: pd.DataFrame  # validated rows, with a `fold` column
    spaces: dict[str, LabelSpace]
    report: Report


def prepare(cfg: Config, log: Log, spaces: dict[str, LabelSpace] | None = None) -> Prepared:
    """Read and split the data; build label spaces from the training side (or reuse a
    model's); validate. Evaluation passes the model's spaces so labels line up."""
    df = read_data(cfg.data, cfg.tasks, log)
    df["fold"] = assign_split(df, cfg.split)
    if cfg.split.holdout_actors and "actor" in df.columns:
        held = df["actor"].isin(set(cfg.split.holdout_actors))
        df.loc[held, "fold"] = "test"
        log(f"split.holdout_actors: {int(held.sum()):,} rows of {len(cfg.split.holdout_actors)} actors "
            "held out of training (test only)")
    if spaces is None:
        train_side = df[df["fold"] != "test"]
        spaces = {t.name: build_space(t, train_side[t.source].tolist()) for t in cfg.tasks}
    df, report = validate(df, cfg.tasks, spaces)
    log(report.format())
    return Prepared(df, spaces, report)


def encode(df: pd.DataFrame, cfg: Config, spaces: dict[str, LabelSpace]) -> dict[str, dict[str, np.ndarray]]:
    return {t.name: spaces[t.name].encode(df[t.source].tolist()) for t in cfg.tasks}


def balance(rows: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Keep at most train.max_per_label rows per label of train.balance_task (seeded)."""
    if not cfg.train.max_per_label:
        return rows
    col = cfg.task(cfg.train.balance_task).source
    key = rows[col].map(lambda v: v if isinstance(v, str) else None)
    keep = rows.groupby(key, dropna=False, group_keys=False).apply(
        lambda g: g.sample(n=min(len(g), cfg.train.max_per_label), random_state=cfg.train.seed), include_groups=False)
    return rows.loc[sorted(keep.index)]


def repeated(rows: pd.DataFrame, cfg: Config, log: Log) -> pd.DataFrame:
    """The training rows of the files train.repeat names, each that many times in all."""
    if not cfg.train.repeat or "source_file" not in rows:
        return rows
    extra = []
    for item in cfg.train.repeat:
        pattern, _, times = item.rpartition(":")
        hit = rows[[fnmatch.fnmatch(str(f), pattern) for f in rows["source_file"]]]
        if hit.empty:
            log(f"train.repeat {item!r}: no training row was read from a file matching {pattern!r}")
        extra += [hit] * (int(times) - 1)
        log(f"train.repeat {item!r}: {len(hit):,} training rows, each {times} times")
    return pd.concat([rows, *extra], ignore_index=True) if extra else rows


def fit_model(cfg: Config, df: pd.DataFrame, spaces: dict[str, LabelSpace], log: Log, start=None):
    """Fit the configured model kind; returns the backend and what training recorded.
    `start`: a transformer backend to fine-tune further (retraining) instead of a fresh one.
    Both kinds read the same rows: the training side, thinned (train.max_per_label) and, with
    compose.enabled, partly composed into articles (training/compose.py)."""
    from .compose import with_articles

    rows, val = with_articles(repeated(balance(df[df["fold"] == "train"], cfg), cfg, log), df[df["fold"] == "val"],
                              cfg, log)
    if cfg.model.kind == "tfidf":
        rows = pd.concat([rows, val], ignore_index=True)  # the baseline has nothing to tune, so it also learns from val
        log(f"fitting tfidf on {len(rows):,} rows ({len(val):,} of them validation)")
        model = TfidfModel(cfg.model.tfidf, spaces).fit(rows["text"].tolist(), encode(rows, cfg, spaces),
                                                        seed=cfg.train.seed, log=log)
        return model, {"n_fit": len(rows)}
    from . import trainer
    from .transformer import build

    log(f"fine-tuning {'the parent model' if start is not None else cfg.model.transformer.encoder} on "
        f"{len(rows):,} rows (of {(df['fold'] == 'train').sum():,}; train.max_per_label {cfg.train.max_per_label}), "
        f"validating on {len(val):,}")
    backend = start if start is not None else build(cfg.model.transformer, spaces, cfg.train.seed)
    if start is None:
        backend.init_heads_from_descriptions(log)
    val_gold = encode(val, cfg, spaces)
    mentions = actor_mentions(rows, cfg)
    if mentions is not None and cfg.model.transformer.span_disguise > 0:
        rows, mentions = disguised(rows, mentions, cfg, spaces, log)
    ledes = rows["lede"].tolist() if "lede" in rows else None
    history = trainer.fit(backend, rows["text"].tolist(), encode(rows, cfg, spaces), val["text"].tolist(),
                          val_gold, cfg.train, log, mentions=mentions, ledes=ledes)
    if len(val):
        calibrate(backend, cfg, spaces, val["text"].tolist(), val_gold, log)
    return backend, {"n_fit": len(rows), "training": history}


def actor_mentions(rows: pd.DataFrame, cfg: Config) -> list | None:
    """Distant supervision of the span head: where each row's text names its coded actor."""
    name = cfg.model.transformer.span_task
    if name is None:
        return None
    taxonomy = Taxonomy(Path(cfg.data.taxonomy))
    # the alias table, and the names analysts confirmed since the last training
    aliases = with_registry(taxonomy.actors.names, read_registry())
    relevance = rows["relevance"].tolist() if "relevance" in rows else None
    # the name as coded, not the closed-set label: a rare group folded into Other is still
    # named in its text, and "no span" there would teach the head to overlook unknown groups
    source = cfg.task(name).source
    names = rows.get(coded_column(source), rows[source])
    return row_mentions(rows["text"].tolist(), names.tolist(), relevance, aliases, taxonomy.states,
                        cfg.model.transformer.span_bare)


def disguised(rows: pd.DataFrame, mentions: list, cfg: Config, spaces: dict[str, LabelSpace],
              log: Log) -> tuple[pd.DataFrame, list]:
    """Rows with a share of their named actors replaced by invented names (training/surrogates.py)."""
    task = cfg.task(cfg.model.transformer.span_task)
    states = Taxonomy(Path(cfg.data.taxonomy)).states
    other = "Other" if "Other" in spaces[task.name].labels else None
    texts, actors, mentions, n = disguise(rows["text"].tolist(), rows[task.source].tolist(), mentions,
                                          cfg.model.transformer.span_disguise,
                                          lambda name: not NOT_A_NAME.search(name) and not states.parse(name),
                                          other, cfg.train.seed)
    log(f"span_disguise: {n:,} training rows name their actor with an invented name (closed-set label {other})")
    rows = rows.copy()
    rows["text"], rows[task.source] = texts, actors
    return rows, mentions


def calibrate(backend, cfg: Config, spaces: dict[str, LabelSpace], val_texts: list[str], val_gold: dict,
              log: Log) -> None:
    """On validation (article-shaped when composition is on): each task's temperature, the
    multi-label cutoffs, then each task's `uncertain` threshold for the stated precision,
    never below train.abstain_floor. Validation is read once; the calibrated scores are
    the uncalibrated ones rescaled."""
    val_proba = backend.predict_proba(val_texts)
    if cfg.train.calibrate:
        for name, space in spaces.items():
            logits = as_logits(val_proba[name], space)
            space.temperature = fit_temperature(space, val_gold[name], logits)
            val_proba[name] = with_temperature(logits, space)
        log("temperatures (validation NLL): " + ", ".join(f"{n} {s.temperature}" for n, s in spaces.items()))
    if cfg.train.cutoff_min_positives:
        for name, space in spaces.items():
            if space.type == "multi":
                g = val_gold[name]
                space.cutoffs = choose_cutoffs(g["y"][g["mask"]], val_proba[name][g["mask"]],
                                               cfg.train.cutoff_min_positives)
                log(f"{name} decision cutoffs (validation F1): "
                    + ", ".join(f"{l} {c}" for l, c in zip(space.labels, space.cutoffs)))
    if cfg.train.abstain_precision:
        for name, space in spaces.items():
            chosen = choose_threshold(*answer_confidence(space, val_gold[name], val_proba[name]),
                                      cfg.train.abstain_precision)
            space.threshold = round(max(chosen, cfg.train.abstain_floor), 4)
        log(f"abstention thresholds (validation precision >= {cfg.train.abstain_precision}, floor "
            f"{cfg.train.abstain_floor}): " + ", ".join(f"{n} {s.threshold}" for n, s in spaces.items()))


def as_logits(proba: np.ndarray, space: LabelSpace) -> np.ndarray:
    """Logits (up to a per-row constant for softmax) of probabilities scored at `space.temperature`."""
    p = np.clip(proba.astype(np.float64), 1e-7, 1 - 1e-7)
    return (np.log(p / (1 - p)) if space.type == "multi" else np.log(p)) * space.temperature


def with_temperature(logits: np.ndarray, space: LabelSpace) -> np.ndarray:
    z = logits / space.temperature
    if space.type == "multi":
        return (1 / (1 + np.exp(-z))).astype(np.float32)
    z = z - z.max(axis=1, keepdims=True)
    return (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype(np.float32)


def fit_temperature(space: LabelSpace, gold: dict[str, np.ndarray], logits: np.ndarray) -> float:
    """The temperature in [0.1, 20] that minimises the validation negative log-likelihood
    (log-spaced grid: one parameter, no optimiser needed)."""
    if space.type == "multi":
        rows = gold["mask"]
        z, y = logits[rows], gold["y"][rows]
        if not len(z):
            return 1.0
        nll = lambda t: float(np.mean(np.logaddexp(0, -z / t) * y + np.logaddexp(0, z / t) * (1 - y)))
    else:
        rows = gold["fine"] >= 0
        z, y = logits[rows], gold["fine"][rows]
        if not len(z):
            return 1.0

        def nll(t: float) -> float:
            s = z / t
            s = s - s.max(axis=1, keepdims=True)
            return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y]))
    grid = np.exp(np.linspace(np.log(0.1), np.log(20.0), 107))
    return round(float(grid[int(np.argmin([nll(t) for t in grid]))]), 4)


def source_record(cfg: Config) -> dict:
    """What a model was trained on, precisely enough to read it again (retraining replays it)."""
    return {"format": cfg.data.format, "max_rows": cfg.data.max_rows, "files": fingerprint(cfg.data.paths)}


def score_split(model, cfg: Config, spaces: dict[str, LabelSpace], rows: pd.DataFrame):
    """Gold, probabilities and metrics of `model` on `rows`."""
    gold = encode(rows, cfg, spaces)
    proba = model.predict_proba(rows["text"].tolist()) if len(rows) else None
    tasks = compute_metrics(spaces, gold, proba) if proba is not None else {t: {"n": 0} for t in spaces}
    return gold, proba, tasks


def write_model(out: Path, cfg: Config, model, spaces: dict[str, LabelSpace], metrics: dict, manifest: dict,
                gold: dict, proba, extra_files: dict[str, str] | None = None) -> None:
    """The model directory, all or nothing: weights, config, metrics, card, plots, manifest last."""
    with staging(out) as tmp:
        model.save(tmp)
        (tmp / "config.yaml").write_text(dump_config(bundle_config(cfg, tmp)))
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        plots = write_plots(tmp, spaces, gold, proba, metrics["tasks"]) if cfg.eval.plots and proba is not None else []
        manifest = {"kind": cfg.model.kind, "name": out.name, "parent": None, **manifest,
                    "tasks": [s.to_dict() for s in spaces.values()]}
        (tmp / "README.md").write_text(render_card(out.name, {**manifest, "versions": library_versions()},
                                                   metrics, plots))
        write_manifest(tmp, manifest)


def places_file(cfg: Config, rows: pd.DataFrame, log: Log) -> dict[str, str]:
    """`places.json` for a model with a span head, learnt from the training rows that carry a
    country (ACLED): the linker moves a guessed state force to the country the text is in."""
    if cfg.model.kind != "transformer" or cfg.model.transformer.span_task is None:
        return {}
    if "country" not in rows or not rows["country"].notna().any():
        return {}
    table = learn_places(rows["text"].tolist(), rows["country"].tolist())
    log(f"places: {len(table):,} place words of {len(set(table.values()))} countries learnt from "
        f"{int(rows['country'].notna().sum()):,} training notes")
    return {PLACES: json.dumps(table, ensure_ascii=False, indent=0)}


def names_file(cfg: Config, rows: pd.DataFrame, log: Log, parent: dict[str, int] | None = None) -> dict[str, str]:
    """`names.json` for a model with a span head: every actor name its training rows coded
    (the name as coded, before validation folds a rare one into Other), with a parent's
    (retraining) added. The linker names a rare communal group in its coders' form from it."""
    if cfg.model.kind != "transformer" or cfg.model.transformer.span_task is None:
        return {}
    task = cfg.model.transformer.span_task
    col = coded_labels(rows, task)
    if col not in rows:
        return {}
    table = Counter(parent or {})
    table.update(learn_names(rows[col].tolist()))
    log(f"names: {len(table):,} actor names coded in the training rows")
    return {NAMES: json.dumps(dict(sorted(table.items())), ensure_ascii=False, indent=0)}


def train(cfg: Config, out: Path, log: Log = print) -> Path:
    t0 = time.perf_counter()
    prep = prepare(cfg, log)
    df, spaces = prep.df, prep.spaces
    test_rows = df[df["fold"] == "test"]
    if (df["fold"] != "test").sum() == 0:
        raise SecnewsError("no training rows left after validation; see the findings above")
    train_rows = df[df["fold"] == "train"]
    # the linker's tables before the long part: a failure shows at once
    tables = {**places_file(cfg, train_rows, log), **names_file(cfg, train_rows, log)}
    model, info = fit_model(cfg, df, spaces, log)
    fit_seconds = time.perf_counter() - t0
    log(f"evaluating on {len(test_rows):,} test rows")
    source = source_record(cfg)
    gold, proba, tasks = score_split(model, cfg, spaces, test_rows)
    metrics = {"tasks": tasks,
               "split": {"method": cfg.split.method, "n_train": int((df["fold"] == "train").sum()),
                         "n_val": int((df["fold"] == "val").sum()), "n_test": len(test_rows),
                         "data": [f["name"] for f in source["files"]], "format": cfg.data.format},
               "n_train": info["n_fit"], "n_test": len(test_rows),
               "train_seconds": round(fit_seconds, 1), **({"training": info["training"]} if "training" in info else {})}
    for line in summary_lines(tasks):
        log(line)
    manifest = {"data": {"format": cfg.data.format, "files": source["files"], "sources": [source],
                         "n_rows": prep.report.n_rows, "validation": prep.report.to_dict()}}
    write_model(out, cfg, model, spaces, metrics, manifest, gold, proba, tables)
    log(f"model written to {out} in {time.perf_counter() - t0:.1f}s")
    return out


def evaluate(model_path: Path, data: list[str] | None, data_format: str | None, split: str,
             log: Log = print) -> dict:
    """Score a saved model on data read with the model's own config (taxonomy, split rule)."""
    from .modeldir import load

    predictor = load(model_path)
    cfg = copy.deepcopy(predictor.config)  # the data to read; the model keeps its own
    if data:
        cfg.data.paths = [resolve_data_path(p, Path.cwd()) for p in data]
    elif not cfg.data.paths:  # a model directory keeps its training data's paths as hints only
        cfg.data.paths = cfg.data.paths_hint
    if data_format:
        cfg.data.format = data_format
    cfg.data.max_rows = None
    prep = prepare(cfg, log, spaces=predictor.spaces)
    rows = prep.df if split == "all" else prep.df[prep.df["fold"] == "test"]
    if rows.empty:
        raise SecnewsError(f"no rows in split {split!r} of {cfg.data.paths}")
    log(f"evaluating {model_path} on {len(rows):,} rows ({split})")
    proba = predictor.predict_proba(rows["text"].tolist())
    tasks = compute_metrics(predictor.spaces, encode(rows, cfg, predictor.spaces), proba)
    for line in summary_lines(tasks):
        log(line)
    return {"tasks": tasks, "split": {"method": cfg.split.method, "which": split, "data": cfg.data.paths,
                                      "format": cfg.data.format},
            "n_test": len(rows), "model": str(model_path), "validation": prep.report.to_dict()}
