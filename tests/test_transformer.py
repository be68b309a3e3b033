"""The multi-task transformer on a tiny random BERT built here (no download)."""
import numpy as np
import pytest
import torch

from secnews.training.config import ConfigError, TrainConfig, TransformerConfig
from secnews.training.errors import SecnewsError
from secnews.training.labels import LabelSpace
from secnews.training.losses import multitask_loss
from secnews.training.trainer import (CheapDropout, _gold_batch, cheap_dropout, fit, get_lr, optimizer,
                                      set_attention_dropout, train_step)
from secnews.training.transformer import TransformerBackend, article_batch, build

from .tiny_bert import make_tiny_bert

HIER = {"Armed clash": "Battles", "Shelling/artillery/missile attack": "Explosions/Remote violence",
        "Peaceful protest": "Protests", "Violent demonstration": "Riots", "Mob violence": "Riots"}
EVENT = LabelSpace("event_type", "single", list(HIER), HIER)
ACTOR = LabelSpace("actor", "single", ["Taliban", "Protesters", "Rioters"])
TARGET = LabelSpace("target", "multi", ["military", "protesters"])
SPACES = {"event_type": EVENT, "target": TARGET, "actor": ACTOR}

ROWS = [  # text, event, targets, actor
    ("rockets struck the army base at dawn .", "Shelling/artillery/missile attack", ["military"], "Taliban"),
    ("mortar shells hit the army base again .", "Shelling/artillery/missile attack", ["military"], "Taliban"),
    ("fighters clashed with soldiers near the base .", "Armed clash", ["military"], "Taliban"),
    ("gunmen battled soldiers near the checkpoint .", "Armed clash", ["military"], "Taliban"),
    ("crowds marched peacefully with banners .", "Peaceful protest", [], "Protesters"),
    ("teachers marched peacefully to parliament .", "Peaceful protest", [], "Protesters"),
    ("youths threw stones and burned tyres .", "Riots", ["protesters"], "Rioters"),  # coarse only
    ("a mob threw stones and burned cars .", "Riots", ["protesters"], "Rioters"),
]
FILLER = ("the weather in the region stayed mild and markets opened as usual while officials discussed "
          "the budget and farmers waited for rain .")
VOCAB_TEXTS = [r[0] for r in ROWS] + [FILLER]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", VOCAB_TEXTS)


def gold_of(rows):
    return {"event_type": EVENT.encode([r[1] for r in rows]), "target": TARGET.encode([r[2] for r in rows]),
            "actor": ACTOR.encode([r[3] for r in rows])}


def trained(encoder, rows=ROWS, epochs=60, **model_kw):
    cfg = TransformerConfig(encoder=str(encoder), max_length=model_kw.pop("max_length", 64),
                            stride=model_kw.pop("stride", 8), dropout=0.0, precision="fp32")
    backend = build(cfg, SPACES, seed=0)
    train_cfg = TrainConfig(epochs=epochs, batch_size=4, lr=3e-3, warmup_ratio=0.0, bf16=False,
                            eval_every=10_000, patience=100, log_every=10_000, class_weighting="none")
    fit(backend, [r[0] for r in rows], gold_of(rows), [], {}, train_cfg, log=lambda m: None)
    return backend


@pytest.fixture(scope="module")
def overfit(encoder):
    return trained(encoder)


def test_overfits_a_handful_of_rows(overfit):
    p = overfit.predict_proba([r[0] for r in ROWS])
    coarse = p["event_type"] @ EVENT.coarse_matrix()
    assert [EVENT.coarse[i] for i in coarse.argmax(1)] == [HIER.get(r[1], r[1]) for r in ROWS]
    fine_rows = [i for i, r in enumerate(ROWS) if r[1] in HIER]
    assert [EVENT.labels[i] for i in p["event_type"][fine_rows].argmax(1)] == [ROWS[i][1] for i in fine_rows]
    assert [ACTOR.labels[i] for i in p["actor"].argmax(1)] == [r[3] for r in ROWS]
    assert ((p["target"] >= 0.5) == gold_of(ROWS)["target"]["y"].astype(bool)).all()


def test_coarse_only_rows_train_the_coarse_level(overfit):
    # the Riots rows named no sub-type: the parent is learnt, its children share its mass
    p = overfit.predict_proba(["youths threw stones and burned tyres ."])["event_type"][0]
    riots = [EVENT.labels.index("Violent demonstration"), EVENT.labels.index("Mob violence")]
    assert p[riots].sum() > 0.9


