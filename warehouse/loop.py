"""After each metrics refresh: benefit statuses, SPC charts and alert rules (the alert → action loop).

The register's statuses are appended to core.benefit_status, alert rules (settings.metrics.alert_rules_file)
open, update and resolve alerts in core.alerts, and new alerts go to the Kafka alerts topic. core.metric_spc is
rewritten with every weekly series as an XmR chart (warehouse/spc_store.py). Analysts read analytics.benefits,
analytics.metric_spc, analytics.alerts and analytics.actions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError

from foundation.errors import UserError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def schema_hint() -> Iterator[None]:
    """A warehouse migrated before the loop's tables and views existed: say how to fix it."""
    try:
        yield
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42P01":  # undefined_table
            raise UserError(f"the warehouse schema is out of date ({str(exc.orig).splitlines()[0]}): "
                            "run `realise db upgrade`") from None
        raise


def after_refresh(engine: Engine, settings: Any, result: Any) -> dict[str, Any]:
    """Evaluate benefits and alert rules against the refreshed metrics; counts of what happened."""
    from warehouse.alerts import evaluate_rules, publish_alerts, rules_for
    from warehouse.benefits import evaluate_benefits, known_metrics
    from warehouse.spc_store import write_spc

    refresh_id = getattr(result, "refresh_id", None)
    rules = rules_for(settings)  # a broken rules file fails before anything is written
    with schema_hint():
        statuses = evaluate_benefits(engine, refresh_id=refresh_id)
        spc = write_spc(engine, known_metrics(), refresh_id=refresh_id)
        evaluation = evaluate_rules(engine, rules)
    published = publish_alerts(settings, evaluation.opened)
    by_status: dict[str, int] = {}
    for s in statuses:
        by_status[s["status"]] = by_status.get(s["status"], 0) + 1
    counts = {"benefits": len(statuses), "benefit_status": by_status, "alert_rules": len(rules),
              "alerts_opened": len(evaluation.opened), "alerts_updated": evaluation.updated,
              "alerts_resolved": evaluation.resolved, "alerts_open": evaluation.open,
              "alerts_published": published, **spc}
    log.info("after refresh %s: %s", refresh_id, counts)
    return counts
