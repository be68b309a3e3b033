"""Readers on small files written here, in each source's layout (texts are our own)."""
import gzip
import json

import pandas as pd
import pytest

from secnews.training.config import load_config
from secnews.training.data import DataError, read_data

from .conftest import CONFIGS, write_jsonl


def read(paths, fmt="native", config="baseline.yaml"):
    cfg = load_config(CONFIGS / config, data_paths=[str(p) for p in paths], data_format=fmt)
    return read_data(cfg.data, cfg.tasks)


ROWS = [
    {"id": "a", "title": "Rockets hit base", "text": "Two rockets struck a base near the capital.",
     "event_type": "Shelling/artillery/missile attack", "target": ["military", "foreign_forces"],
     "actor": "Kataeb Hezbollah"},
    {"id": "b", "text": "Crowds marched peacefully through the old town.", "event_type": "Peaceful protest",
     "target": []},
    {"id": "c", "text": "An explosion shook the market.", "event_type": "Explosions/Remote violence"},
]


def test_native_jsonl_title_and_partial_tasks(tmp_path):
    df = read([write_jsonl(tmp_path / "d.jsonl", ROWS)])
    assert df["text"][0].startswith("Rockets hit base\n\nTwo rockets")
    assert df["split_key"][0] == ROWS[0]["text"]  # the split hashes the body, not the title
    assert df["target"][0] == ["foreign_forces", "military"]
    assert df["target"][1] == [] and df["target"][2] is None  # empty set vs task absent
    assert df["actor"][1] is None and df["event_type"][2] == "Explosions/Remote violence"


def test_native_gzip_csv_and_parquet_agree(tmp_path):
    expected = read([write_jsonl(tmp_path / "d.jsonl", ROWS)])
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in ROWS))
    csv = pd.DataFrame([{**r, "target": None if "target" not in r else ("[]" if not r["target"] else "|".join(r["target"]))}
                        for r in ROWS])
    csv.to_csv(tmp_path / "d.csv", index=False)
    pd.DataFrame(ROWS).to_parquet(tmp_path / "d.parquet")
    for name in ("d.jsonl.gz", "d.csv", "d.parquet"):
        got = read([tmp_path / name])
        assert got["text"].tolist() == expected["text"].tolist(), name
        assert got["target"].tolist() == expected["target"].tolist(), name
        assert got["actor"].tolist() == expected["actor"].tolist(), name


