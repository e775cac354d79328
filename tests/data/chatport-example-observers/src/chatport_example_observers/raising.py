"""An observer that records, then raises."""

import chatport

from . import EVENTS


@chatport.hookimpl
def chatport_after_completion(completion: chatport.Completion) -> None:
    EVENTS.append("raise")
    raise RuntimeError("observer broken on purpose")
