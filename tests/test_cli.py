"""The command line as a user runs it: a real subprocess, real files."""
import json
import subprocess
import sys

import pytest

from .conftest import CONFIGS, ROOT, write_jsonl


def secnews(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "secnews.serving.cli", *map(str, args)], input=stdin, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_train_evaluate_predict(tmp_path):
    out = tmp_path / "m"
    r = secnews("train", CONFIGS / "smoke.yaml", "--out", out, "--set", "train.seed=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and "validation:" in r.stderr and "macro-F1" in r.stderr
    r = secnews("evaluate", out, "--split", "all")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["tasks"]["event_type"]["macro_f1"] > 0.5 and "coarse" in report["tasks"]["event_type"]
    assert json.loads((out / "evaluations" / "training-data-all.json").read_text())["n_test"] == report["n_test"]
    r = secnews("predict", out, "-", stdin="Protesters marched peacefully to parliament demanding reforms.")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert {"event_type", "target", "actor", "model"} <= set(answer)
    # prediction settings for one run (a TF-IDF model has no encoder to apply them to: same answer)
    r = secnews("predict", out, "--precision", "fp32", "--pack-windows", "true", "-",
                stdin="Protesters marched peacefully to parliament demanding reforms.")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["event_type"] == answer["event_type"]
    r = secnews("predict", out, "--precision", "fp16", "text")
    assert r.returncode == 2 and "invalid choice: 'fp16'" in r.stderr


def test_errors_are_one_clear_line(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "x", "target": "military"}])
    r = secnews("train", CONFIGS / "smoke.yaml", "--data", bad, "--out", tmp_path / "m")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bad.jsonl: row 1, column 'target': expected a list" in r.stderr
    assert not (tmp_path / "m").exists()
    r = secnews("train", CONFIGS / "smoke.yaml", "--set", "train.sedd=1")
    assert r.returncode == 2 and "unknown config key train.sedd" in r.stderr
    r = secnews("train", CONFIGS / "smoke.yaml", "--format", "xml")
    assert r.returncode == 2 and "invalid choice: 'xml'" in r.stderr
    r = secnews("predict", tmp_path, "some text")
    assert r.returncode == 2 and "not a secnews model directory" in r.stderr


def test_only_errors_the_user_can_fix_are_one_line(monkeypatch, capsys):
    """A SecnewsError is printed in one line (exit 2); any other exception is a bug and keeps
    its traceback, even a ValueError from numpy or scikit-learn code."""
    from secnews.serving import cli
    from secnews.training.errors import SecnewsError

    def raises(error):
        def command(args):
            raise error
        return command

    monkeypatch.setattr(cli, "_actors_list", raises(SecnewsError("registry.yaml: line 3: expected a mapping")))
    assert cli.main(["actors", "list"]) == 2
    assert capsys.readouterr().err == "secnews actors: error: registry.yaml: line 3: expected a mapping\n"
    monkeypatch.setattr(cli, "_actors_list", raises(ValueError("operands could not be broadcast together")))
    with pytest.raises(ValueError, match="broadcast"):
        cli.main(["actors", "list"])
