"""Screenshots for review: ``python -m tests.support.screenshots`` (``make screenshots``)
serves ``_build/html`` (build it first) on 127.0.0.1 and writes, at a desktop (1280 px) and
a phone (390 px) width, every page of the site whole and the research lab's widest table
(its sweep table) as PNG files into ``_build/review/``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
from pathlib import Path

from tests.support.browser import chromium
from vae_anomaly.config import ROOT

HTML = ROOT / "_build" / "html"
OUT = ROOT / "_build" / "review"
WIDTHS = {"desktop": 1280, "phone": 390}
# name -> (page, the element to shoot, None for the whole page), besides every page whole
SHOTS = {"lab-table": ("book/lab/trade_off", ".bd-article table >> nth=1")}
NOT_PAGES = ("genindex", "search", "py-modindex")


def pages() -> dict:
    """Every page of the built site, whole: name -> (page, None)."""
    found = sorted(p.relative_to(HTML).with_suffix("").as_posix() for p in HTML.rglob("*.html")
                   if not any(part.startswith("_") for part in p.relative_to(HTML).parts)
                   and p.stem not in NOT_PAGES)
    return {page.replace("/", "-"): (page, None) for page in found}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args(argv).out
    if not (HTML / "index.html").is_file():
        raise SystemExit("_build/html is missing: run `make book` first")
    handler = functools.partial(_Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        with chromium() as browser:
            for width_name, width in WIDTHS.items():
                page = browser.new_page(viewport={"width": width, "height": 900})
                for name, (path, selector) in {**pages(), **SHOTS}.items():
                    page.goto(f"{base}/{path}.html", wait_until="load")
                    page.wait_for_function("() => [...document.images].every(i => i.complete)")
                    target = out / f"{name}-{width}px.png"
                    if selector:
                        box = page.locator(selector).locator(
                            "xpath=ancestor-or-self::*[contains(@class, 'cell_output')][1]")
                        box.first.screenshot(path=target)
                    else:
                        page.screenshot(path=target, full_page=True)
                    written.append(target)
                    print(f"wrote {target.relative_to(ROOT)} ({width_name})")
                page.close()
            browser.close()
    finally:
        httpd.shutdown()
    return written


if __name__ == "__main__":
    main()
