"""The ``chatport`` command line. Thin: all logic lives in the library."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

P = ParamSpec("P")
R = TypeVar("R")


def _fail_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn chatport errors into one ``error: ...`` line and a non-zero exit."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from ._errors import BackendNotFoundError, ChatportError, ConfigError

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except BackendNotFoundError as exc:  # a name in a flag or a file: a usage error
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(2)
        except ChatportError as exc:
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)

    return wrapper


class _Commands(click.Group):
    """The built-in commands, plus those plugins add (loaded only when asked for)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:  # not built in: maybe a plugin's (chatport_register_commands)
            from ._plugins import load_commands

            load_commands(self)
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ._plugins import load_commands

        load_commands(self)
        return super().list_commands(ctx)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chatport", prog_name="chatport")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="CHATPORT_CONFIG",
    help="Config file to use instead of the discovered one (env: CHATPORT_CONFIG).",
)
@click.option("--profile", "-p", help="Config profile to select (env: CHATPORT_PROFILE).")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log to standard error: -v chatport's and the SDKs' warnings and info, -vv debug.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, profile: str | None, verbose: int) -> None:
    """Ask Databricks-served chat models through one neutral API.

    Backends (openai, responses, rest, mlflow, databricks-sdk, and any installed
    plugin) are chosen by config, environment or flag. See `chatport COMMAND --help`.
    """
    from ._terminal import configure_logging

    configure_logging(verbose)
    ctx.obj = {"config": config_path, "profile": profile}


def _client(ctx: click.Context, **settings: Any) -> Any:
    from ._client import Client

    settings = {k: v for k, v in settings.items() if v is not None}
    return Client(config=ctx.obj["config"], profile=ctx.obj["profile"], **settings)


def _reasoning_value(text: str) -> str | int | bool:
    """``--reasoning``: a level, ``off``, or a token budget."""
    lowered = text.strip().lower()
    if lowered in ("off", "false", "no", "none"):
        return False
    if lowered.isdigit():
        return int(lowered)
    return lowered  # a level; anything else is refused by the request's validation


@cli.command()
@click.argument("prompt")
@click.option("-s", "--system", help="System prompt sent before the question.")
@click.option("-b", "--backend", help="Backend to use (default: from config, else 'rest').")
@click.option("-m", "--model", help="Model, i.e. the serving endpoint name.")
@click.option("--max-tokens", type=int, help="Cap on generated tokens.")
@click.option("-t", "--temperature", type=float, help="Sampling temperature, 0 to 2.")
@click.option(
    "-r",
    "--reasoning",
    help="Ask the model to reason: low, medium, high, a token budget (Claude), or off.",
)
@click.option("--stream", is_flag=True, help="Print the answer as it arrives.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole completion as JSON.")
@click.pass_context
@_fail_cleanly
def ask(
    ctx: click.Context,
    prompt: str,
    system: str | None,
    backend: str | None,
    model: str | None,
    max_tokens: int | None,
    temperature: float | None,
    reasoning: str | None,
    stream: bool,
    as_json: bool,
) -> None:
    """Ask one question and print the answer.

    PROMPT is the question; use - to read it from standard input. Input given on
    standard input (a file or a pipe) is appended to PROMPT after a blank line.

    \b
    Examples:
      chatport ask "What is a lakehouse?"
      chatport ask -b mlflow -m databricks-gpt-5 "Summarize:" < notes.txt
      echo "hi" | chatport ask - --json
      chatport ask -m databricks-claude-sonnet-4-5 -r low "Plan a 3-day trip"
    """
    from ._terminal import Spinner, prompt_with_stdin

    prompt = prompt_with_stdin(prompt, sys.stdin)
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    params: dict[str, Any] = {
        k: v
        for k, v in {"max_tokens": max_tokens, "temperature": temperature}.items()
        if v is not None
    }
    if reasoning is not None:
        params["reasoning"] = _reasoning_value(reasoning)
    from contextlib import ExitStack

    from ._client import Client
    from ._config import load_config
    from ._errors import NotFoundError

    config = load_config(ctx.obj["config"], profile=ctx.obj["profile"])
    with ExitStack() as stack:
        local = _embedded_workspace_if_needed(stack, config, backend or config.backend)
        client = stack.enter_context(Client(config=config))
        waiting = f"waiting for {model or config.model} ({backend or config.backend})"
        spinner = stack.enter_context(Spinner(sys.stderr, waiting))
        answered_model = model or config.model
        try:
            if stream and not as_json:
                for chunk in client.stream(messages, backend=backend, model=model, **params):
                    spinner.stop()  # gone when the answer starts
                    answered_model = chunk.model or answered_model
                    click.echo(chunk.text, nl=False)
                spinner.stop()
                click.echo()
            else:
                if stream:
                    from ._stream import collect

                    chunks = client.stream(messages, backend=backend, model=model, **params)
                    completion = collect(chunks)
                else:
                    completion = client.complete(messages, backend=backend, model=model, **params)
                spinner.stop()
                answered_model = completion.model or answered_model
                click.echo(
                    json.dumps(completion.to_dict(), indent=2) if as_json else completion.text
                )
        except NotFoundError as exc:  # most often a misspelled endpoint name
            spinner.stop()
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            click.echo(_unknown_model_hint(client, answered_model, backend), err=True)
            sys.exit(1)
        notice = _embedded_notice(local, answered_model)
        if notice:
            click.echo(notice, err=True)


