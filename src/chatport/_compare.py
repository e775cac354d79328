"""The same question through several backends, side by side (``chatport compare``)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ._client import Client
from ._errors import ChatportError
from ._plugins import get_registry
from .backends.fake import FakeBackend

__all__ = ["compare_backends", "default_backends"]


def default_backends() -> list[str]:
    """Every installed backend whose requirements are present, except the testing fake."""
    return [
        info.name
        for info in get_registry()
        if not issubclass(info.cls, FakeBackend) and not info.cls.missing_requirements()
    ]


def compare_backends(
    client: Client, messages: object, backends: Iterable[str], **params: Any
) -> list[dict[str, Any]]:
    """One row per backend: text, finish reason, token counts, latency, or the error."""
    rows = []
    for name in backends:
        started = time.perf_counter()
        row: dict[str, Any] = {"backend": name}
        try:
            completion = client.complete(messages, backend=name, **params)
        except ChatportError as exc:
            row.update(
                error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - started
            )
        else:
            row.update(
                text=completion.text,
                finish_reason=completion.finish_reason,
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                total_tokens=completion.usage.total_tokens,
                latency_s=completion.latency_s,
                model=completion.model,
                error=None,
            )
        rows.append(row)
    return rows
