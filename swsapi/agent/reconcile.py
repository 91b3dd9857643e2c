"""One reconcile pass: observe -> plan -> render -> run -> record.

A pass touches only what changed: with nothing to do it runs no playbook at all; otherwise the
plays are limited to the services that changed. New containers start beside the old ones and
must accept connections before the proxies (rolled one at a time) route to them; only then do
the old ones go. A pass killed anywhere is repaired by the next, which sees the same gaps.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from swsapi.agent import record
from swsapi.agent.config import AgentConfig
from swsapi.agent.desired import DesiredService, read_desired
from swsapi.agent.observe import observe_containers, observe_proxies
from swsapi.agent.plan import (
    CleanupPlan,
    DeployPlan,
    choose_serving,
    plan_cleanup,
    plan_deploys,
    routes_for,
)
from swsapi.agent.render import inventory, inventory_yaml, routes_conf, service_host
from swsapi.agent.runner import PlaybookRun, RunResult, run_playbook

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
    seconds: float = 0.0

    def note(self, key: str, value) -> None:
        if value:
            self.changed[key] = value

    def summary(self) -> str:
        parts = [f"{k}={_fmt(v)}" for k, v in sorted(self.changed.items())]
        parts += [f"problem={p!r}" for p in self.problems]
        return f"{self.outcome} in {self.seconds:.2f}s" + (": " + " ".join(parts) if parts else "")


def _fmt(value) -> str:
    if isinstance(value, dict):
        return ",".join(sorted(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def reconcile_once(config: AgentConfig, conn) -> PassReport:
    """One pass, under the caller's lock; conn is a psycopg2 connection (not autocommit)."""
    started = time.monotonic()
    pass_id = record.start_pass(conn)
    report = PassReport()
    try:
        _reconcile(config, conn, report)
    except Exception as err:
        report.outcome = "failed"
        report.problems.append(f"{type(err).__name__}: {err}")
        conn.rollback()
        raise
    finally:
        report.seconds = time.monotonic() - started
        record.finish_pass(
            conn,
            pass_id,
            report.outcome,
            report.changed,
            "; ".join(report.problems),
            config.passes_kept,
        )
        log.info("pass %d %s", pass_id, report.summary())
    return report


def _reconcile(config: AgentConfig, conn, report: PassReport) -> None:
    desired = read_desired(conn)
    conn.commit()
    containers = observe_containers(config.names.services_network, config.names.label_prefix)
    deploys = plan_deploys(desired, containers)
    _record_invalid(conn, deploys, report)

    ready: set[str] = set()
    failed: dict[str, tuple[str, str | None]] = {}
    if deploys.deploy:
        result = _run(
            config,
            desired,
            [],
            {},
            [service_host(s.name) for s in deploys.deploy],
            ["deploy"],
            None,
        )
        ready, failed = _deploy_outcomes(deploys, result, report)
        containers = observe_containers(config.names.services_network, config.names.label_prefix)

    serving = choose_serving(desired, containers, ready)
    routes_text = _routes_text(config, serving, desired)
    proxies = observe_proxies(
        config.names.proxies, config.haproxy_socket, config.names.haproxy_backend
    )
    roll = [p.name for p in proxies if p.applied_routes != routes_text or not p.ready]
    cleanup = plan_cleanup(desired, containers, serving, set(failed))
    routes_ok = True
    if roll or cleanup.services():
        result = _switch(config, desired, cleanup, roll, routes_text)
        routes_ok = _switch_outcomes(config, cleanup, roll, result, report)
        _explain_stuck_deletes(conn, cleanup, result)

    if routes_ok:
        for service in deploys.deploy:
            if service.name in ready:
                record.mark_running(conn, service.name, service.generation)
        _forget_deleted(conn, cleanup, report)
    for name, (message, last_log) in failed.items():
        service = next(s for s in desired if s.name == name)
        record.mark_failed(conn, name, service.generation, message, last_log)

    if report.problems:
        report.outcome = "failed"
    elif report.changed:
        report.outcome = "changed"


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


def _routes_text(config: AgentConfig, serving, desired) -> str:
    text = routes_conf(routes_for(serving, desired), config.names)
    if os.environ.get(BROKEN_ROUTES_ENV):
        text += "\nthis_directive_does_not_exist on;\n"
    return text


def _switch(config, desired, cleanup: CleanupPlan, roll: list[str], routes_text: str):
    """Run 2: roll the proxies (if the routes changed), then retire and remove containers
    (and the volumes of services deleted with purge)."""
    hosts = [service_host(n) for n in cleanup.services()]
    tags = ["retire"] if hosts else []
    limit = list(hosts)
    if roll:
        tags.append("routes")
        limit = list(config.names.proxies) + limit
    return _run(config, desired, cleanup.orphans, cleanup.retire, limit, tags, routes_text)


def _switch_outcomes(config, cleanup: CleanupPlan, roll, result: RunResult, report) -> bool:
    proxy_failures = [f.message for h, f in result.failed.items() if h in config.names.proxies]
    routes_ok = not proxy_failures and not result.error
    if roll:
        report.note("routes", "rolled" if routes_ok else "failed")
    report.problems.extend(proxy_failures)
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
    return routes_ok


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
) -> RunResult:
    inv = inventory(desired, config.names, orphans=orphans, keep=keep)
    secrets = frozenset(e.value for s in desired if s.definition for e in s.definition.env)
    run = PlaybookRun(
        playbook=PLAYBOOK,
        inventory_text=inventory_yaml(inv),
        limit=limit,
        tags=tags,
        extravars=_extravars(config),
        secrets=secrets,
        files={"routes.conf": routes_text} if routes_text is not None else {},
    )
    return run_playbook(run, config.project_dir, config.state_dir, forks=config.forks)


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
