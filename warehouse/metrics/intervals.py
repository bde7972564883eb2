"""95% intervals of metric values, per cell, from the sums the cell keeps (each metric declares its kind).

wilson   A percentage of counts, value = 100 × numerator / denominator: Wilson's score interval for a binomial
         proportion p of n, (p + z²/2n ± z √(p(1-p)/n + z²/4n²)) / (1 + z²/n). It stays inside [0, 1] and
         keeps its coverage at 0 and n, where the textbook p ± z √(p(1-p)/n) collapses to a point.
net      A net score, value = 100 × mean of answers in {-1, 0, +1} (eNPS: promoters minus detractors; the net
         experience score: agree minus disagree). Rocks' adjusted Wald interval (The American Statistician,
         2016): 3 pseudo-answers are added, ¾ at +1, ¾ at -1 and 1½ at 0, then R ± z √var with R = Σx / Σw and
         var = Σ(x - R w)² / (Σw)² over the rows (x a row's net answers, w its answers), the ratio estimator's
         linearised variance. With one answer per row that is the trinomial variance, (share of non-zero
         answers - R²) / n, so the second moment Σx² (= promoters + detractors) is what the metric must keep;
         with several answers per row (a response's items, which are correlated) the rows are the units and
         Σxw and Σw² are kept too. Clipped to [-1, 1].
mean     A mean, value = Σx / n: Student's t interval, mean ± t(n-1) s / √n, s² = (Σx² - (Σx)²/n) / (n - 1);
         none below n = 2.
poisson  A count per exposure (tickets per 100 staff-weeks): the exact (Garwood) interval of a Poisson count k,
         χ²(2k, 2.5%) / 2 to χ²(2k + 2, 97.5%) / 2, over the exposure. Tickets come from people, some of whom
         raise several, so the count is somewhat overdispersed and the interval somewhat narrow.
none     No interval: medians, differences of counts, spreads between groups' means, and means whose rows are
         correlated scores of one assessment (which an interval treating them as independent would understate).

Every interval is on the estimate numerator / denominator; the value is scale × estimate plus a constant (the
readiness target), so the bounds are too. Computed from the same sums, an incremental and a full refresh give
the same interval.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from scipy import stats

from warehouse.metrics.metric import Metric

Z = float(stats.norm.ppf(0.975))  # 1.959964...
# What a cell's query returns for its interval, beyond value, numerator and denominator (interval_sql).
INTERVAL_COLUMNS = ("sum_x2", "sum_xw", "sum_w2", "scale")
Bounds = tuple[float, float]


def wilson(successes: float, trials: float, z: float = Z) -> Bounds | None:
    """Wilson's score interval of the proportion successes / trials."""
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(max(p * (1 - p), 0.0) / trials + z2 / (4 * trials * trials))
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def net(sum_x: float, sum_w: float, sum_x2: float, sum_xw: float | None = None, sum_w2: float | None = None,
        z: float = Z) -> Bounds | None:
    """Adjusted Wald interval of a net score Σx / Σw (answers in {-1, 0, +1}); rows of one answer each when
    Σxw and Σw² are not given (then they are Σx and Σw)."""
    if sum_w <= 0:
        return None
    if sum_xw is None or sum_w2 is None:
        sum_xw, sum_w2 = sum_x, sum_w
    # The pseudo-answers, one per row: ¾ at +1 and ¾ at -1 add nothing to Σx or Σxw.
    sum_w, sum_x2, sum_w2 = sum_w + 3, sum_x2 + 1.5, sum_w2 + 3
    r = sum_x / sum_w
    variance = max(sum_x2 - 2 * r * sum_xw + r * r * sum_w2, 0.0) / (sum_w * sum_w)
    half = z * math.sqrt(variance)
    return max(-1.0, r - half), min(1.0, r + half)


@functools.cache
def _t(df: int) -> float:
    return float(stats.t.ppf(0.975, df))


def mean(sum_x: float, n: float, sum_x2: float) -> Bounds | None:
    """Student's t interval of the mean Σx / n."""
    if n < 2:
        return None
    centre = sum_x / n
    variance = max(sum_x2 - sum_x * sum_x / n, 0.0) / (n - 1)
    half = _t(int(round(n)) - 1) * math.sqrt(variance / n)
    return centre - half, centre + half


@functools.cache
def _garwood(count: int) -> Bounds:
    low = 0.0 if count == 0 else float(stats.chi2.ppf(0.025, 2 * count)) / 2
    return low, float(stats.chi2.ppf(0.975, 2 * count + 2)) / 2


def poisson(count: float, exposure: float) -> Bounds | None:
    """Exact interval of the rate count / exposure, the count taken as Poisson."""
    if exposure <= 0 or count < 0:
        return None
    low, high = _garwood(int(round(count)))
    return low / exposure, high / exposure


def interval_sql(metric: Metric) -> tuple[str, ...]:
    """The aggregates a cell's interval reads beyond its numerator and denominator, as INTERVAL_COLUMNS
    ('null' where the metric has none): sums, so they decompose like the value's (components.py)."""
    return tuple(metric.render(e) for e in metric.interval_expressions)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def for_cell(metric: Metric, row: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(ci_low, ci_high) of a cell's value, from a row with value, numerator, denominator and INTERVAL_COLUMNS;
    (None, None) when the metric has no interval or the cell too little data for one."""
    value, num, den = _num(row["value"]), _num(row["numerator"]), _num(row["denominator"])
    if metric.interval == "none" or value is None or num is None or not den:
        return None, None
    sum_x2, sum_xw, sum_w2, scale = (_num(row[c]) for c in INTERVAL_COLUMNS)
    if metric.interval == "wilson":
        bounds = wilson(num, den)
    elif metric.interval == "poisson":
        bounds = poisson(num, den)
    elif sum_x2 is None:
        bounds = None
    elif metric.interval == "net":
        bounds = net(num, den, sum_x2, sum_xw, sum_w2)
    else:
        bounds = mean(num, den, sum_x2)
    if bounds is None or scale is None:
        return None, None
    offset = value - scale * num / den
    if abs(offset) <= 1e-9 * max(1.0, abs(value)):  # a plain scale: rounding, not a constant
        offset = 0.0
    low, high = offset + scale * bounds[0], offset + scale * bounds[1]
    return min(low, high), max(low, high)
