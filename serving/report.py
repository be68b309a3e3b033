"""The archive report: one self-contained HTML file about a scored archive (`secnews score`'s
Parquet parts and manifest), so a researcher sees what is in it without writing code.

    secnews report SCORED_DIR --out report.html

Counts per event type and coarse type, per month when the input had dates, top actors and
targets, the share of `uncertain` answers per task, score histograms, the bad rows with
their reasons, and the model and inputs from the manifest. The parts are read one at a
time and only the columns needed, and aggregated as counts (memory does not grow with the
archive); plots are inline SVG; the aggregates are embedded as JSON too
(`<script id="report-data">`), so a program can read the same numbers.
"""
from __future__ import annotations

import html
import io
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from secnews.training.errors import SecnewsError

MANIFEST = "manifest.json"
BINS = np.linspace(0.0, 1.0, 21)
TOP = 25


def aggregate(folder: Path) -> dict:
    """Counts over every part, read column-wise."""
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        raise SecnewsError(f"{folder}: no part-*.parquet files (is this the --out folder of `secnews score`?)")
    names = pq.read_schema(parts[0]).names
    singles = [c[:-len("_uncertain")] for c in names if c.endswith("_uncertain")]
    multi = [t for t in singles if f"{t}_score" not in names]
    singles = [t for t in singles if t not in multi]
    agg = {"rows": 0, "scored": 0, "bad": 0, "reasons": Counter(), "labels": {t: Counter() for t in singles + multi},
           "parents": {t: Counter() for t in singles if f"{t}_parent" in names},
           "uncertain": {t: 0 for t in singles + multi}, "answered": {t: 0 for t in singles + multi},
           "scores": {t: np.zeros(len(BINS) - 1, np.int64) for t in singles}, "months": Counter(),
           "known": Counter(), "decided_by": Counter(), "models": Counter()}
    columns = [c for c in names if c in {"error", "date", "model", "actor_known", "actor_decided_by"}
               or c in singles + multi or c.endswith(("_uncertain", "_score", "_parent"))]
    for p in parts:
        t = pq.read_table(p, columns=columns).to_pydict()
        n = len(t["error"])
        ok = [e is None for e in t["error"]]
        agg["rows"] += n
        agg["scored"] += sum(ok)
        agg["bad"] += n - sum(ok)
        agg["reasons"].update(e for e in t["error"] if e is not None)
        agg["models"].update(m for m, good in zip(t["model"], ok) if good)
        for task in singles + multi:
            values = [v for v, good in zip(t[task], ok) if good]
            agg["answered"][task] += len(values)
            agg["uncertain"][task] += sum(1 for u, good in zip(t[f"{task}_uncertain"], ok) if good and u)
            if task in multi:
                agg["labels"][task].update(label for v in values for label in (v or []))
                agg["labels"][task]["(none)"] += sum(1 for v in values if not v)
            else:
                agg["labels"][task].update(values)
                s = np.array([x for x, good in zip(t[f"{task}_score"], ok) if good and x is not None], float)
                agg["scores"][task] += np.histogram(np.clip(s, 0, 1), BINS)[0]
            if task in agg["parents"]:
                agg["parents"][task].update(v for v, good in zip(t[f"{task}_parent"], ok) if good)
        if "date" in t:
            agg["months"].update(d[:7] for d, good in zip(t["date"], ok) if good and d and len(d) >= 7)
        if "actor_known" in t:
            agg["known"].update(str(k) for k, good in zip(t["actor_known"], ok) if good and k is not None)
            agg["decided_by"].update(d for d, good in zip(t["actor_decided_by"], ok) if good and d)
    return agg


