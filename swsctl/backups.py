"""Backups through the API (issue 27): take one and wait until it is kept, list them, stream
a kept one out, restore one (kept, or a local .tar.gz streamed up) and wait for it. The
client's transport (client.py) carries every request."""

from __future__ import annotations

import time
from urllib.parse import quote

from swsctl.client import ApiClient
from swsctl.errors import ServerError, Unreachable
from swsctl.transport import _nowhere

POLL = 1.0
CHUNK = 1 << 20


def _path(name: str, what: str = "backups", op_id: int | None = None) -> str:
    path = "/v1/services/" + quote(name, safe="") + "/" + what
    return path if op_id is None else f"{path}/{int(op_id)}"


def take(client: ApiClient, name: str, command: list[str] | None) -> dict:
    body = {"command": command} if command else {}
    return client._request("POST", _path(name), body=body, about_service=True)


def listing(client: ApiClient, name: str) -> dict:
    return client._request("GET", _path(name), about_service=True)


def wait(client: ApiClient, name: str, what: str, op_id: int, ends: tuple, timeout: float):
    """Poll a backup or restore until it ends; its last state."""
    deadline = time.monotonic() + timeout
    while True:
        found = client._request("GET", _path(name, what, op_id), about_service=True)
        if found["state"] in ends:
            return found
        if time.monotonic() > deadline:
            raise ServerError(f"{what[:-1]} {op_id} is still {found['state']} after {timeout:g} s")
        time.sleep(POLL)


def download(client: ApiClient, name: str, backup_id: int, out) -> int:
    """Write the kept backup to the binary file `out`; the bytes written."""
    path = _path(name, "backups", backup_id) + "/download"
    response = client._send("GET", path, stream=True, timeout=max(client.timeout, 300.0))
    with response:
        if response.status_code != 200:
            client._answer(response, about_service=True, source="", locate=_nowhere)
        written = 0
        try:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                written += len(chunk)
        except OSError as err:
            raise Unreachable(f"the download from {client.base_url} broke: {err}") from None
    return written


def restore(client: ApiClient, name: str, backup_id: int | None, archive=None) -> dict:
    """Ask for a restore from a kept backup, or stream the open .tar.gz `archive` up."""
    if archive is None:
        body = {"backup": backup_id}
        return client._request("POST", _path(name, "restores"), body=body, about_service=True)
    response = client._send(
        "POST",
        _path(name, "restores"),
        data=archive,
        headers={"Content-Type": "application/octet-stream"},
        timeout=max(client.timeout, 300.0),
    )
    return client._answer(response, about_service=True, source="", locate=_nowhere)
