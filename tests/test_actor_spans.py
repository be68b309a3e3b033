"""The attributed actor as a span: distant supervision from coded names, the token head on a
tiny BERT built here, normalisation and linking, and the registry analysts grow."""
import json
import os

import numpy as np
import pytest
from secnews.training.config import TrainConfig, TransformerConfig
from secnews.training.labels import LabelSpace
from secnews.training.linking import ActorLinker, add_to_registry, expand_acronym, read_registry, says_who
from secnews.training.predictor import Predictor
from secnews.training.sentences import sentence_spans
from secnews.training.spans import (
    Span,
    decode,
    find_mentions,
    name_variants,
    row_mentions,
    token_tags,
    widen,
)
from secnews.training.surrogates import disguise
from secnews.training.trainer import fit
from secnews.training.transformer import TransformerBackend, build

from .tiny_bert import make_tiny_bert


def test_variants_of_coded_names():
    v = name_variants("JNIM: Group for Support of Islam and Muslims and/or Islamic State (Greater Sahara)")
    assert "JNIM" in v and "Group for Support of Islam and Muslims" in v and "Islamic State" in v
    assert "Islamic State of Iraq and the Levant (ISIL)" in name_variants("Islamic State of Iraq and the Levant (ISIL)")
    assert "ISIL" in name_variants("Islamic State of Iraq and the Levant (ISIL)")
    assert "Al-Shabaab" in name_variants("Al Shabaab", {"Al Shabaab": ["Al-Shabaab"]})
    # coders' categories and state forces are answered by the closed-set head, not a span
    for name in ["Military Forces of Russia", "Protesters (Kenya)", "Unidentified Armed Group (Kenya)",
                 "Police Forces of Kenya", "Rioters"]:
        assert name_variants(name) == []
    # "Forces of" inside a group's own name does not make it a state force
    assert {"NAF", "United Armed Forces of Novorossiya"} <= set(name_variants("NAF: United Armed Forces of Novorossiya"))


def test_a_state_force_is_mentioned_by_its_nationality_not_by_its_bare_role_words():
    from pathlib import Path

    from secnews.training.spans import row_mentions
    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    texts = ["Police shot dead two suspects in Kayole; the police later said they were armed.",
             "Kenyan troops and the police repulsed an attack.", "Al Shabaab attacked a police post."]
    found = row_mentions(texts, ["Police Forces of Kenya", "Military Forces of Kenya", "Al Shabaab"], None, {}, states)
    assert [[t[a:b] for a, b in spans] for t, spans in zip(texts, found)] == [
        [], ["Kenyan troops"], ["Al Shabaab"]]  # bare "police" is nobody's mention in training
    assert states.role_of("the Police") == "police" and states.role_of("soldiers") == "military"
    assert states.role_of("drones") is None  # a role word, but not one that names a force on its own


def test_the_actors_benchmark_sorts_rows_by_how_their_text_writes_the_actor():
    from pathlib import Path

    from benchmarks.actors import written_as
    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    kenya, naf = "Police Forces of Kenya", "NAF: United Armed Forces of Novorossiya"
    assert written_as("Kenyan police shot two suspects in Kayole.", kenya, {}, states) == "name"
    assert written_as("Police shot two suspects in Kayole.", kenya, {}, states) == "role"
    assert written_as("Gendarmes shot two suspects in Kayole.", kenya, {}, states) == "other"
    assert written_as("NAF forces shelled Avdiivka.", naf, {}, states) == "name"  # the acronym before the colon
    assert written_as("The OSCE SMM observed 12 explosions near Lebedynske.", naf, {}, states) == "other"
    assert written_as("Police shelled Avdiivka.", naf, {}, states) == "other"  # role words are a state force's only


def test_span_bare_tags_a_role_word_only_where_the_sentence_makes_it_the_doer():
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    texts = ["27 February: police shot dead two suspects in Kayole; the police later said they were armed.",
             "In Isiolo, Police beat a man. Police were attacked later.",
             "Two youths were injured allegedly by the police in Siakago.",
             "Residents battled police in Burnt Forest.",  # the police are not the doer here
             "Kenyan police arrested two men. Soldiers looked on.",
             "Police and soldiers raided a camp."]  # two doers: neither alone is the actor
    actors = ["Police Forces of Kenya"] * 5 + ["Military Forces of Kenya"]
    found = row_mentions(texts, actors, None, {}, states, bare=True)
    assert [[t[a:b] for a, b in spans] for t, spans in zip(texts, found)] == [
        ["police"], ["Police"], ["police"], [], ["Kenyan police"], []]
    # off (the default), as trained before: the nationality's forms only
    assert row_mentions(texts, actors, None, {}, states)[0] == []

def test_mentions_ignore_case_and_hyphens_and_whole_words():
    text = "Suspected al-shabaab fighters attacked; AL SHABAAB later claimed it. Shabaabists unrelated."
    spans = find_mentions(text, name_variants("Al Shabaab"))
    assert [text[a:b] for a, b in spans] == ["al-shabaab", "AL SHABAAB"]
    # the longer form wins over the acronym inside it
    t2 = "The Islamic State of Iraq and the Levant (ISIL) claimed the attack; ISIL fighters fled."
    got = [t2[a:b] for a, b in find_mentions(t2, name_variants("Islamic State of Iraq and the Levant (ISIL)"))]
    assert got == ["Islamic State of Iraq and the Levant (ISIL)", "ISIL"]


def test_disguise_replaces_every_mention_with_one_invented_name_and_moves_the_tags():
    text = "Al Shabaab militants attacked a police post; al-Shabaab later claimed it."
    spans = find_mentions(text, name_variants("Al Shabaab"))
    texts, actors, mentions, n = disguise([text, text, "Troops shelled it."], ["Al Shabaab", "Al Shabaab", "X"],
                                          [spans, spans, []], 1.0, lambda name: True,
                                          "Other", seed=3)
    assert n == 2 and actors == ["Other", "Other", "X"] and texts[2] == "Troops shelled it."
    for t, m in zip(texts[:2], mentions[:2]):
        names = {t[a:b] for a, b in m}
        assert len(m) == 2 and len(names) == 1 and "shabaab" not in t.lower()
        assert t.endswith(" later claimed it.") and " militants attacked a police post; " in t
    # state forces and a zero share leave the rows alone
    same = disguise([text], ["Al Shabaab"], [spans], 1.0, lambda name: False, "Other", seed=3)
    assert same[0] == [text] and same[3] == 0
    assert disguise([text], ["Al Shabaab"], [spans], 0.0, lambda name: True, "Other", seed=3)[3] == 0


def test_decode_keeps_each_run_and_its_own_strongest_token():
    # special tokens ([CLS], [SEP]) are never part of a name, however sure the head is of them
    offsets = np.array([[0, 0], [0, 3], [4, 8], [9, 12], [13, 18], [19, 24], [0, 0]])
    spans = decode(np.array([0.99, 0.6, 0.3, 0.1, 0.25, 0.7, 0.99]), offsets, cutoff=0.5, low=0.2)
    assert [(s.start, s.end, round(s.score, 2)) for s in spans] == [(0, 8, 0.6), (13, 24, 0.7)]
    assert decode(np.array([0.99, 0.4, 0.3, 0.1, 0.25, 0.45, 0.99]), offsets) == []


