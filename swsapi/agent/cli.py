"""The sws-agent command: one pass (cron), watch mode, and the routes as the agent renders them."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click
import psycopg2

from swsapi.agent.config import AgentConfig, AgentConfigError, load_config
from swsapi.agent.lock import LockBusy, pass_lock
from swsapi.agent.observe import ObserveError

log = logging.getLogger("sws.agent")

config_option = click.option(
    "--config",
    "config_path",
    envvar="SWS_AGENT_CONFIG",
    type=click.Path(dir_okay=False),
    help="The agent's settings (default /etc/sws/agent.yml).",
)


def _load(config_path: str | None) -> AgentConfig:
    try:
        return load_config(config_path)
    except AgentConfigError as err:
        raise click.ClickException(str(err)) from None


def one_pass(config: AgentConfig, wait: bool):
    """Take the lock and reconcile once; None when another agent holds the lock."""
    from swsapi.agent.reconcile import reconcile_once

    try:
        with pass_lock(config.database_url, wait=wait):
            conn = psycopg2.connect(config.database_url, application_name="sws-agent pass")
            try:
                return reconcile_once(config, conn)
            finally:
                conn.close()
    except LockBusy as err:
        log.info("%s; nothing to do", err)
        return None


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug details too.")
def main_group(verbose: bool) -> None:
    """Reconcile this host with what sws-confdb holds.

    Example: sws-agent run --config /etc/sws/agent.yml
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s sws-agent %(message)s",
        stream=sys.stderr,
    )


@main_group.command()
@config_option
@click.option("--wait", is_flag=True, help="Wait for a running pass instead of exiting.")
def run(config_path: str | None, wait: bool) -> None:
    """Run one reconcile pass (what cron runs every minute).

    Exits 0 when another agent holds the lock, 1 when the pass failed.

    Example: sws-agent run
    """
    config = _load(config_path)
    try:
        report = one_pass(config, wait)
    except (psycopg2.Error, ObserveError) as err:
        raise click.ClickException(f"pass failed: {str(err).strip()}") from None
    if report is not None and report.outcome == "failed":
        sys.exit(1)


@main_group.command()
@config_option
def watch(config_path: str | None) -> None:
    """Reconcile at once after every change, with a periodic full pass.

    Example: sws-agent watch --config /etc/sws/agent.yml
    """
    from swsapi.agent.watch import watch as watch_loop

    config = _load(config_path)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))

    def guarded_pass():
        try:
            one_pass(config, wait=True)
        except (psycopg2.Error, ObserveError) as err:
            log.error("pass failed: %s", str(err).strip())

    try:
        watch_loop(config, guarded_pass, stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass


@main_group.command()
@config_option
@click.option("--output", type=click.Path(dir_okay=False), help="Write to this file, not stdout.")
def routes(config_path: str | None, output: str | None) -> None:
    """Print the nginx routes for what the store holds and what runs now.

    Example: sws-agent routes --output /var/lib/sws/agent/routes.conf
    """
    from swsapi.agent.desired import read_desired
    from swsapi.agent.observe import observe_containers
    from swsapi.agent.plan import choose_serving, routes_for
    from swsapi.agent.render import RoutesError, routes_conf

    config = _load(config_path)
    conn = psycopg2.connect(config.database_url)
    try:
        desired = read_desired(conn)
    finally:
        conn.close()
    containers = observe_containers(config.names.services_network, config.names.label_prefix)
    serving = choose_serving(desired, containers, set())
    try:
        text = routes_conf(routes_for(serving, desired), config.names)
    except RoutesError as err:
        raise click.ClickException(str(err)) from None
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)


@main_group.command()
@config_option
@click.option(
    "--lines-kept",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    envvar="SWS_LOGSHIP_LINES_KEPT",
    help="Lines kept per service in the store; older ones are deleted.",
)
@click.option(
    "--line-max-bytes",
    type=click.IntRange(min=80),
    default=4096,
    show_default=True,
    envvar="SWS_LOGSHIP_LINE_MAX_BYTES",
    help="Longer lines are cut to this length and marked [truncated].",
)
@click.option(
    "--lock-file",
    type=click.Path(dir_okay=False),
    help="One shipper per host holds this file (default: <state_dir>/logship.lock).",
)
def logship(config_path: str | None, lines_kept: int, line_max_bytes: int, lock_file) -> None:
    """Follow the service containers' output into the store, where `swsctl logs` reads it.

    Runs until stopped (SIGTERM). Exits 0 at once when another shipper holds the lock, so
    cron can start it every minute.

    Example: sws-agent logship --config /etc/sws/agent.yml
    """
    from swsapi.agent.logship import AlreadyRunning, ShipperSettings, hold_lock, run_shipper

    config = _load(config_path)
    try:
        lock = hold_lock(Path(lock_file) if lock_file else config.state_dir / "logship.lock")
    except AlreadyRunning as err:
        log.debug("%s; nothing to do", err)
        return
    settings = ShipperSettings(
        database_url=config.database_url,
        label_prefix=config.names.label_prefix,
        lines_kept=lines_kept,
        line_max_bytes=line_max_bytes,
    )

    def stop_on(event):
        signal.signal(signal.SIGTERM, lambda *_: event.set())
        signal.signal(signal.SIGINT, lambda *_: event.set())

    with lock:
        run_shipper(settings, stop_on)


def main() -> None:
    main_group(prog_name="sws-agent")
