"""Unity AI Gateway governance answers are typed errors, the same on every backend.

A guardrail block is a ``GuardrailError`` (``stage``, ``guardrail``, ``findings``), also
when an output guardrail stops a stream that had started; a budget block is a
``BudgetExceededError``; a 429 says which limit was hit in ``RateLimitError.limit``.
Budget and guardrail errors are never retried; a rate limit is. Every backend,
sync, async, streamed and async-streamed, against the local workspace over real HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chatport
from chatport._retry import RetryPolicy
from chatport._wire.errors import error_from_event, error_from_response
from chatport.local import Endpoint, LocalWorkspace
from chatport.local.endpoints import endpoints_from_table
from chatport.local.governance import Budget, Guardrail, RateLimit

from ..backends import BUILT_IN

MODES = ("sync", "async", "stream", "astream")
_names = itertools.count()

#: The older gateway's input-guardrail answer, as captured from a real endpoint.
CAPTURED_GUARDRAIL = {
    "error_code": "BAD_REQUEST",
    "message": json.dumps(
        {
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
            "input_guardrail": [
                {
                    "flagged": False,
                    "categories": None,
                    "category_scores": None,
                    "pii_detection": True,
                    "anonymized_input": [
                        {"role": "user", "content": "mail <EMAIL_ADDRESS> card <CREDIT_CARD>"}
                    ],
                }
            ],
            "finishReason": "input_guardrail_triggered",
        }
    ),
}
ITPM = (
    "REQUEST_LIMIT_EXCEEDED: Exceeded workspace input tokens per minute rate limit for "
    "databricks-claude-opus-4-8. Work with your Databricks account team to request a "
    "higher FMAPI rate limit tier."
)
OTPM = (
    "REQUEST_LIMIT_EXCEEDED: Exceeded workspace output tokens per minute rate limit for "
    "databricks-claude-3-7-sonnet."
)
QPS = (
    "Exceeded workspace QPS rate limit for databricks-meta-llama-3-3-70b-instruct. Please "
    "use a provisioned throughput Foundation Model endpoint for a higher rate limit."
)


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> chatport.APIError:
    return error_from_response(status, headers or {}, json.dumps(body).encode(), "rest")


# -- classification of one answer --------------------------------------------------------


def test_the_captured_guardrail_answer_is_a_readable_guardrail_error() -> None:
    error = answer(400, CAPTURED_GUARDRAIL)
    assert type(error) is chatport.GuardrailError
    assert isinstance(error, chatport.BadRequestError)
    assert (error.stage, error.guardrail, error.status_code) == ("input", None, 400)
    (finding,) = error.findings
    assert finding["pii_detection"] is True
    assert finding["anonymized_input"][0]["content"].startswith("mail <EMAIL_ADDRESS>")
    assert error.message == "HTTP 400: input guardrail blocked the request: PII detected"
    assert "{" not in str(error)  # never a raw JSON dump


def test_flagged_categories_are_named_and_output_reports_are_output() -> None:
    report = {
        "output_guardrail": [
            {"flagged": True, "categories": {"violence": True, "hate": False, "self_harm": True}}
        ],
        "finishReason": "output_guardrail_triggered",
    }
    error = answer(400, {"error_code": "BAD_REQUEST", "message": json.dumps(report)})
    assert isinstance(error, chatport.GuardrailError)
    assert error.stage == "output"
    assert error.message == (
        "HTTP 400: output guardrail blocked the response: flagged categories violence, self_harm"
    )


BLOCKED_BY = "Request blocked by input guardrail 'databricks_demo'"
FAILED_TO_EVALUATE = (
    "Output guardrail 'databricks_demo' failed to evaluate: messages.0: user messages "
    "must have non-empty content"
)


@pytest.mark.parametrize("status", [400, 422])
@pytest.mark.parametrize(
    ("text", "stage", "name"),
    [(BLOCKED_BY, "input", "databricks_demo"), (FAILED_TO_EVALUATE, "output", "databricks_demo")],
)
def test_the_newer_guardrail_texts_on_a_400_or_422(
    status: int, text: str, stage: str, name: str
) -> None:
    for body in (
        {"error_code": "BAD_REQUEST", "message": text},
        {"error": {"type": "invalid_request_error", "message": text}},  # Anthropic's shape
    ):
        error = answer(status, body)
        assert type(error) is chatport.GuardrailError, body
        assert (error.stage, error.guardrail, error.findings) == (stage, name, ())
        assert error.status_code == status
        assert text in error.message


@pytest.mark.parametrize(
    ("status", "plain"),
    [
        (401, chatport.AuthenticationError),
        (403, chatport.PermissionDeniedError),
        (404, chatport.NotFoundError),
        (409, chatport.APIError),
    ],
)
def test_other_statuses_need_the_explicit_block_wording_and_keep_their_class(
    status: int, plain: type[chatport.APIError]
) -> None:
    error = answer(status, {"error_code": "X", "message": BLOCKED_BY})
    assert isinstance(error, chatport.GuardrailError)
    assert isinstance(error, plain)  # ``except NotFoundError`` still catches a 404
    assert (error.stage, error.guardrail, error.status_code) == ("input", "databricks_demo", status)
    for text in (FAILED_TO_EVALUATE, CAPTURED_GUARDRAIL["message"]):
        assert type(answer(status, {"error_code": "X", "message": text})) is plain


@pytest.mark.parametrize(
    ("status", "plain"),
    [(400, chatport.BadRequestError), (404, chatport.NotFoundError), (422, chatport.APIError)],
)
@pytest.mark.parametrize(
    "text",
    [
        "the input guardrail 'pii' does not exist",
        "RESOURCE_DOES_NOT_EXIST: Output guardrail 'pii' not found",
        "guardrails: input_guardrail must be a list",
    ],
)
def test_a_message_naming_a_guardrail_is_no_block(
    status: int, plain: type[chatport.APIError], text: str
) -> None:
    assert type(answer(status, {"error_code": "X", "message": text})) is plain


def test_a_stream_error_event_is_an_output_guardrail_error() -> None:
    event = {"error": {"message": "Output guardrail 'g' blocked the response"}}
    error = error_from_event(event, "rest")
    assert type(error) is chatport.GuardrailError
    assert (error.stage, error.guardrail, error.status_code) == ("output", "g", None)


def test_a_budget_block_is_a_budget_error() -> None:
    text = "PERMISSION_DENIED: Budget 'team-a' has reached its limit."
    error = answer(403, {"error_code": "PERMISSION_DENIED", "message": text})
    assert type(error) is chatport.BudgetExceededError
    assert isinstance(error, chatport.PermissionDeniedError)
    assert (error.budget, error.status_code) == ("team-a", 403)
    for unnamed_text in (
        "BUDGET limit reached",
        "Usage budget exceeded for this workspace",
        "You have exceeded your monthly budget.",
    ):
        unnamed = answer(403, {"error_code": "PERMISSION_DENIED", "message": unnamed_text})
        assert isinstance(unnamed, chatport.BudgetExceededError), unnamed_text
        assert unnamed.budget is None


@pytest.mark.parametrize(
    "text",
    [
        "User cannot edit budget policies: access blocked",
        "Budget policies are limited to workspace admins",
        "The budget was not exceeded; the token is invalid",
        "Rate limit exceeded. Budget 'b' is fine.",
    ],
)
def test_a_403_merely_mentioning_a_budget_is_no_budget_block(text: str) -> None:
    assert type(answer(403, {"error_code": "PERMISSION_DENIED", "message": text})) is (
        chatport.PermissionDeniedError
    )


@pytest.mark.parametrize(
    "body",
    [
        {"error_code": 403, "message": "Invalid access token."},
        {
            "error_code": "PERMISSION_DENIED",
            "message": "The endpoint is temporarily disabled due to a Databricks-set rate "
            "limit of 0.",
        },
    ],
)
def test_other_403s_stay_permission_errors(body: dict[str, Any]) -> None:
    assert type(answer(403, body)) is chatport.PermissionDeniedError


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        (ITPM, "itpm"),
        (OTPM, "otpm"),
        (QPS, "qps"),
        ("RESOURCE_EXHAUSTED: Exceeded workspace QPS rate limit", "qps"),
        ("Exceeded endpoint tokens per minute (TPM) rate limit for x.", "tpm"),
        ("Exceeded the TPM limit", "tpm"),
        ("Too many queries per second", "qps"),
        ("Exceeded endpoint queries per minute (QPM) rate limit for x.", "rpm"),
        ("requests per minute limit reached", "rpm"),
        ("RPM exceeded", "rpm"),
        ("REQUEST_LIMIT_EXCEEDED: Exceeded workspace rate limit for x.", None),
        ("", None),
    ],
)
def test_a_429_says_which_limit(message: str, limit: str | None) -> None:
    for code in ("REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"):
        error = answer(429, {"error_code": code, "message": message}, {"retry-after": "3"})
        assert type(error) is chatport.RateLimitError
        assert (error.limit, error.retry_after) == (limit, 3.0)
    openai_shape = answer(429, {"error": {"message": message, "type": "rate_limit_exceeded"}})
    assert isinstance(openai_shape, chatport.RateLimitError)
    assert openai_shape.limit == limit


def test_ordinary_400s_are_not_guardrail_errors() -> None:
    extra = {"error_code": "BAD_REQUEST", "message": json.dumps({"message": "Extra inputs"})}
    for body in (extra, {"error_code": "BAD_REQUEST", "message": "max_tokens: too large"}):
        assert type(answer(400, body)) is chatport.BadRequestError


def test_the_new_errors_survive_a_pickle() -> None:
    import pickle

    blocked_404 = answer(404, {"message": BLOCKED_BY})
    for error in (answer(400, CAPTURED_GUARDRAIL), answer(429, {"message": ITPM}), blocked_404):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert vars(copy) == vars(error)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "input_guardrail",
                    "output_guardrail",
                    "flagged",
                    "categories",
                    "finishReason",
                    "pii_detection",
                    "usage",
                    "name",
                    "x",
                ]
            )
            | st.text(max_size=5),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(document=_json, status=st.sampled_from([400, 403, 409, 422]))
def test_any_json_message_is_a_guardrail_error_or_an_ordinary_one(
    document: Any, status: int
) -> None:
    body = {"error_code": "BAD_REQUEST", "message": json.dumps(document)}
    error = answer(status, body)
    plain = chatport._errors.error_for_status(status)
    assert type(error) in (chatport.GuardrailError, plain)
    assert str(error)  # neither may raise
    assert repr(error)
    if isinstance(error, chatport.GuardrailError):
        assert status in (400, 422)  # elsewhere only the explicit block wording is one
        assert error.stage in ("input", "output")
        assert all(type(finding) is dict for finding in error.findings)
        assert isinstance(document, dict)
    elif (
        status in (400, 422)
        and isinstance(document, dict)
        and ("input_guardrail" in document or "output_guardrail" in document)
    ):
        pytest.fail("a guardrail report was not recognised")
    event = error_from_event({"error": {"message": json.dumps(document)}}, "rest")
    assert isinstance(event, chatport.APIError)
    str(event)


# -- the local workspace, every backend --------------------------------------------------


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {"endpoints": [Endpoint("gov-plain", "echo")]}


def endpoint(ws: LocalWorkspace, **options: Any) -> str:
    """A fresh endpoint (its counters start at zero) with ``options``."""
    name = f"gov-{next(_names)}"
    ws.add_endpoint(name, "echo", **options)
    return name


def model_calls(ws: LocalWorkspace) -> list[Any]:
    return [r for r in ws.requests if r.method == "POST" and not r.path.startswith("/api/")]


def run(client: chatport.Client, mode: str, prompt: str, model: str) -> str:
    if mode == "sync":
        return client.complete(prompt, model=model).text
    if mode == "stream":
        return "".join(c.text or "" for c in client.stream(prompt, model=model))

    async def go() -> str:
        if mode == "async":
            return (await client.acomplete(prompt, model=model)).text
        return "".join([c.text or "" async for c in client.astream(prompt, model=model)])

    return asyncio.run(go())


def raised(backend: str, mode: str, prompt: str, model: str, **options: Any) -> Exception:
    with (
        chatport.Client(backend=backend, **options) as client,
        pytest.raises(chatport.APIError) as caught,
    ):
        run(client, mode, prompt, model)
    return caught.value


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_input_guardrail_blocks_are_guardrail_errors_never_retried(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    text = endpoint(module_workspace, guardrails=[Guardrail(name="no-secrets", pattern="secret")])
    report = endpoint(module_workspace, guardrails=[Guardrail(style="json")])
    error = raised(backend, mode, "tell me the secret", text, max_retries=2)
    assert type(error) is chatport.GuardrailError
    assert (error.stage, error.guardrail, error.status_code) == ("input", "no-secrets", 400)
    assert error.attempts == 1
    assert len(model_calls(module_workspace)) == 1  # not retried
    error = raised(backend, mode, "mail me at a@example.com", report, max_retries=2)
    assert type(error) is chatport.GuardrailError
    assert error.stage == "input"
    assert error.findings[0]["pii_detection"] is True
    assert error.message == "HTTP 400: input guardrail blocked the request: PII detected"
    assert len(model_calls(module_workspace)) == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_output_guardrail_blocks_are_output_guardrail_errors(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    guard = Guardrail(name="no-leaks", stage="output", pattern="secret")
    name = endpoint(module_workspace, guardrails=[guard])
    error = raised(backend, mode, "the secret is out", name, max_retries=2)
    assert type(error) is chatport.GuardrailError
    assert (error.stage, error.guardrail) == ("output", "no-leaks")
    # a stream had started (200) when the block came: no status; otherwise a 400
    assert error.status_code == (None if "stream" in mode else 400)
    assert error.attempts == 1
    assert len(model_calls(module_workspace)) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_mask_guardrails_rewrite_what_the_model_sees_and_says(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    pii = Guardrail(name="pii", action="mask")
    words = Guardrail(name="words", stage="output", action="mask", pattern=r"\bsecret\b")
    name = endpoint(module_workspace, guardrails=[pii, words])
    with chatport.Client(backend=backend, max_retries=0) as client:
        text = run(client, mode, "mail a.b@example.com the secret", name)
    assert text == "mail <EMAIL_ADDRESS> the <REDACTED>"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_spent_budget_is_a_budget_error_never_retried(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    name = endpoint(module_workspace, budget=Budget(name="team-a"))
    error = raised(backend, mode, "hello", name, max_retries=2)
    assert type(error) is chatport.BudgetExceededError
    assert (error.budget, error.status_code, error.attempts) == ("team-a", 403, 1)
    assert "has reached its limit" in error.message
    assert len(model_calls(module_workspace)) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_each_rate_limit_says_its_kind_and_is_retried(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    for kind in ("rpm", "tpm", "itpm", "otpm", "qps"):
        limit = RateLimit(kind=kind, retry_after=None)
        error = raised(
            backend, mode, "hello", endpoint(module_workspace, rate_limits=[limit]), max_retries=0
        )
        assert type(error) is chatport.RateLimitError
        assert (error.limit, error.status_code) == (kind, 429)
    module_workspace.clear_requests()
    once = RateLimit(kind="itpm", times=1, retry_after=0)
    name = endpoint(module_workspace, rate_limits=[once])
    with chatport.Client(backend=backend, max_retries=2) as client:
        assert run(client, mode, "hello again", name) == "hello again"
    assert len(model_calls(module_workspace)) == 2  # the 429, then the retry


def test_the_retry_policy_never_retries_governance_blocks() -> None:
    policy = RetryPolicy()
    assert not policy.retryable(answer(400, CAPTURED_GUARDRAIL))
    assert not policy.retryable(answer(403, {"message": "Budget 'b' has reached its limit"}))
    assert policy.retryable(answer(429, {"message": ITPM}))


@pytest.mark.parametrize("backend", ["openai", "responses"])
def test_the_gateway_routes_answer_the_same(module_workspace: LocalWorkspace, backend: str) -> None:
    name = endpoint(module_workspace, guardrails=[Guardrail(name="gw", pattern="secret")])
    config = {"backends": {backend: {"route": "ai-gateway"}}}
    for mode in ("sync", "stream"):
        error = raised(backend, mode, "a secret", name, config=config, max_retries=0)
        assert isinstance(error, chatport.GuardrailError)
        assert error.guardrail == "gw"
    assert {r.path for r in model_calls(module_workspace)} == {
        f"/ai-gateway/mlflow/v1/{'chat/completions' if backend == 'openai' else 'responses'}"
    }


ROUTES = [
    ("/serving-endpoints/{name}/invocations", "chat"),
    ("/serving-endpoints/chat/completions", "chat"),
    ("/ai-gateway/mlflow/v1/chat/completions", "chat"),
    ("/serving-endpoints/responses", "responses"),
    ("/ai-gateway/mlflow/v1/responses", "responses"),
    ("/serving-endpoints/open-responses", "responses"),
    ("/serving-endpoints/anthropic/v1/messages", "messages"),
    ("/ai-gateway/anthropic/v1/messages", "messages"),
]


def _body(api: str, name: str, text: str) -> dict[str, Any]:
    if api == "responses":
        return {"model": name, "input": text}
    body: dict[str, Any] = {"model": name, "messages": [{"role": "user", "content": text}]}
    return {**body, "max_tokens": 50} if api == "messages" else body


@pytest.mark.parametrize(("path", "api"), ROUTES)
def test_every_chat_route_enforces_governance(
    module_workspace: LocalWorkspace, path: str, api: str
) -> None:
    """On the wire: the same status and body on each route the local workspace serves."""
    options = {"family": "openai" if api == "responses" else "anthropic"}
    guard = Guardrail(name="wire", pattern="secret")
    name = endpoint(module_workspace, guardrails=[guard], **options)
    budget = endpoint(module_workspace, budget=Budget(name="b", after=1), **options)
    limited = endpoint(module_workspace, rate_limits=[RateLimit(kind="qps")], **options)
    headers = {"Authorization": f"Bearer {module_workspace.token}"}
    with httpx.Client(base_url=module_workspace.url, headers=headers, timeout=10) as http:

        def post(model: str, text: str) -> httpx.Response:
            return http.post(path.format(name=model), json=_body(api, model, text))

        blocked = post(name, "a secret")
        assert blocked.status_code == 400
        assert blocked.json()["message"] == "Request blocked by input guardrail 'wire'"
        assert post(name, "fine").status_code == 200
        assert post(budget, "one").status_code == 200
        spent = post(budget, "two")
        assert (spent.status_code, spent.json()["error_code"]) == (403, "PERMISSION_DENIED")
        assert "Budget 'b' has reached its limit" in spent.json()["message"]
        limit = post(limited, "x")
        assert (limit.status_code, limit.headers["retry-after"]) == (429, "1")
        assert limit.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        assert "Exceeded workspace QPS rate limit for" in limit.json()["message"]


# -- configuration -----------------------------------------------------------------------


def test_governance_is_configured_from_a_local_workspace_file() -> None:
    table = {
        "guarded": {
            "guardrails": [{"name": "pii", "stage": "input", "action": "mask"}],
            "budget": {"name": "team", "after": 2},
            "rate_limits": [{"kind": "otpm", "after": 1, "times": 1, "retry_after": 0}],
        }
    }
    (built,) = endpoints_from_table(table, "ws.toml")
    assert built.guardrails == [Guardrail(name="pii", action="mask")]
    assert built.budget == Budget(name="team", after=2)
    assert built.rate_limits == [RateLimit(kind="otpm", after=1, times=1, retry_after=0)]


@pytest.mark.parametrize(
    ("spec", "key", "words"),
    [
        ({"guardrails": [{"stage": "middle"}]}, "endpoints.e.guardrails[0].stage", "middle"),
        ({"guardrails": [{"pattern": "("}]}, "endpoints.e.guardrails[0].pattern", "regular"),
        ({"guardrails": {"stage": "input"}}, "endpoints.e.guardrails", "a list"),
        ({"guardrails": [{"oops": 1}]}, "endpoints.e.guardrails[0].oops", "unknown key"),
        ({"budget": {"after": -1}}, "endpoints.e.budget.after", ">= 0"),
        ({"budget": "yes"}, "endpoints.e.budget", "a Budget or a table"),
        ({"rate_limits": [{"kind": "rph"}]}, "endpoints.e.rate_limits[0].kind", "rph"),
        (
            {"rate_limits": [{"kind": "tpm", "times": 0}]},
            "endpoints.e.rate_limits[0].times",
            ">= 1",
        ),
    ],
)
def test_bad_governance_settings_are_config_errors(
    spec: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(chatport.ConfigError, match=words) as caught:
        endpoints_from_table({"e": spec}, "ws.toml")
    assert (caught.value.key, caught.value.path) == (key, "ws.toml")
    with pytest.raises(chatport.ConfigError):
        Guardrail(action="allow")  # type: ignore[arg-type]
