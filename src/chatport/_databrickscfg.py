"""``~/.databrickscfg``, read the way databricks-sdk reads it, without the SDK or a network call.

For ``chatport config`` and for choosing where the workspace comes from: the profile's
host is known before anything is imported or sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ._errors import ConfigError

__all__ = ["profile_file", "read_profile"]


def profile_file(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def read_profile(
    environ: Mapping[str, str], requested: str | None
) -> tuple[str, Mapping[str, str]] | None:
    """The ``~/.databrickscfg`` profile databricks-sdk would load, read without it.

    ``requested`` first, then ``[__settings__] default_profile``, then ``[DEFAULT]``
    (when it has keys). A requested profile that is missing is a :class:`ConfigError`.
    """
    from configparser import ConfigParser, Error

    path = profile_file(environ)
    parser = ConfigParser(interpolation=None)
    try:
        found = parser.read(path)
    except (Error, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
    name = requested
    if name is None and parser.has_section("__settings__"):
        name = parser.get("__settings__", "default_profile", fallback="").strip() or None
        requested = name  # named by the file itself: missing is an error, as in the SDK
    if name is None:
        defaults = parser.defaults()
        return ("DEFAULT", dict(defaults)) if defaults else None
    if name == "DEFAULT" and parser.defaults():
        return name, dict(parser.defaults())
    if not found or not parser.has_section(name) or name == "__settings__":
        if requested is None:
            return None
        raise ConfigError(
            f"the databricks profile {name!r} is not in {path}"
            + (f" (profiles: {', '.join(parser.sections()) or 'none'})" if found else ""),
            key="databricks_profile",
        )
    # the section's own keys, without [DEFAULT]'s (as databricks-sdk reads them)
    own = parser._sections.get(name, {})  # type: ignore[attr-defined]
    return name, dict(own)
