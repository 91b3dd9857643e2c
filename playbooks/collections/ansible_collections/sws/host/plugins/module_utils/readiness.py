"""Wait until a service container accepts TCP connections on its port, and,
when the spec names a health check path, answers GET <path> with a 2xx or 3xx status.

It watches the container while it waits, so a container that exits at once (or that Docker
keeps restarting) fails in a second with its exit code and last log lines, instead of after
the whole timeout.

Standard library only (and engine.py): the action plugins run it on the controller (every host
is this machine), which spares the ~0.4 s a module's own Python process costs; the unit tests
import it as it is.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import time

from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError

# Restarts Docker may make while the container starts before it is judged crash-looping.
MAX_RESTARTS = 2


def inspect(container: str) -> dict | None:
    try:
        return Engine().inspect(container)
    except EngineError:
        return None


# Lines of a failed container's output kept with its failure (joined, at most 500 characters):
# a crash usually explains itself over a few lines (a traceback's last frame and its error).
LAST_LINES = 3


def last_log(container: str) -> str | None:
    result = subprocess.run(
        ["docker", "logs", "--tail", "20", container], capture_output=True, text=True
    )
    lines = [ln.strip() for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    return " | ".join(lines[-LAST_LINES:])[-500:] if lines else None


def accepts(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def http_status(address: str, port: int, path: str) -> tuple[int | None, str]:
    """The status of GET <path> (None when no answer came), and what it was, in words."""
    conn = http.client.HTTPConnection(address, port, timeout=2)
    try:
        conn.request("GET", path, headers={"User-Agent": "sws-agent health check"})
        status = conn.getresponse().status
        return status, f"answered {status}"
    except (OSError, http.client.HTTPException) as err:
        return None, f"gave no HTTP answer ({type(err).__name__})"
    finally:
        conn.close()


def healthy(status: int | None) -> bool:
    return status is not None and 200 <= status < 400


def wait_ready(
    container: str, network: str, port: int, timeout: float, path: str | None = None
) -> tuple[str | None, str]:
    """None and the address when ready; otherwise a short reason."""
    deadline = time.monotonic() + timeout
    answer = ""
    while True:
        detail = inspect(container)
        if detail is None:
            return "the container disappeared while starting", ""
        state = detail.get("State") or {}
        restarts = detail.get("RestartCount", 0)
        # A container that restarted once or twice (an entrypoint waiting for something) and
        # then runs and accepts connections is healthy; one Docker keeps restarting is not.
        if restarts > MAX_RESTARTS or state.get("Status") in ("exited", "dead"):
            code = state.get("ExitCode")
            again = f" (restarted {restarts} times)" if restarts else ""
            return f"the container exited with code {code} right after it started{again}", ""
        networks = (detail.get("NetworkSettings") or {}).get("Networks") or {}
        address = (networks.get(network) or {}).get("IPAddress")
        if state.get("Running") and address and accepts(address, port):
            if not path:
                return None, address
            status, answer = http_status(address, port, path)
            if healthy(status):
                return None, address
        if time.monotonic() >= deadline:
            if answer:
                return f"the health check GET {path} {answer} for {timeout:g} s", ""
            return f"nothing accepted connections on port {port} within {timeout:g} s", ""
        time.sleep(0.2)
