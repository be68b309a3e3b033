"""Label spaces: which labels a task has, and how gold values become arrays."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .config import TaskConfig
from .errors import SecnewsError
from .taxonomy import read_descriptions, read_hierarchy


@dataclass
class LabelSpace:
    name: str
    type: str  # single | multi
    labels: list[str]
    parents: dict[str, str] = field(default_factory=dict)  # fine -> coarse, for hierarchical tasks
    threshold: float = 0.0
    # multi-label tasks: per-label decision cutoffs chosen on validation (None: 0.5 for every label)
    cutoffs: list[float] | None = None
    # logits are divided by it before softmax/sigmoid: fitted on validation (calibration)
    temperature: float = 1.0
    # label -> what it means (the codebook's definition): initialises the head of a transformer
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def coarse(self) -> list[str]:
        return list(dict.fromkeys(self.parents[l] for l in self.labels)) if self.parents else []

    @property
    def hierarchical(self) -> bool:
        return bool(self.parents)

    def coarse_matrix(self) -> np.ndarray:
        """(n_fine, n_coarse) 0/1 matrix: fine probabilities @ it = coarse probabilities."""
        coarse = self.coarse
        m = np.zeros((len(self.labels), len(coarse)), dtype=np.float32)
        for i, label in enumerate(self.labels):
            m[i, coarse.index(self.parents[label])] = 1.0
        return m

    def cutoff_array(self) -> np.ndarray:
        return np.asarray(self.cutoffs if self.cutoffs else [0.5] * len(self.labels), dtype=np.float32)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Multi-label decisions: each label's probability against its own cutoff."""
        return proba >= self.cutoff_array()

    def set_confidence(self, proba: np.ndarray) -> np.ndarray:
        """How sure a multi-label answer is: per label, the distance from its cutoff rescaled
        to [0.5, 1] (max(p, 1 - p) when the cutoff is 0.5); the set's is its least sure label's."""
        c = self.cutoff_array()
        above = 0.5 + 0.5 * (proba - c) / np.maximum(1 - c, 1e-6)
        below = 0.5 + 0.5 * (c - proba) / np.maximum(c, 1e-6)
        per_label = np.where(proba >= c, above, below)
        return per_label.min(axis=-1) if per_label.shape[-1] else np.ones(per_label.shape[:-1])

    def knows(self, value) -> bool:
        if value is None:
            return True
        if self.type == "multi":
            return all(v in self.labels for v in value)
        return value in self.labels or value in self.coarse

    def encode(self, values: list) -> dict[str, np.ndarray]:
        """Gold values -> arrays. Single: `fine` (index or -1) and, with a hierarchy,
        `coarse` (index or -1; a coarse-only row has fine -1). Multi: `y` (n, L) and `mask`."""
        index = {l: i for i, l in enumerate(self.labels)}
        if self.type == "multi":
            y = np.zeros((len(values), len(self.labels)), dtype=np.float32)
            mask = np.zeros(len(values), dtype=bool)
            for r, v in enumerate(values):
                if v is not None:
                    mask[r] = True
                    for label in v:
                        y[r, index[label]] = 1.0
            return {"y": y, "mask": mask}
        fine = np.array([index.get(v, -1) if v is not None else -1 for v in values], dtype=np.int64)
        out = {"fine": fine}
        if self.parents:
            cindex = {c: i for i, c in enumerate(self.coarse)}
            out["coarse"] = np.array(
                [-1 if v is None else cindex[self.parents[v]] if v in index else cindex.get(v, -1) for v in values],
                dtype=np.int64)
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "labels": self.labels,
                "parents": self.parents, "threshold": self.threshold,
                **({"cutoffs": self.cutoffs} if self.cutoffs else {}),
                **({"temperature": self.temperature} if self.temperature != 1.0 else {}),
                **({"descriptions": self.descriptions} if self.descriptions else {})}

    @classmethod
    def from_dict(cls, d: dict) -> "LabelSpace":
        return cls(d["name"], d["type"], list(d["labels"]), dict(d.get("parents") or {}),
                   float(d.get("threshold", 0.0)), [float(c) for c in d["cutoffs"]] if d.get("cutoffs") else None,
                   float(d.get("temperature", 1.0)), dict(d.get("descriptions") or {}))


def build_space(task: TaskConfig, train_values: list) -> LabelSpace:
    """The task's label space.

    Fixed lists and hierarchies come from config; `from_data` takes the labels seen in
    training at least `min_count` times (the `max_labels` most frequent, if set)."""
    parents = {}
    descriptions = read_descriptions(task.descriptions) if task.descriptions else {}
    if task.hierarchy:
        tree = read_hierarchy(task.hierarchy)
        parents = {child: parent for parent, children in tree.items() for child in children}
    if isinstance(task.labels, list):
        labels = list(task.labels)
        missing = [l for l in labels if parents and l not in parents]
        if missing:
            raise SecnewsError(f"tasks.{task.name}: labels {missing} are not in the hierarchy {task.hierarchy}")
        return LabelSpace(task.name, task.type, labels, {l: parents[l] for l in labels} if parents else {},
                          task.threshold, descriptions=descriptions)
    if task.labels == "hierarchy":
        return LabelSpace(task.name, task.type, list(parents), parents, task.threshold, descriptions=descriptions)
    counts: Counter = Counter()
    for v in train_values:
        if v is None:
            continue
        counts.update(v if task.type == "multi" else [v])
    frequent = [l for l, c in counts.most_common(task.max_labels) if c >= task.min_count]
    kept = sorted(frequent)
    if task.other_label and len(frequent) < len(counts) and task.other_label not in kept:
        kept.append(task.other_label)  # the rows of the long tail need a label to fold into
    return LabelSpace(task.name, task.type, kept, {}, task.threshold)