def test_save_load_identical_logits(overfit, tmp_path):
    texts = [r[0] for r in ROWS] + [FILLER]
    before = overfit.predict_proba(texts)
    overfit.save(tmp_path)
    again = TransformerBackend.load(tmp_path, overfit.cfg, SPACES).predict_proba(texts)
    for task in before:
        np.testing.assert_array_equal(before[task], again[task])


def test_batched_equals_single(overfit):
    texts = [r[0] for r in ROWS] + [FILLER * 3]
    batched = overfit.predict_proba(texts)
    for i, t in enumerate(texts):
        single = overfit.predict_proba([t])
        for task in SPACES:
            np.testing.assert_allclose(batched[task][i], single[task][0], atol=1e-5)


def test_masked_tasks_leave_other_heads_untouched(encoder):
    backend = build(TransformerConfig(encoder=str(encoder), dropout=0.0), SPACES, seed=0)
    model = backend.model.train()
    before = {n: p.detach().clone() for n, p in model.heads.named_parameters()}
    rows = [(ROWS[0][0], ROWS[0][1], None, None), (ROWS[4][0], ROWS[4][1], None, None)]  # event_type only
    gold = {"event_type": EVENT.encode([r[1] for r in rows]), "target": TARGET.encode([None, None]),
            "actor": ACTOR.encode([None, None])}
    enc = backend.tokenizer([r[0] for r in rows], padding=True, return_tensors="pt")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    loss = multitask_loss(model(enc["input_ids"], enc["attention_mask"]), _gold_batch(gold, np.arange(2)), SPACES, {})
    loss.backward()
    opt.step()
    for name, p in model.heads.named_parameters():
        changed = not torch.equal(before[name], p)
        assert changed == name.startswith("event_type"), name


def test_long_article_is_read_to_the_end(encoder):
    # the filler is seen in training as undecided between two events, like background prose,
    # and reports that carry background still train their event
    rows = ROWS + [(FILLER, "Armed clash", None, None), (FILLER, "Peaceful protest", None, None)] + [
        (r[0] + " " + FILLER, r[1], None, None) for r in ROWS if r[1] in HIER]
    backend = trained(encoder, rows=rows, epochs=60, max_length=32, stride=8)
    from secnews.training.predictor import Predictor

    planted = "Rockets struck the army base at dawn."
    article = "\n\n".join([FILLER] * 140) + "\n\n" + planted  # ~3,000 words, the event in the last paragraph
    assert len(article.split()) > 3000
    ids, owner = backend.windows([article])
    assert len(ids) > 100
    predictor = Predictor(backend, SPACES, {"name": "tiny"})
    (answer,) = predictor.answers([article])
    assert answer["event_type"]["label"] == "Shelling/artillery/missile attack"
    assert answer["event_type"]["evidence"] == planted
    first_window_only = backend.predict_proba([backend.tokenizer.decode(ids[0], skip_special_tokens=True)])
    assert EVENT.labels[first_window_only["event_type"][0].argmax()] != "Shelling/artillery/missile attack"


def test_a_long_article_meets_the_encoder_a_batch_of_windows_at_a_time(encoder):
    # peak memory must not grow with the longest article (issue 14's soak): a 100-window
    # article goes through the encoder batch_size windows at a time, with the same answer
    reader = build(TransformerConfig(encoder=str(encoder), pooling="attention", max_length=32, stride=8,
                                     dropout=0.0, precision="fp32"), SPACES, seed=0)
    article = "\n\n".join([FILLER] * 40) + "\n\n" + ROWS[0][0]
    whole = reader.predict_proba([article, ROWS[1][0]])
    calls = []
    reader.model.encoder.register_forward_hook(lambda mod, args, kw, out: calls.append(kw["input_ids"].shape[0]),
                                               with_kwargs=True)
    reader.set_batch_size(4)
    chunked = reader.predict_proba([article, ROWS[1][0]])
    assert len(reader.windows([article])[0]) > 40 and calls and max(calls) <= 4
    for task in whole:
        np.testing.assert_allclose(chunked[task], whole[task], atol=1e-5)


def test_default_encoder_config_and_bad_encoder(tmp_path):
    from secnews.training.transformer import resolve_encoder

    assert (resolve_encoder("default") + "/config.json") and "minilm" in resolve_encoder("default").lower()
    with pytest.raises(ValueError, match="cannot load it offline"):
        build(TransformerConfig(encoder=str(tmp_path / "missing")), SPACES, seed=0)


