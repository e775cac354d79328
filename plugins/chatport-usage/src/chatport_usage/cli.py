"""The ``chatport usage`` command."""

from __future__ import annotations

import json
from pathlib import Path

import click

import chatport

from .prices import load_prices
from .report import printable, render_table, summarize
from .tally import LogRead, Tally, read_log_file

__all__ = ["usage_command"]


def _config(ctx: click.Context) -> chatport.Config:
    root = ctx.find_root().params  # the chatport group's --config and --profile
    return chatport.load_config(root.get("config_path"), profile=root.get("profile"))


@click.command("usage")
@click.argument("log", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON.")
@click.option(
    "--by-tag",
    "by_tag",
    metavar="KEY",
    help="Group the rows by this request tag's value instead of the backend (needs a "
    "log whose records carry request tags: a local workspace usage log).",
)
@click.pass_context
def usage_command(ctx: click.Context, log: Path | None, as_json: bool, by_tag: str | None) -> None:
    """Tokens and cost per backend and model.

    LOG is a chatport-jsonl-log file (default: the [plugins.jsonl-log] path of your
    config, if any) or a local workspace usage log (chatport serve --usage-log, whose
    rows count under the backend "workspace"); without one, the calls this process
    made. --by-tag KEY groups the rows by the value of the request tag KEY. Prices come from the
    table shipped with chatport-usage and [plugins.usage.prices] in your config; a model
    with no price is shown as unpriced, never as free. A log line that is not a record,
    or whose token counts are not whole numbers, is skipped and named on standard error.
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
    read = LogRead()
    tally: Tally
    if log is not None:
        read = _read(log, by_tag)
        tally, source = read.tally, str(log)
    else:
        tally, source = process_tally(), "this process's calls"
    if by_tag is not None and not read.tagged:
        raise click.UsageError(
            printable(
                f"--by-tag: {source} records no request tags (chatport-jsonl-log records do "
                "not carry them); give a local workspace usage log (chatport serve --usage-log)"
            )
        )
    summary = summarize(tally.rows(), prices, source, by_tag=by_tag)
    summary["skipped_lines"] = len(read.skipped)
    click.echo(json.dumps(summary, indent=2) if as_json else render_table(summary))
    if read.skipped:
        click.echo(_skipped(read, source), err=True)


def _read(log: Path, by_tag: str | None) -> LogRead:
    try:
        return read_log_file(log, by_tag)
    except OSError as exc:
        raise click.FileError(printable(str(log)), hint=exc.strerror or str(exc)) from None


def _skipped(read: LogRead, source: str) -> str:
    """The note naming the lines skipped (the first five) and why."""
    shown = "; ".join(f"line {number}: {why}" for number, why in read.skipped[:5])
    more = f"; and {len(read.skipped) - 5} more" if len(read.skipped) > 5 else ""
    return printable(f"{len(read.skipped)} line(s) of {source} were skipped ({shown}{more})")
