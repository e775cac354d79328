"""Local serving endpoints: which model answers, and which faults are injected."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .._errors import ConfigError
from .families import EXTERNAL_MODELS, FAMILIES, FOUNDATION_MODELS, PROVIDERS, Family, display_name

__all__ = ["DEFAULT_ENDPOINTS", "MODELS", "Endpoint", "Fault", "endpoints_from_table"]

ModelKind: TypeAlias = Literal["echo", "reasoning", "scripted"]
#: The local models an endpoint can serve.
MODELS: tuple[str, ...] = ("echo", "reasoning", "scripted")


@dataclass
class Fault:
    """One injected failure. Build them with the class methods.

    ``times`` limits the fault to its first N triggers (``None``: every call);
    ``probability`` makes it random (seeded, so runs repeat).
    """

    status: int | None = None
    times: int | None = None
    probability: float = 1.0
    retry_after: float | None = None
    latency: float = 0.0
    drop_after: int | None = None
    chunk_delay: float = 0.0
    body: Literal["garbage", "wrong_shape"] | None = None
    triggered: int = field(default=0, compare=False)

    @classmethod
    def rate_limit(cls, times: int | None = None, retry_after: float | None = 1) -> Fault:
        """429 ``REQUEST_LIMIT_EXCEEDED`` for the first ``times`` calls, or always."""
        return cls(status=429, times=times, retry_after=retry_after)

    @classmethod
    def error(
        cls,
        status: int,
        times: int | None = None,
        *,
        probability: float = 1.0,
        retry_after: float | None = None,
    ) -> Fault:
        """An error status (any 4xx or 5xx) with the Databricks error body."""
        if status == 503 and retry_after is None:
            retry_after = 1
        return cls(status=status, times=times, probability=probability, retry_after=retry_after)

    @classmethod
    def slow(cls, seconds: float, times: int | None = None) -> Fault:
        """Add ``seconds`` of latency before answering."""
        return cls(latency=seconds, times=times)

    @classmethod
    def drop_stream(cls, after_chunks: int, times: int | None = None) -> Fault:
        """Cut a streamed answer's connection after ``after_chunks`` chunks."""
        return cls(drop_after=after_chunks, times=times)

    @classmethod
    def slow_stream(cls, seconds_per_chunk: float, times: int | None = None) -> Fault:
        """Wait ``seconds_per_chunk`` between the chunks of a streamed answer."""
        return cls(chunk_delay=seconds_per_chunk, times=times)

    @classmethod
    def garbage(cls, times: int | None = None) -> Fault:
        """Answer 200 with a body that is not JSON."""
        return cls(body="garbage", times=times)

    @classmethod
    def wrong_shape(cls, times: int | None = None) -> Fault:
        """Answer 200 with JSON that is not a chat response."""
        return cls(body="wrong_shape", times=times)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str) -> Fault:
        """Build a fault from a TOML table such as ``{status = 429, times = 2}``."""
        known = {
            "status",
            "times",
            "probability",
            "retry_after",
            "latency",
            "drop_after",
            "chunk_delay",
            "body",
        }
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown fault key {unknown[0]!r}", key=where)
        body = table.get("body")
        if body not in (None, "garbage", "wrong_shape"):
            raise ConfigError(f"{where}.body: expected 'garbage' or 'wrong_shape'", key=where)
        return cls(**dict(table))


@dataclass
class Endpoint:
    """A local serving endpoint.

    ``model`` is ``echo`` (answers with the last user message), ``reasoning`` (a
    reasoning block with a signature, then the echo) or ``scripted`` (``rules`` first,
    then the ``replies`` queue, then ``"OK"``). Every model calls the first tool when the
    request offers tools. ``omit_usage`` and ``null_id`` mimic endpoints that leave
    usage out and send ``"id": null``; ``fixed_id`` and ``fixed_created`` make every
    answer carry the same id and timestamp (for comparing clients' results).

    ``family`` (``openai``, ``anthropic``, ``meta``, ``google``) makes the endpoint
    follow that provider's rules on the wire (stream usage, accepted reasoning
    parameters, Responses routes); ``None`` is a custom model endpoint, lenient as
    before. A ``reasoning`` model of family ``anthropic`` is *hybrid*: it reasons only
    when asked (``thinking`` on chat, ``reasoning.effort`` on Open Responses); in every
    other family it always reasons. ``foundation_model`` is the served model reported
    by the metadata API (default: the family's representative model) and ``external``
    reports an external-model endpoint of the family's provider instead.
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
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(
                f"endpoint {self.name!r}: unknown model {self.model!r}; "
                f"expected one of {', '.join(MODELS)}",
                key=f"endpoints.{self.name}.model",
            )
        where = f"endpoints.{self.name}"
        if self.family is not None and self.family not in FAMILIES:
            raise ConfigError(
                f"endpoint {self.name!r}: unknown family {self.family!r}; "
                f"expected one of {', '.join(FAMILIES)}",
                key=f"{where}.family",
            )
        if self.family is None and (self.foundation_model is not None or self.external):
            key = "external" if self.external else "foundation_model"
            raise ConfigError(
                f"endpoint {self.name!r}: {key} needs a family (custom endpoints have none)",
                key=f"{where}.{key}",
            )
        if not isinstance(self.external, bool):
            raise ConfigError(f"{where}.external: expected true or false", key=f"{where}.external")
        if self.foundation_model is not None and not isinstance(self.foundation_model, str):
            raise ConfigError(
                f"{where}.foundation_model: expected a string", key=f"{where}.foundation_model"
            )
        self.replies = deque(self.replies)

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


def endpoints_from_table(table: Mapping[str, Any], source: str) -> list[Endpoint]:
    """Endpoints from the ``[endpoints.NAME]`` tables of a local-workspace TOML file."""
    known = {
        "model",
        "served_model_name",
        "omit_usage",
        "null_id",
        "signature",
        "replies",
        "rules",
        "faults",
        "task",
        "fixed_id",
        "fixed_created",
        "family",
        "foundation_model",
        "external",
    }
    result = []
    for name, spec in table.items():
        where = f"endpoints.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected a table", path=source, key=where)
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}",
                path=source,
                key=f"{where}.{unknown[0]}",
            )
        kwargs = {k: v for k, v in spec.items() if k not in {"faults", "rules"}}
        rules = [(str(rule["match"]), str(rule["reply"])) for rule in spec.get("rules", [])]
        faults = [
            Fault.from_table(fault, f"{where}.faults[{index}]")
            for index, fault in enumerate(spec.get("faults", []))
        ]
        try:
            result.append(Endpoint(name, rules=rules, faults=faults, **kwargs))
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}", path=source, key=where) from None
    return result


def merge_endpoints(base: Iterable[Endpoint], extra: Iterable[Endpoint]) -> dict[str, Endpoint]:
    """Endpoints by name, ``extra`` replacing ``base`` entries of the same name."""
    merged = {endpoint.name: endpoint for endpoint in base}
    merged.update({endpoint.name: endpoint for endpoint in extra})
    return merged
