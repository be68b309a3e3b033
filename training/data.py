"""Readers: every source becomes one DataFrame with the columns
`id, text, split_key, date, split` plus one column per task source (a label string,
a list of labels, or None where the row does not carry that task).

`split_key` is the text the standard split hashes: the raw text as the source wrote it,
before any cleaning, so that the split matches the shared data's definition.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .config import DataConfig, TaskConfig, split_format
from .errors import SecnewsError
from .taxonomy import Taxonomy, TaxonomyError, clean_text

BASE_COLUMNS = ["id", "text", "split_key", "date", "split"]


class DataError(SecnewsError):
    """Input data that cannot be read as asked; the message names file, row/column, expectation."""


def expand_paths(paths: list[str]) -> list[Path]:
    return [path for _, path in expand_sources(paths, None)]


def expand_sources(paths: list[str], default_format: str | None) -> list[tuple[str | None, Path]]:
    """(format, file) for every data entry: a glob, a folder (its files) or a file, each
    optionally prefixed by its format ('acled:PATH'); unprefixed ones take `default_format`."""
    out: list[tuple[str | None, Path]] = []
    for entry in paths:
        fmt, p = split_format(entry)
        fmt = fmt or default_format
        if any(ch in p for ch in "*?["):
            matches = sorted(glob.glob(p))
            if not matches:
                raise DataError(f"{p}: the pattern matches no file")
            out += [(fmt, Path(m)) for m in matches]
        else:
            path = Path(p)
            if not path.exists():
                raise DataError(f"{p}: no such file")
            out += [(fmt, x) for x in (sorted(x for x in path.iterdir() if x.is_file()) if path.is_dir() else [path])]
    if not out:
        raise DataError("no data files given: pass --data PATH or set data.paths in the config")
    return out


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and value.strip() == ""


def _objects(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns with None for 'absent': pandas would infer string columns and turn
    None into NaN, and the difference between absent (None) and empty ([]) matters here."""
    return pd.DataFrame({c: pd.Series([None if _missing(v) and not isinstance(v, (list, str)) else v
                                       for v in df[c]], dtype=object, index=df.index) for c in df.columns})


def article_text(title: Any, text: str) -> str:
    """The text a model reads: the title, a blank line, the body (the title alone is not an article).
    Training, the service and the batch scorer all call this, so they read articles the same way."""
    if isinstance(title, str) and title.strip() and text.strip():
        return f"{title.strip()}\n\n{text}"
    return text


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _require(df: pd.DataFrame, path: Path, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column {missing[0]!r} ({what}); found columns: "
                        + ", ".join(map(str, df.columns[:30])))


def _read_csv(path: Path, na_values: tuple = ("",), **kw) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=list(na_values), **kw)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header row and at least one data row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CSV file: {e}") from None
    if df.empty:
        raise DataError(f"{path}: the file has a header but no data rows")
    return df.astype(object).where(df.notna(), None)


# ----------------------------------------------------------------------- native files

def _native_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson")):
        rows = []
        with _open_text(path) as fh:
            try:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise DataError(f"{path}: line {lineno} is not valid JSON ({e.msg})") from None
                    if not isinstance(row, dict):
                        raise DataError(f"{path}: line {lineno}: expected a JSON object, found {type(row).__name__}")
                    rows.append(row)
            except UnicodeDecodeError as e:
                raise DataError(f"{path}: not UTF-8 text ({e})") from None
        if not rows:
            raise DataError(f"{path}: the file is empty; expected one JSON object per line with a 'text' field")
        return pd.DataFrame(rows).astype(object)
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        return _read_csv(path, sep="\t" if ".tsv" in name else ",")
    if name.endswith(".parquet"):
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises several types for a broken file
            raise DataError(f"{path}: not a readable Parquet file: {e}") from None
        if df.empty:
            raise DataError(f"{path}: the file has no rows")
        return df.astype(object)
    raise DataError(f"{path}: unknown file type; native data is .jsonl, .csv or .parquet (optionally .gz)")


