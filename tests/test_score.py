"""Batch scoring: every kind of input, bad rows, and a real SIGKILL followed by --resume."""
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from secnews.serving.score import score
from secnews.training import load

from .conftest import ROOT, write_jsonl

WORDS = ("rockets struck the base near the border while crowds marched peacefully and police fired tear gas at "
         "students as gunmen abducted aid workers and troops clashed with militants").split()


def synthetic(n: int, seed: int = 0) -> list[str]:
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) + "." for _ in range(n)]


def read_parts(out):
    return pd.concat([pq.read_table(p).to_pandas() for p in sorted(out.glob("part-*.parquet"))], ignore_index=True)


def test_every_input_kind_and_bad_rows(smoke_model, tmp_path):
    texts = synthetic(12)
    arch = tmp_path / "archive"
    arch.mkdir()
    write_jsonl(arch / "a.jsonl", [{"id": f"j{i}", "text": t} for i, t in enumerate(texts[:3])] + [{"id": "j-empty", "text": "  "}])
    with gzip.open(arch / "b.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps({"text": t, "title": "T"}) + "\n" for t in texts[3:5]) + "{broken\n")
    pd.DataFrame({"id": ["c0", "c1"], "text": texts[5:7]}).to_csv(arch / "c.csv", index=False)
    pd.DataFrame({"id": ["p0", "p1"], "text": texts[7:9]}).to_parquet(arch / "d.parquet")
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "ok.txt").write_text(texts[9])
    (pages / "latin1.txt").write_bytes("Caf\xe9 bombing".encode("latin-1"))
    (pages / "empty.txt").write_text("")
    (pages / "story.html").write_text(
        "<html><head><title>x</title></head><body><nav>Home | World | Sport</nav><article><h1>Rockets hit base</h1>"
        f"<p>{texts[10]} {texts[11]}</p><p>Officials said the attack was the third this month and that "
        "investigators were examining fragments found near the perimeter wall.</p></article>"
        "<footer>Copyright</footer></body></html>")
    (pages / "broken.html").write_bytes(b"<html><body><div><<<\x00\x00</")
    inputs = [str(arch / n) for n in ("a.jsonl", "b.jsonl.gz", "c.csv", "d.parquet")] + [str(pages)]
    manifest = score(inputs, str(smoke_model), tmp_path / "out", chunk_size=4, log=lambda m: None)

    df = read_parts(tmp_path / "out")
    assert len(df) == 4 + 3 + 2 + 2 + 5 and df["id"].is_unique
    reasons = {i: (None if pd.isna(e) else e) for i, e in zip(df["id"], df["error"])}
    assert reasons["j-empty"] == "empty text" and reasons["latin1.txt"].startswith("undecodable bytes")
    assert reasons["empty.txt"] == "empty text" and reasons["broken.html"] == "HTML holds no article text"
    assert reasons["b.jsonl.gz:2"].startswith("unreadable line")
    assert reasons["story.html"] is None and manifest["counts"] == {
        "rows": 16, "scored": 11, "bad": 5, "scored_this_run": 11, "skipped_as_done": 0}
    assert {b["id"] for b in manifest["bad_rows"]} == {k for k, v in reasons.items() if v}
    # labels are the predictor's, for the text as read (title joined to the body)
    predictor = load(smoke_model)
    expected = predictor.answers([texts[0], "T\n\n" + texts[3]], evidence=False)
    got = df.set_index("id")
    assert got.loc["j0", "event_type"] == expected[0]["event_type"]["label"]
    assert got.loc["b.jsonl.gz:0", "actor"] == expected[1]["actor"]["label"]
    assert list(got.loc["j0", "target"]) == [x["label"] for x in expected[0]["target"]["labels"]]
    assert got.loc["j0", "event_type_parent"] == expected[0]["event_type"]["parent"]
    assert got.loc["j0", "model"] == str(smoke_model.resolve())


def test_existing_job_needs_resume_and_the_same_job(smoke_model, tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", [{"text": t} for t in synthetic(5)])
    score([str(src)], str(smoke_model), tmp_path / "out", chunk_size=2, log=lambda m: None)
    with pytest.raises(ValueError, match="pass --resume"):
        score([str(src)], str(smoke_model), tmp_path / "out", chunk_size=2, log=lambda m: None)
    with pytest.raises(ValueError, match="chunk_size differs"):
        score([str(src)], str(smoke_model), tmp_path / "out", chunk_size=3, resume=True, log=lambda m: None)
    again = score([str(src)], str(smoke_model), tmp_path / "out", chunk_size=2, resume=True, log=lambda m: None)
    assert again["counts"]["skipped_as_done"] == 5 and again["counts"]["rows"] == 5


def test_sigkill_then_resume_loses_nothing_and_repeats_nothing(smoke_model, tmp_path):
    ids = [f"r{i}" for i in range(4000)]
    src = write_jsonl(tmp_path / "big.jsonl", [{"id": i, "text": t} for i, t in zip(ids, synthetic(4000, seed=1))])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "secnews.serving.cli", "score", str(src), "--model", str(smoke_model), "--out", str(out),
           "--batch-size", "1", "--chunk-size", "100"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(out.glob("part-*.parquet"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list(out.glob("part-*.parquet")))
    assert 3 <= written < 40 and not (out / "manifest.json").exists()  # killed mid-run
    done = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    df = read_parts(out)
    assert sorted(df["id"]) == sorted(ids)  # every row exactly once
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["rows"] == 4000 and manifest["counts"]["skipped_as_done"] == written * 100
    assert not list(out.glob(".part-*"))


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (needs root with mount rights; skipped where the sandbox has none)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a size-limited tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_or_read_only_disk_is_one_line_and_resume_completes(smoke_model, tmp_path, small_disk):
    ids = [f"d{i}" for i in range(3000)]
    src = write_jsonl(tmp_path / "archive.jsonl", [{"id": i, "text": t} for i, t in zip(ids, synthetic(3000, seed=2))])
    out = small_disk / "out"
    cmd = [sys.executable, "-m", "secnews.serving.cli", "score", str(src), "--model", str(smoke_model), "--out", str(out),
           "--chunk-size", "100"]
    full = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert full.returncode == 2, full.stderr[-2000:]
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("secnews score: error: ") and "No space left on device" in last and "--resume" in last
    assert "Traceback" not in full.stderr and not list(out.glob(".part-*"))  # no half-written part left
    kept = len(list(out.glob("part-*.parquet")))
    assert 0 < kept < 30
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)  # space freed
    done = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(read_parts(out)["id"]) == sorted(ids)  # nothing lost, nothing twice

    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    ro = subprocess.run(cmd[:-4] + ["--out", str(small_disk / "other")], cwd=ROOT, capture_output=True, text=True,
                        timeout=300)
    assert ro.returncode == 2 and "Read-only file system" in ro.stderr.strip().splitlines()[-1], ro.stderr[-2000:]
    assert "Traceback" not in ro.stderr
