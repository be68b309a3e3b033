import json

import numpy as np
import yaml
import pytest

from secnews.training import load
from secnews.training.baseline import TfidfModel
from secnews.training.config import TfidfConfig, load_config
from secnews.training.labels import LabelSpace
from secnews.training.modeldir import ModelDirError, read_manifest, staging
from secnews.training.predictor import sentences
from secnews.training.train import evaluate

from .conftest import CONFIGS

HIER = {"Armed clash": "Battles", "Peaceful protest": "Protests", "Violent demonstration": "Riots",
        "Mob violence": "Riots"}
EVENT = LabelSpace("event_type", "single", list(HIER), HIER, threshold=0.5)
TARGET = LabelSpace("target", "multi", ["military", "protesters"], threshold=0.6)
ROWS = [  # (text, event label, targets)
    ("Soldiers exchanged fire with insurgents near the border post.", "Armed clash", ["military"]),
    ("Troops and rebels fought for hours outside the garrison town.", "Armed clash", ["military"]),
    ("Army units battled militants in the hills overnight.", "Armed clash", ["military"]),
    ("Hundreds marched calmly through the capital holding banners.", "Peaceful protest", []),
    ("Teachers held a quiet sit-in outside the ministry.", "Peaceful protest", []),
    ("Nurses rallied peacefully demanding back pay.", "Peaceful protest", []),
    ("A crowd threw stones and burned tyres at the roundabout.", "Riots", ["protesters"]),  # coarse only
    ("Youths smashed shop windows and set cars alight downtown.", "Riots", ["protesters"]),
    ("Rioters hurled rocks and torched a bus depot.", "Riots", ["protesters"]),
]


def fit_tiny():
    cfg = TfidfConfig(word_ngrams=[1, 2], char_ngrams=[3, 4], max_features=None, min_df=1, C=100.0)
    spaces = {"event_type": EVENT, "target": TARGET}
    texts = [t for t, _, _ in ROWS]
    gold = {"event_type": EVENT.encode([e for _, e, _ in ROWS]), "target": TARGET.encode([g for _, _, g in ROWS])}
    return TfidfModel(cfg, spaces).fit(texts, gold), texts, spaces, cfg


def test_overfits_and_coarse_only_rows_train_the_coarse_level():
    model, texts, spaces, _ = fit_tiny()
    p = model.predict_proba(texts)
    coarse = p["event_type"] @ EVENT.coarse_matrix()
    assert [EVENT.coarse[i] for i in coarse.argmax(1)] == [HIER.get(e, e) for _, e, _ in ROWS]
    # no Riots row named a sub-type, so the parent's mass is split evenly, not guessed
    riots = [EVENT.labels.index("Violent demonstration"), EVENT.labels.index("Mob violence")]
    assert np.allclose(p["event_type"][6:, riots[0]], p["event_type"][6:, riots[1]])
    assert np.allclose(p["event_type"].sum(1), 1.0, atol=1e-5)
    assert ((p["target"] >= 0.5) == TARGET.encode([g for _, _, g in ROWS])["y"].astype(bool)).all()


def test_save_load_identical_predictions(tmp_path):
    model, texts, spaces, cfg = fit_tiny()
    model.save(tmp_path)
    again = TfidfModel.load(tmp_path, cfg, spaces)
    a, b = model.predict_proba(texts + ["unseen words entirely"]), again.predict_proba(texts + ["unseen words entirely"])
    for task in a:
        np.testing.assert_array_equal(a[task], b[task])


