"""Observer plugins for chatport's tests; each appends to :data:`EVENTS`."""

EVENTS: list[str] = []
