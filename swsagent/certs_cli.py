"""`sws-agent certs`: ACME certificates (swsagent/acme.py), outside every pass."""

from __future__ import annotations

import json
import logging

import click

from swsagent import acme, store
from swsagent.config import AgentConfig, AgentConfigError, load_config

log = logging.getLogger(__name__)


def settings(config: AgentConfig) -> acme.AcmeSettings:
    return acme.AcmeSettings(
        directory=config.acme_directory,
        state_dir=config.state_dir,
        tls_dir=config.tls_dir,
        proxies=config.names.proxies,
        proxy_files=config.names.proxy_files,
        default_source=config.tls_default_certificate,
        ca_bundle=config.acme_ca_bundle,
        email=config.acme_email,
        dns_server=config.acme_dns_server,
        host_addresses=config.acme_host_addresses,
        renew_days=config.acme_renew_days,
        backoff_first=config.acme_backoff,
        api_domain=config.api_domain if config.api_certificate == "acme" else None,
    )


@click.command(name="certs")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="agent.yml")
@click.option("--loop", "interval", type=float, help="Run a round every this many seconds.")
@click.option(
    "--renew",
    "renew",
    multiple=True,
    metavar="SERVICE|DOMAIN",
    help="Order new certificates now, whatever their expiry and backoff: a service's (each of "
    "its domains, aliases and redirects), or one domain's "
    "(`api`: the API domain's, when it comes from ACME).",
)
def certs_command(config_path: str | None, interval: float | None, renew: tuple[str, ...]):
    """Order and renew ACME certificates (HTTP-01) for the services that ask for them, one
    for each domain, alias and redirect, and for the API domain when agent.yml says
    api_certificate: acme.

    Prints what it did as JSON. Cron runs it every few minutes; it orders nothing for a
    domain that does not resolve to this host, and backs off after a failure.

    Example: sws-agent certs --config /etc/sws/agent.yml
    """
    try:
        config = load_config(config_path)
    except AgentConfigError as err:
        raise click.ClickException(str(err)) from None
    if not config.acme_directory or config.tls_dir is None:
        raise click.ClickException("ACME is off: agent.yml sets no acme_directory or tls_dir")

    def connect():
        return store.connect(config.database_url, "sws-agent certs", config.store_timeout)

    if interval:
        acme.loop(connect, settings(config), interval)
        return
    conn = connect()
    try:
        click.echo(json.dumps(acme.run_once(conn, settings(config), set(renew))))
    finally:
        conn.close()
