import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHARED = ROOT.parent / "shared" / "datasets"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def smoke_model(tmp_path_factory):
    """The smoke config trained once on the starter set, shared by the tests that only read it."""
    from training.config import load_config
    from training.train import train

    out = tmp_path_factory.mktemp("models") / "smoke"
    return train(load_config(CONFIGS / "smoke.yaml", overrides=["eval.plots=true"]), out, log=lambda m: None)
