"""``reasoning=``: validation, and its spelling per model family on the wire."""

from __future__ import annotations

from typing import Any

import pytest

from chatport import ChatRequest, InvalidRequestError, UnsupportedFeatureError
from chatport._family import profile_from_name
from chatport._reasoning import responses_reasoning
from chatport._wire.openai_shape import chat_body

CLAUDE = profile_from_name("databricks-claude-sonnet-4-5")
GPT = profile_from_name("databricks-gpt-oss-120b")
LLAMA = profile_from_name("databricks-meta-llama-3-3-70b-instruct")
GEMINI = profile_from_name("databricks-gemini-2-5-pro")


def body(profile: Any, **params: Any) -> dict[str, Any]:
    return chat_body(ChatRequest.build("hi", model=profile.endpoint, **params), profile, "rest")


@pytest.mark.parametrize(("level", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_claude_levels_become_thinking_budgets_with_room_to_answer(level: str, budget: int) -> None:
    sent = body(CLAUDE, reasoning=level)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert sent["max_tokens"] > budget
    assert "reasoning_effort" not in sent


def test_claude_takes_an_int_budget_below_max_tokens() -> None:
    sent = body(CLAUDE, reasoning=2000, max_tokens=3000)
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert sent["max_tokens"] == 3000


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"reasoning": 1023}, "at least 1024"),
        ({"reasoning": 2048, "max_tokens": 2048}, "below max_tokens"),
        ({"reasoning": "medium", "max_tokens": 500}, "below max_tokens"),
    ],
)
def test_claude_budgets_the_family_refuses(params: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match) as info:
        body(CLAUDE, **params)
    assert info.value.field == "reasoning"


@pytest.mark.parametrize("profile", [GPT, GEMINI])
def test_effort_families_take_reasoning_effort(profile: Any) -> None:
    sent = body(profile, reasoning="high")
    assert sent["reasoning_effort"] == "high"
    assert "thinking" not in sent
    assert body(profile, reasoning=True)["reasoning_effort"] == "medium"


def test_effort_families_refuse_a_token_budget() -> None:
    with pytest.raises(InvalidRequestError, match="effort level"):
        body(GPT, reasoning=4096)


def test_a_model_that_cannot_reason_is_refused() -> None:
    with pytest.raises(UnsupportedFeatureError, match="cannot be asked to reason") as info:
        body(LLAMA, reasoning="low")
    assert "meta family" in str(info.value)


@pytest.mark.parametrize("profile", [CLAUDE, GPT, LLAMA])
def test_false_and_none_send_nothing(profile: Any) -> None:
    for value in (False, None):
        sent = body(profile, reasoning=value)
        assert not {"thinking", "reasoning_effort", "reasoning"} & set(sent)


def test_raw_parameters_still_pass_through() -> None:
    raw = {"thinking": {"type": "enabled", "budget_tokens": 1500}}
    assert body(CLAUDE, extra=raw, max_tokens=2000)["thinking"] == raw["thinking"]


def test_reasoning_and_a_raw_parameter_together_are_ambiguous() -> None:
    with pytest.raises(InvalidRequestError, match="both ask for reasoning"):
        ChatRequest.build("hi", model="m", reasoning="low", extra={"reasoning_effort": "low"})


@pytest.mark.parametrize("value", ["max", 0, -5, 1.5, ["low"]])
def test_invalid_values(value: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        ChatRequest.build("hi", model="m", reasoning=value)
    assert info.value.field == "reasoning"


def test_responses_routes_take_effort() -> None:
    request = ChatRequest.build("hi", model=CLAUDE.endpoint, reasoning="low")
    assert responses_reasoning(request, CLAUDE, "responses") == {"reasoning": {"effort": "low"}}
    with pytest.raises(InvalidRequestError, match="effort level"):
        responses_reasoning(
            ChatRequest.build("hi", model=CLAUDE.endpoint, reasoning=2048), CLAUDE, "responses"
        )


def test_streams_ask_for_usage_only_where_the_family_needs_it() -> None:
    def streamed(profile: Any, **extra: Any) -> dict[str, Any]:
        request = ChatRequest.build("hi", model=profile.endpoint, stream=True, **extra)
        return chat_body(request, profile, "rest")

    assert streamed(GPT)["stream_options"] == {"include_usage": True}
    for profile in (CLAUDE, LLAMA, GEMINI):
        assert "stream_options" not in streamed(profile)
    mine = {"stream_options": {"include_usage": False}}
    assert streamed(GPT, extra=mine)["stream_options"] == {"include_usage": False}
    plain = ChatRequest.build("hi", model=GPT.endpoint)
    assert not plain.needs_profile
    assert "stream_options" not in chat_body(plain, GPT, "rest")