def test_expand_acronym_reads_the_words_before_its_parentheses():
    text = "Fighters of the Islamic State of Iraq and the Levant (ISIL) attacked. ISIL said so."
    assert expand_acronym("ISIL", text) == "Islamic State of Iraq and the Levant"
    # the first "(KH)" has no words of its own before it; the second does
    assert expand_acronym("KH", "Rockets ((KH)) hit. Kataeb Hezbollah (KH) was blamed.") == "Kataeb Hezbollah"
    assert expand_acronym("KH", "Rockets hit. Officials (KH) said.") is None
    assert expand_acronym("KH", "No acronym here. " * 500) is None


def test_row_mentions_signal_and_no_signal():
    texts = ["Boko Haram fighters raided a village.", "Troops shelled the town.", "Markets rose.", "Nothing here."]
    got = row_mentions(texts, ["Boko Haram", "Military Forces of Nigeria", None, None],
                       [None, None, "none", None], {})
    assert got == [[(0, 10)], [], [], None]


def test_token_tags_and_decode_round_trip():
    offsets = np.array([[0, 0], [0, 4], [5, 10], [11, 16], [17, 23], [0, 0]])
    tags = token_tags(offsets, [(5, 16)])
    assert tags.tolist() == [-1, 0, 1, 1, 0, -1]
    spans = decode(np.array([0.9, 0.1, 0.8, 0.7, 0.15, 0.9]), offsets)
    assert [(s.start, s.end) for s in spans] == [(5, 16)] and abs(spans[0].score - 0.8) < 1e-6
    # hysteresis: a sure word piece carries its less sure neighbours; a weak run alone is no name
    spans = decode(np.array([0.0, 0.3, 0.9, 0.25, 0.1, 0.0]), offsets)
    assert [(s.start, s.end) for s in spans] == [(0, 16)]
    assert decode(np.array([0.0, 0.3, 0.45, 0.25, 0.1, 0.0]), offsets) == []
    assert widen("the Shabaabists came", Span(4, 9, 1.0)).end == 15
    assert widen("led by al-Shabaab.", Span(7, 10, 1.0)).text("led by al-Shabaab.") == "al-Shabaab"


def test_linker_normalises_links_and_keeps_unknown_names():
    linker = ActorLinker({"aliases": {"Kataeb Hezbollah": ["Kata'ib Hizballah", "KH"]}},
                         ["Kataeb Hezbollah", "Other", "Unidentified"], {})
    assert linker.name("Kata'ib Hizballah", "") == ("Kataeb Hezbollah", True)
    assert linker.name("the Popular Mobilisation Brigades", "") == ("Popular Mobilisation Brigades", False)
    # an acronym after the first full mention takes the full name
    text = "The Ashab al-Kahf Front (AKF) said ... AKF fighters"
    assert linker.name("AKF", text) == ("Ashab al-Kahf Front", False)
    assert linker.name("SHINING PATH", "") == ("Shining Path", False)


