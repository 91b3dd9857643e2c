"""The swarm's nodes, as administrators see them through the API (issue 28)."""

from __future__ import annotations

import click

from swsctl import output
from swsctl.client import ApiClient
from swsctl.nodes import nodes_table
from swsctl.options import connection_options, output_options, pass_client


@click.command(name="nodes")
@output_options
@connection_options
@pass_client
def nodes(client: ApiClient, output_format: str, show_secrets: bool) -> None:
    """Show the swarm's nodes (administrators only).

    Each line is one node: its role, state (ready, down, left...), availability, the
    services whose tasks run on it (or ran, when it is down), the free memory and disk it
    last reported, and when the agent last saw it ready. Empty on a single host.

    \b
    Examples:
      swsctl nodes
      swsctl nodes -o json
    """
    found = client.nodes()
    if output_format == "table":
        output.echo(nodes_table(found["nodes"]))
    else:
        click.echo(output.render(found, output_format))
