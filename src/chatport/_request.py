"""`ChatRequest`: one validated chat call, independent of any backend."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from ._convert import check_outgoing, coerce_messages
from ._errors import InvalidRequestError
from ._jsonvalue import check_json, encodable, json_path, json_problem
from ._reasoning import Reasoning, check_reasoning
from ._structured import OutputSpec, normalize_response_format
from ._suggest import did_you_mean
from ._types import FilePart, ImagePart, Message, TextPart

__all__ = [
    "APPS_PREFIX",
    "REQUEST_PARAMS",
    "ChatRequest",
    "app_name",
    "check_request_tags",
    "endpoint_name_problem",
    "merge_request_tags",
    "model_name_problem",
]

#: Parameters a caller may pass alongside ``messages`` and ``model``.
REQUEST_PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "n",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning",
    "extra",
    "request_tags",
    "cache",
)
_TOOL_CHOICES = frozenset({"none", "auto", "required"})


_NAME_FORBIDDEN = frozenset("/?#\\%")
_VALID_NAMES: set[str] = set()


def endpoint_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a serving-endpoint name in a URL path, or ``None`` if it can.

    A name is one path segment: non-empty, not ``.`` or ``..``, without ``/ ? # \\ %``,
    whitespace or control characters. Gateway names such as ``system.ai.gpt-5`` pass.
    """
    if name in _VALID_NAMES:
        return None
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "it is a relative path segment"
    for char in name:
        if char in _NAME_FORBIDDEN:
            return f"it contains {char!r}; an endpoint name is a single path segment"
        if char.isspace() or not char.isprintable():
            return "it contains whitespace or control characters"
    if len(_VALID_NAMES) < 256:  # a program uses a handful of endpoints: remember them
        _VALID_NAMES.add(name)
    return None


#: The prefix of a model that names an agent on Databricks Apps: ``apps/<app name>``.
APPS_PREFIX = "apps/"


def app_name(model: str) -> str | None:
    """The app ``model`` names (``"apps/NAME"`` gives ``NAME``), or ``None`` for an endpoint."""
    return model[len(APPS_PREFIX) :] if model.startswith(APPS_PREFIX) else None


