"""The jobs step (issue 26), after each reconcile pass and on its own while runs go on:
observe (the store's unfinished runs and scheduled jobs, the engine's run containers) ->
decide (which runs start, end, are killed; which scheduled minutes are due: jobschedule.py,
pure) -> act (the Engine API) -> record (job_runs), under the pass lock.

Runs are not part of the reconcile pass's Ansible run: a run is a single container that
nothing routes to, started and watched on the Engine API in milliseconds, and a run lasting
minutes must not hold a pass. Its output is the log shipper's (logship.py follows the
containers labelled `<prefix>.job-run`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from swsagent import collection, jobcontainer, jobstore
from swsagent.config import AgentConfig
from swsagent.jobschedule import due_run, next_minute

log = logging.getLogger("sws.agent.jobs")

WATCH_RUNS = 0.5  # seconds between looks while a run goes on (its end, its time limit)
WATCH_LEFTOVERS = 2.0  # ... while only finished runs' containers wait for their removal
# A finished run's container stays until the shipper has read it to its end (output_done) and
# at least OUTPUT_GRACE more, and its lines are trimmed to job_lines_kept only then: a `swsctl
# run` still reading the output of a chatty run (a few MB, pages of 1,000 lines) on a busy host
# is not cut short. With no shipper on the host, Docker's copy is the only one: it stays
# SHIPPER_AWAY long.
OUTPUT_GRACE = timedelta(seconds=60)
SHIPPER_AWAY = timedelta(minutes=10)


@dataclass
class JobsOutcome:
    started: list[int] = field(default_factory=list)
    finished: dict[int, str] = field(default_factory=dict)  # run id -> state
    scheduled: list[int] = field(default_factory=list)
    wake_in: float | None = None  # seconds until the step wants to run again


def jobs_step(config: AgentConfig, conn, now: datetime | None = None, engine=None) -> JobsOutcome:
    """One jobs step on a psycopg2 connection (committed here). `now`: the agent's clock."""
    now = now or datetime.now(UTC)
    engine = engine or collection.engine().Engine()
    outcome = JobsOutcome()
    prefix = config.names.label_prefix
    with conn.cursor() as cur:
        _schedule(config, cur, now, outcome)
        runs = jobstore.unfinished_runs(cur)
        containers = {
            c["Labels"].get(f"{prefix}.job-run", ""): c
            for c in engine.containers(f"{prefix}.job-run")
        }
        for run in runs:
            _advance(config, cur, engine, run, now, outcome)
        removed = _remove_finished(cur, engine, containers, {r.id for r in runs}, now)
        if removed or outcome.finished:
            jobstore.trim(cur, config.job_runs_kept, config.job_lines_kept, removed)
    conn.commit()
    outcome.wake_in = _wake_in(outcome, runs, containers, removed, now)
    if outcome.started or outcome.finished or outcome.scheduled:
        log.info(
            "jobs: started=%s finished=%s scheduled=%s",
            outcome.started,
            outcome.finished,
            outcome.scheduled,
        )
    return outcome


def _schedule(config: AgentConfig, cur, now: datetime, outcome: JobsOutcome) -> None:
    """Record the due minutes of every scheduled job (pending, or skipped saying why)."""
    services = jobstore.scheduled_jobs(cur)
    last = jobstore.last_scheduled(cur, [s.service_id for s in services])
    going = {(r.service_id, r.job): r.id for r in jobstore.unfinished_runs(cur) if r.job}
    outcome.wake_in = 0.0 if services else None  # marks that schedules exist
    for service in services:
        for job in service.jobs:
            key = (service.service_id, job.name)
            due = due_run(job, last.get(key), going.get(key), now)
            if due is None:
                continue
            timeout = job.timeout_seconds or config.job_timeout
            run_id = jobstore.add_scheduled(
                cur, service.service_id, job, timeout, due.scheduled_for, due.skip
            )
            if run_id is not None:
                outcome.scheduled.append(run_id)
                if due.skip:
                    log.info("jobs: %s/%s %s", service.service, job.name, due.skip)


