"""The built-in backends, named once for every test module that runs them all."""

from __future__ import annotations

#: Every built-in backend.
BUILT_IN = ("rest", "openai", "responses", "mlflow", "databricks-sdk")
#: The built-in backends that speak the chat-completions shape (``responses`` has its own).
CHAT = ("rest", "openai", "mlflow", "databricks-sdk")
