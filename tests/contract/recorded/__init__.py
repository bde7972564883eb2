"""Recorded exchanges: requests and responses written from each vendor's documentation and published examples.

Each system has a folder holding `source.json` (the `sources:` entry, with `{root}` standing for the replay
server's address, the environment it needs and the events the connector must make of the responses) and one
JSON file per exchange:

    {"provenance": {"documentation": "<URL of the page or example>", "changes": "<what was changed>"},
     "request": {"method": "GET", "path": "<path below the API root>", "query": {"<name>": "<value>"}},
     "response": {"status": 200, "headers": {...}, "body": <JSON, or a string sent as it is>}}

`query` (and `form`, for form-encoded POST bodies) lists the parameters that must be present with those values;
parameters not listed may take any value, since cursors and times depend on when a test runs; a parameter
given as null must be absent. The documented
examples' identifiers, names and e-mail addresses are replaced by synthetic ones; no real staff data is held.

`RecordedApi` serves the exchanges: a request matching none is answered 404 and remembered, and every
exchange must have been asked for at least once, so a connector that asks for something the vendor's
documentation does not show, or ignores part of it, fails the replay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from simulator.server import Api, Request, Response

FOLDER = Path(__file__).parent


@dataclass
class Exchange:
    name: str
    provenance: dict[str, str]
    method: str
    path: str
    query: dict[str, str | None]
    form: dict[str, str]
    status: int
    headers: dict[str, str]
    body: Any
    served: int = 0

    def matches(self, request: Request) -> bool:
        if request.method != self.method or request.path != self.path:
            return False
        if any(request.arg(name) != value for name, value in self.query.items()):
            return False
        if self.form:
            sent = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
            return all(sent.get(name) == value for name, value in self.form.items())
        return True


@dataclass
class RecordedSystem:
    name: str
    source: dict[str, Any]
    env: dict[str, str]
    expect: list[dict[str, Any]]
    exchanges: list[Exchange] = field(default_factory=list)


def load(system: str) -> RecordedSystem:
    folder = FOLDER / system
    spec = json.loads((folder / "source.json").read_text(encoding="utf-8"))
    out = RecordedSystem(system, spec["source"], spec.get("env", {}), spec["expect"])
    for path in sorted(folder.glob("*.json")):
        if path.name == "source.json":
            continue
        raw = json.loads(path.read_text(encoding="utf-8"))
        provenance = raw["provenance"]
        assert provenance.get("documentation", "").startswith("https://") and provenance.get("changes"), \
            f"{path}: provenance needs the documentation URL and what was changed"
        req, resp = raw["request"], raw["response"]
        out.exchanges.append(Exchange(path.stem, provenance, req.get("method", "GET"), req["path"],
                                      {k: None if v is None else str(v) for k, v in req.get("query", {}).items()},
                                      {k: str(v) for k, v in req.get("form", {}).items()},
                                      resp.get("status", 200), resp.get("headers", {}), resp["body"]))
    return out


def systems() -> list[str]:
    return sorted(p.parent.name for p in FOLDER.glob("*/source.json"))


class RecordedApi(Api):
    """Answers each request with the first recorded exchange it matches; remembers the ones it could not."""

    def __init__(self, prefix: str, exchanges: list[Exchange]) -> None:
        super().__init__()
        self.prefix, self.exchanges = prefix, exchanges
        self.unmatched: list[str] = []

    def handle(self, request: Request) -> Response:
        for exchange in self.exchanges:
            if exchange.matches(request):
                exchange.served += 1
                body = exchange.body if not isinstance(exchange.body, str) else exchange.body.encode()
                content_type = exchange.headers.get("Content-Type", "application/json")
                headers = {k: v for k, v in exchange.headers.items() if k != "Content-Type"}
                return Response(exchange.status, body, headers, content_type=content_type)
        query = "&".join(f"{k}={v[0]}" for k, v in sorted(request.query.items()))
        self.unmatched.append(f"{request.method} {request.path}?{query}")
        return Response(404, {"error": "no recorded exchange for this request"})
