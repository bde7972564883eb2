"""Metric definitions, one module per source area; importing this package registers them all."""

from warehouse.metrics.definitions import common  # noqa: F401
