"""The local models: deterministic answers computed from validated chat messages."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .endpoints import Endpoint
from .formats import TextFormat, render

__all__ = ["Answer", "answer", "count_words", "message_text", "signature_for", "split_pieces"]


def count_words(text: str) -> int:
    """The local token count: whitespace-separated words."""
    return len(text.split())


def split_pieces(text: str) -> list[str]:
    """Stream pieces: each word with its trailing whitespace."""
    return re.findall(r"\S+\s*|\s+", text)


def message_text(message: dict[str, Any]) -> str:
    """The plain text of a chat message (text parts joined; reasoning left out)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


@dataclass
class Answer:
    """One generated choice."""

    text: str = ""
    reasoning: str | None = None
    signature: str | None = None
    text_signature: str | None = None
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    finish_reason: str = "stop"
    completion_tokens: int = 0
    stop_sequence: str | None = None


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _chosen_tool(tools: list[dict[str, Any]], tool_choice: Any) -> str | None:
    """The tool to call: the one ``tool_choice`` names, else the first offered."""
    if not tools or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        function = tool_choice.get("function")
        named = function.get("name") if isinstance(function, dict) else None
        name = named or tool_choice.get("name")
        if isinstance(name, str):
            return name
    function = tools[0].get("function") or tools[0]
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


def signature_for(endpoint: Endpoint, reasoning: str) -> str:
    """The signature ``endpoint`` gives a reasoning text (checked when it is replayed)."""
    return f"sig-{_short_hash(endpoint.name, reasoning)}"


def _stop_at(text: str, stop: Any) -> tuple[str, str | None]:
    """``text`` cut before the first stop sequence, and the sequence that cut it."""
    sequences = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [(text.find(s), s) for s in sequences if s and s in text]
    if not cuts:
        return text, None
    position, sequence = min(cuts)
    return text[:position], sequence


def _truncate(text: str, max_tokens: int | None) -> tuple[str, bool]:
    if max_tokens is None or count_words(text) <= max_tokens:
        return text, False
    pieces = split_pieces(text.strip())
    return "".join(pieces[:max_tokens]).rstrip(), True


def answer(
    endpoint: Endpoint,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    reasons: bool = False,
    text_format: TextFormat | None = None,
) -> list[Answer]:
    """Generate ``n`` choices for validated ``messages`` and ``params``.

    ``reasons`` adds a reasoning block; ``text_format`` makes the answer JSON (not for
    ``scripted`` replies). ``params["stop"]`` cuts the answer before the first stop
    sequence, then ``params["max_tokens"]`` truncates it (``finish_reason: "length"``).
    """
    last = messages[-1]
    question = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            question = message_text(message)
            break
    max_tokens = params.get("max_tokens")
    tool_name = _chosen_tool(params.get("tools") or [], params.get("tool_choice"))
    choices = []
    for index in range(int(params.get("n") or 1)):
        result = Answer()
        if reasons:  # a reasoning model thinks before it answers or calls a tool
            result.reasoning = f"The user asked: {question}"
            if endpoint.signature:
                result.signature = signature_for(endpoint, result.reasoning)
        if tool_name is not None and last.get("role") == "user":
            arguments = json.dumps({"query": question})
            result.tool_calls.append(
                {
                    "id": f"call_{_short_hash(question, str(index))}",
                    "name": tool_name,
                    "arguments": arguments,
                }
            )
            result.finish_reason = "tool_calls"
            result.completion_tokens = count_words(arguments) + count_words(result.reasoning or "")
            choices.append(result)
            continue
        if last.get("role") == "tool":
            text = render(text_format, f"The tool returned: {message_text(last)}")
        elif endpoint.model == "scripted":
            text = endpoint.scripted_reply(question)
        else:
            text = render(text_format, question or "(no question)")
        text, result.stop_sequence = _stop_at(text, params.get("stop"))
        result.text, truncated = _truncate(text, max_tokens)
        if truncated:
            result.finish_reason = "length"
        if endpoint.family == "google":
            result.text_signature = f"sig-{_short_hash(endpoint.name, result.text)}"
        result.completion_tokens = count_words(result.text) + count_words(result.reasoning or "")
        choices.append(result)
    return choices


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The local prompt-token count of ``messages``."""
    return sum(count_words(message_text(m)) for m in messages)
