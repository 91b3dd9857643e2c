"""One reconcile pass: observe -> plan -> render -> run -> record.

A pass touches only what changed: with nothing to do it runs no playbook at all; otherwise the
plays are limited to the services that changed. New containers start beside the old ones and
must accept connections before the proxies (rolled one at a time) route to them; only then do
the old ones go. A pass killed anywhere is repaired by the next, which sees the same gaps.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from swsapi.agent import certs, collection, health, orphans, record, removals, retries, stale
from swsapi.agent.config import AgentConfig
from swsapi.agent.controlplane import observe_components, revive
from swsapi.agent.desired import DesiredService, read_desired
from swsapi.agent.lock import LockLost
from swsapi.agent.observe import (
    RunningContainer,
    images_present,
    observe_containers,
    observe_proxies,
    volumes_present,
)
from swsapi.agent.passvars import PassVars, ProxyView
from swsapi.agent.plan import (
    CleanupPlan,
    DeployPlan,
    Route,
    choose_serving,
    drop_shared_domains,
    hold_orphans,
    plan_cleanup,
    plan_deploys,
    routes_for,
    share_deploys,
)
from swsapi.agent.proxyfiles import CONF_DIR
from swsapi.agent.render import (
    ADDRESS_SLOT,
    CHECK_ADDRESS,
    containment_vars,
    inventory,
    inventory_yaml,
    route_block,
    routes_conf,
    routes_plan,
    service_host,
)
from swsapi.agent.routecheck import Block, RouteCheckError, refused_blocks
from swsapi.agent.runner import (
    PlaybookRun,
    RunResult,
    remove_old_async_jobs,
    remove_stale_runs,
    result_from_events,
    run_playbook,
)
from swsapi.agent.tlsroutes import EdgeTls

log = logging.getLogger("sws.agent")

PLAYBOOK = "reconcile.yml"
# The name reconcile.yml's retire play starts with: its start means every proxy that is up
# serves the new routes, so the outcomes are recorded then.
RETIRE_PLAY = "Retire"
# And its other plays' names, which tell a host's failure in one from a failure in another.
REVIVE_PLAY = "Recreate"
ROLL_PLAY = "Roll"
# In the state dir: touched at each health check (health_interval).
HEALTH_STAMP = "health.checked"


@dataclass
class PassReport:
    outcome: str = "noop"  # noop | changed | failed
    changed: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # worth saying, not a failure
    degraded: list[str] = field(default_factory=list)  # control plane still down after the pass
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
    collection.use(config.project_dir)
    guard = Guard(config.pass_timeout, still_locked)
    pass_id = record.start_pass(conn)
    report = PassReport()
    report.note("stale_runs_removed", remove_stale_runs(config.state_dir))
    remove_old_async_jobs(config.state_dir)
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
    missing = plane.missing if plane else []
    up = [p for p in config.names.proxies if plane and (plane.before[p].up or p in plane.started)]
    # Observed once: the stale check below and the roll's plan both read these.
    proxies = observe_proxies(
        tuple(up),
        config.haproxy_socket,
        config.names.haproxy_backend,
        {p: plane.before[p].mounts.get(CONF_DIR) for p in up if plane.before[p].mounts},
    )
    rerouted = _mark_stale_routes(config, conn, desired, containers, proxies)
    attempts = retries.load(config.state_dir)
    now = time.time()
    deploys = plan_deploys(
        desired,
        containers,
        retries.due(desired, attempts, config.retry_failed, now),
        containment=lambda s: containment_vars(s, config.containment)["sws_service_containment"],
    )
    deploys = share_deploys(deploys, config.deploys_per_user)
    _record_invalid(conn, deploys, report)
    _record_queued(conn, deploys, config.deploys_per_user, report)

    edge = _edge_tls(config, conn, report)
    routes = _PassRoutes(config, desired, containers, deploys, edge)
    report.note("clashes", dict(routes.clashes))
    refused: dict[str, str] = {}
    if deploys.deploy or any(p.applied_routes != routes.fallback_text() for p in proxies):
        # New routes: nginx must accept them before any proxy is drained for them.
        refused = routes.refuse(up, report)
    left_out = {**routes.clashes, **refused}
    deploying = [s for s in deploys.deploy if s.name not in left_out]
    failed: dict[str, tuple[str, str | None]] = {n: (m, None) for n, m in left_out.items()}
    roll = [
        p.name
        for p in proxies
        if deploying or p.applied_routes != routes.fallback_text() or not p.ready
    ] + [p for p in missing if p in config.names.proxies]
    # A stop is under way while its container still runs; one stopped and left is taken again.
    running = {c.name for c in containers if c.running}
    stops = removals.observe(config.state_dir, running, config.stop_timeout, now)
    purged = [f"{s.name}-volume" for s in desired if s.deleting and s.purge_volume]
    cleanup = plan_cleanup(
        desired,
        containers,
        routes.serving_if_ready(deploying),
        set(failed),
        stopping=stops.under_way(),
        volumes=volumes_present(purged) if purged else set(),
    )
    held = hold_orphans(cleanup, containers, config.max_orphan_share)
    if held:
        report.problems.append(held)
    _settle_orphans(config, cleanup, containers, report)

    if config.names.proxies and not up and not missing:
        cleanup = CleanupPlan()  # no proxy routes anything now: keep what may serve later
    _late_stops(conn, cleanup, stops, config.stop_timeout, report)
    outcome = _Outcome(config, conn, report, guard, desired, deploys, plane, attempts, now, failed)
    outcome.rerouted = rerouted
    if not (deploying or missing or roll or cleanup.services()):
        guard.check("recording the outcomes")
        outcome.record(set(), routes_ok=True)
        _forget_deleted(conn, cleanup, None, report)
        report.note("stopping", sorted(stops.under_way()))
        _check_health(config, conn, desired, choose_serving(desired, containers, set()), report)
        outcome.conclude()
        return
    what = PassVars.for_pass(
        config,
        revive=missing,
        deploy=[service_host(s.name) for s in deploying],
        roll=roll,
        retire=[service_host(n) for n in cleanup.services()],
        routes=routes.plan(deploying),
        proxies={p.name: ProxyView(proxyroll_digest(p.applied_routes), p.ready) for p in proxies},
    )
    guard.check("running the playbook")
    outcome.what = what
    images = images_present(s.definition.image for s in deploying)
    result = _run(config, desired, cleanup, what, images, outcome.at_play, guard.remaining())
    if outcome.aborted:
        raise PassAborted(outcome.aborted)
    outcome.after_run(result)
    if outcome.retire_started:
        _retire_outcomes(cleanup, result, report)
        _explain_stuck_deletes(conn, cleanup, result)
        _forget_deleted(conn, cleanup, result, report)
    background = [c for r in result.retired.values() for c in r.get("background") or []]
    removals.handed_over(config.state_dir, stops, background, time.time())
    report.note("stopping", sorted(stops.under_way()))
    _check_health(config, conn, desired, choose_serving(desired, containers, set()), report)
    outcome.conclude()


class _PassRoutes:
    """The routes of a pass, rendered before the run: the new generations' (address slot) and
    what serves without them, tested in a proxy that is up."""

    def __init__(self, config, desired, containers, deploys: DeployPlan, edge: EdgeTls):
        self.config, self.desired, self.containers = config, desired, containers
        self.edge = edge  # the host's HTTPS: each route's TLS server lines (tlsroutes.py)
        self.fallback = {
            r.service: r for r in routes_for(choose_serving(desired, containers, set()), desired)
        }
        self.new = {
            s.name: Route(
                domain=s.definition.domain,
                service=s.name,
                address=ADDRESS_SLOT,
                port=s.definition.port,
                http=s.definition.http,
                tls=s.definition.tls,
            )
            for s in deploys.deploy
        }
        self.dropped: set[str] = set()  # no route at all: refused, and its older one too
        # One domain, one service (plan.drop_shared_domains), among the routes as if every
        # new generation got ready: a newcomer on a taken domain is left out, not deployed.
        _, self.clashes = drop_shared_domains(self.serving_if_ready(deploys.deploy), desired)
        self.dropped |= set(self.clashes)
        for name in self.clashes:
            self.new.pop(name, None)

    def fallback_text(self) -> str:
        routes = [r for n, r in self.fallback.items() if n not in self.dropped]
        return routes_conf(routes, self.config.names, self.edge)

    def refuse(self, up: list[str], report: PassReport) -> dict[str, str]:
        """{service: message with nginx's [emerg] line} for the routes nginx refuses; a refused
        new route falls back to the older generation's, one refused too leaves the service
        without a route. A candidate that cannot be tested is left to the roll's own test."""
        if not up:
            return {}
        refused: dict[str, str] = {}
        live = {
            s.name
            for s in self.desired
            if s.status == "running" and s.applied_generation == s.generation
        }
        for _ in range(2):  # the new routes, then the older generations they fall back to
            chosen = self._chosen(set(refused))
            # One domain, one block: routes_conf raises on two.
            routes_conf(list(chosen.values()), self.config.names, self.edge)
            # Routes already live first: a set nginx refuses only as a whole fails its newcomer.
            order = sorted(chosen.values(), key=lambda r: (r.service not in live, r.domain))
            blocks = [
                Block(
                    r.service,
                    route_block(r, self.config.names, self.edge).replace(
                        ADDRESS_SLOT, CHECK_ADDRESS
                    ),
                )
                for r in order
            ]
            try:
                found = refused_blocks(blocks, ["docker", "exec", "-i", up[0]])
            except RouteCheckError as err:
                report.notices.append(str(err))
                break
            if not found:
                break
            for name, line in found.items():
                if name in refused or name not in self.new:
                    self.dropped.add(name)
                refused.setdefault(name, f"nginx refused the route for this service: {line}")
        else:
            self.dropped |= set(refused)  # still refused after the fallback: leave them out
        for name in refused:
            self.new.pop(name, None)
        report.note("refused", dict(refused))
        return refused

    def _chosen(self, without_new: set[str]) -> dict[str, Route]:
        chosen = {n: r for n, r in self.fallback.items() if n not in self.dropped}
        chosen.update({n: r for n, r in self.new.items() if n not in without_new})
        return {n: r for n, r in chosen.items() if n not in self.dropped}

    def serving_if_ready(self, deploying: list[DesiredService]) -> dict[str, RunningContainer]:
        """What serves once this pass's deploys got ready (the retire keeps these)."""
        serving = choose_serving(self.desired, self.containers, set())
        for service in deploying:
            serving[service.name] = RunningContainer(
                name=service.container,
                service=service.name,
                generation=service.generation,
                digest=service.digest,
                domain=self.new[service.name].domain,
                port=self.new[service.name].port,
                running=True,
                ip=None,
            )
        return {n: c for n, c in serving.items() if n not in self.dropped}

    def plan(self, deploying: list[DesiredService]) -> dict:
        names = {s.name for s in deploying}
        fixed = {n: r for n, r in self.fallback.items() if n not in names and n not in self.dropped}
        fallback = {n: r for n, r in self.fallback.items() if n in names}
        new = {n: r for n, r in self.new.items() if n in names}
        return routes_plan(fixed, new, fallback, self.config.names, self.edge)


class _Outcome:
    """What the run did, recorded once: when the retire play starts (the routes are live on
    every proxy that is up, so retiring never delays `running`), or after the run otherwise.
    Each play's start is a stage: the deadline and the lock are checked there."""

    def __init__(self, config, conn, report, guard, desired, deploys, plane, attempts, now, failed):
        self.config, self.conn, self.report, self.guard = config, conn, report, guard
        self.desired = desired
        self.deploys, self.plane, self.attempts, self.now = deploys, plane, attempts, now
        self.failed = failed
        self.refused = set(failed)
        self.aborted: str | None = None
        self.what: PassVars | None = None
        self.retire_started = False
        self.recorded_routes_ok: bool | None = None
        self.ready: set[str] = set()
        self.rerouted: list[DesiredService] = []  # stale routes made current by this run

    def at_play(self, name: str, events: list[dict]) -> bool:
        """Called as each play starts; False stops the run."""
        try:
            if name.startswith(RETIRE_PLAY):
                # Every play before went through: each proxy that is up serves the new routes.
                self.guard.check("recording the outcomes")
                partial = result_from_events(0, "running", events, partial=True)
                self._deploy_outcomes(partial)
                self._revive_outcomes(partial)
                if self.what.roll:
                    self.report.note("routes", "rolled")
                self.record(self.ready, routes_ok=True)
                self.guard.check("retiring containers")
                self.retire_started = True
            else:
                self.guard.check(name[:1].lower() + name[1:])
        except PassAborted as err:
            self.aborted = str(err)
            return False
        return True

    def after_run(self, result: RunResult) -> None:
        if self.recorded_routes_ok is not None:
            # Recorded as the retire play started; what the retire did is reported apart.
            if result.error:
                self.report.problems.append(result.error)
            return
        self._deploy_outcomes(result)
        self._revive_outcomes(result)
        roll_failures = [
            f.message
            for h, f in result.failed.items()
            if h in self.what.roll and f.play.startswith(ROLL_PLAY)
        ]
        routes_ok = not roll_failures and not result.error
        if self.what.roll:
            self.report.note("routes", "rolled" if routes_ok else "failed")
        self.report.problems.extend(roll_failures)
        if result.error:
            self.report.problems.append(result.error)
        self.record(self.ready if routes_ok else set(), routes_ok=routes_ok)

    def _revive_outcomes(self, result: RunResult) -> None:
        for host in self.what.revive:
            failure = result.failed.get(host)
            if failure is not None and failure.play.startswith(REVIVE_PLAY):
                # Said, not a failure of the pass: the other proxy serves (outcome degraded).
                self.report.notices.append(
                    f"{host} is missing and could not be recreated: {failure.message}"
                )

    def _deploy_outcomes(self, result: RunResult) -> None:
        for service in self.deploys.deploy:
            host = service_host(service.name)
            if service.name in self.refused:
                continue
            if host in result.failed:
                failure = result.failed[host]
                self.failed[service.name] = (failure.message, failure.last_log)
            elif host in result.ok:
                self.ready.add(service.name)
            # Neither: the run itself broke (a playbook error, a killed ansible-playbook). That
            # is the agent's problem, not the service's: it stays pending, the next pass retries.
        self.report.note("deployed", sorted(self.ready))
        self.report.note("failed", {n: m for n, (m, _) in self.failed.items()})

    def record(self, running: set[str], routes_ok: bool) -> None:
        if self.recorded_routes_ok is not None:
            return
        up = _control_plane_outcome(self.config, self.plane, self.report)
        # A service runs once every proxy that is up serves it; with no proxy up, nothing does.
        routable = bool(up) or not self.config.names.proxies
        routes_ok = routes_ok and routable
        self.recorded_routes_ok = routes_ok
        if routes_ok:
            stale.mark_routed(self.conn, self.rerouted)
            self.report.note("rerouted", sorted(s.name for s in self.rerouted))
            for service in self.deploys.deploy:
                if service.name in running:
                    record.mark_running(self.conn, service.name, service.generation)
        generations = {s.name: s.generation for s in self.desired}
        for name, (message, last_log) in self.failed.items():
            note = retries.note_failure(
                self.attempts,
                name,
                generations[name],
                self.config.retry_failed,
                self.config.retry_backoff,
                self.now,
            )
            message = retries.with_note(message, note)
            record.mark_failed(self.conn, name, generations[name], message, last_log)
        retries.forget_others(self.attempts, set(self.failed), self.desired)
        retries.save(self.config.state_dir, self.attempts)
        running = running if routes_ok else set()
        _explain_pending(self.conn, self.deploys, running, self.failed, routable, self.report)
        self.conn.commit()

    def conclude(self) -> None:
        report = self.report
        if report.problems:
            report.outcome = "failed"
        elif report.degraded or report.changed.keys() == {"down"}:
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
    # A part that cannot be started again degrades the host, it does not fail the pass: what
    # is up serves, and the message says what is down and why.
    report.notices.extend(plane.problems)
    for name, component in now.items():
        if not component.up and name in down_before:
            report.degraded.append(name)
            report.notices.append(f"{component.describe()}: the pass went on without it")
    return [p for p in config.names.proxies if now[p].up]


def _record_queued(conn, deploys: DeployPlan, per_user: int, report: PassReport) -> None:
    """A service left for the next pass by the per-user share says so (its owner's burst)."""
    for owner, queue in deploys.queued.items():
        for place, service in enumerate(queue, start=1):
            record.mark_pending_reason(
                conn,
                service.name,
                service.generation,
                f"queued: a pass deploys {per_user} services of one user at a time;"
                f" {place} of {owner}'s services go before this one",
            )
    report.note("queued", sorted(s.name for q in deploys.queued.values() for s in q))


def _mark_stale_routes(
    config: AgentConfig, conn, desired, containers, proxies
) -> list[DesiredService]:
    """Running services whose routes went stale are `pending` until the roll (stale.py);
    proxies: those that are up (one that is down gets no traffic, and is rolled first)."""
    if not config.names.proxies:
        return []
    found = stale.find(desired, containers, proxies, config.names)
    stale.mark_pending(conn, found)
    return found


def _settle_orphans(config: AgentConfig, cleanup: CleanupPlan, containers, report) -> None:
    """Orphans are stopped by this run and removed after orphan_grace (orphans.py)."""
    stopping = orphans.settle(
        cleanup, containers, config.state_dir, config.orphan_grace, time.time()
    )
    report.note("orphans_stopped", stopping)


def _late_stops(conn, cleanup: CleanupPlan, stops: removals.Stops, timeout, report) -> None:
    """A background stop that outlived its time is reported, and its container killed now."""
    if not stops.overdue:
        return
    late = set(stops.overdue)
    for name, listed in cleanup.containers.items():
        mine = sorted(late & set(listed))
        if not mine:
            continue
        cleanup.kill.add(name)
        allowed = timeout + removals.SLACK_SECONDS
        why = f"container(s) {', '.join(mine)} did not stop within {allowed:g} s; killing them"
        report.notices.append(f"{name}: {why}")
        if name in cleanup.remove:
            record.mark_deleting_problem(conn, name, why)


def health_due(stamp: Path, interval: float, now: float) -> bool:
    try:
        return interval <= 0 or now - stamp.stat().st_mtime >= interval
    except OSError:
        return True  # never checked


def _check_health(config: AgentConfig, conn, desired, serving, report: PassReport) -> None:
    """A serving container that fails its spec.healthCheck is reported (health.py), at most
    every health_interval seconds (the stamp's time is the last check's)."""
    stamp = Path(config.state_dir) / HEALTH_STAMP
    if not health_due(stamp, config.health_interval, time.time()):
        return
    unhealthy = health.record_health(conn, health.check_serving(desired, serving))
    with contextlib.suppress(OSError):
        stamp.touch()
    if unhealthy:
        report.notices.append("failing their health check: " + ", ".join(unhealthy))


def _record_invalid(conn, deploys: DeployPlan, report: PassReport) -> None:
    for service in deploys.invalid:
        record.mark_failed(conn, service.name, service.generation, service.problem, None)
    report.note("invalid", [s.name for s in deploys.invalid])


def _edge_tls(config: AgentConfig, conn, report: PassReport) -> EdgeTls:
    """HTTPS (issue 15): the store's certificates installed in HAProxy, which ends TLS."""
    edge = EdgeTls(https_port=config.https_port, default_source=config.tls_default_certificate)
    if config.tls_dir is None:
        return edge
    edge, changes, problems = certs.sync(
        conn, config.tls_dir, config.haproxy_tls_dir, config.haproxy_socket, edge, config.api_domain
    )
    for key, value in changes.items():
        report.note(key, value)
    # HAProxy refusing one certificate is that domain's problem, not every tenant's deploy's.
    report.notices.extend(problems)
    return edge


def _retire_outcomes(cleanup: CleanupPlan, result: RunResult, report) -> None:
    if result.error:
        report.problems.append(result.error)
    for key, names in (
        ("retired", cleanup.retire),
        ("removed", cleanup.remove),
        ("purged", cleanup.purge),
        ("orphans", [n for n in cleanup.orphans if n not in cleanup.stop_only]),
    ):
        done = [n for n in names if service_host(n) in result.ok]
        report.note(key, sorted(done))
    for n in cleanup.services():
        failure = _retire_failure(result, n)
        if failure is not None:
            report.problems.append(f"{n}: {failure.message}")


def _retire_failure(result: RunResult, name: str):
    """The failure of the service's host in the retire play (a failed deploy is not one)."""
    failure = result.failed.get(service_host(name))
    return failure if failure is not None and failure.play.startswith(RETIRE_PLAY) else None


def _explain_stuck_deletes(conn, cleanup: CleanupPlan, result: RunResult) -> None:
    # A deleted service whose container or volume could not be removed stays 'deleting', with
    # the reason for its owner to read; the next pass tries again.
    for name in dict.fromkeys([*cleanup.remove, *cleanup.purge]):
        failure = _retire_failure(result, name)
        if failure is not None:
            record.mark_deleting_problem(conn, name, failure.message)


def _forget_deleted(conn, cleanup: CleanupPlan, result: RunResult | None, report) -> None:
    """Records go only once every container is gone (a background stop takes a later pass to
    see) and a purged volume with them; a failed removal is retried next pass."""
    retired = result.retired if result is not None else {}
    gone = []
    for name in cleanup.forget:
        done = retired.get(service_host(name)) or {}
        left = set(cleanup.containers.get(name, [])) - set(done.get("gone") or [])
        if left or cleanup.waiting.get(name) or done.get("problems"):
            continue
        if name in cleanup.purge and not done.get("volume_removed"):
            continue
        gone.append(name)
    report.note("forgotten", [n for n in gone if record.forget(conn, n)])


def _run(config, desired, cleanup: CleanupPlan, what: PassVars, images, at_play, timeout: int):
    # Only the hosts of this run: ansible-playbook reads the whole inventory before --limit
    # applies, so a pass's cost does not grow with the services it leaves alone.
    hosts = set(what.hosts())
    inv = inventory(
        [s for s in desired if service_host(s.name) in hosts],
        config.names,
        orphans=[n for n in cleanup.orphans if service_host(n) in hosts],
        keep=cleanup.retire,
        containment=config.containment,
        retire=cleanup.containers,
        images=images,
        stop_only=cleanup.stop_only,
        kill=cleanup.kill,
    )
    secrets = frozenset(e.value for s in desired if s.definition for e in s.definition.env)
    run = PlaybookRun(
        playbook=PLAYBOOK,
        inventory_text=inventory_yaml(inv),
        limit=what.hosts(),
        extravars=what.as_extravars(),
        secrets=secrets,
        host_settings=config.host_settings,
    )
    return run_playbook(
        run,
        config.project_dir,
        config.state_dir,
        forks=config.forks,
        timeout=timeout,
        at_play=at_play,
    )


def proxyroll_digest(text: str | None) -> str:
    """The digest the roll compares with its candidate (module_utils/proxyroll.digest)."""
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else ""
