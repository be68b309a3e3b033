"""TF-IDF (word + character n-grams) + logistic regression, one classifier per task.

Hierarchical tasks get two classifiers: the parent level, trained on every row that has
either level (coarse-only rows included), and the sub-type within its parent, trained on
the rows that carry a sub-type. p(sub-type) = p(parent) * p(sub-type | parent), so the
two levels always agree and coarse-only rows train the coarse level, not a guessed child.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
import skops.io as sio
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from tqdm import tqdm

from .config import TfidfConfig
from .errors import SecnewsError
from .labels import LabelSpace

WEIGHTS = "model.skops"
# the only types a model.skops file may contain; anything else is refused on load
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")


class _Head:
    """A logistic regression over the classes seen in training, scattered into a fixed
    label space; a class absent from training gets probability 0. With a single class
    seen, it predicts that class."""

    def __init__(self, n_labels: int):
        self.n_labels = n_labels
        self.clf: LogisticRegression | None = None
        self.classes = np.zeros(0, dtype=np.int64)

    def fit(self, X, y: np.ndarray, cfg: TfidfConfig, seed: int) -> "_Head":
        self.classes = np.unique(y)
        if len(self.classes) > 1:
            self.clf = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, random_state=seed,
                                          class_weight=None if cfg.class_weight == "none" else "balanced")
            self.clf.fit(X, y)
            # float32 weights halve the file; the features are float32 already
            self.clf.coef_ = self.clf.coef_.astype(np.float32)
            self.clf.intercept_ = self.clf.intercept_.astype(np.float32)
            self.classes = self.clf.classes_.astype(np.int64)
        return self

    def proba(self, X) -> np.ndarray:
        out = np.zeros((X.shape[0], self.n_labels), dtype=np.float32)
        if len(self.classes) == 0:
            return out
        out[:, self.classes] = self.clf.predict_proba(X) if self.clf is not None else 1.0
        return out

    def state(self) -> dict:
        return {"n_labels": self.n_labels, "clf": self.clf, "classes": self.classes}

    @classmethod
    def from_state(cls, s: dict) -> "_Head":
        head = cls(int(s["n_labels"]))
        head.clf, head.classes = s["clf"], np.asarray(s["classes"], dtype=np.int64)
        return head


class TfidfModel:
    def __init__(self, cfg: TfidfConfig, spaces: dict[str, LabelSpace]):
        self.cfg, self.spaces = cfg, spaces
        self.features: FeatureUnion | None = None
        self.heads: dict[str, dict] = {}

    def _vectorizer(self) -> FeatureUnion:
        c = self.cfg
        return FeatureUnion([
            ("word", TfidfVectorizer(ngram_range=tuple(c.word_ngrams), min_df=c.min_df, max_features=c.max_features,
                                     sublinear_tf=True, lowercase=True, dtype=np.float32)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(c.char_ngrams), min_df=c.min_df,
                                     max_features=c.max_features, sublinear_tf=True, lowercase=True,
                                     dtype=np.float32)),
        ])

    def fit(self, texts: list[str], gold: dict[str, dict[str, np.ndarray]], seed: int = 0,
            log=lambda m: None) -> "TfidfModel":
        self.features = self._vectorizer()
        X = sp.csr_matrix(self.features.fit_transform(texts))
        for _, vec in self.features.transformer_list:
            # numpy int64 values make skops write one array per n-gram (minutes for 200k);
            # plain ints are stored as one dict
            vec.vocabulary_ = {term: int(i) for term, i in vec.vocabulary_.items()}
        log(f"features: {X.shape[1]:,} n-grams over {X.shape[0]:,} texts")
        jobs = []  # (task, head key, rows, y, n_labels): independent fits, run in parallel
        for name, space in self.spaces.items():
            g = gold[name]
            if space.type == "multi":
                rows = np.flatnonzero(g["mask"])
                jobs += [(name, j, rows, g["y"][rows, j].astype(np.int64), 2) for j in range(len(space.labels))]
                log(f"  {name}: {len(space.labels)} binary classifiers on {len(rows):,} rows")
                continue
            if space.hierarchical:
                crow = np.flatnonzero(g["coarse"] >= 0)
                jobs.append((name, "coarse", crow, g["coarse"][crow], len(space.coarse)))
                log(f"  {name} (coarse): {len(space.coarse)} labels on {len(crow):,} rows")
            rows = np.flatnonzero(g["fine"] >= 0)
            jobs.append((name, "fine", rows, g["fine"][rows], len(space.labels)))
            log(f"  {name}: {len(space.labels)} labels on {len(rows):,} rows")
        # the largest fits first, so the pool is not left waiting on one long job at the end
        jobs.sort(key=lambda j: -len(j[2]) * j[4])
        results = Parallel(n_jobs=self.cfg.n_jobs, return_as="generator")(
            delayed(_Head(n).fit)(X[rows], y, self.cfg, seed) for _, _, rows, y, n in jobs)
        heads = list(tqdm(results, total=len(jobs), desc="fitting classifiers", unit="clf", mininterval=2))
        self.heads = {name: ({"labels": [None] * len(space.labels)} if space.type == "multi" else {})
                      for name, space in self.spaces.items()}
        for (name, key, *_), head in zip(jobs, heads):
            if isinstance(key, int):
                self.heads[name]["labels"][key] = head
            else:
                self.heads[name][key] = head
        return self

    def set_batch_size(self, windows: int) -> None:
        """A TF-IDF model has no forward pass to batch: nothing to set."""

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Per task (n, n_labels): softmax-like rows for single-label, independent for multi."""
        X = self.features.transform(texts)
        out = {}
        for name, space in self.spaces.items():
            heads = self.heads[name]
            if space.type == "multi":
                out[name] = np.stack([h.proba(X)[:, 1] for h in heads["labels"]], axis=1) \
                    if heads["labels"] else np.zeros((len(texts), 0), np.float32)
                continue
            fine = heads["fine"].proba(X)
            if space.hierarchical:
                out[name] = _within_parent(fine, heads["coarse"].proba(X), space.coarse_matrix())
            else:
                out[name] = fine
        return out

    def save(self, folder: Path) -> None:
        state = {"features": self.features,
                 "heads": {n: {k: ([h.state() for h in v] if isinstance(v, list) else v.state()) for k, v in hs.items()}
                           for n, hs in self.heads.items()}}
        sio.dump(state, folder / WEIGHTS)

    @classmethod
    def load(cls, folder: Path, cfg: TfidfConfig, spaces: dict[str, LabelSpace]) -> "TfidfModel":
        path = folder / WEIGHTS
        untrusted = sio.get_untrusted_types(file=path)
        refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if refused:
            raise SecnewsError(f"{path}: refuses to load types outside scikit-learn/numpy/scipy: {refused}")
        state = sio.load(path, trusted=untrusted)
        model = cls(cfg, spaces)
        model.features = state["features"]
        model.heads = {n: {k: ([_Head.from_state(s) for s in v] if isinstance(v, list) else _Head.from_state(v))
                           for k, v in hs.items()} for n, hs in state["heads"].items()}
        return model


def _within_parent(fine: np.ndarray, coarse: np.ndarray, member: np.ndarray) -> np.ndarray:
    """p(child) = p(parent) * p(child | parent); a parent whose children had no training
    rows spreads its mass evenly over them (the coarse level stays right)."""
    parent_mass = fine @ member  # (n, n_coarse)
    empty = parent_mass <= 1e-12
    counts = member.sum(axis=0)
    conditional = np.where(empty @ member.T > 0, 1.0 / (member @ counts)[None, :],
                           fine / np.maximum(parent_mass @ member.T, 1e-12))
    return (conditional * (coarse @ member.T)).astype(np.float32)
