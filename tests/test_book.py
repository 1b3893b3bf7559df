"""The course site, end to end. Slow: ``make book`` runs first (a cold build executes the
solution with BOOK_EPOCHS epochs, a few minutes on 2 cores; warm, seconds).

The built site is served on 127.0.0.1 and walked in headless Debian Chromium: every page
of the toc loads with no console error and no request off this machine, its images load,
its math is typeset; search finds the assignment; next/previous walk the whole book. At a
desktop (1280 px) and a phone (390 px) width, axe-core finds no serious or critical
accessibility problem on any page, tables fit (desktop) or scroll in their own box (phone),
have a header row and break no word inside, nothing runs off the page, every figure has real
alt text and its smallest text is shown at least 9 px tall. The footer's licence, author
and date, the launch buttons, the titles and the solution page's summary are checked too.
Screenshots of every page go to ``_build/screenshots/``.
"""

from __future__ import annotations

import filecmp
import functools
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from tests.support import published
from tests.support.browser import chromium
from vae_anomaly.config import CONVERGED_EPOCHS, GRADING_EPOCHS, GRADING_SEED, ROOT
from vae_anomaly.config import RELEASE as RELEASED
from vae_anomaly.config import SITE_NOTEBOOK as ASSIGNMENT
from vae_anomaly.course import calibrate, figtext, site

pytestmark = pytest.mark.slow

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
AXE = next(iter(sorted((ROOT / "tests" / "vendor").glob("axe-core-*/axe.min.js"))), None)
WIDTHS = {"desktop": 1280, "phone": 390}


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def sphinx_config() -> dict:
    return book_config()["sphinx"]["config"]


def theme_links() -> dict:
    """The repository and launch settings of _config.yml, as the theme receives them."""
    config = book_config()
    return {"repository_url": config["repository"]["url"],
            "launch_buttons": config["launch_buttons"]}


def toc_pages() -> list[str]:
    """The published pages, in reading order."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    site_map = parse_toc_yaml(ROOT / "_toc.yml")
    config = sphinx_config()
    hidden = set() if config["publish_solution"] else set(config["solution_pages"])

    def walk(docname):
        yield docname
        for name in site_map[docname].child_files():
            yield from walk(name)

    pages = [re.sub(r"\.(md|ipynb)$", "", p) for p in walk(site_map.root.docname)]
    return [p for p in pages if p not in hidden]


def run(*args, **kwargs):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def built():
    """Release the assignment, note whether the site's copy was current, build the site."""
    release = run("make", "release")
    assert release.returncode == 0, release.stdout[-3000:] + release.stderr[-3000:]
    was_current = ASSIGNMENT.exists() and filecmp.cmp(RELEASED, ASSIGNMENT, shallow=False)
    book = run("make", "book")
    assert book.returncode == 0, book.stdout[-5000:] + book.stderr[-5000:]
    return was_current


@pytest.fixture(scope="module")
def server(built):
    """``_build/html`` on an HTTP server at 127.0.0.1 (a free port)."""
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


class Visit:
    """A page that records console errors and every request that leaves 127.0.0.1."""

    def __init__(self, browser, base, width=WIDTHS["desktop"]):
        self.errors, self.outside = [], []
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self.only_local)
        self.base = base

    def only_local(self, route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, path):
        return self.open_url(f"{self.base}/{path}")

    def open_url(self, url):
        self.page.goto(url, wait_until="load")
        return self.page

    def close(self):
        self.page.close()


@pytest.fixture
def visit(browser, server):
    v = Visit(browser, server)
    yield v
    v.close()


def test_site_assignment_is_the_released_notebook(built):
    assert built, (f"{ASSIGNMENT.relative_to(ROOT)} differs from `make release`'s notebook: "
                   "run `make book` and commit it (launch buttons open the committed copy)")


def test_every_toc_page_was_built(built):
    for page in toc_pages():
        assert (HTML / f"{page}.html").is_file(), f"{page} is in _toc.yml but was not built"


