"""The Spark engine in local mode gives the local engine's rows, label for label."""
import shutil

import pandas as pd
import pytest

from secnews.serving.score import score

from .conftest import write_jsonl
from .test_score import read_parts, synthetic

pytest.importorskip("pyspark")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")


def test_spark_engine_equals_local_engine(smoke_model, tmp_path):
    from secnews.serving.spark import score_spark

    texts = synthetic(300, seed=3)
    write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": t} for i, t in enumerate(texts[:150])])
    write_jsonl(tmp_path / "b.jsonl", [{"text": t} for t in texts[150:]] + [{"text": ""}])
    pages = tmp_path / "pages"
    pages.mkdir()
    for i, t in enumerate(texts[:5]):
        (pages / f"{i}.txt").write_text(t)
    inputs = [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), str(pages)]

    local = score(inputs, str(smoke_model), tmp_path / "local", chunk_size=64, log=lambda m: None)
    spark = score_spark(inputs, str(smoke_model), tmp_path / "spark", master="local[2]", chunk_size=64,
                        log=lambda m: None)
    a = read_parts(tmp_path / "local").sort_values("id").reset_index(drop=True)
    b = read_parts(tmp_path / "spark").sort_values("id").reset_index(drop=True)
    assert len(a) == 306 and list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a.drop(columns=["target"]), b.drop(columns=["target"]))
    as_lists = lambda col: [None if x is None else list(x) for x in col]
    assert as_lists(a["target"]) == as_lists(b["target"])
    assert spark["counts"] == {**local["counts"]} and spark["engine"] == "spark"
