"""The sws-agent command: one pass (cron), watch mode, the pause switch, and the agent's status."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from pathlib import Path

import click
import psycopg2

from swsagent import collection, logs, pause, store
from swsagent.config import AgentConfig, AgentConfigError, load_config
from swsagent.lock import LockBusy, check_held, pass_lock
from swsagent.observe import ObserveError

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
    """Take the lock and reconcile once; None when another agent holds the lock or the agent
    is paused."""
    from swsagent.reconcile import reconcile_once

    if pause.paused(config.state_dir):
        log.info("paused (%s); no pass", pause.reason(config.state_dir))
        return None
    try:
        # Waiting is bounded too: a pass holds the lock at most pass_timeout.
        with pass_lock(
            config.database_url,
            wait=wait,
            timeout=config.pass_timeout if wait else None,
            store_timeout=config.store_timeout,
        ) as held:
            conn = store.connect(config.database_url, "sws-agent pass", config.store_timeout)
            try:
                report = reconcile_once(config, conn, still_locked=lambda: check_held(held))
                report.jobs_wake = jobs_after_pass(config, conn, sweep=True)
                return report
            finally:
                conn.close()
    except LockBusy as err:
        log.info("%s; nothing to do", err)
        return None


def jobs_after_pass(config: AgentConfig, conn, sweep: bool = False) -> float | None:
    """The jobs step (issue 26), the backups step (issue 27) and, with a swarm, the nodes
    step (issue 28) on the pass's connection; their failure fails no pass. The sooner of the
    first two's wishes to run again."""
    from swsagent.backuppass import backups_step
    from swsagent.jobpass import WATCH_RUNS, jobs_step

    wakes = [
        _side_step("jobs", conn, lambda: jobs_step(config, conn).wake_in, WATCH_RUNS * 4),
        _side_step("backups", conn, lambda: backups_step(config, conn, sweep=sweep).wake_in, 2.0),
    ]
    if sweep and config.swarm is not None:  # after a full pass, not the jobs' own wakes
        from swsagent.swarm.step import nodes_step

        _side_step("nodes", conn, lambda: nodes_step(config, conn), None)
    wakes = [wake for wake in wakes if wake is not None]
    return min(wakes) if wakes else None


def _side_step(what: str, conn, step, retry: float | None) -> float | None:
    try:
        return step()
    except Exception:  # noqa: BLE001 - the engine or the store away: the next step tries again
        log.exception("%s step failed", what)
        with contextlib.suppress(psycopg2.Error):
            conn.rollback()
        return retry


def jobs_only(config: AgentConfig) -> float | None:
    """The jobs step alone, under the pass lock (watch mode, between passes)."""
    if pause.paused(config.state_dir):
        return None
    try:
        with pass_lock(
            config.database_url,
            wait=True,
            timeout=config.pass_timeout,
            store_timeout=config.store_timeout,
        ):
            conn = store.connect(config.database_url, "sws-agent jobs", config.store_timeout)
            try:
                return jobs_after_pass(config, conn)
            finally:
                conn.close()
    except (LockBusy, psycopg2.Error) as err:
        log.warning("jobs step: %s", str(err).strip())
        return 2.0


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug details too.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False),
    help="Log to this file, rotated at 10 MiB (5 kept), instead of stderr.",
)
def main_group(verbose: bool, log_file: str | None) -> None:
    """Reconcile this host with what sws-confdb holds.

    Example: sws-agent --log-file /var/log/sws-agent.log run --config /etc/sws/agent.yml
    """
    logs.setup(verbose, log_file)


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
    if report is not None and report.outcome in ("failed", "aborted"):
        sys.exit(1)