@pytest.mark.parametrize("page", toc_pages())
def test_page_renders_offline(visit, page):
    """No console error, no request off the machine, every image loaded, math typeset."""
    p = visit.open(f"{page}.html")
    if p.locator(".math").count():
        p.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        p.evaluate("() => MathJax.startup.promise")
        assert p.locator("mjx-container").count() >= p.locator(".math").count(), \
            "not every formula was typeset by MathJax"
    p.wait_for_function("() => [...document.images].every(i => i.complete)")
    broken = p.evaluate("() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=SHOTS / f"{page.replace('/', '__')}.png", full_page=True)
    assert not broken, f"images that did not load: {broken}"
    assert not visit.errors, f"console errors: {visit.errors}"
    assert not visit.outside, f"requests off this machine: {visit.outside}"
    assert p.locator("h1").count() >= 1


def test_the_front_page_leads_to_the_first_page(visit):
    """``/`` is a titled page that sends the reader to the intro; no empty index page."""
    index = (HTML / "index.html").read_text()
    assert "<title>" in index and 'lang="' in index and "book/intro.html" in index
    p = visit.open("")
    p.wait_for_url("**/book/intro.html")
    assert p.locator("h1").count() >= 1
    assert not (HTML / "genindex.html").exists(), "an empty general index is published"


def test_math_page_is_typeset(visit):
    """The background page's formulas render as MathJax output, from the vendored copy."""
    p = visit.open("book/background.html")
    p.evaluate("() => MathJax.startup.promise")
    assert p.locator("mjx-container[display='true']").count() >= 3
    assert p.evaluate("() => MathJax.version").startswith("3.")


def test_next_and_previous_walk_the_book(visit):
    pages = toc_pages()

    def walk(start, selector):
        order, url = [], f"{visit.base}/{start}.html"
        while url and len(order) <= len(pages):
            p = visit.open_url(url)
            order.append(urlparse(p.url).path.lstrip("/").removesuffix(".html"))
            link = p.locator(selector)
            url = link.first.evaluate("a => a.href") if link.count() else None
        return order

    assert walk(pages[0], "a.right-next") == pages
    assert walk(pages[-1], "a.left-prev") == pages[::-1]


def test_assignment_page_offers_the_notebook(visit):
    """No outputs shown; the download button gives the released notebook byte for byte;
    launch buttons lead to exactly the services that _config.yml gives a real target, and the
    Repository button shows only with a repository URL."""
    p = visit.open("book/assignment/anomaly_vae.html")
    assert p.locator(".cell_output").count() == 0
    download = p.locator("a.btn-download-source-button")
    assert download.get_attribute("href").endswith("anomaly_vae.ipynb")
    response = p.request.get(download.evaluate("a => a.href"))
    assert response.ok and response.body() == ASSIGNMENT.read_bytes()
    hrefs = p.locator("a").evaluate_all("links => links.map(a => a.href)")
    options = site.link_options(theme_links())
    for key in site.LAUNCH_SERVICES:
        target = options["launch_buttons"][key]
        shown = any(target and h.startswith(target) and "anomaly_vae.ipynb" in h for h in hrefs)
        assert shown == bool(target), f"{key}: {target!r} but shown={shown}"
    assert (p.locator(".dropdown-launch-buttons").count() > 0) == bool(site.launch_services(
        theme_links())), "a launch menu without a configured service (or the reverse)"
    repository = options["repository_url"]
    assert (p.locator(f"a[href='{repository}']").count() > 0 if repository else
            p.locator(".btn-source-repository-button").count() == 0)


def test_the_intro_promises_what_the_assignment_page_shows(visit):
    """The intro names the launch services the toolbar offers, and no other."""
    text = visit.open("book/intro.html").locator("main").inner_text()
    services = site.launch_services(theme_links())
    assert "download button" in text
    assert ("launch buttons" in text) == bool(services)
    for name, _ in site.LAUNCH_SERVICES.values():
        assert (name in text) == (name in services), name


def test_titles_are_distinct_and_the_solution_has_a_banner(visit):
    """"Assignment: …" and "Reference solution: …", in the page and in the window title."""
    titles = {}
    for page in sphinx_config()["assignment_pages"] + sphinx_config()["solution_pages"]:
        p = visit.open(f"{page}.html")
        titles[page] = (p.locator("h1").first.inner_text(), p.title())
    for page in sphinx_config()["assignment_pages"]:
        assert all(t.startswith(site.ASSIGNMENT_TITLE) for t in titles[page]), titles[page]
    for page in sphinx_config()["solution_pages"] if sphinx_config()["publish_solution"] else []:
        assert all(t.startswith(site.SOLUTION_TITLE) for t in titles[page]), titles[page]
        banner = visit.open(f"{page}.html").locator(".solution-banner")
        assert banner.count() == 1 and "reference solution" in banner.inner_text().lower()
        assert banner.locator("a[href*='assignment/anomaly_vae']").count() == 1
    assert len({t for pair in titles.values() for t in pair}) == 2 * len(titles)


def test_solution_page_shows_its_budget_run_beside_the_converged_run(visit):
    """The solution page trained for the grading budget and says so; beside it, each labelled,
    the stored graded runs (results/calibration.json) and the reference trained until its loss
    stopped going down (make converged), with that run's own numbers."""
    if not sphinx_config()["publish_solution"]:
        pytest.skip("the solution is not published")
    p = visit.open(f"{sphinx_config()['solution_pages'][0]}.html")
    text = p.locator("main").inner_text()
    epochs = [tuple(map(int, m)) for m in re.findall(r"Epoch (\d+)/(\d+)", text)]
    trained, budget = site.run_facts(text)["trained"], site.run_facts(text)["budget"]
    assert budget == GRADING_EPOCHS and epochs and epochs[-1] == (trained, budget)
    summary = p.locator("table.solution-summary")
    headings = summary.locator("th").all_inner_texts()
    assert headings[1:] == ["This page (grading budget)", "Graded runs (make calibrate)",
                            "Converged run (make converged)"], headings
    summary = summary.inner_text()
    assert f"This page trained for {trained} epochs" in text
    calibration = json.loads((ROOT / "results" / "calibration.json").read_text())
    for metric in ("roc_auc", "pr_auc"):
        assert site.fmt(calibration["designs"]["reference"][metric]["mean"], ".3f") in summary
    learned = calibration["marks"]["calibrated"]
    assert site.fmt(learned["roc_auc"], ".3f") in summary
    assert site.fmt(learned["roc_auc_gain"], "+.3f") in summary
    converged = json.loads(calibrate.run_file("reference", GRADING_SEED, [CONVERGED_EPOCHS])
                           .read_text())
    end = converged["at"][str(CONVERGED_EPOCHS)]
    assert converged["epochs_trained"] > GRADING_EPOCHS
    assert f"{converged['epochs_trained']} (at most {CONVERGED_EPOCHS})" in summary
    for metric in ("roc_auc", "pr_auc"):
        assert site.fmt(end[metric], ".3f") in summary


@pytest.mark.parametrize("page", toc_pages())
def test_every_page_names_its_licences_author_and_date(visit, page):
    """The footer: the code's and the text's licences, the author, the date of the build;
    the favicon loads; no placeholder link (example.org, example.edu, …) anywhere."""
    p = visit.open(f"{page}.html")
    footer = p.locator("footer.bd-footer-content").inner_text()
    assert f"By {book_config()['author']}" in footer
    assert re.search(r"Last updated on \d{1,2} \w+ \d{4}", footer), footer
    assert "MIT licence" in footer and "CC BY 4.0" in footer
    for name in ("LICENSE", "LICENSE-text"):
        assert name in footer and (ROOT / name).is_file()
    icon = p.locator("link[rel='icon']")
    assert icon.count() == 1 and p.request.get(icon.evaluate("l => l.href")).ok
    hrefs = p.locator("a").evaluate_all("links => links.map(a => a.href)")
    hosts = {urlparse(h).hostname or "" for h in hrefs}
    assert not [h for h in hosts if re.search(r"(^|\.)example\.(com|org|net|edu)$", h)
                or "example-course" in h], hosts


def test_exercise_answers_are_inside_toggles(visit):
    """Every solution cell of the exercises is folded (a hidden cell), and the answers written
    in the text sit in dropdowns that are closed when the page opens."""
    p = visit.open("book/lab/exercises.html")
    outputs = p.locator(".cell_output")
    assert outputs.count() >= 3
    assert all(outputs.nth(i).evaluate("o => !!o.closest('details:not([open])')")
               for i in range(outputs.count()))
    answers = p.locator(".admonition.dropdown")
    assert answers.count() >= 1
    for i in range(answers.count()):
        assert not answers.nth(i).locator("p.pasted-text, .pasted-text").first.is_visible()


def test_citations_link_to_the_bibliography(visit):
    """Each cited work is linked from the text to its entry on the references page."""
    entries = re.findall(r"^@\w+\{(\w+),", (ROOT / "book" / "references.bib").read_text(), re.M)
    cited = set()
    for page in toc_pages():
        p = visit.open(f"{page}.html")
        links = p.locator("main a[href*='references.html#']")
        cited |= {links.nth(i).get_attribute("title") or "" for i in range(links.count())}
    p = visit.open("book/references.html")
    assert p.locator("main .citation, main dl.citation > dt, main div.citation").count() \
        >= len(entries)
    assert len([c for c in cited if c]) >= len(entries), cited


# What a reader sees at a width: axe-core's serious and critical violations, tables wider than
# the text (desktop) or spilling out of their scroll box (phone), without a header row, or with
# a word broken across lines in a cell, inline code running off the text, figures without real
# alt text, and the page's own horizontal overflow.
LAYOUT = """width => {
  const article = document.querySelector('.bd-article');
  const right = article.getBoundingClientRect().right + 1;
  // A word (letters, digits, underscores: `conv_learned_sigma`) laid out on more than one line.
  const broken = cell => {
    const words = [], walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      for (const m of text.data.matchAll(/[\\p{L}\\p{N}_]+/gu)) {
        const range = document.createRange();
        range.setStart(text, m.index);
        range.setEnd(text, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                .map(r => Math.round(r.bottom)));
        if (lines.size > 1) words.push(m[0]);
      }
    }
    return words;
  };
  const tables = [...article.querySelectorAll('table')].map(t => {
    const box = t.closest('.pst-scrollable-table-container') || t.parentElement;
    return {caption: (t.caption ? t.caption.textContent : t.textContent).slice(0, 60),
            wider: t.scrollWidth > box.clientWidth + 1,
            scrolls: ['auto', 'scroll'].includes(getComputedStyle(box).overflowX),
            tabStop: box.tabIndex >= 0,
            header: !!t.querySelector('thead th'),
            broken: [...t.querySelectorAll('th, td')].flatMap(broken),
            boxRight: box.getBoundingClientRect().right};
  });
  const code = [...article.querySelectorAll(':not(pre) > code')]
    .filter(c => !c.closest('table') && c.getBoundingClientRect().right > right)
    .map(c => c.textContent);
  const alts = [...article.querySelectorAll('img')].map(i => i.getAttribute('alt') || '');
  const unnumbered = [...article.querySelectorAll('figure')]
    .filter(f => !f.querySelector('figcaption .caption-number'))
    .map(f => (f.textContent || f.querySelector('img')?.getAttribute('alt') || '').slice(0, 60));
  return {page: document.documentElement.scrollWidth, window: window.innerWidth,
          tables, code, alts, unnumbered};
}"""


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("page", toc_pages())
def test_page_is_accessible_and_fits(browser, server, page, width):
    """axe-core (vendored from npm by `make browser`) injected into the page reports no
    serious or critical violation; tables fit the text at 1280 px and scroll in their own box
    at 390 px; no inline code and nothing else runs off the page; every figure has alt text
    that describes it (not a file name), its own on the page, and a numbered caption."""
    assert AXE is not None, "axe-core is missing: run `make browser`"
    visit = Visit(browser, server, WIDTHS[width])
    try:
        p = visit.open(f"{page}.html")
        if p.locator(".math").count():
            p.wait_for_function("() => window.MathJax && MathJax.startup")
            p.evaluate("() => MathJax.startup.promise")
        p.add_script_tag(content=AXE.read_text())
        violations = p.evaluate("""async () => (await axe.run(document, {resultTypes:
            ['violations']})).violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0].target}`)""")
        assert not violations, f"axe-core at {WIDTHS[width]} px: {violations}"
        layout = p.evaluate(LAYOUT, WIDTHS[width])
        assert layout["page"] <= layout["window"], f"the page scrolls sideways: {layout['page']} px"
        if width == "desktop":
            wide = [t["caption"] for t in layout["tables"] if t["wider"]]
            assert not wide, f"tables wider than the text at 1280 px: {wide}"
        else:
            stuck = [t["caption"] for t in layout["tables"]
                     if t["wider"] and not (t["scrolls"] and t["tabStop"])]
            assert not stuck, f"wide tables that do not scroll (from the keyboard too): {stuck}"
        headless = [t["caption"] for t in layout["tables"] if not t["header"]]
        assert not headless, f"tables without a header row: {headless}"
        broken = {t["caption"]: t["broken"] for t in layout["tables"] if t["broken"]}
        assert not broken, f"words broken across lines in tables at {WIDTHS[width]} px: {broken}"
        assert not layout["code"], f"inline code running off the page: {layout['code']}"
        bad = [a for a in layout["alts"]
               if len(a.split()) < 3 or re.search(r"\.(png|jpe?g|svg|gif)$|/", a)]
        assert not bad, f"figures without real alt text: {bad}"
        shared = sorted({a for a in layout["alts"] if layout["alts"].count(a) > 1})
        assert not shared, f"images that share one alt text: {shared}"
        assert not layout["unnumbered"], f"figures without a numbered caption: " \
            f"{layout['unnumbered']}"
    finally:
        visit.close()


# Every image of the article (closed dropdowns opened), as shown: its width on the page and the
# width of its PNG.
FIGURES = """() => {
  document.querySelectorAll('.bd-article details').forEach(d => { d.open = true; });
  return [...document.querySelectorAll('.bd-article img')].map(i => ({
    src: i.src, alt: (i.getAttribute('alt') || '').slice(0, 60),
    shown: i.getBoundingClientRect().width, natural: i.naturalWidth}));
}"""


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("page", toc_pages())
def test_figure_text_is_readable(browser, server, page, width):
    """Every figure's smallest text, as its PNG records it where the figure was drawn
    (vae_anomaly/course/figtext.py), is shown at least figtext.MIN_TEXT_PX CSS pixels tall:
    its size in the PNG's pixels times the width the page shows the image at over the PNG's
    width. At 390 px a figure keeps the width its text needs and scrolls in its own box."""
    visit = Visit(browser, server, WIDTHS[width])
    try:
        p = visit.open(f"{page}.html")
        p.wait_for_function("() => [...document.images].every(i => i.complete)")
        small, unrecorded = [], []
        for image in p.evaluate(FIGURES):
            png = HTML / unquote(urlparse(image["src"]).path.lstrip("/"))
            text_px = figtext.smallest_text_px(png)
            if text_px is None:
                unrecorded.append(image["alt"])
                continue
            shown_px = text_px * image["shown"] / image["natural"]
            if round(shown_px, 2) < figtext.MIN_TEXT_PX:
                small.append((image["alt"], round(shown_px, 1)))
        assert not unrecorded, f"figures whose PNG does not record its smallest text (drawn " \
            f"without figtext: run `make book`): {unrecorded}"
        assert not small, f"figure text below {figtext.MIN_TEXT_PX} px at {WIDTHS[width]} px " \
            f"(the figure's alt text, its smallest text in px): {small}"
    finally:
        visit.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_one_search_box(browser, server, width):
    """One search control is shown, at 1280 px (the sidebar's field) as at 390 px (the
    article header's button): no second field in a header bar."""
    visit = Visit(browser, server, WIDTHS[width])
    try:
        controls = visit.open("book/intro.html").locator(".search-button__button, form.bd-search")
        shown = [controls.nth(i).evaluate("e => e.outerHTML.slice(0, 80)")
                 for i in range(controls.count()) if controls.nth(i).is_visible()]
        assert len(shown) == 1, f"{len(shown)} search controls at {WIDTHS[width]} px: {shown}"
    finally:
        visit.close()


def test_search_finds_the_assignment(visit):
    """Sphinx's client-side search finds a word of the assignment's title, and links to it."""
    import nbformat

    title = next(c.source for c in nbformat.read(ASSIGNMENT, 4).cells if c.cell_type == "markdown")
    word = max(re.findall(r"[A-Za-z]+", title.splitlines()[0]), key=len).lower()
    p = visit.open(f"search.html?q={word}")
    results = p.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15_000)
    links = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("assignment/anomaly_vae" in link for link in links), (word, links)
    assert not visit.errors, visit.errors