def _label_value(value: Any, task: TaskConfig, path: Path, row: int, from_csv: bool) -> Any:
    col = task.source
    if hasattr(value, "tolist"):  # numpy arrays from Parquet list columns
        value = value.tolist()
    if not isinstance(value, (list, tuple)) and _missing(value):
        return None
    if task.type == "single":
        if not isinstance(value, str):
            raise DataError(f"{path}: row {row}, column {col!r}: expected a label string for single-label "
                            f"task {task.name!r}, found {type(value).__name__} {value!r}")
        return value.strip()
    if from_csv and isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise DataError(f"{path}: row {row}, column {col!r}: expected '|'-joined labels or a JSON "
                                f"list, found {value!r}") from None
        else:
            value = [v.strip() for v in value.split("|") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{path}: row {row}, column {col!r}: expected a list of label strings for multi-label "
                        f"task {task.name!r}, found {type(value).__name__} {value!r}")
    return sorted({v.strip() for v in value if v.strip()})


def read_native(path: Path, cfg: DataConfig, tasks: list[TaskConfig], taxonomy: Taxonomy) -> pd.DataFrame:
    raw = _native_table(path)
    _require(raw, path, ["text"], "a native file needs 'text', optional 'title', 'id', 'date', 'split', "
                                  "and one column per task")
    sources = [t for t in tasks if t.source in raw.columns]
    if not sources:
        raise DataError(f"{path}: none of the task columns ({', '.join(t.source for t in tasks)}) is present; "
                        f"found columns: {', '.join(map(str, raw.columns))}")
    from_csv = ".csv" in path.name.lower() or ".tsv" in path.name.lower()
    out = {c: [] for c in BASE_COLUMNS + [t.source for t in sources]}
    has_title = "title" in raw.columns
    for i, rec in enumerate(raw.to_dict("records")):
        row = i + 1 if not from_csv else i + 2  # CSV: header is line 1
        text = rec.get("text")
        if not _missing(text) and not isinstance(text, str):
            raise DataError(f"{path}: row {row}, column 'text': expected a string, found {type(text).__name__}")
        text = "" if _missing(text) else text
        title = rec.get("title") if has_title else None
        body = article_text(title, text)
        out["id"].append(str(rec["id"]) if not _missing(rec.get("id")) else f"{path.name}:{row}")
        out["text"].append(body)
        out["split_key"].append(text)
        out["date"].append(None if _missing(rec.get("date")) else str(rec["date"]))
        out["split"].append(None if _missing(rec.get("split")) else str(rec["split"]))
        for t in sources:
            out[t.source].append(_label_value(rec.get(t.source), t, path, row, from_csv))
    return pd.DataFrame(out)


# ----------------------------------------------------------------------- ACLED exports

ACLED_REQUIRED = ["notes", "event_type", "sub_event_type", "actor1"]


def read_acled(path: Path, cfg: DataConfig, tasks: list[TaskConfig], taxonomy: Taxonomy) -> pd.DataFrame:
    df = _read_csv(path)
    _require(df, path, ACLED_REQUIRED, "an ACLED export")
    acled, actors = taxonomy.acled, taxonomy.actors
    rules = acled.clean if cfg.clean_text else []
    col = lambda name: df[name] if name in df.columns else pd.Series([None] * len(df), dtype=object)
    memo: dict[tuple, list[str]] = {}

    def target(key: tuple) -> list[str]:
        if key not in memo:
            memo[key] = acled.targets(*key)
        return memo[key]

    notes = df["notes"].map(lambda x: "" if x is None else str(x))
    return pd.DataFrame({
        "id": col("event_id_cnty").where(col("event_id_cnty").notna(), [f"{path.name}:{i + 2}" for i in range(len(df))]),
        "text": notes.map(lambda t: clean_text(t, rules)),
        "split_key": notes,
        "date": col("event_date"),
        "split": None,
        "event_type": [s if not _missing(s) else (e if not _missing(e) else None)
                       for s, e in zip(df["sub_event_type"], df["event_type"])],
        "target": [target(k) for k in zip(col("actor2"), col("inter2"), col("assoc_actor_2"), col("country"))],
        "actor": df["actor1"].map(actors),
        "relevance": "event",  # every ACLED record is a codable event
        "country": col("country"),  # not a task: what the places table (places.py) learns from
    }).astype(object)


