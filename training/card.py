"""The model card: README.md of a model directory, rendered from its manifest and metrics."""
from __future__ import annotations

from pathlib import Path


def _table(per_label: dict) -> list[str]:
    rows = ["| label | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for label, m in sorted(per_label.items(), key=lambda kv: -kv[1]["support"]):
        rows.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return rows


def render_card(name: str, manifest: dict, metrics: dict, plots: list[str]) -> str:
    data = manifest["data"]
    lines = [f"# {name}", "",
             f"A secnews **{manifest['kind']}** model: it labels security news with "
             + ", ".join(f"`{t['name']}`" for t in manifest["tasks"]) + ".", "",
             "## Training data", "",
             f"- format: `{data['format']}`; files: " + ", ".join(f"`{f.get('name') or Path(f['path']).name}`" for f in data["files"]),
             f"- split: `{metrics['split']['method']}` — {metrics['n_train']:,} training rows "
             f"({metrics['split']['n_val']:,} of them validation), {metrics['n_test']:,} test rows",
             "- validation findings: " + (", ".join(f"{f['check']} {f['count']:,}" for f in data["validation"]["findings"])
                                           or "none"), "",
             "## Scores on the test split", "",
             "| task | macro-F1 | micro-F1 | n |", "| --- | ---: | ---: | ---: |"]
    for task, m in metrics["tasks"].items():
        if m.get("n"):
            lines.append(f"| {task} | {m['macro_f1']:.4f} | {m['micro_f1']:.4f} | {m['n']:,} |")
            if m.get("coarse", {}).get("n"):
                c = m["coarse"]
                lines.append(f"| {task} (coarse) | {c['macro_f1']:.4f} | {c['micro_f1']:.4f} | {c['n']:,} |")
    lines.append("")
    for t in manifest["tasks"]:
        m = metrics["tasks"][t["name"]]
        lines += [f"### {t['name']} ({t['type']}-label, {len(t['labels'])} labels, "
                  f"uncertain below {t['threshold']})", ""]
        if m.get("n"):
            lines += _table(m["per_label"]) + [""]
        lines += [f"![{p}]({p})" for p in plots if p.endswith(f"_{t['name']}.png") or f"_{t['name']}_" in p] + [""]
    lines += ["## Limits", "",
              "- Scores come from the test split of the data above; text that differs from it in style "
              "(e.g. full news articles versus coders' notes) will score lower.",
              "- Labels absent from training are never predicted.", "",
              "## Versions", "", "```", *(f"{k} {v}" for k, v in manifest["versions"].items()), "```", ""]
    return "\n".join(lines)
