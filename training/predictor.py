"""What every consumer of a model gets from `load(path)`: `predict(texts)` -> one dict per
text with each task's answer, its score, the top-k, an `uncertain` flag and evidence."""
from __future__ import annotations

import re
from typing import Protocol

import numpy as np

from .labels import LabelSpace

_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n\s*\n")


def sentences(text: str) -> list[str]:
    parts = [s.strip() for s in _SENTENCE.split(text or "")]
    return [s for s in parts if s] or [text]


class Backend(Protocol):
    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]: ...


class Predictor:
    def __init__(self, backend: Backend, spaces: dict[str, LabelSpace], manifest: dict, top_k: int = 3,
                 config=None, path=None):
        self.backend, self.spaces, self.manifest, self.top_k = backend, spaces, manifest, top_k
        self.config, self.path = config, path  # the resolved training config and model directory, when loaded

    @property
    def tasks(self) -> list[str]:
        return list(self.spaces)

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        return self.backend.predict_proba(list(texts))

    def predict(self, texts: list[str], evidence: bool = True) -> list[dict]:
        texts = list(texts)
        if not texts:
            return []
        proba = self.predict_proba(texts)
        sents = [sentences(t) for t in texts] if evidence else None
        sent_proba, offsets = None, None
        if evidence:
            flat = [s for ss in sents for s in ss]
            sent_proba = self.backend.predict_proba(flat)
            offsets = np.cumsum([0] + [len(ss) for ss in sents])
        out = []
        for i in range(len(texts)):
            answer = {}
            for name, space in self.spaces.items():
                p = proba[name][i]
                pick = None
                if evidence:
                    lo, hi = offsets[i], offsets[i + 1]
                    pick = lambda j: sents[i][int(np.argmax(sent_proba[name][lo:hi, j]))]
                answer[name] = (self._multi(p, space, pick) if space.type == "multi"
                                else self._single(p, space, pick))
            out.append(answer)
        return out

    def _single(self, p: np.ndarray, space: LabelSpace, pick) -> dict:
        order = np.argsort(-p)[: self.top_k]
        best = int(order[0])
        res = {"label": space.labels[best], "score": round(float(p[best]), 4),
               "top_k": [{"label": space.labels[j], "score": round(float(p[j]), 4)} for j in order],
               "uncertain": bool(p[best] < space.threshold)}
        if space.hierarchical:
            coarse = p @ space.coarse_matrix()
            parent = space.parents[space.labels[best]]
            res["parent"] = parent
            res["parent_score"] = round(float(coarse[space.coarse.index(parent)]), 4)
        if pick:
            res["evidence"] = pick(best)
        return res

    def _multi(self, p: np.ndarray, space: LabelSpace, pick) -> dict:
        decided = space.decide(p)
        chosen = [j for j in np.argsort(-p) if decided[j]]
        labels = []
        for j in chosen:
            item = {"label": space.labels[j], "score": round(float(p[j]), 4)}
            if pick:
                item["evidence"] = pick(j)
            labels.append(item)
        confidence = float(space.set_confidence(p))
        return {"labels": labels, "scores": {l: round(float(s), 4) for l, s in zip(space.labels, p)},
                "uncertain": bool(confidence < space.threshold)}
