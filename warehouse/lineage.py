"""What the catalog proves about the columns of the `analytics` views: never null, or unique.

A view column carries no NOT NULL or key of its own (`attnotnull` is false on every view), so the proof
follows each column back through the view definitions PostgreSQL stores (`pg_rewrite.ev_action`, the parsed
query) to the tables under them:

- *never null*: the column is a plain reference (or a binary-compatible cast of one, or a COALESCE with such
  an argument or a non-null constant) to a NOT NULL table column, through views, subqueries and join
  aliases, and no outer join can null it on the way (`varnullingrels` is empty; PostgreSQL 16 and later
  record it). Set operations and grouping sets prove nothing.
- *unique*: the view reads one relation and nothing else (no join, set operation, grouping, aggregate or
  set-returning function in its select list), and the column is a plain reference to a column that is
  unique there: a one-column unique index (or primary key) without predicate or expression on a table, or
  a unique column of the view or subquery it reads.

Anything else proves nothing and gets no test: a dbt test generated from here holds on every warehouse that
was migrated to the same revision, whatever its data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NOT_NULL, UNIQUE = "not_null", "unique"
# RangeTblEntry.rtekind (src/include/nodes/parsenodes.h); the first three have kept their numbers since
# PostgreSQL 8, RTE_GROUP is new in 18 and numbered after the others.
RTE_RELATION, RTE_SUBQUERY, RTE_JOIN, RTE_GROUP = "0", "1", "2", "9"
TABLE_KINDS, VIEW_KINDS = ("r", "p"), ("v", "m")

Node = dict[str, Any]


# --------------------------------------------------------------------------------- reading pg_node_tree


def _tokens(text: str) -> Iterator[tuple[str, bool]]:
    """The tokens of a node tree as PostgreSQL's pg_strtok splits them; True when a token was escaped,
    so `\\:x` (a name) is never taken for a field label."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "(){}":
            yield ch, False
            i += 1
            continue
        escaped, buf = ch == "\\", []
        while i < n and not text[i].isspace() and text[i] not in "(){}":
            if text[i] == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
            else:
                buf.append(text[i])
                i += 1
        yield "".join(buf), escaped


def parse_node_tree(text: str) -> Any:
    """A pg_node_tree as Python values: `{TYPE :field value ...}` a dict with its type under "_type",
    `(...)` a list (an integer list or bitmapset keeps its `i`/`b` marker first), `<>` None, else a string
    (several for one field, such as a constant's bytes, a list of strings)."""
    tokens = list(_tokens(text))
    pos = 0

    def value() -> Any:
        nonlocal pos
        token, escaped = tokens[pos]
        pos += 1
        if escaped:
            return token
        if token == "{":
            return node()
        if token == "(":
            items = []
            while tokens[pos] != (")", False):
                items.append(value())
            pos += 1
            return items
        return None if token == "<>" else token

    def node() -> Node:
        nonlocal pos
        found: Node = {"_type": tokens[pos][0]}
        pos += 1
        while tokens[pos] != ("}", False):
            label = tokens[pos][0][1:]
            pos += 1
            values = []
            while tokens[pos] != ("}", False) and not (tokens[pos][0].startswith(":") and not tokens[pos][1]):
                values.append(value())
            found[label] = values[0] if len(values) == 1 else (values or None)
        pos += 1
        return found

    return value()


# ------------------------------------------------------------------------------------------- the proof


@dataclass
class Catalog:
    """The facts the proof reads: relation kinds, NOT NULL and one-column unique keys of tables (none for a
    table with inheritance children, whose rows those need not cover), and each view's stored query."""

    kinds: dict[int, str]
    not_null: set[tuple[int, int]]
    unique: set[tuple[int, int]]
    queries: dict[int, str]
    _parsed: dict[int, Node | None] = field(default_factory=dict)

    def query(self, relid: int) -> Node | None:
        if relid not in self._parsed:
            tree = parse_node_tree(self.queries[relid]) if relid in self.queries else None
            first = tree[0] if isinstance(tree, list) and tree else None
            self._parsed[relid] = first if isinstance(first, dict) and first.get("_type") == "QUERY" else None
        return self._parsed[relid]

    def column_not_null(self, relid: int, attnum: int) -> bool:
        kind = self.kinds.get(relid)
        if kind in TABLE_KINDS:
            return (relid, attnum) in self.not_null
        query = self.query(relid) if kind in VIEW_KINDS else None
        return query is not None and self._output_not_null(query, attnum)

    def column_unique(self, relid: int, attnum: int) -> bool:
        kind = self.kinds.get(relid)
        if kind in TABLE_KINDS:
            return (relid, attnum) in self.unique
        query = self.query(relid) if kind in VIEW_KINDS else None
        return query is not None and self._output_unique(query, attnum)

    def _output_not_null(self, query: Node, resno: int) -> bool:
        if query.get("commandType") != "1" or query.get("setOperations") or query.get("groupingSets"):
            return False
        expr = _output(query, resno)
        return expr is not None and self._expr_not_null(query, expr)

    def _expr_not_null(self, query: Node, expr: Any) -> bool:
        kind = expr.get("_type") if isinstance(expr, dict) else None
        if kind == "RELABELTYPE":
            return self._expr_not_null(query, expr.get("arg"))
        if kind == "CONST":
            return expr.get("constisnull") == "false"
        if kind == "COALESCEEXPR":
            return any(self._expr_not_null(query, arg) for arg in expr.get("args") or [])
        target = _var_target(query, expr)
        if target is None or expr.get("varnullingrels") != ["b"]:
            return False
        rte, attno = target
        kind = rte.get("rtekind")
        if kind == RTE_RELATION:
            return self.column_not_null(int(rte["relid"]), attno)
        if kind == RTE_SUBQUERY:
            subquery = rte.get("subquery")
            return isinstance(subquery, dict) and self._output_not_null(subquery, attno)
        if kind in (RTE_JOIN, RTE_GROUP):  # a join's merged column, or a grouped expression
            inner = rte.get("joinaliasvars" if kind == RTE_JOIN else "groupexprs") or []
            return attno <= len(inner) and self._expr_not_null(query, inner[attno - 1])
        return False

    def _output_unique(self, query: Node, resno: int) -> bool:
        if (query.get("commandType") != "1" or query.get("setOperations") or query.get("groupClause")
                or query.get("groupingSets") or query.get("hasAggs") != "false"
                or query.get("hasTargetSRFs") != "false"):
            return False
        fromlist = (query.get("jointree") or {}).get("fromlist") or []
        if len(fromlist) != 1 or not isinstance(fromlist[0], dict) or fromlist[0].get("_type") != "RANGETBLREF":
            return False
        expr = _output(query, resno)
        target = _var_target(query, expr)
        if target is None or expr.get("varno") != fromlist[0].get("rtindex"):
            return False
        rte, attno = target
        if rte.get("rtekind") == RTE_RELATION:
            return self.column_unique(int(rte["relid"]), attno)
        subquery = rte.get("subquery")
        return rte.get("rtekind") == RTE_SUBQUERY and isinstance(subquery, dict) and self._output_unique(
            subquery, attno)


