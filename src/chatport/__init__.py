"""chatport: one neutral API for Databricks-served chat models, over pluggable backends.

The public surface is listed in ``__all__``; everything else is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._api import acomplete, amap, astream, complete, map, stream
from ._batch import BatchResult, RateLimit
from ._client import Client
from ._config import Config, load_config
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BackendNotFoundError,
    BadRequestError,
    ChatportError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    UnsupportedFeatureError,
)
from ._models import ModelInfo
from ._registry import BackendInfo, BackendRegistry, ChatportPluginWarning
from ._request import ChatRequest
from ._retry import time_left
from ._stream import collect
from ._types import (
    Choice,
    Chunk,
    Completion,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
)
from .backends.base import Backend, BackendSettings, Capabilities

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._plugins import hookimpl


def __getattr__(name: str) -> Any:
    """``chatport.hookimpl`` imports pluggy on first use, keeping ``import chatport`` light."""
    if name == "hookimpl":
        from ._plugins import hookimpl

        return hookimpl
    raise AttributeError(f"module 'chatport' has no attribute {name!r}")


__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "Backend",
    "BackendInfo",
    "BackendNotFoundError",
    "BackendRegistry",
    "BackendSettings",
    "BadRequestError",
    "BatchResult",
    "Capabilities",
    "ChatRequest",
    "ChatportError",
    "ChatportPluginWarning",
    "Choice",
    "Chunk",
    "Client",
    "Completion",
    "Config",
    "ConfigError",
    "ImagePart",
    "InvalidRequestError",
    "Message",
    "ModelInfo",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "ReasoningPart",
    "ResponseFormatError",
    "ServerError",
    "TextPart",
    "ToolCall",
    "UnsupportedFeatureError",
    "Usage",
    "__version__",
    "acomplete",
    "amap",
    "astream",
    "collect",
    "complete",
    "hookimpl",
    "load_config",
    "map",
    "stream",
    "time_left",
]
