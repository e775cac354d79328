"""A new-style wrapper around every other observer."""

from collections.abc import Generator

import chatport

from . import EVENTS


@chatport.hookimpl(wrapper=True)
def chatport_after_completion(completion: chatport.Completion) -> Generator[None, object, object]:
    EVENTS.append("wrap:before")
    result = yield
    EVENTS.append("wrap:after")
    return result
