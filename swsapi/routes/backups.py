"""Backups (issue 27): copy a service's volume, list and download the copies, restore one."""

from flask import Blueprint, current_app, g, request, send_file

from swsapi import backups
from swsapi.auth import authenticate
from swsapi.errors import ApiError, invalid_request
from swsapi.routes.services import json_object

bp = Blueprint("backups", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


@bp.post("/<name>/backups")
def take_backup(name):
    """Ask for a copy of the service's volume (optionally after a dump command)."""
    body = json_object() if request.content_length else {}
    return backups.backup_dict(backups.take_backup(g.user, name, body)), 201


@bp.get("/<name>/backups")
def list_backups(name):
    """The caller's backups of the service's volume, newest first, and their total size."""
    found = backups.list_backups(g.user, name)
    return {
        "name": name,
        "backups": [backups.backup_dict(b) for b in found],
        "used_bytes": backups.kept_bytes(g.user),
        "quota_bytes": current_app.config["SWS_BACKUP_QUOTA"],
    }


@bp.get("/<name>/backups/<int:backup_id>")
def get_backup(name, backup_id):
    """One backup: its state, size and sha256."""
    return backups.backup_dict(backups.get_backup(g.user, name, backup_id))


@bp.get("/<name>/backups/<int:backup_id>/download")
def download(name, backup_id):
    """The kept backup's .tar, streamed from the host's backups directory."""
    backup, path = backups.kept_file(g.user, name, backup_id)
    answer = send_file(
        path,
        mimetype="application/x-tar",
        as_attachment=True,
        download_name=f"{backup.service}-{backup.id}.tar",
        conditional=False,
        etag=False,
    )
    answer.headers["X-SWS-SHA256"] = backup.sha256 or ""
    return answer


@bp.post("/<name>/restores")
def start_restore(name):
    """Restore the volume from a kept backup ({"backup": id}) or an uploaded .tar(.gz) body."""
    if request.mimetype == "application/json":
        body = json_object()
        backup_id = body.get("backup")
        if set(body) != {"backup"} or not isinstance(backup_id, int) or isinstance(backup_id, bool):
            raise invalid_request('send {"backup": <id>}', {"backup": "a backup's id"})
        restore = backups.start_restore(g.user, name, backup_id)
    elif request.mimetype in ("application/x-tar", "application/gzip", "application/octet-stream"):
        # This route alone takes a large body: up to SWS_MAX_BACKUP_UPLOAD, streamed to disk.
        request.max_content_length = current_app.config["SWS_MAX_BACKUP_UPLOAD"]
        restore = backups.start_restore(g.user, name, None, request.stream, request.content_length)
    else:
        raise ApiError(
            415, "invalid_request", "send application/json, application/x-tar or application/gzip"
        )
    return backups.restore_dict(restore), 202


@bp.get("/<name>/restores/<int:restore_id>")
def get_restore(name, restore_id):
    """One restore: pending, restoring, done or failed."""
    return backups.restore_dict(backups.get_restore(g.user, name, restore_id))
