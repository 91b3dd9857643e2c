"""Commands on services: apply, restart, delete, ls and get (alias status)."""

from __future__ import annotations

import sys

import click

from swsctl import output, wait
from swsctl.client import ApiClient
from swsctl.commands.certs import certificate_line
from swsctl.definitionset import read_definitions
from swsctl.options import connection_options, output_options, pass_client, wait_options
from swsctl.progress import Progress


@click.command()
@click.argument("file", metavar="FILE")
@click.option(
    "--validate/--no-validate",
    default=True,
    show_default=True,
    help="Check the definition locally first. --no-validate leaves it to the server "
    "(for a server newer than this swsctl).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Make a new generation even if the spec is unchanged: the agent starts a fresh "
    "container (retries a failed generation).",
)
@wait_options
@connection_options
@pass_client
def apply(
    client: ApiClient, file: str, validate: bool, force: bool, follow: wait.Follow | None
) -> None:
    """Create or update the services described in FILE (YAML or JSON; - reads stdin).

    FILE holds one definition, several YAML documents (--- between them) or a JSON list;
    or it is a directory, whose *.yaml, *.yml and *.json files are read in name order.
    Every definition is checked locally first, with the same schema the server uses, so a
    typo is reported with its file, document, field and line before anything is sent.
    Several definitions are stored all or none. Prints whether each service was created,
    updated or unchanged, and its generation.

    With --wait, follows the service until the agent reports it running (exit 0) or
    failed (exit 1, with the agent's message). With --force, an unchanged spec becomes a
    new generation too (`restarted`), which retries a failed one.

    \b
    Examples:
      swsctl apply web.yaml
      swsctl apply web.yaml --wait --timeout 90
      swsctl apply web.yaml --force --wait
      swsctl apply shop/ --wait
      cat web.json | swsctl apply -
    """
    found = read_definitions(file, stdin=sys.stdin.buffer, validate=validate)
    if len(found.files) == 1:
        (one,) = found.files
        service = client.apply(one.to_send(), source=one.source, locate=one.line, force=force)
        output.echo(output.outcome(service))
        wait_until_running(follow, client, service)
        return
    if force:
        raise click.UsageError("--force takes one definition; restart each service instead")
    services = client.apply_many(found.to_send(), locate=found.line, label=found.label)
    for service in services:
        output.echo(output.outcome(service))
    wait_until_all_run(follow, client, services)


@click.command()
@click.argument("name")
@wait_options
@connection_options
@pass_client
def restart(client: ApiClient, name: str, follow: wait.Follow | None) -> None:
    """Start the service NAME afresh: a new generation of its current spec.

    The agent starts a new container beside the old one and switches to it once it accepts
    connections, as for any update. This is how to retry a generation that failed (for
    example once the missing image has been built), or to restart a stuck service.

    \b
    Examples:
      swsctl restart web
      swsctl restart web --wait
    """
    service = client.restart(name)
    output.echo(output.outcome(service))
    wait_until_running(follow, client, service)


def wait_until_running(follow: wait.Follow | None, client: ApiClient, service: dict) -> None:
    """With --wait: follow the service's new generation until it runs (or fails)."""
    if follow is None:
        return
    final = follow_service(
        follow, wait.until_running, client, service["name"], service["generation"]
    )
    output.echo(f"service/{final['name']} running (generation {final['applied_generation']})")


def wait_until_all_run(follow: wait.Follow | None, client: ApiClient, services: list) -> None:
    """With --wait: follow each applied service in turn, all within the one --timeout."""
    if follow is None:
        return
    deadline = follow.clock() + follow.timeout
    for service in services:
        follow.timeout = max(0.0, deadline - follow.clock())
        wait_until_running(follow, client, service)


