"""What a real workspace refuses or does differently, on the wire.

The rules: docs/wire-facts.md#workspace-rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chatport import ConfigError
from chatport.local import LocalWorkspace

from .wire import CLAUDE, GEMINI, GPT, LLAMA, OSS, THINKING, USER, chat, chunks, post, refused

# -- metadata ---------------------------------------------------------------------


def get_info(ws: LocalWorkspace, name: str) -> dict[str, Any]:
    response = httpx.get(
        f"{ws.url}/api/2.0/serving-endpoints/{name}",
        headers={"Authorization": f"Bearer {ws.token}"},
    )
    assert response.status_code == 200
    info: dict[str, Any] = response.json()
    return info


@pytest.mark.parametrize("name", [CLAUDE, GPT, OSS, LLAMA, GEMINI])
def test_foundation_model_metadata(ws: LocalWorkspace, name: str) -> None:
    info = get_info(ws, name)
    assert info["endpoint_type"] == "FOUNDATION_MODEL_API"
    (entity,) = info["config"]["served_entities"]
    assert entity["foundation_model"]["name"] == name
    assert entity["foundation_model"]["display_name"]
    assert "external_model" not in entity
    assert (info["task"], info["state"]["ready"]) == ("llm/v1/chat", "READY")


@pytest.mark.parametrize(
    ("family", "provider", "model"),
    [
        ("openai", "openai", "gpt-5"),
        ("anthropic", "anthropic", "claude-sonnet-4-5"),
        ("google", "google-cloud-vertex-ai", "gemini-2.5-pro"),
        ("meta", "databricks-model-serving", "databricks-meta-llama-3-3-70b-instruct"),
    ],
)
def test_external_model_metadata(
    ws: LocalWorkspace, family: str, provider: str, model: str
) -> None:
    ws.add_endpoint(f"ext-{family}", family=family, external=True)
    info = get_info(ws, f"ext-{family}")
    assert info["endpoint_type"] == "EXTERNAL_MODEL"
    (entity,) = info["config"]["served_entities"]
    assert entity["external_model"] == {"provider": provider, "name": model, "task": "llm/v1/chat"}
    assert "foundation_model" not in entity


def test_foundation_model_default_and_custom_metadata(ws: LocalWorkspace) -> None:
    ws.add_endpoint("my-claude", family="anthropic")
    (entity,) = get_info(ws, "my-claude")["config"]["served_entities"]
    assert entity["foundation_model"]["name"] == "databricks-claude-sonnet-4-5"
    custom = get_info(ws, "local-scripted")
    assert "endpoint_type" not in custom
    (entity,) = custom["config"]["served_entities"]
    assert entity["entity_name"] == "local.chatport.local-scripted"
    assert not {"foundation_model", "external_model"} & set(entity)


def test_families_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "local.toml"
    path.write_text(
        "default_endpoints = false\n\n"
        '[endpoints.thinker]\nmodel = "reasoning"\nfamily = "anthropic"\n'
        'foundation_model = "databricks-claude-3-7-sonnet"\n\n'
        '[endpoints.proxy]\nfamily = "openai"\nexternal = true\n'
    )
    with LocalWorkspace(config=path) as ws:
        thinker, proxy = ws.endpoint("thinker"), ws.endpoint("proxy")
        assert (thinker.family, thinker.hybrid, proxy.external) == ("anthropic", True, True)
        entity = get_info(ws, "thinker")["config"]["served_entities"][0]
        assert entity["foundation_model"]["name"] == "databricks-claude-3-7-sonnet"
        assert isinstance(chat(ws, "thinker").json()["choices"][0]["message"]["content"], str)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[endpoints.x]\nfamily = "mistral"\n', "unknown family 'mistral'"),
        ("[endpoints.x]\nexternal = true\n", "external needs a family"),
        ('[endpoints.x]\nfoundation_model = "m"\n', "foundation_model needs a family"),
        ('[endpoints.x]\nfamily = "openai"\nexternal = "yes"\n', "expected true or false"),
    ],
)
def test_bad_family_config(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "local.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        LocalWorkspace(config=path)


# -- streamed usage ---------------------------------------------------------------


def test_openai_family_streams_usage_only_when_asked(ws: LocalWorkspace) -> None:
    plain = chunks(ws, GPT)
    assert all("usage" not in chunk for chunk in plain)
    asked = chunks(ws, GPT, stream_options={"include_usage": True})
    finish, extra = asked[-2:]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in finish
    assert extra["choices"] == []
    assert extra["object"] == "chat.completion.chunk"
    assert extra["id"] == finish["id"]
    assert extra["usage"] == chat(ws, GPT).json()["usage"]
    assert all("usage" not in chunk for chunk in asked[:-1])
    declined = chunks(ws, GPT, stream_options={"include_usage": False})
    assert all("usage" not in chunk for chunk in declined)


#: What a Claude endpoint adds to every usage object (litellm PR #36943 captured them).
CLAUDE_CACHE = {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}


@pytest.mark.parametrize("name", [CLAUDE, LLAMA])
def test_claude_and_llama_stream_usage_in_every_chunk(ws: LocalWorkspace, name: str) -> None:
    streamed = chunks(ws, name, stream_options={"include_usage": True})
    partial = {"prompt_tokens": 3, "completion_tokens": None, "total_tokens": None}
    if name == CLAUDE:
        partial.update(CLAUDE_CACHE)  # the prompt side is known from the first chunk
    assert [chunk["usage"] for chunk in streamed[:-1]] == [partial] * (len(streamed) - 1)
    assert streamed[-1]["choices"][0]["finish_reason"] == "stop"
    assert streamed[-1]["usage"] == chat(ws, name).json()["usage"]
    assert streamed[-1]["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize("stream", [False, True])
def test_claude_usage_carries_cache_counts_and_reasoning_tokens(
    ws: LocalWorkspace, stream: bool
) -> None:
    """Claude on Databricks chat: top-level cache counts, reasoning tokens even when 0."""
    for extra, reasoning in (({}, 0), (THINKING, 6)):
        if stream:
            usage = chunks(ws, CLAUDE, **extra)[-1]["usage"]
        else:
            usage = chat(ws, CLAUDE, **extra).json()["usage"]
        assert usage == {
            "prompt_tokens": 3,
            "completion_tokens": 3 + reasoning,
            "total_tokens": 6 + reasoning,
            **CLAUDE_CACHE,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }


@pytest.mark.parametrize("name", [GPT, LLAMA, GEMINI, "local-scripted"])
@pytest.mark.parametrize("stream", [False, True])
def test_other_families_send_no_claude_usage_fields(
    ws: LocalWorkspace, name: str, stream: bool
) -> None:
    if stream:
        body = {} if name == GEMINI else {"stream_options": {"include_usage": True}}
        usages = [c["usage"] for c in chunks(ws, name, **body) if c.get("usage")]
    else:
        usages = [chat(ws, name).json()["usage"]]
    assert usages
    for usage in usages:
        assert not set(usage) & set(CLAUDE_CACHE), name
        assert "completion_tokens_details" not in usage, name


@pytest.mark.parametrize("name", [GEMINI, "local-scripted"])
def test_gemini_and_custom_stream_usage_on_the_finish_chunk(ws: LocalWorkspace, name: str) -> None:
    streamed = chunks(ws, name)
    assert all("usage" not in chunk for chunk in streamed[:-1])
    assert streamed[-1]["choices"][0]["finish_reason"] == "stop"
    assert streamed[-1]["usage"]["total_tokens"] > 3


def test_custom_accepts_stream_options_and_bare_sends_no_usage(ws: LocalWorkspace) -> None:
    assert "usage" in chunks(ws, "local-scripted", stream_options={"include_usage": True})[-1]
    bare = chunks(ws, "local-bare", stream_options={"include_usage": True})
    assert all("usage" not in chunk for chunk in bare)


@pytest.mark.parametrize("stream", [True, False])
def test_gemini_refuses_stream_options_in_googles_shape(ws: LocalWorkspace, stream: bool) -> None:
    response = chat(ws, GEMINI, stream=stream, stream_options={"include_usage": True})
    message = (
        'Invalid JSON payload received. Unknown name "stream_options" '
        "at 'generation_config': Cannot find field."
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": "generation_config", "description": message}],
                }
            ],
        }
    }


# -- Gemini content -----------------------------------------------------------------


def test_gemini_content_parts_with_thought_signature(ws: LocalWorkspace) -> None:
    message = chat(ws, GEMINI).json()["choices"][0]["message"]
    (part,) = message["content"]
    assert part["type"] == "text"
    assert part["text"] == "alpha beta gamma"
    assert (
        part["thoughtSignature"]
        == chat(ws, GEMINI).json()["choices"][0]["message"]["content"][0]["thoughtSignature"]
    )  # deterministic
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks(ws, GEMINI)]
    parts = [d[0] for d in deltas if isinstance(d, list)]
    assert "".join(p["text"] for p in parts) == "alpha beta gamma"
    assert [p.get("thoughtSignature") for p in parts] == [None, None, part["thoughtSignature"]]
    replay = [USER, message, {"role": "user", "content": "next"}]
    again = post(ws, f"/serving-endpoints/{GEMINI}/invocations", {"messages": replay})
    assert again.json()["choices"][0]["message"]["content"][0]["text"] == "next"
    other = post(ws, f"/serving-endpoints/{GPT}/invocations", {"messages": replay})
    refused(other, "messages.1.content.0.thoughtSignature: Extra inputs are not permitted")
    user_signed = {"role": "user", "content": [{**part}]}
    refused(
        post(ws, f"/serving-endpoints/{GEMINI}/invocations", {"messages": [user_signed]}),
        "messages.0.content.0.thoughtSignature: Extra inputs",
    )


# -- reasoning -----------------------------------------------------------------------


def test_hybrid_claude_reasons_only_with_thinking(ws: LocalWorkspace) -> None:
    plain = chat(ws, CLAUDE).json()
    assert plain["choices"][0]["message"]["content"] == "alpha beta gamma"
    assert plain["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}
    disabled = chat(ws, CLAUDE, thinking={"type": "disabled"}).json()
    assert disabled["choices"][0]["message"]["content"] == "alpha beta gamma"
    thought = chat(ws, CLAUDE, **THINKING).json()
    reasoning, text = thought["choices"][0]["message"]["content"]
    summary = reasoning["summary"][0]
    assert summary["text"] == "The user asked: alpha beta gamma"
    assert summary["signature"].startswith("sig-")
    assert text == {"type": "text", "text": "alpha beta gamma"}
    assert thought["usage"]["completion_tokens_details"] == {"reasoning_tokens": 6}
    assert thought["usage"]["completion_tokens"] == 3 + 6
    streamed = chunks(ws, CLAUDE, **THINKING)
    assert streamed[-1]["usage"] == thought["usage"]
    signatures = [
        block["summary"][0]["signature"]
        for chunk in streamed
        for block in chunk["choices"][0]["delta"].get("content") or []
        if isinstance(block, dict) and block["type"] == "reasoning"
    ]
    assert summary["signature"] in signatures


def test_gpt_oss_always_reasons_without_signature(ws: LocalWorkspace) -> None:
    body = chat(ws, OSS, reasoning_effort="low").json()
    reasoning = body["choices"][0]["message"]["content"][0]
    assert reasoning["type"] == "reasoning"
    assert "signature" not in reasoning["summary"][0]
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 6}
    streamed = chunks(ws, OSS, stream_options={"include_usage": True})
    assert streamed[-1]["usage"] == body["usage"]


@pytest.mark.parametrize(
    ("name", "body", "fragment"),
    [
        (CLAUDE, {"thinking": {"type": "enabled", "budget_tokens": 1000}, "max_tokens": 2000}, "at least 1024"),
        (CLAUDE, {"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 2000}, "greater than thinking.budget_tokens"),
        (CLAUDE, {"thinking": {"type": "enabled", "budget_tokens": 1024}}, "max_tokens: required"),
        (CLAUDE, {"thinking": {"type": "sometimes"}}, "'enabled' or 'disabled'"),
        (CLAUDE, {"reasoning_effort": "low"}, "reasoning_effort is not supported by Claude"),
        (LLAMA, {"reasoning_effort": "low"}, "reasoning_effort is not supported by Llama"),
        (LLAMA, THINKING, "thinking is not supported by Llama"),
        (GPT, THINKING, "thinking is not supported by OpenAI"),
        (OSS, THINKING, "thinking is not supported by OpenAI"),
        (GEMINI, THINKING, "thinking is not supported by Gemini"),
        (GPT, {"reasoning_effort": "extreme"}, "must be one of low, medium, high"),
        ("local-scripted", {"reasoning_effort": "none"}, "must be one of low, medium, high"),
    ],
)  # fmt: skip
def test_reasoning_parameters_refused(
    ws: LocalWorkspace, name: str, body: dict[str, Any], fragment: str
) -> None:
    refused(chat(ws, name, **body), fragment)


def test_non_hybrid_claude_refuses_thinking(ws: LocalWorkspace) -> None:
    ws.add_endpoint("plain-claude", "echo", family="anthropic")
    refused(chat(ws, "plain-claude", **THINKING), "Only hybrid reasoning Claude models")


@pytest.mark.parametrize("name", [GPT, OSS, GEMINI, "local-scripted"])
def test_reasoning_effort_accepted(ws: LocalWorkspace, name: str) -> None:
    assert chat(ws, name, reasoning_effort="high").status_code == 200


def test_custom_endpoints_keep_their_lenient_reasoning(ws: LocalWorkspace) -> None:
    ws.add_endpoint("my-thinker", "reasoning")
    content = chat(ws, "my-thinker").json()["choices"][0]["message"]["content"]
    assert content[0]["summary"][0]["signature"].startswith("sig-")
    assert chat(ws, "my-thinker", **THINKING).status_code == 200
