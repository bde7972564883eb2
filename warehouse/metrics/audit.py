"""A disclosure audit of the published metrics, as an intruder holding only what `realise_analyst` reads.

Suppression is only as good as what can be worked out from everything published together, so the audit
reconstructs every snapshot of `analytics.metric_values` and looks for any group of 1..k-1 people whose
size or figures can be pinned down.

Snapshots
    Refreshes write rows only for the cells they recompute, so the table "as of refresh r" is the newest
    row per cell (metric, grain, period, segment) with refresh_id <= r. A row is therefore valid from its
    refresh until the next row of its cell; a row still valid at a later refresh is the same figure there.

Linear-programming audit
    Unknowns are the n, numerator and denominator of hidden rows (each statistic its own system: they are
    linked by no published equation), plus, per partition that is not declared complete, the people outside
    every child (an implicit residual). For every snapshot state of a (metric, grain, period) and every
    partition (children with the same parent and partition) the parent equals the sum of its children
    (plus the residual) for additive statistics: numerator and denominator whenever a metric publishes them;
    n when each person is in one child (checked against fully visible partitions: a partition type whose
    visible n do not add up is left out for n). Bounds: n >= 1 for a cell that exists (n counts its
    people), n <= k-1 for a cell labelled primary, n >= k for a cell labelled secondary, denominators and
    residual n >= 0. Cells that hold the same people in both grains (a wave's cell, or an org cell all of
    whose units are in one wave, when the wave goes live on a Monday or the metric counts person-weeks)
    share one unknown, as do the rows of one cell over the refreshes in which it did not change. The
    equations are split into independent blocks (connected components); per block one HiGHS LP maximises
    the slack of every bound, so the bounds that hold with equality in every solution (implicit equalities)
    are found at once; with them added, a combination c.x is determined exactly when c is orthogonal to
    the null space of the equations, and its value is c.x at the LP's solution. That gives the same answer
    as minimising and maximising each target, with one LP per block instead of two per target.

Findings
    A hidden cell whose n is determined and in 1..k-1; a hidden cell whose numerator is determined while its
    n is below k; a partition's complement (parent minus its visible children: the hidden children and any
    residual) determined in 1..k-1; a change of one cell between consecutive snapshots by 1..k-1 people, or
    with n unchanged and the numerator changed. Each finding names its route: `residual` (people outside
    every child), `one_hidden_child`, `hidden_siblings`, `across_grains` (needed the other grain),
    `refresh_difference` (two shown values of one cell), `refresh_recovered` (a hidden value recovered using
    another snapshot) or `linear_programming` (anything else the LP pins down).

The LP is over the reals: integrality of people counts can pin down a little more; it is not used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.linalg import null_space
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

KEY = ["metric_id", "grain", "period", "segment_type", "segment_value"]
BLOCK = ["metric_id", "grain", "period"]
ORG_TYPES = ("org_level_1", "org_level_2", "org_unit")
STATS = ("n", "numerator", "denominator")
RESIDUAL = "(none)"
ROUTES = ("residual", "one_hidden_child", "hidden_siblings", "across_grains", "refresh_difference",
          "refresh_recovered", "linear_programming")
_TOL = 1e-6


@dataclass(frozen=True)
class MetricInfo:
    """What the intruder knows about a metric from its definition (analytics.metric_definitions, docs)."""

    min_group_size: int = 5
    n_additive: bool = True  # n is a count of distinct people (adds up over person-disjoint children)
    n_nonzero: bool = True  # every published cell holds at least one person
    person_week: bool = False  # rows dated by their Monday and indexed by their Sunday (grains always align)


@dataclass(frozen=True)
class Background:
    """Public knowledge beside the metric tables: go-live dates and which org units are in which wave."""

    go_live_dates: Mapping[str, date] = field(default_factory=dict)
    unit_waves: Mapping[str, str] = field(default_factory=dict)  # org unit -> its one wave
    unit_paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # org unit -> ancestors, top first


@dataclass(frozen=True)
class Finding:
    route: str
    metric_id: str
    grain: str
    period: str
    segment_type: str
    segment_value: str
    snapshots: tuple[int, ...]
    figures: dict[str, float]
    note: str = ""

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v:g}" for k, v in self.figures.items())
        return (f"{self.route}: {self.metric_id} {self.grain} {self.period} {self.segment_type}="
                f"{self.segment_value} at refresh {','.join(map(str, self.snapshots))}: {shown}"
                + (f" ({self.note})" if self.note else ""))


@dataclass
class AuditResult:
    findings: list[Finding]
    blocks: int = 0  # independent LP blocks solved
    inconsistent: int = 0  # blocks whose published figures contradict the intruder's assumptions
    rows: int = 0

    def counts(self) -> dict[str, int]:
        out = {r: 0 for r in ROUTES}
        for f in self.findings:
            out[f.route] = out.get(f.route, 0) + 1
        return out


# --------------------------------------------------------------------------------------------- snapshots


def prepare(values: pd.DataFrame) -> pd.DataFrame:
    """Published rows with validity intervals [valid_from, valid_to) in refresh ids, a partition key and
    whether the partition is declared complete (the `partition` column present and set)."""
    df = values.reset_index(drop=True).copy()
    for column in ("parent_segment_type", "parent_segment_value", "suppression_reason"):
        if column not in df:
            df[column] = None
    df["period"] = df["period"].astype(str)
    df["segment_value"] = df["segment_value"].astype(str)
    if "partition" in df:
        df["complete"] = df["partition"].notna()
        df["partition"] = df["partition"].where(df["partition"].notna(), df["segment_type"])
    else:
        df["complete"] = False
        df["partition"] = df["segment_type"]
    df["suppressed"] = df["suppressed"].fillna(False).astype(bool)
    df = df.sort_values(KEY + ["refresh_id"], kind="stable").reset_index(drop=True)
    same = (df[KEY].shift(-1) == df[KEY]).all(axis=1)
    following = df["refresh_id"].shift(-1)
    df["valid_from"] = df["refresh_id"].astype(int)
    df["valid_to"] = np.where(same, following.fillna(np.inf), np.inf)
    return df


def snapshot(prepared: pd.DataFrame, refresh_id: int) -> pd.DataFrame:
    """The published table as of `refresh_id`: the newest row per cell written at or before it."""
    return prepared[(prepared["valid_from"] <= refresh_id) & (prepared["valid_to"] > refresh_id)]


# --------------------------------------------------------------------------------------------- the model


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class _Family:
    """One partition at one snapshot state: parent row, child rows, whether declared complete."""

    state: int
    parent: int
    children: list[int]
    complete: bool
    partition: str
    residual: str  # the implicit residual's unknown (shared by states where nothing in the family changed)


def _number(value: Any) -> float:
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _families(rows: pd.DataFrame) -> list[_Family]:
    """Every (state, parent, partition) of one block: states are the refreshes that wrote a row of it."""
    out: list[_Family] = []
    idx = rows.index.to_numpy()
    starts = rows["valid_from"].to_numpy()
    ends = rows["valid_to"].to_numpy()
    seg_type = rows["segment_type"].to_numpy()
    seg_value = rows["segment_value"].to_numpy()
    p_type = rows["parent_segment_type"].to_numpy()
    p_value = rows["parent_segment_value"].to_numpy()
    partition = rows["partition"].to_numpy()
    complete = rows["complete"].to_numpy()
    for state in sorted(set(starts.tolist())):
        active = (starts <= state) & (ends > state)
        own = {(seg_type[i], seg_value[i]): idx[i] for i in np.flatnonzero(active)}
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i in np.flatnonzero(active):
            if p_type[i] is None or (isinstance(p_type[i], float) and math.isnan(p_type[i])):
                continue
            groups.setdefault((p_type[i], str(p_value[i]), partition[i]), []).append(i)
        for (ptype, pvalue, part), members in groups.items():
            parent = own.get((ptype, pvalue))
            if parent is None:
                continue
            children = [int(idx[i]) for i in members]
            key = f"r:{parent}:{part}:" + ",".join(map(str, sorted(children)))
            out.append(_Family(int(state), int(parent), children, bool(all(complete[i] for i in members)),
                               str(part), key))
    return out


def _grain_links(df: pd.DataFrame, infos: Mapping[str, MetricInfo], background: Background
                 ) -> list[tuple[int, int]]:
    """Pairs of rows (week grain, week-since-go-live grain) that hold the same people at the same snapshot.

    A cell whose people are all in one wave W with go-live day g: calendar week m and week since go-live i
    hold the same rows when g is a Monday (i = (m - g) / 7), and for person-week metrics whatever g is
    (each person-week is indexed by its Sunday: i = floor((m + 6 - g) / 7)).
    """
    if not background.go_live_dates:
        return []
    single_wave: dict[tuple[str, str], str] = {}
    units_of: dict[str, set[str]] = {}
    for unit, path in background.unit_paths.items():
        for node in (*path, unit):
            units_of.setdefault(node, set()).add(unit)
    for wave in background.go_live_dates:
        single_wave[("go_live_wave", wave)] = wave
    for node, units in units_of.items():
        waves = {background.unit_waves.get(u) for u in units}
        if len(waves) == 1 and None not in waves:
            wave = next(iter(waves))
            for seg in ORG_TYPES:
                single_wave[(seg, node)] = wave
    for unit, wave in background.unit_waves.items():
        if unit not in units_of:
            single_wave[("org_unit", unit)] = wave
    week = df[df["grain"] == "week"]
    since = df[df["grain"] == "week_since_go_live"]
    if week.empty or since.empty:
        return []
    week_keys = week[["segment_type", "segment_value"]].apply(tuple, axis=1)
    week = week.assign(wave_of=week_keys.map(single_wave))
    week = week[week["wave_of"].notna()]
    week = week[week["wave_of"].isin(list(background.go_live_dates))]
    if week.empty:
        return []

    def index_of(row: Any) -> float:
        day = date.fromisoformat(row.period)
        go_live = background.go_live_dates[row.wave_of]
        info = infos.get(row.metric_id, MetricInfo())
        if info.person_week:
            return math.floor(((day + timedelta(days=6)) - go_live).days / 7)
        if go_live.weekday() != 0:
            return math.nan
        return (day - go_live).days / 7

    week = week.assign(index_of=[index_of(r) for r in week.itertuples()])
    week = week[week["index_of"].notna()]
    week = week.assign(period_twin=week["index_of"].astype(int).astype(str))
    left = week.reset_index()[["index", "metric_id", "segment_type", "segment_value", "period_twin", "valid_from",
                               "valid_to"]]
    right = since.reset_index()[["index", "metric_id", "segment_type", "segment_value", "period", "valid_from",
                                 "valid_to"]].rename(columns={"period": "period_twin"})
    pairs = left.merge(right, on=["metric_id", "segment_type", "segment_value", "period_twin"],
                       suffixes=("_a", "_b"))
    overlap = (pairs["valid_from_a"] < pairs["valid_to_b"]) & (pairs["valid_from_b"] < pairs["valid_to_a"])
    pairs = pairs[overlap]
    return list(zip(pairs["index_a"].astype(int), pairs["index_b"].astype(int), strict=True))


def _refuted_links(df: pd.DataFrame, links: list[tuple[int, int]]) -> set[tuple[str, str, str]]:
    """(metric, segment type, value) whose linked cells, both shown, differ: the assumption that they hold
    the same people is wrong there, so none of that segment's links is used."""
    bad: set[tuple[str, str, str]] = set()
    for a, b in links:
        ra, rb = df.loc[a], df.loc[b]
        if ra["suppressed"] or rb["suppressed"]:
            continue
        if any(not math.isclose(_number(ra[s]), _number(rb[s]), rel_tol=1e-9, abs_tol=1e-6) for s in STATS):
            bad.add((ra["metric_id"], ra["segment_type"], ra["segment_value"]))
    return bad


