"""Screenshot of the site's dataset page for the docs: `python scripts/site_screenshot.py`.

Builds the site from the committed results/ into a temp folder, opens the first dataset page in headless
Chromium (tests/cdp.py) and writes docs/img/site-leaderboard.png.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main(results: str = "results", page: str = "samples.html", out: str = "docs/img/site-leaderboard.png") -> None:
    from cdp import Browser

    from bench.report.site import build

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        build(ROOT / results, site)
        browser = Browser(1280, 1000)
        try:
            browser.navigate((site / page).as_uri())
            browser.evaluate("document.querySelector('.plot') && document.querySelector('.plot').scrollIntoView(false)")
            browser.evaluate("window.scrollTo(0, 0)")
            path = browser.screenshot(ROOT / out)
        finally:
            browser.close()
    print(path)


if __name__ == "__main__":
    main(*sys.argv[1:])
