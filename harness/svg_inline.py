"""Figure files as markup that can sit inside one HTML page.

matplotlib writes a complete SVG document per figure: an XML prolog, a
doctype, an RDF metadata block and ids for every group, glyph, marker and
clip path. The ids repeat across figures: groups are counted per figure
(``axes_1``, ``text_3``) and markers and clip paths are hashed from their
content with the fixed ``svg.hashsalt`` (the harness fixes it so figures are
byte-identical on regeneration), e.g. ``m<hash>`` and ``p<hash>``. In one
HTML page a reference ``url(#p...)`` resolves to the first element with that
id, in whichever figure, and fails when that figure is not rendered; so
every id and every reference to one is prefixed per figure.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

__all__ = ["figure_markup", "inline_svg"]

_BEFORE_SVG = re.compile(r"\A.*?(?=<svg[\s>])", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
# Where an id is defined or referenced: id="X", url(#X), href="#X" / xlink:href="#X". The prefix goes
# right after each match.
_ID_SITES = re.compile(r'(\bid="|url\(#|href="#)')


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG document as an ``<svg>`` element for an HTML page.

    The XML prolog, the doctype and the metadata block are dropped, and every
    id (and every ``url(#...)`` / ``href="#..."`` reference) gets ``prefix``.

    >>> inline_svg('<?xml version="1.0"?>\\n<!DOCTYPE svg>\\n<svg><defs><path id="m1"/></defs>'
    ...            '<use xlink:href="#m1"/><g clip-path="url(#p2)"/></svg>', "f3-")
    '<svg><defs><path id="f3-m1"/></defs><use xlink:href="#f3-m1"/><g clip-path="url(#f3-p2)"/></svg>'
    """
    body = _METADATA.sub("", _BEFORE_SVG.sub("", svg, count=1), count=1)
    return _ID_SITES.sub(lambda m: m.group(1) + prefix, body)


def figure_markup(stem: Path, prefix: str, alt: str) -> str | None:
    """Markup of the figure saved as ``stem.svg`` (inline SVG) or else ``stem.png`` (a data URI).

    Parameters
    ----------
    stem : Path
        Figure file without its suffix.
    prefix : str
        Prefix of the SVG's ids, unique per figure in the page.
    alt : str
        Text alternative of a PNG (it must already be HTML-escaped).

    Returns
    -------
    str or None
        None when neither file exists (the figure was not drawn).
    """
    svg, png = stem.with_name(stem.name + ".svg"), stem.with_name(stem.name + ".png")
    if svg.is_file():
        return inline_svg(svg.read_text(encoding="utf-8"), prefix)
    if png.is_file():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        return f'<img alt="{alt}" src="data:image/png;base64,{data}">'
    return None
