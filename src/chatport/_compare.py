"""The same question through several backends, side by side (``chatport compare``)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from ._client import Client
from ._errors import ChatportError
from ._plugins import get_registry
from ._terminal import fit
from .backends.fake import FakeBackend

__all__ = ["compare_backends", "default_backends", "format_row", "iter_compare"]


def default_backends() -> list[str]:
    """Every installed backend whose requirements are present, except the testing fake."""
    return [
        info.name
        for info in get_registry()
        if not issubclass(info.cls, FakeBackend) and not info.cls.missing_requirements()
    ]


def _row(client: Client, messages: object, name: str, params: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    row: dict[str, Any] = {"backend": name}
    try:
        completion = client.complete(messages, backend=name, **params)
    except ChatportError as exc:
        row.update(error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - started)
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
    return row


def iter_compare(
    client: Client, messages: object, backends: Iterable[str], **params: Any
) -> Iterator[dict[str, Any]]:
    """The rows of :func:`compare_backends`, each as soon as its backend answers.

    Every backend is asked at once (one thread each); rows come in finishing order.
    """
    names = list(dict.fromkeys(backends))
    if not names:
        return
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="chatport-compare") as pool:
        futures = [pool.submit(_row, client, messages, name, params) for name in names]
        for future in as_completed(futures):
            yield future.result()


def compare_backends(
    client: Client, messages: object, backends: Iterable[str], **params: Any
) -> list[dict[str, Any]]:
    """One row per backend, in the order given: text, finish reason, tokens, latency, or
    the error. The backends are asked concurrently."""
    names = list(dict.fromkeys(backends))
    rows = {row["backend"]: row for row in iter_compare(client, messages, names, **params)}
    return [rows[name] for name in names]


def format_row(row: dict[str, Any], text_width: int) -> str:
    """One row of ``chatport compare``'s table; the answer or error cut to fit."""
    latency = f"{row['latency_s'] * 1000:.1f} ms" if row.get("latency_s") is not None else "-"
    if row["error"]:
        width = text_width + 11 + 14 + 2
        return f"{row['backend']:<16} {fit(row['error'], width):<{width}} {latency:>9}"
    tokens = "/".join(
        "-" if row[k] is None else str(row[k])
        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    )
    finish = row["finish_reason"] or "-"
    text = fit(row["text"], text_width)
    return f"{row['backend']:<16} {text:<{text_width}} {finish:<11} {tokens:<14} {latency:>9}"
