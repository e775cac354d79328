"""The version of chatport, kept equal to ``pyproject.toml``'s (a test checks it)."""

__version__ = "0.1.0"
