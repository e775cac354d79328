"""chatport: one neutral API for Databricks-served chat models, over pluggable backends.

The public surface is listed in ``__all__``; everything else is private. Names load on
first use (``import chatport`` itself imports nothing but this file), so a program that
imports chatport and uses a part of it pays only for that part.
"""

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers know it)
if TYPE_CHECKING:
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
        BudgetExceededError,
        ChatportError,
        ConfigError,
        GuardrailError,
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
    from ._stream import collect
    from ._types import (
        Choice,
        Chunk,
        Completion,
        FilePart,
        ImagePart,
        Message,
        ReasoningPart,
        TextPart,
        ToolCall,
        Usage,
    )
    from ._version import __version__
    from .backends.base import Backend, BackendSettings, Capabilities
    from .hookspecs import hookimpl


#: where each public name lives; :func:`__getattr__` imports it on first use
_EXPORTS: dict[str, str] = {
    "__version__": "._version",
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APITimeoutError": "._errors",
    "AuthenticationError": "._errors",
    "Backend": ".backends.base",
    "BackendInfo": "._registry",
    "BackendNotFoundError": "._errors",
    "BackendRegistry": "._registry",
    "BackendSettings": ".backends.base",
    "BadRequestError": "._errors",
    "BatchResult": "._batch",
    "BudgetExceededError": "._errors",
    "Capabilities": ".backends.base",
    "ChatRequest": "._request",
    "ChatportError": "._errors",
    "ChatportPluginWarning": "._registry",
    "Choice": "._types",
    "Chunk": "._types",
    "Client": "._client",
    "Completion": "._types",
    "Config": "._config",
    "ConfigError": "._errors",
    "FilePart": "._types",
    "GuardrailError": "._errors",
    "ImagePart": "._types",
    "InvalidRequestError": "._errors",
    "Message": "._types",
    "ModelInfo": "._models",
    "NotFoundError": "._errors",
    "PermissionDeniedError": "._errors",
    "RateLimit": "._batch",
    "RateLimitError": "._errors",
    "ReasoningPart": "._types",
    "ResponseFormatError": "._errors",
    "ServerError": "._errors",
    "TextPart": "._types",
    "ToolCall": "._types",
    "UnsupportedFeatureError": "._errors",
    "Usage": "._types",
    "acomplete": "._api",
    "amap": "._api",
    "astream": "._api",
    "collect": "._stream",
    "complete": "._api",
    "hookimpl": ".hookspecs",
    "load_config": "._config",
    "map": "._api",
    "stream": "._api",
}


def __getattr__(name: str) -> object:
    """Import a public name on first use and keep it (later lookups are plain)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chatport' has no attribute {name!r}")
    import importlib  # here, not at the top: ``import chatport`` loads nothing else

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "BudgetExceededError",
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
    "FilePart",
    "GuardrailError",
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
]
