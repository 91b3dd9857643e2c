"""The host's agent, as administrators see it through the API: its last passes."""

from __future__ import annotations

import click

from swsctl import output
from swsctl.client import ApiClient
from swsctl.options import connection_options, output_options, pass_client


@click.command(name="agent")
@click.option("--passes", "limit", default=10, show_default=True, type=click.IntRange(1, 100))
@output_options
@connection_options
@pass_client
def agent(client: ApiClient, limit: int, output_format: str, show_secrets: bool) -> None:
    """Show the agent's last passes on the host (administrators only).

    Each line is one pass: when it started, how long it took, its outcome (noop, changed,
    degraded when a proxy or the load balancer was down, failed, aborted) and what it
    changed or what went wrong. On the host, `sws-agent status` shows the same and the
    pause switch.

    \b
    Examples:
      swsctl agent
      swsctl agent --passes 50 -o yaml
    """
    found = client.agent_passes(limit)
    if output_format == "table":
        output.echo(output.passes_table(found["passes"]))
    else:
        click.echo(output.render(found, output_format))