def test_train_pipeline_writes_a_loadable_transformer_directory(tmp_path, monkeypatch):
    import json

    from secnews.training import load
    from secnews.training.config import load_config
    from secnews.training.modeldir import read_manifest
    from secnews.training.train import train

    from .conftest import CONFIGS, ROOT

    starter = [json.loads(l)["text"] for f in sorted((ROOT / "datasets" / "starter").glob("*.jsonl"))
               for l in f.read_text().splitlines()]
    enc = make_tiny_bert(tmp_path / "enc", starter)
    cfg = load_config(CONFIGS / "default.yaml", overrides=[
        f"model.transformer.encoder={enc}", "model.transformer.max_length=48", "model.transformer.stride=8",
        "train.epochs=1", "train.batch_size=16", "train.eval_every=10", "train.bf16=false", "eval.plots=false"])
    out = train(cfg, tmp_path / "m", log=lambda m: None)
    manifest = read_manifest(out)
    assert manifest["kind"] == "transformer" and "heads.safetensors" in manifest["files"]
    assert "encoder/model.safetensors" in manifest["files"] and not list(out.rglob("*.bin"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training"]["steps"] > 0 and metrics["training"]["history"]
    predictor = load(out)
    (answer,) = predictor.answers(["Rockets struck a base near the capital."])
    assert set(answer) == {"event_type", "target", "actor", "relevance"} and answer["event_type"]["evidence"]
    for space in predictor.spaces.values():  # thresholds were chosen on validation
        assert 0.0 <= space.threshold <= 1.0
    # prediction settings from the environment, over the saved config, which stays hash-verified
    assert predictor.backend.pack_width == 48  # configs/default.yaml packs short windows
    monkeypatch.setenv("SECNEWS_PRECISION", "fp32")
    monkeypatch.setenv("SECNEWS_PACK_WINDOWS", "false")
    runtime = load(out)
    assert runtime.backend.bf16 is False and runtime.backend.pack_width is None
    assert runtime.answers(["Rockets struck a base near the capital."])[0]["event_type"]["label"] == \
        answer["event_type"]["label"]
    read_manifest(out)  # config.yaml untouched
    monkeypatch.setenv("SECNEWS_PRECISION", "fp16")
    with pytest.raises(SecnewsError, match=r"SECNEWS_PRECISION='fp16'.*'auto' \| 'fp32' \| 'bf16'"):
        load(out)
    monkeypatch.setenv("SECNEWS_PRECISION", "")
    monkeypatch.setenv("SECNEWS_PACK_WINDOWS", "maybe")
    with pytest.raises(SecnewsError, match=r"SECNEWS_PACK_WINDOWS='maybe'.*expected bool"):
        load(out)


def test_precision_auto_falls_back_to_fp32_without_bf16_units(overfit, monkeypatch):
    import secnews.training.transformer as tr

    backend = overfit
    texts = ["rockets struck the base", "crowds marched peacefully"]
    monkeypatch.setattr(tr, "cpu_has_bf16", lambda: False)
    backend.set_precision("auto")
    assert backend.bf16 is False
    fp32 = backend.predict_proba(texts)
    monkeypatch.setattr(tr, "cpu_has_bf16", lambda: True)
    backend.set_precision("auto")
    assert backend.bf16 is True
    bf16 = backend.predict_proba(texts)
    backend.set_precision("fp32")  # forced, whatever the CPU has (the fixture's own setting)
    assert backend.bf16 is False
    assert all(np.allclose(fp32[k], backend.predict_proba(texts)[k], atol=1e-6) for k in fp32)
    # bf16 answers are close to fp32's, not the same computation
    assert all(np.abs(fp32[k] - bf16[k]).max() < 0.05 for k in fp32)
    with pytest.raises(ValueError, match="precision must be auto, fp32 or bf16"):
        backend.set_precision("fp16")


@pytest.mark.parametrize("units,setting,expected", [(False, "auto", False), (True, "auto", True),
                                                     (False, True, True), (True, False, False)])
def test_training_autocast_follows_train_bf16(encoder, monkeypatch, units, setting, expected):
    """train.bf16 auto trains in bf16 only where the CPU has bf16 units: elsewhere autocast
    emulates bf16 (a training step 24x slower than fp32 on an AVX2 EPYC); true/false force it."""
    import secnews.training.transformer as tr

    monkeypatch.setattr(tr, "cpu_has_bf16", lambda: units)
    seen, autocast = [], torch.autocast

    def spy(device_type, *args, enabled=True, **kw):
        seen.append(enabled)
        return autocast(device_type, *args, enabled=enabled, **kw)

    monkeypatch.setattr(torch, "autocast", spy)
    backend = build(TransformerConfig(encoder=str(encoder), max_length=64, stride=8, precision="fp32"), SPACES, seed=0)
    lines = []
    fit(backend, [r[0] for r in ROWS], gold_of(ROWS), [], {},
        TrainConfig(epochs=1, batch_size=4, bf16=setting, eval_every=10_000, log_every=10_000), log=lines.append)
    assert seen and set(seen) == {expected}  # every training forward pass
    assert any(f"bf16 autocast {'on' if expected else 'off'} (train.bf16: {setting})" in line for line in lines)


def test_cheap_dropout_drops_its_share_keeps_the_mean_and_passes_gradients():
    torch.manual_seed(0)
    drop = CheapDropout(0.1)  # 26/256 of the elements dropped
    x = torch.ones(2000, 384, requires_grad=True)
    y = drop(x)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 230 / 256) < 0.003 and abs(y.mean().item() - 1.0) < 0.01
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * (256 / 230))  # the same mask scales the gradient
    assert not torch.equal(drop(x), y)  # a fresh mask each call
    drop.eval()
    assert drop(x) is x
    odd = torch.ones(3, 5, 7).bfloat16()  # sizes that are no multiple of the 8 bytes a draw gives
    assert CheapDropout(0.5)(odd).shape == odd.shape


