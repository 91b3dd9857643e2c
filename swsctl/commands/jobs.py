"""swsctl run and swsctl jobs (issue 26): a command beside a service, and its runs."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from swsctl import jobs as job_api
from swsctl import output
from swsctl.client import ApiClient
from swsctl.options import connection_options, pass_client

# swsctl's exit code for a run that has none of its own (timeout(1)'s and a shell's Ctrl-C).
EXIT_TIMED_OUT = 124
EXIT_STOPPED = 130


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-d", "--detach", is_flag=True, help="Start it and print its id; do not wait.")
@click.option("--timeout", metavar="DURATION", help="Kill it after this long (300, 5m, 1h).")
@connection_options
@pass_client
def run(client: ApiClient, name: str, command: tuple, detach: bool, timeout: str | None):
    """Run COMMAND in a one-off container of the service NAME's current generation.

    Same image, env, volume, networks and limits as the service; COMMAND replaces the
    image's entrypoint and reaches it as given (no shell). Its output streams back as it
    comes and swsctl exits with its exit code (124 when it ran out of time). Ctrl-C stops
    it. With --detach, `swsctl jobs NAME` and `swsctl logs NAME --job ID` find it again.

    \b
    Examples:
      swsctl run web -- python manage.py migrate
      swsctl run web --timeout 30m --detach -- ./rebuild-index.sh
    """
    started = job_api.start_run(client, name, list(command), timeout)
    run_id = started["id"]
    if detach:
        output.echo(f"run {run_id} of {name} started")
        return
    output.echo(f"run {run_id} of {name}: waiting for the host", err=True)
    try:
        ending = print_output(client, name, run_id)
    except KeyboardInterrupt:
        job_api.stop_run(client, name, run_id)
        output.echo(f"run {run_id} stopped", err=True)
        sys.exit(EXIT_STOPPED)
    sys.exit(exit_code(ending))


def print_output(client: ApiClient, name: str, run_id: int, after: int = 0) -> dict:
    """Print the run's lines as they come; return its ending."""
    for item in job_api.follow(client, name, run_id, after):
        if "end" in item:
            if item.get("message") and item.get("state") != "succeeded":
                output.echo(f"run {run_id} {item.get('state')}: {item['message']}", err=True)
            return item
        output.echo(output.log_line(item), err=item.get("stream") == "stderr")
    return {"end": "deleted"}


def exit_code(ending: dict) -> int:
    state = ending.get("state")
    if state == "timed_out":
        return EXIT_TIMED_OUT
    if state == "stopped":
        return EXIT_STOPPED
    code = ending.get("exit_code")
    if isinstance(code, int):
        return code if 0 <= code < 256 else 1
    return 0 if state == "succeeded" else 1


@click.command()
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@connection_options
@pass_client
def jobs(client: ApiClient, name: str, limit: int) -> None:
    """List the service NAME's scheduled jobs and its runs, newest first.

    \b
    Example:
      swsctl jobs web
    """
    answer = job_api.list_runs(client, name, limit)
    for job in answer.get("jobs") or []:
        zone = f" {job['timeZone']}" if job.get("timeZone") else ""
        command = " ".join(job.get("command") or [])
        output.echo(output.shown(f"job {job['name']}: {job['schedule']}{zone}: {command}"))
    output.echo(runs_table(answer.get("runs") or []))


def runs_table(runs: list[dict]) -> str:
    rows = [("ID", "JOB", "STATE", "EXIT", "STARTED", "SECONDS", "COMMAND")]
    for run in runs:
        rows.append(
            (
                str(run["id"]),
                run.get("job") or "-",
                run["state"],
                "-" if run.get("exit_code") is None else str(run["exit_code"]),
                run.get("started_at") or run.get("scheduled_for") or "-",
                _seconds(run),
                " ".join(run.get("command") or []),
            )
        )
    widths = [max(len(output.shown(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(output.shown(cell).ljust(w) for cell, w in zip(row, widths, strict=False))
        + "  "
        + output.shown(row[-1])
        for row in rows
    )


def _seconds(run: dict) -> str:
    if not (run.get("started_at") and run.get("finished_at")):
        return "-"
    took = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
    return f"{took.total_seconds():.1f}"
