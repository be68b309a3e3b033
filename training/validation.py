"""Validation reports what it finds, with counts and example rows; it never drops silently.

It also applies the label spaces: labels outside a task's space fold into its `other_label`
when it has one (the label as coded stays in `coded_column`: the span head learns to find a
rare actor's name even though the closed head calls it Other), else they are cleared from
the row (which keeps its other tasks); rows with empty text are removed."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field

import pandas as pd

from .config import TaskConfig
from .labels import LabelSpace


@dataclass
class Finding:
    check: str
    count: int
    message: str
    examples: list[dict] = field(default_factory=list)


@dataclass
class Report:
    n_rows: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, count: int, message: str, examples: list[dict] | None = None) -> None:
        if count:
            self.findings.append(Finding(check, int(count), message, (examples or [])[:3]))

    def count(self, check: str) -> int:
        return sum(f.count for f in self.findings if f.check == check)

    def to_dict(self) -> dict:
        return {"n_rows": self.n_rows, "findings": [asdict(f) for f in self.findings]}

    def format(self) -> str:
        lines = [f"validation: {self.n_rows:,} rows read"]
        if not self.findings:
            lines.append("  no findings")
        for f in self.findings:
            lines.append(f"  {f.check}: {f.count:,} — {f.message}")
            for ex in f.examples:
                lines.append(f"      e.g. {ex}")
        return "\n".join(lines)


def _example(row: pd.Series, **extra) -> dict:
    text = str(row["text"])
    return {"id": row["id"], "text": text[:80] + ("…" if len(text) > 80 else ""), **extra}


def _set(df: pd.DataFrame, col: str, values: list) -> None:
    # explicit object dtype: pandas would infer a string column and turn None into NaN
    df[col] = pd.Series(values, index=df.index, dtype=object)


def coded_column(col: str) -> str:
    """Where a single-label task's label as coded is kept when validation folds it into
    `other_label` ("MRC: Mombasa Republican Council", where the task's column says Other)."""
    return f"{col}_coded"


def coded_labels(rows, col: str) -> str:
    """The column of `rows` holding `col`'s labels as coded: coded_column(col) where validation
    kept one, else `col` itself (nothing was folded into Other)."""
    return coded_column(col) if coded_column(col) in rows else col


def near_key(text: str) -> str:
    """Lower-case letters only: catches copies that differ in numbers, punctuation or spacing."""
    return re.sub(r"[^a-z]+", " ", text.lower()).strip()


def validate(df: pd.DataFrame, tasks: list[TaskConfig], spaces: dict[str, LabelSpace]) -> tuple[pd.DataFrame, Report]:
    report = Report(n_rows=len(df))
    df = df.copy()

    empty = df["text"].fillna("").astype(str).str.strip() == ""
    report.add("empty_text", empty.sum(), "rows with empty text, removed",
               [_example(r) for _, r in df[empty].head(3).iterrows()])
    df = df[~empty]

    for task in tasks:
        col, space = task.source, spaces[task.name]
        other = task.other_label if task.other_label in space.labels else None
        if other:  # the long tail, in train or test, is what `other` stands for
            if task.type == "multi":
                tail = [v is not None and any(x not in space.labels for x in v) for v in df[col]]
                _set(df, col, [None if v is None else sorted({x if x in space.labels else other for x in v}) for v in df[col]])
            else:
                tail = [v is not None and v not in space.labels for v in df[col]]
                names = Counter(v for v, t in zip(df[col], tail) if t)
                _set(df, coded_column(col), list(df[col]))
                _set(df, col, [other if t else v for v, t in zip(df[col], tail)])
            report.add("other_label", sum(tail),
                       f"{task.name}: rows whose label is outside the {len(space.labels) - 1} kept labels "
                       f"(seen fewer than {task.min_count} times in training, or beyond max_labels) "
                       f"folded into {other!r}" + (f"; {len(names):,} distinct, most common: " + ", ".join(
                           f"{l!r}×{c}" for l, c in names.most_common(3)) if task.type == "single" else ""))
        known = [space.knows(v) for v in df[col]]
        unknown = df[[not k for k in known]]
        if len(unknown):
            labels = Counter(x for v in unknown[col] for x in (v if isinstance(v, list) else [v])
                             if x not in space.labels and x not in space.coarse)
            report.add("unknown_label", len(unknown),
                       f"{task.name}: labels not in the task's label space, cleared from these rows "
                       f"(the rows keep their other tasks): " + ", ".join(f"{l!r}×{c}" for l, c in labels.most_common(5)),
                       [_example(r, label=r[col]) for _, r in unknown.head(3).iterrows()])
            _set(df, col, [None if not k else v for v, k in zip(df[col], known)])

    carried = df[[t.source for t in tasks]].notna().any(axis=1)
    report.add("no_label", (~carried).sum(), "rows that carry no task's label (kept out of training and metrics)",
               [_example(r) for _, r in df[~carried].head(3).iterrows()])

    exact = df["text"].str.strip().str.lower()
    dup = exact.duplicated(keep=False)
    report.add("duplicate_text", exact[dup].nunique() and int(dup.sum()),
               f"rows whose text appears more than once ({exact[dup].nunique():,} distinct texts); "
               "the split keeps each text on one side",
               [_example(r) for _, r in df[dup].head(3).iterrows()])
    near = df["text"].map(near_key)
    near_groups = pd.DataFrame({"near": near, "exact": exact}).groupby("near")["exact"].nunique()
    near_dups = near_groups[near_groups > 1]
    report.add("near_duplicate_text", near.isin(near_dups.index).sum(),
               f"rows in {len(near_dups):,} groups of texts that differ only in numbers, punctuation or case",
               [_example(r) for _, r in df[near.isin(near_dups.index)].head(3).iterrows()])

    if "fold" in df.columns:
        for name, key in (("leak_exact", exact), ("leak_near", near)):
            train_keys = set(key[df["fold"] != "test"])
            leaked = df[(df["fold"] == "test") & key.isin(train_keys)]
            report.add(name, len(leaked),
                       f"test rows whose {'text' if name == 'leak_exact' else 'near-duplicate text'} "
                       "also appears in train/val",
                       [_example(r) for _, r in leaked.head(3).iterrows()])
    return df[carried], report
