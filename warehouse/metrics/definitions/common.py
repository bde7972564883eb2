"""SQL pieces shared by metric definitions, and the survey metrics."""

from __future__ import annotations

from warehouse.metrics.registry import Metric, register


def weeks_since_go_live(date_sql: str) -> str:
    """Whole weeks from the wave's go-live to `date_sql` (negative before it); needs `left join core.dim_wave w`."""
    return f"floor(({date_sql} - w.go_live_date) / 7.0)::int"


NET_EXPERIENCE_SCORE = register(Metric(
    id="net_experience_score",
    title="Net experience score",
    description=(
        "Share of agree/strongly agree answers minus share of disagree/strongly disagree answers over all "
        "agree/disagree items, neutral answers left out; -100 to +100 (as in the KLAS Arch Collaborative's "
        "Net EHR Experience Score)."),
    unit="score",
    numerator="answers 4-5 minus answers 1-2",
    denominator="answers 1, 2, 4 or 5 (neutral excluded)",
    better="higher",
    kinds=("form_response",),
    base_sql=f"""
        select i.week_start, {weeks_since_go_live("i.date")} as weeks_since_go_live,
               i.org_unit, i.staff_group, i.system, i.go_live_wave, i.staff_pseudonym as subject,
               case when i.answer >= 4 then 1 when i.answer <= 2 then -1 else 0 end as direction,
               (i.answer <> 3)::int as counted
        from analytics.form_response_items i
        left join core.dim_wave w using (go_live_wave)
    """,
    value_sql="100.0 * sum(direction) / nullif(sum(counted), 0)",
    numerator_sql="sum(direction)",
    denominator_sql="sum(counted)",
))