@main_group.command()
@config_option
def watch(config_path: str | None) -> None:
    """Reconcile at once after every change, with a periodic full pass.

    Example: sws-agent watch --config /etc/sws/agent.yml
    """
    from swsagent.watch import After, code_stamp
    from swsagent.watch import watch as watch_loop

    config = _load(config_path)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    installed = code_stamp(config)

    def stop() -> bool:
        if not stopping and code_stamp(config) != installed:
            log.info("new agent code installed; exiting (cron starts the new one)")
            stopping.append(True)
        return bool(stopping)

    def guarded_pass() -> After:
        """One pass; what it left for the watcher (queued work, background stops)."""
        try:
            report = one_pass(config, wait=True)
        except (psycopg2.Error, ObserveError) as err:
            log.error("pass failed: %s", str(err).strip())
            return After()
        except Exception:  # noqa: BLE001 - the watcher outlives any one pass (it is recorded)
            log.exception("pass failed")
            return After()
        if report is None:
            return After()
        return After(
            queued=bool(report.changed.get("queued")),
            stopping=frozenset(report.changed.get("stopping") or ()),
            jobs_wake=report.jobs_wake,
        )

    try:
        watch_loop(config, guarded_pass, stop=stop, jobs_pass=lambda: jobs_only(config))
    except KeyboardInterrupt:
        pass


@main_group.command(name="pause")
@config_option
@click.option("--reason", default="", help="Why, shown by `sws-agent status`.")
def pause_command(config_path: str | None, reason: str) -> None:
    """Stop all passes (watch and cron alike) until `sws-agent resume`.

    A pass already running finishes. The switch is a file, <state_dir>/paused.

    Example: sws-agent pause --reason "engine upgrade"
    """
    config = _load(config_path)
    pause.pause(config.state_dir, reason)
    click.echo(f"paused: no pass runs until `sws-agent resume` ({pause.flag(config.state_dir)})")


@main_group.command()
@config_option
def resume(config_path: str | None) -> None:
    """Let passes run again after `sws-agent pause`.

    Example: sws-agent resume
    """
    config = _load(config_path)
    was = pause.resume(config.state_dir)
    click.echo("resumed" if was else "not paused")


@main_group.command()
@config_option
@click.option("--passes", default=10, show_default=True, help="How many recent passes to show.")
def status(config_path: str | None, passes: int) -> None:
    """Show the control plane (proxies, load balancer), the pause switch and the last passes.

    Example: sws-agent status --passes 5
    """
    from swsagent.status import status_text

    config = _load(config_path)
    click.echo(status_text(config, passes), nl=False)


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
    from swsagent.logship import AlreadyRunning, ShipperSettings, hold_lock, run_shipper

    config = _load(config_path)
    collection.use(config.project_dir)  # its Docker client is the collection's (engine.py)
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


@main_group.command(name="firewall")
@config_option
@click.option("--check", is_flag=True, help="Change nothing; exit 1 when a rule is missing.")
def firewall_command(config_path: str | None, check: bool) -> None:
    """Make the services' firewall rules, or put back what of them is missing.

    The bootstrap runs it, and every pass checks the same rules (README.md, "Isolation").
    Prints `in place`, or what was missing and is now restored.

    Example: sws-agent firewall --config /etc/sws/agent.yml
    """
    from swsagent import firewall, stacks

    config = _load(config_path)
    collection.use(config.project_dir)  # the engine's client is the collection's
    try:
        networks = stacks.engine_networks()
    except ObserveError as err:
        # At boot (cron's @reboot) Docker may not be up yet: SWS's bridge names are covered
        # all the same; a network on a bridge of Docker's naming waits for the next pass.
        log.warning("%s; only SWS's bridge names are covered", err)
        networks = []
    try:
        seen = firewall.observe(networks, config.names)
        if seen.tables is None:
            raise firewall.FirewallError(seen.problem)
        repair = firewall.plan(config.contract, seen)
        if repair is None:
            click.echo("in place")
            return
        if check:
            click.echo("missing: " + ", ".join(repair.missing))
            sys.exit(1)
        firewall.restore(repair.script)
    except firewall.FirewallError as err:
        raise click.ClickException(str(err)) from None
    click.echo("restored: " + ", ".join(repair.missing))


def _add_certs_command() -> None:
    # Issue 15: ACME lives in its own module and process (certs_cli.py).
    from swsagent.certs_cli import certs_command

    main_group.add_command(certs_command)


_add_certs_command()


def main() -> None:
    main_group(prog_name="sws-agent")
