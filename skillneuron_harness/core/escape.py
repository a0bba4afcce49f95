"""Escaping for every format we write: HTML, Markdown and CSV, one small pure function per context.

Everything that comes from a results file, a spec, a neuron file or a path is untrusted: a model
name, a label, a task name or a prompt hash can hold markup, a script or a spreadsheet formula. The
renderers (``leaderboard/render.py``, ``leaderboard/render_html.py``, ``report/render.py`` and the
suppression curve's tables) pass every such value through one of these before it joins the text:

* HTML: :func:`html_text` for element text and quoted attribute values; :func:`script_json` for
  data inside a ``<script>`` element; :func:`script_element` for the element itself.
* Markdown: :func:`md_text` for inline text (table cells, headings, list items, image captions),
  :func:`md_code` for a code span, :func:`md_link_target` for a relative link or image target.
* CSV: :func:`csv_cell`, :func:`csv_row` and :func:`csv_line` apply the OWASP rule against formula
  injection.

Each function returns text that displays as the value itself (a Markdown viewer or a browser shows
the original characters); only the file's bytes differ. No imports from the package: this is the
bottom of the rendering layer.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

# ------------------------------------------------------------------------------------------------ HTML


def html_text(value: Any) -> str:
    """``value`` as HTML element text or a quoted attribute value: ``& < > " '`` become entities."""
    return html.escape(str(value), quote=True)


# Inside <script>, "</script" ends the element and "<!--" switches the parser into the escaped
# states; U+2028/2029 end a line in older JavaScript engines. JSON may spell each as \uXXXX (these
# characters occur only inside strings, where the escape means the same character).
_SCRIPT_JSON = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_BREAKERS = re.compile(r"</script|<script|<!--", re.IGNORECASE)


def script_json(value: Any) -> str:
    """``value`` as JSON that can sit inside a ``<script>`` element: no character of it can close the element."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_JSON[m.group()], text)


def script_element(code: str) -> str:
    """``<script>code</script>``; refuses code holding ``</script``, ``<script`` or ``<!--``.

    Those would end the element early or make the parser skip the real end tag, so that the
    rest of the page became script; data belongs in the code only through :func:`script_json`.
    """
    found = _SCRIPT_BREAKERS.search(code)
    if found:
        raise ValueError(f"script code holds {found.group()!r} at {found.start()}, which would end or "
                         "break the <script> element; embed data with escape.script_json.")
    return f"<script>{code}</script>"


# -------------------------------------------------------------------------------------------- Markdown

# CommonMark's line endings (\n, \r\n, \r) and the other vertical spaces: a line break inside a table
# cell ends the row, inside a list item it can start a heading or a new block.
_MD_NEWLINES = re.compile("\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
# `|` splits a table cell; `\` before punctuation (or at the end, before our own text) escapes it, elsewhere
# it is a plain backslash and stays as typed ("source \ target"); ` opens a code span; [ ] open links and
# images; < opens raw HTML and autolinks (entities make it inert text); & keeps a literal "&lt;" as typed;
# * ~ and a _ at a word's edge emphasise or strike (one inside a word, as in adv_sst2, never does).
_MD_INLINE = {"\\": "\\\\", "|": "\\|", "`": "\\`", "[": "\\[", "]": "\\]", "*": "\\*", "~": "\\~", "_": "\\_",
              "<": "&lt;", ">": "&gt;", "&": "&amp;"}
_MD_INLINE_RE = re.compile(r"\\(?=[!-/:-@\[-`{-~]|\Z)|[|`\[\]*~<>&]|(?<![^\W_])_|_(?![^\W_])")
# What turns the start of a line into a block: heading, list item, setext underline, thematic break, fence.
_MD_BLOCK_START = "#+-*=_~"


def md_text(value: Any, *, line_start: bool = False) -> str:
    """``value`` as inline Markdown text (a table cell, a heading, a list item): shown as is, never markup.

    ``line_start``: the text begins a line, so that a leading ``#``, ``-``, ``1.`` (...) must not make a
    block of it; leading spaces are dropped there (they would make an indented code block).
    """
    text = _MD_NEWLINES.sub(" ", str(value))
    text = _MD_INLINE_RE.sub(lambda m: _MD_INLINE[m.group()], text)
    if line_start:
        text = text.lstrip(" \t")
        number = re.match(r"\d{1,9}(?=[.)])", text)  # an ordered-list marker: escape its . or )
        if number:
            text = f"{text[:number.end()]}\\{text[number.end():]}"
        elif text[:1] and text[0] in _MD_BLOCK_START:
            text = "\\" + text
    return text


def md_code(value: Any, *, in_table: bool = False) -> str:
    """``value`` as a Markdown code span (literal: no markup or HTML inside it); ``""`` for an empty value.

    The fence is one backtick longer than the longest run inside; ``in_table``: ``|`` is written ``\\|``,
    which GitHub-flavoured tables read as a pipe inside the cell (also inside code spans).
    """
    text = _MD_NEWLINES.sub(" ", str(value))
    if in_table:
        text = text.replace("|", "\\|")
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    # a leading or trailing backtick would join the fence; one space each side is stripped when both are there
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_link_target(path: Any) -> str:
    """A relative link or image target (``figures/x.png``), percent-encoded.

    No character of it can end the link, and ``:`` is ``%3A``, so that no scheme (``javascript:``) can start it.
    """
    return quote(str(path), safe="/")


# ------------------------------------------------------------------------------------------------- CSV

# OWASP, CSV injection: a cell that starts with one of these is read as a formula by spreadsheets.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CSV_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """One CSV field, safe to open in a spreadsheet.

    Numbers (and numeric text such as ``-0.25``) stay as they are; text that starts like a formula gets
    a leading ``'``, which spreadsheets show as text. The csv module does the quoting.
    """
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(CSV_FORMULA_START) and not _CSV_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_row(values: Iterable[Any]) -> list[Any]:
    """:func:`csv_cell` of each value: a row for a ``csv.writer`` whose line ends hold ``\r`` (the default)."""
    return [csv_cell(v) for v in values]


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record of :func:`csv_cell` values, ending in ``\n``.

    A writer whose line terminator is ``"\n"`` leaves a field holding a lone ``\r`` unquoted (Python 3.11),
    and readers split the record there; written with ``"\r\n"``, every field with either is quoted.
    """
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(csv_row(values))
    return buf.getvalue()[:-2] + "\n"
