"""Unity AI Gateway governance on local endpoints: guardrails, budgets and rate limits.

An endpoint's ``guardrails``, ``budget`` and ``rate_limits`` (see :class:`Endpoint`) are
checked on every chat route it serves, in the gateway's order: rate limits, then the
budget, then input guardrails before the model answers, then output guardrails on the
answer. Each answers as the real service does where its wire shape is known
(docs/wire-facts.md#governance-errors); where it is not, the wording is the local
workspace's own (docs/local-workspace.md#governance).

Everything is deterministic: a limit or a budget fires after a set number of calls,
and a guardrail fires when its pattern (or a built-in PII detector) matches.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .._errors import ConfigError
from . import checks
from .checks import Rule
from .errors import WireError

if TYPE_CHECKING:
    from .endpoints import Endpoint
    from .generate import Answer

__all__ = [
    "BUDGET_KEYS",
    "GUARDRAIL_KEYS",
    "PII_PLACEHOLDERS",
    "RATE_LIMIT_KEYS",
    "RATE_LIMIT_MESSAGES",
    "SERVICE_POLICY_KEYS",
    "Budget",
    "Guardrail",
    "RateLimit",
    "ServicePolicy",
    "budget_rule",
    "check_request",
    "guardrails_rule",
    "opening_chunk",
    "rate_limits_rule",
    "screen_output",
    "service_policies_rule",
    "stream_error",
]

_LOCK = threading.Lock()  # the call counters of every guardrail, budget and limit

#: The built-in PII detectors and the placeholder a mask writes for each.
PII_PLACEHOLDERS: dict[str, re.Pattern[str]] = {
    "<EMAIL_ADDRESS>": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "<CREDIT_CARD>": re.compile(r"\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,4}\b"),
}
#: What a custom pattern's matches are masked with.
MASK = "<REDACTED>"

#: The 429 message of each kind of limit. ``itpm``, ``otpm`` and ``qps`` are the real
#: workspace-quota texts; the gateway's own per-endpoint ``rpm``/``tpm`` wording is not
#: documented, so theirs is the local workspace's.
RATE_LIMIT_MESSAGES: dict[str, str] = {
    "rpm": "Exceeded endpoint queries per minute (QPM) rate limit for {name}.",
    "tpm": "Exceeded endpoint tokens per minute (TPM) rate limit for {name}.",
    "itpm": "Exceeded workspace input tokens per minute rate limit for {name}. Work with "
    "your Databricks account team to request a higher FMAPI rate limit tier.",
    "otpm": "Exceeded workspace output tokens per minute rate limit for {name}. Work with "
    "your Databricks account team to request a higher FMAPI rate limit tier.",
    "qps": "Exceeded workspace QPS rate limit for {name}. Please use a provisioned "
    "throughput Foundation Model endpoint for a higher rate limit.",
}

_GUARDRAIL_RULES: dict[str, Rule] = {
    "name": checks.string,
    "stage": checks.choice(("input", "output"), "guardrail stage"),
    "action": checks.choice(("block", "mask"), "guardrail action"),
    "pattern": checks.optional(checks.pattern),
    "style": checks.choice(("text", "json"), "guardrail style"),
}
_BUDGET_RULES: dict[str, Rule] = {"name": checks.string, "after": checks.integer(0)}
_RATE_LIMIT_RULES: dict[str, Rule] = {
    "kind": checks.choice(tuple(RATE_LIMIT_MESSAGES), "rate limit kind"),
    "after": checks.integer(0),
    "times": checks.optional(checks.integer(1)),
    "retry_after": checks.optional(checks.number(0)),
}
_POLICY_RULES: dict[str, Rule] = {
    "name": checks.string,
    "stage": checks.choice(("input", "output"), "service policy stage"),
    "pattern": checks.pattern,
}
#: The keys of one entry of an endpoint's ``service_policies`` array.
SERVICE_POLICY_KEYS: tuple[str, ...] = tuple(_POLICY_RULES)
#: The keys of one entry of an endpoint's ``guardrails`` array.
GUARDRAIL_KEYS: tuple[str, ...] = tuple(_GUARDRAIL_RULES)
#: The keys of an endpoint's ``budget`` table.
BUDGET_KEYS: tuple[str, ...] = tuple(_BUDGET_RULES)
#: The keys of one entry of an endpoint's ``rate_limits`` array.
RATE_LIMIT_KEYS: tuple[str, ...] = tuple(_RATE_LIMIT_RULES)


def _check_fields(obj: Any, rules: Mapping[str, Rule], kind: str) -> None:
    for key, rule in rules.items():
        object.__setattr__(obj, key, rule(getattr(obj, key), f"{kind}.{key}", None))


def _from_table(
    cls: Callable[..., Any], rules: Mapping[str, Rule], table: Any, where: str, path: str | None
) -> Any:
    spec = checks.table(table, where, path)
    values = {}
    for key, value in spec.items():
        rule = rules.get(key)
        if rule is None:
            raise checks.unknown_key(key, rules, where, path)
        values[key] = rule(value, checks.dotted(where, key), path)
    try:
        return cls(**values)
    except ConfigError as exc:  # a cross-field check: name the table and the file
        raise ConfigError(f"{where}: {exc}", path=path, key=where) from None


@dataclass
class Guardrail:
    """A guardrail on an endpoint.

    ``stage`` is ``"input"`` (the request, before the model sees it) or ``"output"``
    (the answer). ``pattern`` is a regular expression (case-insensitive) that triggers
    it; without one, the built-in PII detectors do (emails, card numbers). ``action``
    ``"block"`` refuses the call (an output block inside a stream that already started
    is an ``error`` event); ``"mask"`` replaces each match with its placeholder
    (``<EMAIL_ADDRESS>``, ``<CREDIT_CARD>``, or ``<REDACTED>`` for a pattern) and lets
    the call through. ``style`` is how a block answers: ``"text"`` (the newer
    guardrails: ``Request blocked by input guardrail 'NAME'``) or ``"json"`` (the older
    gateway: a 400 whose ``message`` is a JSON report with ``input_guardrail``).
    """

    name: str = "local-guardrail"
    stage: Literal["input", "output"] = "input"
    action: Literal["block", "mask"] = "block"
    pattern: str | None = None
    style: Literal["text", "json"] = "text"

    def __post_init__(self) -> None:
        _check_fields(self, _GUARDRAIL_RULES, "Guardrail")

    @classmethod
    def from_table(cls, table: Any, where: str, path: str | None = None) -> Guardrail:
        """A guardrail from a TOML table such as ``{stage = "input", action = "mask"}``."""
        result: Guardrail = _from_table(cls, _GUARDRAIL_RULES, table, where, path)
        return result

    def _detectors(self) -> list[tuple[str, re.Pattern[str]]]:
        if self.pattern is not None:
            return [(MASK, re.compile(self.pattern, re.IGNORECASE))]
        return list(PII_PLACEHOLDERS.items())

    def matches(self, text: str) -> bool:
        """Whether ``text`` triggers the guardrail."""
        return any(pattern.search(text) for _, pattern in self._detectors())

    def mask(self, text: str) -> str:
        """``text`` with every match replaced by its placeholder."""
        for placeholder, pattern in self._detectors():
            text = pattern.sub(placeholder, text)
        return text

    def block(self) -> WireError:
        """The 400 a block answers (the same on every route)."""
        if self.style == "text":
            if self.stage == "input":
                text = f"Request blocked by input guardrail '{self.name}'"
            else:
                text = f"Output guardrail '{self.name}' blocked the response"
            return WireError(400, {"error_code": "BAD_REQUEST", "message": text})
        if self.pattern is None:  # as the PII report the older gateway sent
            finding: dict[str, Any] = {"flagged": False, "categories": None}
            finding.update(category_scores=None, pii_detection=True)
        else:
            finding = {"flagged": True, "categories": {"invalid_keywords": True}}
            finding.update(category_scores={"invalid_keywords": 1.0}, pii_detection=False)
        report = {
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
            f"{self.stage}_guardrail": [finding],
            "finishReason": f"{self.stage}_guardrail_triggered",
        }
        message = json.dumps(report, separators=(",", ":"))
        return WireError(400, {"error_code": "BAD_REQUEST", "message": message})


@dataclass
class ServicePolicy:
    """A custom service policy on an endpoint that denies what ``pattern`` matches.

    Unlike a guardrail's block, its denial is an answer: ``200`` with
    ``finish_reason="content_filter"`` and the text ``Request blocked by service policy
    'NAME'.`` (``stage="input"``, ON CALL: the request's text matched) or ``Response
    blocked by service policy 'NAME'.`` (``stage="output"``, ON RESULT: the answer's).
    That shape and wording are the local workspace's: the real one is not documented
    (docs/wire-facts.md#governance-errors).
    """

    name: str = "local-policy"
    stage: Literal["input", "output"] = "output"
    pattern: str = "."

    def __post_init__(self) -> None:
        _check_fields(self, _POLICY_RULES, "ServicePolicy")

    @classmethod
    def from_table(cls, table: Any, where: str, path: str | None = None) -> ServicePolicy:
        """A policy from a TOML table such as ``{name = "no-codenames", pattern = "x"}``."""
        result: ServicePolicy = _from_table(cls, _POLICY_RULES, table, where, path)
        return result

    def matches(self, text: str) -> bool:
        """Whether ``text`` is denied (``pattern`` is searched case-insensitively)."""
        return re.search(self.pattern, text, re.IGNORECASE) is not None

    def deny(self, answer: Answer) -> None:
        """Replace ``answer`` with the denial: its text, ``content_filter``, no calls."""
        what = "Request" if self.stage == "input" else "Response"
        answer.text = f"{what} blocked by service policy '{self.name}'."
        answer.reasoning = answer.signature = answer.text_signature = None
        answer.tool_calls = []
        answer.finish_reason = "content_filter"
        answer.completion_tokens = len(answer.text.split())


@dataclass
class Budget:
    """An endpoint's budget: the first ``after`` calls pass, then every call is refused
    with 403 ``PERMISSION_DENIED`` ("Budget 'NAME' has reached its limit ...", the local
    workspace's wording) until :meth:`reset`."""

    name: str = "local-budget"
    after: int = 0
    calls: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check_fields(self, _BUDGET_RULES, "Budget")

    @classmethod
    def from_table(cls, table: Any, where: str, path: str | None = None) -> Budget:
        """A budget from a TOML table such as ``{name = "team-a", after = 2}``."""
        result: Budget = _from_table(cls, _BUDGET_RULES, table, where, path)
        return result

    def reset(self) -> None:
        """A new budget period: the next ``after`` calls pass again."""
        with _LOCK:
            self.calls = 0

    def check(self) -> None:
        """Count a call; raise the 403 once the budget is spent."""
        with _LOCK:
            self.calls += 1
            spent = self.calls > self.after
        if spent:
            text = (
                f"PERMISSION_DENIED: Budget '{self.name}' has reached its limit. Usage is "
                "blocked until the budget resets or an admin increases the threshold."
            )
            raise WireError(403, {"error_code": "PERMISSION_DENIED", "message": text})


@dataclass
class RateLimit:
    """A rate limit of one ``kind`` (``rpm``, ``tpm``, ``itpm``, ``otpm``, ``qps``).

    The first ``after`` calls pass; then it answers 429 ``REQUEST_LIMIT_EXCEEDED`` with
    the kind's message and ``Retry-After: retry_after`` (none when ``None``), on
    ``times`` calls (``None``: on every later call) before letting calls through again.
    """

    kind: Literal["rpm", "tpm", "itpm", "otpm", "qps"] = "rpm"
    after: int = 0
    times: int | None = None
    retry_after: float | None = 1.0
    calls: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check_fields(self, _RATE_LIMIT_RULES, "RateLimit")

    @classmethod
    def from_table(cls, table: Any, where: str, path: str | None = None) -> RateLimit:
        """A limit from a TOML table such as ``{kind = "itpm", after = 1, times = 1}``."""
        result: RateLimit = _from_table(cls, _RATE_LIMIT_RULES, table, where, path)
        return result

    def check(self, endpoint: str) -> None:
        """Count a call; raise the 429 when the limit fires on it."""
        with _LOCK:
            self.calls += 1
            over = self.calls - self.after
        if over <= 0 or (self.times is not None and over > self.times):
            return
        text = RATE_LIMIT_MESSAGES[self.kind].format(name=endpoint)
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(0, round(self.retry_after)))
        body = {
            "error_code": "REQUEST_LIMIT_EXCEEDED",
            "message": f"REQUEST_LIMIT_EXCEEDED: {text}",
        }
        raise WireError(429, body, headers)


def _list_rule(cls: Any, noun: str) -> Rule:
    def rule(value: Any, where: str, path: str | None) -> list[Any]:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
            raise checks.expected(f"a list of {noun}", value, where, path)
        items = []
        for index, item in enumerate(value):
            item_where = f"{where}[{index}]"
            if isinstance(item, cls):
                items.append(item)
            elif isinstance(item, Mapping):
                items.append(cls.from_table(item, item_where, path))
            else:
                raise checks.expected(f"a {cls.__name__} or a table", item, item_where, path)
        return items

    return rule


#: The ``guardrails`` key of an endpoint: :class:`Guardrail` objects or tables.
guardrails_rule: Rule = _list_rule(Guardrail, "guardrails")
#: The ``rate_limits`` key of an endpoint: :class:`RateLimit` objects or tables.
rate_limits_rule: Rule = _list_rule(RateLimit, "rate limits")
#: The ``service_policies`` key of an endpoint: :class:`ServicePolicy` objects or tables.
service_policies_rule: Rule = _list_rule(ServicePolicy, "service policies")


def budget_rule(value: Any, where: str, path: str | None) -> Budget | None:
    """The ``budget`` key of an endpoint: ``None``, a :class:`Budget` or a table."""
    if value is None or isinstance(value, Budget):
        return value
    if isinstance(value, Mapping):
        return Budget.from_table(value, where, path)
    raise checks.expected("a Budget or a table", value, where, path)


# -- on a call ---------------------------------------------------------------------------

#: The request keys whose text guardrails read, and the keys holding text inside them.
_REQUEST_KEYS = ("messages", "input", "instructions", "system")
_TEXT_KEYS = frozenset({"content", "text", "input", "instructions", "system", "output"})


def _rewrite(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with ``change`` applied to each text it holds, in place where it can."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _rewrite(item, change) if not isinstance(item, str) else item
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                if key in _TEXT_KEYS:
                    value[key] = change(item)
            else:
                value[key] = _rewrite(item, change)
    return value


def _request_texts(body: dict[str, Any]) -> list[str]:
    texts: list[str] = []

    def collect(text: str) -> str:
        texts.append(text)
        return text

    _rewrite({key: body[key] for key in _REQUEST_KEYS if key in body}, collect)
    return texts


def check_request(endpoint: Endpoint, body: Any) -> None:
    """Rate limits, the budget, then input guardrails, for one call to ``endpoint``.

    A limit, a spent budget or a blocking guardrail raises its error answer; a masking
    guardrail rewrites ``body``'s texts in place before the model sees them.
    """
    for limit in endpoint.rate_limits:
        limit.check(endpoint.name)
    if endpoint.budget is not None:
        endpoint.budget.check()
    if not isinstance(body, dict):
        return
    for guardrail in endpoint.guardrails:
        if guardrail.stage != "input":
            continue
        if not any(guardrail.matches(text) for text in _request_texts(body)):
            continue
        if guardrail.action == "block":
            raise guardrail.block()
        for key in _REQUEST_KEYS:
            if key in body:
                body[key] = _rewrite({key: body[key]}, guardrail.mask)[key]


def screen_output(endpoint: Endpoint, answers: list[Answer], body: Any = None) -> WireError | None:
    """Service policies, then output guardrails, on the generated ``answers``.

    A policy that denies the request (its text, in ``body``) or an answer replaces that
    answer with its denial; masks rewrite answers in place. Returns the error answer of
    the first blocking guardrail that fires, else ``None``.
    """
    request_texts = _request_texts(body) if isinstance(body, dict) else []
    for policy in endpoint.service_policies:
        if policy.stage == "input":
            if any(policy.matches(text) for text in request_texts):
                for answer in answers:
                    policy.deny(answer)
            continue
        for answer in answers:
            if answer.finish_reason != "content_filter" and policy.matches(answer.text):
                policy.deny(answer)
    for guardrail in endpoint.guardrails:
        if guardrail.stage != "output":
            continue
        for answer in answers:
            if not guardrail.matches(answer.text):
                continue
            if guardrail.action == "block":
                return guardrail.block()
            answer.text = guardrail.mask(answer.text)
    return None


def opening_chunk(first: dict[str, Any]) -> dict[str, Any]:
    """The first chunk of a chat stream, with no text: what is sent before a block."""
    delta = {"role": "assistant", "content": ""}
    return {**first, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def stream_error(
    error: WireError, api: Literal["chat", "responses", "messages"], sequence: int = 0
) -> dict[str, Any]:
    """``error`` as the ``error`` event a started stream of ``api`` carries."""
    message = str(error.body.get("message", ""))
    code = str(error.body.get("error_code", "BAD_REQUEST"))
    if api == "chat":
        return {"error": {"code": code, "message": message}}
    if api == "responses":
        return {"type": "error", "code": code, "message": message, "sequence_number": sequence}
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
