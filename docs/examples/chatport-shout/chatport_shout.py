"""A complete chatport plugin: one backend and one observer.

The pyproject.toml next to this file packages it, with the entry point
``[project.entry-points.chatport] shout = "chatport_shout"``.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import chatport

log = logging.getLogger("chatport_shout")


class ShoutBackend(chatport.Backend):
    """Answers with the last user message in capitals."""

    description = "answers in capitals (example plugin)"
    capabilities = chatport.Capabilities(streaming=False)
    option_types: ClassVar[dict[str, type]] = {"suffix": str}

    def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
        question = request.messages[-1].text
        answer = question.upper() + self.settings.option("suffix", "!")
        return chatport.Completion(
            text=answer,
            model=request.model,
            finish_reason="stop",
            usage=chatport.Usage(prompt_tokens=len(question.split()), completion_tokens=1),
        )


@chatport.hookimpl
def chatport_register_backends(registry: chatport.BackendRegistry) -> None:
    registry.add("shout", ShoutBackend, aliases=("loud",))


@chatport.hookimpl
def chatport_after_completion(completion: chatport.Completion, backend: str) -> None:
    log.info("%s answered in %.3fs", backend, completion.latency_s or 0.0)
