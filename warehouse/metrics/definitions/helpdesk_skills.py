"""Metric definitions (being filled in)."""