def _unknown_model_hint(client: Any, model: str | None, backend: str | None) -> str:
    """A pointer to ``chatport models``, with the closest endpoint name when the
    workspace lists one."""
    from ._errors import ChatportError
    from ._suggest import did_you_mean

    suggestion = ""
    if model:
        try:
            names = [info.name for info in client.models(backend=backend, chat_only=False)]
        except ChatportError:  # the hint is a help, never a second failure
            names = []
        suggestion = did_you_mean(model, names)
    return (
        f"hint: is {model!r} the name of a serving endpoint{suggestion}? `chatport models` "
        "lists the workspace's chat endpoints"
    )


def _embedded_notice(local: Any, model: str | None) -> str | None:
    """Say so when the embedded workspace answered (not when another backend did)."""
    if local is None or not any(r.method == "POST" for r in local.requests):
        return None
    try:
        kind = local.endpoint(model).model if model else None
    except KeyError:
        kind = None
    what = f"its local {kind!r} model ({model})" if kind else "a local model"
    return (
        f"chatport: no Databricks workspace is configured, so the embedded local workspace "
        f"({local.url}) answered with {what}, a stand-in that only repeats the question. "
        "To use a real workspace, set DATABRICKS_HOST and DATABRICKS_TOKEN, or a profile "
        "in ~/.databrickscfg."
    )


def _embedded_workspace_if_needed(
    stack: Any,
    config: Any,
    backend: str,
    *,
    check_backend: bool = True,
    allowed: bool = True,
    command: str = "",
) -> Any:
    """With no workspace configured anywhere, start an in-process local workspace and
    return it; when ``allowed`` is false, refuse instead (naming how to configure one)."""
    from ._auth import resolve_workspace
    from ._config_check import check_backend_name, check_config
    from ._errors import ConfigError
    from ._plugins import get_registry

    if check_backend:  # an unknown backend fails before anything starts, naming its file
        check_config(config, get_registry())
        check_backend_name(get_registry(), backend)
    if backend == "fake" or resolve_workspace(config).configured:
        return None
    if not allowed:
        raise ConfigError(
            f"no Databricks workspace is configured, so `chatport {command}` has nothing to "
            "ask: set DATABRICKS_HOST and DATABRICKS_TOKEN, add a profile to ~/.databrickscfg "
            "(`databricks auth login`), or pass --local to answer from the embedded local "
            "workspace, whose models only repeat the question"
        )
    from .local import LocalWorkspace

    workspace = stack.enter_context(LocalWorkspace())
    stack.enter_context(workspace.activated())
    return workspace


