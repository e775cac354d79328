"""Shared helpers of the fidelity tests: raw HTTP against the local workspace."""

from __future__ import annotations

import json
from typing import Any

import httpx

from chatport.local import LocalWorkspace

USER = {"role": "user", "content": "alpha beta gamma"}
CLAUDE = "databricks-claude-sonnet-4-5"
GPT = "databricks-gpt-5"
OSS = "databricks-gpt-oss-120b"
LLAMA = "databricks-meta-llama-3-3-70b-instruct"
GEMINI = "databricks-gemini-2-5-pro"
THINKING = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def post(ws: LocalWorkspace, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        ws.url + path, json=body, headers={"Authorization": f"Bearer {ws.token}"}, timeout=10
    )


def chat(ws: LocalWorkspace, name: str, **body: Any) -> httpx.Response:
    return post(ws, f"/serving-endpoints/{name}/invocations", {"messages": [USER], **body})


def chunks(ws: LocalWorkspace, name: str, **body: Any) -> list[dict[str, Any]]:
    response = chat(ws, name, stream=True, **body)
    assert response.status_code == 200, response.text
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def refused(response: httpx.Response, fragment: str, code: str = "BAD_REQUEST") -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == code
    assert fragment in response.json()["message"]
