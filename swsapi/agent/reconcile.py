"""One reconcile pass: observe -> plan -> render -> run -> record.

A pass touches only what changed: with nothing to do it runs no playbook at all; otherwise the
plays are limited to the services that changed. New containers start beside the old ones and
must accept connections before the proxies (rolled one at a time) route to them; only then do
the old ones go. A pass killed anywhere is repaired by the next, which sees the same gaps.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg2

from swsapi.agent import certs, haproxy, record, retries
from swsapi.agent.config import AgentConfig
from swsapi.agent.controlplane import observe_components, revive
from swsapi.agent.desired import DesiredService, read_desired
from swsapi.agent.lock import LockLost
from swsapi.agent.observe import observe_containers, observe_proxies
from swsapi.agent.plan import (
    CleanupPlan,
    DeployPlan,
    choose_serving,
    hold_orphans,
    plan_cleanup,
    plan_deploys,
    routes_for,
)
from swsapi.agent.render import (
    inventory,
    inventory_yaml,
    route_block,
    routes_conf,
    service_host,
)
from swsapi.agent.routecheck import Block, RouteCheckError, refused_blocks
from swsapi.agent.runner import PlaybookRun, RunResult, remove_stale_runs, run_playbook
from swsapi.agent.tlsroutes import EdgeTls

log = logging.getLogger("sws.agent")

PLAYBOOK = "reconcile.yml"
# Test-only: append a directive nginx refuses to the rendered routes, so the e2e tests can
# prove a broken candidate never goes live (user input is validated and cannot do this).
BROKEN_ROUTES_ENV = "SWS_AGENT_TEST_BROKEN_ROUTES"


@dataclass
class PassReport:
    outcome: str = "noop"  # noop | changed | failed
    changed: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # worth saying, not a failure
    seconds: float = 0.0

    def note(self, key: str, value) -> None:
        if value:
            self.changed[key] = value

    def summary(self) -> str:
        parts = [f"{k}={_fmt(v)}" for k, v in sorted(self.changed.items())]
        parts += [f"problem={p!r}" for p in self.problems]
        parts += [f"notice={n!r}" for n in self.notices]
        return f"{self.outcome} in {self.seconds:.2f}s" + (": " + " ".join(parts) if parts else "")


def _fmt(value) -> str:
    if isinstance(value, dict):
        return ",".join(sorted(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class PassAborted(RuntimeError):
    """The pass stopped before changing anything more: its deadline passed, or it lost the
    lock (another pass may have started)."""


class Guard:
    """Checked before every stage that changes something: the pass's deadline and its lock."""

    def __init__(self, seconds: float, still_locked: Callable[[], None] | None = None):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.still_locked = still_locked

    def check(self, stage: str) -> None:
        if time.monotonic() > self.deadline:
            raise PassAborted(f"the pass passed its deadline of {self.seconds:g}s before {stage}")
        if self.still_locked is not None:
            try:
                self.still_locked()
            except LockLost as err:
                raise PassAborted(f"{err}; stopped before {stage}") from None

    def remaining(self) -> int:
        return max(1, int(self.deadline - time.monotonic()))


def reconcile_once(
    config: AgentConfig, conn, still_locked: Callable[[], None] | None = None
) -> PassReport:
    """One pass, under the caller's lock; conn is a psycopg2 connection (not autocommit).

    still_locked raises LockLost when the caller's lock is gone (checked between stages).
    """
    started = time.monotonic()
    haproxy.use(config.project_dir)
    guard = Guard(config.pass_timeout, still_locked)
    pass_id = record.start_pass(conn)
    report = PassReport()
    report.note("stale_runs_removed", remove_stale_runs(config.state_dir))
    try:
        _reconcile(config, conn, report, guard)
    except PassAborted as err:
        report.outcome = "aborted"
        report.problems.append(str(err))
        _rollback(conn)
    except Exception as err:
        report.outcome = "failed"
        report.problems.append(f"{type(err).__name__}: {err}")
        _rollback(conn)
        raise
    finally:
        report.seconds = time.monotonic() - started
        try:
            record.finish_pass(
                conn,
                pass_id,
                report.outcome,
                report.changed,
                "; ".join([*report.problems, *report.notices]),
                config.passes_kept,
            )
        except psycopg2.Error as err:
            # The store is gone: the next pass closes this record as interrupted.
            report.problems.append(f"could not record the pass: {str(err).strip()}")
        log.info("pass %d %s", pass_id, report.summary())
    return report


