"""Splits are grouped by text: every row with the same (stripped, lower-cased) text lands
on the same side, so a note that ACLED repeats across events cannot leak into the test set."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .config import SplitConfig
from .data import DataError

# values of a source's own `split` column (MUC-3/4: dev, tst1..tst4)
TRAIN_NAMES = {"train", "dev"}
VAL_NAMES = {"val", "valid", "validation"}


def _hash(text: str, salt: str = "") -> int:
    return int(hashlib.sha1((salt + text.strip().lower()).encode()).hexdigest(), 16)


def _named(value: str) -> str:
    v = value.strip().lower()
    return "train" if v in TRAIN_NAMES else "val" if v in VAL_NAMES else "test"


def assign_split(df: pd.DataFrame, cfg: SplitConfig) -> np.ndarray:
    """'train' | 'val' | 'test' for each row."""
    keys = df["split_key"].fillna("").astype(str).tolist()
    if cfg.method == "standard":
        # the shared data's definition: test iff sha1(text.strip().lower()) % 5 == 0,
        # unless the source carries its own split column
        named = df["split"].tolist() if "split" in df.columns else [None] * len(df)
        side = np.array([_named(n) if isinstance(n, str) and n.strip() else ("test" if _hash(k) % 5 == 0 else "train")
                         for k, n in zip(keys, named)], dtype=object)
    elif cfg.method == "random":
        cut = int(cfg.test_fraction * 10_000)
        side = np.array(["test" if _hash(k, f"test{cfg.seed}:") % 10_000 < cut else "train" for k in keys], dtype=object)
    else:
        dates = pd.to_datetime(df["date"], errors="coerce")
        if dates.isna().any():
            bad = df.loc[dates.isna(), "id"].head(3).tolist()
            raise DataError(f"split.method temporal: {int(dates.isna().sum())} rows have no readable date "
                            f"(e.g. ids {bad}); expected YYYY-MM-DD in the 'date' column")
        side = np.where(dates >= pd.Timestamp(cfg.cutoff), "test", "train").astype(object)
    # validation comes out of train, grouped by text with its own salt
    cut = int(cfg.val_fraction * 10_000)
    for i, k in enumerate(keys):
        if side[i] == "train" and _hash(k, f"val{cfg.seed}:") % 10_000 < cut:
            side[i] = "val"
    return side
