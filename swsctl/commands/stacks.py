"""Commands on stacks and on a service's running state: stack, stop and start."""

from __future__ import annotations

import click

from swsctl import output
from swsctl.client import ApiClient
from swsctl.commands.services import one_target
from swsctl.options import connection_options, pass_client

NAME_OR_STACK = [
    click.argument("name", required=False),
    click.option("--stack", metavar="STACK", help="Every service of the stack STACK."),
]


def name_or_stack(command):
    for decorator in reversed(NAME_OR_STACK):
        command = decorator(command)
    return command


@click.command()
@name_or_stack
@connection_options
@pass_client
def stop(client: ApiClient, name: str | None, stack: str | None) -> None:
    """Stop the service NAME (or every service of --stack): its containers go, its spec,
    volume and history stay, and its domain answers 503 until it is started.

    A stack stops from the top: the services with a domain first, then the private ones.
    A stopped service still counts toward your quota; an apply to it stores the new
    generation, which runs once it is started.

    \b
    Examples:
      swsctl stop db
      swsctl stop --stack shop
    """
    target = one_target(name, stack)
    if stack is None:
        output.echo(_changed(client.stop(target)))
    else:
        _show_stack(client.stop_stack(target), "stopping")


@click.command()
@name_or_stack
@connection_options
@pass_client
def start(client: ApiClient, name: str | None, stack: str | None) -> None:
    """Start the stopped service NAME (or every service of --stack) again.

    A stack starts from the bottom: the private services first, then those with a domain.

    \b
    Examples:
      swsctl start db
      swsctl start --stack shop
    """
    target = one_target(name, stack)
    if stack is None:
        output.echo(_changed(client.start(target)))
    else:
        _show_stack(client.start_stack(target), "starting")


@click.command(name="stack")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    "output_format",
    type=click.Choice(output.FORMATS),
    default="table",
    show_default=True,
    help="table for people, json or yaml for scripts.",
)
@connection_options
@pass_client
def show_stack(client: ApiClient, name: str, output_format: str) -> None:
    """Show the stack NAME: each of its services, its status, domain and last log line.

    \b
    Examples:
      swsctl stack shop
      swsctl stack shop -o json
    """
    stack = client.stack(name)
    if output_format == "table":
        output.echo(output.stack_table(stack))
    else:
        click.echo(output.render(stack, output_format))


def _changed(service: dict) -> str:
    result = service.get("result")
    if result == "unchanged":
        state = "stopped" if service.get("stopped") else "not stopped"
        return f"service/{service.get('name')} unchanged (already {state})"
    return f"service/{service.get('name')} {result}"


def _show_stack(stack: dict, doing: str) -> None:
    output.echo(f"stack/{stack.get('name')}: {doing}")
    output.echo(output.stack_table(stack))
