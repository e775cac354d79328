"""The model families the local workspace emulates, and what each reports as metadata.

This table is the emulator's own: it never looks at endpoint names to find a family.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = [
    "EXTERNAL_MODELS",
    "FAMILIES",
    "FOUNDATION_MODELS",
    "PROVIDERS",
    "Family",
    "display_name",
]

Family: TypeAlias = Literal["openai", "anthropic", "meta", "google"]
#: The families an endpoint can belong to (``None`` is a custom model).
FAMILIES: tuple[Family, ...] = ("openai", "anthropic", "meta", "google")

#: A representative pay-per-token model of each family, reported when none is given.
FOUNDATION_MODELS: dict[Family, str] = {
    "openai": "databricks-gpt-5",
    "anthropic": "databricks-claude-sonnet-4-5",
    "meta": "databricks-meta-llama-3-3-70b-instruct",
    "google": "databricks-gemini-2-5-pro",
}

#: A representative provider-side model name of each family, for external endpoints.
EXTERNAL_MODELS: dict[Family, str] = {
    "openai": "gpt-5",
    "anthropic": "claude-sonnet-4-5",
    "meta": "databricks-meta-llama-3-3-70b-instruct",
    "google": "gemini-2.5-pro",
}

#: The ``external_model.provider`` value the serving API uses for each family.
PROVIDERS: dict[Family, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google-cloud-vertex-ai",
    "meta": "databricks-model-serving",
}

_WORDS = {"gpt": "GPT", "oss": "OSS", "ai": "AI"}


def display_name(model: str) -> str:
    """A human name for a foundation model, e.g. ``databricks-gpt-5`` -> ``GPT 5``."""
    words = model.removeprefix("databricks-").split("-")
    return " ".join(_WORDS.get(word, word.capitalize()) for word in words)
