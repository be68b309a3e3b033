"""The frozen news evaluation set is what its data card says, byte for byte."""
import hashlib
import json

import pytest

from .conftest import CONFIGS, ROOT

NEWS = ROOT / "datasets" / "news_eval" / "news_eval.jsonl"
SHA256 = "898a2f15a7917bdc4e7eb326b20028da749581e41b9cb0d8595d730208b1c9b6"


def test_the_news_set_is_unchanged():
    assert hashlib.sha256(NEWS.read_bytes()).hexdigest() == SHA256
    assert SHA256 in (NEWS.parent / "README.md").read_text()


def test_the_news_set_covers_every_sub_type_and_no_event_articles():
    import yaml

    rows = [json.loads(l) for l in NEWS.read_text(encoding="utf-8").splitlines()]
    subtypes = {c for cs in yaml.safe_load((CONFIGS / "taxonomy" / "event_types.yaml").read_text()).values() for c in cs}
    events = [r for r in rows if r["relevance"] == "event"]
    assert len(rows) >= 120 and len(rows) - len(events) >= 20
    assert {r["event_type"] for r in events} == subtypes
    assert sum(len(r["text"].split()) >= 600 for r in rows) >= 20
    for r in events:
        assert r["actor"] and (r["actor_span"] is None or r["actor_span"] in r["text"])


def test_no_config_trains_on_the_news_set():
    for path in CONFIGS.rglob("*.yaml"):
        assert "news_eval" not in path.read_text() and "news_dev" not in path.read_text(), path


DEV = ROOT / "datasets" / "news_dev" / "news_dev.jsonl"
DEV_SHA256 = "4ec623dde823026cd5a50a87bd1a5e04bac2dd5ab2f4158d410f96e812893136"
# the second development set (session 29): written after the first had been read for every decoding rule
DEV2 = ROOT / "datasets" / "news_dev2" / "news_dev2.jsonl"
DEV2_SHA256 = "c84b5f93efc450ffdccba856fcd6624815ff151941f5d347340530b4e3c0d0f7"


@pytest.mark.parametrize("path,digest", [(DEV, DEV_SHA256), (DEV2, DEV2_SHA256)], ids=["news_dev", "news_dev2"])
def test_the_development_sets_are_unchanged_and_apart_from_the_test_set(path, digest):
    import yaml

    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert digest in (path.parent / "README.md").read_text()
    rows = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]
    subtypes = {c for cs in yaml.safe_load((CONFIGS / "taxonomy" / "event_types.yaml").read_text()).values() for c in cs}
    events = [r for r in rows if r["relevance"] == "event"]
    assert {r["event_type"] for r in events} == subtypes
    for r in events:
        assert r["actor_kind"] in {"known", "unknown", "unidentified", "crowd"}
        assert (r["actor_span"] is None) == (r["actor_kind"] in {"unidentified", "crowd"})
        assert r["actor_span"] is None or r["actor_span"] in r["text"]
    others = {json.loads(l)["text"] for other in (NEWS, DEV, DEV2) if other != path
              for l in other.read_text(encoding="utf-8").splitlines()}
    assert not others & {r["text"] for r in rows}