def test_linker_chooses_the_first_candidate_that_reads_as_a_name():
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    linker = ActorLinker({}, ["Other"], {}, states=states)
    text = "An Iran-backed militia, the Brigades of Dawn, fired rockets; Ukrainian forces were not involved. force"
    cands = lambda *words: [Span(text.rindex(w), text.rindex(w) + len(w), 0.9 - 0.1 * i) for i, w in enumerate(words)]
    assert linker.choose(text, cands("Iran", "Brigades of Dawn")).text(text) == "Brigades of Dawn"
    assert linker.choose(text, cands("force", "Ukrainian")).text(text) == "Ukrainian forces"
    assert linker.choose(text, cands("Brigades", "Iran")).text(text) == "Brigades of Dawn"  # the whole name
    assert linker.choose(text, cands("Iran")) is None  # a bare country is not the actor
    # a country's possessive takes the role word after it, or names nobody; "X-backed" describes
    t3 = "Burkina Faso's army bombed the camp. Niger's interior ministry said Moldova's Russian-backed region was calm."
    span = lambda w, at=0: Span(t3.index(w, at), t3.index(w, at) + len(w), 0.9)
    assert linker.choose(t3, [span("Burkina Faso's")]).text(t3) == "Burkina Faso's army"
    assert linker.name("Burkina Faso's army", t3) == ("Military Forces of Burkina Faso", False)
    assert linker.choose(t3, [span("Niger's")]) is None
    assert linker.choose(t3, [span("Moldova's Russian-backed")]) is None
    assert linker.name("Tajik forces", "") == ("Military Forces of Tajikistan", False)
    # coders write some countries with "the"
    assert linker.name("The Philippine army", "") == ("Military Forces of the Philippines", False)
    assert states.parse("Military Forces of the Philippines") == ("military", "Philippines")
    # and a bare role word read alone takes the country written right before it
    t7 = "Officials blamed Myanmar's military for the gas. The Burmese army denied it. Sri Lanka's army left. In Kivu police fled."
    role = lambda w, at=0: Span(t7.index(w, at), t7.index(w, at) + len(w), 0.9)
    assert linker.choose(t7, [role("military")]).text(t7) == "Myanmar's military"
    assert linker.name(linker.choose(t7, [role("military")]).text(t7), t7) == ("Military Forces of Myanmar", False)
    assert linker.choose(t7, [role("army")]).text(t7) == "Burmese army"
    assert linker.choose(t7, [role("army", t7.index("Sri"))]).text(t7) == "Sri Lanka's army"
    assert linker.with_country(t7, role("police")).text(t7) == "police"  # Kivu is no country
    # what a span takes in front of a name: descriptor words ending in an article, a country's possessive
    t6 = "The Northern Hills Front (NHF) struck. Chad's NHF and the Lake Militia said so."
    assert linker.name("insurgent faction, the Northern Hills Front", t6) == ("Northern Hills Front", False)
    assert linker.name("as the Lake Militia", t6) == ("Lake Militia", False)
    assert linker.name("Chad's NHF", t6) == ("Northern Hills Front", False)
    assert linker.name("de la Cruz Brigade", t6)[0] == "de la Cruz Brigade"  # a name's own connectors stay
    # a span whose only capitals are a country is no name; nor the dateline's town
    t4 = "AL-SABIL, Syria, May 3 (secnews) - Libyan coastal militias and Libyan forces met. The Kivu Front fled."
    at = lambda w: Span(t4.index(w), t4.index(w) + len(w), 0.9)
    assert linker.choose(t4, [at("Libyan coastal"), at("Kivu Front")]).text(t4) == "Kivu Front"
    assert linker.choose(t4, [at("Libyan forces")]).text(t4) == "Libyan forces"
    assert linker.choose(t4, [at("AL-SABIL"), at("Kivu Front")]).text(t4) == "Kivu Front"
    t5 = "Merger\n\nMAARAT AL-SABIL, Syria, May 3 (secnews) - The Kivu Front, based in MAARAT, fled."
    at5 = lambda w, at=0: Span(t5.index(w, at), t5.index(w, at) + len(w), 0.9)
    assert linker.choose(t5, [at5("AL-SABIL"), at5("Kivu Front")]).text(t5).endswith("Kivu Front")  # part of the town
    assert linker.choose(t5, [at5("MAARAT", 20)]).text(t5) == "MAARAT"  # the same word outside the dateline
    # a span inside a longer written name grows to it; a known name inside a span is linked
    linker = ActorLinker({"aliases": {"Al Shabaab": ["Al-Shabaab"]}}, ["Al Shabaab", "Other"], {}, states=states)
    t2 = "Officials said suspected Boko Haram fighters fled. The Islamist militant group al-Shabaab denied it."
    assert linker.choose(t2, [Span(t2.index("Haram"), t2.index("Haram") + 5, 0.8)]).text(t2) == "Boko Haram"
    assert linker.name("Islamist militant group al-Shabaab", t2) == ("Al Shabaab", True)
    # inside: the longest known form, whole words only, a form that starts with punctuation too
    linker = ActorLinker({"aliases": {"JNIM": ["(JNIM)"], "Islamic State": ["IS"]}},
                         ["JNIM", "Islamic State", "Ansar al-Islam", "Other"], {}, states=states)
    assert linker.known_inside("fighters of Ansar al-Islam and the Islamic State") == "Ansar al-Islam"
    assert linker.known_inside("Nasr al-Islam wal Muslimin (JNIM) cells") == "JNIM"
    assert linker.known_inside("Islamic Statehood Party") is None  # not inside a longer word
    assert linker.known_inside("ISIS fighters") is None  # "IS" is too short to count inside
    # a span inside a known name's written form takes the whole form, in all-caps copy too
    linker = ActorLinker({"aliases": {"FMLN": ["Farabundo Marti National Liberation Front"]}}, ["FMLN", "Other"], {},
                         states=states)
    t8 = "SAN SALVADOR, 12 JAN 90 -- MEMBERS OF THE FARABUNDO MARTI NATIONAL LIBERATION FRONT FIRED ON A POST."
    part = lambda w: Span(t8.index(w), t8.index(w) + len(w), 0.9)
    for w in ("FARABUNDO", "MARTI NATIONAL LIBERATION FRONT"):
        chosen = linker.choose(t8, [part(w)])
        assert chosen.text(t8) == "FARABUNDO MARTI NATIONAL LIBERATION FRONT"
        assert linker.name(chosen.text(t8), t8) == ("FMLN", True)
    assert linker.with_known(t8, part("POST")).text(t8) == "POST"  # no known name around it
    # the group the event was done to is not the one that did it: named right before "were
    # killed", or right after "attack on", "checkpoint run by", "killing five"
    t9 = ("Five Kenyan police officers were killed at a checkpoint run by the Delta Front. Al Shabaab "
          "militants were blamed. Troops later killed two Delta Front fighters; they were killed by the Hills Brigade.")
    at9 = lambda w, at=0: Span(t9.index(w, at), t9.index(w, at) + len(w), 0.9)
    assert linker.choose(t9, [at9("Five Kenyan police"), at9("Delta Front"), at9("Al Shabaab")]).text(t9) == "Al Shabaab"
    assert linker.choose(t9, [at9("Delta Front", 90)]) is None
    assert linker.choose(t9, [at9("Hills Brigade")]).text(t9) == "Hills Brigade"  # "killed by": the attacker
    # headlines in the present tense, a count of members, the owner of what was seized
    t11 = ("Drone strike kills three Delta Front militants. Troops seized weapons belonging to the Hills Brigade "
           "and an offensive against the Lake Army began, killing two members of the River Guard. "
           "The Storm Legion said it carried out the strike.")
    at11 = lambda w: Span(t11.index(w), t11.index(w) + len(w), 0.9)
    for victim in ("Delta Front", "Hills Brigade", "Lake Army", "River Guard"):
        assert linker.choose(t11, [at11(victim)]) is None, victim
    assert linker.choose(t11, [at11("Delta Front"), at11("Storm Legion")]).text(t11) == "Storm Legion"
    # the wire dateline gives a town, a date and the agency, never the actor; a person noun after a name goes
    t12 = "M23 take Kitshanga\n\nGOMA, Oct 21 (secnews) - M23 rebels took the town. Fano militiamen and Darfur communal militia fled."
    at12 = lambda w: Span(t12.index(w), t12.index(w) + len(w), 0.9)
    assert linker.choose(t12, [at12("21 (secnews)")]) is None
    assert linker.choose(t12, [at12(") - M23 rebels")]).text(t12) == "M23 rebels"
    assert linker.name("- M23 rebels", t12) == ("M23", False)
    assert linker.name("Fano militiamen", t12) == ("Fano", False)
    assert linker.name("Darfur communal militia", t12) == ("Darfur communal militia", False)  # a kind of name ACLED uses
    assert linker.name("Fano militiamen", t12.lower()) == ("Fano militiamen", False)  # lower-cased copy shows no name's end
    used = "The bomb was of a kind used by the Delta Front."
    assert linker.choose(used, [Span(used.index("Delta"), len(used) - 1, 0.9)]).text(used) == "Delta Front"
    t10 = "Gunmen abducted four aid workers in Niger's Tillaberi region. The Tillaberi Brigade denied it."
    at10 = lambda w, at=0: Span(t10.index(w, at), t10.index(w, at) + len(w), 0.9)
    assert linker.choose(t10, [at10("Niger's Tillaberi")]) is None  # a place
    assert linker.choose(t10, [at10("Tillaberi Brigade")]).text(t10) == "Tillaberi Brigade"


def test_registry_grows_without_retraining(tmp_path, monkeypatch):
    monkeypatch.setenv("SECNEWS_ACTORS", str(tmp_path / "actors.yaml"))
    assert read_registry() == {}
    add_to_registry("Saraya Awliya al-Dam", ["Awliya al-Dam"])
    add_to_registry("Saraya Awliya al-Dam", ["SAD"])
    assert read_registry() == {"Saraya Awliya al-Dam": ["Awliya al-Dam", "SAD"]}
    linker = ActorLinker({}, ["Other"], read_registry())
    assert linker.name("awliya al-dam", "") == ("Saraya Awliya al-Dam", True)
    with pytest.raises(ValueError, match="actor name: 300 characters, at most 200"):
        add_to_registry("x" * 300, [])


# --------------------------------------------------------------------------- the span head

GROUPS = ["red hand brigade", "lion front", "northern legion", "river army", "storm company", "iron column"]
UNSEEN = ["harbor guard", "desert wolves"]  # in the vocabulary, never a training answer
ACTOR = LabelSpace("actor", "single", ["Other", "Unidentified"])
EVENT = LabelSpace("event_type", "single", ["Attack", "Peaceful protest"])
FILL = ["the weather stayed mild .", "markets opened as usual .", "the club won on sunday ."]


def article(group: str | None, other: str, rng) -> tuple[str, str]:
    lede = (f"gunmen attacked a convoy , and the {group} claimed the attack ." if group
            else "unidentified gunmen attacked a convoy , police said .")
    paras = [f"earlier , the {other} held a rally .", *rng.choice(FILL, size=2, replace=False)]
    return "\n\n".join([lede, *paras]), ("Attack" if group else "Attack")


VOCAB = [f"gunmen attacked a convoy , and the {g} claimed the attack ." for g in GROUPS + UNSEEN] + \
    [f"earlier , the {g} held a rally ." for g in GROUPS + UNSEEN] + FILL + \
    ["unidentified gunmen attacked a convoy , police said ."]


