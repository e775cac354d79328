"""An outside backend plugin, written only against chatport's public API."""

from __future__ import annotations

import chatport


class XBackend(chatport.Backend):
    """Answers every question with its reversed text."""

    description = "example outside backend (reverses the question)"

    def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
        question = request.messages[-1].text
        return chatport.Completion(
            text=question[::-1],
            model=request.model,
            finish_reason="stop",
            usage=chatport.Usage(prompt_tokens=len(question), completion_tokens=len(question)),
        )


@chatport.hookimpl
def chatport_register_backends(registry: chatport.BackendRegistry) -> None:
    registry.add("x", XBackend)
