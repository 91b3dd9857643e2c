"""The backups step (issue 27), after each pass and with the jobs step while copies go on:
observe (the store's unfinished backups and restores, their helpers) -> decide -> act (the
Engine API) -> record, under the pass lock, as swsagent/jobpass.py does for runs.

A consistent copy: a service whose update is recreate (one writer on its volume) is held for
the copy: `held` makes desired.py read it as stopped, so the pass holds its route (503) and
stops its containers as `swsctl stop` does; the copy starts once nothing of it runs, and the
hold ends with the copy (NOTIFY: the next pass starts the service again). With a dump command
the copy waits for that job run and the service keeps serving. A restore holds the service the
same way from the moment it is asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from swsagent import backupcopy, backupfiles, backupstore, collection, jobcontainer
from swsagent.backupstore import Operation, set_state
from swsagent.config import AgentConfig
from swsagent.jobschedule import MISSED_WINDOW, NEW_JOB_LOOKBACK
from swscore import cron

log = logging.getLogger("sws.agent.backups")

WATCH = 0.5  # seconds between looks while a copy or restore goes on


@dataclass
class BackupsOutcome:
    finished: dict[str, str] = field(default_factory=dict)  # "backup 3" -> state
    scheduled: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    wake_in: float | None = None


def backups_step(config: AgentConfig, conn, now=None, engine=None, sweep=False) -> BackupsOutcome:
    """One backups step on a psycopg2 connection (committed here); `sweep`: after a full pass,
    also remove the files the store no longer names."""
    outcome = BackupsOutcome()
    if config.backups_dir is None:
        return outcome
    now = now or datetime.now(UTC)
    engine = engine or collection.engine().Engine()
    with conn.cursor() as cur:
        _schedule(cur, now, outcome)
        backups = backupstore.unfinished_backups(cur)
        restores = backupstore.unfinished_restores(cur)
        for backup in backups:
            _advance_backup(config, cur, engine, backup, outcome)
        for restore in restores:
            _advance_restore(config, cur, engine, restore, outcome)
        if sweep:
            _sweep(config, cur, outcome)
    conn.commit()
    if backups or restores:
        outcome.wake_in = WATCH
    elif outcome.scheduled or outcome.wake_in == 0.0:
        outcome.wake_in = 60.0 - now.second + 0.2  # schedules exist: the next minute
    if outcome.finished or outcome.scheduled:
        log.info("backups: finished=%s scheduled=%s", outcome.finished, outcome.scheduled)
    return outcome


def _schedule(cur, now: datetime, outcome: BackupsOutcome) -> None:
    services = backupstore.scheduled(cur)
    outcome.wake_in = 0.0 if services else None  # marks that schedules exist
    for owner_id, service, volume, definition in services:
        last = backupstore.last_scheduled(cur, volume)
        after = max(last if last is not None else now - NEW_JOB_LOOKBACK, now - MISSED_WINDOW)
        schedule = cron.parse(definition.backup.schedule)
        fired = cron.latest_fire(schedule, after, now, definition.backup.zone)
        if fired is not None:
            backup_id = backupstore.add_scheduled(cur, owner_id, service, volume, fired)
            if backup_id is not None:
                outcome.scheduled.append(backup_id)


def _running(config: AgentConfig, engine, service: str) -> bool:
    prefix = config.names.label_prefix
    return bool(engine.containers(f"{prefix}.service={service}", all_states=False))


def _advance_backup(config, cur, engine, backup: Operation, outcome) -> None:
    if backup.service_state in (None, "deleting"):
        _finish_backup(config, cur, engine, backup, "failed", "the service is gone", outcome)
    elif backup.state == "pending":
        recreate = backup.definition and backup.definition.update_strategy == "recreate"
        if recreate:
            set_state(cur, "backups", backup.id, "holding", held=True)
            note = f"backup {backup.id}: stopped while its volume is copied, then started again"
            backupstore.note_hold(cur, backup.service, note)
            backupstore.notify(cur, backup.service)  # a pass holds the route and stops it
        else:
            _start_copy(config, cur, engine, backup, outcome)
    elif backup.state == "dumping":
        if backup.dump_state == "succeeded":
            _start_copy(config, cur, engine, backup, outcome)
        elif backup.dump_state not in ("pending", "running"):
            why = f"the dump command {backup.dump_state or 'is gone'}: {backup.dump_message or ''}"
            _finish_backup(config, cur, engine, backup, "failed", why.rstrip(": "), outcome)
    elif backup.state == "holding":
        if not _running(config, engine, backup.service):
            _start_copy(config, cur, engine, backup, outcome)
    elif backup.state == "copying":
        over, code = jobcontainer.exit_state(engine.inspect(backup.container or ""))
        if over and code == 0:
            _finish_backup(config, cur, engine, backup, "kept", None, outcome)
        elif over:
            why = f"the copy exited with code {code}" if code is not None else "the copy is gone"
            _finish_backup(config, cur, engine, backup, "failed", why, outcome)


def _start_copy(config: AgentConfig, cur, engine, backup: Operation, outcome) -> None:
    folder = backupfiles.make_service_dir(
        config.backups_dir, backup.owner_id, backup.service, config.backups_group
    )
    name = backupcopy.container_name("backup", backup.id)
    prefix = config.names.label_prefix
    labels = backupcopy.labels(prefix, "backup", backup.id, backup.service)
    body = backupcopy.copy_body(config.helper_image, backup.volume, str(folder), backup.id, labels)
    try:
        backupcopy.start(engine, name, body)
    except backupcopy.HelperError as err:
        _finish_backup(config, cur, engine, backup, "failed", str(err), outcome)
        return
    set_state(cur, "backups", backup.id, "copying", container=name)


def _finish_backup(config, cur, engine, backup: Operation, state, why, outcome) -> None:
    columns: dict = {"message": why}
    args = (config.backups_dir, backup.owner_id, backup.service, backup.id)
    if state == "kept":
        try:
            size, digest = backupfiles.keep(*args, config.backups_group)
            columns.update(size_bytes=size, sha256=digest)
        except (OSError, IndexError) as err:
            state, columns["message"] = "failed", f"the copy's file is not whole: {err}"
    if state == "failed":
        backupfiles.drop_partial(*args)
    set_state(cur, "backups", backup.id, state, **columns)
    if backup.container:
        engine.remove(backup.container, force=True)
    if backup.held or backup.state == "holding":
        backupstore.note_hold(cur, backup.service, None)
        backupstore.notify(cur, backup.service)  # the hold ends: a pass starts it again
    for gone_id, owner_id, service in backupstore.past_retention(
        cur, backup.volume, config.backups_kept
    ):
        backupfiles.remove_kept(config.backups_dir, owner_id, service, gone_id)
    outcome.finished[f"backup {backup.id}"] = state


def _advance_restore(config, cur, engine, restore: Operation, outcome) -> None:
    if restore.service_state in (None, "deleting"):
        _finish_restore(config, cur, engine, restore, "failed", "the service is gone", outcome)
    elif restore.state == "pending":
        note = f"restore {restore.id}: stopped while its volume is restored, then started again"
        backupstore.note_hold(cur, restore.service, note)
        if not _running(config, engine, restore.service):
            _start_restore(config, cur, engine, restore, outcome)
    else:
        over, code = jobcontainer.exit_state(engine.inspect(restore.container or ""))
        if over:
            why = None if code == 0 else f"the restore exited with code {code}"
            _finish_restore(
                config, cur, engine, restore, "done" if code == 0 else "failed", why, outcome
            )


def _start_restore(config: AgentConfig, cur, engine, restore: Operation, outcome) -> None:
    if restore.upload:
        archive = config.backup_spool_dir / restore.upload if config.backup_spool_dir else None
    elif restore.backup_id is not None:
        archive = backupfiles.kept_path(
            config.backups_dir, restore.owner_id, restore.service, restore.backup_id
        )
    else:
        archive = None
    if archive is None or not archive.is_file():
        _finish_restore(config, cur, engine, restore, "failed", "its backup is gone", outcome)
        return
    name = backupcopy.container_name("restore", restore.id)
    labels = backupcopy.labels(config.names.label_prefix, "restore", restore.id, restore.service)
    body = backupcopy.restore_body(config.helper_image, restore.volume, str(archive), labels)
    try:
        backupcopy.start(engine, name, body)
    except backupcopy.HelperError as err:
        _finish_restore(config, cur, engine, restore, "failed", str(err), outcome)
        return
    set_state(cur, "restores", restore.id, "restoring", container=name)


def _finish_restore(config, cur, engine, restore: Operation, state, why, outcome) -> None:
    set_state(cur, "restores", restore.id, state, message=why)
    if restore.container:
        engine.remove(restore.container, force=True)
    if restore.upload and config.backup_spool_dir:
        (config.backup_spool_dir / restore.upload).unlink(missing_ok=True)
    backupstore.note_hold(cur, restore.service, None)
    backupstore.notify(cur, restore.service)  # the hold ends: a pass starts it again
    outcome.finished[f"restore {restore.id}"] = state


def _sweep(config: AgentConfig, cur, outcome: BackupsOutcome) -> None:
    known, waiting = backupstore.known_files(cur)
    cur.execute("SELECT id FROM backups WHERE state = 'copying'")
    copying = {row[0] for row in cur.fetchall()}
    outcome.removed = backupfiles.sweep(config.backups_dir, known, copying)
    outcome.removed += backupfiles.sweep_spool(config.backup_spool_dir, waiting)
