"""The warehouse guide (docs/warehouse.md), generated so it cannot drift from the warehouse it describes.

The data dictionary comes from a migrated warehouse's catalog: every `analytics` view and column with the
text of its `COMMENT ON` (warehouse/sql). The operators' tables come from the SQLAlchemy models. The example
queries are the SQL files in docs/examples, each headed by its question, who asks it and the columns it
returns; a test runs every one of them on demo data as `realise_analyst`.

Regenerate with `realise docs warehouse` (or `python -m warehouse.docs URL`) after changing a view, a
comment, a model or an example.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "docs" / "examples"
GUIDE_FILE = ROOT / "docs" / "warehouse.md"

# Views in reading order, by topic; a view not listed here still appears, under "Other views".
VIEW_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Feedback, tickets and training", "One row per record (latest version where a source edits records), "
     "coarsened: every combination of `period`, `period_start`, `org_unit`, `staff_group`, `system` and "
     "`go_live_wave` a view shows holds at least the minimum group size of people, and free text shows only in "
     "combinations of at least the comment minimum (see *Row-level data: what analysts and researchers read*).",
     ("form_responses", "form_response_items", "helpdesk_tickets", "training_records", "skills_assessments",
      "org_units")),
    ("Metrics", "Computed by `realise metrics refresh`. Small groups are suppressed: a suppressed cell has no "
     "value, numerator, denominator or n.",
     ("metric_definitions", "metric_latest", "metric_values", "metric_spc")),
    ("Benefits, alerts and actions", "The benefits register with its statuses, the alerts raised by the rules "
     "in `alerts.yaml`, and the actions taken on them.",
     ("benefits", "benefit_status", "alerts", "actions")),
    ("Data quality", "What ingest refused and why, and the Great Expectations results of every batch.",
     ("quarantine", "validation_results", "validation_expectations")),
)
HEADER_FIELDS = ("for", "columns")


class ExampleError(ValueError):
    """An example file lacks its question, audience or columns header."""


@dataclass(frozen=True)
class Example:
    """One example query: the question it answers, who asks it, the columns it returns, and the SQL."""

    name: str
    title: str
    audience: str
    columns: list[str]
    notes: str
    sql: str


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str


@dataclass(frozen=True)
class View:
    name: str
    doc: str
    columns: list[Column]


def parse_example(name: str, text: str) -> Example:
    """Header comment: first line the question, `-- For:` and `-- Columns:` lines, other lines notes."""
    lines = text.strip().splitlines()
    header: list[str] = []
    while lines and lines[0].startswith("--"):
        header.append(lines.pop(0)[2:].strip())
    fields: dict[str, str] = {}
    notes: list[str] = []
    for line in header[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in HEADER_FIELDS:
            fields[key.strip().lower()] = value.strip()
        else:
            notes.append(line)
    missing = ([] if header and header[0] else ["the question"]) + [f for f in HEADER_FIELDS if not fields.get(f)]
    if missing:
        raise ExampleError(f"{name}.sql: start with `-- <question>`, then `-- For: ...` and `-- Columns: ...` "
                           f"(missing: {', '.join(missing)})")
    sql = "\n".join(lines).strip()
    if not sql:
        raise ExampleError(f"{name}.sql has no SQL after its header")
    paragraphs = re.split(r"\n\s*\n", "\n".join(notes).strip())
    return Example(name=name, title=header[0], audience=fields["for"],
                   columns=[c.strip() for c in fields["columns"].split(",") if c.strip()],
                   notes="\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip()), sql=sql)


def load_examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    """Every docs/examples/*.sql, in file-name order."""
    return [parse_example(path.stem, path.read_text(encoding="utf-8"))
            for path in sorted(directory.glob("*.sql"))]


def analytics_catalog(engine: Engine) -> list[View]:
    """Views (and any table) in schema analytics with their comments, columns in definition order."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select c.relname as view, obj_description(c.oid, 'pg_class') as view_doc, a.attname as column, "
            "format_type(a.atttypid, a.atttypmod) as type, col_description(c.oid, a.attnum) as doc "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
            "where n.nspname = 'analytics' and c.relkind in ('v', 'm', 'r') "
            "order by c.relname, a.attnum")).mappings().all()
    views: dict[str, View] = {}
    for r in rows:
        view = views.setdefault(r["view"], View(r["view"], r["view_doc"] or "", []))
        view.columns.append(Column(r["column"], r["type"], r["doc"] or ""))
    return list(views.values())


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _render_view(view: View) -> list[str]:
    lines = [f"### `analytics.{view.name}`", "", _cell(view.doc) or "_No description._", "",
             "| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {_cell(c.doc)} |" for c in view.columns]
    return [*lines, ""]


def _render_tables() -> list[str]:
    """The operators' schemas from the SQLAlchemy models: what each table holds and its columns."""
    from warehouse.models import Base

    classes = {mapper.local_table: mapper.class_ for mapper in Base.registry.mappers}
    order = {"raw": 0, "core": 1, "ops": 2}
    tables = sorted((t for t in Base.metadata.tables.values() if t.schema in order),
                    key=lambda t: (order[t.schema or ""], t.name))
    lines = ["| table | holds | columns (key first) |", "|---|---|---|"]
    for table in tables:
        cls = classes.get(table)
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split()) if cls is not None else ""
        keys = [c.name for c in table.primary_key.columns]
        others = [c.name for c in table.columns if c.name not in keys]
        columns = ", ".join([f"**{k}**" for k in keys] + others)
        lines.append(f"| `{table.schema}.{table.name}` | {_cell(doc)} | {columns} |")
    return [*lines, ""]


def _render_example(number: int, example: Example) -> list[str]:
    lines = [f"### {number}. {example.title}", "", f"_For: {example.audience}._ "
             f"Source: [`docs/examples/{example.name}.sql`](examples/{example.name}.sql)", ""]
    if example.notes:
        lines += [example.notes, ""]
    lines += ["```sql", example.sql, "```", "",
              "Returns: " + ", ".join(f"`{c}`" for c in example.columns) + ".", ""]
    return lines


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


INTRO = """\
# The Realise warehouse: a guide for analysts

<!-- Generated by `realise docs warehouse` from the warehouse catalog (the COMMENT ON text of the
     analytics views in warehouse/sql), the SQLAlchemy models and docs/examples/*.sql. Edit those and
     regenerate; a test fails when this file differs from what they produce. -->

Realise loads staff feedback (forms and surveys), IT service desk tickets, training records and digital
capability self-assessments into a PostgreSQL warehouse, and computes benefits-realisation and adoption
metrics from them. Analysts read the **`analytics` schema**: documented views whose names and columns are
the stable interface. Everything else (`raw`, `core`, `ops`, `staging`) belongs to the pipeline and may
change between releases; `research` holds full rows for approved research only (see *Row-level data*).

Things to know before querying:

- **No one is singled out.** The row-level views show no person identifier and no exact time: each row
  carries its period (ISO week, month or all) and the org unit, staff group, system and go-live wave of its
  person, coarsened until every combination shown holds at least `metrics.min_group_size` people (default 5).
  `person_key` counts people *within one combination*; it is not a pseudonym and matches nothing elsewhere.
  Free text is scrubbed of e-mail addresses, phone numbers, NHS numbers and postcodes before it is stored, and
  shown only in combinations of at least `metrics.comment_min_group_size` people (default 10).
- **Small numbers.** The metric views suppress groups smaller than the configured minimum
  (`metrics.min_group_size`, default 5; the NHS Staff Survey uses 11), and hide a sibling where one hidden
  group could otherwise be worked out from its parent. When you count from the row-level views, group by
  coarser values than they show or keep the minimum yourself (the examples use
  `having count(distinct person_key) >= 5`).
- **Time** is stored in UTC (`timestamptz`). Weeks are ISO weeks starting on Monday (`week_start`,
  `period_start`).
- **Versions.** Sources that edit records (form responses, tickets) keep every version in the pipeline;
  `form_responses` and `helpdesk_tickets` show the latest version of each record.
- **History.** Every metrics refresh appends its values to `metric_values`; `metric_latest` shows the newest
  value of each cell. Query as of any past moment with `computed_at <=` (example 12).

## Connecting as `realise_analyst`

Analysts connect as `realise_analyst`, a role that can read the `analytics` schema and nothing else. An
operator gives it a password (taken from an environment variable, never typed on the command line):

```bash
export REALISE_ANALYST_PASSWORD='a long random secret'
realise db analyst-login            # ALTER ROLE realise_analyst LOGIN PASSWORD ...
```

The examples below use these connection details; substitute your own:

| setting | embedded stack (`realise up`) | production |
|---|---|---|
| host | `127.0.0.1` | your PostgreSQL server, e.g. `warehouse.example.nhs.uk` |
| port | `55432` (`stack.postgres_port`) | `5432` |
| database | `realise` | `realise` |
| user | `realise_analyst` | `realise_analyst` |
| SSL | off (loopback only) | `sslmode=verify-full` with the CA that signed the server's certificate |

**psql**

```bash
psql "host=warehouse.example.nhs.uk port=5432 dbname=realise user=realise_analyst \\
      sslmode=verify-full sslrootcert=/etc/ssl/certs/trust-ca.pem"
realise=> \\dv analytics.*                 -- the views
realise=> \\d+ analytics.helpdesk_tickets  -- columns with their descriptions
realise=> \\i docs/examples/05_ticket_demand_since_go_live.sql
```

psql reads the password from `PGPASSWORD` or `~/.pgpass`; `sslmode=verify-full` checks both the
certificate and the host name.

**Python (pandas and SQLAlchemy)**

```python
import os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

engine = sa.create_engine(
    sa.engine.URL.create("postgresql+psycopg", username="realise_analyst",
                         password=os.environ["REALISE_ANALYST_PASSWORD"],
                         host="warehouse.example.nhs.uk", port=5432, database="realise"),
    connect_args={"sslmode": "verify-full", "sslrootcert": "/etc/ssl/certs/trust-ca.pem"},
)
tickets = pd.read_sql(sa.text("select * from analytics.helpdesk_tickets where period_start >= current_date - 28"),
                      engine)
demand = pd.read_sql(sa.text(Path("docs/examples/05_ticket_demand_since_go_live.sql").read_text()), engine)
```

`psycopg` is the PostgreSQL driver (`pip install "psycopg[binary]" sqlalchemy pandas`). Wrap SQL in
`sa.text()`; casts such as `value::int` are fine, but a bare `:name` is read as a bind parameter.

**BI tools (Power BI, Tableau, Metabase and others)**

Use the tool's PostgreSQL connector with the details above, then choose the `analytics` schema; each view
appears as a table.

- *Power BI Desktop*: Get data → PostgreSQL database; server `warehouse.example.nhs.uk:5432`, database
  `realise`; Database credentials with user `realise_analyst`. Power BI encrypts the connection by default,
  so the server's certificate must chain to a CA that Windows trusts (install the trust's CA).
- *Tableau*: Connect → PostgreSQL; server, port 5432, database `realise`, user name and password; tick
  *Require SSL*.
- *Metabase*: Admin → Databases → Add database → PostgreSQL; host, port, database name `realise`, user
  `realise_analyst`; turn on *Use a secure connection (SSL)*, choose SSL mode `verify-full` and give the
  server's CA certificate.

Any tool that speaks the PostgreSQL protocol works the same way. Schedule refreshes no more often than
metrics are refreshed (on new data and every 15 minutes by default).

**dbt**

[`dbt/`](../dbt/) is a dbt package, `realise_analytics`, generated from the same catalog as this guide by
`realise docs dbt`: the `analytics` views as the dbt source `realise`, with these descriptions, and a staging
model `stg_realise__<view>` for each. Its only data tests are `not_null` and `unique` where the view
definitions prove them. Add it to your project's `packages.yml` (`local:` its path, or `git:` with
`subdirectory: dbt`) and build on `{{ ref('stg_realise__helpdesk_tickets') }}`. dbt creates its models in
your profile's schema, so connect as a login that is granted `realise_analyst` and owns a schema of its own
(a DBA creates both).
"""

ACCESS = """\
## Row-level data: what analysts and researchers read

| role | reads schema | rows | granted by |
|---|---|---|---|
| `realise_analyst` | `analytics` | coarsened; no identifier or exact time | `realise db analyst-login` |
| `realise_researcher` | `research` | full pseudonymised rows | a DBA, after a DPIA |

Neither role reads `raw`, `core`, `ops` or `staging`.

**How analysts' rows are coarsened.** Each record starts with its ISO week, leaf org unit, staff group, system
and wave. Records whose combination holds fewer than `metrics.min_group_size` distinct people move one step up
this ladder and are grouped again with the others still left; the first step at which their group is large
enough is the one shown:

| step | `org_unit` | `staff_group` | `system` | `go_live_wave` | `period` |
|---|---|---|---|---|---|
| 0 | unit | group | system | wave | week |
| 1 | unit | group | system | wave | month |
| 2 | level-2 ancestor | group | system | wave | month |
| 3 | level-2 ancestor | group | all | wave | month |
| 4 | level-2 ancestor | other | all | wave | month |
| 5 | level-1 ancestor | other | all | wave | month |
| 6 | level-1 ancestor | other | all | all | month |
| 7 | all | other | all | all | month |
| 8 | all | other | all | all | all |

A unit the hierarchy does not know goes straight to `all` above step 1. Records still in a group too small at
step 8 are left out. Every combination shown is therefore made of groups that were each large enough, and
the ladder is the same for everyone, so the same data always gives the same rows. Comments, ticket
categories and summaries, course titles and modules are empty where the combination holds fewer than
`metrics.comment_min_group_size` people. The minimums come from the settings: `realise db upgrade` and
the metrics refresh write them to the warehouse (`core.disclosure_settings`), so changing a setting changes the
coarsening at the next run of either.

Why no pseudonym: a stable identifier would let anyone link a person's rows across views, weeks and
combinations until the intersection is one person, and match them to attributes they know (a colleague's ward
and the week they gave feedback). `person_key` and `response_key` are hashes of the pseudonym with the
combination shown, so they count people and tie a response's rows together within one combination only. Some
risk remains: free-text content can name a person, and an analyst who keeps copies from day to day can see
rows move to a finer combination as a group grows. Row-level data goes to analysts on that understanding; for
anything finer, use the research role.

**Granting the research role.** `realise_researcher` is created `NOLOGIN` and has no members. Before it is
granted, the data controller's data-protection impact assessment (DPIA) must cover the purpose, the people
who will have it and how long. A DBA then grants it to a named login and revokes it when the purpose ends:

```sql
CREATE ROLE jane_research LOGIN PASSWORD '...';  -- or an existing login
GRANT realise_researcher TO jane_research;
-- when the purpose ends
REVOKE realise_researcher FROM jane_research;
```

The `research` views have the columns the `analytics` views had before coarsening (`staff_pseudonym`,
`response_id`, `submitted_at`, `comment` and so on) and the same comments; `\\d+ research.form_responses`
lists them.

"""

TABLES_INTRO = """\
## Pipeline tables (operators)

These tables are written by ingest and the metrics refresh; `realise_analyst` cannot read them. They are
described here for operators and for anyone extending Realise. `raw.events` keeps every valid event once, as
received; `core` is the star schema the views read; `ops` holds the ingest offsets (the warehouse, not Kafka,
is the record of how far each partition has been read), batches, quarantined records with their raw bytes,
validation results, metric refreshes and migration state (`ops.alembic_version`).

"""


def render_guide(engine: Engine, examples: list[Example] | None = None) -> str:
    """The whole guide as Markdown, from the warehouse at `engine` (which should be fully migrated)."""
    examples = load_examples() if examples is None else examples
    views = {v.name: v for v in analytics_catalog(engine)}
    lines = [INTRO, "## Example queries", "",
             "Each example is a file in [`docs/examples/`](examples/) that you can run as it is; the test suite "
             "runs every one of them as `realise_analyst` on demo data.", ""]
    lines += [f"{n}. [{e.title}](#{_anchor(f'{n}. {e.title}')})" for n, e in enumerate(examples, start=1)]
    lines.append("")
    for number, example in enumerate(examples, start=1):
        lines += _render_example(number, example)
    lines += ["## The `analytics` views", ""]
    groups = [(title, text, [v for v in names if v in views]) for title, text, names in VIEW_GROUPS]
    others = sorted(set(views) - {v for _, _, names in groups for v in names})
    if others:
        groups.append(("Other views", "", others))
    for title, _text, names in groups:
        if not names:
            continue
        lines += [f"- **{title}**: " + ", ".join(f"[`{n}`](#analytics{n})" for n in names)]
    lines.append("")
    for title, text, names in groups:
        if not names:
            continue
        lines += [f"## {title}", ""]
        if text:
            lines += [text, ""]
        for name in names:
            lines += _render_view(views[name])
    lines.append(ACCESS)
    lines.append(TABLES_INTRO)
    lines += _render_tables()
    return "\n".join(lines).rstrip() + "\n"


def write_guide(engine: Engine, path: Path = GUIDE_FILE) -> bool:
    """Write the guide; True when the file changed."""
    text = render_guide(engine)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def run_on_url(argv: list[str], usage: str, write: Callable[[Engine, str | None], str]) -> int:
    """A generator's `python -m` entry, without the CLI's settings: `argv` is the warehouse URL and an optional
    output path; `write` says what it did."""
    from foundation.database import create_engine

    if not argv:
        print(f"usage: {usage}", file=sys.stderr)
        return 2
    engine = create_engine(argv[0])
    try:
        print(write(engine, argv[1] if len(argv) > 1 else None))
    finally:
        engine.dispose()
    return 0


def main(argv: list[str]) -> int:
    """`python -m warehouse.docs URL [OUT]`."""

    def write(engine: Engine, out: str | None) -> str:
        path = Path(out) if out else GUIDE_FILE
        return f"{path}: {'written' if write_guide(engine, path) else 'already up to date'}"

    return run_on_url(argv, "python -m warehouse.docs WAREHOUSE_URL [OUT]", write)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
