"""What a backend written outside chatport needs from its wire layer: a small, stable kit.

The names here follow the plugin API's stability policy (``docs/plugins.md``): they keep
their meaning across minor releases, and a change is announced a minor release ahead
with a deprecation warning. chatport's own backends use the same functions.

* :func:`check_host` and :func:`check_url`: the URL a credential may be sent to, refused
  as :class:`~chatport.ConfigError` when it has user info, an API path, or plain
  ``http://`` to a host that is not loopback (unless ``allow_insecure_http``).
* :func:`error_from_response`: the chatport error for an HTTP error answer, from its
  status, headers and body, whatever the body's shape (Databricks, OpenAI, Anthropic,
  Google); a 429 carries ``retry_after`` from :func:`retry_after_from`.
* :func:`map_transport_error`: the chatport error for a failure with no answer
  (timeouts and connection failures of httpx, requests and Python itself).
* :func:`sanitize_exception`: call it on an SDK's exception before raising a chatport
  error ``from`` it. The finished frames lose their locals, credential headers of the
  requests and responses it holds are masked, and any credential chatport sent (or a
  server repeated) is masked in its messages and recorded bodies.
* :class:`ClientHolder`: a client per process and one per event loop, built on first
  use, closed with its loop, and dropped (never closed) in a forked child.
* :class:`Clock`, :func:`http_pieces` and :func:`ahttp_pieces`: the deadline of an
  answer being read. A non-streamed answer must be read whole before the call's
  deadline; a stream must deliver its first chunk before it, then each next chunk
  within the backend's ``timeout`` of the one before. Each read gets the time left.
* :func:`read_events` and :func:`aread_events`: a server-sent-event body read line by
  line into chunks, to its terminal event (a stream cut short is an
  :class:`~chatport.APIConnectionError`, never a silent truncation), through an
  :class:`EventStream`: :class:`ChatEventStream` reads OpenAI chat-completion chunks,
  and a backend for another event format writes its own.
"""

from __future__ import annotations

from .._deadline import Clock, ahttp_pieces, http_pieces
from .._wire.clients import ClientHolder
from .._wire.errors import (
    error_from_response,
    map_transport_error,
    parse_retry_after,
    retry_after_from,
    sanitize_exception,
)
from .._wire.sse import ChatEventStream, EventStream, aread_events, read_events
from .._wire.transport import check_host, check_url

__all__ = [
    "ChatEventStream",
    "ClientHolder",
    "Clock",
    "EventStream",
    "ahttp_pieces",
    "aread_events",
    "check_host",
    "check_url",
    "error_from_response",
    "http_pieces",
    "map_transport_error",
    "parse_retry_after",
    "read_events",
    "retry_after_from",
    "sanitize_exception",
]
