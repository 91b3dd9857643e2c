"""The backup files the apiserver touches (issue 27): it streams a kept one from the agent's
backups directory (mounted read-only) and spools an upload for a restore. Every path is made
here from the store's numbers and names, never from what a user sent."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import current_app

from swsapi.errors import ApiError, invalid_request

GZIP_MAGIC = b"\x1f\x8b"
TAR_MAGIC = b"ustar"  # at offset 257 of a tar's first header
CHUNK = 1 << 20


def _configured(key: str) -> Path:
    value = current_app.config.get(key)
    if not value:
        raise ApiError(503, "not_configured", f"backups are not set up on this host ({key})")
    return Path(value)


def kept_path(owner_id: int, service: str, backup_id: int) -> Path:
    """Where the agent keeps a backup (swsagent/backupfiles.py makes the same path)."""
    return _configured("SWS_BACKUPS_DIR") / str(owner_id) / service / f"{backup_id}.tar"


def spool_path(upload: str) -> Path:
    return _configured("SWS_BACKUP_SPOOL_DIR") / upload


def spool_upload(stream, length: int | None) -> tuple[str, int]:
    """Write an uploaded .tar or .tar.gz into the spool under a new name; (name, bytes). At
    most SWS_MAX_BACKUP_UPLOAD bytes (413), a tar's or gzip's magic first (400): the agent
    checks the whole archive again before it wipes anything."""
    most = current_app.config["SWS_MAX_BACKUP_UPLOAD"]
    if length is not None and length > most:
        raise _too_large(most)
    name = f"{uuid.uuid4().hex}.upload"
    path = spool_path(name)
    written = 0
    try:
        with open(path, "xb") as out:
            os.fchmod(out.fileno(), 0o600)
            while chunk := stream.read(CHUNK):
                if written == 0 and not _an_archive(chunk):
                    raise invalid_request("the upload is no .tar or .tar.gz", {"body": "no tar"})
                written += len(chunk)
                if written > most:
                    raise _too_large(most)
                out.write(chunk)
        if written == 0:
            raise invalid_request("the upload is empty", {"body": "empty"})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return name, written


def _an_archive(head: bytes) -> bool:
    return head.startswith(GZIP_MAGIC) or head[257:262] == TAR_MAGIC


def _too_large(most: int) -> ApiError:
    return ApiError(413, "too_large", f"an upload is at most {most} bytes on this host")
