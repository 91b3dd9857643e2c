"""Options shared by several commands, as decorators, and the client they fill in.

Connection options sit on each command (not only on the group) so that both
`swsctl ls --url X` and `SWS_URL=X swsctl ls` work, the way kubectl's flags do.
"""

from __future__ import annotations

import functools

import click

from swsctl import config
from swsctl.client import ApiClient
from swsctl.config import Settings
from swsctl.output import FORMATS
from swsctl.transport import DEFAULT_READ_TIMEOUT
from swsctl.wait import Follow

pass_client = click.make_pass_decorator(ApiClient)

CONFIG_PATH_KEY = "swsctl.config_path"


def config_file(ctx: click.Context):
    """The config file chosen by --config/SWS_CONFIG on the group, else the XDG default."""
    return ctx.meta.get(CONFIG_PATH_KEY) or config.config_path()


def connection_options(command):
    """--url, --token, --ca-cert and --request-timeout, each with its SWS_* variable."""

    @functools.wraps(command)
    def with_connection(*args, url, token, ca_cert, request_timeout, **kwargs):
        ctx = click.get_current_context()
        overrides = {"url": url, "token": token, "ca_cert": ca_cert}
        # With address and token from the environment the file is not needed (CI), so a
        # broken or missing file must not stand in the way.
        base = Settings() if url and token else config.load(config_file(ctx))
        ctx.find_object(ApiClient).use(base.overridden(**overrides), timeout=request_timeout)
        return command(*args, **kwargs)

    options = [
        click.option(
            "--url",
            envvar="SWS_URL",
            metavar="URL",
            help="API address, e.g. https://sws.example.com [env SWS_URL; default: config file]",
        ),
        click.option(
            "--token",
            envvar="SWS_TOKEN",
            metavar="TOKEN",
            help="Access token [env SWS_TOKEN, preferred: options show up in `ps`]",
        ),
        click.option(
            "--ca-cert",
            envvar="SWS_CA_CERT",
            type=click.Path(exists=True, dir_okay=False),
            help="PEM file of the CA that signed the server's certificate [env SWS_CA_CERT]",
        ),
        click.option(
            "--request-timeout",
            envvar="SWS_REQUEST_TIMEOUT",
            type=click.FloatRange(min=0.1),
            default=DEFAULT_READ_TIMEOUT,
            show_default=True,
            metavar="SECONDS",
            help="How long to wait for each answer from the API [env SWS_REQUEST_TIMEOUT]",
        ),
    ]
    for option in reversed(options):
        with_connection = option(with_connection)
    return with_connection


def output_options(command):
    """-o/--output table|json|yaml and --show-secrets."""
    command = click.option(
        "--show-secrets",
        is_flag=True,
        help="Show env values; they are masked in every format otherwise.",
    )(command)
    return click.option(
        "-o",
        "--output",
        "output_format",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people, json or yaml for scripts.",
    )(command)


def wait_options(command):
    """--wait, --timeout and (hidden, for tests) --interval, gathered into a Follow."""

    @functools.wraps(command)
    def with_wait(*args, wait, timeout, interval, **kwargs):
        follow = Follow(timeout=timeout, interval=interval) if wait else None
        return command(*args, follow=follow, **kwargs)

    options = [
        click.option(
            "--wait",
            is_flag=True,
            help="Follow the service until the agent has acted on it.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0),
            default=120.0,
            show_default=True,
            metavar="SECONDS",
            help="With --wait: give up (exit 1) after this long.",
        ),
        click.option(
            "--interval",
            type=click.FloatRange(min=0.05),
            default=2.0,
            envvar="SWS_WAIT_INTERVAL",
            hidden=True,
            help="Seconds between two looks at the service while waiting.",
        ),
    ]
    for option in reversed(options):
        with_wait = option(with_wait)
    return with_wait
