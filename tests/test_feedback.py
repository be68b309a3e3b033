"""Analysts' corrections through a running service: validated against the model's tasks,
durable across a service kill and restart, exported as data, and used by retraining."""
import json
import signal

import pytest

from secnews.training.config import load_config
from secnews.training.modeldir import read_manifest
from secnews.training.train import train

from .conftest import write_jsonl
from .synthetic import NEW_ACTOR, OLD_ACTORS, config_yaml, reports
from .test_service import call, secnews, service_env, start_server, stop_server


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("feedback")
    (d / "cfg.yaml").write_text(config_yaml())
    old = write_jsonl(d / "old.jsonl", reports(OLD_ACTORS, 240, 0, "o"))
    parent = train(load_config(d / "cfg.yaml", data_paths=[str(old)]), d / "parent", log=lambda m: None)
    home = d / "bentoml"
    home.mkdir()
    env = service_env(home)
    assert secnews(env, "models", "import", parent).returncode == 0
    return {"dir": d, "parent": parent, "env": env, "home": home, "held": reports([NEW_ACTOR], 16, 2, "h")}


BAD = [
    ({"labels": {"actor": "X"}}, 400, "exactly one of `article`"),
    ({"article_id": "h0", "article": {"text": "t"}, "labels": {"actor": "X"}}, 400, "exactly one of `article`"),
    ({"article_id": "h0", "labels": {}}, 400, "at least 1 item"),
    ({"article_id": "h0", "labels": {"weather": "rain"}}, 400, "labels.weather: not a task of this model"),
    ({"article_id": "h0", "labels": {"event_type": "Dance party"}}, 400, "labels.event_type: 'Dance party' is not a label"),
    ({"article_id": "h0", "labels": {"target": "military"}}, 400, "labels.target: expected a list"),
    ({"article_id": "h0", "labels": {"target": ["military", "bakers"]}}, 400, "labels.target: 'bakers' is not a label"),
    ({"article_id": "h0", "labels": {"actor": ["A", "B"]}}, 400, "labels.actor: expected one label string"),
    ({"article_id": "h0", "labels": {"actor": " "}}, 400, "labels.actor: a label must have 1 to"),
    ({"article_id": "never-seen", "labels": {"actor": "X"}}, 404, "no article with this id was classified"),
    ({"article": {"text": ""}, "labels": {"actor": "X"}}, 400, "at least 1 character"),
]


def test_feedback_survives_restart_and_feeds_retraining(setup, tmp_path):
    env, held = setup["env"], setup["held"]
    proc, url, *_ = start_server(env, setup["parent"], setup["home"] / "serve.log")
    try:
        status, _ = call(url, "/classify", {"articles": [{"id": r["id"], "text": r["text"]} for r in held]})
        assert status == 200
        for body, code, says in BAD:
            status, answer = call(url, "/feedback", body)
            assert status == code and says in json.dumps(answer), (body, status, answer)
        acks = []
        for r in held[:8]:  # by id: the service remembers what it classified
            status, ack = call(url, "/feedback", {"article_id": r["id"], "labels": {"actor": NEW_ACTOR}})
            assert status == 200 and ack["labels"] == {"actor": NEW_ACTOR} and ack["model"].startswith("secnews:")
            acks.append(ack["feedback_id"])
        r = held[8]  # with the article itself, every task corrected; a coarse-only event is allowed
        status, ack = call(url, "/feedback", {"article": {"id": r["id"], "text": r["text"]}, "note": "checked",
                                              "labels": {"actor": NEW_ACTOR, "event_type": "Battles",
                                                         "target": ["police", "military", "police"]}})
        assert status == 200 and ack["labels"]["target"] == ["military", "police"]
        acks.append(ack["feedback_id"])
        assert acks == sorted(set(acks))
    finally:
        stop_server(proc, signal.SIGKILL)  # no clean shutdown: acknowledged rows must already be on disk

    proc, url, *_ = start_server(env, setup["parent"], setup["home"] / "serve.log")
    try:  # ids classified before the restart are still known
        for r in held[9:12]:
            status, ack = call(url, "/feedback", {"article_id": r["id"], "labels": {"actor": NEW_ACTOR}})
            assert status == 200, ack
    finally:
        stop_server(proc)

    exported = secnews(env, "feedback", "export", "--out", tmp_path / "fb.jsonl")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in (tmp_path / "fb.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in held[:12])
    assert all(r["actor"] == NEW_ACTOR for r in rows)
    assert next(r for r in rows if r["id"] == "h8")["event_type"] == "Battles"

    run = secnews(env, "retrain", "--from", "secnews:latest", "--feedback", "--out", tmp_path / "child")
    assert run.returncode == 0, run.stderr
    manifest = read_manifest(tmp_path / "child")
    assert manifest["retrain"]["rows"]["feedback"] == 12
    assert manifest["retrain"]["new_labels"]["actor"] == [NEW_ACTOR]
    # the corrections travel inside the child (its own retrain replays them, wherever it is copied)
    bundled = [f["bundled"] for f in manifest["data"]["files"] if f.get("bundled")]
    assert len(bundled) == 1 and (tmp_path / "child" / bundled[0]).is_file()
    assert len((tmp_path / "child" / bundled[0]).read_text().splitlines()) == 12