def _rollback(conn) -> None:
    with contextlib.suppress(psycopg2.Error):
        conn.rollback()


def _reconcile(config: AgentConfig, conn, report: PassReport, guard: Guard) -> None:
    desired = read_desired(conn)
    conn.commit()
    plane = None
    if config.names.proxies:
        guard.check("starting the control plane")
        plane = revive(config.names, config.haproxy_socket)
    containers = observe_containers(config.names.services_network, config.names.label_prefix)
    attempts = retries.load(config.state_dir)
    now = time.time()
    deploys = plan_deploys(
        desired, containers, retries.due(desired, attempts, config.retry_failed, now)
    )
    _record_invalid(conn, deploys, report)

    ready: set[str] = set()
    failed: dict[str, tuple[str, str | None]] = {}
    missing = plane.missing if plane else []
    if deploys.deploy or missing:
        guard.check("deploying")
        result = _run(
            config,
            desired,
            [],
            {},
            [*missing, *(service_host(s.name) for s in deploys.deploy)],
            (["deploy"] if deploys.deploy else []) + (["revive"] if missing else []),
            None,
            guard.remaining(),
        )
        ready, failed = _deploy_outcomes(deploys, result, report)
        for host in missing:
            if host in result.failed:
                report.problems.append(f"recreating {host}: {result.failed[host].message}")
        containers = observe_containers(config.names.services_network, config.names.label_prefix)
    up = _control_plane_outcome(config, plane, report)

    serving = choose_serving(desired, containers, ready)
    edge = _edge_tls(config, conn, up, report)
    routes_text = _routes_text(config, serving, desired, edge)
    proxies = observe_proxies(tuple(up), config.haproxy_socket, config.names.haproxy_backend)
    refused: dict[str, str] = {}
    if any(p.applied_routes != routes_text for p in proxies):
        # New routes: nginx must accept them before any proxy is drained for them.
        refused, serving = _refuse_routes(
            config, desired, containers, ready, up, serving, report, edge
        )
    if refused:
        for name, message in refused.items():
            failed[name] = (message, None)
        routes_text = _routes_text(config, serving, desired, edge)
    roll = [p.name for p in proxies if p.applied_routes != routes_text or not p.ready]
    cleanup = plan_cleanup(desired, containers, serving, set(failed))
    held = hold_orphans(cleanup, containers, config.max_orphan_share)
    if held:
        report.problems.append(held)
    # A service runs once every proxy that is up serves it; with no proxy up, nothing does.
    routes_ok = bool(up) or not config.names.proxies
    if roll:
        guard.check("rolling the proxies")
        result = _run(config, desired, [], {}, roll, ["routes"], routes_text, guard.remaining())
        routes_ok = _roll_outcomes(config, roll, result, report) and routes_ok

    # Recorded before the old containers go: retiring them never delays `running`.
    guard.check("recording the outcomes")
    if routes_ok:
        for service in deploys.deploy:
            if service.name in ready and service.name not in refused:
                record.mark_running(conn, service.name, service.generation)
    for name, (message, last_log) in failed.items():
        service = next(s for s in desired if s.name == name)
        note = retries.note_failure(
            attempts, name, service.generation, config.retry_failed, config.retry_backoff, now
        )
        message = retries.with_note(message, note)
        record.mark_failed(conn, name, service.generation, message, last_log)
    retries.forget_others(attempts, set(failed), desired)
    retries.save(config.state_dir, attempts)
    routable = bool(up) or not config.names.proxies
    _explain_pending(conn, deploys, ready if routes_ok else set(), failed, routable, report)

    # What no longer serves goes only once every proxy that is up has stopped routing to it.
    if cleanup.services() and routes_ok:
        guard.check("retiring containers")
        result = _retire(config, desired, cleanup, guard.remaining())
        _retire_outcomes(cleanup, result, report)
        _explain_stuck_deletes(conn, cleanup, result)
        _forget_deleted(conn, cleanup, report)

    if report.problems:
        report.outcome = "failed"
    elif report.changed.keys() == {"down"}:
        report.outcome = "degraded"
    elif report.changed:
        report.outcome = "changed"


