"""Issue 15: `secnews report` on a scored archive: its numbers are the counts computed
directly from the Parquet parts."""
import json
import re
import subprocess
import sys
from collections import Counter

import pandas as pd
import pytest

from secnews.serving.score import score

from .conftest import ROOT, write_jsonl

TEXTS = ["Rioters torched cars after the match in the port city.",
         "Police arrested forty protesters outside parliament on Tuesday.",
         "Gunmen ambushed an army convoy, killing six soldiers.",
         "Teachers marched peacefully through the capital demanding higher pay.",
         "A roadside bomb struck a police patrol near the border."]


@pytest.fixture(scope="module")
def scored(smoke_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    rows = [{"id": f"a{i}", "text": TEXTS[i % len(TEXTS)], "date": f"2024-{1 + i % 3:02d}-{1 + i % 27:02d}"}
            for i in range(40)]
    rows += [{"id": "blank", "text": "   "}, {"id": "notext", "title": "no body"}]
    src = write_jsonl(tmp / "archive.jsonl", rows)
    out = tmp / "scored"
    score([str(src)], str(smoke_model), out, chunk_size=16, log=lambda m: None)
    return out


def test_report_numbers_match_the_parquet_parts(scored, tmp_path):
    run = subprocess.run([sys.executable, "-m", "secnews.serving.cli", "report", str(scored), "--out", str(tmp_path / "r.html")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "r.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
                      .group(1).replace("<\\/", "</"))
    df = pd.concat([pd.read_parquet(p) for p in sorted(scored.glob("part-*.parquet"))], ignore_index=True)
    ok = df[df["error"].isna()]
    assert (data["rows"], data["scored"], data["bad"]) == (len(df), len(ok), df["error"].notna().sum())
    assert data["bad_reasons"] == dict(Counter(df["error"].dropna()))
    assert data["labels"]["event_type"] == ok["event_type"].value_counts().to_dict()
    assert data["parents"]["event_type"] == ok["event_type_parent"].value_counts().to_dict()
    assert data["labels"]["actor"] == ok["actor"].value_counts().to_dict()
    targets = Counter(t for ts in ok["target"] for t in ts)
    assert {k: v for k, v in data["labels"]["target"].items() if k != "(none)"} == dict(targets)
    for task in ("event_type", "target", "actor"):
        assert data["uncertain_share"][task] == round(ok[f"{task}_uncertain"].mean(), 4)
    assert sum(data["score_histograms"]["event_type"]["counts"]) == len(ok)
    assert data["per_month"] == ok["date"].str[:7].value_counts().sort_index().to_dict()
    # what the page shows is the same: the top event type's count is in its table
    top, n = next(iter(data["labels"]["event_type"].items()))
    assert re.search(rf"<tr><td>{re.escape(top)}</td><td class=n>{n:,}</td><td class=n>[0-9.]+%</td></tr>", page)
    assert "<svg" in page and "http" not in page.split("<svg")[0].split("<style>")[0]  # self-contained


def test_report_refuses_a_folder_without_parts(tmp_path):
    run = subprocess.run([sys.executable, "-m", "secnews.serving.cli", "report", str(tmp_path), "--out", str(tmp_path / "r.html")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no part-*.parquet files" in run.stderr
    assert not (tmp_path / "r.html").exists()
