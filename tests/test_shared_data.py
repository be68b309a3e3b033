"""Readers and the standard split on the real shared data, read by path. Skipped when
../shared/datasets is absent. No training here: that belongs to benchmarks."""
import pytest

from secnews.training.config import SplitConfig, load_config
from secnews.training.data import read_data
from secnews.training.split import assign_split
from secnews.training.taxonomy import read_hierarchy

from .conftest import CONFIGS, SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/datasets is not present")

FINE = {c for cs in read_hierarchy(CONFIGS / "taxonomy" / "event_types.yaml").values() for c in cs}


def read(rel, fmt, config="baseline.yaml"):
    cfg = load_config(CONFIGS / config, data_paths=[str(SHARED / rel)], data_format=fmt)
    df = read_data(cfg.data, cfg.tasks)
    df["fold"] = assign_split(df, SplitConfig(val_fraction=0.0))
    return df


def test_acled_counts_split_and_labels():
    df = read("acled/acled_events.csv.gz", "acled")
    assert len(df) == 54_935 and (df["fold"] == "test").sum() == 11_031  # the shared README's figures
    assert set(df["event_type"]) <= FINE
    # coder artefacts are stripped: a handful of odd date forms ("On 19/03 in ...") remain
    assert df["text"].str.match(r"^On \d").sum() < 30 and not df["text"].str.contains(r"\[size=").any()
    assert df["target"].map(len).gt(0).mean() > 0.3


def test_gtd_iraq_and_drone_database():
    iraq = read("gtd/gtd_iraq_2012_2017.csv", "gtd")
    assert len(iraq) == 2_900 and (iraq["fold"] == "test").sum() == 577
    assert iraq["actor"].value_counts().index[0] == "Islamic State"
    drone = read("gtd/drone_attacks_gtd_acled.csv", "gtd")
    assert len(drone) == 1_524
    assert drone["event_type"].notna().sum() == 491 - 9  # GTD rows, less attack type Unknown
    assert (drone["event_type"] == "Air/drone strike").sum() > 200


def test_muc():
    df = read("muc34/muc34.jsonl.gz", "muc", config="muc.yaml")
    assert len(df) == 1_700 and (df["fold"] == "test").sum() == 400
    assert (df["incident_types"].map(len) == 0).sum() == 758
