"""What the command line needs from a terminal: standard input, a spinner, fitting rows.

Kept out of ``cli.py`` so the commands stay thin and these parts are tested on their own.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TextIO

__all__ = [
    "Spinner",
    "configure_logging",
    "fit",
    "is_tty",
    "prompt_with_stdin",
    "quiet_libraries",
    "stdin_has_input",
]

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def is_tty(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def stdin_has_input(stream: IO[str]) -> bool:
    """Whether standard input was given (a file or a pipe), never waiting on a terminal.

    A redirected file or a pipe counts; a terminal or ``/dev/null`` does not. A stream
    without a file descriptor (in-memory, as in tests) counts.
    """
    if is_tty(stream):
        return False
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):
        return True  # in memory: reading never blocks
    return stat.S_ISREG(mode) or stat.S_ISFIFO(mode)


def prompt_with_stdin(prompt: str, stream: IO[str]) -> str:
    """The prompt to send: ``-`` is standard input; otherwise input given on standard input
    is appended after a blank line (``chatport ask "Summarize:" < notes.txt``).

    One trailing newline of the input is dropped either way.
    """
    if prompt == "-":
        return _strip_newline(stream.read())
    if not stdin_has_input(stream):
        return prompt
    extra = _strip_newline(stream.read())
    return f"{prompt}\n\n{extra}" if extra.strip() else prompt


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


class Spinner:
    """A one-line spinner on ``stream`` while something is waited on (terminals only).

    ``stop()`` erases it; it is idempotent and called on leaving the ``with`` block.
    """

    def __init__(self, stream: IO[str], message: str, *, interval: float = 0.1) -> None:
        self.stream = stream
        self.message = message
        self.interval = interval
        self.enabled = is_tty(stream)
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._shown = False

    def _run(self) -> None:
        frame = 0
        while not self._done.wait(self.interval if frame else 0):
            with self._lock:
                if self._done.is_set():
                    return
                self.stream.write(f"\r{_FRAMES[frame % len(_FRAMES)]} {self.message}")
                self.stream.flush()
                self._shown = True
            frame += 1

    def start(self) -> Spinner:
        """Start spinning (a no-op when the stream is not a terminal)."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="chatport-spinner", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and erase the spinner line."""
        with self._lock:
            self._done.set()
            if self._shown:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self._shown = False
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Spinner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def spinning(stream: IO[str], message: str) -> Iterator[Spinner]:
    """``with spinning(sys.stderr, "waiting"):`` a :class:`Spinner` for a block."""
    with Spinner(stream, message) as spinner:
        yield spinner


def fit(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    if width <= 1:
        return text[: max(width, 0)]
    return text if len(text) <= width else text[: width - 1] + "…"


def quiet_libraries() -> None:
    """For the command line: one clean line per plugin load warning on standard error,
    and no WARNING lines from mlflow's own loggers (``MLFLOW_LOGGING_LEVEL`` still wins)."""
    import contextlib
    import logging
    import sys
    import warnings

    from ._registry import ChatportPluginWarning

    level = os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # read by mlflow's import
    with contextlib.suppress(ValueError):  # and for its modules imported alone
        logging.getLogger("mlflow").setLevel(level.upper())
    show = warnings.showwarning

    def one_line(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, ChatportPluginWarning):
            print(" ".join(str(message).split()), file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = one_line


#: The client libraries whose log lines the command line keeps off standard error
#: unless asked (``-v``): "Failed to automatically resolve config from host metadata..."
QUIET_LOGGERS = ("databricks", "mlflow", "urllib3", "requests", "httpx", "httpcore", "openai")


def configure_logging(verbose: int) -> None:
    """For the command line: the SDKs' log lines only with ``-v`` (info) or ``-vv`` (debug).

    Without ``-v`` each quiet logger gets a ``NullHandler`` and stops propagating, so
    neither Python's last-resort handler nor a root handler that a library set up on
    its own (databricks-sdk calls ``logging.debug`` when it runs the Databricks CLI,
    which configures the root logger) prints their lines. chatport's own and its
    plugins' warnings are shown either way.
    """
    import logging

    if verbose <= 0:
        for name in QUIET_LOGGERS:
            logger = logging.getLogger(name)
            logger.propagate = False
            if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
                logger.addHandler(logging.NullHandler())
        return
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO,
        format="%(name)s: %(levelname)s: %(message)s",
    )