def _n_partitions(df: pd.DataFrame, families: Iterable[tuple[str, _Family]]) -> dict[tuple[str, str], bool]:
    """Per (metric, partition): whether n adds up (each person in one child), from fully visible families:
    their children's n must add up to the parent's (complete) or not exceed it (incomplete)."""
    ok: dict[tuple[str, str], bool] = {}
    n = df["n"].to_numpy()
    hidden = df["suppressed"].to_numpy()
    for metric, fam in families:
        key = (metric, fam.partition)
        ok.setdefault(key, True)
        if hidden[fam.parent] or any(hidden[c] for c in fam.children):
            continue
        total = sum(_number(n[c]) for c in fam.children)
        parent = _number(n[fam.parent])
        if total > parent + _TOL or (fam.complete and abs(total - parent) > _TOL):
            ok[key] = False
    return ok


# ------------------------------------------------------------------------------------------------ solving


@dataclass
class _System:
    """Linear equations over unknowns (names), each as {unknown: coefficient} = rhs."""

    equations: list[tuple[dict[str, float], float]] = field(default_factory=list)
    lower: dict[str, float] = field(default_factory=dict)
    upper: dict[str, float] = field(default_factory=dict)


@dataclass
class _Solved:
    point: dict[str, float]
    null: dict[str, np.ndarray]  # unknown -> its row of the null-space basis (empty: determined)
    ok: bool