def test_unpublished_solution_is_left_out(built, tmp_path):
    """With the switch off, no page, source, link or search entry of the solution is built."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["sphinx"]["config"]["publish_solution"] = False
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    build = run(str(Path(sys.executable).with_name("jupyter-book")), "build", ".", "-W",
                "--config", str(tmp_path / "_config.yml"), "--path-output", str(tmp_path))
    assert build.returncode == 0, build.stdout[-5000:] + build.stderr[-5000:]
    html = tmp_path / "_build" / "html"
    assert (html / "book" / "intro.html").is_file()
    for page in config["sphinx"]["config"]["solution_pages"]:
        leaks = [p.relative_to(html) for p in html.rglob("*") if page in p.as_posix()]
        assert not leaks, f"files of the unpublished {page}: {leaks}"
        pages = [p.relative_to(html) for p in html.rglob("*.html") if page in p.read_text()]
        assert not pages, f"pages that link to the unpublished {page}: {pages}"
        assert page not in (html / "searchindex.js").read_text()


def test_the_site_publishes_the_snapshot_of_numbers(built):
    """Every number of the pages built from stored results, and those results, are the
    snapshot's (``tests/support/published.py`` says how to refresh it on purpose)."""
    want = json.loads(published.SNAPSHOT.read_text())
    got = published.snapshot(HTML)
    assert got["results"] == want["results"], "a results file changed"
    for page, numbers in want["pages"].items():
        assert got["pages"][page] == numbers, f"{page} publishes other numbers"