@pytest.fixture(scope="module")
def span_model(tmp_path_factory):
    encoder = make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert", VOCAB)
    spaces = {"event_type": LabelSpace.from_dict(EVENT.to_dict()), "actor": LabelSpace.from_dict(ACTOR.to_dict())}
    cfg = TransformerConfig(encoder=str(encoder), max_length=48, stride=8, dropout=0.0, pooling="attention",
                            max_train_windows=3, span_task="actor")
    backend = build(cfg, spaces, seed=0)
    rng = np.random.default_rng(0)
    texts, actors = [], []
    for i in range(96):
        group = None if i % 4 == 0 else GROUPS[rng.integers(len(GROUPS))]
        other = [g for g in GROUPS if g != group][rng.integers(len(GROUPS) - 1)]
        texts.append(article(group, other, rng)[0])
        actors.append(group.title() if group else "Unidentified")
    gold = {"event_type": spaces["event_type"].encode(["Attack"] * len(texts)),
            "actor": spaces["actor"].encode(["Unidentified" if a == "Unidentified" else "Other" for a in actors])}
    fit(backend, texts, gold, [], {},
        TrainConfig(epochs=30, batch_size=8, lr=2e-3, warmup_ratio=0.0, bf16=False, eval_every=10_000,
                    patience=100, log_every=10_000, class_weighting="none"),
        log=lambda m: None, mentions=row_mentions(texts, actors, None, {}))
    return backend


def test_span_head_names_an_unseen_group_and_not_the_background_one(span_model):
    rng = np.random.default_rng(1)
    text, _ = article("harbor guard", "lion front", rng)
    proba, best, spans, names = span_model.read([text])
    assert names[0] and names[0][0].text(text) == "harbor guard"
    text2, _ = article(None, "desert wolves", rng)
    _, _, _, names2 = span_model.read([text2])
    assert not names2[0] or names2[0][0].score < 0.5


def test_each_name_carries_its_sentences_share_of_the_readers_attention(span_model):
    """`weight` (what ActorLinker.attributed reads): the reader's attention on the name's
    sentence over the article's most attended sentence, the same in a batch as alone."""
    import torch

    rng = np.random.default_rng(2)
    texts = [article(None, "desert wolves", rng)[0], article("harbor guard", "lion front", rng)[0]]
    _, _, spans, names = span_model.read(texts)
    enc = span_model.encode(texts[1:])
    with torch.inference_mode():
        (_, _, out), = list(span_model.reads(enc))
    alpha = out.alpha[:, 0].float().numpy()
    assert len(alpha) == len(spans[1])  # every sentence of the lone article was read
    assert names[1]
    for name in names[1]:
        k = next(i for i, (a, b) in enumerate(spans[1]) if a <= name.start < b)
        assert name.weight == pytest.approx(alpha[k] / alpha.max(), abs=1e-5)
    alone = span_model.read(texts[1:])[3][0]
    assert [(n.start, round(n.weight, 5)) for n in alone] == [(n.start, round(n.weight, 5)) for n in names[1]]


def test_predict_answer_shape_save_and_reload(span_model, tmp_path):
    rng = np.random.default_rng(2)
    texts = [article("desert wolves", "river army", rng)[0], article(None, "iron column", rng)[0]]
    span_model.save(tmp_path)
    (tmp_path / "actors.yaml").write_text("aliases:\n  Desert Wolves: [Desert Wolf Brigade]\n")
    predictor = Predictor(span_model, span_model.spaces, {}, path=tmp_path)
    a, b = predictor.answers(texts)
    assert a["actor"]["decided_by"] == "span" and a["actor"]["label"] == "Desert Wolves"
    assert a["actor"]["known"] is True  # linked through the alias table in the model directory
    s, e = a["actor"]["span"]
    assert texts[0][s:e] == "desert wolves" and "desert wolves" in a["actor"]["evidence"]
    assert b["actor"]["decided_by"] == "closed" and "span" not in b["actor"]
    reloaded = TransformerBackend.load(tmp_path, span_model.cfg, span_model.spaces)
    again = Predictor(reloaded, reloaded.spaces, {}, path=tmp_path).answers(texts)
    assert again[0]["actor"] == a["actor"] and again[1]["actor"] == b["actor"]


def test_linker_takes_off_what_the_span_took_around_a_name():
    """Descriptors in front ("separatist"), an unclosed parenthesis behind, an acronym spelt out
    earlier without parentheses, a country's possessive before a role, and spans that only
    describe a kind of group."""
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    linker = ActorLinker({}, ["Military Forces of Sudan", "Other"], {}, states=states)
    assert linker.name("separatist Mehran Liberation Army", "") == ("Mehran Liberation Army", False)
    assert linker.name("militant group, Lashkar-e-Khurasan", "") == ("Lashkar-e-Khurasan", False)
    assert linker.name("Kalay Valley Revolutionary Force (KVRF", "") == ("Kalay Valley Revolutionary Force", False)
    assert linker.name("al-Qaeda in the Arabian Peninsula", "") == ("al-Qaeda in the Arabian Peninsula", False)
    text = "Fighters of the Rapid Support Forces shelled the camp. The RSF later denied it."
    assert linker.name("RSF", text) == ("Rapid Support Forces", False)
    assert linker.name("XQ", text) == ("XQ", False)  # spelt out nowhere: the acronym stays
    assert linker.name("Sudan's army", "") == ("Military Forces of Sudan", True)
    t = "A Syrian militia fired on the village. An ethnic rebel army and the Sudanese army answered."
    span = lambda w, score=0.9: Span(t.index(w), t.index(w) + len(w), score)
    assert linker.choose(t, [span("Syrian militia")]) is None
    assert linker.choose(t, [span("ethnic rebel army")]) is None
    assert linker.choose(t, [span("Sudanese army")]).text(t) == "Sudanese army"


def test_a_denial_in_any_form_is_not_an_attribution():
    """A sentence that names a group beside an attribution word ("accusing", "behind") while
    denying it attributes nothing; "denying" and "no involvement" passed until session 34."""
    for said in ("Banners signed by the Red Hand appeared overnight, denying any involvement and accusing rivals.",
                 "A spokesman said the Red Hand had no involvement and was not behind the attack."):
        assert not says_who(said, said, 0)
    blamed = "Officials accused the Red Hand of the attack."
    assert says_who(blamed, blamed, 0)


def test_an_article_that_says_nobody_claimed_it_answers_unidentified():
    closed = {"label": "Taliban", "score": 0.6, "uncertain": False}
    unclaimed = ("A bomb killed nine people at a market in Kunduz on Sunday. No group has claimed responsibility. "
                 "The Taliban, who fought for the city in 2015, denied any role.")
    on = ActorLinker({}, ["Taliban", "Unidentified", "Other"], {}, unclaimed=True)
    a = on.answer(closed, unclaimed, [], [], evidence=False)
    assert (a["label"], a["decided_by"], a["closed_set"]["label"]) == ("Unidentified", "unclaimed", "Taliban")
    # a sentence that still attributes it, once "no group has claimed" is taken out, names someone
    blamed = "A bomb killed nine people in Kunduz. No group claimed it, but officials blamed the Taliban."
    assert on.answer(closed, blamed, [], [], evidence=False)["label"] == "Taliban"
    assert not on.unattributed("A bomb killed nine people in Kunduz. The Taliban claimed it.")
    assert on.unattributed("Unidentified gunmen shot dead two police officers in Quetta.")
    # a background paragraph's claim of another attack does not attribute this one
    assert on.unattributed("No group has claimed the bombing. In March, the Taliban claimed a raid nearby.")
    # ... nor one whose paragraph dated it earlier, past the lede; the lede's own paragraph is the event's
    later = ("A bomb killed seven people on a bus in northern Benin. No group claimed responsibility.\n\n"
             "In January, JNIM fighters attacked an army outpost. JNIM claimed that assault a day later.")
    assert on.unattributed(later)
    assert not on.unattributed(later.replace("\n\nIn January", " In January"))
    assert not on.unattributed("Headline on the bus bomb\n\n" + later.replace("\n\nIn January", " In January"))
    # "not clear who was behind it" says nobody is known, it attributes nothing
    unclear = "A roadside bomb wounded four officers. It was not clear who was behind the blast, and no group claimed it."
    assert on.unattributed(unclear)
    assert not on.unattributed(unclear + " Police later blamed the Dniester Front.")
    assert on.unattributed("A drone killed three men. No government or group claimed it.")
    off = ActorLinker({}, ["Taliban", "Unidentified", "Other"], {})  # models trained before the rule
    assert off.answer(closed, unclaimed, [], [], evidence=False)["label"] == "Taliban"
    # a closed "Other" (a group the head does not know) that no span names, where the text says
    # nobody is known to have done it though a sentence blames someone unnamed, is Unidentified
    other = {"label": "Other", "score": 0.5, "uncertain": False}
    accused = ("A gas shell hit a village. No party claimed responsibility. "
               "The ministry accused unnamed 'terrorist groups' of staging it.")
    assert not on.unattributed(accused)
    a = on.answer(other, accused, [], [], evidence=False)
    assert (a["label"], a["decided_by"], a["closed_set"]["label"]) == ("Unidentified", "unclaimed", "Other")
    assert on.answer(other, "A gas shell hit a village.", [], [], evidence=False)["label"] == "Other"
    assert off.answer(other, accused, [], [], evidence=False)["label"] == "Other"