# ----------------------------------------------------------------------- GTD exports

# full GTD column names (e.g. the drone database) and the short ones of the GTD Iraq file
GTD_FULL = {"attack": "attacktype1_txt", "targets": ["targtype1_txt", "targtype2_txt", "targtype3_txt"],
            "nationalities": ["natlty1_txt", "natlty2_txt", "natlty3_txt"], "group": "gname",
            "weapon": "weaptype1_txt", "weapon_sub": "weapsubtype1_txt", "detail": "weapdetail",
            "country": "country_txt", "id": "eventid"}
GTD_SHORT = {"attack": "attack_type", "targets": ["target_type"], "nationalities": [], "group": "group_name",
             "weapon": "weapon_type", "weapon_sub": None, "detail": None, "country": "country", "id": None}


def _gtd_table(path: Path) -> pd.DataFrame:
    with _open_text(path) as fh:
        first = fh.readline()
    if not first.strip():
        raise DataError(f"{path}: the file is empty; expected a GTD export with a 'summary' column")
    na = ("", "N/A")  # GTD writes N/A for fields that do not apply
    if first.strip().lower().startswith("sep="):  # Excel's separator hint, as in the drone database
        return _read_csv(path, na, sep=first.strip()[4:] or ",", skiprows=1, low_memory=False)
    return _read_csv(path, na, low_memory=False)


def read_gtd(path: Path, cfg: DataConfig, tasks: list[TaskConfig], taxonomy: Taxonomy) -> pd.DataFrame:
    df = _gtd_table(path)
    cols = GTD_FULL if GTD_FULL["attack"] in df.columns else GTD_SHORT
    _require(df, path, ["summary", cols["attack"], cols["group"]],
             "a GTD export: full names (attacktype1_txt, targtype1_txt, gname) or short ones "
             "(attack_type, target_type, group_name)")
    gtd, actors = taxonomy.gtd, taxonomy.actors
    rules = gtd.clean if cfg.clean_text else []
    get = lambda rec, name: rec.get(name) if name else None
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2
        summary = "" if _missing(rec["summary"]) else str(rec["summary"])
        try:
            event = gtd.event(rec[cols["attack"]], get(rec, cols["targets"][0]), rec.get("suicide"),
                              get(rec, cols["weapon"]), get(rec, cols["weapon_sub"]), get(rec, cols["detail"]))
            targets = gtd.targets([get(rec, c) for c in cols["targets"]],
                                  [get(rec, c) for c in cols["nationalities"]] or None, get(rec, cols["country"]))
        except TaxonomyError as e:
            raise DataError(f"{path}: row {line}: {e}") from None
        date = rec.get("date")
        if _missing(date) and not _missing(rec.get("year")):
            month, day = (str(rec.get(k) or "0").split(".")[0] for k in ("month", "day"))
            date = f"{str(rec['year']).split('.')[0]}-{max(int(month), 1):02d}-{max(int(day), 1):02d}"
        rows.append({"id": str(rec[cols["id"]]) if cols["id"] and not _missing(rec.get(cols["id"])) else f"{path.name}:{line}",
                     "text": clean_text(summary, rules), "split_key": summary, "date": date, "split": None,
                     "event_type": event, "target": targets, "actor": actors(rec[cols["group"]]),
                     "relevance": "event"})
    return pd.DataFrame(rows, columns=BASE_COLUMNS + ["event_type", "target", "actor", "relevance"]).astype(object)


