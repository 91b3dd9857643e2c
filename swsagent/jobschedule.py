"""Which scheduled job runs are due (issue 26): pure, given the job, when it last ran and now.

The clock is an argument: the pass hands it the agent's clock, tests a driven one. A job runs
at most once per decision, for the latest minute its schedule fired since its last run; a
minute missed while no agent ran is run when the agent is back only within MISSED_WINDOW (a
nightly job an hour late still runs; a week of missed minutes is not caught up). A job never
run before starts at its next minute (or one in the minute before the pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from swscore import cron
from swscore.specjobs import JobSettings

MISSED_WINDOW = timedelta(hours=1)
NEW_JOB_LOOKBACK = timedelta(minutes=1)


@dataclass(frozen=True)
class DueRun:
    """A minute the job fired at; `skip` says why it does not run (a run still going)."""

    job: str
    scheduled_for: datetime
    skip: str | None = None


def due_run(
    job: JobSettings,
    last_scheduled: datetime | None,
    running: int | None,
    now: datetime,
    window: timedelta = MISSED_WINDOW,
) -> DueRun | None:
    """The run due now, if any. last_scheduled: the minute of its newest recorded run (run or
    skipped); running: the id of a run of this job not finished yet (None: none)."""
    after = last_scheduled if last_scheduled is not None else now - NEW_JOB_LOOKBACK
    after = max(after, now - window)
    fired = cron.latest_fire(cron.parse(job.schedule), after, now, job.zone)
    if fired is None:
        return None
    if running is not None and job.forbids_overlap:
        return DueRun(
            job.name, fired, f"skipped: run {running} is still going (concurrency: forbid)"
        )
    return DueRun(job.name, fired)


def next_minute(now: datetime) -> datetime:
    """The start of the minute after now: when a schedule can next fire."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)
