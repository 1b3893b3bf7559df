"""The numbers the course site publishes and the results files they come from, as one
snapshot: ``python -m tests.support.published`` rewrites ``tests/published_numbers.json``
from ``_build/html`` (build the site first). Do that only when a result changed on purpose.
"""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from vae_anomaly.config import ROOT

SNAPSHOT = ROOT / "tests" / "published_numbers.json"
# pages whose numbers all come from stored results (the solution page trains at build time)
PAGES = ["book/intro", "book/background", "book/baselines", "book/instructor",
         "book/lab/trade_off", "book/lab/exercises"]
NUMBER = re.compile(r"(?<![\w.])[−-]?\d+(?:[.,]\d+)*(?:e[−-]?\d+)?")


class _Text(HTMLParser):
    """The text of an HTML page's ``<main>`` element, scripts, styles and footers left out
    (the footer's date of the build and licence versions are no published result)."""

    def __init__(self):
        super().__init__()
        self.depth, self.skip, self.parts = 0, 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "main" or self.depth:
            self.depth += 1
        if tag in ("script", "style", "footer"):
            self.skip += 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1
        if tag in ("script", "style", "footer") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.parts.append(data)


def page_numbers(html: Path) -> list[str]:
    parser = _Text()
    parser.feed(html.read_text(encoding="utf-8"))
    return NUMBER.findall(" ".join(parser.parts))


def results_hashes() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((ROOT / "results").rglob("*.json"))}


def snapshot(html_dir: Path = ROOT / "_build" / "html") -> dict:
    return {"pages": {page: page_numbers(html_dir / f"{page}.html") for page in PAGES},
            "results": results_hashes()}


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(snapshot(), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}")
