"""HTML building blocks shared by the report's sections: escaping, tables, figures, the page head.

Private to `basketcast.report` (and the tuning page); every text from data or
callers goes through `_e` (`html.escape`).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

import polars as pl


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _muted(text: str) -> str:
    return f'<p class="muted">{_e(text)}</p>'


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}"></figure>'


def _kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _cell(value: object, fmt: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if fmt is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return fmt.format(value)
    return str(value)


def _row(
    row: Mapping[str, object], columns: Sequence[str], formats: dict[str, str], *, cls: str = ""
) -> str:
    cells = "".join(
        f"<td{' class=num' if c in formats else ''}>{_e(_cell(row.get(c), formats.get(c)))}</td>"
        for c in columns
    )
    return f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>"


def _table_html(columns: Sequence[str], body: Sequence[str], *, numeric: set[str]) -> str:
    head = "".join(f"<th{' class=num' if c in numeric else ''}>{_e(c)}</th>" for c in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _table(frame: pl.DataFrame, formats: dict[str, str]) -> str:
    """A DataFrame as a table; numeric columns right-aligned and formatted."""
    numeric = {c for c, dtype in frame.schema.items() if dtype.is_numeric()}
    fmts = {c: formats.get(c, "{}") for c in numeric}
    body = [_row(row, frame.columns, fmts) for row in frame.iter_rows(named=True)]
    return _table_html(frame.columns, body, numeric=numeric)


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#fff;margin:0}
main{max-width:1000px;margin:0 auto;padding:1.5rem 2rem 4rem}
h1{font-size:1.7rem;margin:.5rem 0 .2rem}
h2{font-size:1.35rem;border-bottom:2px solid #3b6ea5;padding-bottom:.2rem;margin-top:2.5rem}
h3{font-size:1.08rem;margin:1.6rem 0 .4rem}
nav{margin:1rem 0;padding:.5rem .8rem;background:#f3f5f8;border-radius:6px}
a{color:#3b6ea5}
.muted{color:#5a6270;font-size:.92rem;margin:.3rem 0}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e1e4e8;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #c8ccd1;background:#f6f8fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{font-weight:600;color:#444;padding-right:1.5rem}
tr.total td{font-weight:600;background:#fafbfc}
tr.best td{font-weight:600;background:#eef6ee}
figure{margin:.5rem 0 1rem}
img{max-width:100%;height:auto;display:block}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:.8rem;
overflow-x:auto;font-size:.82rem}
"""


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
    )
