"""The feedback page a student gets: nbgrader's, made to work offline and to read in full.

``nbgrader generate_feedback`` renders the autograded notebook with nbgrader's feedback
template, which loads MathJax 2 from a CDN (a hub without internet shows raw LaTeX) and keeps
long lines on one line (a long error message runs off the page). ``nbgrader
release_feedback`` delivers the ``.html`` file alone, so whatever the page needs must be in
it. ``FeedbackExporter`` (``c.GenerateFeedback.exporter_class`` in ``nbgrader_config.py``)
renders the same page, then:

* replaces the CDN script by the course's vendored MathJax 3 (``book/_static/mathjax``,
  ``make mathjax``), inlined with its fonts (as data URIs), so the page typesets its math
  with no request off the machine. Only the TeX macros MathJax builds in (base and AMS: all
  the course's notebooks use) are there; an extension is never fetched;
* makes long lines wrap (outputs, code, comments) and figures fit the window, on screen and
  in print;
* says at the top how many hand-graded cells are not graded yet, when some are: the score
  counts them as 0 (generate the feedback after hand grading).
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from pathlib import Path

from nbconvert.exporters import HTMLExporter

from ..config import ROOT

MATHJAX = ROOT / "book" / "_static" / "mathjax"  # MathJax 3's es5 folder (Makefile: MATHJAX)
SCRIPT = "tex-chtml.js"  # TeX input, HTML output, the menu and assistive MathML
FONTS = Path("output") / "chtml" / "fonts" / "woff-v2"
# nbconvert's mathjax macro (nbconvert/templates/base/mathjax.html.j2), which the feedback
# template calls with its CDN default
CDN = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
NOTE_ID = "vae-ungraded-note"

# MathJax 3 set up as nbconvert sets up MathJax 2 ($…$ and $$…$$, AMS numbering); fonts are
# data URIs: each @font-face's URL is swapped for its file's data before the first typeset.
CONFIG = """\
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]],
    displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams",
    packages: {"[-]": ["autoload", "require"]}
  },
  startup: {
    ready() {
      const fonts = %s;
      const data = MathJax._.output.chtml.FontData.CHTMLFontData.prototype;
      const addFontURLs = data.addFontURLs;
      data.addFontURLs = function (styles, list, url) {
        addFontURLs.call(this, styles, list, url);
        for (const name of Object.keys(list)) {
          const file = (styles[name].src.match(/[\\w-]+\\.woff/) || [])[0];
          if (fonts[file]) {
            styles[name].src = 'url("data:font/woff;base64,' + fonts[file] + '") format("woff")';
          }
        }
      };
      MathJax.startup.defaultReady();
    }
  }
};
"""

WRAP = """\
/* long lines wrap instead of running off the page (vae_anomaly/course/feedback.py) */
pre, div.output_area pre, div.input_area pre, .highlight pre {
  white-space: pre-wrap;
  word-break: normal;  /* bootstrap's break-all would cut words anywhere */
  overflow-wrap: break-word;  /* between words; inside one only when it is too long */
}
div.panel-footer, div.text_cell_render { overflow-wrap: break-word; }
div.output_subarea { overflow-x: visible; }
div.output_area img { max-width: 100%; height: auto; }  /* figures fit a narrow window */
"""


class MathJaxMissing(FileNotFoundError):
    """The vendored MathJax is not there (the message says how to get it)."""


@cache
def mathjax_html(folder: Path = MATHJAX) -> str:
    """The ``<script>`` elements of an offline MathJax: configuration, fonts and library."""
    script = folder / SCRIPT
    fonts = sorted((folder / FONTS).glob("*.woff"))
    if not script.is_file() or not fonts:
        raise MathJaxMissing(f"no MathJax at {folder} (need {SCRIPT} and {FONTS}/*.woff): run "
                             f"`make mathjax` in the repository")
    data = {f.name: base64.b64encode(f.read_bytes()).decode() for f in fonts}
    library = script.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return (f"<!-- MathJax {folder.name}/{SCRIPT}, inlined for offline reading -->\n"
            f"<script>\n{CONFIG % json.dumps(data)}</script>\n<script>{library}</script>\n")


def offline(page: str, folder: Path = MATHJAX) -> str:
    """``page`` (nbgrader's feedback HTML) with MathJax inlined and long lines wrapping."""
    if len(CDN.findall(page)) != 1:
        raise ValueError("the feedback page has no MathJax block of nbconvert's to replace: "
                         "did nbgrader's feedback template change?")
    page = CDN.sub(lambda _: mathjax_html(folder), page)
    if "</head>" not in page:
        raise ValueError("the feedback page has no </head>")
    return page.replace("</head>", f"<style>\n{WRAP}</style>\n</head>", 1)


def ungraded_note(page: str, count: int) -> str:
    """``page`` with a box at the top of its body saying ``count`` cells await a grader."""
    if not count:
        return page
    one = count == 1
    text = (f"<p><strong>Not graded in full yet:</strong> {count} "
            f"{'cell' if one else 'cells'} graded by hand {'has' if one else 'have'} no grade "
            f"yet: the score below counts {'it' if one else 'them'} as 0. Your instructor will "
            f"send the final feedback.</p>")
    return top_box(page, NOTE_ID, text, "#d2413a")


def top_box(page: str, box_id: str, text: str, colour: str) -> str:
    """The page with ``text`` in a box at the top of its body (replacing an old ``box_id``)."""
    page = re.sub(rf'<div id="{box_id}".*?</div>\n', "", page, flags=re.S)
    box = (f'<div id="{box_id}" style="border:2px solid {colour};border-radius:6px;'
           f'padding:0.8em 1em;margin:1em auto;max-width:60em;font-family:sans-serif;'
           f'overflow-wrap:anywhere">{text}</div>\n')
    match = re.search(r"<body[^>]*>", page, flags=re.I)
    at = match.end() if match else 0
    return page[:at] + "\n" + box + page[at:]


def ungraded(resources: dict) -> int:
    """Cells of the rendered submission that still need a hand grade, from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    info = (resources or {}).get("nbgrader") or {}
    if not {"db_url", "notebook", "assignment", "student"} <= set(info):
        return 0
    with Gradebook(info["db_url"]) as gb:
        try:
            nb = gb.find_submission_notebook(info["notebook"], info["assignment"],
                                             info["student"])
        except MissingEntry:
            return 0
        return sum(bool(g.needs_manual_grade) for g in nb.grades)


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback HTML, offline and wrapping (module docstring)."""

    def from_notebook_node(self, nb, resources=None, **kw):
        page, resources = super().from_notebook_node(nb, resources, **kw)
        page = ungraded_note(offline(page), ungraded(resources))
        return page, resources