@click.command()
@click.argument("name", required=False)
@click.option("--stack", metavar="STACK", help="Delete every service of the stack STACK.")
@click.option(
    "--purge",
    is_flag=True,
    help="Also remove the service's volume NAME-volume: its data is removed for good.",
)
@wait_options
@connection_options
@pass_client
def delete(
    client: ApiClient, name: str | None, stack: str | None, purge: bool, follow: wait.Follow | None
) -> None:
    """Mark the service NAME (or every service of --stack) for removal; the agent stops it
    and removes its route.

    Its volume NAME-volume is kept (apply the service again and it finds its data) unless
    --purge is given. With --wait, follows it until it is gone.

    \b
    Examples:
      swsctl delete web
      swsctl delete web --wait
      swsctl delete web --purge --wait
      swsctl delete --stack shop --purge
    """
    if stack is not None:
        delete_stack(client, one_target(name, stack), purge, follow)
        return
    name = one_target(name, stack)
    client.delete(name, purge=purge)
    volume = f" (volume {name}-volume will be removed)" if purge else ""
    output.echo(f"service/{name} marked for deletion{volume}")
    if follow is not None:
        follow_service(follow, wait.until_gone, client, name)
        volume = f" (volume {name}-volume removed)" if purge else ""
        output.echo(f"service/{name} deleted{volume}")


@click.command(name="ls")
@output_options
@click.option(
    "-w", "--watch", is_flag=True, help="Keep watching: show the list again when it changes."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=2.0,
    envvar="SWS_WATCH_INTERVAL",
    hidden=True,
    help="Seconds between two looks at the list while watching.",
)
@connection_options
@pass_client
def list_services(
    client: ApiClient, output_format: str, show_secrets: bool, watch: bool, interval: float
) -> None:
    """List your services: name, domain, image, status and for how long, restarts, age and
    the last log line.

    The table never shows env; json and yaml show env values masked unless --show-secrets.
    With -w, looks again every 2 seconds and shows the list anew whenever it changed (on a
    terminal, in place), until Ctrl-C.

    \b
    Examples:
      swsctl ls
      swsctl ls -w
      swsctl ls -o json | jq -r '.[].name'
    """
    if not watch:
        _show_services(client.list_services(), output_format, show_secrets)
        return
    try:
        for services in wait.changes(client, interval):
            if sys.stdout.isatty() and output_format == "table":
                click.clear()
            _show_services(services, output_format, show_secrets)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends


def _show_services(services: list[dict], output_format: str, show_secrets: bool) -> None:
    if output_format != "table":
        shown = [output.masked(s, show_secrets) for s in services]
        click.echo(output.render(shown, output_format))
    elif services:
        output.echo(output.table(services))
    else:
        output.echo("No services yet. Create one with: swsctl apply FILE", err=True)


@click.command(name="get")
@click.argument("name")
@output_options
@connection_options
@pass_client
def get_service(client: ApiClient, name: str, output_format: str, show_secrets: bool) -> None:
    """Show one service: spec, generations, status, last message and log line.

    Env values are masked unless --show-secrets. `swsctl status NAME` is the same command.

    \b
    Examples:
      swsctl get web
      swsctl status web -o yaml
      swsctl get web --show-secrets
    """
    service = client.get_service(name)
    if output_format == "table":
        output.echo(output.describe(service, show_secrets))
        output.echo(certificate_line(client, name))
    else:
        click.echo(output.render(output.masked(service, show_secrets), output_format))


def one_target(name: str | None, stack: str | None) -> str:
    """NAME or --stack, exactly one of them."""
    if (name is None) == (stack is None):
        raise click.UsageError("give a service NAME or --stack STACK (one of them)")
    return name if stack is None else stack


def delete_stack(client: ApiClient, stack: str, purge: bool, follow: wait.Follow | None) -> None:
    services = client.delete_stack(stack, purge=purge).get("services") or []
    volumes = " (their volumes will be removed)" if purge else ""
    output.echo(f"stack/{stack}: {len(services)} services marked for deletion{volumes}")
    if follow is None:
        return
    deadline = follow.clock() + follow.timeout
    for service in services:
        follow.timeout = max(0.0, deadline - follow.clock())
        follow_service(follow, wait.until_gone, client, service["name"])
        output.echo(f"service/{service['name']} deleted")


def follow_service(follow: wait.Follow, until, client: ApiClient, name: str, *args):
    progress = Progress()
    follow.observe = progress
    try:
        return until(client, name, *args, follow)
    except KeyboardInterrupt:
        progress.close()
        # The change is already recorded: say so, or Ctrl-C reads like an undo.
        output.echo(
            f"Stopped waiting. The change to service/{name} stands and the agent will still "
            f"act on it; follow it with `swsctl get {name}`.",
            err=True,
        )
        raise click.Abort() from None
    finally:
        progress.close()
