"""``skillneuron_harness.core.escape`` against independent readers of each format.

HTML: the standard library's ``html.parser`` and ``html.unescape`` read the escaped text back; the
value must come back whole, with no tag of its own. Markdown: markdown-it-py (a CommonMark renderer,
raw HTML enabled as GitHub has it, with GFM tables) renders it, and ``html.parser`` reads that back.
CSV: the ``csv`` module reads the rows back.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from skillneuron_harness.core.escape import (
    csv_line,
    csv_row,
    html_text,
    md_code,
    md_link_target,
    md_text,
    script_element,
    script_json,
)

PAYLOADS = [
    "<script>`", "`//</script>", "<script><!--", "</script>", "<!--", "<SCRIPT>window.__pwned=1</SCRIPT>",
    '" onmouseover=alert(1) x="', "' autofocus onfocus='window.__pwned=1", "<img src=x onerror=alert(1)>",
    '=HYPERLINK("http://evil.example/?x","click")', "a | b", "a \\| b", "trailing \\", "line\nbreak\r\nand\rmore",
    "[click](javascript:alert(1))", "![x](http://evil.example/t.png)", "<http://evil.example>", "``code``",
    "`", "&lt;script&gt;", "&amp;", "# heading", "- item", "1. item", "> quote", "\u2028\u2029", "javascript:alert(1)",
    "plain org/base-model", "", "  spaced  ", "*emph* _under_", "source \\ target", "C:\\runs\\x", "\\<b>\\*", "(x\\)",
]
NEWLINES = re.compile("\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")


class Reader(HTMLParser):
    """Every tag (with its attributes) and the text, as html.parser sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.scripts = [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self.tags.append(("/" + tag, {}))
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def read(text: str) -> Reader:
    reader = Reader()
    reader.feed(text)
    reader.close()
    return reader


# ------------------------------------------------------------------------------------------------ HTML
@pytest.mark.parametrize("value", PAYLOADS)
def test_html_text_reads_back_as_the_value_in_text_and_attributes(value):
    esc = html_text(value)
    assert unescape(esc) == value
    page = read(f'<td title="{esc}" data-v=\'{esc}\'>{esc}</td><p>after</p>')
    assert [t for t, _ in page.tags] == ["td", "/td", "p", "/p"]  # no tag of the value's own, nothing cut off
    assert page.tags[0][1] == {"title": value, "data-v": value}
    assert "".join(page.text) == value + "after"


@pytest.mark.parametrize("value", [PAYLOADS, {"k</script>": "<!--<script>", "n": [1, -2.5, None, True]},
                                   "\u2028x\u2029", "&amp;<>"])
def test_script_json_cannot_close_the_script(value):
    text = script_json(value)
    assert json.loads(text) == value
    assert not re.search("[<>&\u2028\u2029]", text)
    page = read(f"<script>const data={text};</script><p>after</p>")
    assert [t for t, _ in page.tags] == ["script", "/script", "p", "/p"]
    assert page.scripts == [f"const data={text};"]


@pytest.mark.parametrize("code", ["x='</script>'", "x='</SCRIPT '", "// <!-- hidden", "s='<script>'"])
def test_script_element_refuses_code_that_breaks_the_element(code):
    with pytest.raises(ValueError, match="script_json"):
        script_element(code)


def test_script_element_wraps_code():
    page = read(script_element("var a = 1 < 2 && 3 > 2;") + "<p>after</p>")
    assert page.scripts == ["var a = 1 < 2 && 3 > 2;"] and [t for t, _ in page.tags][-2:] == ["p", "/p"]


# -------------------------------------------------------------------------------------------- Markdown
def render_md(text: str) -> Reader:
    return read(md_html(text))


def squeeze(text: str) -> str:
    """Text as a browser shows it: runs of white space as one space, none at the ends."""
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("value", PAYLOADS)
def test_md_text_renders_as_the_value_with_no_markup(value):
    page = render_md(f"before {md_text(value)} after\n")
    assert [t for t, _ in page.tags] == ["p", "/p"]  # no link, image, code, emphasis or raw HTML
    assert squeeze("".join(page.text)) == squeeze(f"before {value} after")


@pytest.mark.parametrize("value", PAYLOADS)
def test_md_text_at_a_line_start_makes_no_block(value):
    page = render_md(f"{md_text(value, line_start=True)} after\n")
    assert [t for t, _ in page.tags] == ["p", "/p"]  # a paragraph: no heading, list, quote or code block
    assert squeeze("".join(page.text)) == squeeze(f"{value} after")


class Cells(HTMLParser):
    """The text of each table cell (th, td) of rendered HTML, in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        if tag in ("th", "td"):
            self.cells.append("")
            self._open = True

    def handle_endtag(self, tag):
        self._open = self._open and tag not in ("th", "td")

    def handle_data(self, data):
        if self._open:
            self.cells[-1] += data


def md_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is in the test extra")
    return markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text)


@pytest.mark.parametrize("value", PAYLOADS)
def test_md_cells_keep_the_table_shape(value):
    cell, code = md_text(value), md_code(value or "-", in_table=True)
    table = f"| a | b | c |\n|---|---|---|\n| {cell} | {code} | z |\n"
    # GFM's rule: a pipe not preceded by a backslash separates cells
    assert len(re.split(r"(?<!\\)\|", table.splitlines()[2])) == 5
    page = read(md_html(table))
    tags = [t for t, _ in page.tags if not t.startswith("/")]
    assert tags == ["table", "thead", "tr", "th", "th", "th", "tbody", "tr", "td", "td", "code", "td"]
    cells = Cells()
    cells.feed(md_html(table))
    assert [squeeze(c) for c in cells.cells] == ["a", "b", "c", squeeze(value), squeeze(value or "-"), "z"]


@pytest.mark.parametrize("value", [p for p in PAYLOADS if p])
def test_md_code_is_literal(value):
    page = render_md(f"x {md_code(value)} y\n")
    assert [t for t, _ in page.tags] == ["p", "code", "/code", "/p"]
    inner = NEWLINES.sub(" ", value)
    # CommonMark strips one space from each side of a code span that starts and ends with one
    code = page.text[1]
    assert code == inner or (inner.startswith(" ") and inner.endswith(" ") and code == inner[1:-1])


@pytest.mark.parametrize("path", ["transfer_tiny-model.png", "a b(c).png", "javascript:alert(1).png",
                                  "x)](http://evil.example).png", "ü.png"])
def test_md_link_target_stays_one_relative_link(path):
    target = md_link_target(path)
    assert unquote(target) == path and not re.search(r"[\s:()<>\[\]]", target)
    page = render_md(f"![fig](figures/{target})\n")
    (img,) = [a for t, a in page.tags if t == "img"]
    assert unquote(img["src"]) == f"figures/{path}"


# ------------------------------------------------------------------------------------------------- CSV
FORMULA = ("=", "+", "-", "@", "\t", "\r")
CSV_VALUES = [*PAYLOADS, "=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "-0.25", "+3", "1e-5", "-1e5", "0",
              0.4005102040816327, -0.05, -3, 7, 1e-300, True, None, "a,b", 'quote " inside', "-", "--", "ab=c"]


def neutral(value):
    """The OWASP rule, written out: text starting with a formula character gets a leading quote."""
    if value is None or isinstance(value, (int, float)):
        return value
    if value.startswith(FORMULA) and not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", value):
        return "'" + value
    return value


def test_csv_cells_read_back_neutralised_and_numbers_untouched():
    rows = [CSV_VALUES, list(reversed(CSV_VALUES))]
    text = "".join(csv_line(r) for r in rows)
    assert text.endswith("\n") and not text.endswith("\r\n")
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert len(back) == len(rows)  # no value (\r, \n, a quote, a comma) split or joined a record
    for row, values in zip(back, rows, strict=True):
        assert len(row) == len(values)
        for cell, value in zip(row, values, strict=True):
            want = neutral(value)
            assert cell == ("" if want is None else str(want)), value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert float(cell) == value  # a number stays a number, sign and all
            elif cell.startswith(FORMULA):
                float(cell)  # only numbers may start like a formula
    assert csv_row(["=1", -0.5, "-0.5"]) == ["'=1", -0.5, "-0.5"]


def test_csv_line_is_what_csv_writes_for_plain_rows():
    plain = ["rank", 1, "strong", 0.47, "", "true", "adv_sst2=1.0; sst2=1.0", "a,b", 'say "x"']
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(plain)
    assert csv_line(plain) == buf.getvalue()
