"""Local serving endpoints: which model answers, and which faults are injected."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .._errors import ConfigError
from . import checks
from .agents import AGENT_TASKS
from .checks import Rule
from .families import EXTERNAL_MODELS, FAMILIES, FOUNDATION_MODELS, PROVIDERS, Family, display_name
from .faults import Fault
from .governance import (
    Budget,
    Guardrail,
    RateLimit,
    ServicePolicy,
    budget_rule,
    guardrails_rule,
    rate_limits_rule,
    service_policies_rule,
)

__all__ = [
    "DEFAULT_ENDPOINTS",
    "ENDPOINT_KEYS",
    "MODELS",
    "RULE_KEYS",
    "Endpoint",
    "Fault",
    "endpoints_from_table",
]

ModelKind: TypeAlias = Literal["echo", "reasoning", "scripted", "chat-agent", "responses-agent"]
#: The local models an endpoint can serve (the agents: :mod:`chatport.local.agents`).
MODELS: tuple[str, ...] = ("echo", "reasoning", "scripted", *AGENT_TASKS)
_LAST_DATE = 253402300799  # 9999-12-31T23:59:59Z: the last time an HTTP Date can carry


def _replies(value: Any, where: str, path: str | None) -> deque[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | deque):
        raise checks.expected("an array of strings", value, where, path)
    for index, reply in enumerate(value):
        if not isinstance(reply, str):
            raise checks.expected("a string", reply, f"{where}[{index}]", path)
    return deque(value)


def _rule_pairs(value: Any, where: str, path: str | None) -> list[tuple[str, str]]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise checks.expected("a list of (pattern, reply) pairs", value, where, path)
    pairs = []
    for index, pair in enumerate(value):
        item = f"{where}[{index}]"
        if isinstance(pair, str) or not isinstance(pair, list | tuple) or len(pair) != 2:
            raise checks.expected("a (pattern, reply) pair", pair, item, path)
        pattern = checks.pattern(pair[0], f"{item}[0]", path)
        if not isinstance(pair[1], str):
            raise checks.expected("a string", pair[1], f"{item}[1]", path)
        pairs.append((pattern, pair[1]))
    return pairs


def _faults(value: Any, where: str, path: str | None) -> list[Fault]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise checks.expected("a list of Fault objects", value, where, path)
    for index, fault in enumerate(value):
        if not isinstance(fault, Fault):
            raise checks.expected("a Fault", fault, f"{where}[{index}]", path)
    return value if isinstance(value, list) else list(value)


_RULES: dict[str, Rule] = {
    "model": checks.choice(MODELS, "model"),
    "served_model_name": checks.optional(checks.string),
    "omit_usage": checks.boolean,
    "null_id": checks.boolean,
    "signature": checks.boolean,
    "replies": _replies,
    "rules": _rule_pairs,
    "faults": _faults,
    "task": checks.string,
    "fixed_id": checks.optional(checks.string),
    "fixed_created": checks.optional(checks.integer(0, _LAST_DATE, "a Unix time in seconds")),
    "family": checks.optional(checks.choice(FAMILIES, "family")),
    "foundation_model": checks.optional(checks.string),
    "external": checks.boolean,
    "gateway": checks.boolean,
    "guardrails": guardrails_rule,
    "budget": budget_rule,
    "rate_limits": rate_limits_rule,
    "service_policies": service_policies_rule,
}
#: The keys of an ``[endpoints.NAME]`` table in a local-workspace file.
ENDPOINT_KEYS: tuple[str, ...] = tuple(_RULES)
#: The keys of one entry of an endpoint's ``rules`` array.
RULE_KEYS: tuple[str, ...] = ("match", "reply")
_CALLS = checks.integer(0)


@dataclass
class Endpoint:
    """A local serving endpoint.

    ``model`` is ``echo`` (answers with the last user message), ``reasoning`` (a
    reasoning block with a signature, then the echo) or ``scripted`` (``rules`` first,
    then the ``replies`` queue, then ``"OK"``). Every model calls the first tool when the
    request offers tools. ``chat-agent`` and ``responses-agent`` are agent endpoints
    (:mod:`chatport.local.agents`); their ``task`` defaults to their agent's task.
    ``omit_usage`` and ``null_id`` mimic endpoints that leave
    usage out and send ``"id": null``; ``fixed_id`` and ``fixed_created`` make every
    answer carry the same id and timestamp (for comparing clients' results).

    ``family`` (``openai``, ``anthropic``, ``meta``, ``google``) makes the endpoint
    follow that provider's rules on the wire (stream usage, accepted reasoning
    parameters, Responses routes); ``None`` is a custom model endpoint, lenient as
    before. A ``reasoning`` model of family ``anthropic`` is *hybrid*: it reasons only
    when asked (``thinking`` on chat, ``reasoning.effort`` on Open Responses); in every
    other family it always reasons. ``foundation_model`` is the served model reported
    by the metadata API (default: the family's representative model) and ``external``
    reports an external-model endpoint of the family's provider instead. ``gateway``
    says whether the endpoint sits behind AI Gateway: its metadata carries an
    ``ai_gateway`` configuration and the ``/ai-gateway/...`` routes serve it; when false,
    those routes answer ``404 ENDPOINT_NOT_FOUND`` for it, as a gateway that does not
    know the name does.

    ``guardrails``, ``budget``, ``rate_limits`` and ``service_policies`` are Unity AI
    Gateway governance, checked on every chat route (:mod:`chatport.local.governance`);
    in a file they are tables (``guardrails = [{stage = "input", action = "mask"}]``).

    Every field is checked on construction: a wrong type or value raises
    :class:`~chatport.ConfigError` naming the dotted key (``endpoints.NAME.fixed_created``),
    and ``rules`` patterns must compile.
    """

    name: str
    model: ModelKind = "echo"
    served_model_name: str | None = None
    omit_usage: bool = False
    null_id: bool = False
    signature: bool = True
    replies: deque[str] = field(default_factory=deque)
    rules: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    task: str = "llm/v1/chat"
    fixed_id: str | None = None
    fixed_created: int | None = None
    family: Family | None = None
    foundation_model: str | None = None
    external: bool = False
    gateway: bool = True
    guardrails: list[Guardrail] = field(default_factory=list)
    budget: Budget | None = None
    rate_limits: list[RateLimit] = field(default_factory=list)
    service_policies: list[ServicePolicy] = field(default_factory=list)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks.string(self.name, "Endpoint.name", None)
        where = checks.dotted("endpoints", self.name)
        if isinstance(self.model, str) and self.model not in MODELS:  # as `serve --endpoint` says
            raise ConfigError(
                f"endpoint {self.name!r}: unknown model {self.model!r}; "
                f"expected one of {', '.join(MODELS)}",
                key=checks.dotted(where, "model"),
            )
        for key, rule in _RULES.items():
            setattr(self, key, rule(getattr(self, key), checks.dotted(where, key), None))
        self.calls = _CALLS(self.calls, checks.dotted(where, "calls"), None)
        if self.model in AGENT_TASKS and self.task == "llm/v1/chat":
            self.task = AGENT_TASKS[self.model]  # an agent reports its own task
        if self.family is None and (self.foundation_model is not None or self.external):
            key = "external" if self.external else "foundation_model"
            raise ConfigError(
                f"{checks.dotted(where, key)}: {key} needs a family (custom endpoints have "
                f"none); set {checks.dotted(where, 'family')}",
                key=checks.dotted(where, key),
            )

    @property
    def hybrid(self) -> bool:
        """Whether the endpoint reasons only when the request asks (hybrid Claude)."""
        return self.model == "reasoning" and self.family == "anthropic"

    @property
    def served_model(self) -> str | None:
        """The foundation or external model behind the endpoint (``None``: custom)."""
        if self.family is None:
            return None
        if self.foundation_model is not None:
            return self.foundation_model
        return (EXTERNAL_MODELS if self.external else FOUNDATION_MODELS)[self.family]

    def enqueue(self, *replies: str) -> None:
        """Queue replies for a ``scripted`` endpoint."""
        with self._lock:
            self.replies.extend(replies)

    def scripted_reply(self, question: str) -> str:
        """The reply of a ``scripted`` endpoint to ``question``."""
        for pattern, reply in self.rules:
            if re.search(pattern, question):
                return reply
        with self._lock:
            return self.replies.popleft() if self.replies else "OK"

    def _served_entity(self) -> tuple[str | None, dict[str, Any]]:
        entity: dict[str, Any] = {"name": self.served_model_name or self.name}
        model = self.served_model
        if self.family is None or model is None:
            entity.update(entity_name=f"local.chatport.{self.name}", entity_version="1")
            return None, entity
        if self.external:
            entity["external_model"] = {
                "provider": PROVIDERS[self.family],
                "name": model,
                "task": "llm/v1/chat",
            }
            return "EXTERNAL_MODEL", entity
        entity["foundation_model"] = {"name": model, "display_name": display_name(model)}
        return "FOUNDATION_MODEL_API", entity

    def info(self) -> dict[str, Any]:
        """The endpoint as the serving-endpoints API lists it."""
        endpoint_type, entity = self._served_entity()
        info: dict[str, Any] = {
            "name": self.name,
            "id": f"local-{abs(hash(self.name)) % 10**12:012d}",
            "creator": "local@chatport",
            "creation_timestamp": 1700000000000,
            "last_updated_timestamp": 1700000000000,
            "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
            "task": self.task,
            "config": {"served_entities": [entity]},
            "tags": [{"key": "chatport-local-model", "value": self.model}],
            "permission_level": "CAN_QUERY",
            "route_optimized": False,
        }
        if endpoint_type is not None:
            info["endpoint_type"] = endpoint_type
        if self.gateway:
            info["ai_gateway"] = {"usage_tracking_config": {"enabled": True}}
        return info


def _default_endpoints() -> list[Endpoint]:
    def foundation(name: str, model: ModelKind, family: Family, **options: Any) -> Endpoint:
        return Endpoint(name, model, family=family, foundation_model=name, **options)

    return [
        foundation("databricks-claude-sonnet-4-5", "reasoning", "anthropic"),
        foundation("databricks-claude-3-7-sonnet", "reasoning", "anthropic"),
        foundation("databricks-gpt-5", "echo", "openai"),
        foundation("databricks-gpt-oss-120b", "reasoning", "openai", signature=False),
        foundation("databricks-meta-llama-3-3-70b-instruct", "echo", "meta"),
        foundation("databricks-gemini-2-5-pro", "echo", "google"),
        Endpoint("local-bare", "echo", omit_usage=True, null_id=True),
        Endpoint("local-scripted", "scripted"),
    ]


#: Names of the endpoints served when nothing is configured.
DEFAULT_ENDPOINTS: tuple[str, ...] = tuple(e.name for e in _default_endpoints())


def default_endpoints() -> list[Endpoint]:
    """A fresh copy of the default endpoint set."""
    return _default_endpoints()


def _rules_from_table(value: Any, where: str, path: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise checks.expected(
            'an array of tables like {match = "...", reply = "..."}', value, where, path
        )
    pairs = []
    for index, entry in enumerate(value):
        item = f"{where}[{index}]"
        rule = checks.table(entry, item, path, 'a table like {match = "...", reply = "..."}')
        for key in rule:
            if key not in RULE_KEYS:
                raise checks.unknown_key(key, RULE_KEYS, item, path)
        for key in RULE_KEYS:
            if key not in rule:
                raise ConfigError(f"{item}: missing {key!r}", path=path, key=f"{item}.{key}")
        reply = rule["reply"]
        if not isinstance(reply, str):
            raise checks.expected("a string", reply, f"{item}.reply", path)
        pairs.append((checks.pattern(rule["match"], f"{item}.match", path), reply))
    return pairs


def _faults_from_table(value: Any, where: str, path: str) -> list[Fault]:
    if not isinstance(value, list):
        raise checks.expected("an array of fault tables", value, where, path)
    return [Fault.from_table(fault, f"{where}[{index}]", path) for index, fault in enumerate(value)]


def endpoints_from_table(table: Any, source: str) -> list[Endpoint]:
    """Endpoints from the ``[endpoints.NAME]`` tables of a local-workspace TOML file.

    Every key and value is checked; a bad one raises :class:`~chatport.ConfigError` naming
    ``source`` and the dotted key (``endpoints.NAME.faults[0].status``).
    """
    tables = checks.table(table, "endpoints", source, "tables like [endpoints.NAME]")
    result = []
    for name, spec in tables.items():
        where = checks.dotted("endpoints", name)
        checks.string(name, where, source)
        checks.table(spec, where, source, f"a table like [{where}]")
        values: dict[str, Any] = {}
        for key, value in spec.items():
            dotted = checks.dotted(where, key)
            if key == "rules":
                values[key] = _rules_from_table(value, dotted, source)
            elif key == "faults":
                values[key] = _faults_from_table(value, dotted, source)
            elif key in _RULES:
                values[key] = _RULES[key](value, dotted, source)
            else:
                raise checks.unknown_key(key, ENDPOINT_KEYS, where, source)
        result.append(_build(name, values, source))
    return result


def _build(name: str, values: dict[str, Any], source: str) -> Endpoint:
    """The endpoint, its cross-field checks (a family for ``external``) naming the file."""
    try:
        return Endpoint(name, **values)
    except ConfigError as exc:
        if exc.path is not None:
            raise
        raise ConfigError(str(exc), path=source, key=exc.key) from None


def merge_endpoints(base: Iterable[Endpoint], extra: Iterable[Endpoint]) -> dict[str, Endpoint]:
    """Endpoints by name, ``extra`` replacing ``base`` entries of the same name."""
    merged = {endpoint.name: endpoint for endpoint in base}
    merged.update({endpoint.name: endpoint for endpoint in extra})
    return merged
