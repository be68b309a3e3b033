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
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .config import Config
from .data import article_text
from .errors import SecnewsError
from .sentences import PARAGRAPH_BREAK, paragraph_of, sentences
from .spans import NOT_A_NAME, PERIOD, find_mentions, mention_pattern, name_variants
from .taxonomy import Taxonomy, read_hierarchy
from .validation import coded_column, coded_labels

# how a wire story brings up an earlier incident
CONNECTORS = ["Earlier this month, ", "Last week, ", "In a separate incident, ", "Days earlier, ",
              "Last year, ", "In an earlier attack, ", "Previously, ", "Late last month, ",
              "The incident follows one in which ", "Two weeks ago, "]
LEDE_WORDS = 150  # rows longer than this are articles already: never a lede or a background paragraph
# who did it, as a lede says before anyone has attributed the attack
SEEN_AS = ["gunmen", "militants", "armed men", "suspected militants", "attackers", "assailants"]
# "Al Shabaab militants" without the name is "militants": the members word stays
MEMBERS_NEXT = re.compile(r"[ \t]+(?:rebel[ \t]+)?(?:militants|fighters|rebels|gunmen|members|insurgents|"
                          r"militiamen|militia|jihadists|combatants)\b", re.IGNORECASE)
ATTRIBUTION_KINDS = ("behind", "unclaimed", "not_behind")
# events someone is said to be behind; a surrender or a new base is not "claimed"
ATTRIBUTED_EVENTS = ("Battles", "Explosions/Remote violence", "Violence against civilians")
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
# what a headline leaves out of a lede's first sentence: a coder's type tag ("Property
# destruction: "), a GTD date ("09/15/2013: "), the day ("On 12 June 2020, "), brackets
HEADLINE_DROP = re.compile(r"^(?:[A-Z][a-z]+(?: [a-z/]+){0,3}: )?(?:\d{1,2}/\d{1,2}/\d{2,4}: )?"
                           r"(?:(?:On|Around|By|Between|Overnight|Late on|Early on|In the (?:night|morning|evening) of)"
                           r"\b[^,.]{0,40},\s*)?")
HEADLINE_WORDS = (7, 14)  # a headline's length, drawn per article
DANGLING = {"a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "for", "with", "near", "by", "from", "as",
            "its", "their", "his", "her", "that", "which", "who"}


def read_paragraphs(paths: list[str]) -> dict[str, list[str]]:
    """{role: [text]} from JSONL files; a file's role is the first word of its name
    (nonevent_paragraphs.jsonl -> nonevent, context_paragraphs.jsonl -> context). An
    `attribution_*` file holds sentence templates, each with a `kind`: `behind` ("{actor}
    claimed the attack"), `unclaimed` ("No group has claimed it") or `not_behind` ("{other}
    denied any involvement"); each kind is a role of its own."""
    out: dict[str, list[str]] = {"nonevent": [], "context": [], **{k: [] for k in ATTRIBUTION_KINDS}}
    for p in paths:
        path = Path(p)
        role = path.name.split("_")[0].split(".")[0]
        if role not in ("nonevent", "context", "attribution"):
            raise SecnewsError(f"compose.paragraphs: {path.name}: the name must start with 'nonevent', 'context' "
                               f"or 'attribution'")
        if not path.is_file():
            raise SecnewsError(f"compose.paragraphs: {path} does not exist")
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                    text = rec["text"]
                    kind = rec["kind"] if role == "attribution" else role
                except (json.JSONDecodeError, KeyError, TypeError):
                    need = "'kind' and 'text' fields" if role == "attribution" else "a 'text' field"
                    raise SecnewsError(f"{path}: line {lineno}: expected a JSON object with {need}") from None
                if role == "attribution" and kind not in ATTRIBUTION_KINDS:
                    raise SecnewsError(f"{path}: line {lineno}, field 'kind': expected one of "
                                       f"{', '.join(ATTRIBUTION_KINDS)}, found {kind!r}")
                placeholder = {"behind": "{actor}", "not_behind": "{other}"}.get(kind)
                if placeholder and placeholder not in text:
                    raise SecnewsError(f"{path}: line {lineno}, field 'text': a {kind!r} template must "
                                       f"contain {placeholder}")
                out[kind].append(" ".join(str(text).split()))
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


