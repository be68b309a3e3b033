import pytest
import yaml

from secnews.training.config import load_config
from secnews.training.taxonomy import Taxonomy, TaxonomyError, read_hierarchy

from .conftest import CONFIGS

TAX = Taxonomy(CONFIGS / "taxonomy")
HIER = read_hierarchy(CONFIGS / "taxonomy" / "event_types.yaml")
FINE = {c for cs in HIER.values() for c in cs}
TARGETS = set(load_config(CONFIGS / "baseline.yaml").task("target").labels)


def test_default_schema_sizes():
    assert len(HIER) == 6 and len(FINE) == 25 and len(TARGETS) == 13


def test_every_mapped_label_is_in_the_default_schema():
    gtd = yaml.safe_load((CONFIGS / "taxonomy" / "gtd.yaml").read_text())
    events = [v for v in gtd["attack_types"].values() if v] + list(gtd["weapon_subtypes"].values()) \
        + list(gtd["weapon_types"].values()) + [gtd["suicide"], gtd["drone"], gtd["armed_assault_on_armed"]["event"]]
    assert set(events) <= FINE | set(HIER)
    assert {l for ls in gtd["target_types"].values() if ls for l in ls} <= TARGETS
    acled = yaml.safe_load((CONFIGS / "taxonomy" / "acled.yaml").read_text())
    labels = {l for v in acled["inter_targets"].values() if isinstance(v, list) for l in v}
    labels |= {l for _, l in acled["state_forces"]} | {l for _, l in acled["name_rules"]}
    assert labels <= TARGETS


@pytest.mark.parametrize("name,expected", [
    ("Military Forces of Ukraine (2019-)", "Military Forces of Ukraine"),
    ("Police Forces of Kenya (2002-2013)", "Police Forces of Kenya"),
    ("Kata'ib Hizballah", "Kataeb Hezbollah"),
    ("KATA'IB HIZBALLAH", "Kataeb Hezbollah"),
    ("Islamic State of Iraq and the Levant (ISIL)", "Islamic State"),
    ("Unidentified Armed Group (Kenya)", "Unidentified"),
    ("Unknown", "Unidentified"),
    ("Protesters (United States)", "Protesters"),
    ("Houthi extremists (Ansar Allah)", "Houthis"),
    ("Some New Militia", "Some New Militia"),
    ("", None),
    (None, None),
])
def test_actor_normalisation(name, expected):
    assert TAX.actors(name) == expected


@pytest.mark.parametrize("actor2,inter2,assoc,country,expected", [
    ("Police Forces of Kenya (2013-)", "State forces", None, "Kenya", ["police"]),
    ("Police Forces of Kenya (2013-)", "1", None, "Kenya", ["police"]),  # numeric inter codes
    ("Military Forces of Ukraine (2019-)", "State forces", None, "Ukraine", ["military"]),
    ("Military Forces of the United States (2021-)", "State forces", None, "Iraq", ["foreign_forces", "military"]),
    ("Government of Sudan (2019-)", "State forces", None, "Sudan", ["government"]),
    ("Al Shabaab", "Rebel group", None, "Somalia", ["armed_group"]),
    ("Protesters (Kenya)", "6", None, "Kenya", ["protesters"]),
    ("Civilians (Kenya)", "Civilians", "Journalists (Kenya); Health Workers (Kenya)", "Kenya",
     ["aid_ngo", "civilians", "media"]),
    ("UN: United Nations", "External/Other forces", None, "Mali", ["aid_ngo", "foreign_forces"]),
    (None, None, None, "Kenya", []),
])
def test_acled_targets(actor2, inter2, assoc, country, expected):
    assert TAX.acled.targets(actor2, inter2, assoc, country) == expected


@pytest.mark.parametrize("kw,expected", [
    ({"attack_type": "Bombing/Explosion"}, "Explosions/Remote violence"),  # coarse only
    ({"attack_type": "Bombing/Explosion", "suicide": "1"}, "Suicide bomb"),
    ({"attack_type": "Bombing/Explosion", "weapon_subtype": "Projectile (rockets, mortars, RPGs, etc.)"},
     "Shelling/artillery/missile attack"),
    ({"attack_type": "Bombing/Explosion", "weapon_type": "Chemical"}, "Chemical weapon"),
    ({"attack_type": "Bombing/Explosion", "weapon_subtype": "Remote Trigger",
      "weapon_detail": "A remote-controlled drone carried the charge."}, "Air/drone strike"),
    ({"attack_type": "Armed Assault", "target_type": "Military"}, "Battles"),
    ({"attack_type": "Armed Assault", "target_type": "Private Citizens & Property"}, "Violence against civilians"),
    ({"attack_type": "Hostage Taking (Kidnapping)"}, "Abduction/forced disappearance"),
    ({"attack_type": "Unknown"}, None),
])
def test_gtd_events(kw, expected):
    assert TAX.gtd.event(**kw) == expected


def test_gtd_targets():
    assert TAX.gtd.targets(["Military", "Business"]) == ["infrastructure_business", "military"]
    assert TAX.gtd.targets(["Police"], ["United States"], "Iraq") == ["foreign_forces", "police"]
    assert TAX.gtd.targets(["Unknown"]) is None
    assert TAX.gtd.targets(["Other"]) == []
    with pytest.raises(TaxonomyError, match="'Aliens' is not in gtd.yaml"):
        TAX.gtd.targets(["Aliens"])


def test_hierarchy_file_errors(tmp_path):
    p = tmp_path / "h.yaml"
    p.write_text("A: [x, y]\nB: [y]\n")
    with pytest.raises(TaxonomyError, match="'y' is listed under both 'A' and 'B'"):
        read_hierarchy(p)
    p.write_text("- a\n- b\n")
    with pytest.raises(TaxonomyError, match="expected a mapping"):
        read_hierarchy(p)
    with pytest.raises(TaxonomyError, match="does not exist"):
        read_hierarchy(tmp_path / "none.yaml")
