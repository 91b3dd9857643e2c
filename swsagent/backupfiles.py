"""The backups directory on the host (issue 27): `<backups_dir>/<owner id>/<service>/<id>.tar`
(the apiserver's swsapi/backupfiles.py reads the same path, mounted read-only), the spool of
uploads at `<spool_dir>/<name>`, and the store's backups dump under `store/` (not ours here).

The apiserver runs as nobody: directories are 0750 and files 0640, root's and its group's
(`group`), so no other local user reads a tenant's data. What the store no longer names (a
purged volume's backups, a copy a crash left half-written, an upload never restored) goes.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from swsagent.backupcopy import partial_name

SPOOL_GRACE = 3600  # seconds an upload may wait in the spool before its restore row exists


def service_dir(backups_dir: Path, owner_id: int, service: str) -> Path:
    return backups_dir / str(owner_id) / service


def kept_path(backups_dir: Path, owner_id: int, service: str, backup_id: int) -> Path:
    return service_dir(backups_dir, owner_id, service) / f"{backup_id}.tar"


def make_service_dir(backups_dir: Path, owner_id: int, service: str, group: int) -> Path:
    path = service_dir(backups_dir, owner_id, service)
    for directory in (backups_dir, path.parent, path):
        directory.mkdir(mode=0o750, exist_ok=True)
        _share(directory, 0o750, group)
    return path


def _share(path: Path, mode: int, group: int) -> None:
    os.chmod(path, mode)
    if os.geteuid() == 0:  # a test agent (not root) keeps its own group
        os.chown(path, 0, group)


def keep(backups_dir: Path, owner_id: int, service: str, backup_id: int, group: int):
    """Rename the finished copy to its kept name; (size, sha256)."""
    folder = service_dir(backups_dir, owner_id, service)
    partial = folder / partial_name(backup_id)
    digest_file = folder / (partial_name(backup_id) + ".sha256")
    digest = digest_file.read_text().split()[0]
    final = kept_path(backups_dir, owner_id, service, backup_id)
    _share(partial, 0o640, group)
    os.replace(partial, final)
    digest_file.unlink()
    return final.stat().st_size, digest


def drop_partial(backups_dir: Path, owner_id: int, service: str, backup_id: int) -> None:
    folder = service_dir(backups_dir, owner_id, service)
    for name in (partial_name(backup_id), partial_name(backup_id) + ".sha256"):
        (folder / name).unlink(missing_ok=True)


def remove_kept(backups_dir: Path, owner_id: int, service: str, backup_id: int) -> None:
    kept_path(backups_dir, owner_id, service, backup_id).unlink(missing_ok=True)


def sweep(backups_dir: Path, known: set[tuple[int, str, int]], copying: set[int]) -> list[str]:
    """Remove the files of backups the store no longer has (a purge), half copies of no copy
    under way, and the directories left empty; what was removed."""
    removed = []
    for owner in _dirs(backups_dir):
        if not owner.name.isdigit():
            continue  # store/ (the store's own dumps) and anything else not ours
        for service in _dirs(owner):
            for file in service.iterdir():
                backup_id = _backup_id(file.name)
                key = (int(owner.name), service.name, backup_id)
                partial = file.name.startswith(".partial-")
                if backup_id is None or (partial and backup_id in copying):
                    continue
                if partial or key not in known:
                    file.unlink(missing_ok=True)
                    removed.append(str(file))
            with contextlib.suppress(OSError):
                service.rmdir()  # only when empty
        with contextlib.suppress(OSError):
            owner.rmdir()
    return removed


def sweep_spool(spool_dir: Path | None, waiting: set[str], now: float | None = None) -> list[str]:
    """Remove uploads no unfinished restore names, once SPOOL_GRACE passed since their write
    (the apiserver writes the file before its row)."""
    if spool_dir is None or not spool_dir.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for file in spool_dir.iterdir():
        if file.name not in waiting and now - file.stat().st_mtime > SPOOL_GRACE:
            file.unlink(missing_ok=True)
            removed.append(str(file))
    return removed


def _dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def _backup_id(name: str) -> int | None:
    stem = name.removeprefix(".partial-").split(".", 1)[0]
    return int(stem) if stem.isdigit() else None