def test_training_swaps_the_dropouts_but_not_the_attention_kernels_p(encoder):
    backend = build(TransformerConfig(encoder=str(encoder), max_length=64, stride=8, precision="fp32"), SPACES, seed=0)
    attention = [m for m in backend.model.modules() if type(m).__name__ == "BertSelfAttention"]
    assert cheap_dropout(backend.model) > 0
    assert not any(type(m) is torch.nn.Dropout for m in backend.model.modules()
                   if m not in [a.dropout for a in attention])
    assert all(type(a.dropout) is torch.nn.Dropout and a.dropout.p == 0.1 for a in attention)
    set_attention_dropout(backend.model.encoder, None)
    assert all(a.dropout.p == 0.1 for a in attention)
    set_attention_dropout(backend.model.encoder, 0.0)
    assert all(a.dropout.p == 0.0 for a in attention)
    lines = []
    fit(backend, [r[0] for r in ROWS], gold_of(ROWS), [], {},
        TrainConfig(epochs=1, batch_size=4, bf16=False, attention_dropout=0.05, eval_every=10_000, log_every=10_000),
        log=lines.append)
    assert all(a.dropout.p == 0.05 for a in attention) and any("attention dropout 0.05" in line for line in lines)


def test_frozen_embeddings_and_layers_keep_their_weights_and_the_rest_trains(encoder):
    backend = build(TransformerConfig(encoder=str(encoder), max_length=64, stride=8, precision="fp32"), SPACES, seed=0)
    model = backend.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lines = []
    fit(backend, [r[0] for r in ROWS], gold_of(ROWS), [], {},
        TrainConfig(epochs=2, batch_size=4, lr=1e-3, bf16=False, freeze_embeddings=True, freeze_layers=1,
                    eval_every=10_000, log_every=10_000), log=lines.append)
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    frozen = {k for k in before if k.startswith(("encoder.embeddings.", "encoder.encoder.layer.0."))}
    assert frozen and not moved & frozen
    assert any(k.startswith("encoder.encoder.layer.1.") for k in moved) and any(k.startswith("heads.") for k in moved)
    assert any("frozen: embeddings, 1 layers" in line for line in lines)
    with pytest.raises(ConfigError, match=r"train.freeze_layers: the encoder has 2 layers, found 3"):
        fit(backend, [r[0] for r in ROWS], gold_of(ROWS), [], {},
            TrainConfig(epochs=1, batch_size=4, bf16=False, freeze_layers=3), log=lines.append)


