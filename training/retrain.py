"""Retraining: a child model from a parent model and newly labelled rows, top to bottom.

  label spaces  the parent's labels, then the labels new in the new rows appended, so every
                old head row keeps its index (and, for the transformer, its weights)
  rows          the parent's training data read again from the paths its manifest records
                (checked against their sha256) and replayed beside the new rows and the
                analysts' feedback, so old classes are not forgotten
  model         transformer: the parent's encoder and heads, grown and fine-tuned further;
                tfidf: refitted (a convex model refitted on the same rows reaches the optimum
                a warm start would, and its vocabulary then covers the new names)
  comparison    parent and child scored on the same rows: the parent's test split and the
                new data's own test part; `latest` may move only when no task's macro-F1 on
                the parent's test split drops by more than retrain.tolerance

Nothing is written until the child is complete; the parent is only read.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .config import Config, config_from_dict, load_config
from .data import fingerprint, read_data
from .errors import SecnewsError
from .evaluate import compute_metrics, summary_lines
from .labels import LabelSpace, build_space
from .modeldir import load, sha256
from .names import read_names
from .places import PLACES
from .split import assign_split
from .train import fit_model, names_file, score_split, write_model
from .validation import validate

Log = Callable[[str], None]


class RetrainError(SecnewsError):
    pass


@dataclass
class Outcome:
    path: Path
    comparison: dict

    @property
    def promote(self) -> bool:
        return self.comparison["promotion"]["promote"]


# ----------------------------------------------------------------------------- data

def parent_sources(manifest: dict) -> list[dict]:
    data = manifest.get("data") or {}
    if data.get("sources"):
        return data["sources"]
    return [{"format": data["format"], "max_rows": None, "files": data["files"]}]  # models from before sources


def replay_files(paths: list[str]) -> dict[str, Path]:
    """The files given with --replay-data, by sha256: where the parent's training data is on
    this machine (a model directory records its data by hash, the path only as a hint)."""
    return {f["sha256"]: Path(f["path_hint"]) for f in fingerprint(paths)} if paths else {}


def locate(record: dict, parent_path: Path, replay: dict[str, Path]) -> Path:
    """Where a file the parent was trained on is now: kept inside the parent directory
    (`bundled`, e.g. its feedback rows), given with --replay-data, or still at its recorded
    place, unchanged."""
    if record.get("bundled"):
        return parent_path / record["bundled"]
    if record["sha256"] in replay:
        return replay[record["sha256"]]
    hint = Path(record.get("path_hint") or record.get("path") or "")  # "path": model directories before hints
    name = record.get("name") or hint.name
    fix = ("pass it with --replay-data FILE (found by its sha256, whatever its path), or retrain without "
           "replay (--set retrain.replay_fraction=0), accepting that old classes may be forgotten")
    if not hint.is_file():
        raise RetrainError(f"the parent's training file {name} (sha256 {record['sha256'][:12]}…) is not at its "
                           f"recorded place {hint}; {fix}")
    found = sha256(hint)
    if found != record["sha256"]:
        raise RetrainError(f"the parent's training file {hint} changed since the parent was trained "
                           f"(sha256 {record['sha256'][:12]}… expected, {found[:12]}… found); {fix}")
    return hint


def read_source(cfg: Config, source: dict, origin: str, log: Log) -> pd.DataFrame:
    """The rows of one source; its file records carry `located` (where they are now)."""
    paths = [f"{f['format']}:{f['located']}" if f.get("format") else str(f["located"]) for f in source["files"]]
    dc = dataclasses.replace(cfg.data, paths=paths, format=source["format"],
                             max_rows=source.get("max_rows"))
    df = read_data(dc, cfg.tasks, log)
    df["origin"] = origin
    df["fixed_fold"] = source.get("fold")  # feedback rows are training rows, whatever their hash
    return df


def extend_spaces(cfg: Config, parent: dict[str, LabelSpace], new_rows: pd.DataFrame, log: Log) -> dict[str, LabelSpace]:
    """Parent labels first, in their order; then labels the new rows bring (a from_data task
    takes those seen at least min_count times there; a fixed task those its config adds)."""
    spaces = {}
    missing = [t.name for t in cfg.tasks if t.name not in parent]
    if missing or len(cfg.tasks) != len(parent):
        raise RetrainError(f"the child must have the parent's tasks ({', '.join(parent)}); the config has "
                           f"{', '.join(t.name for t in cfg.tasks)}. Add a task by training a new model")
    for task in cfg.tasks:
        old = parent[task.name]
        fresh = build_space(dataclasses.replace(task, max_labels=None), new_rows[task.source].tolist())
        added = [l for l in fresh.labels if l not in old.labels]
        spaces[task.name] = LabelSpace(old.name, old.type, old.labels + added, {**fresh.parents, **old.parents},
                                       old.threshold, None)
        if added:
            log(f"{task.name}: new labels {added}")
    return spaces


def gather(cfg: Config, parent_path: Path, parent_manifest: dict, new_paths: list[str], new_format: str,
           feedback: Path | None, replay: dict[str, Path], log: Log) -> tuple[pd.DataFrame, dict[str, list[dict]]]:
    """The parent's rows (replayed, and its test split for the comparison), the new rows and
    the feedback rows, each with its origin and fold; and the source records read, by origin
    (each file record with `located`: where it was read now)."""
    sources: dict[str, list[dict]] = {"parent": [], "new": [], "feedback": []}
    for source in parent_sources(parent_manifest):
        try:
            files = [{**f, "located": locate(f, parent_path, replay)} for f in source["files"]]
        except RetrainError as e:
            if cfg.retrain.replay_fraction > 0:
                raise
            log(f"warning: {e} — no comparison on the parent's test split is possible")
            continue
        sources["parent"].append({**source, "files": files})
    here = lambda records: [{**f, "located": Path(f["path_hint"])} for f in records]
    if new_paths:
        sources["new"].append({"format": new_format, "max_rows": None, "files": here(fingerprint(new_paths))})
    if feedback is not None:
        sources["feedback"].append({"format": "native", "max_rows": None, "fold": "train",
                                    "files": here(fingerprint([str(feedback)]))})
    df = pd.concat([read_source(cfg, s, origin, log) for origin, group in sources.items() for s in group],
                   ignore_index=True)
    fold = assign_split(df, cfg.split)
    fixed = df["fixed_fold"].notna().to_numpy()
    fold[fixed] = df.loc[fixed, "fixed_fold"].to_numpy()
    df["fold"] = fold
    if cfg.retrain.replay_fraction < 1:
        old_train = df.index[(df["origin"] == "parent") & (df["fold"] != "test")]
        keep = df.loc[old_train].sample(frac=cfg.retrain.replay_fraction, random_state=cfg.train.seed).index
        df = df.drop(old_train.difference(keep))  # the parent's test rows stay: the comparison is made on them
    return df.drop(columns=["fixed_fold"]).reset_index(drop=True), sources


def weigh_replay(df: pd.DataFrame, weight: float, seed: int) -> pd.DataFrame:
    """Repeat the replayed training rows so each counts `weight` times (a fraction of a
    repeat is a seeded sample); validation and test rows are never repeated."""
    if weight == 1:
        return df
    old = df[(df["origin"] == "parent") & (df["fold"] == "train")]
    whole, part = int(weight) - 1, weight - int(weight)
    extra = [old] * whole + ([old.sample(frac=part, random_state=seed)] if part else [])
    return pd.concat([df, *extra], ignore_index=True)


# ----------------------------------------------------------------------------- comparison

def aligned(proba: dict[str, np.ndarray], old: dict[str, LabelSpace], new: dict[str, LabelSpace]):
    """The parent's probabilities in the child's label order (0 for labels it never had), and
    the child's spaces carrying the parent's decision cutoffs."""
    out, views = {}, {}
    for name, space in new.items():
        cols = [space.labels.index(l) for l in old[name].labels]
        p = np.zeros((len(proba[name]), len(space.labels)), np.float32)
        p[:, cols] = proba[name]
        out[name] = p
        cut = np.full(len(space.labels), 0.5, np.float32)
        cut[cols] = old[name].cutoff_array()
        views[name] = dataclasses.replace(space, cutoffs=cut.tolist(), threshold=old[name].threshold)
    return out, views


def _diff(p: dict, c: dict, new_labels: list[str]) -> dict:
    labels = sorted(set(p.get("per_label", {})) | set(c.get("per_label", {})),
                    key=lambda l: -(c.get("per_label", {}).get(l) or p["per_label"][l])["support"])
    per_label = {}
    for l in labels:
        pf = p.get("per_label", {}).get(l, {}).get("f1", 0.0)
        cf = c.get("per_label", {}).get(l, {}).get("f1", 0.0)
        support = (c.get("per_label", {}).get(l) or p["per_label"][l])["support"]
        per_label[l] = {"parent": pf, "child": cf, "delta": round(cf - pf, 4), "support": support,
                        "new": l in new_labels}
    return {"n": c.get("n", 0),
            "parent": {"macro_f1": p.get("macro_f1"), "micro_f1": p.get("micro_f1")},
            "child": {"macro_f1": c.get("macro_f1"), "micro_f1": c.get("micro_f1")},
            "delta_macro_f1": round(c["macro_f1"] - p["macro_f1"], 4) if c.get("n") else None,
            "per_label": per_label}


def compare(parent_metrics: dict, child_metrics: dict, new_labels: dict[str, list[str]]) -> dict:
    out = {}
    for task, c in child_metrics.items():
        p = parent_metrics[task]
        if not c.get("n"):
            out[task] = {"n": 0}
            continue
        out[task] = _diff(p, c, new_labels.get(task, []))
        if c.get("coarse", {}).get("n"):
            out[task]["coarse"] = _diff(p["coarse"], c["coarse"], [])
    return out


def verdict(splits: dict, tolerance: float, force: bool) -> dict:
    old = splits.get("parent_test", {}).get("tasks", {})
    drops = {t: round(-d["delta_macro_f1"], 4) for t, d in old.items() if d.get("n")}
    worse = {t: v for t, v in drops.items() if v > tolerance}
    if not drops:
        ok, reason = False, "the parent's test split has no labelled rows, so no regression check could run"
    elif worse:
        ok, reason = False, "; ".join(f"{t} macro-F1 on the parent's test split drops by {v:.4f} "
                                      f"(tolerance {tolerance})" for t, v in worse.items())
    else:
        ok, reason = True, (f"no task's macro-F1 on the parent's test split drops by more than {tolerance} "
                            f"(largest drop {max(drops.values()):.4f})")
    return {"promote": ok or force, "forced": force and not ok, "passed": ok, "reason": reason,
            "tolerance": tolerance, "drops": drops}


def render_comparison(c: dict) -> str:
    lines = [f"# {c['child']} versus its parent {c['parent']}", "",
             f"**Promotion: {'yes' if c['promotion']['promote'] else 'no'}**"
             + (" (forced with --force)" if c["promotion"]["forced"] else "") + f" — {c['promotion']['reason']}.", ""]
    if any(c["new_labels"].values()):
        lines += ["New labels: " + "; ".join(f"{t}: {', '.join(ls)}" for t, ls in c["new_labels"].items() if ls), ""]
    names = {"parent_test": "the parent's test split", "new_test": "the new data's test part"}
    for split, body in c["splits"].items():
        lines += [f"## On {names[split]} ({body['n']:,} rows)", "",
                  "| task | parent macro-F1 | child macro-F1 | Δ | parent micro-F1 | child micro-F1 |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for task, d in body["tasks"].items():
            for suffix, x in (("", d), (" (coarse)", d.get("coarse"))):
                if x and x.get("n"):
                    lines.append(f"| {task}{suffix} | {x['parent']['macro_f1']:.4f} | {x['child']['macro_f1']:.4f} | "
                                 f"{x['delta_macro_f1']:+.4f} | {x['parent']['micro_f1']:.4f} | "
                                 f"{x['child']['micro_f1']:.4f} |")
        for task, d in body["tasks"].items():
            if not d.get("n"):
                continue
            lines += ["", f"### {task}: per-label F1", "", "| label | support | parent | child | Δ | |",
                      "| --- | ---: | ---: | ---: | ---: | --- |"]
            for label, x in d["per_label"].items():
                lines.append(f"| {label} | {x['support']} | {x['parent']:.3f} | {x['child']:.3f} | "
                             f"{x['delta']:+.3f} | {'new' if x['new'] else ''} |")
        lines.append("")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the run

def child_config(parent_path: Path, config: str | None, overrides: list[str]) -> Config:
    """The parent's resolved config (or another file, e.g. a shorter schedule), plus --set."""
    if config:
        return load_config(config, overrides=overrides)
    import yaml

    raw = yaml.safe_load((parent_path / "config.yaml").read_text())
    return config_from_dict(raw, base=parent_path, overrides=overrides, source=str(parent_path / "config.yaml"))


