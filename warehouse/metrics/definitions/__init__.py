"""Metric definitions, one module per source area; importing this package registers them all."""

from warehouse.metrics.definitions import common, helpdesk_skills, survey_training  # noqa: F401
