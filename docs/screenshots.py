"""The README's screenshots: the analyst's page answering an article with a real model, and
an archive report, taken in headless Chromium (Debian's, driven by Playwright).

    python docs/screenshots.py page --model MODEL_DIR [--article-id news-e2-005]
    python docs/screenshots.py report --html report.html

Writes docs/page.png and docs/report.png. The page is served on 127.0.0.1 with its own
BENTOML_HOME and feedback database (nothing of the user's is touched).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
NEWS = ROOT / "datasets" / "news_eval" / "news_eval.jsonl"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        raise SystemExit("no Chromium: apt-get install -y chromium")
    return path


def page_shot(model: Path, article_id: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from benchmarks.serve import start_server

    article = next(json.loads(l) for l in NEWS.read_text().splitlines() if json.loads(l)["id"] == article_id)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(model, Path(tmp) / "home")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
                page.goto(url + "/")
                page.wait_for_selector("#classify:not([disabled])", timeout=120_000)
                page.fill("#title", article.get("title") or "")
                page.fill("#text", article["text"])
                page.click("#classify")
                page.wait_for_selector(".task[data-task=actor]", timeout=120_000)
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def report_shot(html: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        page.goto(html.resolve().as_uri())
        page.screenshot(path=str(out), full_page=False)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    pg = sub.add_parser("page")
    pg.add_argument("--model", type=Path, required=True)
    pg.add_argument("--article-id", default="news-e2-005", help="an article of the frozen news set")
    pg.add_argument("--out", type=Path, default=ROOT / "docs" / "page.png")
    rp = sub.add_parser("report")
    rp.add_argument("--html", type=Path, required=True)
    rp.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    args = ap.parse_args()
    if args.what == "page":
        page_shot(args.model, args.article_id, args.out)
    else:
        report_shot(args.html, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
