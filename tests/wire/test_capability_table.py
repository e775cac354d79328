"""The capability table of docs/gateway.md ("What each family gets, per route") is true.

Every cell is checked by a real call through the route's backend against the local
workspace: a "refused" cell must raise before anything is sent; any other cell must
reach the workspace, and every name the cell spells in backticks (``image_url``,
``file_data``, ``cache_control``, ...) must be in the body that was sent ("nothing
extra" means no ``cache_control`` in it); "header" must be the request-tags header.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import chatport
from chatport import FilePart, Message, TextPart
from chatport.backends.kit import REQUEST_TAGS_HEADER
from chatport.local import LocalWorkspace

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
HEADER = "| Family | Route (backends) |"
#: The endpoint of each family in the local workspace's default set.
ENDPOINTS = {
    "Claude": "databricks-claude-sonnet-4-5",
    "GPT": "databricks-gpt-5",
    "Gemini": "databricks-gemini-2-5-pro",
    "Llama": "databricks-meta-llama-3-3-70b-instruct",
}
#: The backend that takes each route.
BACKENDS = {
    "chat completions": "rest",
    "Responses": "responses",
    "Anthropic Messages": "anthropic",
    "Gemini API": "gemini",
}
#: The plugin package each plugin backend comes from.
PLUGINS = {"anthropic": "chatport_anthropic", "gemini": "chatport_gemini"}
PDF = b"%PDF-1.4 table"


def parts(document_url: str) -> dict[str, FilePart]:
    """A part of each media column; the document by URL is served on loopback."""
    return {
        "image": FilePart(data=b"\x89PNG\r\n\x1a\n-image", media_type="image/png"),
        "PDF document": FilePart(data=PDF, media_type="application/pdf"),
        "document by URL": FilePart(url=document_url, media_type="application/pdf"),
        "audio": FilePart(data=b"RIFF-audio-WAVE", media_type="audio/wav"),
        "video": FilePart(data=b"\x00\x00\x00\x18ftypmp42", media_type="video/mp4"),
    }


class _Document(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(PDF)))
        self.end_headers()
        self.wfile.write(PDF)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def document_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Document)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/a.pdf"
    finally:
        server.shutdown()
        server.server_close()


TAGS = {"table": "capabilities"}


def table() -> list[dict[str, str]]:
    lines = DOC.read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith(HEADER)))
    columns = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(
            dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True))
        )
    return rows


ROWS = table()


def backend_of(route: str) -> str | None:
    return next((b for name, b in BACKENDS.items() if route.startswith(name)), None)


def names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def call(ws: LocalWorkspace, backend: str, model: str, content: Any, **params: Any) -> Any:
    """The body the workspace received, or the error raised before anything was sent."""
    ws.clear_requests()
    message = Message("user", content)
    try:
        with chatport.Client(backend=backend, config={}, max_retries=0) as client:
            client.complete([message], model=model, **params)
    except chatport.ChatportError as exc:
        return exc
    sent = [r for r in ws.requests if r.method == "POST"]
    assert len(sent) == 1, [r.path for r in sent]
    return sent[0]


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {"log_bodies": True}


def test_the_table_has_every_family_and_route() -> None:
    assert {(row["Family"], backend_of(row["Route (backends)"])) for row in ROWS} >= {
        (family, backend)
        for family in ("Claude", "GPT", "Gemini", "Llama")
        for backend in ("rest", "responses")
    } | {("Claude", "anthropic"), ("Gemini", "gemini")}


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['Family']}-{r['Route (backends)'][:20]}")
def test_each_cell_is_what_is_sent(
    module_workspace: LocalWorkspace, document_url: str, row: dict[str, str]
) -> None:
    backend = backend_of(row["Route (backends)"])
    assert backend is not None, row["Route (backends)"]
    if backend in PLUGINS:
        pytest.importorskip(PLUGINS[backend])
    model = ENDPOINTS[row["Family"]]
    for column, part in parts(document_url).items():
        cell = row[column]
        outcome = call(module_workspace, backend, model, (TextPart("look"), part))
        if cell == "refused":
            assert isinstance(
                outcome, chatport.UnsupportedFeatureError | chatport.InvalidRequestError
            ), (
                column,
                outcome,
            )
            continue
        assert not isinstance(outcome, Exception), (column, outcome)
        body = json.dumps(outcome.body)
        for name in names(cell):
            assert f'"{name}"' in body, (column, name, body[:300])

    cached = call(module_workspace, backend, model, "x " * 50, cache=True)
    cell = row["`cache` / breakpoints"]
    if cell == "refused":
        assert isinstance(cached, chatport.UnsupportedFeatureError), cached
    else:
        assert not isinstance(cached, Exception), cached
        sent_cache = '"cache_control"' in json.dumps(cached.body)
        assert sent_cache is ("cache_control" in names(cell)), cell

    tagged = call(module_workspace, backend, model, "tag me", request_tags=TAGS)
    assert row["`request_tags`"] == "header"
    assert json.loads(tagged.headers[REQUEST_TAGS_HEADER.lower()]) == TAGS
