"""Base SQL of metrics as Jinja2 templates: one file per distinct base query under warehouse/metrics/sql/.

A template is SQL with `{{ ... }}` calls to the fragments every base query shares (the latest versions of
records, weeks since go-live, the staff in scope; definitions/common.py registers them with
`template_globals`), `{% if %}` on the metric's own variables (`template("skills_scores.sql",
phase="baseline")`), and `{% extends %}` for a shape several metrics fill in (a person x week series,
comments). Files whose name starts with `_` are such shapes, read only through `extends`.

Undefined names are errors, not empty text, so a misspelt variable fails when the metric is registered.
Bind parameters (`:name`) are left alone: SQLAlchemy binds them when the SQL runs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

SQL_DIR = Path(__file__).resolve().parent / "sql"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(SQL_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # SQL, not HTML
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def template_globals(**values: Any) -> None:
    """Make SQL fragments (functions or constants) callable from every template by these names."""
    _ENV.globals.update(values)
    render.cache_clear()


@functools.cache
def render(template: str | None, source: str | None = None,
           variables: tuple[tuple[str, Any], ...] = ()) -> str:
    """The SQL of `template` (a file under SQL_DIR), or of the template text `source`, with `variables`.

    Always ends with a newline: the engine wraps base SQL as `from (<base>) b`, and a trailing `--` comment
    must not swallow the closing parenthesis."""
    compiled = _ENV.from_string(source) if source is not None else _ENV.get_template(template or "")
    text = compiled.render(dict(variables))
    return text if text.endswith("\n") else text + "\n"


def template_names() -> list[str]:
    """Every base query template (shapes excluded)."""
    return sorted(p.name for p in SQL_DIR.glob("*.sql") if not p.name.startswith("_"))
