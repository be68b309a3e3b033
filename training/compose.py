"""Article-shaped training data, composed from the rows read.

No licensed, offline news-article training set exists; what exists is coder notes and
summaries (one paragraph about one event) and a few hundred real articles (MUC-3/4). News
puts the reported event in the lede and surrounds it with background: earlier incidents,
reactions, quotes, unrelated context. A composed article is exactly that: an event row as
the lede, followed by 1-3 paragraphs drawn from other events of the same fold (told as
background: "Earlier this month, ..."), reactions and quotes, and non-event news; it
carries the lede's labels. A composed no-event article is a few paragraphs of non-event
news and carries `relevance: none` and nothing else.

Each training row appears once either bare or as a lede (`compose.share`), so composition
changes what the model reads, not how often it sees each event; rows of rare event types
are repeated up to `train.min_per_label`, each repeat in a different article.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .config import Config
from .errors import SecnewsError
from .validation import coded_column

# how a wire story brings up an earlier incident
CONNECTORS = ["Earlier this month, ", "Last week, ", "In a separate incident, ", "Days earlier, ",
              "Last year, ", "In an earlier attack, ", "Previously, ", "Late last month, ",
              "The incident follows one in which ", "Two weeks ago, "]
LEDE_WORDS = 150  # rows longer than this are articles already: never a lede or a background paragraph


def read_paragraphs(paths: list[str]) -> dict[str, list[str]]:
    """{role: [text]} from JSONL files; a file's role is the first word of its name
    (nonevent_paragraphs.jsonl -> nonevent, context_paragraphs.jsonl -> context)."""
    out: dict[str, list[str]] = {"nonevent": [], "context": []}
    for p in paths:
        path = Path(p)
        role = path.name.split("_")[0].split(".")[0]
        if role not in out:
            raise SecnewsError(f"compose.paragraphs: {path.name}: the name must start with 'nonevent' or 'context'")
        if not path.is_file():
            raise SecnewsError(f"compose.paragraphs: {path} does not exist")
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    text = json.loads(line)["text"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise SecnewsError(f"{path}: line {lineno}: expected a JSON object with a 'text' field") from None
                out[role].append(" ".join(str(text).split()))
    return out


def _fold_of(text: str) -> str:
    """Paragraphs are split between training and validation articles by a hash of the text."""
    return "val" if int(hashlib.sha1(text.encode()).hexdigest(), 16) % 7 == 0 else "train"


def _as_background(text: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.3 or not text:
        return text
    connector = CONNECTORS[rng.integers(len(CONNECTORS))]
    if text[:2].isupper():  # "US forces ...", "ISIS ...": an acronym keeps its capitals
        return connector + text
    return connector + text[0].lower() + text[1:]


def _article(lede: str, paragraphs: list[str], lede_first: bool) -> str:
    if lede_first or not paragraphs:
        return "\n\n".join([lede, *paragraphs])
    return "\n\n".join([paragraphs[0], lede, *paragraphs[1:]])


def _short(df: pd.DataFrame) -> pd.Series:
    return df["text"].map(lambda t: 0 < len(t.split()) <= LEDE_WORDS)


def compose(rows: pd.DataFrame, cfg: Config, fold: str, n_ledes: int | None, extra: dict[int, int],
            paragraphs: dict[str, list[str]], seed: int,
            log: Callable[[str], None] = lambda m: None) -> tuple[pd.DataFrame, set]:
    """Composed articles of one fold. `rows`: that fold's rows; `n_ledes`: how many rows
    become ledes (None: `compose.share` of the event rows); `extra`: row index -> further
    articles with that row as lede (rare-label repeats). Returns the new rows (their `origin`
    is 'composed'), each with the lede's task columns, and the index of the rows that became
    ledes by `share` (the caller drops their bare copies)."""
    c = cfg.compose
    rng = np.random.default_rng(seed)
    tasks = [t.source for t in cfg.tasks]
    event_col = cfg.task(cfg.train.balance_task).source if cfg.train.balance_task in {t.name for t in cfg.tasks} else None
    events = rows[_short(rows) & rows["relevance"].eq("event")] if "relevance" in rows else rows[_short(rows)]
    paras = {role: [p for p in texts if _fold_of(p) == fold] or texts for role, texts in paragraphs.items()}
    coded = [coded_column(t) for t in tasks if coded_column(t) in rows.columns]
    columns = [*rows.columns.difference(["origin"]), "origin"]
    if events.empty:
        return pd.DataFrame(columns=columns), set()
    n = int(round(c.share * len(events))) if n_ledes is None else min(n_ledes, len(events))
    ledes = list(rng.choice(events.index.to_numpy(), size=n, replace=False)) if n else []
    used = set(ledes)
    for idx, k in extra.items():
        ledes += [idx] * k
    pool = events["text"].tolist()
    pool_event = events[event_col].tolist() if event_col else [None] * len(pool)
    out = []
    for j, idx in enumerate(ledes):
        lede = rows.loc[idx]
        k = int(rng.integers(c.background[0], c.background[1] + 1))
        body = []
        for _ in range(k):
            kind = rng.choice(["event", "context", "nonevent"], p=[0.45, 0.35, 0.2])
            if kind == "event" and len(pool) > 1:
                for _try in range(5):  # another event, of another type when one is at hand
                    b = int(rng.integers(len(pool)))
                    if pool[b] != lede["text"] and (event_col is None or pool_event[b] != lede[event_col]):
                        break
                body.append(_as_background(pool[b], rng))
            elif paras.get(kind):
                body.append(paras[kind][int(rng.integers(len(paras[kind])))])
        text = _article(lede["text"], body, rng.random() < c.lede_first)
        rec = {"id": f"composed:{lede['id']}:{j}", "text": text, "split_key": text, "date": lede.get("date"),
               "split": None, "fold": fold, "origin": "composed"}
        rec.update({t: lede[t] for t in [*tasks, *coded]})
        out.append(rec)
    n_neg = int(round(c.negatives * len(rows))) if n_ledes is None else int(round(c.negatives * n))
    if "relevance" in tasks and paras.get("nonevent"):
        for j in range(n_neg):
            k = int(rng.integers(2, 6))
            body = [paras["nonevent"][int(rng.integers(len(paras["nonevent"])))] for _ in range(k)]
            if paras.get("context") and rng.random() < 0.3:
                body.insert(int(rng.integers(1, k + 1)), paras["context"][int(rng.integers(len(paras["context"])))])
            text = "\n\n".join(dict.fromkeys(body))
            rec = {"id": f"composed:none:{fold}:{j}", "text": text, "split_key": text, "date": None, "split": None,
                   "fold": fold, "origin": "composed"}
            rec.update({t: None for t in [*tasks, *coded]})
            rec["relevance"] = "none"
            out.append(rec)
    composed = pd.DataFrame(out, columns=columns)
    log(f"composed {len(composed):,} {fold} articles: {len(ledes):,} around a lede "
        f"({len(ledes) - len(used):,} of them repeats of rare labels), {max(len(composed) - len(ledes), 0):,} with no event")
    return composed.astype(object), used


def rare_repeats(rows: pd.DataFrame, cfg: Config) -> dict[int, int]:
    """Row index -> extra articles, so each label of train.balance_task with fewer training
    rows than train.min_per_label reaches it (spread evenly over its short rows)."""
    target = cfg.train.min_per_label
    if not target:
        return {}
    col = cfg.task(cfg.train.balance_task).source
    labels = rows[col].map(lambda v: v if isinstance(v, str) else None)
    short = _short(rows)
    extra: dict[int, int] = {}
    for label, group in rows[labels.notna()].groupby(labels[labels.notna()]):
        missing = target - len(group)
        candidates = group.index[short[group.index]].to_numpy()
        if missing <= 0 or not len(candidates):
            continue
        per, rest = divmod(missing, len(candidates))
        for i, idx in enumerate(candidates):
            if per + (i < rest):
                extra[int(idx)] = per + (i < rest)
    return extra


def with_articles(train_rows: pd.DataFrame, val_rows: pd.DataFrame, cfg: Config,
                  log: Callable[[str], None] = print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and validation rows with composed articles: each training lede replaces its
    bare row; validation keeps its bare rows and gains `compose.val_articles` articles."""
    if not cfg.compose.enabled:
        return train_rows, val_rows
    paragraphs = read_paragraphs(cfg.compose.paragraphs)
    seed = cfg.train.seed
    train_c, used = compose(train_rows, cfg, "train", None, rare_repeats(train_rows, cfg), paragraphs, seed, log)
    bare = train_rows.drop(index=list(used))
    val_c, _ = compose(val_rows, cfg, "val", cfg.compose.val_articles, {}, paragraphs, seed + 1, log) \
        if len(val_rows) else (val_rows.iloc[0:0], set())
    return (pd.concat([bare, train_c], ignore_index=True), pd.concat([val_rows, val_c], ignore_index=True))