def test_a_demonstrations_actor_is_its_crowd():
    labels = ["Protesters", "Rioters", "Police Forces of Iraq", "Other"]
    linker = ActorLinker({}, labels, {}, cutoff=0.5)
    text = "Iraqi riot police fired tear gas at thousands of protesters in Basra on Friday."
    police = [Span(0, len("Iraqi riot police"), 0.9)]
    closed = {"label": "Police Forces of Iraq", "score": 0.7, "uncertain": False}
    protest = {"label": "Protest with intervention", "score": 0.8, "uncertain": False}
    a = linker.answer(closed, text, police, [], False, event=protest)
    assert (a["label"], a["decided_by"], a["closed_set"]["label"], a["score"]) == ("Protesters", "event",
                                                                                 "Police Forces of Iraq", 0.8)
    said = linker.answer({**closed, "evidence": "x"}, text, police, [], True, event={**protest, "evidence": text})
    assert said["evidence"] == text  # the sentence that reports the protest, not the closed head's
    riot = {"label": "Mob violence", "score": 0.4, "uncertain": True}
    a = linker.answer({**closed, "label": "Rioters"}, text, police, [], False, event=riot)
    assert (a["label"], a["decided_by"]) == ("Rioters", "closed")  # the closed head said it already
    # any other event, or no event answer: the span and the closed head decide as before
    for event in ({"label": "Excessive force against protesters", "score": 0.9, "uncertain": False}, None):
        assert linker.answer(closed, text, police, [], False, event=event)["decided_by"] == "span"
    # a model whose actor labels hold no crowd never answers one
    bare = ActorLinker({}, ["Police Forces of Iraq", "Other"], {}, cutoff=0.5)
    assert bare.answer(closed, text, police, [], False, event=protest)["label"] != "Protesters"


def test_state_forces_as_news_names_them():
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    assert states.parse("Military Forces of South Sudan") == ("military", "South Sudan")
    assert states.parse("Police Forces of Kenya") == ("police", "Kenya")
    assert states.parse("Military Forces of Yemen Supreme Political Council") == ("military", "Yemen")
    assert states.parse("Al Shabaab") is None
    v = name_variants("Military Forces of Burkina Faso", {}, states)
    text = "Burkinabe soldiers repelled the attack; later Burkina Faso army units withdrew."
    assert [text[a:b] for a, b in find_mentions(text, v)] == ["Burkinabe soldiers", "Burkina Faso army"]
    assert states.compose("the Ukrainian forces") == "Military Forces of Ukraine"
    assert states.compose("Nigeria police") == "Police Forces of Nigeria"
    assert states.compose("Sudanese troops") == "Military Forces of Sudan"
    assert states.compose("South Sudanese troops") == "Military Forces of South Sudan"
    assert states.compose("Red Hand troops") is None
    linker = ActorLinker({}, ["Military Forces of Russia", "Other"], {}, states=states)
    assert linker.name("Russian forces", "") == ("Military Forces of Russia", True)
    assert linker.name("Malian troops", "") == ("Military Forces of Mali", False)


def test_places_learnt_from_notes_name_the_country():
    from secnews.training.places import country_of, learn_places

    notes = ["Police shot a driver in Trans Mara, Narok County."] * 3 + ["Gunmen raided a farm in Narok."] \
        + ["Police dispersed traders in Kumasi, Ashanti."] * 3 + ["Police arrested a man in Accra."] * 2 \
        + ["Police met in Narok with officials from Kumasi."]
    countries = ["Kenya"] * 4 + ["Ghana"] * 5 + [None]
    table = learn_places(notes, countries)
    assert table["Narok"] == "Kenya" and table["Narok County"] == "Kenya" and table["Kumasi"] == "Ghana"
    assert "Police" not in table  # seen in both countries' notes
    assert "Accra" not in table  # seen twice: too few to say
    assert country_of("A police officer shot a man in Narok County.", table) == "Kenya"
    assert country_of("Talks in Narok and Kumasi.", table) is None  # the places disagree
    assert country_of("Nothing known here.", table) is None
    # a bare role word is placed by the places, else by the country the text names; the closed
    # head's state force is moved by the places only (a named country may be a background story's)
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    linker = ActorLinker({}, ["Police Forces of Kenya", "Other"], {}, states=Taxonomy(
        Path(__file__).parents[1] / "configs" / "taxonomy").states, places=table)
    nepal = "Police beat a reporter. Landslides killed 14 in Nepal's hills; Nepal's army searched for the missing."
    assert linker.placed_role("Police", nepal) == "Police Forces of Nepal"
    assert linker.placed_role("Police", nepal + " In Narok the roads closed.") == "Police Forces of Kenya"
    assert linker.placed("Police Forces of Kenya", nepal) is None
    assert linker.placed("Police Forces of Ghana", "Police beat a reporter in Narok.") == "Police Forces of Kenya"


def test_a_weak_name_span_answers_only_where_the_closed_head_says_other():
    linker = ActorLinker({}, ["Al Shabaab", "Unidentified", "Other"], {}, cutoff=0.5, floor=0.2)
    text = "Suspected MRC members kidnapped a chief in Kwale, police said."
    weak, sure = [Span(10, 13, 0.3)], [Span(10, 13, 0.7)]
    assert linker.decide("Other", 0.8, text, weak).text(text) == "MRC"  # a flagged name, not "Other"
    assert linker.decide("Unidentified", 0.8, text, weak) is None  # "nobody" stands against a weak name
    assert linker.decide("Unidentified", 0.8, text, sure).text(text) == "MRC"
    a = linker.answer({"label": "Other", "score": 0.8, "uncertain": False}, text, weak, [], evidence=False)
    assert (a["label"], a["known"], a["decided_by"], a["uncertain"]) == ("MRC", False, "span", True)


