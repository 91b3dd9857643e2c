"""spec.jobs (issue 26): commands the agent runs on a schedule in a one-off container of the
service's current generation (same image, env, volume, networks and limits).

A command is a list of arguments that reaches the container as it is (its entrypoint and
arguments, exec'd by the engine): never a shell line, so no value here is interpreted. A
schedule is five cron fields (swscore/cron.py), read in `timeZone` (an IANA name; UTC when
absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from marshmallow import RAISE, Schema, ValidationError, fields

from swscore import cron
from swscore.specfields import Duration, StrictString, check_name, duration_in_seconds

MAX_JOBS = 20
MAX_ARGS = 64
MAX_ARG = 4096
CONCURRENCY = ("forbid", "allow")
RECREATE_REFUSAL = (
    "a service whose volume has one writer (update: recreate) runs no job beside it: write "
    "update: rolling if the service and its jobs may share the volume"
)


@cache
def time_zones() -> frozenset[str]:
    # Membership in the host's list, not ZoneInfo(name) alone: it would also open a path.
    return frozenset(available_timezones())


def check_time_zone(value: str) -> None:
    if value not in time_zones():
        raise ValidationError("must be an IANA time zone such as Europe/Paris or UTC")


def check_schedule(value: str) -> None:
    try:
        cron.parse(value)
    except cron.CronError as err:
        raise ValidationError(str(err)) from None


def check_command(value: list) -> None:
    if not 1 <= len(value) <= MAX_ARGS:
        raise ValidationError(f"must have from 1 to {MAX_ARGS} arguments")
    if not value[0]:
        raise ValidationError("must start with the program to run")


class Argument(fields.Field):
    """One argument as given: any text but NUL (exec cannot pass it), at most 4 KiB."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("each argument must be a string")
        if "\x00" in value:
            raise ValidationError("must not contain a NUL character")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValidationError("must be valid Unicode text") from None
        if size > MAX_ARG:
            raise ValidationError(f"must be at most {MAX_ARG} bytes")
        return value


def Command(**kwargs) -> fields.List:  # noqa: N802 - reads as a field class in the schema
    return fields.List(Argument(), validate=check_command, **kwargs)


class JobSchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True, validate=check_name)
    schedule = StrictString(required=True, validate=check_schedule)
    timeZone = StrictString(validate=check_time_zone)
    command = Command(required=True)
    timeout = Duration()
    concurrency = StrictString(validate=lambda v: check_choice(v, CONCURRENCY))


def check_choice(value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValidationError(f"must be one of {', '.join(choices)}")


class JobList(fields.List):
    def __init__(self, **kwargs):
        super().__init__(fields.Nested(JobSchema), allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and len(value) > MAX_JOBS:
            raise ValidationError(f"must have at most {MAX_JOBS} jobs")
        jobs = super()._deserialize(value, attr, data, **kwargs)
        names = [job["name"] for job in jobs]
        for name in names:
            if names.count(name) > 1:
                raise ValidationError(f"job {name} is named twice")
        return jobs


@dataclass(frozen=True)
class JobSettings:
    """One scheduled job as written (shown back as written); the agent reads the numbers."""

    name: str
    schedule: str
    command: tuple[str, ...]
    time_zone: str | None = None
    timeout: int | str | None = None
    concurrency: str | None = None

    @classmethod
    def from_loaded(cls, job: dict) -> JobSettings:
        return cls(
            name=job["name"],
            schedule=job["schedule"],
            command=tuple(job["command"]),
            time_zone=job.get("timeZone"),
            timeout=job.get("timeout"),
            concurrency=job.get("concurrency"),
        )

    def as_dict(self) -> dict:
        job: dict = {"name": self.name, "schedule": self.schedule}
        if self.time_zone:
            job["timeZone"] = self.time_zone
        job["command"] = list(self.command)
        if self.timeout is not None:
            job["timeout"] = self.timeout
        if self.concurrency:
            job["concurrency"] = self.concurrency
        return job

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone or "UTC")

    @property
    def timeout_seconds(self) -> int | None:
        return None if self.timeout is None else duration_in_seconds(self.timeout)

    @property
    def forbids_overlap(self) -> bool:
        return (self.concurrency or "forbid") == "forbid"


def check_jobs_volume(data: dict) -> None:
    """Jobs need a volume that may have two writers (see RECREATE_REFUSAL, README "Jobs")."""
    update = data.get("update") or ("recreate" if data.get("volumeMount") else "rolling")
    if data.get("jobs") and data.get("volumeMount") and update == "recreate":
        raise ValidationError(RECREATE_REFUSAL, "jobs")
