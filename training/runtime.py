"""The encoder under ONNX Runtime: `secnews export-onnx MODEL --out DIR [--int8]` writes a new
model directory whose encoder runs as an ONNX graph (fp32, or with dynamically quantised int8
weights); the heads, the article reader and the span head stay in torch, so everything else
(windows, evidence, actor spans) is the same code.

torch.onnx.export with dynamo=True (the TorchScript exporter traced transformers 5's mask
code wrongly here: hidden states off by up to 2.0); optimum is not used, it would downgrade
transformers. The source directory is never changed: a model directory is immutable."""
from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import yaml
from torch import nn

from .errors import SecnewsError

FILES = {"onnx": "encoder.onnx", "onnx-int8": "encoder.int8.onnx"}


class OnnxEncoder(nn.Module):
    """Called like a transformers encoder (`last_hidden_state`), run by ONNX Runtime."""

    def __init__(self, path: Path, config):
        super().__init__()
        try:
            import onnxruntime as ort
        except ImportError:
            raise SecnewsError(f"{path}: this model's encoder runs on ONNX Runtime: pip install onnxruntime") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.config = config  # hidden_size, for the heads

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        hidden = self.session.run(None, {"input_ids": input_ids.cpu().numpy().astype(np.int64),
                                         "attention_mask": attention_mask.cpu().numpy().astype(np.int64)})[0]
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))


class _Hidden(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def export_encoder(encoder_dir: Path, out: Path, max_length: int) -> None:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(encoder_dir, attn_implementation="eager").eval()
    ids = torch.randint(100, 1000, (2, min(64, max_length)))
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=max_length)
    torch.onnx.export(_Hidden(encoder).eval(), (ids, torch.ones_like(ids)), str(out), dynamo=True,
                      input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                      dynamic_shapes={"input_ids": {0: batch, 1: tokens}, "attention_mask": {0: batch, 1: tokens}})


def export(model_dir: Path, out: Path, int8: bool = False, log=print) -> Path:
    """A copy of the transformer model in `model_dir` whose encoder runs on ONNX Runtime."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .modeldir import read_manifest, staging, write_manifest

    manifest = read_manifest(model_dir)
    if manifest["kind"] != "transformer":
        raise SecnewsError(f"{model_dir} is a {manifest['kind']} model: only a transformer's encoder is exported")
    raw = yaml.safe_load((model_dir / "config.yaml").read_text())
    tcfg = raw.setdefault("model", {}).setdefault("transformer", {})
    if tcfg.get("runtime", "torch") != "torch":
        raise SecnewsError(f"{model_dir} already runs on {tcfg['runtime']}: export from the torch model")
    runtime = "onnx-int8" if int8 else "onnx"
    with staging(out) as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("manifest.json", "evaluations"))
        log(f"exporting the encoder of {model_dir} to ONNX")
        export_encoder(model_dir / "encoder", tmp / FILES["onnx"], tcfg.get("max_length", 128))
        if int8:
            log("quantising its weights to int8 (dynamic)")
            quantize_dynamic(str(tmp / FILES["onnx"]), str(tmp / FILES[runtime]), weight_type=QuantType.QInt8)
            (tmp / FILES["onnx"]).unlink()
        for f in (tmp / "encoder").glob("*.safetensors"):
            f.unlink()  # the weights are in the graph; config and tokenizer stay
        tcfg["runtime"] = runtime
        (tmp / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
        keep = {k: v for k, v in manifest.items() if k not in ("files", "format_version", "created", "versions")}
        write_manifest(tmp, {**keep, "name": out.name, "exported": {"from": manifest.get("name"), "runtime": runtime}})
    log(f"{out}: the model with its encoder on ONNX Runtime ({runtime})")
    return out