def test_evaluation_after_a_training_step_reads_the_new_weights(encoder):
    """The fused optimiser does not move the weights' version counters, which the kept bf16
    weight copies follow; train_step moves them, so validation between steps reads new weights."""
    backend = build(TransformerConfig(encoder=str(encoder), max_length=64, stride=8, precision="bf16"), SPACES, seed=0)
    texts, model = [r[0] for r in ROWS], backend.model
    backend.predict_proba(texts)  # the kept copies are made here
    opt = optimizer(model, TrainConfig(lr=3e-2), backend.device)
    enc = backend.encode(texts)
    idx = np.arange(len(texts))
    model.train()
    train_step(model, article_batch(enc, idx, backend.tokenizer.pad_token_id, backend.device),
               _gold_batch(gold_of(ROWS), idx), SPACES, {}, opt, bf16=False)
    model.eval()
    kept = backend.predict_proba(texts)
    for module in model.modules():
        vars(module).pop("_bf16_copies", None)
    fresh = backend.predict_proba(texts)
    assert all(np.array_equal(kept[k], fresh[k]) for k in fresh)


def test_kept_bf16_weights_answer_as_autocast_does_and_follow_the_weights(encoder):
    """bf16 inference keeps each Linear's bf16 weight instead of casting it on every call: the
    probabilities are those of plain autocast, a changed weight is cast again, and a forward
    pass that trains reads (and gradients reach) the fp32 weights."""
    from secnews.training.transformer import keep_bf16_weights

    backend = trained(encoder, epochs=5)
    backend.set_precision("bf16")
    texts = [r[0] for r in ROWS]
    linears = [m for m in backend.model.modules() if isinstance(m, torch.nn.Linear)]

    def plain_autocast():
        for m in [m for m in backend.model.modules() if "forward" in vars(m)]:  # each module's own forward
            del m.forward
        try:
            return backend.predict_proba(texts)
        finally:
            keep_bf16_weights(backend.model)  # Linears only: the encoder's stream as autocast leaves it

    plain = plain_autocast()
    kept = backend.predict_proba(texts)
    assert all(vars(m).get("_bf16_copies") for m in linears)  # the copies were made
    assert all(np.array_equal(kept[k], v) for k, v in plain.items())
    head = backend.model.heads["event_type"]
    with torch.no_grad():
        head.weight.mul_(-1.0)  # as an optimiser step would, in place
    flipped = backend.predict_proba(texts)
    assert not np.allclose(flipped["event_type"], kept["event_type"])
    assert all(np.array_equal(flipped[k], v) for k, v in plain_autocast().items())
    backend.model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ids = backend.tokenizer(texts[:2], return_tensors="pt", padding=True)
        hidden = backend.model.encoder(**ids).last_hidden_state
        hidden.float().sum().backward()
    backend.model.eval()
    first = backend.model.encoder.encoder.layer[0].attention.self.query
    assert first.weight.grad is not None and first.weight.dtype == torch.float32


def test_the_encoder_stream_stays_bf16_at_inference_and_follows_its_weights(encoder):
    """A loaded model's encoder keeps its LayerNorms and embeddings in bf16 too under bf16
    inference, and runs each feed-forward product with its GELU as one call: hidden states
    leave the encoder as bf16 (autocast alone returns fp32 after the
    last LayerNorm), the answers stay close to autocast's, a changed LayerNorm weight is cast
    again, and training (gradients on) runs the fp32 weights as before."""
    from secnews.training.transformer import keep_bf16_weights

    backend = trained(encoder, epochs=5)
    backend.set_precision("bf16")
    texts = [r[0] for r in ROWS]
    model = backend.model
    ids = backend.tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.encoder(**ids).last_hidden_state.dtype == torch.bfloat16
    stream = backend.predict_proba(texts)
    norms = [m for m in model.encoder.modules() if isinstance(m, torch.nn.LayerNorm)]
    fused = [m for m in model.encoder.modules() if hasattr(m, "intermediate_act_fn") and "forward" in vars(m)]
    assert len(fused) == model.encoder.config.num_hidden_layers  # each product + GELU in one oneDNN call
    for m in [m for m in model.encoder.modules() if "forward" in vars(m) and not isinstance(m, torch.nn.Linear)]:
        del m.forward
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.encoder(**ids).last_hidden_state.dtype == torch.float32
    autocast = backend.predict_proba(texts)
    assert all(np.abs(stream[k] - autocast[k]).max() < 0.02 for k in stream)
    keep_bf16_weights(model, stream=model.encoder)
    with torch.no_grad():
        norms[-1].weight.mul_(-1.0)  # in place: the kept copy must follow it
    moved = backend.predict_proba(texts)
    assert not np.allclose(moved["event_type"], stream["event_type"])
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = model.encoder(**ids).last_hidden_state
    assert hidden.dtype == torch.float32  # the LayerNorm ran its fp32 weights
    hidden.sum().backward()
    model.eval()
    assert norms[-1].weight.grad is not None and norms[-1].weight.dtype == torch.float32


