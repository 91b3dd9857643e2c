"""The few Docker Engine API calls the log shipper makes, over the engine's unix socket.

The shipper follows many containers at once for as long as they run: one HTTP stream per
container costs a socket, where `docker logs -f` would cost a process. Only container
listings, `RestartCount` and output are read here; never a container's configuration or env.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlencode

DEFAULT_SOCKET = "/var/run/docker.sock"
STDOUT, STDERR = 1, 2
STREAMS = {STDOUT: "stdout", STDERR: "stderr"}
READ_SIZE = 64 * 1024


class DockerError(RuntimeError):
    """The engine could not be asked, or answered an error."""


def socket_path() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else DEFAULT_SOCKET


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class DockerApi:
    def __init__(self, path: str | None = None, timeout: float = 30.0):
        self.path = path or socket_path()
        self.timeout = timeout
        self._streams: set[_UnixConnection] = set()
        self._lock = threading.Lock()

    def _open(self, url: str, timeout: float | None):
        conn = _UnixConnection(self.path, timeout)
        try:
            conn.request("GET", url)
            response = conn.getresponse()
        except OSError as err:
            conn.close()
            raise DockerError(f"docker engine at {self.path}: {err}") from None
        if response.status >= 300:
            body = response.read(2000).decode(errors="replace")
            conn.close()
            raise DockerError(f"docker engine answered {response.status} for {url}: {body}")
        return conn, response

    def get_json(self, url: str):
        conn, response = self._open(url, self.timeout)
        try:
            return json.loads(response.read())
        except (OSError, ValueError) as err:
            raise DockerError(f"docker engine: bad answer for {url}: {err}") from None
        finally:
            conn.close()

    def containers(self, label: str) -> list[dict]:
        """Every container (running or not) that carries the label."""
        filters = json.dumps({"label": [label]})
        return self.get_json(f"/containers/json?all=1&filters={quote(filters)}")

    def inspect(self, container: str) -> dict:
        return self.get_json(f"/containers/{quote(container)}/json")

    def follow_logs(self, container: str, since: str | None, tty: bool) -> Iterator[tuple]:
        """(stream, bytes) chunks of the container's output, timestamped, until it stops."""
        params = {"follow": 1, "stdout": 1, "stderr": 1, "timestamps": 1}
        if since:
            params["since"] = since
        # No timeout: a quiet container sends nothing for hours, and that is not an error.
        url = f"/containers/{quote(container)}/logs?{urlencode(params)}"
        conn, response = self._open(url, None)
        with self._lock:
            self._streams.add(conn)
        try:
            if tty:
                while chunk := response.read1(READ_SIZE):
                    yield "stdout", chunk
            else:
                yield from frames(response)
        finally:
            with self._lock:
                self._streams.discard(conn)
            conn.close()

    def close_streams(self) -> None:
        """End every log stream still open (their readers see the end of the stream)."""
        with self._lock:
            streams = list(self._streams)
        for conn in streams:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)


def frames(response) -> Iterator[tuple[str, bytes]]:
    """Demultiplex the engine's log stream: frames of an 8-byte header (stream, size) and data.

    A frame larger than READ_SIZE comes out in pieces; the line splitter joins them.
    """
    while True:
        header = _read_exactly(response, 8)
        if len(header) < 8:
            return
        kind, size = header[0], struct.unpack(">I", header[4:8])[0]
        stream = STREAMS.get(kind, "stdout")
        while size > 0:
            piece = _read_exactly(response, min(size, READ_SIZE))
            if not piece:
                return
            size -= len(piece)
            yield stream, piece


def _read_exactly(response, size: int) -> bytes:
    parts = []
    while size > 0:
        part = response.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