def test_a_sure_unidentified_stands_against_a_named_group():
    """An article that says nobody claimed the attack may still name a group (background, a
    denial): the closed head's `Unidentified` at `span_defer` stands, as a named actor's does."""
    linker = ActorLinker({}, ["Al Shabaab", "Unidentified", "Other"], {}, defer=0.9, cutoff=0.5, floor=0.2)
    text = "Gunmen killed two traders. No group claimed it. MRC denied any role."
    sure = [Span(48, 51, 0.97)]
    assert linker.decide("Unidentified", 0.95, text, sure) is None
    a = linker.answer({"label": "Unidentified", "score": 0.95, "uncertain": False}, text, sure, [], evidence=False)
    assert (a["label"], a["decided_by"]) == ("Unidentified", "closed")
    assert linker.decide("Unidentified", 0.85, text, sure).text(text) == "MRC"  # less sure: the name
    assert ActorLinker({}, ["Unidentified"], {}).decide("Unidentified", 0.99, text, sure).text(text) == "MRC"  # no defer


def test_a_name_in_a_background_sentence_does_not_answer():
    """A name counts where the reader weighs its sentence (the event's) or where a sentence
    says who did it; a group another paragraph names, or one that denies it, is not the actor."""
    text = ("Gunmen killed eleven worshippers in a mosque on Friday. In January, AQAP fighters "
            "fought separatists nearby. The Houthis denied any responsibility.")
    aqap, houthis = Span(68, 72, 0.9, weight=0.1), Span(113, 120, 0.8, weight=0.05)
    linker = ActorLinker({}, ["Unidentified", "Other"], {}, cutoff=0.5, floor=0.2, attention=0.3)
    assert linker.decide("Unidentified", 0.6, text, [aqap, houthis]) is None
    a = linker.answer({"label": "Unidentified", "score": 0.6, "uncertain": False}, text, [aqap, houthis], [],
                      evidence=False)
    assert (a["label"], a["decided_by"]) == ("Unidentified", "closed")
    # off (models trained before the rule): the background name answers, as it did
    off = ActorLinker({}, ["Unidentified", "Other"], {}, cutoff=0.5, floor=0.2)
    assert off.decide("Unidentified", 0.6, text, [aqap, houthis]).text(text) == "AQAP"
    # the event's own sentence, or a later one that attributes, still names the group
    assert linker.decide("Unidentified", 0.6, text, [Span(68, 72, 0.9, weight=0.5)]).text(text) == "AQAP"
    blamed = "Gunmen killed eleven worshippers on Friday. Officials blamed AQAP for the attack."
    late = Span(blamed.index("AQAP"), blamed.index("AQAP") + 4, 0.9, weight=0.1)
    assert linker.decide("Unidentified", 0.6, blamed, [late]).text(blamed) == "AQAP"
    # ... but not one that attributes another time's event, a habit, or says there is no evidence
    for other in ("In January, AQAP claimed a raid on the same town.", "Officials have often blamed AQAP for violence.",
                  "Police said there was no evidence linking AQAP to the attack."):
        t = "Gunmen killed eleven worshippers on Friday. " + other
        bg = Span(t.index("AQAP"), t.index("AQAP") + 4, 0.9, weight=0.1)
        assert linker.decide("Unidentified", 0.6, t, [bg]) is None, other
    # nor one that blames as a habit or blamed at first
    for other in ("The army usually blames AQAP for such raids.", "Residents had initially blamed AQAP."):
        t = "Gunmen killed eleven worshippers on Friday. " + other
        bg = Span(t.index("AQAP"), t.index("AQAP") + 4, 0.9, weight=0.1)
        assert linker.decide("Unidentified", 0.6, t, [bg]) is None, other


def test_names_where_the_article_tells_its_event_come_before_attributed_ones():
    """The headline tells the main event as the lede does: a sure name there counts as the
    event's, and the event's names are chosen before one an attribution word admits
    ("suspected ... bound for Al Shabaab"); a weak word there (a target, a place) does not."""
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    linker = ActorLinker({}, ["Al Shabaab", "Other"], {}, states=states, cutoff=0.5, floor=0.2, attention=0.5)
    text = ("Kenyan police seize explosives near Somali border\n\nGARISSA, Kenya (secnews) - Officers seized "
            "40 kg of explosives from a lorry on Wednesday. Police said they suspected the cargo was bound for "
            "Al Shabaab.")
    at = lambda w, score, weight: Span(text.index(w), text.index(w) + len(w), score, weight=weight)
    police, shabaab = at("Kenyan police", 0.87, 0.09), at("Al Shabaab", 0.94, 0.0)
    assert linker.decide("Other", 0.5, text, [shabaab, police]).text(text) == "Kenyan police"
    a = linker.answer({"label": "Other", "score": 0.5, "uncertain": False}, text, [shabaab, police],
                      [], evidence=False)
    assert (a["label"], a["decided_by"]) == ("Police Forces of Kenya", "span")
    # a headline word under the cutoff is not the event's: the attributed name answers
    assert linker.decide("Other", 0.5, text, [shabaab, at("Kenyan police", 0.3, 0.09)]).text(text) == "Al Shabaab"
    # without a headline the same name in a sentence the reader skips does not count
    body = text[text.index("GARISSA"):] + " Kenyan police were praised."
    late = Span(body.rindex("Kenyan police"), body.rindex("Kenyan police") + 13, 0.87, weight=0.09)
    shabaab2 = Span(body.index("Al Shabaab"), body.index("Al Shabaab") + 10, 0.94, weight=0.0)
    assert linker.decide("Other", 0.5, body, [shabaab2, late]).text(body) == "Al Shabaab"


def test_linker_reads_state_forces_against_the_text():
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    labels = ["Military Forces of Kenya", "Police Forces of Sri Lanka", "Police Forces of Burkina Faso Gendarmerie",
              "Other"]
    linker = ActorLinker({}, labels, {}, states=states, defer=0.9, places={"Narok": "Kenya", "Lamu": "Kenya"})
    # the members' word after an acronym is not part of the name
    assert linker.name("NAF rebel forces", "") == ("NAF", False)
    assert linker.name("NAF rebel", "") == ("NAF", False)  # the span stopped before "forces"
    assert linker.name("SAF soldiers", "") == ("SAF", False)
    # a state force the text never mentions gives way to the group the span head read ...
    text = "Al Shabaab militants stormed a construction site in Lamu and destroyed equipment."
    span = [Span(0, 10, 0.9)]
    assert linker.decide("Military Forces of Kenya", 0.99, text, span).text(text) == "Al Shabaab"
    # ... and where the text speaks of troops only outside what the span head read (a target) ...
    troops = "Al Shabaab militants stormed a camp in Lamu; troops repelled them."
    assert linker.decide("Military Forces of Kenya", 0.99, troops, span).text(troops) == "Al Shabaab"
    # ... but not where the span head read the troops too, or read no name at all
    both = span + [Span(troops.index("troops"), troops.index("troops") + 6, 0.3)]
    assert linker.decide("Military Forces of Kenya", 0.99, troops, both) is None
    assert linker.decide("Military Forces of Kenya", 0.99, troops, [Span(0, 10, 0.4)]) is None
    # the closed head's state force takes the role and the country the text gives it
    police = "A police officer shot dead a driver in Trans Mara, Narok County."
    closed = {"label": "Police Forces of Sri Lanka", "score": 0.5, "uncertain": False}
    a = linker.answer(closed, police, [], [], evidence=False)
    assert (a["label"], a["known"], a["decided_by"]) == ("Police Forces of Kenya", False, "places")
    assert a["closed_set"]["label"] == "Police Forces of Sri Lanka"
    a = linker.answer({**closed, "label": "Military Forces of Kenya"}, "Policemen beat residents in Lamu.", [], [], False)
    assert (a["label"], a["decided_by"]) == ("Police Forces of Kenya", "places")
    # a text that names the label's country, and a unit's own name, stay as the head said
    a = linker.answer(closed, "Sri Lankan police shot a driver in Narok.", [], [], False)
    assert (a["label"], a["decided_by"]) == ("Police Forces of Sri Lanka", "closed")
    gendarmes = {**closed, "label": "Police Forces of Burkina Faso Gendarmerie"}
    assert linker.answer(gendarmes, "Gendarmes beat a trader in Narok.", [], [], False)["decided_by"] == "closed"
    # a bare role word the span head read takes the country of the text's places, else the
    # country the closed head's state forces point to, else stays as written
    kenya, sri_lanka = np.array([0.3, 0.0, 0.0, 0.7]), np.array([0.0, 0.3, 0.0, 0.7])  # closed heads' probabilities
    assert linker.name("Police", "Police shot a driver in Narok.", sri_lanka) == ("Police Forces of Kenya", False)
    assert linker.name("the soldiers", "The soldiers raided a village.", kenya) == ("Military Forces of Kenya", True)
    assert linker.name("Police", "Police shot a driver.") == ("Police", False)
    assert linker.name("Police Commissioner", "Police Commissioner spoke.", kenya)[0] != "Police Forces of Kenya"
    proba = np.array([0.03, 0.02, 0.01, 0.94])  # the labels above: Kenya 0.03, Sri Lanka 0.02, Burkina Faso 0.01
    assert linker.prior_country(proba) is None  # too little mass on any country's state forces
    assert linker.prior_country(np.array([0.06, 0.02, 0.02, 0.9])) == "Kenya"
    a = linker.answer({"label": "Other", "score": 0.7, "uncertain": False}, "Police kill two during clashes.",
                      [Span(0, 6, 0.8)], [], False, closed_proba=kenya)
    assert (a["label"], a["decided_by"], a["mention"]) == ("Police Forces of Kenya", "span", "Police")


