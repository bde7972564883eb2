"""Go-live adoption: training readiness before each wave and help-desk demand after it."""

from __future__ import annotations

from collections import Counter

from reporting.charts import demand_chart, readiness_chart
from reporting.data import Cell, ReportData
from reporting.format import esc, fmt_value, fmt_week_index, value_html
from reporting.markup import empty, figure, section, small, table
from reporting.series import pick, pooled, segment_values

COVERAGE, GAP, DEMAND = "training_coverage", "training_readiness_gap", "tickets_per_100_staff"


def _by_index(cells: list[Cell]) -> dict[int, Cell]:
    return {c.period_index: c for c in cells if c.period_index is not None}


def readiness_target(cells: list[Cell]) -> float | None:
    """The readiness target the gap metric was computed against: coverage minus gap of the same cell."""
    gaps = {(c.segment_value, c.period_index): c.value for c in pick(cells, GAP) if c.value is not None}
    targets = Counter(round(c.value - gaps[(c.segment_value, c.period_index)], 6)
                      for c in pick(cells, COVERAGE)
                      if c.value is not None and (c.segment_value, c.period_index) in gaps)
    return targets.most_common(1)[0][0] if targets else None


def _cell_html(cell: Cell | None, min_n: int, unit: str, *, signed: bool = False) -> str:
    if cell is None:
        return value_html(None, False, min_n)
    return value_html(cell.value, cell.suppressed, min_n, unit, signed=signed)


def readiness_section(data: ReportData) -> str:
    title = "Training readiness by wave"
    waves = segment_values(data.readiness, "go_live_wave")
    if not waves:
        return section("readiness", title, empty("No training coverage by wave yet: load training records and "
                                                  "go-live dates, then run `realise metrics refresh`."))
    min_n = data.min_group(COVERAGE)
    target = readiness_target(data.readiness)
    coverage = {w: pick(data.readiness, COVERAGE, "go_live_wave", w) for w in waves}
    rows = []
    for wave in waves:
        cov, gap = _by_index(coverage[wave]), _by_index(pick(data.readiness, GAP, "go_live_wave", wave))
        latest = max(cov) if cov else None
        live = latest is not None and latest >= 0
        state = (f"live (now {esc(fmt_week_index(latest))})" if live
                 else f"not live yet (latest {esc(fmt_week_index(latest))})" if latest is not None else "")
        before = cov.get(-1) if live else None
        rows.append([
            esc(wave), state,
            _cell_html(before, min_n, "%") if live else small("not reached"),
            _cell_html(gap.get(-1), min_n, "percentage points", signed=True) if live else small("not reached"),
            _cell_html(cov.get(latest) if latest is not None else None, min_n, "%"),
            _cell_html(gap.get(latest) if latest is not None else None, min_n, "percentage points", signed=True),
        ])
    headers = ["Wave", "Go-live", "Trained the week before go-live", "Against target", "Trained, latest week",
               "Against target, latest"]
    chart = figure(readiness_chart(coverage, target, min_n, "chart-readiness"), "readiness",
                   "Share of staff in scope with required training completed, by week before go-live")
    target_text = f"the readiness target of {esc(fmt_value(target, '%', 0))}" if target is not None else \
        "the readiness target"
    intro = (f"Training coverage (staff in scope who completed a required course) in the weeks before each wave "
             f"goes live, against {target_text}. Week 0 is the go-live week; week \u22121 is the last week "
             "before it.")
    return section("readiness", title, [chart, table(headers, rows, numeric=(2, 3, 4, 5))], intro)


def demand_section(data: ReportData) -> str:
    title = "Help-desk demand since go-live"
    waves = segment_values(data.helpdesk, "go_live_wave")
    if not waves:
        return section("helpdesk", title, empty("No help-desk demand by wave yet: load tickets and go-live dates, "
                                                 "then run `realise metrics refresh`."))
    min_n = data.min_group(DEMAND)
    by_wave = {w: pick(data.helpdesk, DEMAND, "go_live_wave", w) for w in waves}
    chart = figure(demand_chart(by_wave, pick(data.helpdesk, DEMAND, "trust"), min_n, "chart-helpdesk"),
                   "helpdesk", "Help-desk tickets opened per 100 staff in scope, by week since go-live")
    rows = []
    for wave in waves:
        weeks = _by_index(by_wave[wave])
        before = pooled([c for k, c in weeks.items() if -4 <= k <= -1])
        after = {k: c for k, c in weeks.items() if k >= 0 and c.value is not None}
        peak = max(after.items(), key=lambda kc: kc[1].value or 0.0) if after else None
        latest = max(weeks) if weeks else None
        rows.append([
            esc(wave),
            value_html(before.value, before.suppressed, min_n),
            _cell_html(weeks.get(0), min_n, ""),
            f"{esc(fmt_value(peak[1].value, None))} {small(esc(fmt_week_index(peak[0])))}" if peak
            else small("not live yet"),
            f"{_cell_html(weeks.get(latest), min_n, '')} {small(esc(fmt_week_index(latest)))}"
            if latest is not None else value_html(None, False, min_n),
        ])
    headers = ["Wave", "4 weeks before go-live (mean)", "Go-live week", "Peak since go-live", "Latest week"]
    intro = ("Tickets opened per 100 staff in scope per week, counted from each wave's go-live week (week 0); "
             "the dotted line pools all waves. A spike at go-live that decays is expected; demand that stays "
             "high points at training or defects.")
    return section("helpdesk", title, [chart, table(headers, rows)], intro)
