"""What :meth:`chatport.Client.models` returns: :class:`ModelInfo`, one per serving endpoint.

Built from the raw serving-endpoint metadata a backend lists
(``GET /api/2.0/serving-endpoints``) without trusting its shape: a missing or odd field
becomes ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._family import Family, ModelProfile, ReasoningStyle, _first_entity, profile_from_metadata

__all__ = ["CHAT_TASKS", "ModelInfo", "model_info"]

#: Endpoint tasks that answer OpenAI-style chat completions: foundation and external
#: chat models (``llm/v1/chat``) and agents built on MLflow's ``ChatModel``
#: (``agent/v1/chat``). ``ChatAgent`` endpoints (``agent/v2/chat``, messages in and out)
#: and ``ResponsesAgent`` endpoints (``agent/v1/responses``) answer other shapes.
CHAT_TASKS: frozenset[str] = frozenset({"llm/v1/chat", "agent/v1/chat"})

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One serving endpoint, as :meth:`chatport.Client.models` lists it.

    ``name`` is the endpoint name (the ``model=`` of a call); ``task`` is its serving
    task, for example ``"llm/v1/chat"``; ``state`` is its readiness (``"READY"``,
    ``"NOT_READY"``); ``family`` is the model family (``openai``, ``anthropic``,
    ``google``, ``meta`` or ``other``); ``model`` is the underlying model's name;
    ``reasoning`` is how the family is asked to reason (``"thinking"``, ``"effort"``)
    or ``None``; ``endpoint_type`` is for example ``"FOUNDATION_MODEL_API"`` or
    ``"EXTERNAL_MODEL"``; ``external`` says whether an external provider serves it;
    ``gateway`` says whether the endpoint sits behind AI Gateway (its metadata carries an
    ``ai_gateway`` configuration: usage tracking, rate limits, guardrails, ...).
    Fields the workspace did not send (or sent in an unexpected shape) are ``None``.
    ``raw`` is the endpoint's metadata as listed (excluded from equality).
    """

    name: str
    task: str | None = None
    state: str | None = None
    family: Family = "other"
    model: str | None = None
    reasoning: ReasoningStyle = None
    endpoint_type: str | None = None
    external: bool = False
    gateway: bool = False
    raw: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)

    @property
    def is_chat(self) -> bool:
        """Whether the endpoint answers chat completions (its task is in :data:`CHAT_TASKS`)."""
        return self.task in CHAT_TASKS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field but ``raw``."""
        return {
            "name": self.name,
            "task": self.task,
            "state": self.state,
            "family": self.family,
            "model": self.model,
            "reasoning": self.reasoning,
            "endpoint_type": self.endpoint_type,
            "external": self.external,
            "gateway": self.gateway,
        }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _underlying_model(metadata: Mapping[str, Any], profile: ModelProfile) -> str | None:
    entity = _first_entity(metadata)
    if profile.external:
        return profile.model
    foundation = entity.get("foundation_model")
    if isinstance(foundation, Mapping) and _text(foundation.get("name")):
        return profile.model
    return _text(entity.get("entity_name"))  # a custom model: its registered model


def _behind_gateway(metadata: Mapping[str, Any]) -> bool:
    """Whether the metadata holds an AI Gateway configuration (a non-empty ``ai_gateway``)."""
    config = metadata.get("ai_gateway")
    return isinstance(config, Mapping) and bool(config)


def model_info(metadata: object) -> tuple[ModelInfo, ModelProfile] | None:
    """The :class:`ModelInfo` and :class:`ModelProfile` of one listed endpoint.

    ``None`` when ``metadata`` is not an object with a ``name``: such an entry cannot
    be queried.
    """
    if not isinstance(metadata, Mapping):
        return None
    name = _text(metadata.get("name"))
    if name is None:
        return None
    profile = profile_from_metadata(name, metadata)
    state = metadata.get("state")
    endpoint_type = _text(metadata.get("endpoint_type"))
    info = ModelInfo(
        name=name,
        task=_text(metadata.get("task")),
        state=_text(state.get("ready")) if isinstance(state, Mapping) else None,
        family=profile.family,
        model=_underlying_model(metadata, profile),
        reasoning=profile.reasoning,
        endpoint_type=endpoint_type,
        external=profile.external or endpoint_type == "EXTERNAL_MODEL",
        gateway=_behind_gateway(metadata),
        raw=MappingProxyType(dict(metadata)),
    )
    return info, profile
