"""Read a report back: what it shows and what it would fetch (for tests and tools).

The page is parsed with the standard library's :class:`html.parser.HTMLParser`:
figures by their ``data-figure`` name (PNG bytes), metrics and statistics by their
``data-metric`` / ``data-stat`` keys (exact values), tables by id (rows of cell texts
and ``data-value`` numbers), links, and every reference to another resource (which a
self-contained report has none of, apart from its own links between reports).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["ReportContents", "read_report"]


@dataclass
class ReportContents:
    kind: str = ""
    title: str = ""
    sections: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    stats: dict[str, float | None] = field(default_factory=dict)
    tables: dict[str, list[list[tuple[str, float | None]]]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.out = ReportContents()
        self._figure = ""
        self._table = ""
        self._row: list[tuple[str, float | None]] | None = None
        self._cell: list[str] | None = None
        self._cell_value: float | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta" and a.get("name") == "workbench-report":
            self.out.kind = a.get("content", "")
        elif tag == "title":
            self._in_title = True
        elif tag == "section":
            self.out.sections.append(a.get("id", ""))
        elif tag == "figure":
            self._figure = a.get("data-figure", "")
        elif tag == "img":
            src = a.get("src", "")
            if src.startswith("data:image/png;base64,"):
                self.out.figures[self._figure] = base64.b64decode(src.split(",", 1)[1])
            else:
                self.out.external.append(src)
        elif tag in ("script", "link", "iframe", "audio", "video", "source"):
            ref = a.get("src") or a.get("href")
            if ref:
                self.out.external.append(ref)
        elif tag == "a" and a.get("href"):
            self.out.links.append(a["href"])
        elif tag == "tr" and "data-metric" in a:
            self.out.metrics[a["data-metric"]] = _number(a.get("data-value", ""))
        elif tag == "p" and "data-stat" in a:
            self.out.stats[a["data-stat"]] = _number(a.get("data-value", ""))
        elif tag == "table" and a.get("id"):
            self._table = a["id"]
            self.out.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
            self._cell_value = _number(a["data-value"]) if "data-value" in a else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "figure":
            self._figure = ""
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(("".join(self._cell).strip(), self._cell_value))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.out.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = ""

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.out.title += data
        if self._cell is not None:
            self._cell.append(data)


def read_report(path: str | Path) -> ReportContents:
    parser = _Parser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    parser.close()
    return parser.out


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
