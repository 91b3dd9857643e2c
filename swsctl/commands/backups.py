"""swsctl backup, backups and restore (issue 27): copies of a service's volume."""

from __future__ import annotations

import os
import sys

import click

from swsctl import backups as backup_api
from swsctl import output
from swsctl.client import ApiClient
from swsctl.options import connection_options, pass_client


@click.command()
@click.argument("name")
@click.option(
    "--command",
    "dump",
    metavar="COMMAND",
    help="Run this first to make a dump (split as a shell would, run without one).",
)
@click.option("--id", "backup_id", type=int, help="With --download: this kept backup.")
@click.option("--download", is_flag=True, help="Write the backup's .tar to stdout.")
@click.option("--timeout", type=float, default=3600, show_default=True, help="Seconds to wait.")
@connection_options
@pass_client
def backup(client: ApiClient, name, dump, backup_id, download, timeout) -> None:
    """Copy the volume of the service NAME and wait until the copy is kept; print its id.

    A service whose update is recreate is stopped for the copy (its route answers 503
    meanwhile) unless --command makes a dump first. With --download the copy is streamed
    to stdout; with --id ID --download a kept one is, and no new copy is taken.

    \b
    Examples:
      swsctl backup db
      swsctl backup web --command "pg_dump -f /data/dump.sql app"
      swsctl backup db --download > db.tar
      swsctl backup db --id 12 --download > db-12.tar
    """
    if backup_id is not None and not download:
        raise click.UsageError("--id goes with --download")
    if download and sys.stdout.isatty():
        raise click.UsageError("--download writes a .tar: redirect stdout to a file")
    if backup_id is None:
        import shlex

        taken = backup_api.take(client, name, shlex.split(dump) if dump else None)
        output.echo(f"backup {taken['id']} of {name}: waiting for the host", err=True)
        ends = ("kept", "failed")
        found = backup_api.wait(client, name, "backups", taken["id"], ends, timeout)
        if found["state"] != "kept":
            raise click.ClickException(f"backup {taken['id']} failed: {found.get('message')}")
        backup_id = found["id"]
        output.echo(f"{backup_id}", err=download)
    if download:
        written = backup_api.download(client, name, backup_id, sys.stdout.buffer)
        sys.stdout.flush()
        output.echo(f"backup {backup_id}: {written} bytes written", err=True)


@click.command()
@click.argument("name")
@connection_options
@pass_client
def backups(client: ApiClient, name: str) -> None:
    """List the backups of the service NAME's volume: id, time, size, state.

    \b
    Example:
      swsctl backups db
    """
    answer = backup_api.listing(client, name)
    rows = [("ID", "TIME", "SIZE", "STATE", "CAUSE", "MESSAGE")]
    for item in answer["backups"]:
        size = item.get("size_bytes")
        rows.append((
            str(item["id"]), (item.get("finished_at") or item["requested_at"])[:19],
            "-" if size is None else _size(size), item["state"], item["cause"],
            item.get("message") or "",
        ))  # fmt: skip
    widths = [max(len(output.shown(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        output.echo(
            "  ".join(output.shown(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    used, quota = _size(answer["used_bytes"]), _size(answer["quota_bytes"])
    output.echo(f"your backups take {used} of {quota}", err=True)


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


@click.command()
@click.argument("name")
@click.option("--from", "source", required=True, metavar="ID|FILE",
              help="A kept backup's id, or a local .tar (streamed up).")  # fmt: skip
@click.option("--wait", "wait_", is_flag=True, help="Wait until the restore is done.")
@click.option("--timeout", type=float, default=3600, show_default=True, help="Seconds to wait.")
@connection_options
@pass_client
def restore(client: ApiClient, name: str, source: str, wait_: bool, timeout: float) -> None:
    """Stop the service NAME, restore its volume from a backup, and start it again.

    The volume's content is replaced by the backup's. --from takes a kept backup's id
    (`swsctl backups NAME`) or a .tar file such as `swsctl backup --download` wrote.

    \b
    Examples:
      swsctl restore db --from 12 --wait
      swsctl restore db --from db.tar --wait
    """
    if source.isdigit() and not os.path.exists(source):
        started = backup_api.restore(client, name, int(source))
    else:
        try:
            with open(source, "rb") as archive:
                started = backup_api.restore(client, name, None, archive)
        except OSError as err:
            raise click.ClickException(f"cannot read {source}: {err.strerror}") from None
    output.echo(f"restore {started['id']} of {name} asked for")
    if wait_:
        found = backup_api.wait(
            client, name, "restores", started["id"], ("done", "failed"), timeout
        )
        if found["state"] != "done":
            raise click.ClickException(f"restore {started['id']} failed: {found.get('message')}")
        output.echo(f"restore {started['id']} done; {name} starts again")