def to_json(agg: dict, manifest: dict) -> dict:
    return {"rows": agg["rows"], "scored": agg["scored"], "bad": agg["bad"],
            "bad_reasons": dict(agg["reasons"].most_common()), "models": dict(agg["models"]),
            "labels": {t: dict(c.most_common()) for t, c in agg["labels"].items()},
            "parents": {t: dict(c.most_common()) for t, c in agg["parents"].items()},
            "uncertain_share": {t: round(agg["uncertain"][t] / agg["answered"][t], 4) if agg["answered"][t] else None
                                for t in agg["uncertain"]},
            "score_histograms": {t: {"bins": BINS.round(2).tolist(), "counts": c.tolist()}
                                 for t, c in agg["scores"].items()},
            "per_month": dict(sorted(agg["months"].items())),
            "actor_known": dict(agg["known"]), "actor_decided_by": dict(agg["decided_by"]),
            "manifest": {k: manifest.get(k) for k in ("model", "model_path", "inputs", "counts", "seconds_this_run",
                                                      "articles_per_second_this_run", "created")
                         if k in manifest}}


# ----------------------------------------------------------------------------- plots

def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def bar_svg(counts: dict, title: str, xlabel: str = "articles") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = list(counts.items())[:TOP][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(items) + 1.1))
    ax.barh([str(k)[:48] for k, _ in items], [v for _, v in items], color="#0072B2")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8)
    return _svg(fig)


def hist_svg(h: dict, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.4))
    edges = np.array(h["bins"])
    ax.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color="#E69F00", edgecolor="#1a1a1a",
           linewidth=0.3)
    ax.set_xlabel("score")
    ax.set_ylabel("articles")
    ax.set_title(title)
    return _svg(fig)