def test_batch_scorer_writes_the_name_the_span_head_read(span_model, tmp_path):
    from secnews.serving.score import rows_of
    from secnews.serving.sources import Record

    rng = np.random.default_rng(3)
    texts = [article("harbor guard", "lion front", rng)[0], article(None, "storm company", rng)[0]]
    predictor = Predictor(span_model, span_model.spaces, {}, path=tmp_path)
    records = [Record(id=str(i), source="s", row=i, text=t, error=None) for i, t in enumerate(texts)]
    records.append(Record(id="bad", source="s", row=2, text="", error="empty text"))
    proba, named = predictor.read(texts)
    table = rows_of(records, np.array([0, 1]), proba, predictor.decide(proba), predictor.spaces, "tag",
                    named, predictor.span_task).to_pydict()
    assert table["actor"][0] == "harbor guard" and table["actor"][2] is None
    assert table["actor_decided_by"] == ["span", "closed", None]
    assert table["actor_known"][0] is False
    s, e = table["actor_span_start"][0], table["actor_span_end"][0]
    assert texts[0][s:e] == "harbor guard" and table["actor_span_start"][1] is None
    # a part with no scorable record has the same columns
    empty = rows_of(records[2:], np.zeros(0, np.int64), None, None, predictor.spaces, "tag", None, "actor")
    assert empty.schema.names == list(table)


def test_predict_and_the_scorer_pass_the_event_answer_to_the_linker(span_model, tmp_path, monkeypatch):
    from secnews.training import linking

    rng = np.random.default_rng(5)
    texts = [article("harbor guard", "lion front", rng)[0], article(None, "storm company", rng)[0]]
    predictor = Predictor(span_model, span_model.spaces, {}, path=tmp_path)
    before = predictor.answers(texts)
    assert all(a["event_type"]["label"] == "Attack" for a in before)
    # the tiny model's actor labels hold no crowd: make Unidentified the crowd of an attack
    monkeypatch.setitem(linking.CROWD_EVENTS, "attack", "Unidentified")
    predictor.linker.crowds = {"Unidentified"}
    after = predictor.answers(texts)
    closed = [a["actor"]["top_k"][0]["label"] for a in after]  # the closed-set head's own answer
    expected = [("Unidentified", "closed" if c == "Unidentified" else "event") for c in closed]
    assert [(a["actor"]["label"], a["actor"]["decided_by"]) for a in after] == expected
    assert "event" in [d for _, d in expected]  # the named group's article: its closed head says Other
    i = [d for _, d in expected].index("event")
    assert after[i]["actor"]["evidence"] == after[i]["event_type"]["evidence"]
    assert [a["decided_by"] for a in predictor.read(texts)[1]] == [d for _, d in expected]


def test_actors_cli_suggests_corrected_names_then_adds_them(tmp_path):
    import subprocess
    import sys

    from secnews.serving.feedback import FeedbackStore

    from .conftest import ROOT

    store = FeedbackStore(tmp_path / "fb.sqlite3")
    for name in ["Saraya Awliya al-Dam", "Saraya Awliya al-Dam", "Kataeb Hezbollah"]:
        store.add(text="Rockets hit the base.", labels={"actor": name, "event_type": "Attack"})
    store.close()
    env = {**os.environ, "SECNEWS_ACTORS": str(tmp_path / "actors.yaml")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "secnews.serving.cli", "actors", *a], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=60)
    first = run("suggest", "--db", str(tmp_path / "fb.sqlite3"))
    assert first.returncode == 0 and first.stdout.split("\n")[0].split() == ["2", "Saraya", "Awliya", "al-Dam"]
    assert run("add", "Saraya Awliya al-Dam", "--alias", "SAD").returncode == 0
    again = run("suggest", "--db", str(tmp_path / "fb.sqlite3"))
    assert "Saraya" not in again.stdout and "Kataeb Hezbollah" in again.stdout
    listed = run("list", "--json")
    assert json.loads(listed.stdout) == {"Saraya Awliya al-Dam": ["SAD"]}


def test_training_writes_places_only_where_the_linker_reads_them():
    import json

    import pandas as pd

    from secnews.training.config import load_config
    from secnews.training.places import PLACES
    from secnews.training.train import places_file

    from .conftest import CONFIGS

    rows = pd.DataFrame({"text": ["Police shot a man in Narok."] * 3 + ["Teachers marched in Kumasi."] * 3,
                         "country": ["Kenya"] * 3 + ["Ghana"] * 3})
    files = places_file(load_config(CONFIGS / "default.yaml"), rows, log=lambda m: None)
    assert json.loads(files[PLACES]) == {"Kumasi": "Ghana", "Narok": "Kenya", "Police": "Kenya", "Teachers": "Ghana"}
    assert places_file(load_config(CONFIGS / "baseline.yaml"), rows, log=lambda m: None) == {}
    assert places_file(load_config(CONFIGS / "default.yaml"), rows.assign(country=None), log=lambda m: None) == {}


