"""Commands on a service's past: history (its kept generations) and rollback to one of them."""

from __future__ import annotations

import click

from swsctl import output, wait
from swsctl.client import ApiClient
from swsctl.commands.services import wait_until_running
from swsctl.options import connection_options, output_options, pass_client, wait_options


@click.command()
@click.argument("name")
@output_options
@connection_options
@pass_client
def history(client: ApiClient, name: str, output_format: str, show_secrets: bool) -> None:
    """List the kept generations of the service NAME, newest first.

    Each line is one generation: when it was made, why (apply, restart, or a rollback to
    an older generation), and its image, domain and port. The host keeps the last few
    generations of each service (10 unless the operator changed it). json and yaml show
    each generation's whole spec, env values masked unless --show-secrets.

    \b
    Examples:
      swsctl history web
      swsctl history web -o yaml
    """
    found = client.history(name, show_secrets=show_secrets)
    if output_format == "table":
        output.echo(output.history_table(found))
    else:
        click.echo(output.render(found, output_format))


@click.command()
@click.argument("name")
@click.option(
    "--to",
    "generation",
    type=click.IntRange(min=1),
    metavar="GENERATION",
    help="The kept generation whose spec to go back to (see `swsctl history NAME`). "
    "Default: the newest earlier generation with another spec.",
)
@wait_options
@connection_options
@pass_client
def rollback(
    client: ApiClient, name: str, generation: int | None, follow: wait.Follow | None
) -> None:
    """Go back to an older spec of the service NAME, as a new generation.

    The old spec is checked again under today's rules, and its domain must still be free.
    The agent deploys it like any update: the current generation keeps serving until the
    new container accepts connections. With --wait, follows it until it runs.

    \b
    Examples:
      swsctl rollback web
      swsctl rollback web --to 3 --wait
    """
    service = client.rollback(name, generation)
    target = service.get("rolled_back_to")
    if service.get("result") == "unchanged":
        output.echo(
            f"service/{name} unchanged: generation {target}'s spec is the current one "
            f"(generation {service.get('generation')})"
        )
    else:
        output.echo(
            f"service/{name} rolled back to the spec of generation {target} "
            f"(generation {service.get('generation')})"
        )
    wait_until_running(follow, client, service)
