import json
import os
import sys
import time
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
    from secnews.training.config import load_config
    from secnews.training.train import train

    out = tmp_path_factory.mktemp("models") / "smoke"
    return train(load_config(CONFIGS / "smoke.yaml", overrides=["eval.plots=true"]), out, log=lambda m: None)


def _bentoml_workers_since(boot_ticks: int) -> list[str]:
    """BentoML processes of this interpreter started after `boot_ticks` (clock ticks since boot),
    and the model lane processes (serving/lanes.py) that the service or a test started."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            started = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[19])
        except (OSError, IndexError, ValueError):
            continue
        if started >= boot_ticks and cmd[0].decode(errors="replace") == sys.executable \
                and any(b"_bentoml_impl" in part or b"spawn_main" in part for part in cmd):
            found.append(f"{entry}: {b' '.join(cmd[:4]).decode(errors='replace')}")
    return found


def _ticks_now() -> int:
    return int(float(open("/proc/uptime").read().split()[0]) * os.sysconf("SC_CLK_TCK"))


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """A test that starts a server stops everything it started: at the end of the session no
    BentoML process or model lane process of this run is alive."""
    start = _ticks_now()
    yield
    deadline = time.time() + 10
    while (left := _bentoml_workers_since(start)) and time.time() < deadline:
        time.sleep(0.5)
    assert not left, f"processes left behind by the tests: {left}"