def _solve(system: _System) -> tuple[dict[str, _Solved], int, int]:
    """Per unknown, its block's solution; (solutions, blocks, inconsistent blocks).

    All blocks go into one sparse LP (it decomposes, so this is the same as one LP per block, without the
    per-call overhead); the null spaces are then taken per block."""
    names = sorted({u for terms, _ in system.equations for u in terms} | set(system.lower) | set(system.upper))
    if not names:
        return {}, 0, 0
    position = {u: i for i, u in enumerate(names)}
    rows, cols, data = [], [], []
    for r, (terms, _) in enumerate(system.equations):
        for u, c in terms.items():
            rows.append(r)
            cols.append(position[u])
            data.append(c)
    m, nvars = len(system.equations), len(names)
    a = sparse.csr_matrix((data, (rows, cols)), shape=(m, nvars))
    b = np.array([rhs for _, rhs in system.equations], dtype=float)
    lower = np.array([system.lower.get(u, -np.inf) for u in names])
    upper = np.array([system.upper.get(u, np.inf) for u in names])
    # Unknowns and equations as one bipartite graph: its components are independent blocks.
    graph = sparse.coo_matrix((np.ones(len(rows)), (np.array(rows, dtype=int) + nvars, cols)),
                              shape=(m + nvars, m + nvars)).tocsr()
    _, label = connected_components(graph, directed=False)
    fixed, ok = _implicit_equalities(a, b, lower, upper)
    if ok is None:  # some block is infeasible: find which, one block at a time
        ok = np.ones(nvars, dtype=bool)
        x = np.zeros(nvars)
        for block in np.unique(label[:nvars]):
            members = np.flatnonzero(label[:nvars] == block)
            eqs = np.flatnonzero(label[nvars:] == block)
            sub_fixed, sub_x = _implicit_equalities(a[eqs][:, members], b[eqs], lower[members], upper[members])
            if sub_x is None:
                ok[members] = False
            else:
                x[members] = sub_x
                fixed[members] = sub_fixed
    else:
        x, ok = ok, np.ones(nvars, dtype=bool)
    out: dict[str, _Solved] = {}
    blocks = inconsistent = 0
    var_label = label[:nvars]
    eq_label = label[nvars:]
    # Local positions of unknowns and equations inside their block, and the matrix entries per block.
    order = np.argsort(var_label, kind="stable")
    var_groups = np.split(order, np.flatnonzero(np.diff(var_label[order])) + 1)
    local = np.zeros(nvars, dtype=int)
    for members in var_groups:
        local[members] = np.arange(len(members))
    eq_local = np.zeros(m, dtype=int)
    eq_count: dict[int, int] = {}
    for r in range(m):
        lbl = int(eq_label[r])
        eq_local[r] = eq_count.get(lbl, 0)
        eq_count[lbl] = eq_local[r] + 1
    coo = a.tocoo()
    entries: dict[int, list[int]] = {}
    for e, c in enumerate(coo.col.tolist()):
        entries.setdefault(int(var_label[c]), []).append(e)
    for members in var_groups:
        blocks += 1
        lbl = int(var_label[members[0]])
        if not ok[members].all():
            inconsistent += 1
            solved = _Solved({}, {}, False)
        else:
            dense = np.zeros((eq_count.get(lbl, 0), len(members)))
            picked = np.array(entries.get(lbl, []), dtype=int)
            if len(picked):
                np.add.at(dense, (eq_local[coo.row[picked]], local[coo.col[picked]]), coo.data[picked])
            pinned = np.flatnonzero(fixed[members])
            extra = np.zeros((len(pinned), len(members)))
            extra[np.arange(len(pinned)), pinned] = 1.0
            full = np.vstack([dense, extra])
            basis = null_space(full, rcond=1e-9) if full.shape[0] else np.eye(len(members))
            solved = _Solved({names[i]: float(x[i]) for i in members},
                             {names[i]: basis[j] for j, i in enumerate(members)}, True)
        for i in members:
            out[names[i]] = solved
    return out, blocks, inconsistent


