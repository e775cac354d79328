"""A plugin with a misspelled hook name."""

import chatport

from . import EVENTS


@chatport.hookimpl
def chatport_befor_request(request: chatport.ChatRequest) -> None:
    EVENTS.append("typo")
