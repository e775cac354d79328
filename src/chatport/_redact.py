"""Keeping secrets out of messages and displays: what looks like one is never shown."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["looks_secret", "redact", "redact_url", "shown"]

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
    """``text`` with every word that looks like a credential replaced by ``****``."""
    return _WORD.sub(lambda m: "****" if looks_secret(m.group(0)) else m.group(0), text)