def test_glob_and_folder_inputs(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", ROWS[:1])
    write_jsonl(tmp_path / "b.jsonl", ROWS[1:])
    assert len(read([tmp_path / "*.jsonl"])) == 3
    assert len(read([tmp_path])) == 3


# ----------------------------------------------------------------------- malformed input

def test_missing_text_column_names_file_and_column(tmp_path):
    p = write_jsonl(tmp_path / "bad.jsonl", [{"body": "x", "actor": "Taliban"}])
    with pytest.raises(DataError) as e:
        read([p])
    assert str(p) in str(e.value) and "'text'" in str(e.value) and "body" in str(e.value)


def test_unknown_file_type(tmp_path):
    p = tmp_path / "data.xlsx"
    p.write_text("x")
    with pytest.raises(DataError, match=r"data.xlsx: unknown file type; native data is .jsonl, .csv or .parquet"):
        read([p])


def test_wrong_label_types_name_row_and_column(tmp_path):
    p = write_jsonl(tmp_path / "bad.jsonl", [ROWS[0], {"text": "x", "target": "military"}])
    with pytest.raises(DataError) as e:
        read([p])
    assert "row 2" in str(e.value) and "'target'" in str(e.value) and "expected a list" in str(e.value)
    p = write_jsonl(tmp_path / "bad2.jsonl", [{"text": "x", "actor": ["Taliban"]}])
    with pytest.raises(DataError, match=r"row 1, column 'actor': expected a label string"):
        read([p])


def test_empty_files(tmp_path):
    for name in ("e.jsonl", "e.csv"):
        (tmp_path / name).write_text("")
        with pytest.raises(DataError, match=rf"{name}: the file is empty"):
            read([tmp_path / name])
    (tmp_path / "h.csv").write_text("text,actor\n")
    with pytest.raises(DataError, match="header but no data rows"):
        read([tmp_path / "h.csv"])


def test_broken_json_line(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read([p])


def test_missing_file_and_no_task_columns(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read([tmp_path / "nope.jsonl"])
    with pytest.raises(DataError, match="none of the task columns"):
        read([write_jsonl(tmp_path / "x.jsonl", [{"text": "hello"}])])


def test_unknown_format_rejected_by_config(tmp_path):
    from secnews.training.config import ConfigError

    with pytest.raises(ConfigError, match="--format"):
        load_config(CONFIGS / "baseline.yaml", data_format="xml")


# ----------------------------------------------------------------------- ACLED / GTD / MUC layouts

ACLED_HEADER = "event_id_cnty,event_date,event_type,sub_event_type,actor1,inter1,actor2,inter2,country,region,notes\n"


def test_acled_reader(tmp_path):
    p = tmp_path / "acled.csv"
    p.write_text(ACLED_HEADER
                 + 'X1,2021-03-02,Explosions/Remote violence,Shelling/artillery/missile attack,'
                   'Military Forces of Russia (2000-),State forces,Military Forces of Ukraine (2019-),State forces,'
                   'Ukraine,Europe,"On 2 March 2021, artillery hit positions near a village. [size=no report]"\n'
                 + 'X2,2021-03-03,Protests,Peaceful protest,Protesters (Ghana),Protesters,,,Ghana,Africa,'
                   '"On 3 March 2021, teachers marched in the capital."\n'
                 + 'X3,2021-03-04,Violence against civilians,Attack,Unidentified Armed Group (Kenya),Political militia,'
                   'Journalists (Kenya),Civilians,Kenya,Africa,"Around 4 March 2021, gunmen shot at a reporter."\n'
                 + 'X4,2021-03-05,Protests,Peaceful protest,Protesters (Ghana),Protesters,,,Ghana,Africa,'
                   '"On 24 Nov, in Tamale, nurses rallied."\n'
                 + 'X5,2021-03-06,Protests,Peaceful protest,Protesters (Ghana),Protesters,,,Ghana,Africa,'
                   '"Around March 29th (as reported), farmers blocked a road. On the same day, more joined."\n')
    df = read([p], "acled")
    assert df["text"].tolist() == ["Artillery hit positions near a village.", "Teachers marched in the capital.",
                                   "Gunmen shot at a reporter.", "In Tamale, nurses rallied.",
                                   "Farmers blocked a road. On the same day, more joined."]
    assert df["split_key"][0].startswith("On 2 March 2021")
    assert df["event_type"].tolist()[:3] == ["Shelling/artillery/missile attack", "Peaceful protest", "Attack"]
    assert df["actor"].tolist()[:3] == ["Military Forces of Russia", "Protesters", "Unidentified"]
    assert df["target"].tolist()[:3] == [["military"], [], ["civilians", "media"]]
    assert df["id"][0] == "X1" and df["date"][0] == "2021-03-02"
    assert df["country"].tolist() == ["Ukraine", "Ghana", "Kenya", "Ghana", "Ghana"]  # what places.json learns from


def test_acled_reader_missing_column(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("event_type,actor1,notes\nBattles,X,text\n")
    with pytest.raises(DataError, match=r"missing column 'sub_event_type' \(an ACLED export\)"):
        read([p], "acled")


def test_gtd_short_columns(tmp_path):
    p = tmp_path / "gtd.csv"
    pd.DataFrame([
        {"date": "2014-06-01", "group_name": "Islamic State of Iraq and the Levant (ISIL)", "attack_type": "Bombing/Explosion",
         "target_type": "Military", "weapon_type": "Explosives", "suicide": 1, "country": "Iraq",
         "summary": "06/01/2014: A bomber drove a truck into a checkpoint."},
        {"date": "2014-06-02", "group_name": "Unknown", "attack_type": "Armed Assault", "target_type": "Police",
         "weapon_type": "Firearms", "suicide": 0, "country": "Iraq", "summary": "06/02/2014: Gunmen attacked a patrol."},
        {"date": "2014-06-03", "group_name": "Unknown", "attack_type": "Unknown", "target_type": "Unknown",
         "weapon_type": "Unknown", "suicide": 0, "country": "Iraq", "summary": "06/03/2014: A body was found."},
    ]).to_csv(p, index=False)
    df = read([p], "gtd")
    assert df["text"][0] == "A bomber drove a truck into a checkpoint."
    assert df["event_type"].tolist() == ["Suicide bomb", "Battles", None]
    assert df["target"].tolist() == [["military"], ["police"], None]
    assert df["actor"].tolist() == ["Islamic State", "Unidentified", "Unidentified"]


def test_gtd_full_columns_with_separator_line(tmp_path):
    p = tmp_path / "drone.csv"
    rows = pd.DataFrame([
        {"eventid": "1", "year": 2020, "month": 1, "day": 5, "country_txt": "Iraq", "summary": "A drone dropped explosives on a base.",
         "attacktype1_txt": "Bombing/Explosion", "targtype1_txt": "Military", "natlty1_txt": "United States",
         "targtype2_txt": None, "natlty2_txt": None, "targtype3_txt": None, "natlty3_txt": None,
         "gname": "Kata'ib Hizballah", "suicide": 0, "weaptype1_txt": "Explosives",
         "weapsubtype1_txt": "Remote Trigger", "weapdetail": "An explosives-laden drone was used."},
        {"eventid": "2", "year": 2020, "month": 1, "day": 6, "country_txt": "Syria", "summary": "A drone was seen over a town.",
         "attacktype1_txt": None, "targtype1_txt": None, "natlty1_txt": None, "targtype2_txt": None,
         "natlty2_txt": None, "targtype3_txt": None, "natlty3_txt": None, "gname": "Some Group",
         "suicide": None, "weaptype1_txt": None, "weapsubtype1_txt": None, "weapdetail": None},
    ])
    p.write_text("sep=;\n" + rows.to_csv(sep=";", index=False))
    df = read([p], "gtd")
    assert df["event_type"].tolist() == ["Air/drone strike", None]  # ACLED-coded rows carry only the actor
    assert df["target"].tolist() == [["foreign_forces", "military"], None]
    assert df["actor"].tolist() == ["Kataeb Hezbollah", "Some Group"]
    assert df["date"][0] == "2020-01-05" and df["id"][0] == "1"


def test_gtd_unmapped_attack_type_is_an_error(tmp_path):
    p = tmp_path / "g.csv"
    pd.DataFrame([{"group_name": "X", "attack_type": "Cyber", "target_type": "Military", "summary": "s"}]).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"row 2: GTD attack type 'Cyber' is not in gtd.yaml"):
        read([p], "gtd")


def test_muc_reader(tmp_path):
    p = tmp_path / "muc.jsonl.gz"
    rows = [{"id": "DEV-1", "split": "dev", "text": "GUERRILLAS BOMBED A POWER PYLON.", "incident_types": ["BOMBING"],
             "perpetrator_categories": ["TERRORIST ACT"], "perpetrator_orgs": ["FARABUNDO MARTI NATIONAL LIBERATION FRONT"],
             "perpetrator_org_aliases": [["FARABUNDO MARTI NATIONAL LIBERATION FRONT", "FMLN"]],
             "human_target_types": [], "physical_target_types": ["ENERGY"]},
            {"id": "TST1-1", "split": "tst1", "text": "THE MINISTER SPOKE ABOUT THE ECONOMY.", "incident_types": [],
             "perpetrator_categories": [], "perpetrator_orgs": [], "perpetrator_org_aliases": [],
             "human_target_types": [], "physical_target_types": []},
            {"id": "TST1-2", "split": "tst1", "text": "GUNMEN KILLED A JUDGE.", "incident_types": ["ATTACK"],
             "perpetrator_categories": ["TERRORIST ACT"], "perpetrator_orgs": [], "perpetrator_org_aliases": [],
             "human_target_types": ["LEGAL OR JUDICIAL"], "physical_target_types": []}]
    with gzip.open(p, "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
    df = read([p], "muc", config="muc.yaml")
    assert df["actor"].tolist() == ["FMLN", None, "Unidentified"]
    assert df["incident_types"].tolist() == [["BOMBING"], [], ["ATTACK"]]
    assert df["split"].tolist() == ["dev", "tst1", "tst1"]
