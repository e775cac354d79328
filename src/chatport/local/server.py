"""`LocalWorkspace`: the local Databricks-compatible server, in a background thread."""

from __future__ import annotations

import math
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from .._errors import ChatportError
from .._hosts import is_loopback
from .apps import App
from .checks import dotted, expected, unknown_key
from .endpoints import ENDPOINT_KEYS, Endpoint, Fault, merge_endpoints
from .endpoints import default_endpoints as _default_endpoints  # a parameter shadows it
from .limits import DEFAULT_MAX_BODY
from .settings import check_argument, load_workspace_file
from .state import LoggedRequest, WorkspaceState
from .usage import UsageRecord

__all__ = ["LocalWorkspace", "LocalWorkspaceError", "is_loopback", "load_workspace_file"]

_GENERATE = object()
_MAX_OPEN_FILES = 65536


def _raise_open_files_limit() -> None:
    """Raise the soft limit on open files towards the hard one (at most 65536), as Go
    servers do at start-up. Nothing happens where the system refuses or has no limit."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = _MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, _MAX_OPEN_FILES)
    for wanted in (ceiling, 10240):  # macOS refuses more than OPEN_MAX (10240)
        if soft == resource.RLIM_INFINITY or soft >= wanted:
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            continue
        return


class LocalWorkspaceError(ChatportError):
    """The local workspace could not start (port in use, non-loopback host, bad file)."""


class LocalWorkspace:
    """A Databricks-compatible model-serving API on 127.0.0.1, for offline use and tests.

    ::

        with LocalWorkspace() as ws:
            os.environ.update(ws.environ())   # DATABRICKS_HOST / DATABRICKS_TOKEN
            ...

    ``endpoints`` are added to the default set (``default_endpoints=False`` serves only
    them). ``token`` is the workspace PAT: generated when omitted, ``None`` turns auth
    off. ``oauth_clients`` maps OAuth client ids to secrets for M2M (none unless given
    here or in the ``config`` file); tokens it issues live ``token_lifetime`` seconds
    (``token_expires_in`` is what clients are told). ``port=0`` picks a free port.

    ``ws.requests`` keeps the last ``max_logged`` requests, without their bodies unless
    ``log_bodies``. ``ws.usage`` keeps a usage record of each model call with its
    Unity AI Gateway request tags, also appended as JSON lines to ``usage_log``. A
    request body over ``max_body`` bytes is refused (413); a
    connection that has not sent its request headers within ``header_timeout`` seconds,
    or a body that stalls for ``idle_timeout`` seconds (408), is closed, as is a
    connection idle that long between requests.

    Every argument and every value of the ``config`` file is checked before anything is
    bound: a bad one raises :class:`~chatport.ConfigError` naming the argument, or the
    file and its dotted key (``endpoints.NAME.faults[0].status``).
    """

    def __init__(
        self,
        endpoints: Iterable[Endpoint] = (),
        *,
        config: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: Any = _GENERATE,
        oauth_clients: Mapping[str, str] | None = None,
        token_lifetime: float = 3600,
        token_expires_in: int | None = None,
        default_endpoints: bool = True,
        log_path: str | os.PathLike[str] | None = None,
        usage_log: str | os.PathLike[str] | None = None,
        seed: int = 0,
        log_level: str = "critical",
        max_logged: int = 10_000,
        log_bodies: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        header_timeout: float = 10.0,
        idle_timeout: float = 30.0,
    ) -> None:
        endpoints = check_argument("endpoints", endpoints)
        config = check_argument("config", config)
        host = check_argument("host", host)
        port = check_argument("port", port)
        if token is not _GENERATE:
            token = check_argument("token", token)
        oauth_clients = check_argument("oauth_clients", oauth_clients)
        token_lifetime = check_argument("token_lifetime", token_lifetime)
        token_expires_in = check_argument("token_expires_in", token_expires_in)
        default_endpoints = check_argument("default_endpoints", default_endpoints)
        log_path = check_argument("log_path", log_path)
        usage_log = check_argument("usage_log", usage_log)
        seed = check_argument("seed", seed)
        log_level = check_argument("log_level", log_level)
        max_logged = check_argument("max_logged", max_logged)
        log_bodies = check_argument("log_bodies", log_bodies)
        max_body = check_argument("max_body", max_body)
        header_timeout = check_argument("header_timeout", header_timeout)
        idle_timeout = check_argument("idle_timeout", idle_timeout)
        if not is_loopback(host):
            raise LocalWorkspaceError(
                f"the local workspace binds to loopback addresses only, not {host!r}"
            )
        settings: dict[str, Any] = load_workspace_file(config) if config is not None else {}
        if token is _GENERATE:
            token = settings.get("token", "dapi-local-" + secrets.token_hex(16))
        if oauth_clients is None:  # none unless configured: no client anyone could guess
            oauth_clients = settings.get("oauth_clients", {})
        use_defaults = settings.get("default_endpoints", default_endpoints)
        base = _default_endpoints() if use_defaults else []
        merged = merge_endpoints(
            merge_endpoints(base, settings.get("endpoints", [])).values(), endpoints
        )
        self.host = host
        self.port = port
        self.log_level = log_level
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self._state = WorkspaceState(
            merged.values(),
            token=token,
            oauth_clients=dict(oauth_clients),
            token_lifetime=settings.get("token_lifetime", token_lifetime),
            token_expires_in=settings.get("token_expires_in", token_expires_in),
            log_path=log_path,
            seed=seed,
            max_logged=max_logged,
            log_bodies=log_bodies,
            max_body=max_body,
            usage_log=usage_log if usage_log is not None else settings.get("usage_log"),
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- lifecycle ------------------------------------------------------------------

    def bind(self) -> socket.socket:
        """Bind the listening socket (raises :class:`LocalWorkspaceError` if in use)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections (no 40 ms stalls)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise LocalWorkspaceError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        self._state.public_url = self.url
        self._socket = sock
        return sock

    def _make_server(self, *, own_process: bool = False) -> Any:
        """The uvicorn server. Only ``own_process`` (``chatport serve``) lets uvicorn
        configure logging: its ``dictConfig`` closes every handler of the process."""
        import uvicorn

        from .app import build_app
        from .protocol import protocol_class

        logging_options: dict[str, Any] = {} if own_process else {"log_config": None}
        config = uvicorn.Config(
            build_app(self._state, idle_timeout=self.idle_timeout),
            **logging_options,
            http=protocol_class(self.header_timeout),
            log_level=self.log_level,
            access_log=self.log_level in ("info", "debug", "trace"),  # -v: every request
            lifespan="off",
            # no WebSocket routes: never import a WebSocket library (an installed
            # websockets would otherwise be loaded, deprecation warnings and all)
            ws="none",
            timeout_keep_alive=math.ceil(self.idle_timeout),
            date_header=False,  # the app dates each answer by its endpoint's clock (dates.py)
        )
        return uvicorn.Server(config)

    def start(self) -> LocalWorkspace:
        """Start serving in a background thread; returns once it accepts connections."""
        if self._thread is not None:
            return self
        sock = self.bind()
        self._server = self._make_server()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="chatport-local", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise LocalWorkspaceError("the local workspace failed to start")
            time.sleep(0.005)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C stops it cleanly).

        Meant for a process of its own (``chatport serve``): it first raises the process's
        limit on open files as far as the system allows, so that a few hundred idle
        connections cannot use up a low default (256 on macOS)."""
        _raise_open_files_limit()
        sock = self._socket or self.bind()
        self._server = self._make_server(own_process=True)
        try:
            self._server.run(sockets=[sock])
        finally:
            sock.close()
            self._socket = None

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._thread = self._server = self._socket = None

    def __enter__(self) -> LocalWorkspace:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what clients need ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The workspace URL, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str | None:
        """The workspace token (PAT), or ``None`` when auth is off."""
        return self._state.token

    @property
    def oauth_clients(self) -> dict[str, str]:
        """The OAuth M2M clients it accepts: client id to secret (empty: none)."""
        return dict(self._state.oauth_clients)

    def add_oauth_client(self, client_id: str, secret: str | None = None) -> str:
        """Accept (or replace) OAuth M2M client ``client_id``; returns its secret,
        generated when ``secret`` is ``None``. A bad value raises
        :class:`~chatport.ConfigError`."""
        if secret is None:
            secret = "local-" + secrets.token_urlsafe(24)
        clients = check_argument("oauth_clients", {client_id: secret})
        self._state.oauth_clients.update(clients)
        return secret

    def environ(self) -> dict[str, str]:
        """``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` pointing at this workspace."""
        env = {"DATABRICKS_HOST": self.url}
        if self.token:
            env["DATABRICKS_TOKEN"] = self.token
        return env

    @contextmanager
    def activated(self) -> Iterator[LocalWorkspace]:
        """Set :meth:`environ` in ``os.environ`` for a ``with`` block, then restore it."""
        saved = {key: os.environ.get(key) for key in ("DATABRICKS_HOST", "DATABRICKS_TOKEN")}
        os.environ.update(self.environ())
        try:
            yield self
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    # -- endpoints, faults, request log ---------------------------------------------

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called ``name``."""
        try:
            return self._state.endpoint(name)
        except Exception:
            raise KeyError(name) from None

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every endpoint served."""
        return self._state.endpoints_snapshot()

    def add_endpoint(self, name: str, model: str = "echo", **options: Any) -> Endpoint:
        """Add (or replace) an endpoint; see :class:`Endpoint` for the options.

        An unknown option or a bad value raises :class:`~chatport.ConfigError`."""
        for key in options:
            if key not in ENDPOINT_KEYS or key == "model":
                known = [k for k in ENDPOINT_KEYS if k != "model"]
                raise unknown_key(key, known, dotted("endpoints", name), None, noun="option")
        endpoint = Endpoint(name, model, **options)  # type: ignore[arg-type]
        self._state.add(endpoint)
        return endpoint

    def add_app(self, name: str, model: str = "responses-agent", *, deployed: bool = True) -> App:
        """Serve (or replace) app ``name`` on Databricks Apps: an agent at
        ``<url>/apps/{name}``, looked up with ``GET /api/2.0/apps/{name}`` (see
        :class:`~chatport.local.App`). A bad value raises :class:`~chatport.ConfigError`."""
        app = App(name, model, deployed=deployed)  # type: ignore[arg-type]
        self._state.apps[app.name] = app
        return app

    @property
    def apps(self) -> list[App]:
        """Every app served, sorted by name."""
        return sorted(self._state.apps.values(), key=lambda app: app.name)

    def set_faults(self, name: str, *faults: Fault) -> None:
        """Replace the faults injected on endpoint ``name`` (none given: clear them).

        Anything but a :class:`Fault` raises :class:`~chatport.ConfigError`."""
        endpoint = self.endpoint(name)
        for index, fault in enumerate(faults):
            if not isinstance(fault, Fault):
                raise expected("a Fault", fault, f"faults[{index}]", None)
        endpoint.faults = list(faults)

    @property
    def stream_disconnects(self) -> int:
        """How many clients closed a stream before its end (the stream stops there)."""
        return self._state.stream_disconnects

    @property
    def requests(self) -> list[LoggedRequest]:
        """The last ``max_logged`` requests received (credentials masked), oldest first;
        their ``body`` is ``None`` unless the workspace keeps bodies (``log_bodies``)."""
        return self._state.requests

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        self._state.clear_requests()

    @property
    def usage(self) -> list[UsageRecord]:
        """The usage log: one record per model call (the last ``max_logged``), shaped
        like a row of ``system.ai_gateway.usage`` with its ``request_tags``, oldest first."""
        return self._state.usage.records()

    def clear_usage(self) -> None:
        """Forget the usage records kept in memory (a ``usage_log`` file keeps its lines)."""
        self._state.usage.clear()

    def __repr__(self) -> str:
        return f"<LocalWorkspace {self.url} endpoints={len(self.endpoints)}>"
