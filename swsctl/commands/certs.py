"""swsctl cert: a service's own HTTPS certificate (issue 15). The key goes up once and is
never printed: the server keeps it sealed to the host and shows only public facts."""

from __future__ import annotations

import click

from swsctl import output
from swsctl.client import ApiClient
from swsctl.errors import NotFound
from swsctl.options import connection_options, pass_client

FORMATS = ("table", "json", "yaml")


@click.group()
def cert() -> None:
    """A service's own HTTPS certificate: set, get, delete.

    \b
    Examples:
      swsctl cert set web --cert fullchain.pem --key privkey.pem
      swsctl cert get web
    """


@cert.command(name="set")
@click.argument("name")
@click.option(
    "--cert",
    "chain_file",
    type=click.File("r"),
    required=True,
    help="PEM file: the certificate for the service's domain, then its intermediates.",
)
@click.option(
    "--key",
    "key_file",
    type=click.File("r"),
    required=True,
    help="PEM file: the certificate's private key, without a passphrase.",
)
@connection_options
@pass_client
def set_cert(client: ApiClient, name: str, chain_file, key_file) -> None:
    """Upload the certificate and key of the service NAME.

    The server refuses an expired certificate, one that does not cover the service's domain,
    a key that is not the certificate's or not RSA 2048-4096 / ECDSA P-256 or P-384, and a
    chain and key over 12 KiB, naming which. The agent puts it live on the
    next pass, with no request dropped.

    \b
    Example:
      swsctl cert set web --cert fullchain.pem --key privkey.pem
    """
    shown = client.set_certificate(name, chain_file.read(), key_file.read())
    output.echo(
        f"certificate/{name} set for {shown.get('domain')} "
        f"(valid until {shown.get('not_after')}, sha256 {shown.get('fingerprint')})"
    )


@cert.command(name="get")
@click.argument("name")
@click.option("-o", "--output", "output_format", type=click.Choice(FORMATS), default="table")
@connection_options
@pass_client
def get_cert(client: ApiClient, name: str, output_format: str) -> None:
    """Show the certificate of the service NAME: source, state, expiry; never the key.

    \b
    Example:
      swsctl cert get web -o yaml
    """
    shown = client.certificate(name)
    if output_format == "table":
        output.echo(output.describe_certificate(shown))
    else:
        click.echo(output.render(shown, output_format))


@cert.command(name="delete")
@click.argument("name")
@connection_options
@pass_client
def delete_cert(client: ApiClient, name: str) -> None:
    """Forget the certificate of the service NAME (HTTPS stops on the next pass, unless the
    spec asks for an ACME certificate, which is then requested again).

    \b
    Example:
      swsctl cert delete web
    """
    client.delete_certificate(name)
    output.echo(f"certificate/{name} deleted")


def certificate_line(client: ApiClient, name: str) -> str:
    """`swsctl get`'s glance at the service's certificate (issue 15)."""
    try:
        shown = client.certificate(name)
    except NotFound:
        return "Certificate:        (none)"
    state = shown.get("state")
    if shown.get("not_after"):
        state = f"{state}, valid until {shown['not_after']}"
    if shown.get("message"):
        state = f"{state}: {shown['message']}"
    return f"Certificate:        {shown.get('source')} ({state})"
