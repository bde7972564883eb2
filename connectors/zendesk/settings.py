"""Zendesk Support endpoints (incremental export, satisfaction ratings, tickets by id), defaults and the
`zendesk` options."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from connectors.core.stream import Options
from schemas.events import TicketStatus

EXPORT_PATH = "api/v2/incremental/tickets/cursor.json"
TICKET_FIELD_PATH = "api/v2/ticket_fields/{id}.json"
SATISFACTION_PATH = "api/v2/satisfaction_ratings.json"
SHOW_MANY_PATH = "api/v2/tickets/show_many.json"
MAX_PER_PAGE = 1000
MAX_PAGE_SIZE = 100  # cursor pagination's page[size], and the ids show_many takes at once
SIDELOADS = "users,metric_sets"
RATED = "received"  # the satisfaction_ratings score filter for answered ratings: good or bad

STATUSES: dict[str, TicketStatus] = {"new": "new", "open": "open", "pending": "pending", "hold": "pending",
                                     "solved": "resolved", "closed": "closed", "deleted": "cancelled"}
PRIORITIES = {"urgent": 1, "high": 2, "normal": 3, "low": 4}

EXAMPLE_YAML = """\
sources:
  zendesk:
    type: zendesk
    base_url: https://yourtrust.zendesk.com
    auth:
      type: basic                       # API token auth: the agent's e-mail and an API token
      username_env: ZENDESK_EMAIL       # the connector sends it as {email}/token
      password_env: ZENDESK_API_TOKEN
    page_size: 1000                     # up to 1000
    max_retries: 8                      # the export allows 10 requests a minute; 429s wait for Retry-After
    options:
      category_field_id: 360012345678   # the Category drop-down (default: the ticket type)
      start_date: 2026-01-01T00:00:00Z  # where the first pull starts (default: the beginning)
      satisfaction_ratings: true        # also read /api/v2/satisfaction_ratings (admins may list them)
"""


class ZendeskOptions(Options):
    start_date: AwareDatetime | None = Field(None, description="Where the first pull starts; default the account's "
                                                               "first ticket")
    category_field_id: int | None = Field(None, description="Drop-down custom field naming the category; its option "
                                                            "tags are shown by their labels. Default: the ticket "
                                                            "type (question, incident, problem, task)")
    statuses: dict[str, TicketStatus] = Field(default_factory=dict, description="Extra status -> status (new, open, "
                                              "pending, hold, solved, closed and deleted are known)")
    default_priority: int = Field(3, ge=1, le=5, description="For tickets without a priority (Zendesk allows none)")
    exclude_deleted: bool = Field(False, description="Leave deleted tickets out of the export (default: a deleted "
                                                     "ticket is retracted, leaving views and metrics; excluded, it "
                                                     "stays in the warehouse as it was last exported)")
    satisfaction_ratings: bool = Field(
        True, description="Read the satisfaction ratings list (legacy CSAT) as its own stream, so a rating given or "
                          "changed after the ticket's last change reaches the ticket; the token's user must be "
                          "allowed to list ratings (admins are). "
                          "Off, ratings are only those the export's tickets carry")
