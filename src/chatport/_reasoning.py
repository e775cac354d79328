"""``reasoning=``: one neutral control, spelled the way each model family takes it.

Databricks documents three spellings: Claude's hybrid models take
``thinking: {"type": "enabled", "budget_tokens": N}`` (N at least 1024 and below
``max_tokens``), GPT-5, gpt-oss and Gemini 2.5 take ``reasoning_effort``, and the
Responses routes take ``reasoning: {"effort": ...}``. A request the family cannot take
is refused here, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ._errors import InvalidRequestError, UnsupportedFeatureError

if TYPE_CHECKING:
    from ._family import ModelProfile
    from ._request import ChatRequest

__all__ = [
    "LEVELS",
    "MIN_THINKING_BUDGET",
    "THINKING_BUDGETS",
    "Reasoning",
    "chat_reasoning",
    "check_reasoning",
    "responses_reasoning",
]

Reasoning: TypeAlias = Literal["low", "medium", "high"] | int | bool | None
LEVELS: tuple[str, ...] = ("low", "medium", "high")
#: Claude's thinking budget for each level.
THINKING_BUDGETS: dict[str, int] = {"low": 1024, "medium": 4096, "high": 16384}
MIN_THINKING_BUDGET = 1024
#: Room left for the answer when ``max_tokens`` is not given and Claude thinks.
ANSWER_ROOM = 4096
#: Raw parameters that ``reasoning=`` would collide with.
RAW_PARAMETERS = ("thinking", "reasoning_effort", "reasoning")


def check_reasoning(value: object, extra: object) -> None:
    """Validate a ``reasoning=`` value (and that ``extra`` does not also set it raw)."""
    if value is None or isinstance(value, bool):
        pass
    elif isinstance(value, str):
        if value not in LEVELS:
            raise InvalidRequestError(
                f"must be one of {', '.join(LEVELS)}, an int token budget, or False; got {value!r}",
                field="reasoning",
            )
    elif isinstance(value, int):
        if value < 1:
            raise InvalidRequestError(
                f"a token budget must be positive, got {value}", field="reasoning"
            )
    else:
        raise InvalidRequestError(
            f"must be 'low', 'medium', 'high', an int budget or False, not {type(value).__name__}",
            field="reasoning",
        )
    if value not in (None, False) and isinstance(extra, Mapping):
        raw = [name for name in RAW_PARAMETERS if name in extra]
        if raw:
            raise InvalidRequestError(
                f"reasoning= and a raw {raw[0]!r} in extra both ask for reasoning; pass one",
                field="reasoning",
            )


def _level(value: Reasoning) -> str | None:
    if value is True:
        return "medium"
    return value if isinstance(value, str) else None


def _cannot_reason(profile: ModelProfile, backend: str) -> UnsupportedFeatureError:
    known = "" if profile.source == "metadata" else " (judged from its name)"
    return UnsupportedFeatureError(
        backend,
        "reasoning",
        (),
        message=(
            f"model {profile.endpoint!r} ({profile.family} family{known}) cannot be asked "
            "to reason; use a reasoning model, or pass the raw parameter in extra={...}"
        ),
    )


def _requested(request: ChatRequest, profile: ModelProfile, backend: str) -> bool:
    """Whether the request asks for reasoning; refuses a model that cannot reason."""
    if request.reasoning is None or request.reasoning is False:
        return False
    if profile.reasoning is None:
        raise _cannot_reason(profile, backend)
    return True


def chat_reasoning(request: ChatRequest, profile: ModelProfile, backend: str) -> dict[str, Any]:
    """The chat-completions fields that ask ``profile``'s model to reason as requested."""
    if not _requested(request, profile, backend):
        return {}
    value = request.reasoning
    level = _level(value)
    if profile.reasoning == "effort":
        if level is None:
            raise InvalidRequestError(
                f"{profile.endpoint!r} takes an effort level ('low', 'medium' or 'high'), "
                f"not a token budget ({value})",
                field="reasoning",
            )
        return {"reasoning_effort": level}
    budget = THINKING_BUDGETS[level] if level is not None else int(value or 0)
    if budget < MIN_THINKING_BUDGET:
        raise InvalidRequestError(
            f"Claude's thinking budget must be at least {MIN_THINKING_BUDGET} tokens, got {budget}",
            field="reasoning",
        )
    fields: dict[str, Any] = {"thinking": {"type": "enabled", "budget_tokens": budget}}
    if request.max_tokens is None:
        fields["max_tokens"] = budget + ANSWER_ROOM
    elif budget >= request.max_tokens:
        raise InvalidRequestError(
            f"Claude's thinking budget ({budget} tokens) must be below max_tokens "
            f"({request.max_tokens}); raise max_tokens",
            field="reasoning",
        )
    return fields


def responses_reasoning(
    request: ChatRequest, profile: ModelProfile, backend: str
) -> dict[str, Any]:
    """The Responses-API fields that ask for reasoning (``reasoning.effort``)."""
    if not _requested(request, profile, backend):
        return {}
    value = request.reasoning
    level = _level(value)
    if level is None:
        raise InvalidRequestError(
            f"the Responses API takes an effort level ('low', 'medium' or 'high'), not a "
            f"token budget ({value}); use a chat backend for a Claude thinking budget",
            field="reasoning",
        )
    return {"reasoning": {"effort": level}}
