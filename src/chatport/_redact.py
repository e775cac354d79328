"""Keeping secrets out of messages and displays.

Two nets. What *looks* like a credential is never shown (:func:`redact`, :func:`shown`).
And every credential chatport sends or holds is remembered (:func:`remember_secret`,
:func:`remember_headers`), so any text that repeats one exactly, such as a server's
error body echoing the token it refused, has it masked (:func:`mask_secrets`), whatever
its shape. Every :class:`~chatport.ChatportError` masks its message this way.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "CREDENTIAL_HEADERS",
    "guard_loggers",
    "looks_secret",
    "mask_secrets",
    "redact",
    "redact_url",
    "remember_headers",
    "remember_secret",
    "shown",
]

#: Request headers that carry a credential (lower case).
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-databricks-token",
        "cookie",
    }
)

#: The credentials remembered, newest last; bounded so a process that mints a token per
#: hour for months still holds a few dozen strings.
_known: dict[str, None] = {}
_KNOWN_AT_MOST = 64
#: Shorter values are not remembered: masking them could hide ordinary words.
_SHORTEST = 8
_known_lock = threading.Lock()


def remember_secret(value: object) -> None:
    """Remember ``value`` (a token, a client secret) so text repeating it is masked."""
    if not isinstance(value, str) or len(value) < _SHORTEST or value in _known:
        return
    with _known_lock:
        _known[value] = None
        while len(_known) > _KNOWN_AT_MOST:
            del _known[next(iter(_known))]


def remember_headers(headers: Mapping[str, str]) -> None:
    """Remember the credentials among request ``headers`` (a bearer token, an API key)."""
    for name, value in headers.items():
        if not isinstance(name, str) or name.lower() not in CREDENTIAL_HEADERS:
            continue
        if not isinstance(value, str):
            continue
        scheme, _, credential = value.strip().partition(" ")
        if credential and scheme.lower() in ("bearer", "basic", "token"):
            remember_secret(credential.strip())
        remember_secret(value.strip())


def mask_secrets(text: str) -> str:
    """``text`` with every remembered credential replaced by ``****``."""
    if not _known:
        return text
    with _known_lock:
        known = tuple(_known)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "****")
    return text


_PREFIXES = ("dapi", "dkea", "dose", "dsapi", "sk-", "ghp_", "gho_", "github_pat_", "xox", "eyj")
_RUN = re.compile(r"[A-Za-z0-9+/=]{16,}")


def looks_secret(text: str) -> bool:
    """Whether ``text`` has the shape of a credential: a known token prefix, a bearer
    header, or a long random-looking run of letters and digits."""
    lowered = text.strip().lower()
    if lowered.startswith(_PREFIXES) or lowered.startswith(("bearer ", "basic ")):
        return True
    return any(
        any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
        for run in _RUN.findall(text)
    )


def shown(value: Any) -> str:
    """``value`` for an error message: its repr, unless it may hold a secret."""
    if isinstance(value, str):
        if looks_secret(value) or "@" in value:
            return f"a string of {len(value)} characters (not shown)"
        return repr(value) if len(value) <= 80 else repr(value[:77] + "...")
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__} (not shown)"


def redact_url(url: str) -> str:
    """``url`` with any user info (``user:password@``) replaced by ``****``."""
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
    except ValueError:
        return "(not shown: not a valid URL)"
    if "@" not in parts.netloc:
        return url
    netloc = "****@" + parts.netloc.rsplit("@", 1)[1]
    redacted = urlunsplit(parts._replace(netloc=netloc))
    return redacted if "://" in url else redacted.removeprefix("https://")


_WORD = re.compile(r"(?i)(?:bearer|basic)\s+\S+|[^\s'\"=:,;()\[\]{}<>]+")


def redact(text: str) -> str:
    """``text`` with every remembered credential and every word that looks like one
    replaced by ``****``."""
    text = mask_secrets(text)
    return _WORD.sub(lambda m: "****" if looks_secret(m.group(0)) else m.group(0), text)


class _MaskSecrets(logging.Filter):
    """Masks remembered credentials in a log record's message (its arguments merged in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known:
            try:
                message = record.getMessage()
            except Exception:  # a record whose arguments do not fit: left to the handler
                return True
            masked = mask_secrets(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True


_MASK_FILTER = _MaskSecrets()
#: The loggers of the libraries that carry a request, and chatport's own: at DEBUG,
#: some print response headers or bodies in which a server may repeat the token.
_GUARDED = (
    "chatport",
    "httpx",
    "httpcore",
    "openai",
    "anthropic",
    "databricks",
    "mlflow",
    "urllib3",
    "requests",
)
_guarded_count = -1


def guard_loggers() -> None:
    """Put the masking filter on every logger of the libraries that send requests.

    A logger's filter sees only its own records, so each one gets it; loggers created
    since the last look are found by the size of the logging registry (cheap per call).
    """
    global _guarded_count
    loggers = logging.root.manager.loggerDict
    if len(loggers) == _guarded_count:
        return
    with _known_lock:
        _guarded_count = len(loggers)
        for name, logger in list(loggers.items()):
            if (
                isinstance(logger, logging.Logger)
                and name.startswith(_GUARDED)
                and _MASK_FILTER not in logger.filters
            ):
                logger.addFilter(_MASK_FILTER)