def test_onnx_runtime_copy_answers_like_torch(encoder, tmp_path):
    """`secnews export-onnx`: a new model directory whose encoder runs on ONNX Runtime gives
    torch's probabilities (fp32) or close ones (int8); the source directory is untouched, and
    an exported model does not retrain."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import subprocess
    import sys

    from secnews.training.config import load_config
    from secnews.training.modeldir import load, read_manifest
    from secnews.training.train import train

    from .conftest import ROOT, write_jsonl
    from .synthetic import OLD_ACTORS, config_yaml, reports

    rows = reports(OLD_ACTORS, 60, 0, "x")
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    (tmp_path / "c.yaml").write_text(config_yaml("transformer", encoder))
    cfg = load_config(tmp_path / "c.yaml", data_paths=[str(data)],
                      overrides=["train.epochs=3", "model.transformer.precision=fp32"])
    source = train(cfg, tmp_path / "m", log=lambda m: None)
    before = read_manifest(source)["files"]

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "secnews.serving.cli", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)

    assert cli("export-onnx", source, "--out", tmp_path / "fp32").returncode == 0
    assert cli("export-onnx", source, "--out", tmp_path / "int8", "--int8").returncode == 0
    assert read_manifest(source)["files"] == before
    texts = [r["text"] for r in rows[:24]]
    torch_p = load(source).predict_proba(texts)
    for name, tolerance in (("fp32", 1e-4), ("int8", 0.1)):
        exported = load(tmp_path / name)  # verifies every file's hash
        assert exported.config.model.transformer.runtime == ("onnx" if name == "fp32" else "onnx-int8")
        p = exported.predict_proba(texts)
        assert all(np.abs(p[t] - torch_p[t]).max() < tolerance for t in p), name
        assert exported.answers(texts[:2])[0]["event_type"]["evidence"]
    refused = cli("retrain", "--from", tmp_path / "fp32", "--data", data, "--out", tmp_path / "child")
    assert refused.returncode == 2 and "retrain the torch model it was exported from" in refused.stderr


def test_learning_rate_anneals_by_the_clock_when_the_budget_ends_first():
    total = 1000
    # warmup, then the step schedule while the clock is not the tighter end
    assert get_lr(0, 0.0, total, 0.1, 3000.0) == pytest.approx(1 / 100)
    assert get_lr(550, 10.0, total, 0.1, 3000.0) == pytest.approx(0.5)
    # a run that reaches only step 300 when its 50 minutes are 90% gone decays by the clock
    assert get_lr(300, 2700.0, total, 0.1, 3000.0) == pytest.approx(0.1 / 0.9)
    assert get_lr(300, 3000.0, total, 0.1, 3000.0) == 0.0
    # no budget: by steps alone, as before
    assert get_lr(300, 1e9, total, 0.1, None) == pytest.approx(0.7 / 0.9)


def test_packed_windows_answer_as_unpacked(encoder):
    """Short notes packed several to an encoder row (model.transformer.pack_windows), each
    seeing only itself: the same probabilities, evidence and actor name spans as one row each."""
    cfg = TransformerConfig(encoder=str(encoder), max_length=48, stride=8, pooling="attention", span_task="actor",
                            precision="fp32", pack_windows=True)
    backend = build(cfg, SPACES, seed=0)
    assert backend.pack_width == 48
    texts = [ROWS[i % len(ROWS)][0] * (1 + i % 3) for i in range(21)] + [FILLER * 4, ROWS[0][0] + "\n\n" + FILLER]
    enc = backend.encode(texts)
    with torch.inference_mode():
        packed = [b for _, b, _ in backend.reads(enc)]
        backend.pack_width = None
        single = [b for _, b, _ in backend.reads(enc)]
        plain = backend.read(texts)
        backend.pack_width = 48
        again = backend.read(texts)
    rows = lambda batches: sum(len(ids) for b in batches for ids in b.input_ids)  # noqa: E731
    assert rows(packed) < rows(single) / 2  # the notes share rows
    for name in plain[0]:
        np.testing.assert_allclose(plain[0][name], again[0][name], atol=1e-5)
        np.testing.assert_array_equal(plain[1][name], again[1][name])
    spans = lambda names: [[(s.start, s.end, round(s.score, 4)) for s in n] for n in names]  # noqa: E731
    assert spans(plain[3]) == spans(again[3]) and any(plain[3])