def months_svg(per_month: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    ax.plot(list(per_month), list(per_month.values()), marker="o", color="#009E73")
    ax.set_ylabel("articles")
    ax.set_title("articles per month")
    step = max(1, len(per_month) // 12)
    ax.set_xticks(range(0, len(per_month), step))
    ax.set_xticklabels(list(per_month)[::step], rotation=45, ha="right", fontsize=8)
    return _svg(fig)


# ----------------------------------------------------------------------------- html

def _cell(v) -> str:
    return f"{v:,}" if isinstance(v, int) else html.escape(str(v))


def _table(counts: dict, head: tuple[str, str], total: int | None = None, limit: int = TOP) -> str:
    rows = []
    for k, v in list(counts.items())[:limit]:
        share = f"<td class=n>{100 * v / total:.1f}%</td>" if total and isinstance(v, int) else ""
        rows.append(f"<tr><td>{html.escape(str(k))}</td><td class=n>{_cell(v)}</td>{share}</tr>")
    extra = "<th scope=col>share</th>" if total else ""
    return (f"<table><thead><tr><th scope=col>{head[0]}</th><th scope=col>{head[1]}</th>{extra}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _figure(svg: str, caption: str) -> str:
    return f'<figure role="group" aria-label="{html.escape(caption)}">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'


STYLE = """body{font:15px/1.5 system-ui,sans-serif;color:#1a1a1a;max-width:1100px;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #8a8a8a;margin-top:2rem}
table{border-collapse:collapse;margin:0.5rem 0}th,td{border:1px solid #8a8a8a;padding:0.2rem 0.6rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:0.5rem 0;min-width:0}figure svg{max-width:100%;height:auto}figcaption{color:#4a4a4a;font-size:0.9rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:0.2rem 1rem}
dt{font-weight:600}"""


def render(data: dict, bad_rows: list[dict], folder: Path) -> str:
    m = data["manifest"]
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>secnews report: {html.escape(folder.name)}"
             f"</title><style>{STYLE}</style></head><body><main>",
             f"<h1>Scored archive: {html.escape(str(folder))}</h1>",
             "<dl>",
             f"<dt>rows</dt><dd>{data['rows']:,}</dd><dt>scored</dt><dd>{data['scored']:,}</dd>",
             f"<dt>bad rows</dt><dd>{data['bad']:,}</dd>",
             f"<dt>model</dt><dd>{html.escape(', '.join(data['models']) or str(m.get('model')))}</dd>",
             f"<dt>inputs</dt><dd>{html.escape(', '.join(map(str, m.get('inputs') or [])))}</dd>",
             f"<dt>speed</dt><dd>{m.get('articles_per_second_this_run', '–')} articles/s</dd></dl>"]
    ev = data["labels"].get("event_type")
    if ev:
        parts += ["<h2>Event types</h2><div class=grid>",
                  _figure(bar_svg(ev, "event type (fine)"), "Articles per event sub-type (top 25)"),
                  _table(ev, ("event type", "articles"), data["scored"]), "</div>"]
    for task, counts in data["parents"].items():
        parts += ["<h2>Coarse types</h2><div class=grid>",
                  _figure(bar_svg(counts, f"{task} (coarse)"), f"Articles per coarse {task}"),
                  _table(counts, ("coarse type", "articles"), data["scored"]), "</div>"]
    if data["per_month"]:
        parts += ["<h2>Over time</h2>", _figure(months_svg(data["per_month"]), "Scored articles per month of their date"),
                  _table(data["per_month"], ("month", "articles"), limit=10_000)]
    if "actor" in data["labels"]:
        parts += ["<h2>Top actors</h2><div class=grid>",
                  _figure(bar_svg(data["labels"]["actor"], "attributed actor"), "Articles per attributed actor (top 25)"),
                  _table(data["labels"]["actor"], ("actor", "articles"), data["scored"]), "</div>"]
        if data["actor_decided_by"]:
            parts.append(_table(data["actor_decided_by"], ("actor decided by", "articles"), data["scored"]))
            parts.append(_table({("known actor" if k == "True" else "name read from the text, unknown"): v
                                 for k, v in data["actor_known"].items()}, ("actor name", "articles"), data["scored"]))
    if "target" in data["labels"]:
        parts += ["<h2>Targets</h2><div class=grid>",
                  _figure(bar_svg(data["labels"]["target"], "targets", "articles naming the target"),
                          "Articles per target (an article can have several)"),
                  _table(data["labels"]["target"], ("target", "articles"), data["scored"]), "</div>"]
    for task in [t for t in ("relevance",) if t in data["labels"]]:
        parts += [f"<h2>{task}</h2>", _table(data["labels"][task], (task, "articles"), data["scored"])]
    parts += ["<h2>How sure</h2>",
              _table({t: f"{100 * s:.1f}%" if s is not None else "–" for t, s in data["uncertain_share"].items()},
                     ("task", "answers marked uncertain")), "<div class=grid>"]
    parts += [_figure(hist_svg(h, f"{t} score"), f"Distribution of the {t} answer's score")
              for t, h in data["score_histograms"].items()]
    parts.append("</div>")
    parts += ["<h2>Bad rows</h2>", _table(data["bad_reasons"], ("reason", "rows")) if data["bad_reasons"]
              else "<p>None.</p>"]
    if bad_rows:
        rows = "".join(f"<tr><td>{html.escape(str(r.get('id')))}</td><td>{html.escape(str(r.get('source')))}</td>"
                       f"<td class=n>{r.get('row')}</td><td>{html.escape(str(r.get('reason')))}</td></tr>"
                       for r in bad_rows[:100])
        parts.append("<table><thead><tr><th scope=col>id</th><th scope=col>source</th><th scope=col>row</th>"
                     f"<th scope=col>reason</th></tr></thead><tbody>{rows}</tbody></table>")
    parts.append('<script type="application/json" id="report-data">'
                 + json.dumps(data, ensure_ascii=False).replace("</", "<\\/") + "</script>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def report(folder: str | Path, out: str | Path) -> dict:
    """Write the report of a scored folder to `out` (temporary file, then rename); returns
    the aggregates it shows."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise SecnewsError(f"{folder}: not a folder (give the --out folder of `secnews score`)")
    manifest = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).is_file() else {}
    data = to_json(aggregate(folder), manifest)
    text = render(data, manifest.get("bad_rows") or [], folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return data
