"""The model object `secnews.load(path)` returns: callable on one article, `predict(texts)`
-> one typed answer per text (training/answers.py: each task's label, score, top-k,
`uncertain` flag and evidence), `answers(texts)` the same as plain JSON-ready dicts (what the
service and the benchmarks format), `predict_proba(texts)`, `.tasks`, `.labels(task)`,
`.metadata`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from .answers import ArticleAnswer
from .errors import SecnewsError
from .labels import LabelSpace
from .linking import ActorLinker
from .sentences import sentences


class Backend(Protocol):
    """What a model kind implements (baseline.TfidfModel, transformer.TransformerBackend);
    modeldir.KINDS names them."""

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]: ...

    def save(self, folder: Path) -> None: ...

    def set_batch_size(self, windows: int) -> None: ...


class Predictor:
    def __init__(self, backend: Backend, spaces: dict[str, LabelSpace], manifest: dict, top_k: int = 3,
                 config=None, path=None):
        self.backend, self.spaces, self.manifest, self.top_k = backend, spaces, manifest, top_k
        self.config, self.path = config, path  # the resolved training config and model directory, when loaded
        self.span_task = getattr(getattr(backend, "cfg", None), "span_task", None)
        self.linker = ActorLinker.for_model(path, config, spaces.get(self.span_task)) if self.span_task else None

    @property
    def tasks(self) -> list[str]:
        return list(self.spaces)

    def labels(self, task: str) -> list[str]:
        if task not in self.spaces:
            raise SecnewsError(f"{task!r} is not a task of this model; tasks: {', '.join(self.spaces)}")
        return list(self.spaces[task].labels)

    @property
    def metadata(self) -> dict:
        """Name, kind, creation time, tasks and their labels, test macro-F1 and library versions."""
        m = self.manifest
        out = {"name": m.get("name"), "kind": m.get("kind"), "created": m.get("created"), "parent": m.get("parent"),
               "tasks": {n: {"type": s.type, "labels": s.labels, **({"parents": s.coarse} if s.parents else {})}
                         for n, s in self.spaces.items()},
               "versions": m.get("versions", {})}
        metrics = Path(self.path) / "metrics.json" if self.path else None
        if metrics is not None and metrics.is_file():
            tasks = json.loads(metrics.read_text())["tasks"]
            out["macro_f1"] = {t: v.get("macro_f1") for t, v in tasks.items()}
        return out

    def __call__(self, text: str) -> ArticleAnswer:
        if not isinstance(text, str):
            raise SecnewsError(f"expected one article as a string, found {type(text).__name__}; "
                               "predict([...]) takes a list")
        return self.predict([text])[0]

    def predict(self, texts: list[str], evidence: bool = True) -> list[ArticleAnswer]:
        """One typed answer per text."""
        return [ArticleAnswer(**a) for a in self.answers(texts, evidence)]

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        return self.backend.predict_proba(list(texts))

    def set_batch_size(self, windows: int) -> None:
        """Token windows per forward pass (a transformer's; a TF-IDF model has none)."""
        self.backend.set_batch_size(windows)

    def read(self, texts: list[str]) -> tuple[dict[str, np.ndarray], list[dict] | None]:
        """Probabilities of a batch and, for a model with an actor span head, the actor answer
        as `predict` gives it (ActorLinker.answer, without evidence): `known`, `decided_by`
        and, where the span head, the places or the unclaimed rule decided, its `label`,
        `score`, `uncertain` (and `span`). What the batch scorer writes."""
        if not getattr(self.backend, "reads_articles", False):
            return self.predict_proba(texts), None
        proba, _, spans, names = self.backend.read(list(texts), evidence=False, names=bool(self.span_task))
        if not self.span_task:
            return proba, None
        space, p = self.spaces[self.span_task], proba[self.span_task]
        decided = self.decide({k: proba[k] for k in (self.span_task, "event_type") if k in proba})
        d = decided[self.span_task]
        closed = [{"label": space.labels[int(best)], "score": round(float(score), 4), "uncertain": bool(unsure)}
                  for best, score, unsure in zip(d["best"], d["score"], d["uncertain"])]
        events = self._events(decided, len(texts))
        return proba, [self.linker.answer(closed[i], text, names[i], spans[i], False, p[i], events[i])
                       for i, text in enumerate(texts)]

    def _events(self, decided: dict[str, dict[str, np.ndarray]], n: int) -> list[dict | None]:
        """Each article's event answer, from `decide`'s arrays, as the linker reads it (`label`,
        `score`, `uncertain`); None where the model has no single-label event task."""
        space, d = self.spaces.get("event_type"), decided.get("event_type")
        if space is None or d is None or "best" not in d:
            return [None] * n
        return [{"label": space.labels[int(b)], "score": float(s), "uncertain": bool(u)}
                for b, s, u in zip(d["best"], d["score"], d["uncertain"])]

    def decide(self, proba: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """The answers of a batch as arrays, one call per task (what `predict` formats and the
        batch scorer writes): single-label `best`, `score`, `uncertain` and, with a hierarchy,
        `parent` and `parent_score`; multi-label `chosen` (n, L) and `uncertain`. Only the
        tasks `proba` holds."""
        out = {}
        for name, space in self.spaces.items():
            if name not in proba:
                continue
            p = proba[name]
            if space.type == "multi":
                out[name] = {"chosen": space.decide(p), "uncertain": space.set_confidence(p) < space.threshold}
                continue
            best = p.argmax(axis=1)
            score = p[np.arange(len(p)), best]
            d = {"best": best, "score": score, "uncertain": score < space.threshold}
            if space.hierarchical:
                member = space.coarse_matrix()
                parent = member[best].argmax(axis=1)
                d["parent"] = parent
                d["parent_score"] = (p @ member)[np.arange(len(p)), parent]
            out[name] = d
        return out

    def answers(self, texts: list[str], evidence: bool = True) -> list[dict]:
        """`predict`'s answers as plain dicts (JSON-ready)."""
        if isinstance(texts, str):
            raise SecnewsError("expected a list of articles, found one string; call the model on it instead")
        texts = list(texts)
        if not texts:
            return []
        names = None
        if getattr(self.backend, "reads_articles", False):
            # the article reader scores every sentence (and the actor's name) in the same forward pass
            proba, best, spans, names = self.backend.read(texts, evidence=evidence)
            pick_of = ((lambda i, name: (lambda j: texts[i][slice(*spans[i][int(best[name][i, j])])])) if evidence
                       else (lambda i, name: None))
        else:
            proba = self.predict_proba(texts)
            pick_of = self._sentence_pass(texts) if evidence else (lambda i, name: None)
        decided = self.decide(proba)
        no_event = self._no_event(decided)
        events = self._events(decided, len(texts)) if names is not None else None
        out = []
        for i in range(len(texts)):
            answer = {}
            for name, space in self.spaces.items():
                p, d = proba[name][i], decided[name]
                pick = pick_of(i, name)
                answer[name] = (self._multi(p, space, d["chosen"][i], d["uncertain"][i], pick) if space.type == "multi"
                                else self._single(p, space, {k: v[i] for k, v in d.items()}, pick))
                if names is not None and name == self.span_task:
                    event = events[i] and {**events[i], "evidence": answer.get("event_type", {}).get("evidence")}
                    answer[name] = self.linker.answer(answer[name], texts[i], names[i], spans[i], evidence, p, event)
                if no_event is not None and no_event[i] and name != "relevance":
                    answer[name]["uncertain"] = True  # nothing codable was reported: no answer is sure
            out.append(answer)
        return out

    def _no_event(self, decided: dict) -> np.ndarray | None:
        """Per article, whether the `relevance` task (when the model has one) says no codable event."""
        space = self.spaces.get("relevance")
        if space is None or "none" not in space.labels:
            return None
        return decided["relevance"]["best"] == space.labels.index("none")

    def _sentence_pass(self, texts: list[str]):
        """Evidence for a model without the article reader: every sentence scored on its own."""
        sents = [sentences(t) for t in texts]
        sent_proba = self.backend.predict_proba([s for ss in sents for s in ss])
        offsets = np.cumsum([0] + [len(ss) for ss in sents])
        return lambda i, name: (lambda j: sents[i][int(np.argmax(sent_proba[name][offsets[i]:offsets[i + 1], j]))])

    def _single(self, p: np.ndarray, space: LabelSpace, d: dict, pick) -> dict:
        best = int(d["best"])
        others = [int(j) for j in np.argsort(-p, kind="stable") if j != best][: self.top_k - 1]
        res = {"label": space.labels[best], "score": round(float(d["score"]), 4),
               "top_k": [{"label": space.labels[j], "score": round(float(p[j]), 4)} for j in [best] + others],
               "uncertain": bool(d["uncertain"])}
        if space.hierarchical:
            res["parent"] = space.coarse[int(d["parent"])]
            res["parent_score"] = round(float(d["parent_score"]), 4)
        if pick:
            res["evidence"] = pick(best)
        return res

    def _multi(self, p: np.ndarray, space: LabelSpace, chosen: np.ndarray, uncertain: bool, pick) -> dict:
        labels = []
        for j in np.argsort(-p, kind="stable"):
            if chosen[j]:
                item = {"label": space.labels[j], "score": round(float(p[j]), 4)}
                if pick:
                    item["evidence"] = pick(j)
                labels.append(item)
        return {"labels": labels, "scores": {l: round(float(s), 4) for l, s in zip(space.labels, p)},
                "uncertain": bool(uncertain)}
