"""ServiceNow Table API endpoints, defaults and the `servicenow` options (field mapping with documented defaults)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator

from connectors.core.stream import Options
from connectors.servicenow.dates import DEFAULT_DISPLAY_FORMAT, strptime_format
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
      display_value: all                # labels and UTC values; 'true' needs date_format and time_zone
      requester_field: caller_id.email  # or caller_id.user_name / caller_id.employee_number
      satisfaction_field: u_satisfaction          # default: none
"""


class ServiceNowOptions(Options):
    table: str = Field("incident", description="Table to read (incident, or a task table such as sc_req_item)")
    query: str | None = Field(None, description="Encoded-query conditions every read adds, e.g. "
                                                "'assignment_group.name=EPR Service Desk'")
    display_value: Literal["false", "true", "all"] = Field(
        "all", description="sysparm_display_value: 'all' (recommended) gives each field's stored value and its "
                           "label, so dates are read in UTC, states map by code and categories keep their labels; "
                           "'true' gives labels only, with dates in the integration user's format and time zone "
                           "(set date_format and time_zone); 'false' gives stored values only (set "
                           "category_labels)")
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
    date_format: str = Field(
        DEFAULT_DISPLAY_FORMAT, description="display_value 'true': the integration user's date format and time "
        "format joined by a space, as SimpleDateFormat patterns (dd, MM, yyyy, HH, or hh with a, mm, ss), e.g. "
        "'dd/MM/yyyy HH:mm:ss' or 'MM-dd-yyyy hh:mm:ss a'; the instance default is 'yyyy-MM-dd HH:mm:ss'")
    time_zone: str = Field(
        "Europe/London", validation_alias=AliasChoices("time_zone", "instance_timezone"),
        description="display_value 'true': the integration user's time zone (IANA name), which display values "
                    "are written in; instance_timezone is the older name of this setting")

    @field_validator("date_format")
    @classmethod
    def _readable_pattern(cls, value: str) -> str:
        strptime_format(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone name, e.g. Europe/London or UTC") from None
        return value
