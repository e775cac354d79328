"""What each model family accepts and how it streams usage (docs/wire-facts.md#workspace-rules).

Every rule reads the endpoint's own ``family`` field; ``None`` (a custom model) is
lenient: it accepts every reasoning parameter and always streams usage.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from .endpoints import Endpoint
from .errors import WireError, bad_request, google_error, invalid_parameter

__all__ = [
    "EFFORTS",
    "UsageMode",
    "chat_reasons",
    "check_chat_family",
    "check_effort",
    "check_responses_family",
    "check_thinking",
    "responses_reasons",
    "stream_usage",
]

#: The accepted values of ``reasoning_effort`` and Responses ``reasoning.effort``.
EFFORTS: tuple[str, ...] = ("low", "medium", "high")
#: Where a chat stream reports usage: nowhere, on the finish chunk, on every chunk
#: (partial until the finish chunk), or in an extra ``"choices": []`` chunk.
UsageMode: TypeAlias = Literal["none", "last", "every", "separate"]

_MIN_BUDGET = 1024
_GEMINI_STREAM_OPTIONS = (
    'Invalid JSON payload received. Unknown name "stream_options" '
    "at 'generation_config': Cannot find field."
)


def _family_label(endpoint: Endpoint) -> str:
    return {"openai": "OpenAI", "anthropic": "Claude", "meta": "Llama", "google": "Gemini"}.get(
        endpoint.family or "", "custom"
    )


def _refuse(endpoint: Endpoint, parameter: str, hint: str = "") -> WireError:
    text = f"{parameter} is not supported by {_family_label(endpoint)} endpoint {endpoint.name!r}"
    return bad_request(f"{text}. {hint}".strip() if hint else f"{text}.")


def check_effort(value: Any, parameter: str) -> None:
    """Refuse a reasoning effort outside :data:`EFFORTS`."""
    if value not in EFFORTS:
        raise bad_request(f"{parameter}: must be one of {', '.join(EFFORTS)}, not {value!r}")


def check_thinking(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """Refuse a ``thinking`` parameter ``endpoint`` does not take, or a bad budget."""
    thinking = body.get("thinking")
    if thinking is None:
        return
    if endpoint.family is None:
        return
    if endpoint.family != "anthropic" or not endpoint.hybrid:
        hint = (
            "Only hybrid reasoning Claude models take thinking."
            if endpoint.family == "anthropic"
            else "Use reasoning_effort."
            if endpoint.family in ("openai", "google")
            else ""
        )
        raise _refuse(endpoint, "thinking", hint)
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return
    if kind != "enabled":
        raise bad_request("thinking.type: must be 'enabled' or 'disabled'")
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < _MIN_BUDGET:
        raise bad_request(
            f"thinking.budget_tokens: must be an integer of at least {_MIN_BUDGET}, not {budget!r}"
        )
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise bad_request("max_tokens: required when thinking is enabled")
    if budget >= max_tokens:
        raise bad_request(
            f"max_tokens must be greater than thinking.budget_tokens ({max_tokens} <= {budget})"
        )


def check_chat_family(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """Refuse what ``endpoint``'s family refuses in a validated chat body."""
    family = endpoint.family
    if family == "google" and "stream_options" in body:
        raise google_error(_GEMINI_STREAM_OPTIONS, "generation_config")
    if body.get("reasoning_effort") is not None and family in ("anthropic", "meta"):
        hint = "Use thinking with budget_tokens." if family == "anthropic" else ""
        raise _refuse(endpoint, "reasoning_effort", hint)
    check_thinking(endpoint, body)
    if family in ("anthropic", "meta", "google"):
        for index, tool in enumerate(body.get("tools") or []):
            if "strict" in tool["function"]:
                raise _refuse(endpoint, f"tools.{index}.function.strict")
    if family == "anthropic":
        for index, message in enumerate(body["messages"]):
            if "name" in message:
                raise _refuse(endpoint, f"messages.{index}.name")


def chat_reasons(endpoint: Endpoint, body: dict[str, Any]) -> bool:
    """Whether ``endpoint`` reasons on this (validated) chat body."""
    if endpoint.model != "reasoning":
        return False
    if endpoint.hybrid:
        thinking = body.get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") == "enabled"
    return True


def stream_usage(endpoint: Endpoint, body: dict[str, Any]) -> UsageMode:
    """Where a chat stream from ``endpoint`` reports usage for this body."""
    if endpoint.omit_usage:
        return "none"
    if endpoint.family == "openai":
        options = body.get("stream_options")
        wanted = isinstance(options, dict) and options.get("include_usage") is True
        return "separate" if wanted else "none"
    if endpoint.family in ("anthropic", "meta"):
        return "every"
    return "last"


def check_responses_family(endpoint: Endpoint, body: dict[str, Any], *, open_route: bool) -> None:
    """Refuse what a Responses route refuses for ``endpoint``.

    Facts: docs/wire-facts.md#responses-routes.
    """
    if not open_route and endpoint.family != "openai":
        raise bad_request(
            f"The Responses API passthrough supports OpenAI models only; {endpoint.name!r} "
            "is not one. Use /serving-endpoints/open-responses (Open Responses) instead."
        )
    previous = body.get("previous_response_id")
    if previous is not None:
        if open_route:
            raise invalid_parameter(
                "previous_response_id is not supported: Open Responses is stateless; "
                "send the whole conversation in input."
            )
        raise invalid_parameter(f"Previous response with id '{previous}' not found.")
    reasoning = body.get("reasoning")
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise bad_request("reasoning: must be an object")
    if reasoning.get("effort") is not None:
        check_effort(reasoning["effort"], "reasoning.effort")
        if endpoint.family == "meta" or (endpoint.family == "anthropic" and not endpoint.hybrid):
            raise _refuse(endpoint, "reasoning.effort")


def responses_reasons(endpoint: Endpoint, body: dict[str, Any]) -> bool:
    """Whether ``endpoint`` reasons on this (validated) Responses body."""
    if endpoint.model != "reasoning":
        return False
    if endpoint.hybrid:
        reasoning = body.get("reasoning")
        return isinstance(reasoning, dict) and reasoning.get("effort") is not None
    return True
