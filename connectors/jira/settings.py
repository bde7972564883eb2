"""Jira Service Management search endpoint, defaults, the `jira` options (field mapping, status rules) and the
`jira_webhook` options (the same mapping, with Jira Cloud's webhook signing)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.core.stream import Options
from connectors.webhook.settings import WebhookTransport
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


class JiraMappingOptions(Options):
    """How an issue maps to a help-desk ticket; shared by the pull and the webhook, so both give one event."""

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


class JiraOptions(JiraMappingOptions):
    jql: str | None = Field("project = ITSD", description="JQL selecting the service desk's issues, without ORDER "
                                                          "BY: the connector adds the updated bound and the order")
    search_api: Literal["auto", "search_jql", "search"] = Field(
        "auto", description="search_jql: Jira Cloud's enhanced search (nextPageToken paging); search: Data Center "
                            "and Server (startAt paging); auto: search_jql where the site has it, else search")
    jql_timezone: str = Field("UTC", description="Time zone of the integration account's profile: Jira reads "
                                                 "JQL dates in it")


class JiraWebhookOptions(WebhookTransport, JiraMappingOptions):
    """A Jira Cloud admin webhook with a secret: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>` (no
    signed timestamp), each delivery named by `X-Atlassian-Webhook-Identifier`, the same on every retry."""

    pull_source: str | None = Field(None, description="Name of the `type: jira` source pulling the same site: "
                                                      "events carry its name, so a pushed and a pulled issue "
                                                      "version are one event (default: this source's name)")
    secret_env: str = Field("JIRA_WEBHOOK_SECRET", description="Environment variable holding the webhook's secret")
    signature_header: str = Field("X-Hub-Signature", description="Header carrying the signature")
    timestamp_header: str | None = Field(None, description="Jira signs the body alone")
    delivery_id_header: str | None = Field("X-Atlassian-Webhook-Identifier",
                                           description="Header with the delivery's id (kept on retries)")
    delivery_id_field: str | None = Field(None, description="Body path of the delivery id, if no header")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=16 * 1024 * 1024,
                                description="Larger bodies are refused (413) before they are read")
    replay_window_seconds: int = Field(86_400, ge=1, le=86_400,
                                       description="How long delivery ids are remembered: Jira retries a delivery "
                                                   "over hours, with the same identifier")


WEBHOOK_EXAMPLE_YAML = """\
sources:
  jira_push:                         # Jira POSTs to https://<receiver>/webhooks/jira_push
    type: jira_webhook
    options:
      pull_source: jira              # events carry the pull source's name: one event per issue version
      secret_env: JIRA_WEBHOOK_SECRET            # the secret set on the admin webhook in Jira
      category_field: customfield_10010          # as for the pull source
      satisfaction_field: customfield_10034
"""
