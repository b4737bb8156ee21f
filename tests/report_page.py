"""Reading the HTML run report the way a person sees it: its tiles, charts and tables.

Works on the page crm360 writes and on the DOM a browser dumps (`chromium --dump-dom`); stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Chart:
    """One `<figure data-chart>`: whether it holds an SVG, its caption, the SVG's text (axis labels,
    value labels, legend) and the aria-labels of its graphics by kind ("bar", "point", "text mark",
    "axis", "legend"): ("bar", "members: 120; segment: champions")."""

    caption: str = ""
    svg: bool = False
    texts: list[str] = field(default_factory=list)
    aria: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Page:
    title: str = ""
    sections: dict[str, str] = field(default_factory=dict)  # data-section -> its text
    tiles: dict[str, str] = field(default_factory=dict)  # data-tile -> the value shown
    charts: dict[str, Chart] = field(default_factory=dict)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # data-table -> body rows
    resources: list[str] = field(default_factory=list)  # anything the page would load (src, link href, @import)
    scripts: int = 0

    def table(self, key: str, column: int = 0) -> dict[str, list[str]]:
        """A table's rows by the text of one column."""
        return {row[column]: row for row in self.tables[key]}


def number(text: str) -> int:
    """A number as the page shows it ("1,234", "+12")."""
    return int(text.replace(",", "").replace("+", "").replace("−", "-"))


class _Reader(HTMLParser):
    VOID = {"meta", "link", "br", "img", "input", "hr", "col", "source", "path", "rect", "line", "circle"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.section: str | None = None
        self.section_depth = 0
        self.chart: Chart | None = None
        self.chart_depth = 0
        self.table: list[list[str]] | None = None
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.tile: str | None = None
        self.tile_value: list[str] | None = None
        self.text_buffer: list[str] | None = None
        self.in_caption = False
        self.in_title = False
        self.in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.page.scripts += 1
        if tag in ("img", "script", "iframe", "embed", "source", "image") and (a.get("src") or a.get("href")):
            self.page.resources.append(a.get("src") or a.get("href") or "")
        if tag == "link" and a.get("href"):
            self.page.resources.append(a["href"])
        if tag == "style":
            self.in_style = True
        if tag == "title":
            self.in_title = True
        if "data-section" in a:
            self.section, self.section_depth = a["data-section"], len(self.stack)
            self.page.sections[self.section] = ""
        if "data-chart" in a:
            self.chart, self.chart_depth = Chart(), len(self.stack)
            self.page.charts[a["data-chart"]] = self.chart
        if "data-tile" in a:
            self.tile = a["data-tile"]
        if self.tile is not None and a.get("class") == "value":
            self.tile_value = []
        if self.chart is not None:
            if tag == "figcaption":
                self.in_caption = True
            if tag == "svg":
                self.chart.svg = True
            if a.get("aria-label") and a.get("role") == "graphics-symbol":
                self.chart.aria.append((a.get("aria-roledescription", ""), a["aria-label"]))
            if tag == "text":
                self.text_buffer = []
        if "data-table" in a:
            self.table = self.page.tables.setdefault(a["data-table"], [])
        if self.table is not None:
            if tag == "tr":
                self.row = []
            if tag == "td":
                self.cell = []
        if tag not in self.VOID:
            self.stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self.stack:
            open_tag, a = self.stack.pop()
            self._close(open_tag, a)
            if open_tag == tag:
                break

    def _close(self, tag: str, a: dict[str, str]) -> None:
        if tag == "style":
            self.in_style = False
        if tag == "title":
            self.in_title = False
        if tag == "text" and self.chart is not None and self.text_buffer is not None:
            self.chart.texts.append("".join(self.text_buffer).strip())
            self.text_buffer = None
        if tag == "figcaption":
            self.in_caption = False
        if tag == "td" and self.row is not None and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        if tag == "tr" and self.table is not None and self.row is not None:
            if self.row:
                self.table.append(self.row)
            self.row = None
        if tag == "table":
            self.table = None
        if a.get("class") == "value" and self.tile is not None and self.tile_value is not None:
            self.page.tiles[self.tile] = "".join(self.tile_value).strip()
            self.tile_value = None
        if "data-tile" in a:
            self.tile = None
        if "data-chart" in a:
            self.chart = None
        if "data-section" in a:
            self.section = None

    def handle_data(self, data: str) -> None:
        if self.in_style:
            if "@import" in data or "url(" in data:
                self.page.resources.append(data)
            return
        if self.in_title:
            self.page.title += data
        if self.section is not None:
            self.page.sections[self.section] += data
        if self.chart is not None:
            if self.in_caption:
                self.chart.caption += data
            if self.text_buffer is not None:
                self.text_buffer.append(data)
        if self.cell is not None:
            self.cell.append(data)
        if self.tile_value is not None:
            self.tile_value.append(data)


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page


def marks(chart: Chart, kinds: tuple[str, ...] = ("bar", "point")) -> list[dict[str, str]]:
    """The fields of each bar or point of a chart, from its aria-label ("members: 120; segment: champions")."""
    out = []
    for kind, label in chart.aria:
        if kind not in kinds:
            continue
        fields = {}
        for part in label.split("; "):
            key, _, value = part.rpartition(": ")
            fields[key] = value
        out.append(fields)
    return out
