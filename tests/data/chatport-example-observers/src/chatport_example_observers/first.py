"""An observer that asks to run first."""

import chatport

from . import EVENTS


@chatport.hookimpl(tryfirst=True)
def chatport_after_completion(completion: chatport.Completion) -> None:
    EVENTS.append("first")
