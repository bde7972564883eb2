"""Imports every connector package so each registers its `type` (see connectors.core.stream.register)."""

import connectors.csvdrop  # noqa: F401
import connectors.esr  # noqa: F401
import connectors.googleforms  # noqa: F401
import connectors.jira  # noqa: F401
import connectors.moodle  # noqa: F401
import connectors.msforms  # noqa: F401
import connectors.qualtrics  # noqa: F401
import connectors.servicenow  # noqa: F401
import connectors.webhook  # noqa: F401
import connectors.xapi  # noqa: F401
import connectors.zendesk  # noqa: F401
