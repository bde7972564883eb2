"""ServiceNow Table API endpoints, defaults and the `servicenow` options (field mapping with documented defaults)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.core.stream import Options
from schemas.events import TicketStatus

TABLE_API = "api/now/table/{table}"
MAX_PAGE_SIZE = 10_000  # an instance answers at most glide.json.query.max_records (10,000) rows per request
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # how the Table API writes and reads date-times (UTC for values)

# Incident state codes (choice values) and their labels, as `sysparm_display_value=true` shows them.
STATE_CODES: dict[str, TicketStatus] = {"1": "new", "2": "in_progress", "3": "pending", "6": "resolved",
                                        "7": "closed", "8": "cancelled"}
STATE_LABELS: dict[str, TicketStatus] = {"new": "new", "in progress": "in_progress", "on hold": "pending",
                                         "resolved": "resolved", "closed": "closed", "canceled": "cancelled",
                                         "cancelled": "cancelled"}

EXAMPLE_YAML = """\
sources:
  servicenow:
    type: servicenow
    base_url: https://yourtrust.service-now.com
    auth:
      type: basic                       # a read-only integration user whose time zone is UTC
      username_env: SERVICENOW_USER
      password_env: SERVICENOW_PASSWORD
    system: EPR                         # for callers the staff directory does not know
    page_size: 5000                     # up to 10000
    options:
      table: incident
      query: assignment_group.nameSTARTSWITHEPR   # optional encoded-query filter
      requester_field: caller_id.email  # or caller_id.user_name / caller_id.employee_number
      satisfaction_field: u_satisfaction          # default: none
"""


class ServiceNowOptions(Options):
    table: str = Field("incident", description="Table to read (incident, or a task table such as sc_req_item)")
    query: str | None = Field(None, description="Encoded-query conditions every read adds, e.g. "
                                                "'assignment_group.name=EPR Service Desk'")
    display_value: Literal["false", "true", "all"] = Field(
        "all", description="sysparm_display_value: 'all' gives codes and labels, so states map by code and "
                           "categories keep their labels")
    requester_field: str = Field("caller_id.email", description="Dot-walked field naming the requester; "
                                 "caller_id.user_name and caller_id.employee_number resolve through the directory")
    category_field: str = Field("category", description="Field whose label is the ticket's category")
    category_labels: dict[str, str] = Field(
        default_factory=dict, description="Choice value -> label, for display_value 'false' where categories "
                                          "arrive as values (inquiry) rather than labels (Inquiry / Help)")
    summary_field: str = "short_description"
    reopen_count_field: str | None = "reopen_count"
    satisfaction_field: str | None = Field(None, description="Field holding a 1-5 satisfaction score, e.g. a "
                                                             "custom u_satisfaction; default none")
    states: dict[str, TicketStatus] = Field(
        default_factory=dict, description="Extra state codes or labels -> status (1 New, 2 In Progress, 3 On Hold, "
                                          "6 Resolved, 7 Closed, 8 Canceled are known)")
    instance_timezone: str = Field("UTC", description="The integration user's time zone: display values "
                                                      "(display_value 'true') are written in it")
