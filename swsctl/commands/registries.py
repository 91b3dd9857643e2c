"""swsctl registry: a user's credentials for private registries (issue 26). The password goes
up once, never on the command line (stdin or a hidden prompt), and is never printed: the
server keeps it sealed to the host, and the agent pulls that user's images with it."""

from __future__ import annotations

import sys

import click

from swsctl import output
from swsctl.client import ApiClient
from swsctl.options import connection_options, pass_client

FORMATS = ("table", "json", "yaml")


@click.group()
def registry() -> None:
    """Credentials for private registries: login, logout, ls.

    \b
    Examples:
      echo "$TOKEN" | swsctl registry login registry.example.com --username ci --password-stdin
      swsctl registry ls
      swsctl registry logout registry.example.com
    """


def _password(from_stdin: bool) -> str:
    if from_stdin:
        # One line, as `docker login --password-stdin` reads it: the trailing newline goes.
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, default="", show_default=False)
    if not password:
        raise click.ClickException("no password given")
    return password


@registry.command(name="login")
@click.argument("host")
@click.option("--username", "-u", metavar="USER", help="The registry user (prompted for).")
@click.option("--password-stdin", "from_stdin", is_flag=True, help="Read the password from stdin.")
@connection_options
@pass_client
def login(client: ApiClient, host: str, username: str | None, from_stdin: bool) -> None:
    """Keep credentials for the registry HOST (host[:port], as image references name it).

    Your services' images from HOST are pulled with them; every deploy of an image from a
    registry checks it with your own credentials (or none), so no one else's pull lets you
    run a private image.

    \b
    Example:
      swsctl registry login registry.example.com --username ci --password-stdin < token.txt
    """
    username = username or click.prompt("Username")
    shown = client.registry_login(host, username, _password(from_stdin))
    output.echo(f"registry/{shown.get('host')} logged in as {shown.get('username')}")


@registry.command(name="logout")
@click.argument("host")
@connection_options
@pass_client
def logout(client: ApiClient, host: str) -> None:
    """Forget your credentials for the registry HOST (later deploys pull without them).

    \b
    Example:
      swsctl registry logout registry.example.com
    """
    shown = client.registry_logout(host)
    output.echo(f"registry/{shown.get('host')} logged out")


@registry.command(name="ls")
@click.option("-o", "--output", "output_format", type=click.Choice(FORMATS), default="table")
@connection_options
@pass_client
def list_registries(client: ApiClient, output_format: str) -> None:
    """List the registries you have credentials for (never a password).

    \b
    Example:
      swsctl registry ls
    """
    shown = client.registries()
    if output_format != "table":
        click.echo(output.render(shown, output_format))
        return
    rows = [("HOST", "USERNAME", "UPDATED")]
    rows += [(r.get("host"), r.get("username"), r.get("updated_at")) for r in shown["registries"]]
    widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
    lines = ["  ".join(f"{v!s:<{w}}" for v, w in zip(row, widths, strict=True)) for row in rows]
    output.echo("\n".join(line.rstrip() for line in lines))
