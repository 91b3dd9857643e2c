"""Commands on the account: configure (address and token, checked, saved) and whoami."""

from __future__ import annotations

import os

import click

from swsctl import config, output
from swsctl.client import ApiClient
from swsctl.config import Settings
from swsctl.errors import InvalidInput
from swsctl.options import config_file, connection_options, pass_client


@click.command()
@click.option("--url", metavar="URL", help="API address to save (prompted for if not given).")
@click.option("--token", metavar="TOKEN", help="Access token to save (prompted for, hidden).")
@click.option(
    "--ca-cert",
    envvar="SWS_CA_CERT",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="PEM file of the CA for a private certificate (kept from before if not given) "
    "[env SWS_CA_CERT]",
)
@pass_client
@click.pass_context
def configure(
    ctx: click.Context, client: ApiClient, url: str | None, token: str | None, ca_cert
) -> None:
    """Save the API address and access token after checking them against the server.

    Prompts for what is not given as an option, offering the saved values as defaults
    (the token only in masked form; press Enter to keep it). The file is written under
    the XDG config directory with mode 0600. SWS_URL, SWS_TOKEN and SWS_CA_CERT
    override it, for CI.

    \b
    Examples:
      swsctl configure
      swsctl configure --url https://sws.example.com --ca-cert ./sws-ca.pem
    """
    path = config_file(ctx)
    try:
        saved = config.load(path)
    except InvalidInput as err:  # configure is how a broken file gets fixed
        output.echo(f"Warning: {err.message}", err=True)
        saved = Settings()
    url = url or click.prompt("SWS API address", default=saved.url, value_proc=_checked_url)
    token = token or _prompt_token(saved.token)
    settings = Settings(
        url=config.normalise_url(url), token=token, ca_cert=ca_cert or saved.ca_cert
    )
    client.use(settings)
    who = client.whoami()
    config.save(path, settings)
    output.echo(f"Signed in to {settings.url} as {who.get('name')}. Saved in {path} (mode 0600).")
    if config.sends_token_in_clear(settings.url):
        output.echo(
            "Warning: an http:// address sends the token unencrypted; "
            "prefer https:// outside a trusted network.",
            err=True,
        )
    for variable in ("SWS_URL", "SWS_TOKEN", "SWS_CA_CERT"):
        if os.environ.get(variable):
            output.echo(f"Note: {variable} is set and overrides the saved value.", err=True)


@click.command()
@connection_options
@pass_client
def whoami(client: ApiClient) -> None:
    """Show who the server thinks you are (checks the address and the token).

    \b
    Example:
      swsctl whoami
    """
    who = client.whoami()
    output.echo(f"{who.get('name')}{' (admin)' if who.get('admin') else ''} at {client.base_url}")


def _checked_url(value: str) -> str:
    try:
        return config.normalise_url(value)
    except InvalidInput as err:
        raise click.BadParameter(err.message) from None  # click asks again


def _prompt_token(saved: str | None) -> str:
    label = "Access token"
    if saved:
        label += f" [{config.mask_token(saved)}; Enter keeps it]"
    while True:
        typed = click.prompt(label, hide_input=True, default="", show_default=False).strip()
        if typed or saved:
            return typed or saved
        output.echo(
            "A token is needed; an administrator creates one with "
            "`sws-apiserver users create NAME`.",
            err=True,
        )
