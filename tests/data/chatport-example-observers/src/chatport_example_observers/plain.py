"""An observer with no ordering wish."""

import chatport

from . import EVENTS


@chatport.hookimpl
def chatport_after_completion(completion: chatport.Completion) -> None:
    EVENTS.append("plain")
