"""Small HTML builders. Arguments named `*_html` are markup already escaped by the caller; every other
string is escaped here."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from reporting.format import esc

SEGMENT_NAMES = {"trust": "whole trust", "org_level_1": "division", "org_level_2": "directorate",
                 "org_unit": "unit", "staff_group": "staff group", "system": "system", "go_live_wave": "wave"}


def segment_text(segment_type: str | None, segment_value: str | None) -> str:
    """`directorate RXX-MED-AEM`, or `whole trust`."""
    if segment_type in (None, "trust"):
        return "whole trust"
    name = SEGMENT_NAMES.get(segment_type, segment_type)
    value = str(segment_value)
    return value if value.lower().startswith(name.lower()) else f"{name} {value}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Collection[int] | None = None,
          css: str = "", caption_html: str = "") -> str:
    """A table of escaped headers and pre-rendered cells, the first column a row header; the `numeric`
    columns (default: all but the first) are right-aligned."""
    right = set(range(1, len(headers))) if numeric is None else set(numeric)
    head = "".join(f'<th scope="col"{_num(i, right)}>{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = [f'<th scope="row">{row[0]}</th>'] + [f"<td{_num(i, right)}>{c}</td>"
                                                      for i, c in enumerate(row[1:], start=1)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{caption_html}</caption>" if caption_html else ""
    return (f'<table class="{esc(css)}">{caption}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _num(index: int, right: set[int]) -> str:
    return ' class="num"' if index in right else ""


def figure(chart_html: str, name: str, caption_html: str = "", *, css: str = "") -> str:
    caption = f"<figcaption>{caption_html}</figcaption>" if caption_html else ""
    return f'<figure class="chart {esc(css)}" data-chart="{esc(name)}">{caption}{chart_html}</figure>'


def section(anchor: str, title: str, blocks: Sequence[str] | str, intro_html: str = "") -> str:
    """A report section; its heading, intro and first block stay together on a printed page."""
    parts = [blocks] if isinstance(blocks, str) else list(blocks)
    intro = f'<p class="intro">{intro_html}</p>' if intro_html else ""
    first, rest = (parts[0], parts[1:]) if parts else ("", [])
    return (f'<section id="{esc(anchor)}"><div class="keep"><h2>{esc(title)}</h2>{intro}{first}</div>'
            f'{"".join(rest)}</section>')


def empty(message: str) -> str:
    return f'<p class="empty">{esc(message)}</p>'


def small(text_html: str) -> str:
    return f'<span class="small">{text_html}</span>'
