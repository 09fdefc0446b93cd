"""The one HTML skeleton every report uses: a page, sections, tables and inlined figures.

A report is a single file that opens without a network: the style sheet is inline and
every figure is a base64 PNG in an ``<img>``. Every value put on a page is escaped.
Numbers a tool may want to check carry their exact value in a ``data-value`` attribute
beside the formatted text (``<td data-metric="sharpe" data-value="0.8123...">0.812</td>``),
so a test can compare the page with ``metrics.json`` without parsing formatted text.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Section",
    "escape",
    "facts",
    "figure",
    "figure_png",
    "page",
    "paragraph",
    "png_image",
    "table",
]

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
background:#fff}
header{padding:18px 24px 8px;border-bottom:1px solid #d0d7de}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#57606a}
nav{padding:6px 24px;border-bottom:1px solid #eaeef2;font-size:13px}
nav a{margin-right:14px;color:#0969da;text-decoration:none}
main{padding:8px 24px 24px;max-width:1200px}
section{margin:18px 0 26px}h2{font-size:18px;border-bottom:1px solid #eaeef2;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
td,th{padding:3px 9px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.n,th.n{text-align:right;white-space:nowrap}
table.facts th{background:none;white-space:nowrap}
#folds td,#trade-list td,#runs td{white-space:nowrap}
.wide{overflow-x:auto;max-width:100%}
figure{margin:10px 0}figure img{max-width:100%;height:auto;display:block}
figcaption{color:#57606a;font-size:13px;margin-top:2px}
.note{color:#57606a;font-size:13px}.good{color:#1a7f37}.bad{color:#cf222e}
.verdict{font-size:20px;font-weight:600}
footer{padding:10px 24px;color:#57606a;font-size:12px;border-top:1px solid #eaeef2}
"""


@dataclass(frozen=True)
class Section:
    """One titled part of a page; ``body`` is HTML already escaped by the helpers here."""

    id: str
    title: str
    body: str


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def page(
    title: str,
    sections: Iterable[Section],
    *,
    subtitle: str = "",
    footer: str = "",
    kind: str = "report",
) -> str:
    """The whole document: header, a table of contents, the sections, a footer."""
    sections = list(sections)
    nav = "".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{escape(s.id)}"><h2>{escape(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    generated = pd.Timestamp.now(tz="UTC").floor("s").isoformat()
    foot = escape(footer) + " " if footer else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="workbench-report" content="{escape(kind)}">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>"
        f"{f'<p>{escape(subtitle)}</p>' if subtitle else ''}</header>"
        f"<nav>{nav}</nav><main>{body}</main>"
        f"<footer>{foot}generated {generated} by workbench</footer></body></html>\n"
    )


def paragraph(text: str, *, cls: str = "") -> str:
    return f"<p{f' class={chr(34)}{escape(cls)}{chr(34)}' if cls else ''}>{escape(text)}</p>"


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (an object-oriented Figure: nothing registered in pyplot)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def png_image(png: bytes, alt: str, *, caption: str = "", name: str = "") -> str:
    """An inlined PNG as a ``<figure>`` (``data-figure`` names it for tests and links)."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure data-figure="{escape(name or alt)}"><img alt="{escape(alt)}" '
        f'src="data:image/png;base64,{data}">{cap}</figure>'
    )


def figure(fig: Figure, alt: str, *, caption: str = "", name: str = "") -> str:
    return png_image(figure_png(fig), alt, caption=caption, name=name)


def facts(rows: Mapping[str, Any]) -> str:
    """A two-column table of labels and values."""
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(_plain_text(v))}</td></tr>" for k, v in rows.items()
    )
    return f'<table class="facts">{body}</table>'


def table(
    frame: pd.DataFrame,
    *,
    index: bool = False,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    links: Mapping[str, Callable[[Any], str | None]] | None = None,
    table_id: str = "",
    max_rows: int | None = None,
) -> str:
    """An escaped HTML table; numbers right-aligned with their exact value in ``data-value``.

    ``formats`` maps a column to a formatter; ``links`` maps a column to a function
    giving the (relative) href of a cell, or None. More rows than ``max_rows`` are cut
    with a note saying how many are left out.
    """
    shown = frame.reset_index() if index else frame
    formats = dict(formats or {})
    links = dict(links or {})
    total = len(shown)
    if max_rows is not None and total > max_rows:
        shown = shown.head(max_rows)
    head = "".join(
        f'<th class="{"n" if _numeric(shown[c]) else ""}">{escape(c)}</th>' for c in shown.columns
    )
    rows = []
    for record in shown.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(shown.columns, record, strict=True):
            text = formats[column](value) if column in formats else _cell_text(value)
            href = links[column](value) if column in links else None
            inner = f'<a href="{escape(href)}">{escape(text)}</a>' if href else escape(text)
            if _is_number(value):
                cells.append(
                    f'<td class="n" data-column="{escape(column)}" '
                    f'data-value="{_data_value(value)}">{inner}</td>'
                )
            else:
                cells.append(f'<td data-column="{escape(column)}">{inner}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    note = ""
    if max_rows is not None and total > max_rows:
        note = paragraph(f"first {max_rows} of {total} rows shown", cls="note")
    return (
        f'<div class="wide"><table{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or getattr(getattr(value, "dtype", None), "kind", "") in (
        "i", "u", "f"
    )  # fmt: skip


def _data_value(value: Any) -> str:
    v = float(value)
    return repr(v) if math.isfinite(v) else ("" if math.isnan(v) else repr(v))


def _cell_text(value: Any) -> str:
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        if value.hour == value.minute == value.second == 0 and value.nanosecond == 0:
            return f"{value:%Y-%m-%d}"
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def _plain_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_plain_text(v)}" for k, v in value.items()) or "none"
    return _cell_text(value)
