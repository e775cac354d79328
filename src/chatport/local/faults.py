"""Injected failures: the :class:`Fault` an endpoint fires on inference calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import checks
from .checks import Rule

__all__ = ["FAULT_BODIES", "FAULT_KEYS", "Fault"]

#: What ``Fault.body`` can make a 200 answer: not JSON, or JSON that is not a response.
FAULT_BODIES: tuple[str, ...] = ("garbage", "wrong_shape")

_RULES: dict[str, Rule] = {
    "status": checks.optional(checks.integer(400, 599, "an HTTP error status")),
    "times": checks.optional(checks.integer(1)),
    "probability": checks.number(0, 1),
    "retry_after": checks.optional(checks.number(0)),
    "latency": checks.number(0),
    "drop_after": checks.optional(checks.integer(0)),
    "chunk_delay": checks.number(0),
    "body": checks.optional(checks.choice(FAULT_BODIES, "fault body")),
}
#: The keys of a fault table in a local-workspace file.
FAULT_KEYS: tuple[str, ...] = tuple(_RULES)
_TRIGGERED = checks.integer(0)


@dataclass
class Fault:
    """One injected failure. Build them with the class methods.

    ``times`` limits the fault to its first N triggers (``None``: every call);
    ``probability`` makes it random (seeded, so runs repeat).

    Every field is checked when set, so a fault that could not be served never reaches
    a request: ``status`` is 400 to 599, ``times`` >= 1, ``probability`` 0 to 1,
    ``retry_after``, ``latency`` and ``chunk_delay`` >= 0 seconds, ``drop_after`` >= 0
    chunks and ``body`` ``"garbage"`` or ``"wrong_shape"``. A bad value raises
    :class:`~chatport.ConfigError` naming the field (``Fault.status``).
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

    def __setattr__(self, name: str, value: Any) -> None:
        rule = _TRIGGERED if name == "triggered" else _RULES.get(name)
        if rule is not None:
            value = rule(value, f"Fault.{name}", None)
        super().__setattr__(name, value)

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
    def from_table(cls, table: Any, where: str, path: str | None = None) -> Fault:
        """Build a fault from a TOML table such as ``{status = 429, times = 2}``.

        ``where`` is its dotted key (``endpoints.NAME.faults[0]``) and ``path`` the file,
        both named by the :class:`~chatport.ConfigError` a bad table raises.
        """
        spec: Mapping[str, Any] = checks.table(table, where, path)
        values = {}
        for key, value in spec.items():
            rule = _RULES.get(key)
            if rule is None:
                raise checks.unknown_key(key, _RULES, where, path, noun="fault key")
            values[key] = rule(value, checks.dotted(where, key), path)
        return cls(**values)
