"""Unity AI Gateway governance answers recognised: guardrail blocks, budget blocks and
the limit a 429 names (docs/wire-facts.md#governance-errors).

Each function reads an error answer's text (and, for the older guardrail shape, the
JSON document its ``message`` holds) and returns what it says, or ``None``. They never
raise on an odd shape: a body they do not recognise is an ordinary error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import GuardrailStage, RateLimitKind

__all__ = ["GuardrailBlock", "budget_name", "guardrail_block", "is_budget_block", "rate_limit_kind"]

#: A guardrail's name, quoted either way.
_QUOTED = r"(?:'([^']*)'|\"([^\"]*)\")"
#: The explicit block wording, ``Request blocked by input guardrail 'NAME'``: the only
#: text that makes an answer of any status a guardrail block.
_BLOCKED_BY = re.compile(
    rf"\bblocked\s+by\s+(?:the\s+|an?\s+)?(input|output)[ _]guardrail\b(?:\s+{_QUOTED})?",
    re.IGNORECASE,
)
#: The guardrail as the subject of the message (after an optional ``CODE:``) saying it
#: blocked or failed: ``Output guardrail 'NAME' failed to evaluate: ...``.
_LEADING = re.compile(
    rf"^\s*(?:[A-Z][A-Z_]*:\s*)?(input|output)[ _]guardrail\s+{_QUOTED}\s+"
    r"(?:blocked|failed|triggered|flagged)\b",
    re.IGNORECASE,
)
#: The older shape's finish reason, and a block named without a guardrail name.
_TRIGGERED = re.compile(r"\b(input|output)[ _]guardrail(?:[ _]triggered|\s+blocked)", re.IGNORECASE)
#: A budget as the subject that reached (or exceeded) its limit, within one clause:
#: ``Budget 'NAME' has reached its limit``, ``budget limit exceeded``, ``exceeded the
#: team budget``. A negation in between (``budget was not exceeded``) is no block.
_GAP = r"(?:\s+(?!(?:not|never|cannot|can't|won't)\b)[^\s.;:!?]+){0,5}?"
_BUDGET_HIT = re.compile(
    rf"\bbudgets?\b{_GAP}\s+(?:reached|exceeded|exhausted)\b"
    rf"|\b(?:exceeded|exhausted)\b{_GAP}\s+budgets?\b",
    re.IGNORECASE,
)
_BUDGET_NAME = re.compile(r"\bbudget\s+(?:'([^']*)'|\"([^\"]*)\")", re.IGNORECASE)
#: The limit each wording names, most specific first.
_LIMITS: tuple[tuple[re.Pattern[str], RateLimitKind], ...] = (
    (re.compile(r"input[ _-]tokens?[ _-]per[ _-]minute|\bITPM\b", re.IGNORECASE), "itpm"),
    (re.compile(r"output[ _-]tokens?[ _-]per[ _-]minute|\bOTPM\b", re.IGNORECASE), "otpm"),
    (re.compile(r"tokens?[ _-]per[ _-]minute|\bTPM\b", re.IGNORECASE), "tpm"),
    (re.compile(r"\bQPS\b|(?:queries|requests)[ _-]per[ _-]second", re.IGNORECASE), "qps"),
    (
        re.compile(r"(?:queries|requests)[ _-]per[ _-]minute|\bQPM\b|\bRPM\b", re.IGNORECASE),
        "rpm",
    ),
)


@dataclass(frozen=True)
class GuardrailBlock:
    """What a guardrail block says: its stage, name, findings and a readable summary."""

    stage: GuardrailStage
    guardrail: str | None
    findings: tuple[dict[str, Any], ...]
    summary: str


def rate_limit_kind(message: str) -> RateLimitKind | None:
    """The limit a rate-limit message names, or ``None`` when it names none."""
    for pattern, kind in _LIMITS:
        if pattern.search(message):
            return kind
    return None


def is_budget_block(message: str) -> bool:
    """Whether a 403's message says a budget has reached (or exceeded) its limit: the
    budget must be what reached it, not a word that merely occurs in the message."""
    return _BUDGET_HIT.search(message) is not None


def budget_name(message: str) -> str | None:
    """The budget a budget block quotes, or ``None``."""
    match = _BUDGET_NAME.search(message)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def guardrail_block(message: str, *, explicit: bool = False) -> GuardrailBlock | None:
    """The guardrail block ``message`` (an error answer's ``message``) reports, or ``None``.

    By default (a ``400`` or ``422``, or a stream's ``error`` event) three shapes: the
    older gateway's JSON document with ``input_guardrail`` (or ``output_guardrail``)
    findings; the explicit wording ``... blocked by input guardrail 'NAME'``; and the
    guardrail as the subject of a block or failure (``Output guardrail 'NAME' failed to
    evaluate: ...``). With ``explicit`` (any other status) only the explicit wording.
    """
    if explicit:
        return _worded(_BLOCKED_BY.search(message), message)
    document = _document(message)
    if document is not None:
        return _from_document(document)  # None: a JSON message that is no guardrail report
    for pattern in (_BLOCKED_BY, _LEADING):
        block = _worded(pattern.search(message), message)
        if block is not None:
            return block
    triggered = _TRIGGERED.search(message)
    if triggered is not None:
        stage: GuardrailStage = "input" if triggered.group(1).lower() == "input" else "output"
        return GuardrailBlock(stage, None, (), message)
    return None


def _worded(match: re.Match[str] | None, message: str) -> GuardrailBlock | None:
    """The block a match of :data:`_BLOCKED_BY` or :data:`_LEADING` names."""
    if match is None:
        return None
    stage: GuardrailStage = "input" if match.group(1).lower() == "input" else "output"
    name = match.group(2) if match.group(2) is not None else match.group(3)
    return GuardrailBlock(stage, name, (), message)


def _document(message: str) -> Mapping[str, Any] | None:
    """The JSON object ``message`` is, when it is one."""
    text = message.strip()
    if not text.startswith("{"):
        # "BAD_REQUEST: {...}": the code the server put before the document
        head, _, rest = text.partition(": ")
        if not rest.lstrip().startswith("{") or " " in head:
            return None
        text = rest.strip()
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, Mapping) else None


def _from_document(document: Mapping[str, Any]) -> GuardrailBlock | None:
    reason = document.get("finishReason", document.get("finish_reason"))
    reason = reason.lower() if isinstance(reason, str) else ""
    stage: GuardrailStage
    if "input_guardrail" in document:
        stage, findings = "input", document["input_guardrail"]
    elif "output_guardrail" in document:
        stage, findings = "output", document["output_guardrail"]
    elif reason in ("input_guardrail_triggered", "output_guardrail_triggered"):
        stage, findings = ("input" if reason.startswith("input") else "output"), None
    else:
        return None
    items = _findings(findings)
    names = [item["name"] for item in items if isinstance(item.get("name"), str)]
    guardrail = names[0] if names else None
    return GuardrailBlock(stage, guardrail, items, _summary(stage, items))


def _findings(value: Any) -> tuple[dict[str, Any], ...]:
    """The findings as plain dicts (JSON data, so copies never share state)."""
    entries = value if isinstance(value, list) else [value] if isinstance(value, Mapping) else []
    return tuple(_plain(entry) for entry in entries if isinstance(entry, Mapping))


def _plain(entry: Mapping[str, Any]) -> dict[str, Any]:
    try:
        copied = json.loads(json.dumps(entry))
    except (TypeError, ValueError, RecursionError):
        copied = None
    return copied if isinstance(copied, dict) else {}


def _summary(stage: GuardrailStage, findings: tuple[dict[str, Any], ...]) -> str:
    """``input guardrail blocked the request: flagged categories violence; PII detected``."""
    what = "request" if stage == "input" else "response"
    categories: list[str] = []
    flagged = pii = False
    for finding in findings:
        flagged = flagged or finding.get("flagged") is True
        pii = pii or finding.get("pii_detection") is True
        found = finding.get("categories")
        if isinstance(found, Mapping):
            for name, hit in found.items():
                if hit is True and str(name) not in categories:
                    categories.append(str(name))
    details = []
    if categories:
        details.append("flagged categories " + ", ".join(categories))
    elif flagged:
        details.append("flagged")
    if pii:
        details.append("PII detected")
    text = f"{stage} guardrail blocked the {what}"
    return f"{text}: {'; '.join(details)}" if details else text
