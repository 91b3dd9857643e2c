"""swsctl logs: a service's output, kept by the host and read through the API."""

from __future__ import annotations

import click

from swsctl import logs as service_logs
from swsctl import output
from swsctl.client import ApiClient
from swsctl.options import connection_options, pass_client


@click.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they come.")
@click.option(
    "--tail",
    type=click.IntRange(1, 1000),
    metavar="N",
    help="Only the last N lines (at most 1000); default: every line the host keeps.",
)
@click.option(
    "--since",
    metavar="WHEN",
    help="Only lines from then on: a duration back (30s, 10m, 2h, 1d) or an ISO 8601 time.",
)
@click.option("-t", "--timestamps", is_flag=True, help="Show each line's time.")
@click.option("--prefix", is_flag=True, help="Show the container (its generation) of each line.")
@click.option("--job", "run_id", type=int, metavar="ID", help="A job run's output instead.")
@connection_options
@pass_client
def logs(
    client: ApiClient,
    name: str,
    follow: bool,
    tail: int | None,
    since: str | None,
    timestamps: bool,
    prefix: bool,
    run_id: int | None,
) -> None:
    """Print the output of the service NAME's containers (stdout, and stderr to stderr).

    The host keeps the last lines of each service (2,000 by default, each at most 4 KiB),
    every generation's. With -f, follows new lines until Ctrl-C, also across an update to
    the next generation; it ends by itself when the service is deleted.

    \b
    Examples:
      swsctl logs web
      swsctl logs web --tail 20 -f
      swsctl logs web --since 10m --timestamps
      swsctl logs web --job 42 -f
    """
    if run_id is not None:
        _run_output(client, name, run_id, follow)
        return
    since_value = service_logs.since_parameter(since)
    lines, cursor = service_logs.read(client, name, tail, since_value)
    for item in lines:
        _print(item, timestamps, prefix)
    if not follow:
        return
    try:
        for item in service_logs.follow(client, name, cursor):
            _print(item, timestamps, prefix)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a follow ends
    output.echo(f"service/{name} was deleted; its log ends here.", err=True)


def _print(item: dict, timestamps: bool, prefix: bool) -> None:
    output.echo(output.log_line(item, timestamps, prefix), err=item.get("stream") == "stderr")


def _run_output(client: ApiClient, name: str, run_id: int, follow: bool) -> None:
    """A job run's output (issue 26): what the host kept, or followed to the run's end."""
    from swsctl import jobs as job_api
    from swsctl.commands.jobs import print_output

    if follow:
        try:
            print_output(client, name, run_id)
        except KeyboardInterrupt:
            return
        return
    after = 0
    while True:
        page = job_api.output_page(client, name, run_id, after)
        for item in page["lines"]:
            _print(item, False, False)
        after = page["cursor"]
        if not page["more"]:
            return