@cli.command()
@click.argument("prompt")
@click.option("-s", "--system", help="System prompt sent before the question.")
@click.option(
    "-b",
    "--backend",
    "backends",
    multiple=True,
    help="Backend to include (repeatable; default: all).",
)
@click.option("-m", "--model", help="Model, i.e. the serving endpoint name.")
@click.option("--max-tokens", type=int, help="Cap on generated tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw rows as JSON.")
@click.pass_context
@_fail_cleanly
def compare(
    ctx: click.Context,
    prompt: str,
    system: str | None,
    backends: tuple[str, ...],
    model: str | None,
    max_tokens: int | None,
    as_json: bool,
) -> None:
    """Ask the same question through every installed backend and compare the answers.

    The backends are asked at once and each row is printed as soon as its backend
    answers: the answer (cut to the terminal's width), the finish reason, the tokens
    (prompt/completion/total) and the latency of the call (the first call of a backend
    includes importing its SDK). A backend that fails shows its error instead. The exit
    status is 1 when every backend failed.
    """
    import shutil
    from contextlib import ExitStack

    from ._client import Client
    from ._compare import default_backends, format_row, iter_compare
    from ._config import load_config
    from ._terminal import Spinner

    config = load_config(ctx.obj["config"], profile=ctx.obj["profile"])
    names = list(dict.fromkeys(backends)) or default_backends()
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    params: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens is not None else {}
    columns = max(shutil.get_terminal_size((100, 24)).columns, 60)
    text_width = columns - (16 + 11 + 14 + 9 + 4)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        local = _embedded_workspace_if_needed(stack, config, "rest", check_backend=False)
        client = stack.enter_context(Client(config=config))
        if not as_json:
            header = (
                f"{'backend':<16} {'text':<{text_width}} {'finish':<11} {'tokens p/c/t':<14} "
                f"{'latency':>9}"
            )
            click.echo(header.rstrip())
            click.echo("-" * len(header))
        waiting = list(names)
        spinner = Spinner(sys.stderr, f"waiting for {', '.join(waiting)}").start()
        try:
            for row in iter_compare(client, messages, names, model=model, **params):
                spinner.stop()
                rows.append(row)
                waiting.remove(row["backend"])
                if not as_json:
                    click.echo(format_row(row, text_width))
                if waiting:
                    spinner = Spinner(sys.stderr, f"waiting for {', '.join(waiting)}").start()
        finally:
            spinner.stop()
        notice = _embedded_notice(local, model or config.model)
    if as_json:
        order = {name: index for index, name in enumerate(names)}
        click.echo(json.dumps(sorted(rows, key=lambda r: order[r["backend"]]), indent=2))
    if notice:
        click.echo(notice, err=True)
    if rows and all(row["error"] for row in rows):
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@_fail_cleanly
def backends(as_json: bool) -> None:
    """List installed backends, the plugin providing each, and its capabilities."""
    from ._plugins import get_registry

    rows: list[dict[str, Any]] = [
        {
            "name": info.name,
            "plugin": info.plugin,
            "aliases": list(info.aliases),
            "capabilities": info.capabilities.names(),
            "description": info.cls.description,
            "missing": info.cls.missing_requirements(),
            "extra": info.cls.extra,
        }
        for info in get_registry()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max([len(row["name"]) for row in rows] + [7])
    for row in rows:
        caps = ", ".join(row["capabilities"]) or "-"
        click.echo(f"{row['name']:<{width}}  {row['plugin']}")
        click.echo(f"{'':<{width}}  capabilities: {caps}")
        if row["description"]:
            click.echo(f"{'':<{width}}  {row['description']}")
        if row["missing"]:
            hint = f": install the {row['extra']!r} extra" if row["extra"] else ""
            click.echo(f"{'':<{width}}  not usable, missing {', '.join(row['missing'])}{hint}")


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@_fail_cleanly
def plugins(show_all: bool, as_json: bool) -> None:
    """List installed plugins: the package each comes from and the hooks it implements."""
    from dataclasses import asdict

    from ._plugins import plugin_infos

    rows = [asdict(info) for info in plugin_infos() if show_all or not info.builtin]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no plugins installed (chatport plugins --all lists the built-in ones)")
    for row in rows:
        package = (
            f"{row['package']} {row['version']}" if row["package"] else "(registered at run time)"
        )
        click.echo(f"{row['name']}  {package}")
        click.echo(f"  hooks: {', '.join(row['hooks']) or '-'}")


@cli.command()
@click.option(
    "-b", "--backend", help="Backend whose client lists the endpoints (default: from config)."
)
@click.option("--all", "show_all", is_flag=True, help="List every endpoint, not only chat ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
@_fail_cleanly
def models(ctx: click.Context, backend: str | None, show_all: bool, as_json: bool) -> None:
    """List the workspace's chat models (serving endpoints) you can ask.

    Prints each endpoint's name (the -m/--model of `chatport ask`), task, state, model
    family, underlying model, and whether it sits behind AI Gateway (its metadata holds
    an ai_gateway configuration: usage tracking, rate limits, guardrails). Only chat
    endpoints by default; --all adds embeddings, completions, agents and custom models.
    With no workspace configured, it lists the embedded local workspace's endpoints.

    \b
    Examples:
      chatport models
      chatport models -b mlflow --all --json
    """
    from contextlib import ExitStack

    from ._client import Client
    from ._config import load_config

    config = load_config(ctx.obj["config"], profile=ctx.obj["profile"])
    with ExitStack() as stack:
        local = _embedded_workspace_if_needed(stack, config, backend or config.backend)
        client = stack.enter_context(Client(config=config))
        infos = client.models(backend=backend, chat_only=not show_all)
        if local is not None:
            click.echo(
                f"chatport: no Databricks workspace is configured, so these are the endpoints "
                f"of the embedded local workspace ({local.url}). To use a real workspace, set "
                "DATABRICKS_HOST and DATABRICKS_TOKEN, or a profile in ~/.databrickscfg.",
                err=True,
            )
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in infos], indent=2))
        return
    if not infos:
        hint = "" if show_all else " chat"
        click.echo(f"chatport: the workspace lists no{hint} serving endpoints.", err=True)
        return
    columns = ("name", "task", "state", "family", "model", "gateway")
    rows = [
        [getattr(info, column) or "-" for column in columns[:-1]]
        + ["yes" if info.gateway else "no"]
        for info in infos
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    for row in [[c.upper() for c in columns], *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@cli.command()
@click.argument("input_path", metavar="IN.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results file (JSONL). Ids already in it are skipped, so a rerun resumes.",
)
@click.option("-b", "--backend", help="Backend to use (default: from config, else 'rest').")
@click.option("-m", "--model", help="Model for lines that do not name one.")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Calls in flight at once.",
)
@click.option("--rpm", type=click.FloatRange(min=0, min_open=True), help="Requests per minute.")
@click.option("--tpm", type=click.FloatRange(min=0, min_open=True), help="Tokens per minute.")
@click.option("--retry-failed", is_flag=True, help="Redo the ids that failed in OUT.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show progress on standard error (default: on a terminal): a bar with "
    "chatport[progress] installed, else a plain progress line.",
)
@click.option(
    "--local",
    is_flag=True,
    help="With no workspace configured, answer from the embedded local workspace "
    "(its models only repeat the question: for trying the command, not for answers).",
)
@click.pass_context
@_fail_cleanly
def batch(
    ctx: click.Context,
    input_path: Path,
    output: Path,
    backend: str | None,
    model: str | None,
    concurrency: int,
    rpm: float | None,
    tpm: float | None,
    retry_failed: bool,
    progress: bool | None,
    local: bool,
) -> None:
    """Answer every line of IN.jsonl into OUT.jsonl, resumably.

    Each input line is {"id": ..., "prompt": "..."} or {"id": ..., "messages": [...]},
    with optional call parameters ("model", "max_tokens", "temperature", ...). Each
    output line holds the whole answer (id, text, finish_reason, usage, backend, model,
    and tool_calls, reasoning and every choice when there are any), or the error of a
    failed line. Results are flushed one line at a time: after a crash or a kill, run
    the same command again and only the missing ids are done. Bad input lines are
    reported with their line numbers before anything is sent, and so is an OUT that
    is IN or holds lines that are not results (exit status 2). OUT is created private
    (0600) and locked while a run writes it: a second run on it is refused. A file
    error (a missing folder, a full disk) stops the run with one line and exit status
    2. Ids keep their JSON type (1 and "1" are different ids). The exit status is 1
    when any line failed.

    \b
    Examples:
      chatport batch tickets.jsonl -o answers.jsonl -m databricks-gpt-5 -c 32
      chatport batch tickets.jsonl -o answers.jsonl --retry-failed
    """
    from contextlib import ExitStack

    from ._batch_file import (
        BatchFile,
        BatchSummary,
        build_requests,
        check_output_path,
        pending,
        read_inputs,
        write_results,
    )
    from ._client import Client
    from ._config import load_config

    check_output_path(input_path, output)
    lines = read_inputs(input_path)
    config = load_config(ctx.obj["config"], profile=ctx.obj["profile"])
    default_model = model or config.model or ""
    rate_limit = {
        key: value
        for key, value in {"requests_per_minute": rpm, "tokens_per_minute": tpm}.items()
        if value is not None
    }
    with ExitStack() as stack:
        embedded = _embedded_workspace_if_needed(
            stack, config, backend or config.backend, allowed=local, command="batch"
        )
        client = stack.enter_context(Client(config=config))
        # locked for the whole run (a second run on OUT is refused), then checked: lines
        # that are not results refuse the run before anything is sent
        writer = stack.enter_context(BatchFile(output))
        done = writer.resume(retry_failed)
        todo = list(pending(lines, done))
        summary = BatchSummary(skipped=len(lines) - len(todo))
        requests = build_requests(todo, default_model, input_path)
        results = client.map(
            requests,
            backend=backend,
            concurrency=concurrency,
            progress=progress,
            rate_limit=rate_limit or None,
        )
        try:
            write_results(writer, todo, results, summary)
        except KeyboardInterrupt:
            click.echo(f"chatport: interrupted; {summary.text()}", err=True)
            sys.exit(130)
        if embedded is not None:
            click.echo(
                f"chatport: no Databricks workspace is configured, so the embedded local "
                f"workspace ({embedded.url}) answered (--local); its models only repeat the "
                "question.",
                err=True,
            )
    click.echo(f"chatport: {summary.text()}", err=True)
    if summary.failed:
        sys.exit(1)


def _normalized(host: str) -> str:
    """``host`` as chatport reaches it (``https://`` added as databricks-sdk does), or as
    given when it is not a valid workspace URL (the error shows when a call is made)."""
    from ._errors import ConfigError
    from ._hosts import parse_workspace_url

    try:
        return parse_workspace_url(host).url
    except ConfigError:
        return host


def _masked(value: Any) -> Any:
    """``value`` for display: URL user info and secret-looking strings masked, recursively."""
    from ._auth import mask
    from ._redact import looks_secret, redact_url

    if isinstance(value, str):
        if looks_secret(value):
            return mask(value)
        return redact_url(value) if "@" in value else value
    if isinstance(value, Mapping):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print values and sources as JSON.")
@click.pass_context
@_fail_cleanly
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Show the effective configuration and where each value comes from.

    Secrets are always masked. Precedence, highest first: flags and arguments,
    environment (CHATPORT_*), the selected profile, the config file, defaults.
    """
    from ._auth import mask, resolve_workspace
    from ._config import load_config
    from ._config_check import check_config
    from ._plugins import get_registry
    from ._redact import redact_url

    config = load_config(ctx.obj["config"], profile=ctx.obj["profile"])
    check_config(config, get_registry())  # what Client checks: the same errors, exit 2
    workspace = resolve_workspace(config)
    token_shown = mask("set") if workspace.token_source else mask(None)
    data: dict[str, Any] = {
        "file": config.path,
        "profile": config.profile,
        "settings": {
            key: {"value": _jsonable(_masked(value)), "source": config.sources[key]}
            for key, value in sorted(config.values.items())
        },
        "backends": {n: _masked(dict(t)) for n, t in config.backends.items()},
        "plugins": {n: _masked(dict(t)) for n, t in config.plugins.items()},
        "workspace": {
            "host": {
                "value": workspace.host and redact_url(_normalized(workspace.host)),
                "source": workspace.host_source,
            },
            "token": {"value": token_shown, "source": workspace.token_source or "none"},
        },
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"config file: {config.path or '(none found)'}")
    click.echo(f"profile:     {config.profile or '(none)'}")
    click.echo()
    for key, item in data["settings"].items():
        click.echo(f"{key:<20} = {json.dumps(item['value']):<36} # {item['source']}")
    for name, table in data["backends"].items():
        click.echo(f"\n[backends.{name}]")
        for key, value in table.items():
            click.echo(f"{key:<20} = {json.dumps(_jsonable(value))}")
    for name, table in data["plugins"].items():
        click.echo(f"\n[plugins.{name}]")
        for key, value in table.items():
            click.echo(f"{key:<20} = {json.dumps(_jsonable(value))}")
    click.echo("\nworkspace")
    host = data["workspace"]["host"]
    token = data["workspace"]["token"]
    click.echo(f"{'host':<20} = {json.dumps(host['value']):<36} # {host['source']}")
    click.echo(f"{'token':<20} = {json.dumps(token['value']):<36} # {token['source']}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option(
    "--port", default=8765, show_default=True, type=int, help="Port (0 picks a free one)."
)
@click.option(
    "--config",
    "workspace_config",
    type=click.Path(dir_okay=False, exists=True),
    help="TOML file with [endpoints.NAME] tables, faults, token and OAuth clients.",
)
@click.option("--token", help="Workspace token clients must send (default: a generated one).")
@click.option("--no-auth", is_flag=True, help="Accept requests without credentials.")
@click.option(
    "--log", "log_path", type=click.Path(dir_okay=False), help="Append a JSONL request log here."
)
@click.option(
    "--usage-log",
    "usage_log",
    type=click.Path(dir_okay=False),
    help="Append a JSONL usage log (one record per model call, with its request tags) here.",
)
@click.option(
    "--endpoint",
    "extra_endpoints",
    multiple=True,
    metavar="NAME[=MODEL]",
    help="Serve another endpoint (model: echo, reasoning or scripted; default echo). Repeatable.",
)
@click.option(
    "--oauth-client",
    "oauth_specs",
    multiple=True,
    metavar="ID[:SECRET]",
    help="Accept an OAuth M2M client (secret generated when omitted). Repeatable.",
)
@click.option(
    "--max-body",
    type=int,
    default=16 * 1024 * 1024,
    show_default=True,
    metavar="BYTES",
    help="Largest request body accepted (bigger ones get HTTP 413).",
)
@click.option(
    "--header-timeout",
    type=float,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Close a connection that has not sent its request headers by then.",
)
@click.option(
    "--idle-timeout",
    type=float,
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Close an idle connection, or answer 408 to a body that stalls, after this long.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request and server event.")
@_fail_cleanly
def serve(
    host: str,
    port: int,
    workspace_config: str | None,
    token: str | None,
    no_auth: bool,
    extra_endpoints: tuple[str, ...],
    log_path: str | None,
    usage_log: str | None,
    oauth_specs: tuple[str, ...],
    max_body: int,
    header_timeout: float,
    idle_timeout: float,
    verbose: bool,
) -> None:
    """Run the local Databricks-compatible workspace until Ctrl-C.

    It serves the model-serving API (/serving-endpoints/..., /ai-gateway/mlflow/v1/...,
    /api/2.0/serving-endpoints, OAuth) with local models, so the openai, mlflow and
    databricks-sdk clients, and every chatport backend, work offline against it. OAuth
    M2M clients exist only when given (--oauth-client, or [oauth_clients] in --config)
    and are printed at start-up.
    """
    from ._errors import ConfigError
    from .local import Endpoint, LocalWorkspace

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port: expected 0 (a free port) to 65535, got {port}", key="port")
    for option, path in (("log", log_path), ("usage-log", usage_log)):
        if path is None:
            continue
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except OSError as exc:
            raise ConfigError(
                f"--{option}: cannot write {path}: {exc.strerror or exc}", key=option
            ) from None
    endpoints = []
    for spec in extra_endpoints:
        name, _, kind = spec.partition("=")
        if not name.strip():
            raise ConfigError(
                f"--endpoint {spec!r}: the endpoint name is empty (NAME[=MODEL])", key="endpoint"
            )
        endpoints.append(Endpoint(name.strip(), kind or "echo"))  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "config": workspace_config,
        "endpoints": endpoints,
    }
    if usage_log is not None:
        kwargs["usage_log"] = usage_log
    if no_auth:
        kwargs["token"] = None
    elif token:
        kwargs["token"] = token
    workspace = LocalWorkspace(
        log_path=log_path,
        log_level="info" if verbose else "warning",
        max_body=max_body,
        header_timeout=header_timeout,
        idle_timeout=idle_timeout,
        **kwargs,
    )
    for spec in oauth_specs:
        client_id, _, secret = spec.partition(":")
        if not client_id.strip():
            raise ConfigError(
                f"--oauth-client {spec!r}: the client id is empty (ID[:SECRET])",
                key="oauth-client",
            )
        workspace.add_oauth_client(client_id.strip(), secret or None)
    workspace.bind()
    click.echo(f"chatport local workspace on {workspace.url}")
    click.echo(f"  export DATABRICKS_HOST={workspace.url}")
    if workspace.token:  # this local workspace's own token: the line must be pasteable
        click.echo(f"  export DATABRICKS_TOKEN={shlex.quote(workspace.token)}")
    else:
        click.echo("  unset DATABRICKS_TOKEN   # no credentials needed (--no-auth)")
    click.echo(f"  endpoints: {', '.join(e.name for e in workspace.endpoints)}")
    for client_id, secret in workspace.oauth_clients.items():  # pasteable, as the token
        click.echo(
            f"  OAuth client: export DATABRICKS_CLIENT_ID={shlex.quote(client_id)}"
            f" DATABRICKS_CLIENT_SECRET={shlex.quote(secret)}"
        )
    click.echo("Press Ctrl-C to stop.")
    from contextlib import suppress

    with suppress(KeyboardInterrupt):  # uvicorn shuts down gracefully, then re-raises it
        workspace.serve_forever()
    click.echo("stopped")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "items"):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def main() -> None:
    """Console-script entry point.

    Ctrl-C ends any command with one line and exit status 130 (as a shell reports an
    interrupted program), never click's ``Aborted!`` and status 1.
    """
    from ._terminal import quiet_libraries

    quiet_libraries()
    try:
        status = cli.main(prog_name="chatport", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt) or exc.__cause__ is None:
            click.echo("chatport: interrupted", err=True)
            sys.exit(130)
        click.echo("chatport: aborted (end of input)", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("chatport: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
