"""The smallest text of a matplotlib figure, recorded in the PNG that shows it.

The site scales a figure to the width of the text, so its text shrinks with the screen. Where
the figure is drawn, the size of its smallest drawn text is known: once :func:`install` has
run, every PNG that matplotlib writes (``savefig``, and the inline figures of a Jupyter kernel,
which IPython draws with ``canvas.print_figure``) carries that size, in the PNG's own pixels,
as a ``tEXt`` chunk named :data:`KEY` (``none`` for a figure without text). The book's kernels
install it (``book/_ipython/profile_default/startup/``), and so does the site's benchmark figure.

From it the site gives each figure the width at which that text is :data:`MIN_TEXT_PX` CSS
pixels tall, scrolling sideways in its own box on a narrower screen (``site.py``), and the
browser test (``tests/test_book.py``) checks the size each figure's text is shown at.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from pathlib import Path

KEY = "Smallest text px"  # the PNG tEXt keyword
MIN_TEXT_PX = 9  # the smallest figure text a page may show, in CSS pixels (at any width)
# The book kernels' matplotlib default (a figure's own settings win): 12 pt text is the size of
# the site's text at a figure's own size, and a one-panel figure of the usual 6-7 inches keeps
# it above MIN_TEXT_PX at a phone's width without scrolling.
SITE_RC = {"font.size": 12}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_drawn: list[list[float]] = []  # the font sizes (px) drawn by each print_figure in progress
_installed = False


def install() -> None:
    """Record the smallest text of every PNG matplotlib writes from now on (idempotent)."""
    global _installed
    if _installed:
        return
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.text import Text

    draw, print_figure = Text.draw, FigureCanvasBase.print_figure

    def recording_draw(self, renderer, *args, **kwargs):
        if _drawn and self.get_visible() and self.get_text().strip():
            _drawn[-1].append(renderer.points_to_pixels(self.get_fontsize()))
        return draw(self, renderer, *args, **kwargs)

    def recording_print_figure(self, filename, dpi=None, facecolor=None, edgecolor=None,
                               orientation="portrait", format=None, **kwargs):
        format, filename = png_target(self, filename, format)
        if format != "png":
            return print_figure(self, filename, dpi, facecolor, edgecolor, orientation, format,
                                **kwargs)
        buffer = io.BytesIO()
        _drawn.append([])
        try:
            result = print_figure(self, buffer, dpi, facecolor, edgecolor, orientation, "png",
                                  **kwargs)
        finally:
            sizes = _drawn.pop()
        png = with_text_chunk(buffer.getvalue(), KEY, f"{min(sizes):.2f}" if sizes else "none")
        if isinstance(filename, str):
            Path(filename).write_bytes(png)
        else:
            filename.write(png)
        return result

    Text.draw = recording_draw
    FigureCanvasBase.print_figure = recording_print_figure
    _installed = True


def png_target(canvas, filename, format):
    """The format print_figure will write (lower case) and the file name it writes to, found
    as matplotlib finds them: the ``format`` given, else the file's suffix, else the default."""
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    if format is None and isinstance(filename, str):
        format = os.path.splitext(filename)[1][1:] or None
        if format is None:
            format = canvas.get_default_filetype()
            filename = filename.rstrip(".") + "." + format
    format = format or canvas.get_default_filetype()
    return format.lower(), filename


def with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """``png`` with a tEXt chunk ``key: value`` after its header (IHDR), replacing one of the
    same key."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        end = pos + 12 + length
        if not (kind == b"tEXt" and png[pos + 8:end - 4].split(b"\0", 1)[0] == key.encode()):
            chunks.append(png[pos:end])
        pos = end
    data = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data \
        + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return PNG_SIGNATURE + chunks[0] + chunk + b"".join(chunks[1:])


def _recorded(path: Path) -> tuple[int, str] | None:
    """(the PNG's width, the smallest text it records) or None (not a PNG, nothing recorded)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            value = image.text.get(KEY) if image.format == "PNG" else None
            return None if value is None else (image.width, value)
    except (OSError, ValueError):
        return None


def smallest_text_px(path: Path) -> float | None:
    """The smallest text recorded in a PNG, in its pixels; ``math.inf`` for a figure without
    text; None if nothing is recorded (not a PNG, or drawn without :func:`install`)."""
    recorded = _recorded(path)
    if recorded is None:
        return None
    return math.inf if recorded[1] == "none" else float(recorded[1])


def readable_width(path: Path) -> tuple[int, int] | None:
    """(the PNG's width, the CSS width at which its smallest text is MIN_TEXT_PX tall) of a
    figure whose text is recorded; None otherwise (or for a figure without text)."""
    recorded = _recorded(path)
    if recorded is None or recorded[1] == "none":
        return None
    width, px = recorded[0], float(recorded[1])
    return width, math.ceil(width * MIN_TEXT_PX / px)