class Attribution:
    """Composed articles told the way news attributes an attack: the lede says what was seen
    ("gunmen stormed ..."), a later sentence says who is behind it ("Officials blamed X"),
    and other groups are named without being behind it ("Y denied any involvement"). Coder
    notes name the actor in the same sentence as the event, so a span head trained on them
    alone marks any group an article names (issue 11: attribution, not mention).

    A lede whose coded actor is a named group written in it loses the name (SEEN_AS, or just
    the members word: "militants") and the article gains a `behind` sentence with the name as
    the note wrote it; the actor's later mention is what the span head is trained on. A lede
    coded `Unidentified` gains an `unclaimed` sentence. Either may gain a `not_behind`
    sentence naming another group of the fold, which trains "no span"."""

    def __init__(self, cfg: Config, rows: pd.DataFrame, paragraphs: dict[str, list[str]]):
        task = cfg.task(cfg.model.transformer.span_task)
        self.share = cfg.compose.attribution
        self.source = task.source
        self.coded = coded_labels(rows, task.source)
        taxonomy = Taxonomy(Path(cfg.data.taxonomy))
        self.aliases, self.states = taxonomy.actors.names, taxonomy.states
        event = next((t for t in cfg.tasks if t.hierarchy), None)
        self.event_col = event.source if event is not None else None
        tree = read_hierarchy(event.hierarchy) if event is not None else {}
        self.violent = {label for coarse in ATTRIBUTED_EVENTS for label in [coarse, *tree.get(coarse, [])]}
        self.paras = paragraphs
        self._patterns: dict[str, object] = {}
        self.told = {"behind": 0, "unclaimed": 0}  # articles told with attribution, by kind
        names = rows[self.coded].map(lambda v: v if isinstance(v, str) else None).dropna().unique()
        self.others = sorted({self.display(n) for n in names if self.is_group(n)} - {None})

    def is_group(self, name: str) -> bool:
        """One named group: not a category, not a state force, not a joint "A and/or B"."""
        return not NOT_A_NAME.search(name.strip()) and not self.states.parse(name) and " and/or " not in name

    def display(self, name: str) -> str | None:
        """How a wire story writes a coded name: without its period suffix, the long form
        after a colon ("JNIM: Group for ..." -> "JNIM") or the country in brackets."""
        variants = name_variants(name, self.aliases)
        shown = next((v for v in variants if ":" not in v and "(" not in v), None) or PERIOD.sub("", name).strip()
        return (shown.title() if shown.isupper() and " " in shown else shown) or None  # MUC-3/4 keys are upper case

    def mentions(self, text: str, name: str) -> list[tuple[int, int]]:
        if name not in self._patterns:
            self._patterns[name] = mention_pattern(name_variants(name, self.aliases, self.states))
        return find_mentions(text, self._patterns[name])

    def __call__(self, lede: pd.Series, body: list[str], rng: np.random.Generator) -> tuple[str, list[str]]:
        """The lede and body, rewritten when this article is told with attribution."""
        text, name = lede["text"], lede.get(self.coded)
        if not isinstance(name, str) or (self.event_col and lede.get(self.event_col) not in self.violent):
            return text, body
        if rng.random() >= self.share:
            return text, body
        if lede.get(self.source) == "Unidentified" and self.paras["unclaimed"]:
            said = self.paras["unclaimed"][int(rng.integers(len(self.paras["unclaimed"])))]
            self.told["unclaimed"] += 1
            return text, self._with(body, said, self._distractor(name, rng, 0.8), rng)
        spans = self.mentions(text, name) if self.is_group(name) and self.paras["behind"] else []
        first = SENTENCE_END.search(text)
        if not spans or (first and spans[-1][0] > first.start()):
            return text, body  # named later too ("...; sources attributed it to ISIL"): told so already
        said_name = text[spans[0][0]:spans[0][1]]
        template = self.paras["behind"][int(rng.integers(len(self.paras["behind"])))]
        said = template.replace("{actor}", said_name)
        self.told["behind"] += 1
        return anonymised(text, spans, rng), self._with(body, said[0].upper() + said[1:],
                                                        self._distractor(name, rng, 0.5), rng)

    def _distractor(self, name: str, rng: np.random.Generator, p: float) -> str | None:
        if not self.paras["not_behind"] or not self.others or rng.random() >= p:
            return None
        for _try in range(5):
            other = self.others[int(rng.integers(len(self.others)))]
            if not self.mentions(other, name) and other.lower() not in name.lower():
                template = self.paras["not_behind"][int(rng.integers(len(self.paras["not_behind"])))]
                said = template.replace("{other}", other)
                return said[0].upper() + said[1:]
        return None

    @staticmethod
    def _with(body: list[str], said: str, distractor: str | None, rng: np.random.Generator) -> list[str]:
        body = list(body)
        body.insert(int(rng.integers(0, min(2, len(body)) + 1)), said)  # soon after the lede, as wires do
        if distractor:
            body.insert(int(rng.integers(0, len(body) + 1)), distractor)
        return body


