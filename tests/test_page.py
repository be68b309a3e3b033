"""Issue 15: the analyst's page, driven in headless Chromium against a real `secnews serve`
of a tiny model: paste an article, see the evidence marked, correct the actor to a new
name, and find the correction in the feedback database."""
import json
import shutil
import sqlite3

import pytest

from .test_service import running_server

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install -y chromium)")

ARTICLE = ("Protesters blocked the main road in the capital on Monday. "
           "Police fired tear gas and arrested twelve demonstrators, witnesses said.")


@pytest.fixture(scope="module")
def page_server(smoke_model, tmp_path_factory):
    with running_server(smoke_model, tmp_path_factory.mktemp("page_home")) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_paste_see_evidence_correct_the_actor_and_find_it_stored(page_server, browser):
    page = browser.new_page()
    page.goto(page_server["url"] + "/")
    page.wait_for_selector("#classify:not([disabled])", timeout=30_000)
    page.fill("#title", "Road blocked")
    page.fill("#text", ARTICLE)
    page.keyboard.press("Tab")
    page.click("#classify")
    page.wait_for_selector(".task[data-task=event_type]", timeout=30_000)

    # every evidence sentence the API returned is marked in the article, and only those
    answer = page.evaluate("""async () => (await (await fetch('classify', {method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({articles: [{title: 'Road blocked', text: document.getElementById('text').value}]})})).json())[0]""")
    ev = answer["event_type"]["evidence"]
    marks = page.eval_on_selector_all("#article mark", "ms => ms.map(m => [m.textContent, m.dataset.tasks, m.title])")
    marked_event = [m for m in marks if "event_type" in m[1].split()]
    assert len(marked_event) == 1 and marked_event[0][0] == ev
    assert answer["event_type"]["label"] in marked_event[0][2]  # hover: the label and its score
    assert page.inner_text("#article") == "Road blocked\n\n" + ARTICLE  # the text itself is unchanged

    # correct the actor to a name the model has never seen
    page.fill("#fix-actor", "Road Hauliers Union")
    page.click(".task[data-task=actor] button[type=submit]")
    page.wait_for_selector(".task[data-task=actor] .feedback-msg.sent", timeout=30_000)
    fid = int(page.get_attribute(".task[data-task=actor] .feedback-msg", "data-feedback-id"))
    with sqlite3.connect(page_server["db"]) as db:
        row = db.execute("SELECT article_id, text, labels FROM feedback WHERE id = ?", (fid,)).fetchone()
    assert row is not None and json.loads(row[2]) == {"actor": "Road Hauliers Union"}
    assert row[0].startswith("page-") and row[1] == ARTICLE

    # the second tab lists it, reached with the keyboard
    page.focus("#tab-classify")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#recent tr td", timeout=10_000)
    assert "Road Hauliers Union" in page.inner_text("#recent")
    page.close()


def test_page_says_when_the_model_is_still_loading(page_server, browser):
    page = browser.new_page()
    page.route("**/metadata", lambda route: route.fulfill(status=503, body='{"error": "the model is still loading"}',
                                                         content_type="application/json"))
    page.goto(page_server["url"] + "/")
    page.wait_for_function("document.getElementById('status').textContent.includes('still loading')", timeout=10_000)
    assert page.is_disabled("#classify")
    page.close()
