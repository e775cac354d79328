"""Local serving endpoints: which model answers, and which faults are injected."""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .._errors import ConfigError

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
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(
                f"endpoint {self.name!r}: unknown model {self.model!r}; "
                f"expected one of {', '.join(MODELS)}",
                key=f"endpoints.{self.name}.model",
            )
        self.replies = deque(self.replies)

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

    def info(self) -> dict[str, Any]:
        """The endpoint as the serving-endpoints API lists it."""
        entity = self.served_model_name or self.name
        return {
            "name": self.name,
            "id": f"local-{abs(hash(self.name)) % 10**12:012d}",
            "creator": "local@chatport",
            "creation_timestamp": 1700000000000,
            "last_updated_timestamp": 1700000000000,
            "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
            "task": self.task,
            "endpoint_type": "FOUNDATION_MODEL_API",
            "config": {
                "served_entities": [
                    {
                        "name": entity,
                        "foundation_model": {"name": entity, "display_name": entity},
                    }
                ]
            },
            "tags": [{"key": "chatport-local-model", "value": self.model}],
            "permission_level": "CAN_QUERY",
            "route_optimized": False,
        }


def _default_endpoints() -> list[Endpoint]:
    return [
        Endpoint("databricks-claude-sonnet-4-5", "echo"),
        Endpoint("databricks-gpt-5", "echo"),
        Endpoint("databricks-meta-llama-3-3-70b-instruct", "echo"),
        Endpoint("databricks-claude-3-7-sonnet", "reasoning"),
        Endpoint("databricks-gpt-oss-120b", "reasoning", signature=False),
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
