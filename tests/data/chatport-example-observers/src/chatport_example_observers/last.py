"""An observer that asks to run last."""

import chatport

from . import EVENTS


@chatport.hookimpl(trylast=True)
def chatport_after_completion(completion: chatport.Completion) -> None:
    EVENTS.append("last")
