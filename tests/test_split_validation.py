import hashlib

import numpy as np
import pandas as pd
import pytest

from secnews.training.config import SplitConfig, TaskConfig
from secnews.training.data import DataError
from secnews.training.labels import LabelSpace, build_space
from secnews.training.split import assign_split
from secnews.training.validation import validate


def frame(texts, **cols):
    n = len(texts)
    return pd.DataFrame({"id": [f"r{i}" for i in range(n)], "text": texts, "split_key": texts,
                         "date": cols.pop("date", [None] * n), "split": cols.pop("split", [None] * n), **cols},
                        dtype=object)


TEXTS = [f"Report number {i} about an incident in district {i % 17}." for i in range(400)]


def test_standard_split_is_the_shared_rule():
    side = assign_split(frame(TEXTS), SplitConfig(val_fraction=0.0))
    expected = ["test" if int(hashlib.sha1(t.strip().lower().encode()).hexdigest(), 16) % 5 == 0 else "train"
                for t in TEXTS]
    assert side.tolist() == expected


def test_split_is_deterministic_and_grouped_by_text():
    texts = TEXTS + [TEXTS[0].upper() + "  ", TEXTS[1]]  # the same note again, differently cased
    for cfg in (SplitConfig(), SplitConfig(method="random", seed=3)):
        a, b = assign_split(frame(texts), cfg), assign_split(frame(texts), cfg)
        assert a.tolist() == b.tolist()
        assert a[400] == a[0] and a[401] == a[1]
        assert {"train", "val", "test"} == set(a)
    assert 0.04 < (assign_split(frame(TEXTS), SplitConfig()) == "val").mean() < 0.13  # 10% of the 80% train side


def test_random_split_fraction_and_seed():
    a = assign_split(frame(TEXTS), SplitConfig(method="random", test_fraction=0.3, seed=1, val_fraction=0))
    b = assign_split(frame(TEXTS), SplitConfig(method="random", test_fraction=0.3, seed=2, val_fraction=0))
    assert 0.22 < (a == "test").mean() < 0.38 and a.tolist() != b.tolist()


def test_named_split_column_wins():
    side = assign_split(frame(["a", "b", "c"], split=["dev", "tst2", None]), SplitConfig(val_fraction=0))
    assert side[0] == "train" and side[1] == "test"


def test_temporal_split():
    df = frame(["a", "b", "c"], date=["2019-05-01", "2020-01-01", "2023-02-02"])
    side = assign_split(df, SplitConfig(method="temporal", cutoff="2020-01-01", val_fraction=0))
    assert side.tolist() == ["train", "test", "test"]
    with pytest.raises(DataError, match="1 rows have no readable date"):
        assign_split(frame(["a", "b"], date=["2019-05-01", None]), SplitConfig(method="temporal", cutoff="2020-01-01"))


def test_validation_findings_and_fixes():
    event = TaskConfig(name="event_type", labels=["Armed clash", "Attack"])
    actor = TaskConfig(name="actor", min_count=2, other_label="Other")
    texts = ["Gunmen attacked a village.", "", "Troops clashed with rebels on 3 May.",
             "Troops clashed with rebels on 4 May.", "Gunmen attacked a village.", "Unlabelled text.",
             "A new text in test."]
    df = frame(texts, event_type=["Attack", "Attack", "Armed clash", "Looting", "Attack", None, "Attack"],
               actor=["Taliban", "Taliban", "Taliban", "Taliban", "JNIM", None, "Boko Haram"])
    df["fold"] = ["train", "train", "train", "test", "test", "train", "test"]
    spaces = {t.name: build_space(t, df[df.fold != "test"][t.name].tolist()) for t in (event, actor)}
    assert spaces["actor"].labels == ["Taliban"]  # JNIM is only in test; one Taliban row is in test
    spaces["actor"] = build_space(actor, ["Taliban", "Taliban", "JNIM"])
    assert spaces["actor"].labels == ["Taliban", "Other"]
    out, report = validate(df, [event, actor], spaces)
    assert report.count("empty_text") == 1 and "" not in out["text"].tolist()
    assert report.count("unknown_label") == 1  # 'Looting' cleared, the row keeps its actor
    assert out.loc[3, "event_type"] is None and out.loc[3, "actor"] == "Taliban"
    assert report.count("other_label") == 2 and out.loc[6, "actor"] == "Other"
    assert report.count("no_label") == 1 and 5 not in out.index
    assert report.count("duplicate_text") == 2
    assert report.count("near_duplicate_text") == 2  # the 3 May / 4 May pair
    assert report.count("leak_exact") == 1 and report.count("leak_near") == 2
    assert "empty_text" in report.format()


def test_label_space_encoding_with_hierarchy():
    space = LabelSpace("e", "single", ["a1", "a2", "b1"], {"a1": "A", "a2": "A", "b1": "B"})
    enc = space.encode(["a2", "B", None, "b1"])
    assert enc["fine"].tolist() == [1, -1, -1, 2] and enc["coarse"].tolist() == [0, 1, -1, 1]
    assert np.allclose(np.array([[0.2, 0.3, 0.5]]) @ space.coarse_matrix(), [[0.5, 0.5]])
    multi = LabelSpace("t", "multi", ["x", "y"]).encode([["y"], [], None])
    assert multi["y"].tolist() == [[0, 1], [0, 0], [0, 0]] and multi["mask"].tolist() == [True, True, False]
