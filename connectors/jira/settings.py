"""Jira Service Management search endpoint, defaults and the `jira` options (field mapping, status rules)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.core.stream import Options
from schemas.events import TicketStatus

SEARCH_PATH = "rest/api/2/search"  # Jira Data Center and Server; removed from Jira Cloud in 2025
SEARCH_JQL_PATH = "rest/api/2/search/jql"  # Jira Cloud's enhanced search (v2 field formats, token paging)
MAX_RESULTS = 100  # Jira returns at most 100 issues a page whatever maxResults asks for
JQL_TIME_FORMAT = "%Y/%m/%d %H:%M"  # JQL dates have minute precision

PRIORITIES = {"highest": 1, "blocker": 1, "critical": 1, "high": 2, "major": 2, "medium": 3, "low": 4, "minor": 4,
              "lowest": 5, "trivial": 5}
PENDING_STATUSES = ("waiting for customer", "pending", "on hold", "waiting for third party", "waiting for approval",
                    "awaiting customer")
CANCELLED_STATUSES = ("canceled", "cancelled", "declined", "won't do", "rejected", "withdrawn", "obsolete")

EXAMPLE_YAML = """\
sources:
  jira:
    type: jira
    base_url: https://yourtrust.atlassian.net
    auth:
      type: basic                  # the account's e-mail address and an API token
      username_env: JIRA_EMAIL
      password_env: JIRA_API_TOKEN
    page_size: 100                 # Jira caps a page at 100 issues
    options:
      jql: project = ITSD
      search_api: auto             # search_jql (Jira Cloud), search (Data Center/Server) or auto
      jql_timezone: Europe/London  # the integration account's profile time zone
      category_field: customfield_10010      # Customer Request Type (its name is the category)
      satisfaction_field: customfield_10034  # JSM satisfaction; default none
"""


class JiraOptions(Options):
    jql: str | None = Field("project = ITSD", description="JQL selecting the service desk's issues, without ORDER "
                                                          "BY: the connector adds the updated bound and the order")
    search_api: Literal["auto", "search_jql", "search"] = Field(
        "auto", description="search_jql: Jira Cloud's enhanced search (nextPageToken paging); search: Data Center "
                            "and Server (startAt paging); auto: search_jql where the site has it, else search")
    jql_timezone: str = Field("UTC", description="Time zone of the integration account's profile: Jira reads "
                                                 "JQL dates in it")
    requester_field: str = Field("reporter", description="User field whose emailAddress (or accountId when the "
                                                         "address is hidden) names the requester")
    category_field: str = Field("customfield_10010", description="Field naming the category: the JSM Customer "
                                "Request Type (its requestType.name), components (the first name), a select "
                                "list or a text field")
    satisfaction_field: str | None = Field(None, description="JSM Satisfaction field (customfield_10xxx) holding "
                                                             "{rating: 1-5}; default none")
    reopen_count_field: str | None = Field(None, description="Number field counting reopens, if the site has one")
    statuses: dict[str, TicketStatus] = Field(
        default_factory=dict, description="Status name -> status, before the statusCategory rule (new -> new, "
                                          "indeterminate -> in_progress or pending, done -> resolved, closed "
                                          "or cancelled)")
    priorities: dict[str, int] = Field(default_factory=dict, description="Extra priority name -> 1..5")
    default_priority: int = Field(3, ge=1, le=5, description="For issues with no priority")
