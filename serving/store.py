"""The BentoML model store: import a model directory, list versions, find one again."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from secnews.training.errors import SecnewsError

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

NAME = "secnews"
TAG = re.compile(r"[A-Za-z0-9][\w.\-]*(:[\w.\-]+)?")  # what a BentoML tag looks like (no slash)
CANDIDATES = f"{NAME}-candidate"  # retrained models that did not pass promotion: `latest` stays put


def _summary(model_dir: Path) -> tuple[dict, dict]:
    from secnews.training.modeldir import read_manifest, sha256

    manifest = read_manifest(model_dir)  # verifies every file's hash first
    metrics = json.loads((model_dir / "metrics.json").read_text())
    macro = {t: m.get("macro_f1") for t, m in metrics["tasks"].items()}
    labels = {"kind": manifest["kind"], "model_name": manifest["name"], "parent": str(manifest.get("parent") or "")}
    promotion = (manifest.get("retrain") or {}).get("promotion")
    if promotion:
        labels["promotion"] = "forced" if promotion["forced"] else "passed" if promotion["passed"] else "failed"
    metadata = {"manifest_sha256": sha256(model_dir / "manifest.json"), "source": str(model_dir.resolve()),
                "created": manifest["created"], "macro_f1": macro,
                "tasks": {t["name"]: {"type": t["type"], "labels": t["labels"]} for t in manifest["tasks"]}}
    return labels, metadata


def resolve_model(model: str) -> tuple[Path, str]:
    """A model directory, or a tag in the store (secnews:latest): (its folder, the name to record)."""
    if Path(model).is_dir():
        return Path(model), str(Path(model).resolve())
    if not TAG.fullmatch(model):
        raise SecnewsError(f"{model}: no such model directory (nor a store tag such as {NAME}:latest)")
    import bentoml

    stored = bentoml.models.get(model)
    return Path(stored.path), str(stored.tag)


def import_model(model_dir: str | Path, name: str = NAME) -> str:
    """Copy a model directory into the store as a new version of `name`; returns its tag."""
    import bentoml

    model_dir = Path(model_dir)
    labels, metadata = _summary(model_dir)
    with bentoml.models.create(name, labels=labels, metadata=metadata) as model:
        shutil.copytree(model_dir, model.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("evaluations"))
    return str(model.tag)


def find(model_dir: str | Path, name: str = NAME) -> str | None:
    """The tag of an earlier import of this exact model directory, if any."""
    from secnews.training.modeldir import sha256

    digest = sha256(Path(model_dir) / "manifest.json")
    for m in list_models(name):
        if m["metadata"].get("manifest_sha256") == digest:
            return m["tag"]
    return None


def list_models(name: str = NAME) -> list[dict]:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        models = bentoml.models.list(name)
    except NotFound:  # no version of this name yet
        return []
    out = []
    for m in models:
        info = m.info
        out.append({"tag": str(m.tag), "created": info.creation_time.isoformat(timespec="seconds"),
                    "labels": dict(info.labels), "metadata": dict(info.metadata), "path": m.path})
    return sorted(out, key=lambda m: m["created"], reverse=True)