def _implicit_equalities(a: Any, b: np.ndarray, lower: np.ndarray, upper: np.ndarray
                         ) -> tuple[np.ndarray, Any]:
    """Which unknowns sit on a bound in every solution, and one solution (None when infeasible).

    Each LP maximises the slacks (capped at 1) of the bounds not yet shown to be loose; a bound with
    positive slack at the optimum is loose; when the optimum is 0 every remaining bound is tight in every
    solution (otherwise that slack could be made positive)."""
    nvars = a.shape[1]
    bounds = [(j, lo, 1) for j, lo in enumerate(lower) if np.isfinite(lo)] + \
             [(j, hi, -1) for j, hi in enumerate(upper) if np.isfinite(hi)]
    nb = len(bounds)
    fixed = np.zeros(nvars, dtype=bool)
    if nb == 0:
        result = linprog(np.zeros(nvars), A_eq=a, b_eq=b, bounds=[(None, None)] * nvars, method="highs")
        return fixed, (result.x if result.status == 0 else None)
    index = np.array([j for j, _, _ in bounds])
    sign = np.array([s for _, _, s in bounds], dtype=float)
    bound = np.array([v for _, v, _ in bounds], dtype=float)
    # s_t <= sign_t * (x_j - bound_t)  <=>  -sign_t * x_j + s_t <= -sign_t * bound_t
    a_ub = sparse.hstack([sparse.csr_matrix((-sign, (np.arange(nb), index)), shape=(nb, nvars)),
                          sparse.identity(nb, format="csr")]).tocsr()
    b_ub = -sign * bound
    a_eq = sparse.hstack([a, sparse.csr_matrix((a.shape[0], nb))]).tocsr() if a.shape[0] else None
    remaining = np.ones(nb, dtype=bool)
    x = None
    while remaining.any():
        cost = np.concatenate([np.zeros(nvars), -remaining.astype(float)])
        result = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b if a_eq is not None else None,
                         bounds=[(None, None)] * nvars + [(0, 1)] * nb, method="highs")
        if result.status != 0:
            return fixed, None
        x = result.x[:nvars]
        loose = remaining & (result.x[nvars:] > 1e-7)
        if not loose.any():
            break
        remaining &= ~loose
    fixed[index[remaining]] = True
    return fixed, x


