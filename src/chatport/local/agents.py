"""Local agent endpoints: a ChatAgent and a ResponsesAgent, as Model Serving answers them.

An agent endpoint (model ``chat-agent`` or ``responses-agent``) takes its agent's own
request shape on every route that reaches it: ``messages`` for a ChatAgent, ``input`` for
a ResponsesAgent. A body without it is refused as MLflow's schema check refuses it
(``Model is missing inputs [...]``). Each agent runs one tool itself, then answers with
the question: a ChatAgent answers ``messages`` (the assistant's tool call, the tool's
result, the final assistant message), a ResponsesAgent ``output`` items (a
``function_call``, its ``function_call_output``, a ``message``). ``custom_inputs`` come
back in ``custom_outputs``; every answer carries ``databricks_output`` with the request
id, and a trace when ``databricks_options.return_trace`` is true.

Streams: a ChatAgent sends ``delta`` chunks (``data:`` lines, then ``[DONE]``); a
ResponsesAgent sends ``response.output_item.done`` and ``response.output_text.delta``
events and ends with a ``response.completed`` event that carries no ``response`` object,
only ``databricks_output``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .errors import bad_request

if TYPE_CHECKING:
    from .endpoints import Endpoint

__all__ = [
    "AGENT_TASKS",
    "agent_answer",
    "agent_events",
    "check_agent_body",
    "is_agent",
]

#: The serving task each local agent kind reports in its endpoint metadata.
AGENT_TASKS: dict[str, str] = {
    "chat-agent": "agent/v2/chat",
    "responses-agent": "agent/v1/responses",
}
_INPUT_KEY = {"chat-agent": "messages", "responses-agent": "input"}
_TOOL = "lookup"
_CALL_ID = "call_agent_1"


def is_agent(endpoint: Endpoint) -> bool:
    """Whether ``endpoint`` serves a local agent."""
    return endpoint.model in AGENT_TASKS


def check_agent_body(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """Refuse a body without the agent's input, as MLflow's schema check does."""
    key = _INPUT_KEY[endpoint.model]
    if not isinstance(body.get(key), list) or not body[key]:
        extra = [name for name in ("messages", "input") if name != key and name in body]
        message = f"Model is missing inputs [{key!r}]."
        if extra:
            message += f" Note that there were extra inputs: {extra!r}."
        raise bad_request(message)
    custom = body.get("custom_inputs")
    if custom is not None and not isinstance(custom, dict):
        raise bad_request("custom_inputs: must be an object")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        )
    return ""


def _question(items: list[Any]) -> str:
    for item in reversed(items):
        if isinstance(item, dict) and item.get("role") == "user":
            return _text_of(item.get("content"))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _databricks_output(body: dict[str, Any], request_id: str, question: str) -> dict[str, Any]:
    output: dict[str, Any] = {"databricks_request_id": request_id}
    options = body.get("databricks_options")
    if isinstance(options, dict) and options.get("return_trace") is True:
        output["trace"] = {
            "info": {"request_id": request_id, "state": "OK"},
            "data": {"spans": [{"name": _TOOL, "inputs": {"query": question}}]},
        }
    return output


def agent_answer(endpoint: Endpoint, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The agent's whole (non-streamed) answer to a checked body."""
    items = body[_INPUT_KEY[endpoint.model]]
    question = _question(items)
    arguments = json.dumps({"query": question}, separators=(",", ":"))
    found = f"found: {question}"
    custom_outputs = {"agent": endpoint.name, "custom_inputs": body.get("custom_inputs")}
    databricks_output = _databricks_output(body, request_id, question)
    if endpoint.model == "chat-agent":
        call = {
            "id": _CALL_ID,
            "type": "function",
            "function": {"name": _TOOL, "arguments": arguments},
        }
        answer: dict[str, Any] = {
            "messages": [
                {"role": "assistant", "content": None, "tool_calls": [call], "id": "msg_1"},
                {
                    "role": "tool",
                    "name": _TOOL,
                    "tool_call_id": _CALL_ID,
                    "content": found,
                    "id": "msg_2",
                },
                {"role": "assistant", "content": question, "id": "msg_3"},
            ],
            "finish_reason": "stop",
            "custom_outputs": custom_outputs,
        }
        if not endpoint.omit_usage:
            prompt = sum(_words(_text_of(m.get("content"))) for m in items if isinstance(m, dict))
            completion = _words(question)
            answer["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        answer["databricks_output"] = databricks_output
        return answer
    output = [
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": _CALL_ID,
            "name": _TOOL,
            "arguments": arguments,
        },
        {"type": "function_call_output", "call_id": _CALL_ID, "output": found},
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "content": [{"type": "output_text", "text": question, "annotations": []}],
        },
    ]
    return {
        "object": "response",
        "output": output,
        "custom_outputs": custom_outputs,
        "databricks_output": databricks_output,
    }


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


def agent_events(endpoint: Endpoint, answer: dict[str, Any]) -> list[Any]:
    """The stream of ``answer``: the objects of its ``data:`` lines (``[DONE]`` last for a
    ChatAgent)."""
    if endpoint.model == "chat-agent":
        events: list[Any] = []
        messages = answer["messages"]
        for message in messages:
            content = message.get("content")
            if message["role"] == "assistant" and isinstance(content, str):
                for piece in _pieces(content):
                    delta = {"role": "assistant", "content": piece, "id": message["id"]}
                    events.append({"delta": delta})
            else:
                events.append({"delta": message})
        last = events[-1]
        last["finish_reason"] = answer.get("finish_reason")
        last["custom_outputs"] = answer["custom_outputs"]
        if "usage" in answer:
            last["usage"] = answer["usage"]
        last["databricks_output"] = answer["databricks_output"]
        return [*events, "[DONE]"]
    events = []
    for item in answer["output"]:
        if item["type"] == "message":
            text = "".join(part["text"] for part in item["content"])
            for piece in _pieces(text):
                events.append(
                    {"type": "response.output_text.delta", "item_id": item["id"], "delta": piece}
                )
        events.append({"type": "response.output_item.done", "item": item})
    events.append(
        {
            "type": "response.completed",
            "custom_outputs": answer["custom_outputs"],
            "databricks_output": answer["databricks_output"],
        }
    )
    return events