def _explain_pending(conn, deploys: DeployPlan, running, failed, routable, report) -> None:
    """A service this pass could not make running says why (the next pass tries again)."""
    waiting = [s for s in deploys.deploy if s.name not in running and s.name not in failed]
    if not waiting:
        return
    if report.problems:
        why = "the agent's last pass failed: " + "; ".join(report.problems)
    elif not routable:
        why = "no proxy is up to route it"
    else:
        why = "the agent's last pass did not finish deploying it"
    for service in waiting:
        record.mark_pending_reason(conn, service.name, service.generation, why[:500])


def _control_plane_outcome(config: AgentConfig, plane, report: PassReport) -> list[str]:
    """The proxies that are up now; what was down, what was started, what still is down."""
    if plane is None:
        return []
    now = observe_components([config.names.loadbalancer, *config.names.proxies])
    down_before = {n: c.describe() for n, c in plane.before.items() if not c.up}
    report.note("down", down_before)
    report.note("revived", sorted(n for n in down_before if now[n].up))
    report.problems.extend(plane.problems)
    for name, component in now.items():
        if not component.up and name in down_before:
            report.notices.append(f"{component.describe()}: the pass went on without it")
    return [p for p in config.names.proxies if now[p].up]


def _refuse_routes(config, desired, containers, ready: set[str], up, serving, report, edge=None):
    """The routes nginx refuses, and what serves without them.

    Returns ({service: message with nginx's [emerg] line}, serving). A refused service's
    older generation keeps its route when nginx accepts that one; otherwise it has none. Tested
    in a proxy that is up (a candidate that cannot be tested is left to the roll's own test).
    """
    refused: dict[str, str] = {}
    dropped: set[str] = set()  # no route at all: the older generation was refused too
    live = {
        s.name for s in desired if s.status == "running" and s.applied_generation == s.generation
    }
    for _ in range(2):  # the new routes, then the older generations they fall back to
        routes = routes_for({n: c for n, c in serving.items() if n not in dropped}, desired)
        # Routes already live first: a set nginx refuses only as a whole fails its newcomer.
        routes.sort(key=lambda r: (r.service not in live, r.domain))
        blocks = [Block(r.service, route_block(r, config.names, edge)) for r in routes]
        try:
            found = refused_blocks(blocks, ["docker", "exec", "-i", up[0]])
        except RouteCheckError as err:
            report.notices.append(str(err))
            break
        if not found:
            break
        for name, line in found.items():
            if name in refused:
                dropped.add(name)
            refused.setdefault(name, f"nginx refused the route for this service: {line}")
        serving = choose_serving(desired, containers, ready - set(refused))
    else:
        dropped |= set(refused)  # still refused after the fallback: leave them out
    report.note("refused", dict(refused))
    return refused, {n: c for n, c in serving.items() if n not in dropped}


def _record_invalid(conn, deploys: DeployPlan, report: PassReport) -> None:
    for service in deploys.invalid:
        record.mark_failed(conn, service.name, service.generation, service.problem, None)
    report.note("invalid", [s.name for s in deploys.invalid])


def _deploy_outcomes(deploys: DeployPlan, result: RunResult, report: PassReport):
    ready, failed = set(), {}
    for service in deploys.deploy:
        host = service_host(service.name)
        if host in result.failed:
            failure = result.failed[host]
            failed[service.name] = (failure.message, failure.last_log)
        elif host in result.ok:
            ready.add(service.name)
        # Neither: the run itself broke (a playbook error, a killed ansible-playbook). That is
        # the agent's problem, not the service's: it stays pending and the next pass retries.
    report.note("deployed", sorted(ready))
    report.note("failed", {n: m for n, (m, _) in failed.items()})
    if result.error:
        report.problems.append(result.error)
    return ready, failed


def _edge_tls(config: AgentConfig, conn, up, report: PassReport) -> EdgeTls:
    """HTTPS (issue 15): the store's certificates installed in the proxies that are up."""
    edge = EdgeTls(https_port=config.https_port, default_source=config.tls_default_certificate)
    if config.tls_dir is None:
        return edge
    edge, changes = certs.sync(conn, tuple(up), config.tls_dir, edge)
    for key, value in changes.items():
        report.note(key, value)
    return edge


