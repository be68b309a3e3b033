"""Retraining with new labels: a parent that never saw an actor, a child that learns it,
the promotion rule, lineage in the store, and a failed or killed retrain changing nothing."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from secnews.training import load
from secnews.training.config import load_config
from secnews.training.modeldir import read_manifest
from secnews.training.train import train

from .conftest import ROOT, write_jsonl
from .synthetic import NEW_ACTOR, OLD_ACTORS, config_yaml, reports
from .tiny_bert import make_tiny_bert


def cli(env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "secnews.serving.cli", *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def latest(env) -> str:
    out = subprocess.run([sys.executable, "-c", "import bentoml; print(bentoml.models.get('secnews:latest').tag)"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
            "HF_HUB_OFFLINE": "1", "SECNEWS_FEEDBACK_DB": str(tmp_path / "feedback.sqlite3")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("retrain_data")
    (d / "tfidf.yaml").write_text(config_yaml())
    return {"dir": d, "old": write_jsonl(d / "old.jsonl", reports(OLD_ACTORS, 240, 0, "o")),
            "new": write_jsonl(d / "new.jsonl", reports([NEW_ACTOR], 48, 1, "n")),
            "held": reports([NEW_ACTOR], 24, 2, "h")}


@pytest.fixture(scope="module")
def tfidf_parent(data):
    cfg = load_config(data["dir"] / "tfidf.yaml", data_paths=[str(data["old"])])
    return train(cfg, data["dir"] / "parent", log=lambda m: None)


def actors(model_dir, rows) -> list[str]:
    return [a["actor"]["label"] for a in load(model_dir).answers([r["text"] for r in rows], evidence=False)]


def test_child_learns_new_actor_keeps_old_classes_and_moves_latest(data, tfidf_parent, env, tmp_path):
    parent_tag = cli(env, "models", "import", tfidf_parent).stdout.strip()
    assert latest(env) == parent_tag
    run = cli(env, "retrain", "--from", "secnews:latest", "--data", data["new"], "--out", tmp_path / "child")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["promoted"] and not result["forced"]

    assert NEW_ACTOR not in actors(tfidf_parent, data["held"])
    held = actors(tmp_path / "child", data["held"])
    assert held.count(NEW_ACTOR) >= 0.9 * len(held), held

    comparison = json.loads((tmp_path / "child" / "comparison.json").read_text())
    assert comparison["new_labels"]["actor"] == [NEW_ACTOR]
    assert comparison["new_labels"]["event_type"] == [] and comparison["new_labels"]["target"] == []
    old = comparison["splits"]["parent_test"]["tasks"]
    for task in ("event_type", "target", "actor"):
        assert old[task]["child"]["macro_f1"] >= old[task]["parent"]["macro_f1"] - 0.01, (task, old[task])
    new = comparison["splits"]["new_test"]["tasks"]["actor"]
    assert new["per_label"][NEW_ACTOR]["new"] and new["per_label"][NEW_ACTOR]["child"] > 0.9
    assert new["per_label"][NEW_ACTOR]["parent"] == 0.0
    assert "| Crimson Brigade |" in (tmp_path / "child" / "comparison.md").read_text()

    # lineage: the manifest names the parent, the store moved latest, `models list` shows both
    manifest = read_manifest(tmp_path / "child")
    assert manifest["parent"] == parent_tag
    assert manifest["retrain"]["rows"]["new"] > 0 and manifest["retrain"]["rows"]["parent"] > 0
    assert latest(env) == result["tag"] != parent_tag
    listing = cli(env, "models", "list")
    assert listing.returncode == 0, listing.stderr
    assert f"parent={parent_tag}" in listing.stdout and result["tag"] in listing.stdout


def test_regression_keeps_latest_unless_forced(data, tfidf_parent, env, tmp_path):
    # "corrections" that relabel every Northern Front report as Harbor Militia, with no replay:
    # the child forgets Northern Front, so its actor macro-F1 on the parent's test split drops
    wrong = [dict(r, actor="Harbor Militia") for r in reports(OLD_ACTORS, 240, 0, "o") if r["actor"] == "Northern Front"]
    poisoned = write_jsonl(tmp_path / "poisoned.jsonl", wrong)
    parent_tag = cli(env, "models", "import", tfidf_parent).stdout.strip()
    args = ["retrain", "--from", parent_tag, "--data", poisoned, "--set", "retrain.replay_fraction=0.0"]
    run = cli(env, *args, "--out", tmp_path / "child")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert not result["promoted"] and "actor macro-F1 on the parent's test split drops" in result["reason"]
    assert latest(env) == parent_tag  # left alone
    assert result["tag"].startswith("secnews-candidate:")
    assert "latest left alone" in run.stderr

    forced = cli(env, *args, "--out", tmp_path / "forced", "--force")
    assert forced.returncode == 0, forced.stderr
    result = json.loads(forced.stdout)
    assert result["promoted"] and result["forced"]
    assert read_manifest(tmp_path / "forced")["retrain"]["promotion"]["forced"] is True
    assert latest(env) == result["tag"]


def test_failed_retrain_changes_nothing(data, env, tmp_path):
    # the parent's training file changes after training: replay refuses, nothing is written
    old = tmp_path / "old.jsonl"
    old.write_text(data["old"].read_text())
    cfg = load_config(data["dir"] / "tfidf.yaml", data_paths=[str(old)])
    parent = train(cfg, tmp_path / "parent", log=lambda m: None)
    parent_tag = cli(env, "models", "import", parent).stdout.strip()
    with open(old, "a") as fh:
        fh.write(json.dumps(reports(OLD_ACTORS, 1, 9, "x")[0]) + "\n")
    run = cli(env, "retrain", "--from", parent, "--data", data["new"], "--out", tmp_path / "child")
    assert run.returncode == 2
    assert f"the parent's training file {old} changed since the parent was trained" in run.stderr
    assert not (tmp_path / "child").exists()
    assert latest(env) == parent_tag
    read_manifest(parent)  # every file still matches its hash


def test_moved_model_directory_retrains_with_replay_data(data, tfidf_parent, env, tmp_path):
    """A model directory holds no path of the machine that trained it except hints; copied
    elsewhere (its data moved too), it retrains once told where the data is now."""
    import shutil

    for name in ("config.yaml", "manifest.json"):
        doc = json.loads((tfidf_parent / name).read_text()) if name.endswith(".json") else \
            __import__("yaml").safe_load((tfidf_parent / name).read_text())
        found = []

        def walk(node, where):
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, f"{where}.{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}[{i}]")
            elif isinstance(node, str) and (str(data["dir"]) in node or str(ROOT) in node) \
                    and "hint" not in where.rsplit(".", 1)[-1]:
                found.append((where, node))
        walk(doc, name)
        assert found == [], found
    moved, elsewhere = tmp_path / "elsewhere" / "m2", tmp_path / "data-now"
    shutil.copytree(tfidf_parent, moved)
    elsewhere.mkdir()
    shutil.copy(data["old"], elsewhere / "renamed.jsonl")
    data["old"].rename(data["old"].with_suffix(".away"))  # not at its recorded place any more
    try:
        without = cli(env, "retrain", "--from", moved, "--data", data["new"], "--out", tmp_path / "c0")
        assert without.returncode == 2 and "--replay-data" in without.stderr and "old.jsonl" in without.stderr
        assert not (tmp_path / "c0").exists()
        run = cli(env, "retrain", "--from", moved, "--data", data["new"], "--out", tmp_path / "child",
                  "--replay-data", elsewhere / "renamed.jsonl")
    finally:
        data["old"].with_suffix(".away").rename(data["old"])
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["promoted"] is True
    assert NEW_ACTOR in load(tmp_path / "child").labels("actor")


# ----------------------------------------------------------------------------- transformer

@pytest.fixture(scope="module")
def bert_parent(data):
    texts = [r["text"] for r in reports(OLD_ACTORS + [NEW_ACTOR], 400, 5, "v")]
    encoder = make_tiny_bert(data["dir"] / "tiny_bert", texts)
    (data["dir"] / "bert.yaml").write_text(config_yaml("transformer", encoder))
    cfg = load_config(data["dir"] / "bert.yaml", data_paths=[str(data["old"])])
    return train(cfg, data["dir"] / "bert_parent", log=lambda m: None)


def test_transformer_heads_grow_with_old_rows_kept(bert_parent):
    import dataclasses

    backend = load(bert_parent).backend
    ids = backend.tokenizer(["fighters of Valley Guards clashed with soldiers"], return_tensors="pt")
    with torch.inference_mode():
        before = backend.model(ids["input_ids"], ids["attention_mask"])
    actor = backend.spaces["actor"]
    grown = {**backend.spaces, "actor": dataclasses.replace(actor, labels=actor.labels + [NEW_ACTOR, "Someone Else"])}
    backend.extend(grown)
    with torch.inference_mode():
        after = backend.model(ids["input_ids"], ids["attention_mask"])
    n = len(actor.labels)
    assert after["actor"].shape[-1] == n + 2
    torch.testing.assert_close(after["actor"][:, :n], before["actor"])
    torch.testing.assert_close(after["event_type"], before["event_type"])
    # a new class starts unlikely: below every old logit's bias-free share
    assert float(after["actor"][0, n:].max()) < float(before["actor"][0].max())
    with pytest.raises(ValueError, match="must start with the old labels"):
        backend.extend({**grown, "actor": dataclasses.replace(actor, labels=[NEW_ACTOR] + actor.labels)})


def test_transformer_retrain_learns_new_actor(data, bert_parent, tmp_path):
    from secnews.training.retrain import retrain

    outcome = retrain(bert_parent, [str(data["new"])], tmp_path / "child", overrides=["train.epochs=15"],
                      log=lambda m: None)
    held = actors(outcome.path, data["held"])
    assert held.count(NEW_ACTOR) >= 0.8 * len(held), held
    old = outcome.comparison["splits"]["parent_test"]["tasks"]["actor"]
    assert old["child"]["macro_f1"] >= old["parent"]["macro_f1"] - 0.01, old
    assert outcome.promote
    weights = read_manifest(outcome.path)["files"]
    assert "heads.safetensors" in weights and not any(f.endswith((".pkl", ".bin")) for f in weights)


def test_killed_retrain_leaves_parent_and_latest(data, bert_parent, env, tmp_path):
    parent_tag = cli(env, "models", "import", bert_parent).stdout.strip()
    proc = subprocess.Popen([sys.executable, "-m", "secnews.serving.cli", "retrain", "--from", "secnews:latest",
                             "--data", str(data["new"]), "--out", str(tmp_path / "child"),
                             "--set", "train.epochs=500"],
                            env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in proc.stderr:  # kill it in the middle of training
        if " step " in line and "loss" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "child").exists()
    assert not list(tmp_path.glob(".child.tmp-*"))
    assert latest(env) == parent_tag
    read_manifest(bert_parent)  # every file still matches its hash


def test_replay_weight_repeats_only_replayed_training_rows():
    import pandas as pd

    from secnews.training.config import ConfigError
    from secnews.training.retrain import weigh_replay

    df = pd.DataFrame({"origin": ["parent"] * 4 + ["new"] * 2, "fold": ["train", "train", "val", "test", "train", "test"]})
    out = weigh_replay(df, 2.5, seed=0)
    counts = out.groupby(["origin", "fold"]).size().to_dict()
    assert counts == {("parent", "train"): 5, ("parent", "val"): 1, ("parent", "test"): 1,
                      ("new", "train"): 1, ("new", "test"): 1}
    assert weigh_replay(df, 1.0, seed=0) is df
    with pytest.raises(ConfigError, match="retrain.replay_weight"):
        load_config(ROOT / "configs/baseline.yaml", overrides=["retrain.replay_weight=0.5"])
