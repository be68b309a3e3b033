from pathlib import Path

import pytest

from secnews.training.config import ConfigError, load_config, parse_overrides

from .conftest import CONFIGS


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


MINIMAL = "tasks:\n  - name: actor\n"


def test_shipped_configs_validate():
    for name in ("baseline", "smoke", "muc"):
        cfg = load_config(CONFIGS / f"{name}.yaml")
        assert cfg.tasks


def test_unknown_key_lists_valid_keys(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, MINIMAL + "train:\n  sed: 3\n"))
    assert "train.sed" in str(e.value) and "seed" in str(e.value)


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="valid keys under 'config': tasks, data, split"):
        load_config(write(tmp_path, MINIMAL + "trian: {}\n"))


def test_wrong_type_names_key_expected_and_found(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, MINIMAL + "train:\n  seed: three\n"))
    msg = str(e.value)
    assert "train.seed" in msg and "int" in msg and "'three'" in msg


def test_bool_is_not_an_int(tmp_path):
    with pytest.raises(ConfigError, match="train.seed"):
        load_config(write(tmp_path, MINIMAL + "train:\n  seed: true\n"))


def test_literal_choice(tmp_path):
    with pytest.raises(ConfigError, match="'standard' | 'random' | 'temporal'"):
        load_config(write(tmp_path, MINIMAL + "split:\n  method: stratified\n"))


def test_dotted_overrides_reach_nested_and_named_items():
    cfg = load_config(CONFIGS / "baseline.yaml",
                      overrides=["train.seed=3", "tasks.actor.min_count=7", "model.tfidf.C=0.5", "split.method=random"])
    assert cfg.train.seed == 3 and cfg.task("actor").min_count == 7
    assert cfg.model.tfidf.C == 0.5 and cfg.split.method == "random"


def test_exponent_without_a_dot_is_a_float():
    cfg = load_config(CONFIGS / "default.yaml", overrides=["train.lr=3e-5", "train.head_lr=2E-3"])
    assert cfg.train.lr == 3e-5 and cfg.train.head_lr == 2e-3
    with pytest.raises(ConfigError, match="train.lr: expected float"):
        load_config(CONFIGS / "default.yaml", overrides=["train.lr=fast"])


def test_warmup_ratio_must_leave_room_to_decay():
    with pytest.raises(ConfigError, match=r"train.warmup_ratio: expected a share in \[0, 1\), found 1.0"):
        load_config(CONFIGS / "default.yaml", overrides=["train.warmup_ratio=1.0"])
    with pytest.raises(ConfigError, match=r"train.freeze_layers: expected a number of encoder layers >= 0, found -1"):
        load_config(CONFIGS / "default.yaml", overrides=["train.freeze_layers=-1"])


def test_override_errors():
    with pytest.raises(ConfigError, match="no item named 'actr'"):
        load_config(CONFIGS / "baseline.yaml", overrides=["tasks.actr.min_count=3"])
    with pytest.raises(ConfigError, match="unknown config key train.sede"):
        load_config(CONFIGS / "baseline.yaml", overrides=["train.sede=3"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["train.seed"])


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    cfg = load_config(write(sub, MINIMAL + "data:\n  paths: [../d.jsonl]\n"))
    assert cfg.data.paths == [str((tmp_path / "d.jsonl").resolve())]


def test_semantic_checks(tmp_path):
    with pytest.raises(ConfigError, match="cutoff"):
        load_config(write(tmp_path, MINIMAL + "split:\n  method: temporal\n"))
    with pytest.raises(ConfigError, match="unique"):
        load_config(write(tmp_path, "tasks:\n  - name: a\n  - name: a\n"))
    with pytest.raises(ConfigError, match="threshold"):
        load_config(write(tmp_path, "tasks:\n  - name: a\n    threshold: 2\n"))
    with pytest.raises(ConfigError, match="required"):
        load_config(write(tmp_path, "tasks:\n  - type: multi\n"))


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such/config.yaml")


def test_train_repeat_weighs_the_rows_of_the_files_it_names():
    """train.repeat: rows read from matching files count that many times (a bad item is
    refused naming the item); rows of other files stay once."""
    import pandas as pd
    from secnews.training.train import repeated

    cfg = load_config(CONFIGS / "smoke.yaml", overrides=["train.repeat=[muc34*:3]"])
    rows = pd.DataFrame({"text": ["a", "b", "c"], "source_file": ["muc34.jsonl.gz", "acled.csv.gz", "muc34.jsonl.gz"]})
    logged = []
    out = repeated(rows, cfg, logged.append)
    assert sorted(out["text"]) == ["a", "a", "a", "b", "c", "c", "c"] and out.index.is_unique
    assert "2 training rows, each 3 times" in logged[0]
    with pytest.raises(ConfigError, match=r"train.repeat\[0\]: expected 'file-name-pattern:times'.*'muc34'"):
        load_config(CONFIGS / "smoke.yaml", overrides=["train.repeat=[muc34]"])