def anonymised(text: str, spans: list[tuple[int, int]], rng: np.random.Generator) -> str:
    """`text` with the actor's mentions replaced by what a witness would call them."""
    out, last = [], 0
    for a, b in sorted(spans):
        out.append(text[last:a])
        members = MEMBERS_NEXT.match(text, b)
        if members:  # "Al Shabaab militants" -> "militants"
            word, last = text[b:members.end()].strip(), members.end()
        else:
            word, last = SEEN_AS[int(rng.integers(len(SEEN_AS)))], b
        before = "".join(out).rstrip(" \t")
        if not before or before[-1] in ".!?\n":
            word = word[0].upper() + word[1:]
        out.append(word)
    out.append(text[last:])
    return "".join(out)


def headline(text: str, rng: np.random.Generator) -> str:
    """A headline written from a paragraph (the lede): its first sentence without the date,
    the coder's tags or anything in brackets, cut at a clause break or after 7-13 words, with
    no closing punctuation. Like a real one it says less than the lede: the reader learns to
    look past it to the lede, instead of learning that sentence 0 is the whole story."""
    first = sentences(text)[0]
    words = re.sub(r"\s*[(\[][^)\]]*[)\]]", "", HEADLINE_DROP.sub("", first, count=1)).split()
    limit = int(rng.integers(*HEADLINE_WORDS))
    if len(words) > limit:
        breaks = [i + 1 for i, w in enumerate(words[:limit]) if w.endswith((",", ";")) and i >= 4]
        words = words[:breaks[-1] if breaks else limit]
        while len(words) > 3 and words[-1].lower().strip(",;") in DANGLING:  # "... an army patrol in the"
            words.pop()
    line = " ".join(words).rstrip(",;:.!? \"'”’")
    return line[:1].upper() + line[1:]


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
    columns = [*rows.columns.difference(["origin", "lede"]), "origin", "lede"]
    if events.empty:
        return pd.DataFrame(columns=columns), set()
    n = int(round(c.share * len(events))) if n_ledes is None else min(n_ledes, len(events))
    ledes = list(rng.choice(events.index.to_numpy(), size=n, replace=False)) if n else []
    used = set(ledes)
    for idx, k in extra.items():
        ledes += [idx] * k
    pool = events["text"].tolist()
    pool_event = events[event_col].tolist() if event_col else [None] * len(pool)
    attribution = None
    if c.attribution and cfg.model.transformer.span_task:
        if not paras["behind"]:
            raise SecnewsError(f"compose.attribution is {c.attribution}, but compose.paragraphs names no "
                               f"attribution_* file with 'behind' templates")
        attribution = Attribution(cfg, rows, paras)
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
        lede_text = lede["text"]
        if attribution is not None:
            lede_text, body = attribution(lede, body, rng)
        text = _article(lede_text, body, rng.random() < c.lede_first)
        if c.headlines and rng.random() < c.headlines:  # no draw when off: old configs compose as before
            text = article_text(headline(lede_text, rng), text)
        # where the lede stands, in paragraphs: what train.lede_attention supervises (paragraphs,
        # not characters, survive the name changes of span_disguise)
        where = (paragraph_of(text, text.find(lede_text)), len(PARAGRAPH_BREAK.findall(lede_text)) + 1)
        rec = {"id": f"composed:{lede['id']}:{j}", "text": text, "split_key": text, "date": lede.get("date"),
               "split": None, "fold": fold, "origin": "composed", "lede": where}
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
            if c.headlines and rng.random() < c.headlines:
                text = article_text(headline(body[0], rng), text)
            rec = {"id": f"composed:none:{fold}:{j}", "text": text, "split_key": text, "date": None, "split": None,
                   "fold": fold, "origin": "composed"}
            rec.update({t: None for t in [*tasks, *coded]})
            rec["relevance"] = "none"
            out.append(rec)
    composed = pd.DataFrame(out, columns=columns)
    log(f"composed {len(composed):,} {fold} articles: {len(ledes):,} around a lede "
        f"({len(ledes) - len(used):,} of them repeats of rare labels), {max(len(composed) - len(ledes), 0):,} with no event"
        + (f"; told with attribution: {attribution.told['behind']:,} name who is behind the attack after the lede, "
           f"{attribution.told['unclaimed']:,} say nobody claimed it" if attribution is not None else ""))
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
