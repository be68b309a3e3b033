"""The model directory: the one contract between training and everything else.

Written to a temporary sibling and renamed into place, so a reader never sees a
half-written model and an existing model is never overwritten."""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Iterator

import yaml

from .errors import SecnewsError

FORMAT_VERSION = 1
# model kind -> (module, class) of its backend (predictor.Backend); imported on load only,
# so a TF-IDF model never imports torch
KINDS = {"tfidf": ("baseline", "TfidfModel"), "transformer": ("transformer", "TransformerBackend")}
MANIFEST = "manifest.json"
# prediction settings a saved model takes from the environment at load, without retraining
# (config.yaml is hash-verified, so it is never edited): read wherever a model loads, so
# `secnews predict/score/serve --precision/--pack-windows`, the service's lanes and the
# scorer's Spark workers all see them
RUNTIME_ENV = {"SECNEWS_PRECISION": "precision", "SECNEWS_PACK_WINDOWS": "pack_windows"}


class ModelDirError(SecnewsError):
    pass


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("secnews", "scikit-learn", "skops", "numpy", "scipy", "pandas", "torch", "transformers"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; on success it becomes `out`, on error it is removed.
    A writer killed outright (SIGKILL) cannot remove it: the folder names its process, and the
    next writer of `out` removes the folders of processes that no longer exist."""
    out = Path(out)
    if out.exists():
        raise ModelDirError(f"{out} already exists; a model directory is never overwritten — choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.tmp-*"):  # left by a writer that was killed
        pid = stale.name[len(f".{out.name}.tmp-"):].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    try:
        yield tmp
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(folder: Path, manifest: dict) -> dict:
    """Fill in hashes of every file in the folder and write manifest.json last."""
    manifest = {"format_version": FORMAT_VERSION,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "versions": library_versions(), **manifest}
    manifest["files"] = {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*"))
                         if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def read_manifest(path: Path, verify: bool = True) -> dict:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise ModelDirError(f"{path} is not a secnews model directory: {MANIFEST} is missing")
    manifest = json.loads((path / MANIFEST).read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelDirError(f"{path}: model format version {manifest.get('format_version')} is not supported "
                            f"(this secnews reads version {FORMAT_VERSION})")
    if verify:
        for name, digest in manifest.get("files", {}).items():
            f = path / name
            if not f.is_file():
                raise ModelDirError(f"{path}: {name} is listed in the manifest but missing")
            if sha256(f) != digest:
                raise ModelDirError(f"{path}: {name} does not match its sha256 in the manifest (changed or corrupt)")
    return manifest


def bundle_config(cfg, folder: Path):
    """The config as the model directory keeps it, self-contained: the taxonomy (and any
    hierarchy or description file kept elsewhere) copied into `taxonomy/`, composition
    paragraphs into `compose/`, every path relative to the directory; the training data's
    paths only as `data.paths_hint`. The directory can then be copied to another machine."""
    import copy

    cfg = copy.deepcopy(cfg)
    tax = Path(cfg.data.taxonomy)
    (folder / "taxonomy").mkdir()
    if tax.is_dir():
        for f in sorted(tax.glob("*.yaml")):
            shutil.copyfile(f, folder / "taxonomy" / f.name)

    def inside(path: str | None) -> str | None:
        if not path:
            return path
        target = folder / "taxonomy" / Path(path).name
        if not target.exists():
            shutil.copyfile(path, target)
        return f"taxonomy/{Path(path).name}"

    for task in cfg.tasks:
        task.hierarchy, task.descriptions = inside(task.hierarchy), inside(task.descriptions)
    if cfg.compose.paragraphs:
        (folder / "compose").mkdir()
        for p in cfg.compose.paragraphs:
            shutil.copyfile(p, folder / "compose" / Path(p).name)
        cfg.compose.paragraphs = [f"compose/{Path(p).name}" for p in cfg.compose.paragraphs]
    cfg.data.taxonomy = "taxonomy"
    cfg.data.paths_hint, cfg.data.paths = list(cfg.data.paths), []
    return cfg


def describe(path: str | Path, verify: bool = True):
    """A model directory's manifest, config and label spaces, without loading its weights
    (what the service's worker needs; its model lanes load the model)."""
    from .config import config_from_dict
    from .labels import LabelSpace

    path = Path(path)
    manifest = read_manifest(path, verify)
    raw = yaml.safe_load((path / "config.yaml").read_text())
    settings = {env: os.environ.get(env, "").strip() for env in RUNTIME_ENV}
    settings = {env: value for env, value in settings.items() if value}
    # one build; an error's source names the variables set, its message the key that failed
    cfg = config_from_dict(raw, base=path, overrides=[f"model.transformer.{RUNTIME_ENV[e]}={v}" for e, v in settings.items()],
                           source=", ".join(f"{e}={v!r}" for e, v in settings.items()) or str(path / "config.yaml"))
    return manifest, cfg, {d["name"]: LabelSpace.from_dict(d) for d in manifest["tasks"]}


def load(path: str | Path, verify: bool = True):
    """The one loader: a Predictor for any model kind."""
    from .predictor import Predictor

    path = Path(path)
    manifest, cfg, spaces = describe(path, verify)
    if manifest["kind"] not in KINDS:
        raise ModelDirError(f"{path}: unknown model kind {manifest['kind']!r}; this secnews reads {', '.join(KINDS)}")
    module, name = KINDS[manifest["kind"]]
    backend_class = getattr(importlib.import_module(f".{module}", __package__), name)
    backend = backend_class.load(path, getattr(cfg.model, manifest["kind"]), spaces)
    return Predictor(backend, spaces, manifest, top_k=cfg.eval.top_k, config=cfg, path=path)