def _advance(config, cur, engine, run: jobstore.Run, now: datetime, outcome) -> None:
    if run.state == "pending":
        _start(config, cur, engine, run, outcome)
        return
    name = run.container or jobcontainer.container_name(run.service, run.id)
    over, exit_code = jobcontainer.exit_state(engine.inspect(name))
    if over:
        state = "succeeded" if exit_code == 0 else "failed"
        why = None if exit_code is not None else "its container is gone"
        _finish(cur, run, state, exit_code, why, outcome)
    elif run.stop_requested or run.service_state in ("deleting", "stopped"):
        jobcontainer.kill(engine, name)
        why = (
            "stopped by its owner" if run.stop_requested else f"the service is {run.service_state}"
        )
        _finish(cur, run, "stopped", _killed_code(engine, name), why, outcome)
    elif run.started_at and now - run.started_at > timedelta(seconds=run.timeout_seconds):
        jobcontainer.kill(engine, name)
        why = f"killed after its time limit of {run.timeout_seconds} s"
        _finish(cur, run, "timed_out", _killed_code(engine, name), why, outcome)


def _killed_code(engine, name: str) -> int | None:
    return jobcontainer.exit_state(engine.inspect(name))[1]


def _start(config, cur, engine, run: jobstore.Run, outcome: JobsOutcome) -> None:
    if run.stop_requested:
        _finish(cur, run, "stopped", None, "stopped by its owner before it started", outcome)
        return
    service = _service_container(config, engine, run)
    if service is None:
        why = f"{run.service} has no container of its generation {run.generation} to copy"
        _finish(cur, run, "failed", None, why, outcome)
        return
    name = jobcontainer.container_name(run.service, run.id)
    labels = jobcontainer.run_labels(config.names.label_prefix, run.service, run.id)
    try:
        jobcontainer.start(engine, service, name, run.command, labels)
    except jobcontainer.JobStartError as err:
        _finish(cur, run, "failed", None, str(err), outcome)
        return
    jobstore.mark_started(cur, run.id, name, run.generation)
    outcome.started.append(run.id)


def _service_container(config: AgentConfig, engine, run: jobstore.Run) -> dict | None:
    """The inspect of the service's container of its applied generation, when it runs."""
    if run.service_state in ("deleting", "stopped"):
        return None
    prefix = config.names.label_prefix
    for found in engine.containers(f"{prefix}.service={run.service}", all_states=False):
        if found["Labels"].get(f"{prefix}.generation") == str(run.generation):
            return engine.inspect(found["Id"])
    return None


def _finish(cur, run: jobstore.Run, state, exit_code, why, outcome: JobsOutcome) -> None:
    if why is None and state == "failed":
        why = f"exited with code {exit_code}"
    jobstore.mark_finished(cur, run.id, state, exit_code, why)
    outcome.finished[run.id] = state
    if run.job:
        failure = None if state == "succeeded" else f"run {run.id} {state}: {why}"
        jobstore.note_on_service(cur, run.service_id, run.job, failure)


def _remove_finished(cur, engine, containers: dict, unfinished: set[int], now) -> list[int]:
    """Remove the containers of runs read to their end and finished OUTPUT_GRACE ago, or
    finished SHIPPER_AWAY ago, or unknown to the store."""
    done = {int(k) for k in containers if k.isdigit() and int(k) not in unfinished}
    if not done:
        return []
    cur.execute(
        """SELECT id, output_done, finished_at FROM job_runs WHERE id = ANY(%s)""",
        (sorted(done),),
    )
    known = {row[0]: row for row in cur.fetchall()}
    removed = []
    for run_id in sorted(done):
        row = known.get(run_id)
        if row is not None and row[2]:
            waited = now - row[2]
            if waited < OUTPUT_GRACE or (not row[1] and waited < SHIPPER_AWAY):
                continue  # its output is still being shipped, or read by a `swsctl run`
        engine.remove(containers[str(run_id)]["Id"], force=True)
        removed.append(run_id)
    return removed


def _wake_in(outcome: JobsOutcome, runs, containers: dict, removed, now: datetime):
    if outcome.started or runs:
        return WATCH_RUNS
    if len(containers) > len(removed):
        return WATCH_LEFTOVERS
    if outcome.wake_in is not None:  # schedules exist: just after the next minute begins
        return (next_minute(now) - now).total_seconds() + 0.2
    return None
