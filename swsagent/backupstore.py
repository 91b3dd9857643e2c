"""The agent's reads and writes of backups and restores (issue 27): what is unfinished (with
what the agent needs of its service and dump run), which services have spec.backup and when
each was last taken, each step's record, and the rows past the retention. One psycopg2
connection, the caller's transaction (backuppass.py commits)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from swscore.channel import NOTIFY_CHANNEL
from swscore.spec import API_VERSION, Definition, SpecError, load_definition


@dataclass(frozen=True)
class Operation:
    """An unfinished backup or restore, and its service as it is now."""

    id: int
    state: str
    owner_id: int
    service: str
    volume: str
    container: str | None
    held: bool = False
    dump_state: str | None = None  # backups with a dump command: its job run's state
    dump_message: str | None = None
    backup_id: int | None = None  # restores: from this kept backup ...
    upload: str | None = None  # ... or from this spooled upload
    service_state: str | None = None  # the service's status; None when it has no row
    definition: Definition | None = None


def _definition(spec) -> Definition | None:
    try:
        return load_definition({"apiVersion": API_VERSION, "spec": spec}) if spec else None
    except SpecError:
        return None


def unfinished_backups(cur) -> list[Operation]:
    cur.execute(
        """SELECT b.id, b.state, b.owner_id, b.service, b.volume, b.container, b.held,
                  r.state, r.message, s.status, s.spec
           FROM backups b LEFT JOIN job_runs r ON r.id = b.dump_run_id
           LEFT JOIN services s ON s.name = b.service AND s.owner_id = b.owner_id
           WHERE b.state IN ('pending', 'dumping', 'holding', 'copying') ORDER BY b.id"""
    )
    return [
        Operation(
            *row[:7],
            dump_state=row[7],
            dump_message=row[8],
            service_state=row[9],
            definition=_definition(row[10]),
        )  # fmt: skip
        for row in cur.fetchall()
    ]


def unfinished_restores(cur) -> list[Operation]:
    cur.execute(
        """SELECT r.id, r.state, r.owner_id, r.service, r.volume, r.container, r.backup_id,
                  r.upload, s.status, s.spec
           FROM restores r LEFT JOIN services s ON s.name = r.service AND s.owner_id = r.owner_id
           WHERE r.state IN ('pending', 'restoring') ORDER BY r.id"""
    )
    return [
        Operation(
            *row[:6],
            backup_id=row[6],
            upload=row[7],
            service_state=row[8],
            definition=_definition(row[9]),
        )  # fmt: skip
        for row in cur.fetchall()
    ]


def set_state(cur, table: str, op_id: int, state: str, **columns) -> None:
    """Move an unfinished backup or restore on (table: backups or restores, ours only)."""
    assert table in ("backups", "restores")
    names = ["state = %s", *(f"{name} = %s" for name in columns)]
    if state in ("kept", "failed", "done"):
        names.append("finished_at = now()")
    if state in ("copying", "restoring"):
        names.append("started_at = now()")
    cur.execute(
        f"UPDATE {table} SET {', '.join(names)} WHERE id = %s",  # noqa: S608 - names are ours
        (state, *columns.values(), op_id),
    )


HOLD_NOTE = "held for "


def note_hold(cur, service: str, note: str | None) -> None:
    """Say in the service's message why it does not run while a backup or restore holds it
    (its status stays what the user's last apply made it); the hold's end takes it away."""
    if note:
        cur.execute(
            "UPDATE services SET message = %s WHERE name = %s AND message IS DISTINCT FROM %s",
            (HOLD_NOTE + note, service, HOLD_NOTE + note),
        )
    else:
        cur.execute(
            "UPDATE services SET message = NULL WHERE name = %s AND starts_with(message, %s)",
            (service, HOLD_NOTE),
        )


def notify(cur, service: str) -> None:
    """Wake the watching agent: a hold began or ended, so a pass stops or starts the service."""
    payload = json.dumps({"name": service, "event": "backup"})
    cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))


def scheduled(cur) -> list[tuple[int, str, str, Definition]]:
    """(owner id, service, volume, definition) of every serving service with spec.backup."""
    cur.execute(
        """SELECT owner_id, name, spec FROM services
           WHERE spec ? 'backup' AND status <> 'deleting' AND applied_generation > 0
           ORDER BY id"""
    )
    found = []
    for owner_id, name, spec in cur.fetchall():
        definition = _definition(spec)
        if definition is not None and definition.backup and definition.volume_mount:
            found.append((owner_id, name, f"{name}-volume", definition))
    return found


def last_scheduled(cur, volume: str) -> datetime | None:
    cur.execute(
        "SELECT max(scheduled_for) FROM backups WHERE volume = %s AND cause = 'schedule'",
        (volume,),
    )
    return cur.fetchone()[0]


def add_scheduled(cur, owner_id: int, service: str, volume: str, when: datetime) -> int | None:
    """A scheduled backup; None when that minute has one already, or one is under way."""
    cur.execute(
        """INSERT INTO backups (volume, owner_id, service, cause, scheduled_for)
           SELECT %s, %s, %s, 'schedule', %s
           WHERE EXISTS (SELECT 1 FROM volumes WHERE name = %s)
             AND NOT EXISTS (SELECT 1 FROM backups WHERE volume = %s
                             AND state IN ('pending', 'dumping', 'holding', 'copying'))
           ON CONFLICT ON CONSTRAINT uq_backups_minute DO NOTHING RETURNING id""",
        (volume, owner_id, service, when, volume, volume),
    )
    row = cur.fetchone()
    return row[0] if row else None


def past_retention(cur, volume: str, kept: int) -> list[tuple[int, int, str]]:
    """Delete the finished backups of the volume beyond the newest `kept`; (id, owner, service)
    of the deleted, whose files go next."""
    cur.execute(
        """DELETE FROM backups WHERE id IN (
               SELECT id FROM backups WHERE volume = %s AND state IN ('kept', 'failed')
               ORDER BY id DESC OFFSET %s)
           RETURNING id, owner_id, service""",
        (volume, kept),
    )
    return cur.fetchall()


def known_files(cur) -> tuple[set[tuple[int, str, int]], set[str]]:
    """What the store still names: (owner, service, backup id) of every backup, and the spooled
    uploads of unfinished restores. Any other file in the backups directory is left over."""
    cur.execute("SELECT owner_id, service, id FROM backups")
    backups = {tuple(row) for row in cur.fetchall()}
    cur.execute(
        "SELECT upload FROM restores WHERE upload IS NOT NULL AND state IN ('pending', 'restoring')"
    )
    return backups, {row[0] for row in cur.fetchall()}