def model_name_problem(model: str) -> str | None:
    """Why ``model`` cannot be sent, or ``None`` if it can: a serving-endpoint name
    (:func:`endpoint_name_problem`), or ``apps/`` and one app name, the only form with a
    ``/`` (an agent on Databricks Apps, which the ``responses`` backend reaches)."""
    name = app_name(model)
    if name is None:
        problem = endpoint_name_problem(model)
        return None if problem is None else f"not a valid endpoint name: {problem}"
    problem = endpoint_name_problem(name)
    if problem is None:
        return None
    problem = problem.replace("an endpoint name", "an app name")
    return f"not a valid app name in {model!r} (apps/<app name>): {problem}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat request.

    Build one with :meth:`build`, which accepts OpenAI-style dicts for the messages.
    ``extra`` is passed through to the backend as additional body fields.

    ``response_format`` also takes a bare JSON schema or a pydantic model class; it is
    stored as the wire ``json_schema`` format, and ``output`` keeps the schema (and the
    class) the answer is validated against. ``reasoning`` is ``"low"``, ``"medium"``,
    ``"high"``, an int token budget, or ``False``; each backend spells it the way the
    endpoint's model family takes it. ``request_tags`` (string keys and values) are sent
    in a header for Unity AI Gateway's usage tracking, never in the body. ``cache=True``
    asks for prompt caching up to the last message (a breakpoint there, besides any
    ``cache=True`` on a message or text part); see :attr:`wants_cache`.
    """

    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] | None = None
    n: int | None = None
    tools: tuple[Mapping[str, Any], ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    response_format: Mapping[str, Any] | None = None
    stream: bool = False
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    reasoning: Reasoning = None
    request_tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cache: bool = False
    output: OutputSpec | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _normalize(self)
        _validate(self)

    @classmethod
    def build(
        cls, messages: object, *, model: str, stream: bool = False, **params: Any
    ) -> ChatRequest:
        """Validate the caller's messages and parameters into a request.

        Unknown parameters raise :class:`InvalidRequestError` with a suggestion.
        """
        for name in params:
            if name not in REQUEST_PARAMS:
                hint = did_you_mean(name, REQUEST_PARAMS)
                raise InvalidRequestError(
                    f"unknown parameter{hint}; put backend-specific fields in extra={{...}}",
                    field=name,
                )
        return cls(model=model, messages=messages, stream=stream, **params)  # type: ignore[arg-type]

    def replace(self, **changes: Any) -> ChatRequest:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def needs_tools(self) -> bool:
        """Whether the request uses tools."""
        return bool(self.tools) or self.tool_choice is not None

    @property
    def needs_profile(self) -> bool:
        """Whether the wire body depends on what the endpoint is (its model family).

        Streams do (usage must be asked for on some families), and so do ``reasoning=``
        and prompt caching (:attr:`wants_cache`) and media (:attr:`has_media`); a plain
        call does not, so it costs no metadata lookup.
        """
        return (
            self.stream or self.reasoning not in (None, False) or self.wants_cache or self.has_media
        )

    @cached_property
    def has_media(self) -> bool:
        """Whether a message carries an image or a file (sent and checked per family).

        Worked out once per request (a request is immutable), like :attr:`wants_cache`.
        """
        return any(
            isinstance(part, ImagePart | FilePart)
            for message in self.messages
            if type(message.content) is tuple
            for part in message.content
        )

    @cached_property
    def wants_cache(self) -> bool:
        """Whether the call asks for prompt caching: ``cache=True``, or a breakpoint
        (``cache=True``) on a message or a text part."""
        if self.cache:
            return True
        for message in self.messages:
            if message.cache:
                return True
            if isinstance(message.content, tuple) and any(
                isinstance(part, TextPart) and part.cache for part in message.content
            ):
                return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI chat-completions body (without ``model`` and ``stream``).

        Only parameters that were set appear; ``extra`` is merged last.
        """
        body: dict[str, Any] = {"messages": [m.to_dict() for m in self.messages]}
        for name in ("max_tokens", "temperature", "top_p", "n", "tool_choice"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.stop is not None:
            body["stop"] = list(self.stop)
        if self.tools is not None:
            body["tools"] = [dict(tool) for tool in self.tools]
        if self.response_format is not None:
            body["response_format"] = dict(self.response_format)
        body.update(self.extra)
        return body


def _normalize(request: ChatRequest) -> None:
    """Accept friendly input forms (lists, a bare stop string, dict messages) in place.

    What goes on the wire as JSON is checked first (before it is copied): valid UTF-8,
    no cycle, not too deep (see :func:`chatport._jsonvalue.json_problem`).
    """
    setattr_ = object.__setattr__
    if not isinstance(request.messages, tuple) or not all(
        isinstance(m, Message) for m in request.messages
    ):
        setattr_(request, "messages", coerce_messages(request.messages))
    else:
        for index, message in enumerate(request.messages):
            check_outgoing(message, f"messages[{index}]")
    _check_json_values(request)
    if isinstance(request.stop, str):
        setattr_(request, "stop", (request.stop,))
    elif isinstance(request.stop, list):
        setattr_(request, "stop", tuple(request.stop))
    if isinstance(request.tools, list):
        setattr_(request, "tools", tuple(copy.deepcopy(request.tools)))
    if request.output is None and request.response_format is not None:
        wire, output = normalize_response_format(request.response_format)
        setattr_(request, "response_format", wire)
        setattr_(request, "output", output)
    if request.extra is None:
        setattr_(request, "extra", MappingProxyType({}))
    elif isinstance(request.extra, dict):
        setattr_(request, "extra", MappingProxyType(copy.deepcopy(request.extra)))
    if request.request_tags is None:
        setattr_(request, "request_tags", MappingProxyType({}))
    elif isinstance(request.request_tags, Mapping):
        check_request_tags(request.request_tags)
        setattr_(request, "request_tags", MappingProxyType(dict(request.request_tags)))


def _validate(request: ChatRequest) -> None:
    if not isinstance(request.model, str) or not request.model:
        raise InvalidRequestError(
            "no model given: pass model=..., set CHATPORT_MODEL, or set model in the config",
            field="model",
        )
    problem = model_name_problem(request.model)
    if problem is not None:
        raise InvalidRequestError(problem, field="model")
    if not isinstance(request.messages, tuple) or not request.messages:
        raise InvalidRequestError("at least one message is required", field="messages")
    for index, message in enumerate(request.messages):
        if not isinstance(message, Message):
            raise InvalidRequestError("expected a Message", field=f"messages[{index}]")
    _check_int(request.max_tokens, "max_tokens")
    _check_int(request.n, "n")
    _check_range(request.temperature, "temperature", 0.0, 2.0)
    _check_range(request.top_p, "top_p", 0.0, 1.0)
    stop = request.stop
    if stop is not None and (
        not isinstance(stop, tuple) or not all(isinstance(s, str) for s in stop)
    ):
        raise InvalidRequestError("must be a string or a list of strings", field="stop")
    _check_tools(request)
    if request.response_format is not None and (
        not isinstance(request.response_format, Mapping)
        or not isinstance(request.response_format.get("type"), str)
    ):
        raise InvalidRequestError(
            'must be a dict with a "type", e.g. {"type": "json_object"}', field="response_format"
        )
    if not isinstance(request.stream, bool):
        raise InvalidRequestError("must be a bool", field="stream")
    if not isinstance(request.extra, Mapping):
        raise InvalidRequestError("must be a dict", field="extra")
    if not isinstance(request.cache, bool):
        raise InvalidRequestError(
            f"must be a bool, not {type(request.cache).__name__}", field="cache"
        )
    if not isinstance(request.request_tags, Mapping):
        raise InvalidRequestError(
            f"must be a dict of strings, not {type(request.request_tags).__name__}",
            field="request_tags",
        )
    check_reasoning(request.reasoning, request.extra)
    if not request.extra:
        return
    clashes = sorted(set(request.extra) & {"messages", "model", "stream", *REQUEST_PARAMS})
    if clashes:
        raise InvalidRequestError(
            f"{clashes[0]!r} is a request parameter; pass it as {clashes[0]}=... instead",
            field=f"extra.{clashes[0]}",
        )


def _check_json_values(request: ChatRequest) -> None:
    """The JSON parameters (``stop``, ``tools``, ``tool_choice``, ``extra``) can be sent.

    Values of the wrong shape are left to :func:`_validate`, which names what it expects.
    ``response_format`` is checked where it is read (:func:`normalize_response_format`).
    """
    stop = request.stop
    if isinstance(stop, str) and not encodable(stop):
        check_json(stop, "stop")
    elif isinstance(stop, list | tuple):  # of strings, or _validate says so
        for index, text in enumerate(stop):
            if isinstance(text, str) and not encodable(text):
                check_json(text, f"stop[{index}]")
    tools = request.tools
    if isinstance(tools, list | tuple):
        for index, tool in enumerate(tools):
            if isinstance(tool, Mapping):
                _check_tool_json(tool, f"tools[{index}]")
    if isinstance(request.tool_choice, Mapping):
        check_json(request.tool_choice, "tool_choice")
    if isinstance(request.extra, Mapping) and request.extra:
        _check_extra_json(request.extra)


def check_request_tags(tags: Mapping[Any, Any]) -> None:
    """Every request tag is a non-empty string key with a string value, valid UTF-8."""
    for key, value in tags.items():
        if type(key) is not str:
            raise InvalidRequestError(
                f"keys must be strings, not {type(key).__name__}", field="request_tags"
            )
        where = f"request_tags[{json.dumps(key)}]"
        if not key:
            raise InvalidRequestError("a tag's key may not be empty", field=where)
        if not encodable(key):
            check_json(key, where)
        if type(value) is not str:
            raise InvalidRequestError(f"must be a string, not {type(value).__name__}", field=where)
        if not encodable(value):
            check_json(value, where)


def merge_request_tags(configured: object, call: object) -> object:
    """The call's tags merged over the configured ones key by key (the call wins).

    A call value that is not a mapping is returned as it is, for the request to refuse.
    """
    if not configured or not isinstance(configured, Mapping):
        return call
    if call is None:
        return configured
    if not isinstance(call, Mapping):
        return call
    return {**configured, **call}


def _check_tool_json(tool: Mapping[str, Any], where: str) -> None:
    """A tool can be sent; a schema nested too deeply is named as the schema."""
    problem = json_problem(tool)
    if problem is None:
        return
    function = tool.get("function")
    if not problem[0] and isinstance(function, Mapping) and "parameters" in function:
        check_json(function["parameters"], f"{where}.function.parameters")
    raise InvalidRequestError(problem[1], field=where + json_path(problem[0]))


def _check_extra_json(extra: Mapping[str, Any]) -> None:
    """Every ``extra`` value must be JSON the wire can carry; the field names its key."""
    for key, value in extra.items():
        if type(key) is not str or not encodable(key):
            problem = json_problem({key: None})
            assert problem is not None
            raise InvalidRequestError(problem[1], field="extra" + json_path(problem[0]))
        problem = json_problem(value)
        if problem is not None:
            inside, reason = json_path(problem[0]).lstrip("."), problem[1]
            raise InvalidRequestError(
                f"at {inside}: {reason}" if inside else reason, field=f"extra.{key}"
            )


def _check_int(value: object, name: str) -> None:
    if value is None:
        return
    if not _is_int(value):
        raise InvalidRequestError(f"must be an integer, not {type(value).__name__}", field=name)
    if value < 1:  # type: ignore[operator]
        raise InvalidRequestError(f"must be at least 1, got {value}", field=name)


def _check_range(value: object, name: str, low: float, high: float) -> None:
    if value is None:
        return
    if not _is_number(value):
        raise InvalidRequestError(f"must be a number, not {type(value).__name__}", field=name)
    if not low <= value <= high:  # type: ignore[operator]
        raise InvalidRequestError(f"must be between {low:g} and {high:g}, got {value}", field=name)


def _check_tools(request: ChatRequest) -> None:
    if request.tools is not None:
        if not isinstance(request.tools, tuple):
            raise InvalidRequestError("must be a list of tool dicts", field="tools")
        for index, tool in enumerate(request.tools):
            where = f"tools[{index}]"
            if not isinstance(tool, Mapping) or tool.get("type") != "function":
                raise InvalidRequestError(
                    'must be {"type": "function", "function": {...}}', field=where
                )
            function = tool.get("function")
            if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
                raise InvalidRequestError("needs function.name", field=f"{where}.function")
    choice = request.tool_choice
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        return
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        return
    raise InvalidRequestError(
        'must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}',
        field="tool_choice",
    )