def test_a_rare_group_folded_into_other_still_trains_its_span():
    """The closed head calls a group it saw too rarely `Other`; the span head must still learn
    where the text names it, or it learns to overlook exactly the groups it does not know."""
    import pandas as pd

    from secnews.training.config import load_config
    from secnews.training.labels import build_space
    from secnews.training.train import actor_mentions
    from secnews.training.validation import coded_column, validate

    from .conftest import CONFIGS

    cfg = load_config(CONFIGS / "default.yaml")
    task = cfg.task("actor")
    space = build_space(task, ["Al Shabaab"] * 6 + ["Unidentified"] * 6 + ["MRC: Mombasa Republican Council"])
    df = pd.DataFrame({"id": ["a", "b", "c"], "text": ["Al Shabaab fighters raided a post.",
                                                       "Unidentified gunmen shot a trader.",
                                                       "Suspected MRC members kidnapped a chief in Kwale."],
                       "actor": ["Al Shabaab", "Unidentified", "MRC: Mombasa Republican Council"]})
    df, _ = validate(df, [task], {"actor": space})
    assert df["actor"].tolist() == ["Al Shabaab", "Unidentified", "Other"]
    assert df[coded_column("actor")].tolist()[2] == "MRC: Mombasa Republican Council"
    mentions = actor_mentions(df, cfg)
    assert [df["text"][2][a:b] for a, b in mentions[2]] == ["MRC"]
    assert [df["text"][0][a:b] for a, b in mentions[0]] == ["Al Shabaab"]
    assert mentions[1] == []


def test_a_role_word_the_sentence_makes_the_doer_names_the_state_force():
    """No span, no state force in the closed head (its country was never trained): the event's
    sentence opening with "Police ..." or saying "... by police" names the force of the
    country the places point to; a member ("police officer killed"), an unclaimed attack and a
    sure named actor are left alone."""
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    linker = ActorLinker({}, ["Military Forces of Kenya", "Rioters", "Mungiki Militia", "Unidentified", "Other"], {},
                         states=states, defer=0.9, places={"Narok": "Kenya", "Isiolo": "Kenya", "Kumasi": "Ghana"})
    proba = np.array([0.3, 0.3, 0.1, 0.2, 0.1])

    def ask(label, score, text):
        return linker.answer({"label": label, "score": score, "uncertain": False}, text, [],
                             sentence_spans(text), evidence=True, closed_proba=proba)

    a = ask("Rioters", 0.6, "Police shot dead two suspects in Narok. Residents later protested.")
    assert (a["label"], a["decided_by"], a["known"], a["mention"]) == ("Police Forces of Kenya", "role", False, "Police")
    assert a["evidence"] == "Police shot dead two suspects in Narok." and a["closed_set"]["label"] == "Rioters"
    assert a["score"] == 0.3 and a["uncertain"]  # the closed head's mass on Kenya's forces: not sure
    assert ask("Unidentified", 0.7, "Two youths were beaten by police in Isiolo.")["label"] == "Police Forces of Kenya"
    assert ask("Other", 0.5, "27 February: Ugandan police attacked fishermen.")["label"] == "Police Forces of Uganda"
    armenia = "Military forces of Armenia fired on the positions of the military forces of Azerbaijan near Narok."
    assert ask("Other", 0.5, armenia)["label"] == "Military Forces of Armenia"
    # the places of the event's sentence, not a background paragraph's: none here, so the closed head's country
    told = "Police clash with raiders\n\nPolice clash with raiders.\n\nIn Kumasi, traders rallied."
    assert ask("Other", 0.5, told)["label"] == "Police Forces of Kenya"
    assert linker.placed_role("Police", told) == "Police Forces of Ghana"  # what the whole text's places say
    for label, score, text in [
            ("Unidentified", 0.7, "One police officer was killed in Narok."),  # the victim
            ("Unidentified", 0.7, "A police officer killed in Narok."),
            ("Unidentified", 0.7, "Unknown gunmen attacked a post in Narok, and an operation was launched by police."),
            ("Mungiki Militia", 0.95, "Mungiki attacked police in Narok. Police fired back."),  # a sure named actor
            ("Rioters", 0.6, "Residents battled police in Narok."),  # not the doer
            ("Unidentified", 0.7, "Police said two men were shot dead in Narok."),  # the police tell it
            ("Unidentified", 0.7, "A man wanted by the police shot a trader in Narok."),
            ("Unidentified", 0.7, "POLICE SHOT DEAD TWO MEN IN NAROK, OFFICIALS SAID."),  # all caps: no reading
    ]:
        assert ask(label, score, text)["decided_by"] == "closed", text


def test_two_parties_in_one_span_answer_the_first_when_it_reads_as_an_actor():
    """Session 33: "Syrian army and HTS" answers the army (ACLED codes the party that acted
    first); a name holding "and" whose first part is no actor stays one name."""
    from pathlib import Path

    from secnews.training.taxonomy import Taxonomy

    states = Taxonomy(Path(__file__).parents[1] / "configs" / "taxonomy").states
    linker = ActorLinker({"aliases": {"Hayat Tahrir al-Sham": ["HTS"]}}, ["Hayat Tahrir al-Sham", "Other"], {},
                         states=states)
    assert linker.name("Syrian army and HTS", "") == ("Military Forces of Syria", False)
    assert linker.name("HTS and Syrian army", "") == ("Hayat Tahrir al-Sham", True)
    assert linker.name("Justice and Equality Movement", "")[0] == "Justice and Equality Movement"


def test_training_writes_the_coded_names_and_the_linker_names_a_communal_group_by_them():
    """names.json: every actor name the training rows coded (as coded, before a rare one is
    folded into Other); a short form in a note ("Degodia militiamen") answers ACLED's name for
    the group, the text's country deciding between two, and "A and B" names its first party."""
    import json

    import pandas as pd

    from secnews.training.config import load_config
    from secnews.training.names import NAMES, kin_index, read_names
    from secnews.training.train import names_file
    from secnews.training.validation import coded_column

    from .conftest import CONFIGS

    rows = pd.DataFrame({"text": ["x"] * 5, "actor": ["Other"] * 5,
                         "actor__coded": ["Degodia Ethnic Militia (Kenya)", "Degodia Ethnic Militia (Kenya)",
                                          "Fulani Ethnic Militia (Benin)", "Unidentified", None]})
    rows = rows.rename(columns={"actor__coded": coded_column("actor")})
    files = names_file(load_config(CONFIGS / "default.yaml"), rows, log=lambda m: None, parent={"Los Boshes Gang": 4})
    assert json.loads(files[NAMES]) == {"Degodia Ethnic Militia (Kenya)": 2, "Fulani Ethnic Militia (Benin)": 1,
                                        "Los Boshes Gang": 4}
    assert names_file(load_config(CONFIGS / "baseline.yaml"), rows, log=lambda m: None) == {}
    assert read_names(None) == {}

    names = ["Degodia Ethnic Militia (Kenya)", "Fulani Ethnic Militia (Benin)", "Fulani Ethnic Militia (Nigeria)",
             "Los Boshes Gang", "Al Shabaab"]
    linker = ActorLinker({}, ["Other"], {}, places={"Kaduna": "Nigeria", "Alibori": "Benin"}, names=dict.fromkeys(names, 1))
    assert linker.kin == kin_index(names)
    assert linker.name("Degodia militiamen", "Degodia militiamen raided a village.") == (
        "Degodia Ethnic Militia (Kenya)", True)
    assert linker.name("Los Boshes", "") == ("Los Boshes Gang", True)
    assert linker.name("Fulani militia", "Fulani militia attacked a farm in Kaduna.") == (
        "Fulani Ethnic Militia (Nigeria)", True)
    assert linker.name("Fulani militia", "Fulani militia attacked a farm.") == ("Fulani militia", False)  # which?
    assert linker.name("Degodia and Garre", "") == ("Degodia Ethnic Militia (Kenya)", True)
    assert ActorLinker({}, ["Other"], {}).name("Degodia militiamen", "Degodia militiamen raided it.") == (
        "Degodia", False)  # a model directory without names.json
