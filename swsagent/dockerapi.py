"""The log shipper's view of the Docker engine: container listings, `RestartCount` and output.

Every request goes through the collection's Engine API client (module_utils/engine.py), the
one the agent's passes and the container plugins use. Only the shipper's own part is here: it
follows many containers at once for as long as they run, one HTTP stream per container (a
socket, where `docker logs -f` would cost a process), demultiplexed into stdout and stderr.
Never a container's configuration or env is read here.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from urllib.parse import quote

from swsagent import collection

STDOUT, STDERR = 1, 2
STREAMS = {STDOUT: "stdout", STDERR: "stderr"}
READ_SIZE = 64 * 1024


class DockerError(RuntimeError):
    """The engine could not be asked, or answered an error."""


class DockerApi:
    def __init__(self, path: str | None = None, timeout: float = 30.0):
        self.engine = collection.engine().Engine(path, timeout)
        self.path = self.engine.path
        self._streams: set = set()
        self._lock = threading.Lock()

    def _ask(self, call, *args):
        try:
            return call(*args)
        except collection.engine().EngineError as err:
            raise DockerError(f"docker engine: {err}") from None

    def containers(self, label: str) -> list[dict]:
        """Every container (running or not) that carries the label."""
        return self._ask(self.engine.containers, label)

    def inspect(self, container: str) -> dict:
        found = self._ask(self.engine.inspect, container)
        if found is None:
            raise DockerError(f"docker engine: no such container {container}")
        return found

    def follow_logs(
        self, container: str, since: str | None, tty: bool, follow: bool = True
    ) -> Iterator[tuple]:
        """(stream, bytes) chunks of the container's output, timestamped, until it stops
        (`follow`), or to the end of what the engine holds now."""
        params = {"follow": int(follow), "stdout": 1, "stderr": 1, "timestamps": 1}
        if since:
            params["since"] = since
        # No timeout: a quiet container sends nothing for hours, and that is not an error.
        conn, response = self._ask(
            self.engine.stream, f"/containers/{quote(container)}/logs", params
        )
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