# ----------------------------------------------------------------------- MUC-3/4

MUC_LISTS = ["incident_types", "perpetrator_categories", "human_target_types", "physical_target_types"]


def read_muc(path: Path, cfg: DataConfig, tasks: list[TaskConfig], taxonomy: Taxonomy) -> pd.DataFrame:
    raw = _native_table(path)
    _require(raw, path, ["text", *MUC_LISTS], "a MUC-3/4 JSONL file")
    actors, muc = taxonomy.actors, taxonomy.muc
    rows = []
    for i, rec in enumerate(raw.to_dict("records")):
        lists = {}
        first_incident = next(iter(rec.get("incident_types") or []), None)  # in the key's order: the first reported
        for name in MUC_LISTS:
            value = rec.get(name)
            value = [] if value is None else value
            if not isinstance(value, list):
                raise DataError(f"{path}: line {i + 1}, field {name!r}: expected a list, found {type(value).__name__}")
            lists[name] = sorted(set(value))
        # an alias group lists one organisation's names; its first name stands for it
        groups = rec.get("perpetrator_org_aliases") or [[o] for o in rec.get("perpetrator_orgs") or []]
        orgs = [actors(g[0]) for g in groups if g]
        has_incident = bool(lists["incident_types"])
        try:
            schema = muc.default_schema(first_incident, lists["human_target_types"], lists["physical_target_types"])
        except TaxonomyError as e:
            raise DataError(f"{path}: line {i + 1}: {e}") from None
        rows.append({"id": str(rec.get("id") or f"{path.name}:{i + 1}"), "text": rec["text"] or "",
                     "split_key": rec["text"] or "", "date": None, "split": rec.get("split"),
                     **lists, "actor": (orgs[0] if orgs else "Unidentified") if has_incident else None, **schema})
    return pd.DataFrame(rows).astype(object)


READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "native": read_native, "acled": read_acled, "gtd": read_gtd, "muc": read_muc}


def read_data(cfg: DataConfig, tasks: list[TaskConfig], log: Callable[[str], None] = lambda m: None) -> pd.DataFrame:
    taxonomy = Taxonomy(Path(cfg.taxonomy))
    frames = []
    for fmt, path in expand_sources(cfg.paths, cfg.format):
        frame = READERS[fmt](path, cfg, tasks, taxonomy)
        frame["source_file"] = path.name  # train.repeat weighs a source by its file's name
        log(f"read {len(frame):,} rows from {path} ({fmt})")
        frames.append(frame)
    df = _objects(pd.concat(frames, ignore_index=True))
    if "relevance" in df.columns and "event_type" in df.columns:
        # a row that carries an event is relevant (native files may leave the column out)
        df["relevance"] = [r if r is not None else ("event" if e is not None else None)
                           for r, e in zip(df["relevance"], df["event_type"])]
    elif "event_type" in df.columns:
        df["relevance"] = [None if e is None else "event" for e in df["event_type"]]
    for t in tasks:
        if t.source not in df.columns:
            df[t.source] = None
    if cfg.max_rows and len(df) > cfg.max_rows:
        df = df.sample(n=cfg.max_rows, random_state=0).sort_index().reset_index(drop=True)
        log(f"subsampled to {len(df):,} rows (data.max_rows)")
    return df


def fingerprint(paths: list[str]) -> list[dict]:
    """sha256, size and name of each input file: what the model was trained on. Where it was
    read from is a hint (`path_hint`): a model directory moves between machines, and
    retraining finds the file again by its hash (`--replay-data`)."""
    out = []
    for fmt, path in expand_sources(paths, None):
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out.append({"name": path.name, "path_hint": str(path.resolve()), "sha256": h.hexdigest(),
                    "bytes": path.stat().st_size,
                    **({"format": fmt} if fmt else {})})
    return out
