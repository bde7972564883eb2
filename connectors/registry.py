"""Imports every connector package so each registers its `type` (see connectors.core.stream.register)."""

import connectors.esr  # noqa: F401
