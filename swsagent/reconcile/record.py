"""The pass's last stage: every store write of a pass, and the agent's own state files.

Twice: the plan's verdicts before the run changes anything (a stale route's service is
`pending` while the roll makes it current, an invalid spec `failed`, a queued service says
why), then what the run did (each deployed service `running` or `failed` with its reason, the
stale ones `running` again, deleted services forgotten once their containers are gone, the
health of serving containers), with the retries, orphans and background stops it leaves.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from swsagent import (
    collection,
    health,
    layerwatch,
    orphans,
    record,
    removals,
    replicacount,
    retries,
    stale,
)
from swsagent.config import AgentConfig
from swsagent.plan import CleanupPlan, choose_serving
from swsagent.reconcile.check import CheckedPass
from swsagent.reconcile.report import PassReport
from swsagent.reconcile.run import RunOutcome
from swsagent.render import service_host
from swsagent.runner import RunResult
from swsagent.swarm.volumenode import record_volume_nodes
from swscore.contract import ServiceStatus

# The names reconcile.yml's plays start with: a host's failure in one tells apart from another.
REVIVE_PLAY = "Recreate"
ROLL_PLAY = "Roll"
RETIRE_PLAY = "Retire"
# In the state dir: touched at each health check and each look at the writable layers
# (both at most every health_interval).
HEALTH_STAMP = "health.checked"
LAYERS_STAMP = "layers.checked"


def before_run(config: AgentConfig, conn, checked: CheckedPass, report: PassReport) -> None:
    plan = checked.plan
    # Running/desired as observed (issue 28); the deploys that get ready set theirs after.
    seen = ((c.service, c.generation, c.running) for c in plan.obs.containers)
    replicacount.record(conn, replicacount.running_counts(seen))
    conn.commit()
    stale.mark_pending(conn, plan.stale)
    for service in plan.deploys.invalid:
        record.mark_failed(conn, service.name, service.generation, service.problem, None)
    report.note("invalid", [s.name for s in plan.deploys.invalid])
    _queued(conn, plan.deploys.queued, config.deploys_per_user, report)
    for name, why in checked.late.items():
        report.notices.append(f"{name}: {why}")
        if name in checked.cleanup.remove:
            record.mark_deleting_problem(conn, name, why)
    report.note("orphans_stopped", checked.orphans_stopping)
    _holds(conn, checked, report)
    obs = plan.obs
    if obs.swarm is not None:
        found, failed = record_volume_nodes(conn, obs.swarm, obs.desired, obs.containers)
        report.note("volume_nodes_recorded", found)
        report.note("failed_for_their_node", failed)


def _holds(conn, checked: CheckedPass, report: PassReport) -> None:
    """Recreates waiting for their older generation to stop, stops under way, and services
    whose stack could get no network say so."""
    plan = checked.plan
    holds, generations = plan.holds, {s.name: s.generation for s in plan.obs.desired}
    for name, older in {**holds.stop_first, **holds.wait_for_stop}.items():
        why = (
            f"recreating: {', '.join(older)} stops before generation {generations[name]}"
            " starts on the volume (spec.update: recreate; the domain answers 503 meanwhile)"
        )
        record.mark_pending_reason(conn, name, generations[name], why)
    for name, why in holds.waiting.items():
        record.mark_stopping(conn, name, why)
    for name in holds.stopping:
        record.mark_stopping(conn, name, "stopping")
    for name, why in {**plan.stacks.problems, **plan.disk_refused}.items():
        record.mark_pending_reason(conn, name, generations[name], why)
    report.note("waiting_for_disk", sorted(plan.disk_refused))
    report.note("recreating", sorted({*holds.stop_first, *holds.wait_for_stop}))
    report.note("stopping_services", sorted(holds.stopping))


def _queued(conn, queued: dict, per_user: int, report: PassReport) -> None:
    """A service left for the next pass by the per-user share says so (its owner's burst)."""
    for owner, queue in queued.items():
        for place, service in enumerate(queue, start=1):
            record.mark_pending_reason(
                conn,
                service.name,
                service.generation,
                f"queued: a pass deploys {per_user} services of one user at a time;"
                f" {place} of {owner}'s services go before this one",
            )
    report.note("queued", sorted(s.name for q in queued.values() for s in q))


def after_run(config: AgentConfig, conn, checked: CheckedPass, out: RunOutcome, report) -> None:
    _firewall(checked, out, report)
    report.note("certificates_installed", out.certificates.get("certificates_installed"))
    report.note("certificates_removed", out.certificates.get("certificates_removed"))
    # HAProxy refusing one certificate is that domain's problem, not every tenant's deploy's.
    report.notices.extend(out.certificate_problems)
    report.note("volumes_mounted", out.volumes_mounted)
    report.notices.extend(out.volume_problems)
    result = out.result or RunResult(rc=0, status="successful")
    failed, deferred = dict(checked.failed), {}
    ready = _deploy_outcomes(checked, result, failed, deferred, report)
    routes_ok = _roll_outcome(checked, out, result, report)
    up = _control_plane(config, checked, out, report)
    # A service runs once every proxy that is up serves it; with no proxy up, nothing does.
    routable = bool(up) or not config.names.proxies
    routes_ok = routes_ok and routable
    if routes_ok:
        stale.mark_routed(conn, checked.plan.stale)
        report.note("rerouted", sorted(s.name for s in checked.plan.stale))
        for service in checked.deploying:
            if service.name in ready:
                record.mark_running(conn, service.name, service.generation, service.replicas)
    for service in checked.deploying:
        network = checked.plan.stacks.joins.get(service.name)
        if network in out.networks_refused:
            failed[service.name] = (out.networks_refused[network], None)
    status = {s.name: s.status for s in checked.plan.obs.desired}
    newly_stopped = [n for n in checked.plan.holds.stopped if status[n] != ServiceStatus.STOPPED]
    for name in newly_stopped:
        record.mark_stopped(conn, name)
    report.note("stopped", sorted(newly_stopped))
    report.note("networks_removed", out.networks_removed)
    _failures(config, conn, checked, failed)
    generations = {s.name: s.generation for s in checked.deploying}
    for name, why in deferred.items():
        record.mark_pending_reason(conn, name, generations[name], why[:500])
    waiting = {**failed, **deferred}
    _explain_pending(conn, checked, ready if routes_ok else set(), waiting, routable, report)
    conn.commit()
    if out.what is not None:
        _retire_outcomes(checked.cleanup, result, report)
        _explain_stuck_deletes(conn, checked.cleanup, result)
    _forget_deleted(conn, checked.cleanup, result if out.what else None, report)
    _state_files(config, checked, result)
    report.note("stopping", stopping(checked, result))
    if not config.swarm_executor:  # the host reaches no overlay, sees one node's layers
        _check_health(config, conn, checked, report)
        _check_layers(config, conn, checked, report)
    report.conclude()


def _firewall(checked: CheckedPass, out: RunOutcome, report) -> None:
    """The bootstrap made the rules, so one missing means something removed it (a reboot, a
    hand, another tool): worth a line in the pass's message. Rules that cannot be read or
    restored fail the pass: the host is not protected."""
    seen = checked.plan.obs.firewall
    if seen is not None and seen.tables is None:
        report.problems.append(f"the services' firewall could not be read: {seen.problem}")
    if out.firewall_problem:
        report.problems.append(out.firewall_problem)
    if out.firewall_restored:
        report.note("firewall_restored", list(out.firewall_restored))
        report.notices.append(
            "the services' firewall was not all in place and was put back: "
            + ", ".join(out.firewall_restored)
        )


def _deploy_outcomes(
    checked: CheckedPass, result: RunResult, failed: dict, deferred: dict, report
) -> set[str]:
    """The services that got ready; failed and deferred (a recreate still stopping its older
    generation: the next pass deploys it) are filled in."""
    ready = set()
    for service in checked.deploying:
        host = service_host(service.name)
        if host in result.failed:
            failure = result.failed[host]
            failed[service.name] = (failure.message, failure.last_log)
        elif host in result.deferred:
            deferred[service.name] = result.deferred[host]
        elif host in result.ok:
            ready.add(service.name)
        # Neither: the run itself broke (a playbook error, a killed ansible-playbook). That
        # is the agent's problem, not the service's: it stays pending, the next pass retries.
    report.note("deployed", sorted(ready))
    report.note("deferred", sorted(deferred))
    report.note("failed", {n: m for n, (m, _) in failed.items()})
    return ready


def _roll_outcome(checked: CheckedPass, out: RunOutcome, result: RunResult, report) -> bool:
    roll_failures = [
        f.message
        for h, f in result.failed.items()
        if h in checked.roll and f.play.startswith(ROLL_PLAY)
    ]
    routes_ok = not roll_failures and not result.error
    if out.what is not None and out.what.roll:
        report.note("routes", "rolled" if routes_ok else "failed")
    report.problems.extend(roll_failures)
    if result.error:
        report.problems.append(result.error)
    return routes_ok


def _control_plane(config: AgentConfig, checked: CheckedPass, out: RunOutcome, report) -> list:
    """The proxies that are up now; what was down, what was started, what still is down."""
    revival = checked.plan.revival
    if revival is None:
        return []
    result = out.result or RunResult(rc=0, status="successful")
    for host in revival.missing:
        failure = result.failed.get(host)
        if failure is not None and failure.play.startswith(REVIVE_PLAY):
            # Said, not a failure of the pass: the other proxy serves (outcome degraded).
            report.notices.append(
                f"{host} is missing and could not be recreated: {failure.message}"
            )
    down_before = {n: c.describe() for n, c in revival.before.items() if not c.up}
    report.note("down", down_before)
    report.note("revived", sorted(n for n in down_before if out.plane[n].up))
    # A part that cannot be started again degrades the host, it does not fail the pass: what
    # is up serves, and the message says what is down and why.
    report.notices.extend(out.problems)
    for name, component in out.plane.items():
        if not component.up and name in down_before:
            report.degraded.append(name)
            report.notices.append(f"{component.describe()}: the pass went on without it")
    return [p for p in config.names.proxies if out.plane[p].up]


def _failures(config: AgentConfig, conn, checked: CheckedPass, failed: dict) -> None:
    obs = checked.plan.obs
    generations = {s.name: s.generation for s in obs.desired}
    for name, (message, last_log) in failed.items():
        note = retries.note_failure(
            obs.attempts,
            name,
            generations[name],
            config.retry_failed,
            config.retry_backoff,
            obs.now,
        )
        message = retries.with_note(message, note)
        record.mark_failed(conn, name, generations[name], message, last_log)
    retries.forget_others(obs.attempts, set(failed), obs.desired)


def _explain_pending(conn, checked: CheckedPass, running, failed, routable, report) -> None:
    """A service this pass could not make running says why (the next pass tries again)."""
    waiting = [s for s in checked.deploying if s.name not in running and s.name not in failed]
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


def _retire_outcomes(cleanup: CleanupPlan, result: RunResult, report) -> None:
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


def _state_files(config: AgentConfig, checked: CheckedPass, result: RunResult) -> None:
    obs = checked.plan.obs
    retries.save(config.state_dir, obs.attempts)
    orphans.save(config.state_dir, obs.orphans_seen)
    background = [c for r in result.retired.values() for c in r.get("background") or []]
    removals.handed_over(config.state_dir, obs.stops, background, time.time())


def stopping(checked: CheckedPass, result: RunResult | None = None) -> list[str]:
    """The containers still stopping in the background after this pass: those an earlier pass
    handed over and this run's (watch mode polls the engine until one is gone, so a recreate's
    new generation starts as soon as its old one has stopped)."""
    handed = [
        c for r in (result.retired if result else {}).values() for c in r.get("background") or []
    ]
    return sorted({*checked.plan.obs.stops.under_way(), *handed})


def health_due(stamp: Path, interval: float, now: float) -> bool:
    try:
        return interval <= 0 or now - stamp.stat().st_mtime >= interval
    except OSError:
        return True  # never checked


def _check_health(config: AgentConfig, conn, checked: CheckedPass, report) -> None:
    """A serving container that fails its spec.healthCheck is reported (health.py), at most
    every health_interval seconds (the stamp's time is the last check's)."""
    stamp = Path(config.state_dir) / HEALTH_STAMP
    if not health_due(stamp, config.health_interval, time.time()):
        return
    obs = checked.plan.obs
    serving = choose_serving(obs.desired, obs.containers, set())
    results = health.check_serving(obs.desired, serving, obs.containers)
    unhealthy = health.record_health(conn, results)
    with contextlib.suppress(OSError):
        stamp.touch()
    if unhealthy:
        report.notices.append("failing their health check: " + ", ".join(unhealthy))


def _check_layers(config: AgentConfig, conn, checked: CheckedPass, report) -> None:
    """A container that wrote more than writable_layer_max to its own filesystem is stopped
    and its service failed (layerwatch.py), looked at most every health_interval."""
    cap = config.disk.writable_layer_max
    stamp = Path(config.state_dir) / LAYERS_STAMP
    if cap <= 0 or not health_due(stamp, config.health_interval, time.time()):
        return
    obs = checked.plan.obs
    try:
        sizes = layerwatch.layer_sizes(config.names.label_prefix)
    except collection.engine().EngineError as err:  # said, not fatal: the next look retries
        report.notices.append(f"the writable layers could not be measured: {err}")
        return
    services = {c.name: c.service for c in obs.containers}
    found = layerwatch.over_cap(obs.desired, services, sizes, cap)
    layerwatch.enforce(conn, found, cap, config.stop_timeout)
    with contextlib.suppress(OSError):
        stamp.touch()
    report.note("over_writable_layer", sorted(found))
