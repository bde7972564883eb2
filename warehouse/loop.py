"""After each metrics refresh: benefit statuses and alert rules (the alert → action loop)."""

from __future__ import annotations

from typing import Any


def after_refresh(engine: Any, settings: Any, result: Any) -> dict[str, Any]:
    """Evaluate benefits and alert rules against the refreshed metrics."""
    return {}
