"""swsctl cert: a service's HTTPS certificates (issue 15), one a domain, alias or redirect
(issue 27; --domain, the service's domain without it). The key goes up once and is never
printed: the server keeps it sealed to the host and shows only public facts."""

from __future__ import annotations

import click

from swsctl import output
from swsctl.client import ApiClient
from swsctl.errors import NotFound
from swsctl.options import connection_options, pass_client

FORMATS = ("table", "json", "yaml")
DOMAIN_HELP = "Which of the service's domains (an alias or a redirect); default its domain."


def describe_certificate(cert: dict) -> str:
    """`swsctl cert get`: a service's certificate (issue 15), public facts only."""
    fields = [
        ("Source", cert.get("source")),
        ("Domain", cert.get("domain")),
        ("State", cert.get("state")),
        ("Valid until", cert.get("not_after") or "(none yet)"),
        ("SHA-256", cert.get("fingerprint") or "(none yet)"),
        ("Message", cert.get("message") or "(none)"),
    ]
    if cert.get("next_attempt_at"):
        fields.append(("Next attempt", cert["next_attempt_at"]))
    width = max(len(label) for label, _ in fields) + 2
    return "\n".join(f"{label + ':':<{width}}{output.shown(value)}" for label, value in fields)


def domain_option(command):
    return click.option("--domain", default=None, metavar="DOMAIN", help=DOMAIN_HELP)(command)


@click.group()
def cert() -> None:
    """A service's HTTPS certificates, one a domain: set, get, list, delete.

    \b
    Examples:
      swsctl cert set web --cert fullchain.pem --key privkey.pem
      swsctl cert set web --domain www.example.com --cert www.pem --key www.key
      swsctl cert list web
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
@domain_option
@connection_options
@pass_client
def set_cert(client: ApiClient, name: str, chain_file, key_file, domain) -> None:
    """Upload the certificate and key of the service NAME.

    The server refuses an expired certificate, one that does not cover the service's domain,
    a key that is not the certificate's or not RSA 2048-4096 / ECDSA P-256 or P-384, and a
    chain and key over 12 KiB, naming which. The agent puts it live on the
    next pass, with no request dropped.

    \b
    Example:
      swsctl cert set web --cert fullchain.pem --key privkey.pem
    """
    shown = client.set_certificate(name, chain_file.read(), key_file.read(), domain)
    output.echo(
        f"certificate/{name} set for {shown.get('domain')} "
        f"(valid until {shown.get('not_after')}, sha256 {shown.get('fingerprint')})"
    )


@cert.command(name="get")
@click.argument("name")
@click.option("-o", "--output", "output_format", type=click.Choice(FORMATS), default="table")
@domain_option
@connection_options
@pass_client
def get_cert(client: ApiClient, name: str, output_format: str, domain) -> None:
    """Show a certificate of the service NAME: source, state, expiry; never the key.

    \b
    Example:
      swsctl cert get web -o yaml
      swsctl cert get web --domain www.example.com
    """
    shown = client.certificate(name, domain)
    if output_format == "table":
        output.echo(describe_certificate(shown))
    else:
        click.echo(output.render(shown, output_format))


@cert.command(name="list")
@click.argument("name")
@click.option("-o", "--output", "output_format", type=click.Choice(FORMATS), default="table")
@connection_options
@pass_client
def list_certs(client: ApiClient, name: str, output_format: str) -> None:
    """List each domain of the service NAME (its domain, aliases and redirects) with its
    certificate's source, state and expiry.

    \b
    Example:
      swsctl cert list web
    """
    shown = client.certificates(name)
    if output_format != "table":
        click.echo(output.render(shown, output_format))
        return
    rows = [("DOMAIN", "ROLE", "SOURCE", "STATE", "VALID UNTIL")]
    for item in shown.get("certificates") or []:
        cert = item.get("certificate") or {}
        rows.append(
            (
                item.get("domain"),
                item.get("role") or "(not held)",
                cert.get("source") or "-",
                cert.get("state") or "none",
                cert.get("not_after") or "-",
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(f"{v!s:<{w}}" for v, w in zip(row, widths, strict=True)) for row in rows]
    output.echo("\n".join(line.rstrip() for line in lines))


@cert.command(name="delete")
@click.argument("name")
@domain_option
@connection_options
@pass_client
def delete_cert(client: ApiClient, name: str, domain) -> None:
    """Forget a certificate of the service NAME (HTTPS for that domain stops on the next pass,
    unless the spec asks for an ACME certificate, which is then requested again).

    \b
    Example:
      swsctl cert delete web
      swsctl cert delete web --domain www.example.com
    """
    client.delete_certificate(name, domain)
    output.echo(f"certificate/{name} deleted" + (f" for {domain}" if domain else ""))


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
