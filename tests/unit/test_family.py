"""Endpoint profiles: what chatport concludes from endpoint metadata, and from names."""

from __future__ import annotations

from typing import Any

import pytest

from chatport._family import profile_from_metadata, profile_from_name


def served(entity: dict[str, Any]) -> dict[str, Any]:
    return {"name": "ep", "config": {"served_entities": [entity]}}


@pytest.mark.parametrize(
    ("entity", "family", "reasoning", "model"),
    [
        ({"external_model": {"provider": "openai", "name": "gpt-4o"}}, "openai", None, "gpt-4o"),
        ({"external_model": {"provider": "azure-openai", "name": "o3"}}, "openai", "effort", "o3"),
        (
            {"external_model": {"provider": "anthropic", "name": "claude-sonnet-4-5"}},
            "anthropic",
            "thinking",
            "claude-sonnet-4-5",
        ),
        (
            {"external_model": {"provider": "google-cloud-vertex-ai", "name": "gemini-2.5-pro"}},
            "google",
            "effort",
            "gemini-2.5-pro",
        ),
        (
            {
                "external_model": {
                    "provider": "amazon-bedrock",
                    "name": "my-model",
                    "amazon_bedrock_config": {"bedrock_provider": "anthropic"},
                }
            },
            "anthropic",
            None,
            "my-model",
        ),
        (
            {"foundation_model": {"name": "databricks-claude-3-7-sonnet"}},
            "anthropic",
            "thinking",
            "databricks-claude-3-7-sonnet",
        ),
        (
            {"foundation_model": {"name": "databricks-meta-llama-3-3-70b-instruct"}},
            "meta",
            None,
            "databricks-meta-llama-3-3-70b-instruct",
        ),
        (
            {"foundation_model": {"name": "fm-1", "display_name": "GPT OSS 120B"}},
            "openai",
            None,
            "fm-1",
        ),
        ({"entity_name": "main.default.my_model", "entity_version": "3"}, "other", None, "ep"),
    ],
)
def test_profile_from_metadata(
    entity: dict[str, Any], family: str, reasoning: str | None, model: str
) -> None:
    profile = profile_from_metadata("ep", served(entity))
    assert (profile.family, profile.reasoning, profile.model) == (family, reasoning, model)
    assert profile.source == "metadata"
    assert profile.external == ("external_model" in entity)


def test_a_custom_endpoint_is_not_guessed_from_its_name() -> None:
    profile = profile_from_metadata("my-claude-proxy", {"name": "my-claude-proxy"})
    assert (profile.family, profile.reasoning, profile.source) == ("other", None, "metadata")


@pytest.mark.parametrize(
    ("name", "family", "reasoning"),
    [
        ("databricks-claude-sonnet-4-5", "anthropic", "thinking"),
        ("databricks-claude-opus-4-1", "anthropic", "thinking"),
        ("databricks-claude-3-7-sonnet", "anthropic", "thinking"),
        ("databricks-claude-3-5-sonnet", "anthropic", None),
        ("databricks-gpt-5", "openai", "effort"),
        ("system.ai.gpt-5-mini", "openai", "effort"),
        ("databricks-gpt-oss-120b", "openai", "effort"),
        ("databricks-gpt-4o", "openai", None),
        ("databricks-gemini-2-5-pro", "google", "effort"),
        ("databricks-gemini-2-0-flash", "google", None),
        ("databricks-meta-llama-3-3-70b-instruct", "meta", None),
        ("local-bare", "other", None),
        ("scoring-v2", "other", None),
    ],
)
def test_profile_from_name(name: str, family: str, reasoning: str | None) -> None:
    profile = profile_from_name(name)
    assert (profile.family, profile.reasoning, profile.source) == (family, reasoning, "name")


@pytest.mark.parametrize(
    ("name", "asks"),
    [
        ("databricks-gpt-5", True),
        ("databricks-claude-sonnet-4-5", False),
        ("databricks-meta-llama-3-3-70b-instruct", False),
        ("databricks-gemini-2-5-pro", False),
        ("local-bare", False),
    ],
)
def test_only_openai_family_streams_ask_for_usage(name: str, asks: bool) -> None:
    assert profile_from_name(name).asks_for_stream_usage is asks
