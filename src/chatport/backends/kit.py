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
* :func:`error_from_event`: the chatport error for an ``error`` event inside a stream
  that had started (a guardrail block is a :class:`~chatport.GuardrailError`).
* :class:`SDKErrors`: ``with SDKErrors(backend, map_error):`` (or ``async with``)
  raises what ``map_error`` makes of an SDK's exception, from it, sanitized first.
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
* :func:`request_headers`: the headers a request adds to its HTTP call (today the
  Unity AI Gateway request tags, in :data:`REQUEST_TAGS_HEADER`), empty when it adds
  none. Every backend sends them, streamed or not.
* :func:`cache_breakpoints`: a request's prompt-cache breakpoints in prompt order, as
  (message index, part index or ``None`` for string content) pairs: the ``cache=True``
  messages and text parts, and for a call's ``cache=True`` the end of the last message
  with text or an image. Raises :class:`~chatport.InvalidRequestError` past Claude's
  four. A backend for a family with explicit breakpoints marks each one.
* :class:`RouteMemory` and :data:`AUTO`: ``route = "auto"``, AI Gateway first and the
  fallback route for the endpoints the gateway answers it does not serve
  (``404 ENDPOINT_NOT_FOUND``, or ``501``), remembered per endpoint. Send a call on
  ``memory.route_for(endpoint)``; after an error, ``memory.fallback_after(endpoint,
  route, error)`` is the route to send it to again at once, or ``None``.
* :func:`check_media`, :func:`messages_block`, :func:`prefetch_media` and
  :func:`aprefetch_media`: images and files per family and route (see
  docs/gateway.md#files-and-media). ``check_media(request, profile, route, backend)`` refuses what
  the family cannot take before sending; ``messages_block`` is an Anthropic Messages
  ``image`` / ``document`` block; ``aprefetch_media`` fetches, off the event loop, the
  remote images a family takes only as data. :func:`fetch_media` reads the bytes at an
  ``http(s)`` URL within the call's deadline and a size limit, to send them inline.
"""

from __future__ import annotations

from .._deadline import Clock, ahttp_pieces, http_pieces
from .._wire.caching import breakpoints as cache_breakpoints
from .._wire.clients import ClientHolder
from .._wire.errors import (
    SDKErrors,
    error_from_event,
    error_from_response,
    map_transport_error,
    parse_retry_after,
    retry_after_from,
    sanitize_exception,
)
from .._wire.headers import REQUEST_TAGS_HEADER, request_headers
from .._wire.media import aprefetch as aprefetch_media
from .._wire.media import check_media, fetch_media, messages_block
from .._wire.media import prefetch as prefetch_media
from .._wire.routing import AUTO, RouteMemory
from .._wire.sse import ChatEventStream, EventStream, aread_events, read_events
from .._wire.transport import check_host, check_url

__all__ = [
    "AUTO",
    "REQUEST_TAGS_HEADER",
    "ChatEventStream",
    "ClientHolder",
    "Clock",
    "EventStream",
    "RouteMemory",
    "SDKErrors",
    "ahttp_pieces",
    "aprefetch_media",
    "aread_events",
    "cache_breakpoints",
    "check_host",
    "check_media",
    "check_url",
    "error_from_event",
    "error_from_response",
    "fetch_media",
    "http_pieces",
    "map_transport_error",
    "messages_block",
    "parse_retry_after",
    "prefetch_media",
    "read_events",
    "request_headers",
    "retry_after_from",
    "sanitize_exception",
]
