"""The files a route reads at request time (issue 27): each service's htpasswd and pages, in
every proxy's configuration volume under sites/<service>/ (ProxyFiles.sites_dir).

Written before the roll, so a route never goes live ahead of its files; what no service wants
any more goes after the roll, once no live route names it. Each file is written whole and
atomically, only when it differs; its content is never logged (hashes and pages are the
user's). Pages are bytes exactly as the spec gives them, served as static files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from swsagent.desired import DesiredService
from swsagent.proxyfiles import ProxyFiles
from swsagent.siteroutes import HTPASSWD, PAGE_FILES

# nginx's workers run as user nginx, group nogroup (nginx.conf): the htpasswd is theirs to read
# and no other user's in the container.
NOGROUP = 65534


def wanted_files(desired: list[DesiredService]) -> dict[str, dict[str, bytes]]:
    """{service: {file name: content}} for every service whose spec has access or pages."""
    wanted: dict[str, dict[str, bytes]] = {}
    for service in desired:
        site = service.definition.site if service.definition else None
        if site is None or service.deleting:
            continue
        files = {PAGE_FILES[kind]: text.encode() for kind, text in site.pages().items() if text}
        if site.users:
            files[HTPASSWD] = site.htpasswd().encode()
        if files:
            wanted[service.name] = files
    return wanted


def write_files(conf_dirs: list[Path], files: ProxyFiles, wanted: dict) -> list[str]:
    """Write what differs into each proxy's volume; return the services whose files changed."""
    changed = set()
    for conf in conf_dirs:
        root = conf / files.on_host(files.sites_dir)
        for service, contents in wanted.items():
            for name, data in contents.items():
                if _write(root / service / name, data, private=name == HTPASSWD):
                    changed.add(service)
    return sorted(changed)


def remove_stale(conf_dirs: list[Path], files: ProxyFiles, wanted: dict) -> list[str]:
    """Remove the files and directories no service wants now (after the roll)."""
    removed = set()
    for conf in conf_dirs:
        root = conf / files.on_host(files.sites_dir)
        for directory in root.iterdir() if root.is_dir() else ():
            keep = wanted.get(directory.name)
            if keep is None:
                shutil.rmtree(directory, ignore_errors=True)
                removed.add(directory.name)
                continue
            for path in directory.iterdir():
                if path.name not in keep:
                    path.unlink(missing_ok=True)
                    removed.add(directory.name)
    return sorted(removed)


def _write(path: Path, data: bytes, private: bool) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.write(fd, data)
        if private and os.geteuid() == 0:
            os.fchown(fd, 0, NOGROUP)
        os.fchmod(fd, 0o640 if private and os.geteuid() == 0 else 0o644)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return True