def _output(query: Node, resno: int) -> Any:
    """The expression of output column `resno` (1-based, junk columns skipped)."""
    for entry in query.get("targetList") or []:
        if isinstance(entry, dict) and entry.get("resno") == str(resno) and entry.get("resjunk") == "false":
            return entry.get("expr")
    return None


def _var_target(query: Node, expr: Any) -> tuple[Node, int] | None:
    """The range-table entry and column a Var of this query level reads; None for anything else."""
    if not isinstance(expr, dict) or expr.get("_type") != "VAR" or expr.get("varlevelsup") != "0":
        return None
    try:
        varno, attno = int(expr["varno"]), int(expr["varattno"])
    except (KeyError, TypeError, ValueError):
        return None
    rtable = query.get("rtable") or []
    if attno <= 0 or not 1 <= varno <= len(rtable) or not isinstance(rtable[varno - 1], dict):
        return None
    return rtable[varno - 1], attno


def load_catalog(engine: Engine) -> Catalog:
    """Relations, keys and view queries outside the system schemas."""
    import sqlalchemy as sa

    user = ("join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'")
    with engine.connect() as conn:
        kinds = {int(oid): kind for oid, kind in conn.execute(sa.text(
            f"select c.oid, c.relkind from pg_class c {user} and c.relkind in ('r', 'p', 'v', 'm')"))}
        whole = "(c.relkind = 'p' or not c.relhassubclass)"
        not_null = {(int(r), int(a)) for r, a in conn.execute(sa.text(
            f"select a.attrelid, a.attnum from pg_attribute a join pg_class c on c.oid = a.attrelid {user} "
            f"and {whole} and a.attnum > 0 and a.attnotnull and not a.attisdropped"))}
        unique = {(int(r), int(a)) for r, a in conn.execute(sa.text(
            f"select i.indrelid, i.indkey[0] from pg_index i join pg_class c on c.oid = i.indrelid {user} "
            f"and {whole} and i.indisunique and i.indisvalid and i.indnkeyatts = 1 and i.indpred is null "
            "and i.indexprs is null and i.indkey[0] > 0"))}
        queries = {int(oid): text for oid, text in conn.execute(sa.text(
            f"select r.ev_class, r.ev_action from pg_rewrite r join pg_class c on c.oid = r.ev_class {user} "
            "and r.rulename = '_RETURN' and r.ev_type = '1'"))}
    return Catalog(kinds, not_null, unique, queries)


def proven_tests(engine: Engine, schema: str = "analytics") -> dict[tuple[str, str], tuple[str, ...]]:
    """(relation, column) -> the data tests the catalog proves for the columns of `schema`'s views and
    tables, `not_null` before `unique`; a column with no proof is absent."""
    import sqlalchemy as sa

    catalog = load_catalog(engine)
    with engine.connect() as conn:
        columns = conn.execute(sa.text(
            "select c.oid, c.relname, a.attnum, a.attname from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
            "where n.nspname = :schema and c.relkind in ('v', 'm', 'r', 'p') order by c.relname, a.attnum"),
            {"schema": schema}).all()
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for oid, relation, attnum, column in columns:
        tests = tuple(name for name, proven in ((NOT_NULL, catalog.column_not_null(int(oid), int(attnum))),
                                                (UNIQUE, catalog.column_unique(int(oid), int(attnum))))
                      if proven)
        if tests:
            found[(relation, column)] = tests
    return found
