"""Every answer carries exactly one ``Date`` header; an endpoint's answers use its clock."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from chatport.local import Endpoint, LocalWorkspace

FIXED = 1_700_000_000
USER = {"role": "user", "content": "what time is it"}


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """This module's ``ws`` serves two endpoints: one on a fixed clock, one on now."""
    return {
        "endpoints": [
            Endpoint("claude-fixed", "reasoning", family="anthropic", fixed_created=FIXED),
            Endpoint("claude-now", "echo", family="anthropic"),
        ]
    }


def post(ws: LocalWorkspace, path: str, body: dict[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ws.token}"}
    return httpx.post(ws.url + path, json=body, headers=headers, timeout=10)


def date_of(response: httpx.Response) -> int:
    """The one ``Date`` header of ``response`` as Unix seconds."""
    dates = response.headers.get_list("date")
    assert len(dates) == 1, dates
    return int(parsedate_to_datetime(dates[0]).timestamp())


@pytest.mark.parametrize("stream", [False, True])
def test_chat_answer_is_dated_at_its_created(ws: LocalWorkspace, stream: bool) -> None:
    response = post(
        ws,
        "/serving-endpoints/claude-fixed/invocations",
        {"messages": [USER], "stream": stream},
    )
    assert response.status_code == 200
    assert date_of(response) == FIXED
    if not stream:
        assert response.json()["created"] == FIXED


@pytest.mark.parametrize("stream", [False, True])
def test_messages_and_responses_answers_use_the_endpoint_clock(
    ws: LocalWorkspace, stream: bool
) -> None:
    body = {"model": "claude-fixed", "max_tokens": 64, "messages": [USER], "stream": stream}
    assert date_of(post(ws, "/serving-endpoints/anthropic/v1/messages", body)) == FIXED
    answer = post(
        ws,
        "/serving-endpoints/open-responses",
        {"model": "claude-fixed", "input": "what time is it", "stream": stream},
    )
    assert date_of(answer) == FIXED
    if not stream:
        assert answer.json()["created_at"] == FIXED


def test_an_endpoints_refusal_uses_its_clock_too(ws: LocalWorkspace) -> None:
    body = {"model": "claude-fixed", "messages": [USER]}  # max_tokens is required
    refused = post(ws, "/serving-endpoints/anthropic/v1/messages", body)
    assert refused.status_code == 400
    assert date_of(refused) == FIXED


def test_other_answers_are_dated_now(ws: LocalWorkspace) -> None:
    before = int(time.time())
    answers = [
        post(ws, "/serving-endpoints/claude-now/invocations", {"messages": [USER]}),
        post(ws, "/serving-endpoints/no-such-endpoint/invocations", {"messages": [USER]}),
        httpx.get(ws.url + "/api/2.0/serving-endpoints", headers={"Authorization": "x"}),
        httpx.get(ws.url + "/.well-known/databricks-config"),
    ]
    after = int(time.time())
    for answer in answers:
        assert before <= date_of(answer) <= after, answer.request.url
    assert answers[0].json()["created"] in range(before, after + 1)
