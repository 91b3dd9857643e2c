"""The swsctl command group: registers the commands and turns domain errors into exit codes.

This is the only place where swsctl's exceptions meet click: each kind of failure becomes a
one-paragraph message on standard error and its own exit code, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import click

from swsctl import __version__
from swsctl.client import ApiClient
from swsctl.commands.agent import agent
from swsctl.commands.backups import backup, backups, restore
from swsctl.commands.certs import cert
from swsctl.commands.configure import configure, whoami
from swsctl.commands.history import history, rollback
from swsctl.commands.jobs import jobs, run
from swsctl.commands.logs import logs
from swsctl.commands.nodes import nodes
from swsctl.commands.registries import registry
from swsctl.commands.services import apply, delete, get_service, list_services, restart
from swsctl.commands.stacks import show_stack, start, stop
from swsctl.errors import (
    Conflict,
    InvalidInput,
    NotConfigured,
    NotFound,
    ServerError,
    SwsError,
    Unauthorized,
    Unreachable,
    WaitFailed,
    WaitTimedOut,
)
from swsctl.options import CONFIG_PATH_KEY
from swsctl.output import shown_lines

OK, FAILED, INVALID, AUTH, UNREACHABLE, NOT_FOUND, CONFLICT = range(7)

# Most specific first: the first matching class decides the exit code.
EXIT_CODES: list[tuple[type[SwsError], int]] = [
    (InvalidInput, INVALID),
    (NotConfigured, AUTH),
    (Unauthorized, AUTH),
    (Unreachable, UNREACHABLE),
    (NotFound, NOT_FOUND),
    (Conflict, CONFLICT),
    (WaitFailed, FAILED),
    (WaitTimedOut, FAILED),
    (ServerError, FAILED),
]

EPILOG = """\b
Exit codes:
  0  success
  1  failed: --wait saw the service fail or timed out, or the server failed (5xx)
  2  invalid input: a bad definition file (field and line are shown), bad options,
     or a request the server refused (400)
  3  authentication: no token configured, or the server refused it (401/403)
  4  unreachable: connection refused, DNS, TLS (certificate) failure, or timeout
  5  not found: no such service or stack (404)
  6  conflict: the name or domain is taken, or the service is being deleted (409)

\b
Configuration: `swsctl configure` saves the address and token in
$XDG_CONFIG_HOME/swsctl/config.yaml (mode 0600); SWS_URL, SWS_TOKEN and SWS_CA_CERT
override it.

\b
Example:
  swsctl configure && swsctl apply web.yaml --wait && swsctl ls
"""


class Failure(click.ClickException):
    """A domain error at the CLI boundary, carrying the exit code for its kind."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def failure(err: SwsError) -> Failure:
    code = next((code for kind, code in EXIT_CODES if isinstance(err, kind)), FAILED)
    # The message may quote the server (an agent's message, a service's name): shown, never
    # obeyed by the terminal, like everything else swsctl prints.
    return Failure(shown_lines(err.message), code)


class SwsGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SwsError as err:
            raise failure(err) from None


@click.group(cls=SwsGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="SWS_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file to use instead of $XDG_CONFIG_HOME/swsctl/config.yaml [env SWS_CONFIG]",
)
@click.version_option(__version__, prog_name="swsctl")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Run web services on a remote SWS host: apply definitions, list, inspect, roll back,
    restart, delete.

    \b
    Examples:
      swsctl configure
      swsctl apply web.yaml --wait
      swsctl ls
    """
    if config_path:
        ctx.meta[CONFIG_PATH_KEY] = Path(config_path)
    ctx.obj = ApiClient()


main.add_command(configure)
main.add_command(whoami)
main.add_command(apply)
main.add_command(delete)
main.add_command(list_services)
main.add_command(get_service)
main.add_command(get_service, name="status")
main.add_command(logs)
main.add_command(run)
main.add_command(jobs)
main.add_command(backup)
main.add_command(backups)
main.add_command(restore)
main.add_command(agent)
main.add_command(nodes)
main.add_command(restart)
main.add_command(history)
main.add_command(rollback)
main.add_command(cert)
main.add_command(registry)
main.add_command(stop)
main.add_command(start)
main.add_command(show_stack)
