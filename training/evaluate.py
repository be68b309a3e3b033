"""Metrics in the one shape every later step reads (metrics.json), and the plots beside them.

Macro-F1 averages over the labels that occur in the gold or the predictions of the split
(scikit-learn's convention): a label absent from both says nothing about the model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from .labels import LabelSpace


def _per_label(y_true, y_pred, labels: list[str], indices: list[int]) -> dict:
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=indices, zero_division=0)
    return {labels[i]: {"precision": round(float(p[k]), 4), "recall": round(float(r[k]), 4),
                        "f1": round(float(f[k]), 4), "support": int(s[k])} for k, i in enumerate(indices)}


def single_metrics(gold: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    keep = gold >= 0
    gold, pred = gold[keep], pred[keep]
    if len(gold) == 0:
        return {"n": 0}
    present = sorted(set(gold.tolist()) | set(pred.tolist()))
    return {"n": int(len(gold)),
            "macro_f1": round(float(f1_score(gold, pred, labels=present, average="macro", zero_division=0)), 4),
            "micro_f1": round(float(f1_score(gold, pred, labels=present, average="micro", zero_division=0)), 4),
            "accuracy": round(float((gold == pred).mean()), 4),
            "per_label": _per_label(gold, pred, labels, present)}


def multi_metrics(gold: np.ndarray, pred: np.ndarray, mask: np.ndarray, labels: list[str]) -> dict:
    gold, pred = gold[mask].astype(int), pred[mask].astype(int)
    if len(gold) == 0:
        return {"n": 0}
    present = [j for j in range(len(labels)) if gold[:, j].any() or pred[:, j].any()]
    out = {"n": int(len(gold)),
           "macro_f1": round(float(f1_score(gold[:, present], pred[:, present], average="macro", zero_division=0)), 4)
           if present else 0.0,
           "micro_f1": round(float(f1_score(gold, pred, average="micro", zero_division=0)), 4),
           "exact_match": round(float((gold == pred).all(axis=1).mean()), 4),
           "per_label": {}}
    for j in present:
        p, r, f, _ = precision_recall_fscore_support(gold[:, j], pred[:, j], average="binary", zero_division=0)
        out["per_label"][labels[j]] = {"precision": round(float(p), 4), "recall": round(float(r), 4),
                                       "f1": round(float(f), 4), "support": int(gold[:, j].sum())}
    return out


def task_metrics(space: LabelSpace, gold: dict[str, np.ndarray], proba: np.ndarray) -> dict:
    if space.type == "multi":
        return multi_metrics(gold["y"], space.decide(proba), gold["mask"], space.labels)
    out = single_metrics(gold["fine"], proba.argmax(axis=1), space.labels)
    if space.hierarchical:
        coarse_pred = (proba @ space.coarse_matrix()).argmax(axis=1)
        out["coarse"] = single_metrics(gold["coarse"], coarse_pred, space.coarse)
    return out


def compute_metrics(spaces: dict[str, LabelSpace], gold: dict[str, dict], proba: dict[str, np.ndarray]) -> dict:
    return {name: task_metrics(space, gold[name], proba[name]) for name, space in spaces.items()}


def summary_lines(tasks: dict) -> list[str]:
    lines = []
    for name, m in tasks.items():
        if not m.get("n"):
            lines.append(f"{name:>14}: no labelled rows in this split")
            continue
        lines.append(f"{name:>14}: macro-F1 {m['macro_f1']:.4f}  micro-F1 {m['micro_f1']:.4f}  (n={m['n']:,})")
        if m.get("coarse", {}).get("n"):
            c = m["coarse"]
            lines.append(f"{name + ' coarse':>14}: macro-F1 {c['macro_f1']:.4f}  micro-F1 {c['micro_f1']:.4f}")
    return lines


# ----------------------------------------------------------------------------- plots

def write_plots(folder: Path, spaces: dict[str, LabelSpace], gold: dict[str, dict],
                proba: dict[str, np.ndarray], tasks: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, space in spaces.items():
        m = tasks[name]
        if not m.get("n"):
            continue
        per = sorted(m["per_label"].items(), key=lambda kv: kv[1]["f1"])
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(per) + 1.2))
        ax.barh([k for k, _ in per], [v["f1"] for _, v in per], color="#4c72b0")
        ax.set_xlim(0, 1)
        ax.set_xlabel("F1 on the test split")
        ax.set_title(f"{name}: per-label F1 (macro {m['macro_f1']:.3f})")
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        fname = f"f1_{name}.png"
        fig.savefig(folder / fname, dpi=100)
        plt.close(fig)
        written.append(fname)
        if space.type == "single":
            levels = [("", gold[name]["fine"], proba[name].argmax(1), space.labels)]
            if space.hierarchical:
                levels.append(("_coarse", gold[name]["coarse"], (proba[name] @ space.coarse_matrix()).argmax(1),
                               space.coarse))
            for suffix, g, p, labels in levels:
                keep = g >= 0
                present = sorted(set(g[keep].tolist()) | set(p[keep].tolist()))
                if not present:
                    continue
                cm = confusion_matrix(g[keep], p[keep], labels=present)
                norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
                size = 0.32 * len(present) + 2.5
                fig, ax = plt.subplots(figsize=(size + 1, size))
                im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
                names = [labels[i][:28] for i in present]
                ax.set_xticks(range(len(present)), names, rotation=90, fontsize=7)
                ax.set_yticks(range(len(present)), names, fontsize=7)
                ax.set_xlabel("predicted")
                ax.set_ylabel("gold")
                ax.set_title(f"{name}{suffix.replace('_', ' ')}: confusion (row-normalised)")
                fig.colorbar(im, fraction=0.03)
                fig.tight_layout()
                fname = f"confusion_{name}{suffix}.png"
                fig.savefig(folder / fname, dpi=100)
                plt.close(fig)
                written.append(fname)
    return written


# ----------------------------------------------------------------------------- abstention

def choose_threshold(confidence: np.ndarray, correct: np.ndarray, precision: float) -> float:
    """The lowest score t such that the answers scoring >= t are right at least `precision`
    of the time (0 when all of them already are; above every score when none reach it)."""
    if len(confidence) == 0:
        return 0.0
    order = np.argsort(-confidence)
    hits = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(hits >= precision)
    if len(ok) == 0:
        return float(min(1.0, confidence.max() + 1e-6))
    return 0.0 if ok[-1] == len(order) - 1 else float(confidence[order][ok[-1]])


def answer_confidence(space: LabelSpace, gold: dict[str, np.ndarray], proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per labelled row: the answer's score (as the predictor reports it) and whether it is right."""
    if space.type == "multi":
        rows = gold["mask"]
        p = proba[rows]
        return space.set_confidence(p), (space.decide(p) == gold["y"][rows].astype(bool)).all(axis=1)
    rows = gold["fine"] >= 0
    return proba[rows].max(axis=1), proba[rows].argmax(axis=1) == gold["fine"][rows]


def choose_cutoffs(y: np.ndarray, proba: np.ndarray, min_positives: int) -> list[float]:
    """Per label, the decision cutoff that maximises its F1 on validation rows; labels with
    fewer than `min_positives` positives keep 0.5 (too few to tune on without overfitting)."""
    cutoffs = []
    for j in range(y.shape[1]):
        pos = y[:, j] > 0
        if pos.sum() < min_positives:
            cutoffs.append(0.5)
            continue
        order = np.argsort(-proba[:, j])
        tp = np.cumsum(pos[order])
        f1 = 2 * tp / (np.arange(1, len(order) + 1) + pos.sum())
        k = int(np.argmax(f1))
        # halfway to the next score down, so the cutoff does not sit on a validation score
        lo = proba[order[k + 1], j] if k + 1 < len(order) else 0.0
        cutoffs.append(round(float((proba[order[k], j] + lo) / 2), 4))
    return cutoffs