def test_model_directory_contract(smoke_model):
    names = {p.name for p in smoke_model.iterdir()}
    assert {"manifest.json", "config.yaml", "metrics.json", "README.md", "model.skops"} <= names
    assert {"f1_event_type.png", "confusion_event_type.png", "confusion_event_type_coarse.png"} <= names
    manifest = read_manifest(smoke_model)
    assert manifest["kind"] == "tfidf" and manifest["parent"] is None
    files = {str(p.relative_to(smoke_model)) for p in smoke_model.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {"manifest.json"}
    assert manifest["data"]["files"][0]["sha256"] and "scikit-learn" in manifest["versions"]
    # self-contained: the taxonomy travels inside, every path in the config is relative to it
    assert {"taxonomy/event_types.yaml", "taxonomy/acled.yaml"} <= files
    cfg = yaml.safe_load((smoke_model / "config.yaml").read_text())
    assert cfg["data"]["taxonomy"] == "taxonomy" and cfg["data"]["paths"] == []
    assert cfg["tasks"][0]["hierarchy"] == "taxonomy/event_types.yaml"
    metrics = json.loads((smoke_model / "metrics.json").read_text())
    ev = metrics["tasks"]["event_type"]
    assert {"macro_f1", "micro_f1", "accuracy", "per_label", "coarse"} <= set(ev)
    assert {"precision", "recall", "f1", "support"} == set(next(iter(ev["per_label"].values())))
    assert metrics["n_train"] > metrics["n_test"] > 0 and metrics["split"]["method"] == "standard"
    assert f"{ev['macro_f1']:.4f}" in (smoke_model / "README.md").read_text()


def test_reload_reproduces_the_recorded_metrics(smoke_model):
    recorded = json.loads((smoke_model / "metrics.json").read_text())["tasks"]
    again = evaluate(smoke_model, None, None, "test", log=lambda m: None)["tasks"]
    for task in recorded:
        assert again[task]["macro_f1"] == recorded[task]["macro_f1"], task
        assert again[task]["per_label"] == recorded[task]["per_label"], task


def test_predict_output(smoke_model):
    predictor = load(smoke_model)
    text = ("Two rockets struck a base south of Baghdad that hosts coalition trainers. "
            "Nobody was hurt. Officials blamed Kataeb Hezbollah, an Iran-backed militia.")
    (out,) = predictor.answers([text])
    assert set(out) == {"event_type", "target", "actor"}
    ev = out["event_type"]
    hier = predictor.spaces["event_type"].parents
    assert ev["parent"] == hier[ev["label"]] and ev["parent_score"] >= ev["score"]
    assert [k["score"] for k in ev["top_k"]] == sorted([k["score"] for k in ev["top_k"]], reverse=True)
    assert ev["top_k"][0]["label"] == ev["label"] and ev["evidence"] in sentences(text)
    assert ev["uncertain"] == (ev["score"] < predictor.spaces["event_type"].threshold)
    assert all(item["score"] >= 0.5 and item["evidence"] in sentences(text) for item in out["target"]["labels"])
    assert set(out["target"]["scores"]) == set(predictor.spaces["target"].labels)
    batch = predictor.answers([text, "Police fired tear gas at students."])
    assert batch[0] == out  # batched = single
    assert predictor.answers([]) == []


def test_tampered_or_existing_directory(smoke_model, tmp_path):
    with pytest.raises(ModelDirError, match="never overwritten"):
        with staging(smoke_model):
            pass
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(smoke_model, copy)
    with open(copy / "metrics.json", "a") as fh:
        fh.write(" ")
    with pytest.raises(ModelDirError, match="metrics.json does not match its sha256"):
        load(copy)
    with pytest.raises(ModelDirError, match="not a secnews model directory"):
        load(tmp_path)


def test_failed_training_leaves_nothing(tmp_path):
    from secnews.training.train import train

    cfg = load_config(CONFIGS / "smoke.yaml", overrides=["model.tfidf.min_df=100000"])  # empty vocabulary
    with pytest.raises(ValueError):
        train(cfg, tmp_path / "m", log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_sentences():
    assert sentences("A rocket hit. Then a second. \n\nNew paragraph") == ["A rocket hit.", "Then a second.", "New paragraph"]
    assert sentences("No full stop") == ["No full stop"]


def test_rare_labels_get_their_own_decision_cutoff_and_pos_weight():
    from secnews.training.evaluate import choose_cutoffs, multi_metrics
    from secnews.training.labels import LabelSpace
    from secnews.training.predictor import Predictor
    from secnews.training.trainer import class_weights

    rng = np.random.default_rng(0)
    y = np.zeros((400, 2), np.float32)
    y[:40, 0] = 1  # common label, well separated around 0.5
    y[:6, 1] = 1  # rare label: the model scores its positives at 0.2-0.3, never above 0.5
    proba = np.stack([np.where(y[:, 0] > 0, rng.uniform(0.6, 1, 400), rng.uniform(0, 0.4, 400)),
                      np.where(y[:, 1] > 0, rng.uniform(0.2, 0.3, 400), rng.uniform(0, 0.1, 400))], axis=1)
    cut = choose_cutoffs(y, proba, min_positives=5)
    assert 0.4 <= cut[0] <= 0.6 and 0.1 < cut[1] < 0.2
    assert choose_cutoffs(y, proba, min_positives=10)[1] == 0.5  # too few positives to tune on
    space = LabelSpace("target", "multi", ["common", "rare"], cutoffs=cut)
    assert LabelSpace.from_dict(space.to_dict()).cutoffs == cut
    flat = LabelSpace("target", "multi", ["common", "rare"])
    mask = np.ones(400, bool)
    assert multi_metrics(y, flat.decide(proba), mask, flat.labels)["per_label"]["rare"]["f1"] == 0.0
    assert multi_metrics(y, space.decide(proba), mask, space.labels)["per_label"]["rare"]["f1"] == 1.0
    np.testing.assert_allclose(flat.set_confidence(proba), np.maximum(proba, 1 - proba).min(axis=1), rtol=1e-6)

    class Fixed:
        def predict_proba(self, texts):
            return {"target": proba[:len(texts)]}
    answer = Predictor(Fixed(), {"target": space}, {}).answers(["a", "b"], evidence=False)[0]["target"]
    assert [l["label"] for l in answer["labels"]] == ["common", "rare"]

    w = class_weights(flat, {"y": y, "mask": mask}, "sqrt_inverse")
    np.testing.assert_allclose(w.numpy(), [np.sqrt(360 / 40), np.sqrt(394 / 6)], rtol=1e-6)
    assert class_weights(flat, {"y": y, "mask": mask}, "none") is None


def test_python_api_answers_typed(smoke_model, tmp_path):
    """`secnews.load` -> a model object callable on one article with typed answers, the
    same fields the service documents; the plain-dict form is their JSON."""
    import secnews
    from secnews.training.answers import ActorAnswer, ArticleAnswer

    model = secnews.load(smoke_model)
    text = "Two rockets struck a base south of Baghdad. Officials blamed Kataeb Hezbollah."
    answer = model(text)
    assert isinstance(answer, ArticleAnswer) and isinstance(answer.actor, ActorAnswer)
    assert answer.event_type.label in model.labels("event_type")
    assert answer.event_type.parent == model.spaces["event_type"].parents[answer.event_type.label]
    assert {l.label for l in answer.target.labels} <= set(model.labels("target"))
    assert answer.model_dump() == model.answers([text])[0] == model.predict([text])[0].model_dump()
    assert model.tasks == ["event_type", "target", "actor"]
    meta = model.metadata
    assert meta["kind"] == "tfidf" and set(meta["macro_f1"]) == set(model.tasks)
    assert meta["tasks"]["target"]["labels"] == model.labels("target")
    with pytest.raises(secnews.SecnewsError, match="'nope' is not a task"):
        model.labels("nope")
    with pytest.raises(secnews.SecnewsError, match="a list of articles"):
        model.predict(text)
    with pytest.raises(secnews.SecnewsError, match="no such model directory"):
        secnews.load(tmp_path / "missing")


def test_killed_training_leaves_no_model_directory(tmp_path):
    """`secnews train` SIGKILLed while it writes the model: no directory at --out, and the next
    run writes it whole (removing what the killed one left)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from .conftest import CONFIGS, ROOT

    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "secnews.serving.cli", "train", str(CONFIGS / "smoke.yaml"), "--out", str(out),
           "--set", "eval.plots=true"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(tmp_path.glob(".m.tmp-*")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "training ended before it started writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and list(tmp_path.glob(".m.tmp-*"))  # killed mid-write: only the hidden staging folder
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    read_manifest(out)
    assert not list(tmp_path.glob(".m.tmp-*"))
