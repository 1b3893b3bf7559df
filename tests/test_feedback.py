"""The feedback page's offline MathJax, wrapping and ungraded note, without grading (~1 s).

``tests/test_week.py`` opens real feedback pages in Chromium; here the page is the
nbconvert rendering of nbgrader's own feedback template, as ``generate_feedback`` makes it.
"""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from traitlets.config import Config

from vae_anomaly.course import feedback


@pytest.fixture(scope="module")
def cdn_page() -> str:
    """nbgrader's feedback template, as nbgrader configures it, on a one-cell notebook."""
    from nbgrader.converters import GenerateFeedback

    config = GenerateFeedback().config  # template_name 'feedback' and its folders
    exporter = HTMLExporter(config=Config(HTMLExporter=config.HTMLExporter))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("$x^2$")])
    resources = {"nbgrader": {"notebook": "n", "score": 1.0, "max_score": 2.0,
                              "late_penalty": 0}}
    page, _ = exporter.from_notebook_node(nb, resources=resources)
    return page


def test_nbgrader_feedback_template_loads_mathjax_from_a_cdn(cdn_page):
    """What FeedbackExporter replaces (this fails if nbgrader's template changes)."""
    assert len(feedback.CDN.findall(cdn_page)) == 1
    assert re.search(r'<script src="https://[^"]*mathjax', cdn_page)


def test_offline_page_inlines_mathjax_and_wraps(cdn_page):
    page = feedback.offline(cdn_page)
    assert not re.search(r'<(?:script|link)\b[^>]*\b(?:src|href)="https?://', page)
    assert "window.MathJax = {" in page and "MathJax_Main-Regular.woff" in page
    assert page.count("<script>") >= 2 and "white-space: pre-wrap" in page
    assert "$x^2$" in page  # the math is left for MathJax to typeset


def test_a_page_without_the_cdn_block_is_refused():
    with pytest.raises(ValueError, match="feedback template change"):
        feedback.offline("<html><head></head><body></body></html>")


def test_missing_mathjax_says_how_to_get_it(tmp_path):
    with pytest.raises(feedback.MathJaxMissing, match="make mathjax"):
        feedback.mathjax_html(tmp_path)
    shutil.copy(feedback.MATHJAX / feedback.SCRIPT, tmp_path)
    with pytest.raises(feedback.MathJaxMissing):  # the fonts are missing
        feedback.mathjax_html(tmp_path)


@pytest.mark.parametrize("count, text", [(0, None), (1, "1 cell graded by hand has no grade"),
                                         (3, "3 cells graded by hand have no grade")])
def test_ungraded_note(count, text):
    page = feedback.ungraded_note("<html><body class='x'><p>score</p></body></html>", count)
    if text is None:
        assert feedback.NOTE_ID not in page
    else:
        assert text in page and page.index(feedback.NOTE_ID) < page.index("<p>score")
