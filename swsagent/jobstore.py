"""The agent's reads and writes of job runs (issue 26): what is unfinished, which services have
scheduled jobs and when each last ran, and each run's start, end and state. One psycopg2
connection, the caller's transaction (jobpass.py commits)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from swscore.spec import API_VERSION, SpecError, load_definition
from swscore.specjobs import JobSettings

UNFINISHED = ("pending", "running")


@dataclass(frozen=True)
class Run:
    id: int
    state: str
    job: str | None
    command: tuple[str, ...]
    timeout_seconds: int
    started_at: datetime | None
    stop_requested: bool
    container: str | None
    service_id: int
    service: str
    service_state: str  # the service's status; "stopped" too when stopped is set
    generation: int  # the service's applied generation


@dataclass(frozen=True)
class ScheduledJobs:
    service_id: int
    service: str
    jobs: tuple[JobSettings, ...]


def unfinished_runs(cur) -> list[Run]:
    cur.execute(
        """SELECT r.id, r.state, r.job, r.command, r.timeout_seconds, r.started_at,
                  r.stop_requested, r.container, s.id, s.name,
                  CASE WHEN s.stopped THEN 'stopped' ELSE s.status END, s.applied_generation
           FROM job_runs r JOIN services s ON s.id = r.service_id
           WHERE r.state IN ('pending', 'running') ORDER BY r.id"""
    )
    return [
        Run(r[0], r[1], r[2], tuple(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11])
        for r in cur.fetchall()
    ]


def scheduled_jobs(cur) -> list[ScheduledJobs]:
    """Services that serve and have spec.jobs (each spec validated again, as desired.py does:
    a job of a deleted, stopped or invalid service never runs)."""
    cur.execute(
        """SELECT id, name, spec FROM services
           WHERE spec ? 'jobs' AND NOT stopped AND status NOT IN ('deleting', 'stopped')
             AND applied_generation > 0 ORDER BY id"""
    )
    found = []
    for service_id, name, spec in cur.fetchall():
        try:
            definition = load_definition({"apiVersion": API_VERSION, "spec": spec})
        except SpecError:
            continue
        if definition.jobs:
            found.append(ScheduledJobs(service_id, name, definition.jobs))
    return found


def last_scheduled(cur, service_ids: list[int]) -> dict[tuple[int, str], datetime]:
    if not service_ids:
        return {}
    cur.execute(
        """SELECT service_id, job, max(scheduled_for) FROM job_runs
           WHERE job IS NOT NULL AND service_id = ANY(%s) GROUP BY service_id, job""",
        (service_ids,),
    )
    return {(s, j): when for s, j, when in cur.fetchall()}


def add_scheduled(cur, service_id: int, job: JobSettings, timeout: int, when, skip) -> int | None:
    """A scheduled run (pending, or skipped with why); None when that minute has one already
    (another agent's pass recorded it first)."""
    cur.execute(
        """INSERT INTO job_runs (service_id, job, command, timeout_seconds, state,
                                 scheduled_for, message, finished_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END)
           ON CONFLICT ON CONSTRAINT uq_job_runs_minute DO NOTHING RETURNING id""",
        (
            service_id,
            job.name,
            json.dumps(list(job.command)),
            timeout,
            "skipped" if skip else "pending",
            when,
            skip,
            bool(skip),
        ),
    )
    row = cur.fetchone()
    return row[0] if row else None


def mark_started(cur, run_id: int, container: str, generation: int) -> None:
    cur.execute(
        """UPDATE job_runs SET state = 'running', started_at = now(), container = %s,
                  generation = %s WHERE id = %s AND state = 'pending'""",
        (container, generation, run_id),
    )


def mark_finished(cur, run_id: int, state: str, exit_code: int | None, message: str | None):
    cur.execute(
        """UPDATE job_runs SET state = %s, exit_code = %s, message = %s, finished_at = now()
           WHERE id = %s AND state IN ('pending', 'running')""",
        (state, exit_code, message, run_id),
    )


def note_on_service(cur, service_id: int, job: str, failure: str | None) -> None:
    """A scheduled job's failure goes into the service's message (never its status); its
    next success takes its own note away again."""
    prefix = f"job {job}: "
    if failure:
        cur.execute(
            "UPDATE services SET message = %s WHERE id = %s", (prefix + failure, service_id)
        )
    else:
        cur.execute(
            "UPDATE services SET message = NULL WHERE id = %s AND starts_with(message, %s)",
            (service_id, prefix),
        )


def trim(cur, runs_kept: int, lines_kept: int, finished: list[int]) -> None:
    """The last runs of each job (one-off runs: of each service) and the last lines of each
    run just finished; the rest goes."""
    cur.execute(
        """DELETE FROM job_runs WHERE id IN (
               SELECT id FROM (
                   SELECT id, state, row_number() OVER (
                       PARTITION BY service_id, job ORDER BY id DESC) AS n
                   FROM job_runs) ranked
               WHERE n > %s AND state NOT IN ('pending', 'running'))""",
        (runs_kept,),
    )
    for run_id in finished:
        cur.execute(
            """DELETE FROM job_run_lines WHERE run_id = %s AND id <= (
                   SELECT id FROM job_run_lines WHERE run_id = %s
                   ORDER BY id DESC OFFSET %s LIMIT 1)""",
            (run_id, run_id, lines_kept),
        )
