"""spec.backup (issue 27): copies of the service's volume taken by the agent on a schedule.

Five cron fields (swscore/cron.py, as spec.jobs) read in `timeZone` (UTC when absent). A
service whose update is recreate is stopped for each copy (its route answers 503 meanwhile),
so a schedule is the user's choice of when that gap happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from marshmallow import RAISE, Schema, ValidationError

from swscore.specfields import StrictString
from swscore.specjobs import check_schedule, check_time_zone


class BackupSchema(Schema):
    class Meta:
        unknown = RAISE

    schedule = StrictString(required=True, validate=check_schedule)
    timeZone = StrictString(validate=check_time_zone)


def check_backup_volume(data: dict) -> None:
    """A backup copies the volume: a spec without one has nothing to copy."""
    if data.get("backup") and not data.get("volumeMount"):
        raise ValidationError("copies the service's volume: it needs a volumeMount", "backup")


@dataclass(frozen=True)
class BackupSettings:
    """spec.backup as written (shown back as written)."""

    schedule: str
    time_zone: str | None = None

    @classmethod
    def from_loaded(cls, backup: dict | None) -> BackupSettings | None:
        if backup is None:
            return None
        return cls(schedule=backup["schedule"], time_zone=backup.get("timeZone"))

    def as_dict(self) -> dict:
        backup = {"schedule": self.schedule}
        if self.time_zone:
            backup["timeZone"] = self.time_zone
        return backup

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone or "UTC")
