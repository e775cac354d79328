"""What a third-party backend needs from chatport's wire layer: a small, stable kit.

The names here follow the plugin API's stability policy (``docs/plugins.md``): they
keep their meaning across minor releases, and a change is announced a minor release
ahead with a deprecation warning.

* :func:`sanitize_exception`: call it on an SDK's exception before raising a chatport
  error ``from`` it. The finished frames lose their locals, credential headers of the
  requests and responses it holds are masked, and any credential chatport sent (or a
  server repeated) is masked in its messages and recorded bodies.
"""

from __future__ import annotations

from .._wire.errors import sanitize_exception

__all__ = ["sanitize_exception"]
