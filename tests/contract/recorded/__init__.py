"""Recorded exchanges: requests and responses written from each vendor's documentation and published examples.

Each system has a folder holding `source.json` (the `sources:` entry, with `{root}` standing for the replay
server's address, the environment it needs and the events the connector must make of the responses) and one
JSON file per exchange:

    {"provenance": {"documentation": "<URL of the page or example>", "changes": "<what was changed>"},
     "request": {"method": "GET", "path": "<path below the API root>", "query": {"<name>": "<value>"}},
     "response": {"status": 200, "headers": {...}, "body": <JSON, or a string sent as it is>}}

`query` (and `form`, for form-encoded POST bodies, or `json`, for the top-level fields of a JSON body) lists the
parameters that must be present with those values; parameters not listed may take any value, since cursors and
times depend on when a test runs; a parameter given as null must be absent. A binary body the vendor sends as a
ZIP archive is written `"zip_of": {"<file name>": <JSON document>}` in place of `body`, and zipped when served.
A source that reads files rather than an API has one JSON file per file it reads instead:

    {"provenance": {...}, "file": {"name": "<file name>", "sheet": "<worksheet>", "rows": [[<cell>, ...], ...]}}

written out as an xlsx workbook for the pull, a cell `{"datetime": "<ISO local time>"}` as a date-time cell.
The documented
examples' identifiers, names and e-mail addresses are replaced by synthetic ones; no real staff data is held.

`RecordedApi` serves the exchanges: a request matching none is answered 404 and remembered, and every
exchange must have been asked for at least once, so a connector that asks for something the vendor's
documentation does not show, or ignores part of it, fails the replay.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
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
    form: dict[str, str | None]
    json_body: dict[str, Any]
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
        if self.json_body:
            try:
                posted = json.loads(request.body or b"null")
            except ValueError:
                return False
            return isinstance(posted, dict) and all(
                name not in posted if value is None else posted.get(name) == value
                for name, value in self.json_body.items())
        return True

    def payload(self) -> Any:
        """The body as served: JSON as it is, a string as its bytes, `zip_of` as a ZIP archive's bytes."""
        if isinstance(self.body, dict) and set(self.body) == {"zip_of"}:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, document in self.body["zip_of"].items():
                    archive.writestr(name, json.dumps(document))
            return buffer.getvalue()
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass
class RecordedFile:
    """A file a file-reading source is given, as the vendor's export writes it."""

    name: str
    provenance: dict[str, str]
    sheet: str
    rows: list[list[Any]]

    def write(self, folder: Path) -> Path:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = self.sheet
        for row in self.rows:
            sheet.append([datetime.fromisoformat(c["datetime"]) if isinstance(c, dict) else c for c in row])
        path = folder / self.name
        book.save(path)
        return path


@dataclass
class RecordedSystem:
    name: str
    source: dict[str, Any]
    env: dict[str, str]
    expect: list[dict[str, Any]]
    state: dict[str, dict[str, Any]] = field(default_factory=dict)  # stored state per stream, as a later pull has
    exchanges: list[Exchange] = field(default_factory=list)
    files: list[RecordedFile] = field(default_factory=list)


def load(system: str) -> RecordedSystem:
    folder = FOLDER / system
    spec = json.loads((folder / "source.json").read_text(encoding="utf-8"))
    out = RecordedSystem(system, spec["source"], spec.get("env", {}), spec["expect"], spec.get("state", {}))
    for path in sorted(folder.glob("*.json")):
        if path.name == "source.json":
            continue
        raw = json.loads(path.read_text(encoding="utf-8"))
        provenance = raw["provenance"]
        assert provenance.get("documentation", "").startswith("https://") and provenance.get("changes"), \
            f"{path}: provenance needs the documentation URL and what was changed"
        if "file" in raw:
            file = raw["file"]
            out.files.append(RecordedFile(file["name"], provenance, file.get("sheet", "Sheet1"), file["rows"]))
            continue
        req, resp = raw["request"], raw["response"]
        body = {"zip_of": resp["zip_of"]} if "zip_of" in resp else resp["body"]
        out.exchanges.append(Exchange(path.stem, provenance, req.get("method", "GET"), req["path"],
                                      {k: None if v is None else str(v) for k, v in req.get("query", {}).items()},
                                      {k: None if v is None else str(v) for k, v in req.get("form", {}).items()},
                                      dict(req.get("json", {})),
                                      resp.get("status", 200), resp.get("headers", {}), body))
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
                body = exchange.payload()
                content_type = exchange.headers.get("Content-Type", "application/json")
                headers = {k: v for k, v in exchange.headers.items() if k != "Content-Type"}
                return Response(exchange.status, body, headers, content_type=content_type)
        query = "&".join(f"{k}={v[0]}" for k, v in sorted(request.query.items()))
        self.unmatched.append(f"{request.method} {request.path}?{query}")
        return Response(404, {"error": "no recorded exchange for this request"})
