"""Backups and restores of a service's volume (issue 27) as the apiserver writes them: a copy
asked for (with a dump command run first as a job), the owner's kept copies read back, a
restore asked for. The agent takes the copies and restores them (swsagent/backuppass.py); the
apiserver never touches Docker. Each change sends NOTIFY so the watching agent starts at once.

A backup belongs to its volume and its owner, not to the service's row: a delete without purge
keeps the volume and so its backups, and the owner can restore them into the service made
again; a purge removes them. Every read asks for the caller's own rows, so another user's
backup is as absent as a missing one.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from swsapi import backupfiles, jobs, store
from swsapi.errors import conflict, invalid_request, not_found
from swsapi.extensions import db
from swsapi.models import BACKUP_UNFINISHED, Backup, Restore, Service, User, Volume
from swscore.contract import ServiceStatus
from swscore.spec import API_VERSION, SpecError, load_definition

LIST_MOST = 200


def take_backup(owner: User, name: str, body: dict) -> Backup:
    """A copy of the service's volume, pending until the agent takes it; with `command`, a
    job that makes a dump runs first (the service keeps serving)."""
    service = store.get_service(owner, name, for_update=True)
    unknown = set(body) - {"command", "timeout"}
    if unknown:
        raise invalid_request("unknown field(s)", {key: "unknown field" for key in unknown})
    _check_copyable(service)
    volume = store.volume_name(name)
    _check_none_under_way(volume)
    _check_quota(owner)
    backup = Backup(volume=volume, owner_id=owner.id, service=name, cause="user")
    if body.get("command") is not None:
        run = jobs.add_run(service, body)
        backup.command, backup.dump_run_id, backup.state = run.command, run.id, "dumping"
    db.session.add(backup)
    db.session.flush()
    store.notify(name, "backup")
    db.session.commit()
    return backup


def _check_copyable(service: Service) -> None:
    if service.status == ServiceStatus.DELETING:
        raise conflict(f"service {service.name} is being deleted")
    try:
        definition = load_definition({"apiVersion": API_VERSION, "spec": service.spec})
    except SpecError:
        raise conflict(f"the spec of {service.name} is not valid under today's rules") from None
    if not definition.volume_mount:
        raise conflict(f"service {service.name} has no volume to back up")


def _check_none_under_way(volume: str) -> None:
    going = db.session.scalar(
        select(Backup.id).where(Backup.volume == volume, Backup.state.in_(BACKUP_UNFINISHED))
    )
    if going is not None:
        raise conflict(f"backup {going} of {volume} is under way")
    restoring = db.session.scalar(
        select(Restore.id).where(
            Restore.volume == volume, Restore.state.in_(("pending", "restoring"))
        )
    )
    if restoring is not None:
        raise conflict(f"restore {restoring} of {volume} is under way")


def kept_bytes(owner: User) -> int:
    """What the caller's backups take of the host's disk (sum() of bigint is numeric)."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Backup.size_bytes), 0)).where(Backup.owner_id == owner.id)
        )
    )


def _check_quota(owner: User) -> None:
    """A user's kept backups count toward SWS_BACKUP_QUOTA; past it a new one is refused (the
    agent keeps the last backups_kept of each volume, so the oldest go by themselves)."""
    used, quota = kept_bytes(owner), current_app.config["SWS_BACKUP_QUOTA"]
    if used >= quota:
        raise conflict(
            f"your backups take {used} bytes, your backup quota is {quota}: delete the service "
            "with purge, or ask an administrator",
            {"backup": "over the backup quota"},
        )


def _owned_volume(owner: User, name: str) -> Volume:
    """The caller's volume of the service `name` (the service itself may be deleted)."""
    volume = db.session.scalar(
        select(Volume).where(Volume.name == store.volume_name(name), Volume.owner_id == owner.id)
    )
    if volume is None:
        raise not_found(f"no backups of {name!r}")
    return volume


def list_backups(owner: User, name: str) -> list[Backup]:
    """The caller's backups of the service's volume, newest first."""
    volume = _owned_volume(owner, name)
    query = select(Backup).where(Backup.volume == volume.name, Backup.owner_id == owner.id)
    return list(db.session.scalars(query.order_by(Backup.id.desc()).limit(LIST_MOST)))


def get_backup(owner: User, name: str, backup_id: int) -> Backup:
    volume = _owned_volume(owner, name)
    backup = db.session.scalar(
        select(Backup).where(
            Backup.id == backup_id, Backup.volume == volume.name, Backup.owner_id == owner.id
        )
    )
    if backup is None:
        raise not_found(f"no backup {backup_id} of {name}")
    return backup


def kept_file(owner: User, name: str, backup_id: int):
    """The file of the caller's kept backup (its path from the store, never from a user)."""
    backup = get_backup(owner, name, backup_id)
    if backup.state != "kept":
        raise conflict(f"backup {backup_id} is {backup.state}, not kept")
    path = backupfiles.kept_path(backup.owner_id, backup.service, backup.id)
    if not path.is_file():
        raise not_found(f"the file of backup {backup_id} is gone")
    return backup, path


def start_restore(owner: User, name: str, backup_id: int | None, stream=None, length=None):
    """Restore the service's volume from the caller's kept backup, or from an upload (a
    .tar.gz) spooled for the agent. The service is held stopped until it is done."""
    service = store.get_service(owner, name)
    _check_copyable(service)
    volume = store.volume_name(name)
    if backup_id is not None:
        kept_file(owner, name, backup_id)
    upload, size = (None, None)
    if stream is not None:
        upload, size = backupfiles.spool_upload(stream, length)
    try:
        service = store.get_service(owner, name, for_update=True)
        _check_none_under_way(volume)
        restore = Restore(
            volume=volume, owner_id=owner.id, service=name, backup_id=backup_id,
            upload=upload, upload_bytes=size,
        )  # fmt: skip
        db.session.add(restore)
        db.session.flush()
        store.notify(name, "backup")
        db.session.commit()
    except BaseException:
        if upload:
            backupfiles.spool_path(upload).unlink(missing_ok=True)
        raise
    return restore


def get_restore(owner: User, name: str, restore_id: int) -> Restore:
    volume = _owned_volume(owner, name)
    restore = db.session.scalar(
        select(Restore).where(
            Restore.id == restore_id, Restore.volume == volume.name, Restore.owner_id == owner.id
        )
    )
    if restore is None:
        raise not_found(f"no restore {restore_id} of {name}")
    return restore


def _when(moment):
    return moment.isoformat() if moment else None


def backup_dict(backup: Backup) -> dict:
    return {
        "id": backup.id,
        "service": backup.service,
        "cause": backup.cause,
        "command": backup.command,
        "dump_run": backup.dump_run_id,
        "state": backup.state,
        "size_bytes": backup.size_bytes,
        "sha256": backup.sha256,
        "message": backup.message,
        "scheduled_for": _when(backup.scheduled_for),
        "requested_at": _when(backup.requested_at),
        "finished_at": _when(backup.finished_at),
    }


def restore_dict(restore: Restore) -> dict:
    return {
        "id": restore.id,
        "service": restore.service,
        "backup": restore.backup_id,
        "uploaded_bytes": restore.upload_bytes,
        "state": restore.state,
        "message": restore.message,
        "requested_at": _when(restore.requested_at),
        "finished_at": _when(restore.finished_at),
    }
