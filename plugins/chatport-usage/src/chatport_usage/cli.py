"""The ``chatport usage`` command."""

from __future__ import annotations

import json
from pathlib import Path

import click

import chatport

from .prices import load_prices
from .report import render_table, summarize
from .tally import Tally, read_log_file

__all__ = ["usage_command"]


def _config(ctx: click.Context) -> chatport.Config:
    root = ctx.find_root().params  # the chatport group's --config and --profile
    return chatport.load_config(root.get("config_path"), profile=root.get("profile"))


@click.command("usage")
@click.argument("log", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON.")
@click.pass_context
def usage_command(ctx: click.Context, log: Path | None, as_json: bool) -> None:
    """Tokens and cost per backend and model.

    LOG is a chatport-jsonl-log file (default: the [plugins.jsonl-log] path of your
    config, if any); without one, the calls this process made. Prices come from the
    table shipped with chatport-usage and [plugins.usage.prices] in your config; a model
    with no price is shown as unpriced, never as free.
    """
    from . import process_tally

    try:
        config = _config(ctx)
        prices = load_prices(config)
    except chatport.ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if log is None:
        configured = config.plugin_options("jsonl-log").get("path")
        if isinstance(configured, str) and configured and Path(configured).is_file():
            log = Path(configured)
    skipped = 0
    tally: Tally
    if log is not None:
        tally, skipped = read_log_file(log)
        source = str(log)
    else:
        tally, source = process_tally(), "this process's calls"
    summary = summarize(tally.rows(), prices, source)
    summary["skipped_lines"] = skipped
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(render_table(summary))
    if skipped:
        click.echo(f"{skipped} line(s) of {log} were not chatport-jsonl-log records", err=True)