def retrain(parent_path: Path, new_paths: list[str], out: Path, *, new_format: str = "native",
            feedback: Path | None = None, replay_data: list[str] | None = None, config: str | None = None,
            overrides: list[str] | None = None, force: bool = False, parent_ref: str | None = None,
            log: Log = print) -> Outcome:
    """A child of the model in `parent_path`, trained on the new files (and `feedback`) with the
    parent's data replayed; `replay_data`: files where the parent's data is on this machine
    (matched by sha256). Returns the child's folder and the comparison; storing and promoting
    it is the caller's (serving/api.py)."""
    t0 = time.perf_counter()
    parent_path = Path(parent_path)
    if Path(out).exists():
        raise RetrainError(f"{out} already exists; a model directory is never overwritten — choose another --out")
    if not new_paths and feedback is None:
        raise RetrainError("nothing to retrain on: give --data NEW (and/or --feedback)")
    parent = load(parent_path)  # verifies the parent's files first
    manifest = parent.manifest
    cfg = child_config(parent_path, config, overrides or [])
    if cfg.model.kind != manifest["kind"]:
        raise RetrainError(f"the parent is a {manifest['kind']} model but the config asks for {cfg.model.kind}; "
                           f"a retrain keeps the model kind")
    df, read = gather(cfg, parent_path, manifest, new_paths, new_format, feedback,
                      replay_files(replay_data or []), log)
    spaces = extend_spaces(cfg, parent.spaces, df[(df["origin"] != "parent") & (df["fold"] != "test")], log)
    df, report = validate(df, cfg.tasks, spaces)
    log(report.format())
    counts = {o: int(((df["origin"] == o) & (df["fold"] != "test")).sum()) for o in ("parent", "new", "feedback")}
    log(f"training rows: {counts['parent']:,} replayed from the parent, {counts['new']:,} new, "
        f"{counts['feedback']:,} from feedback")

    df = weigh_replay(df, cfg.retrain.replay_weight, cfg.train.seed)
    start = None
    if cfg.model.kind == "transformer" and cfg.model.transformer.runtime != "torch":
        raise RetrainError(f"{parent_path} runs its encoder on {cfg.model.transformer.runtime}, which does not "
                           "train: retrain the torch model it was exported from, then export the child")
    if cfg.model.kind == "transformer":
        # a second copy (its files were verified just above): `parent` must stay the parent for the comparison
        start = load(parent_path, verify=False).backend
        start.extend(spaces)
        start.reconfigure(cfg.model.transformer)
    model, info = fit_model(cfg, df, spaces, log, start=start)
    fit_seconds = time.perf_counter() - t0

    new_labels = {n: s.labels[len(parent.spaces[n].labels):] for n, s in spaces.items()}
    test_rows = df[df["fold"] == "test"]  # the parent's test split and the new data's (feedback is all train)
    gold, proba, tasks = score_split(model, cfg, spaces, test_rows)
    for line in summary_lines(tasks):
        log(line)
    splits = {}
    for split, origin in (("parent_test", "parent"), ("new_test", "new")):
        at = (test_rows["origin"] == origin).to_numpy()
        if not at.any():
            continue
        rows = test_rows[at]
        log(f"scoring the parent on {split} ({len(rows):,} rows)")
        p_proba, p_spaces = aligned(parent.predict_proba(rows["text"].tolist()), parent.spaces, spaces)
        split_gold = {t: {k: v[at] for k, v in g.items()} for t, g in gold.items()}
        splits[split] = {"n": len(rows), "tasks": compare(compute_metrics(p_spaces, split_gold, p_proba),
                                                          compute_metrics(spaces, split_gold,
                                                                          {t: p[at] for t, p in proba.items()}),
                                                          new_labels)}
    comparison = {"parent": parent_ref if parent_ref and not Path(parent_ref).is_absolute() else manifest.get("name"),
                  "child": Path(out).name, "new_labels": new_labels,
                  "splits": splits, "promotion": verdict(splits, cfg.retrain.tolerance, force)}
    log(f"promotion: {'yes' if comparison['promotion']['promote'] else 'no'} — {comparison['promotion']['reason']}")

    # what the child was trained on, for its own retrain to replay (not the parent's data
    # when it was read only for the comparison); files kept inside a model directory (the
    # analysts' corrections) travel inside the child too
    extra = {"comparison.json": json.dumps(comparison, indent=2, ensure_ascii=False),
             "comparison.md": render_comparison(comparison)}
    if (parent_path / PLACES).is_file():  # the places the parent learnt: new rows rarely carry a country
        extra[PLACES] = (parent_path / PLACES).read_text(encoding="utf-8")
    extra.update(names_file(cfg, df[df["fold"] == "train"], log, parent=read_names(parent_path)))
    sources = []
    for source in (read["parent"] if cfg.retrain.replay_fraction > 0 else []) + read["new"] + read["feedback"]:
        files = []
        for record in source["files"]:
            f = {k: v for k, v in record.items() if k != "located"}
            if f.get("bundled") or source.get("fold") == "train":  # feedback rows
                f.pop("path_hint", None)
                f["bundled"] = f"feedback-{f['sha256'][:12]}.jsonl"
                extra[f["bundled"]] = Path(record["located"]).read_text()
            files.append(f)
        sources.append({**source, "files": files})
    metrics = {"tasks": tasks,
               "split": {"method": cfg.split.method, "n_train": int((df["fold"] == "train").sum()),
                         "n_val": int((df["fold"] == "val").sum()), "n_test": len(test_rows),
                         "data": [f.get("name") or f.get("bundled") for s in sources for f in s["files"]],
                         "format": "mixed"},
               "n_train": info["n_fit"], "n_test": len(test_rows), "train_seconds": round(fit_seconds, 1),
               **({"training": info["training"]} if "training" in info else {})}
    child_manifest = {
        "parent": parent_ref if parent_ref and not Path(parent_ref).is_absolute() else manifest.get("name"),
        "parent_path_hint": str(parent_path.resolve()),
        "parent_manifest_sha256": sha256(parent_path / "manifest.json"),
        "data": {"format": "mixed", "files": [f for s in sources for f in s["files"]], "sources": sources,
                 "n_rows": report.n_rows, "validation": report.to_dict()},
        "retrain": {"rows": counts, "replay_weight": cfg.retrain.replay_weight, "new_labels": new_labels,
                    "promotion": comparison["promotion"]}}
    write_model(Path(out), cfg, model, spaces, metrics, child_manifest, gold, proba, extra)
    log(f"child model written to {out} in {time.perf_counter() - t0:.1f}s")
    return Outcome(Path(out), comparison)