def _evaluate(terms: Mapping[str, float], constant: float, solved: Mapping[str, _Solved]
              ) -> float | None:
    """c.x + constant when determined by the published figures, else None."""
    if not terms:
        return constant
    blocks: dict[int, tuple[_Solved, list[tuple[str, float]]]] = {}
    for u, c in terms.items():
        s = solved.get(u)
        if s is None or not s.ok:
            return None
        blocks.setdefault(id(s), (s, []))[1].append((u, c))
    total = constant
    for s, items in blocks.values():
        direction = sum(c * s.null[u] for u, c in items)
        if np.size(direction) and float(np.max(np.abs(direction))) > _TOL:
            return None
        total += sum(c * s.point[u] for u, c in items)
    return total


# ------------------------------------------------------------------------------------------------- audit


def audit(values: pd.DataFrame, infos: Mapping[str, MetricInfo] | None = None,
          background: Background | None = None, *, default_min_group_size: int = 5) -> AuditResult:
    """Every finding in the published history `values` (rows of analytics.metric_values)."""
    infos = dict(infos or {})
    background = background or Background()
    result = AuditResult([], rows=len(values))
    if values.empty:
        return result
    df = prepare(values)
    for metric_id, rows in df.groupby("metric_id", sort=True):
        info = infos.get(str(metric_id), MetricInfo(min_group_size=default_min_group_size))
        _audit_metric(rows.reset_index(drop=True), info, {str(metric_id): info}, background, result)
    result.findings = _dedupe(result.findings)
    return result


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per route, cell and figure set (the same group found at several snapshots is one)."""
    order = {r: i for i, r in enumerate(ROUTES)}
    best: dict[tuple[Any, ...], Finding] = {}
    for f in sorted(findings, key=lambda f: (order.get(f.route, 99), f.snapshots)):
        key = (f.metric_id, f.grain, f.period, f.segment_type, f.segment_value, f.note,
               tuple(sorted((k, round(v, 6)) for k, v in f.figures.items())))
        best.setdefault(key, f)
    return sorted(best.values(), key=lambda f: (f.route, f.metric_id, f.grain, f.period, f.segment_type,
                                                f.segment_value, f.snapshots))


def _audit_metric(df: pd.DataFrame, info: MetricInfo, infos: Mapping[str, MetricInfo], background: Background,
                  result: AuditResult) -> None:
    k = info.min_group_size
    hidden = df["suppressed"]
    stats = [s for s in ("numerator", "denominator") if df.loc[~hidden, s].notna().any()]
    if info.n_additive:
        stats = ["n", *stats]
    families: list[_Family] = []
    for _, rows in df.groupby(BLOCK, sort=False):
        families.extend(_families(rows))
    metric_id = str(df["metric_id"].iloc[0])
    n_ok = _n_partitions(df, ((metric_id, f) for f in families))
    links = _grain_links(df, infos, background)
    refuted = _refuted_links(df, links)
    links = [(a, b) for a, b in links
             if (df.at[a, "metric_id"], df.at[a, "segment_type"], df.at[a, "segment_value"]) not in refuted]
    reveal = _UnionFind()
    for a, b in links:
        reveal.union(a, b)
    grain_of = df["grain"].to_dict()
    supp = hidden.to_dict()
    reason = df["suppression_reason"].to_dict()
    # A hidden row linked to a shown row is revealed (across_grains).
    shown_in_group: dict[int, int] = {}
    for i in df.index[~hidden]:
        shown_in_group.setdefault(reveal.find(int(i)), int(i))

    figures = {s: np.nan_to_num(pd.to_numeric(df[s], errors="coerce").to_numpy(dtype=float)) for s in STATS}
    root_of = {int(i): reveal.find(int(i)) for i in df.index[hidden]}

    def unknown(stat: str, row: int) -> str | None:
        if not supp[row]:
            return None
        root = root_of[row]
        return None if root in shown_in_group else f"{stat}:{root}"

    def constant(stat: str, row: int) -> float:
        source = row if not supp[row] else shown_in_group[root_of[row]]
        return float(figures[stat][source])

    findings: list[Finding] = []
    n_known: dict[int, float] = {}  # hidden rows whose n the n pass determined
    floor: dict[int, float] = {}  # hidden rows' lower bound on n
    for stat in stats:
        system = _System()
        for fam in families:
            if stat == "n" and not n_ok.get((metric_id, fam.partition), True):
                continue
            terms: dict[str, float] = {}
            rhs = 0.0
            for row, sign in [(fam.parent, 1.0)] + [(c, -1.0) for c in fam.children]:
                u = unknown(stat, row)
                if u is None:
                    rhs -= sign * constant(stat, row)
                else:
                    terms[u] = terms.get(u, 0.0) + sign
            if not fam.complete:
                residual = f"{stat}:{fam.residual}"
                terms[residual] = -1.0
                if stat in ("n", "denominator"):
                    system.lower[residual] = 0.0
            terms = {u: c for u, c in terms.items() if c != 0}
            if terms:
                system.equations.append((terms, rhs))
        for row in df.index[hidden]:
            u = unknown(stat, int(row))
            if u is None:
                continue
            lo, hi = system.lower.get(u, -np.inf), system.upper.get(u, np.inf)
            if stat == "n":
                lo = max(lo, 1.0 if info.n_nonzero else 0.0)
                if reason[row] == "primary":
                    hi = min(hi, k - 1.0)
                elif reason[row] == "secondary":
                    lo = max(lo, float(k))
                floor[int(row)] = lo
            elif stat == "denominator":
                lo = max(lo, 0.0)
            system.lower[u], system.upper[u] = lo, hi
        solved, blocks, bad = _solve(system)
        result.blocks += blocks
        result.inconsistent += bad
        _collect(df, stat, families, solved, unknown, constant, grain_of, links, k, findings, n_ok, metric_id,
                 n_known, floor)
    result.findings.extend(findings)


def _collect(df: pd.DataFrame, stat: str, families: list[_Family], solved: Mapping[str, _Solved],
             unknown: Any, constant: Any, grain_of: Mapping[int, str], links: list[tuple[int, int]], k: int,
             findings: list[Finding], n_ok: Mapping[tuple[str, str], bool], metric_id: str,
             n_known: dict[int, float], floor: Mapping[int, float]) -> None:
    """Findings for one statistic: complements, hidden cells and changes between snapshots."""
    linked_rows = {r for pair in links for r in pair}
    hidden = df["suppressed"].to_numpy()

    def term(row: int) -> tuple[dict[str, float], float]:
        u = unknown(stat, row)
        return ({u: 1.0}, 0.0) if u is not None else ({}, constant(stat, row))

    def cell(row: int, route: str, figures: dict[str, float], note: str = "",
             snapshots: tuple[int, ...] | None = None) -> Finding:
        r = df.loc[row]
        return Finding(route, str(r["metric_id"]), str(r["grain"]), str(r["period"]), str(r["segment_type"]),
                       str(r["segment_value"]), snapshots or (int(r["valid_from"]),), figures, note)

    def small(v: float | None) -> bool:
        return v is not None and 1 - _TOL <= v <= k - 1 + _TOL

    # Partition complements: parent minus visible children = hidden children + people outside every child.
    for fam in families:
        if stat == "n" and not n_ok.get((metric_id, fam.partition), True):
            continue
        hidden_children = [c for c in fam.children if hidden[c]]
        if fam.complete and not hidden_children:
            continue
        terms, const = term(fam.parent)
        terms = dict(terms)
        for c in fam.children:
            if not hidden[c]:
                t, v = term(c)
                for u, coef in t.items():
                    terms[u] = terms.get(u, 0.0) - coef
                const -= v
        # Children revealed through the other grain count as shown for this complement.
        revealed = [c for c in hidden_children if unknown(stat, c) is None]
        for c in revealed:
            const -= constant(stat, c)
        terms = {u: c for u, c in terms.items() if abs(c) > 0}
        value = _evaluate(terms, const, solved)
        if value is None:
            continue
        still_hidden = [c for c in hidden_children if c not in revealed]
        if revealed:
            route = "across_grains"
        elif not still_hidden:
            route = "residual"
        elif len(still_hidden) == 1 and fam.complete:
            route = "one_hidden_child"
        elif terms and hidden[fam.parent]:
            route = "linear_programming"
        else:
            route = "hidden_siblings"
        if stat == "n" and small(value):
            label = "people outside every child" if not still_hidden else \
                "hidden children" + ("" if fam.complete else " and people outside every child")
            findings.append(Finding(route, str(df.at[fam.parent, "metric_id"]), str(df.at[fam.parent, "grain"]),
                                    str(df.at[fam.parent, "period"]), str(df.at[fam.parent, "segment_type"]),
                                    str(df.at[fam.parent, "segment_value"]), (fam.state,),
                                    {"n": round(value, 6)}, f"{fam.partition} complement: {label}"))
    # Hidden cells whose figure is determined.
    for row in df.index[df["suppressed"]]:
        row = int(row)
        u = unknown(stat, row)
        if u is None:
            if stat == "n" and row in linked_rows and small(constant("n", row)):
                findings.append(cell(row, "across_grains", {"n": constant("n", row)}, "same people shown"))
            continue
        value = _evaluate({u: 1.0}, 0.0, solved)
        if value is None:
            continue
        if stat == "n":
            n_known[row] = value
            if small(value):
                findings.append(cell(row, _route_of(df, row, families, links, floor), {"n": round(value, 6)}))
        else:
            n_value = n_known.get(row)
            # A figure of a group known to be empty (n pinned at 0) gives no one away.
            if (df.at[row, "suppression_reason"] == "primary" and n_value is None) or small(n_value):
                figures = {stat: value} if n_value is None else {stat: value, "n": n_value}
                findings.append(cell(row, _route_of(df, row, families, links, floor), figures,
                                     "figure of a group under the minimum"))
    # Changes of one cell between consecutive snapshots.
    ordered = df.sort_values(KEY + ["valid_from"])
    same = (ordered[KEY].shift(-1) == ordered[KEY]).all(axis=1).to_numpy()
    idx = ordered.index.to_numpy()
    for pos in np.flatnonzero(same):
        a, b = int(idx[pos]), int(idx[pos + 1])
        ta, ca = term(a)
        tb, cb = term(b)
        terms = dict(tb)
        for u, coef in ta.items():
            terms[u] = terms.get(u, 0.0) - coef
        terms = {u: c for u, c in terms.items() if abs(c) > 0}
        delta = _evaluate(terms, cb - ca, solved)
        if delta is None:
            continue
        both_shown = not hidden[a] and not hidden[b]
        route = "refresh_difference" if both_shown else "refresh_recovered"
        snaps = (int(df.at[a, "valid_from"]), int(df.at[b, "valid_from"]))
        if stat == "n" and small(abs(delta)):
            findings.append(cell(b, route, {"delta_n": round(delta, 6)}, "change between refreshes", snaps))
        elif stat == "numerator" and abs(delta) > 1e-9:
            # A changed numerator with an unchanged n: some of the same people's answers changed.
            tn_a, cn_a = term_n(df, a, unknown, constant)
            tn_b, cn_b = term_n(df, b, unknown, constant)
            n_terms = dict(tn_b)
            for u, coef in tn_a.items():
                n_terms[u] = n_terms.get(u, 0.0) - coef
            n_terms = {u: c for u, c in n_terms.items() if abs(c) > 0}
            if not n_terms and abs(cn_b - cn_a) < _TOL and not hidden[a] and not hidden[b]:
                findings.append(cell(b, route, {"delta_numerator": delta, "n": cn_b},
                                     "numerator changed with n unchanged", snaps))


def term_n(df: pd.DataFrame, row: int, unknown: Any, constant: Any) -> tuple[dict[str, float], float]:
    u = unknown("n", row)
    return ({u: 1.0}, 0.0) if u is not None else ({}, constant("n", row))


def _route_of(df: pd.DataFrame, row: int, families: list[_Family], links: list[tuple[int, int]],
              floor: Mapping[int, float]) -> str:
    """The simplest route that explains a determined hidden cell: its own partition at its own snapshot
    (one hidden child; hidden siblings squeezed onto their lower bounds), else another snapshot where the
    cell is shown, else the other grain, else the LP as a whole."""
    hidden = df["suppressed"].to_numpy()
    n = df["n"].to_numpy()
    start, end = df.at[row, "valid_from"], df.at[row, "valid_to"]
    for fam in families:
        if row in fam.children and start <= fam.state < end and not hidden[fam.parent]:
            others = [c for c in fam.children if hidden[c] and c != row]
            if not others and fam.complete:
                return "one_hidden_child"
            if others and fam.complete:
                complement = _number(n[fam.parent]) - sum(_number(n[c]) for c in fam.children if not hidden[c])
                if abs(complement - sum(floor.get(c, 0.0) for c in (*others, row))) < _TOL:
                    return "hidden_siblings"
    same_cell = np.ones(len(df), dtype=bool)
    for column in KEY:
        same_cell &= (df[column] == df.at[row, column]).to_numpy()
    elsewhere = (df["valid_from"] >= end) | (df["valid_to"] <= start)
    if bool((same_cell & ~df["suppressed"].to_numpy() & elsewhere.to_numpy()).any()):
        return "refresh_recovered"
    if any(row in pair for pair in links):
        return "across_grains"
    return "linear_programming"


# ------------------------------------------------------------------------------------------------- loading


def metric_infos(definitions: pd.DataFrame, default_min_group_size: int = 5) -> dict[str, MetricInfo]:
    """Per metric what its definition tells: minimum group size (analytics.metric_definitions) and, from
    the registered SQL (documented behaviour), how n counts and how rows are dated."""
    from warehouse.metrics.registry import all_metrics

    registry = all_metrics()
    out: dict[str, MetricInfo] = {}
    sizes = {str(r.metric_id): int(r.min_group_size) for r in definitions.itertuples()
             if r.min_group_size is not None and not pd.isna(r.min_group_size)}
    for metric_id in set(sizes) | set(registry):
        m = registry.get(metric_id)
        n_sql = " ".join((m.n_sql if m else "count(distinct subject)").lower().split())
        out[metric_id] = MetricInfo(
            min_group_size=sizes.get(metric_id, default_min_group_size),
            n_additive=n_sql.startswith("count(distinct subject)"),
            n_nonzero=n_sql == "count(distinct subject)",
            person_week=bool(m and "(k.week_start + 6)" in m.base_sql),
        )
    return out


def load(conn: Any) -> tuple[pd.DataFrame, pd.DataFrame, Background]:
    """What the connection's role reads: metric history, definitions, and background knowledge (go-live
    dates from any analytics view with go_live_wave and go_live_date; each unit's wave from any analytics
    view with org_unit and go_live_wave, where the unit only ever shows one wave; the org tree)."""
    import sqlalchemy as sa

    values = pd.DataFrame(conn.execute(sa.text("select * from analytics.metric_values")).mappings().all())
    if values.empty:
        values = pd.DataFrame(columns=["refresh_id", *KEY, "parent_segment_type", "parent_segment_value", "n",
                                       "numerator", "denominator", "value", "suppressed", "suppression_reason"])
    for column in ("n", "numerator", "denominator", "value"):
        values[column] = pd.to_numeric(values[column], errors="coerce").astype(float)
    definitions = pd.DataFrame(conn.execute(sa.text(
        "select metric_id, min_group_size from analytics.metric_definitions")).mappings().all(),
        columns=["metric_id", "min_group_size"])
    columns = pd.DataFrame(conn.execute(sa.text(
        "select table_name, column_name from information_schema.columns where table_schema = 'analytics'"))
        .all(), columns=["table", "column"])
    tables = columns.groupby("table")["column"].apply(set).to_dict()
    dates: dict[str, date] = {}
    pairs: dict[str, set[Any]] = {}
    for table, cols in sorted(tables.items()):
        if {"go_live_wave", "go_live_date"} <= cols:
            for wave, day in conn.execute(sa.text(
                    f'select distinct go_live_wave, go_live_date from analytics."{table}" '
                    "where go_live_date is not null")):
                dates[str(wave)] = day
        if {"org_unit", "go_live_wave"} <= cols and table not in ("metric_values", "metric_latest"):
            for unit, wave in conn.execute(sa.text(
                    f'select distinct org_unit, go_live_wave from analytics."{table}" where org_unit is not null')):
                pairs.setdefault(str(unit), set()).add(wave)
    paths: dict[str, tuple[str, ...]] = {}
    if "org_units" in tables:
        for unit, path in conn.execute(sa.text("select org_unit, path from analytics.org_units")):
            paths[str(unit)] = tuple(path or ())
    unit_waves = {u: str(next(iter(w))) for u, w in pairs.items() if len(w) == 1 and None not in w}
    return values, definitions, Background(dates, unit_waves, paths)


def audit_connection(conn: Any, *, go_live_dates: Mapping[str, date] | None = None,
                     default_min_group_size: int = 5) -> AuditResult:
    """The audit of everything `conn` reads; `go_live_dates` adds public knowledge of go-live days."""
    values, definitions, background = load(conn)
    if go_live_dates:
        background = Background({**background.go_live_dates, **go_live_dates}, background.unit_waves,
                                background.unit_paths)
    return audit(values, metric_infos(definitions, default_min_group_size), background,
                 default_min_group_size=default_min_group_size)