def _routes_text(config: AgentConfig, serving, desired, edge: EdgeTls | None = None) -> str:
    text = routes_conf(routes_for(serving, desired), config.names, edge)
    if os.environ.get(BROKEN_ROUTES_ENV):
        text += "\nthis_directive_does_not_exist on;\n"
    return text


def _retire(config, desired, cleanup: CleanupPlan, timeout: int) -> RunResult:
    """Retire old generations, remove deleted services and orphans (and purged volumes)."""
    hosts = [service_host(n) for n in cleanup.services()]
    return _run(config, desired, cleanup.orphans, cleanup.retire, hosts, ["retire"], None, timeout)


def _roll_outcomes(config, roll, result: RunResult, report) -> bool:
    proxy_failures = [f.message for h, f in result.failed.items() if h in config.names.proxies]
    routes_ok = not proxy_failures and not result.error
    report.note("routes", "rolled" if routes_ok else "failed")
    report.problems.extend(proxy_failures)
    if result.error:
        report.problems.append(result.error)
    return routes_ok


def _retire_outcomes(cleanup: CleanupPlan, result: RunResult, report) -> None:
    if result.error:
        report.problems.append(result.error)
    for key, names in (
        ("retired", cleanup.retire),
        ("removed", cleanup.remove),
        ("purged", cleanup.purge),
        ("orphans", cleanup.orphans),
    ):
        done = [n for n in names if service_host(n) in result.ok]
        report.note(key, sorted(done))
    for n in cleanup.services():
        if service_host(n) in result.failed:
            report.problems.append(f"{n}: {result.failed[service_host(n)].message}")


def _explain_stuck_deletes(conn, cleanup: CleanupPlan, result: RunResult) -> None:
    # A deleted service whose container or volume could not be removed stays 'deleting', with
    # the reason for its owner to read; the next pass tries again.
    for name in dict.fromkeys([*cleanup.remove, *cleanup.purge]):
        failure = result.failed.get(service_host(name))
        if failure is not None:
            record.mark_deleting_problem(conn, name, failure.message)


def _forget_deleted(conn, cleanup: CleanupPlan, report: PassReport) -> None:
    # Records go only once their containers (and a purged volume) are gone; a failed removal
    # is retried next pass.
    removed = report.changed.get("removed", [])
    purged = report.changed.get("purged", [])
    gone = [
        n
        for n in cleanup.forget
        if (n not in cleanup.remove or n in removed) and (n not in cleanup.purge or n in purged)
    ]
    report.note("forgotten", [n for n in gone if record.forget(conn, n)])


def _run(
    config: AgentConfig,
    desired: list[DesiredService],
    orphans,
    keep,
    limit,
    tags,
    routes_text: str | None,
    timeout: int,
) -> RunResult:
    inv = inventory(
        desired, config.names, orphans=orphans, keep=keep, containment=config.containment
    )
    secrets = frozenset(e.value for s in desired if s.definition for e in s.definition.env)
    run = PlaybookRun(
        playbook=PLAYBOOK,
        inventory_text=inventory_yaml(inv),
        limit=limit,
        tags=tags,
        extravars=_extravars(config),
        secrets=secrets,
        files={"routes.conf": routes_text} if routes_text is not None else {},
        host_settings=config.host_settings,
    )
    return run_playbook(
        run, config.project_dir, config.state_dir, forks=config.forks, timeout=timeout
    )


def _extravars(config: AgentConfig) -> dict:
    return {
        "sws_service_network": config.names.services_network,
        "sws_service_label_prefix": config.names.label_prefix,
        "sws_service_ready_timeout": config.ready_timeout,
        "sws_service_stop_timeout": config.stop_timeout,
        "sws_haproxy_socket": str(config.haproxy_socket),
        "sws_haproxy_backend": config.names.haproxy_backend,
        "sws_drain_timeout": config.drain_timeout,
        "sws_proxy_socket_dir": config.names.proxy_socket_dir,
        "sws_proxy_health_socket": config.names.proxy_health_socket,
    }
