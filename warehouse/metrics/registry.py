"""Every metric Realise computes: the definitions, registered as they are imported.

What a metric is, and the segment and grain vocabulary, live in metric.py, which the definitions import;
this module imports the definitions, so importing it (or calling `all_metrics`) registers every metric.
"""

from __future__ import annotations

import warehouse.metrics.definitions  # noqa: F401  (registers every metric)
from warehouse.metrics.metric import (
    GRAINS,
    REGISTRY,
    RESIDUAL,
    RESIDUAL_SEGMENTS,
    SEGMENTS,
    TRUST,
    Metric,
    partition_of,
    register,
)

__all__ = ["GRAINS", "REGISTRY", "RESIDUAL", "RESIDUAL_SEGMENTS", "SEGMENTS", "TRUST", "Metric", "all_metrics",
           "partition_of", "register"]


def all_metrics() -> dict[str, Metric]:
    """Every registered metric, by id."""
    return dict(REGISTRY)
