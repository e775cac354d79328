"""What a serving endpoint is: its model family and how that family reasons.

chatport decides per endpoint what a real workspace needs: whether a stream must ask
for usage (``stream_options``), which Responses route serves it, and how ``reasoning=``
is spelled. It reads that from the endpoint's metadata
(``GET /api/2.0/serving-endpoints/{name}``: an external model's provider, a foundation
model's name) and, when the metadata cannot be read (a gateway name such as
``system.ai.gpt-5``, no permission, an old workspace), from the endpoint name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = [
    "Family",
    "ModelProfile",
    "ReasoningStyle",
    "profile_from_metadata",
    "profile_from_name",
]

Family: TypeAlias = Literal["openai", "anthropic", "google", "meta", "other"]
#: How a family is asked to reason: ``thinking`` budgets (Claude), ``effort`` levels
#: (GPT-5, gpt-oss, o-series, Gemini 2.5+), or ``None`` for models that cannot.
ReasoningStyle: TypeAlias = Literal["thinking", "effort"] | None

#: External-model providers as the serving API names them.
_PROVIDERS: dict[str, Family] = {
    "openai": "openai",
    "azure-openai": "openai",
    "anthropic": "anthropic",
    "google-cloud-vertex-ai": "google",
    "gemini": "google",
    "google": "google",
    "palm": "google",
}

_FAMILY_PATTERNS: tuple[tuple[Family, re.Pattern[str]], ...] = (
    ("anthropic", re.compile(r"claude")),
    ("google", re.compile(r"gemini|gemma")),
    ("meta", re.compile(r"llama")),
    ("openai", re.compile(r"gpt|(?:^|[-_./])o[134](?:$|[-_.])")),
)
#: Claude models with extended thinking: 3.7 Sonnet and every Claude 4 model.
_CLAUDE_THINKING = re.compile(r"claude-3-7|claude-(?:sonnet|opus|haiku)-4|claude-4")
_OPENAI_EFFORT = re.compile(r"gpt-5|gpt-oss|(?:^|[-_./])o[134](?:$|[-_.])")
_GEMINI_EFFORT = re.compile(r"gemini-(?:2[-.]5|[3-9])")


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What chatport knows about one endpoint.

    ``model`` is the underlying model name where the metadata gives one (else the
    endpoint name); ``source`` says whether the profile came from the endpoint's
    ``metadata`` or only from its ``name``. ``task`` is the endpoint's serving task
    from its metadata (``llm/v1/chat``; an agent's ``agent/v1/responses``,
    ``agent/v2/chat`` or ``agent/v1/chat``), ``None`` when unknown.
    """

    endpoint: str
    family: Family
    reasoning: ReasoningStyle
    model: str
    source: Literal["metadata", "name"]
    external: bool = False
    task: str | None = None

    @property
    def asks_for_stream_usage(self) -> bool:
        """Whether a stream must send ``stream_options.include_usage`` to get usage.

        OpenAI-family endpoints (foundation or external) report stream usage only on
        request; Claude and Llama send it unasked; Gemini refuses the option outright.
        """
        return self.family == "openai"


def _family_of_name(name: str) -> Family:
    lowered = name.lower()
    for family, pattern in _FAMILY_PATTERNS:
        if pattern.search(lowered):
            return family
    return "other"


def _reasoning_of(family: Family, model: str) -> ReasoningStyle:
    lowered = model.lower()
    if family == "anthropic":
        return "thinking" if _CLAUDE_THINKING.search(lowered) else None
    if family == "openai":
        return "effort" if _OPENAI_EFFORT.search(lowered) else None
    if family == "google":
        return "effort" if _GEMINI_EFFORT.search(lowered) else None
    return None


def profile_from_name(endpoint: str) -> ModelProfile:
    """The profile guessed from the endpoint name alone (the documented fallback)."""
    family = _family_of_name(endpoint)
    return ModelProfile(endpoint, family, _reasoning_of(family, endpoint), endpoint, "name")


def _first_entity(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    for holder in (metadata.get("config"), metadata.get("pending_config")):
        if isinstance(holder, Mapping):
            entities = holder.get("served_entities")
            if isinstance(entities, list) and entities and isinstance(entities[0], Mapping):
                return entities[0]
    return {}


def profile_from_metadata(endpoint: str, metadata: Mapping[str, Any]) -> ModelProfile:
    """The profile of ``endpoint`` from its serving-endpoint metadata.

    An external model is known by its provider (``amazon-bedrock`` by its
    ``bedrock_provider``) and a foundation model by its name. A custom model endpoint
    (neither) is family ``other``: it is not guessed from the endpoint name, since its
    metadata was read and says what it is.
    """
    entity = _first_entity(metadata)
    task = metadata.get("task") if isinstance(metadata.get("task"), str) else None
    external = entity.get("external_model")
    if isinstance(external, Mapping):
        model = str(external.get("name") or endpoint)
        provider = str(external.get("provider") or "").lower()
        if provider == "amazon-bedrock":
            bedrock = external.get("amazon_bedrock_config")
            if isinstance(bedrock, Mapping):
                provider = str(bedrock.get("bedrock_provider") or "").lower()
        family = _PROVIDERS.get(provider) or _family_of_name(model)
        return ModelProfile(
            endpoint, family, _reasoning_of(family, model), model, "metadata", True, task
        )
    foundation = entity.get("foundation_model")
    if isinstance(foundation, Mapping) and isinstance(foundation.get("name"), str):
        model = foundation["name"]
        family = _family_of_name(model)
        if family == "other" and isinstance(foundation.get("display_name"), str):
            family = _family_of_name(foundation["display_name"])
        return ModelProfile(
            endpoint, family, _reasoning_of(family, model), model, "metadata", task=task
        )
    return ModelProfile(endpoint, "other", None, endpoint, "metadata", task=task)
