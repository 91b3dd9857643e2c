"""The one client of HAProxy's runtime (admin) socket, used by this collection's modules, by
sws-agent's observe step and by the tests. Standard library only.

HAProxy answers one command a connection and closes it (non-interactive mode). Server states
come from two commands: `show servers state` for what the agent set (admin state: ready,
drain, maint) and `show stat` for what HAProxy sees (UP, DOWN, ...) and the open sessions.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time

# srv_admin_state bits in `show servers state` (HAProxy's SRV_ADMF_*): forced maint, forced drain.
_ADMIN_MAINT = 0x01
_ADMIN_DRAIN = 0x08


def command(path, line: str, timeout: float = 5.0) -> str:
    """Send one command and return HAProxy's whole answer. Raises OSError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def parse_admin_states(text: str) -> dict:
    """{server: ready|drain|maint} from the answer to `show servers state [backend]`."""
    header: list = []
    states = {}
    for line in text.splitlines():
        if line.startswith("# be_id"):
            header = line[2:].split()
            continue
        if not line or line.startswith("#") or not header:
            continue
        row = dict(zip(header, line.split(), strict=False))
        admin = int(row.get("srv_admin_state", "0"))
        if admin & _ADMIN_MAINT:
            states[row["srv_name"]] = "maint"
        elif admin & _ADMIN_DRAIN:
            states[row["srv_name"]] = "drain"
        else:
            states[row["srv_name"]] = "ready"
    return states


def admin_states(path, backend: str) -> dict:
    """{server: ready|drain|maint}: what the agent set; {} when HAProxy cannot be asked."""
    try:
        return parse_admin_states(command(path, f"show servers state {backend}"))
    except OSError:
        return {}


def parse_stat(text: str, backend: str) -> dict:
    """{server: row} of the backend's servers from the CSV answer to `show stat`."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    header = lines[0][2:].split(",")
    rows = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == backend and row.get("svname") not in (None, "BACKEND", "FRONTEND"):
            rows[row["svname"]] = row
    return rows


def stats(path, backend: str) -> dict:
    """{server: `show stat` row}: status (UP, DOWN, DRAIN, MAINT ...), scur (sessions)."""
    return parse_stat(command(path, "show stat"), backend)


def set_state(path, backend: str, server: str, state: str) -> None:
    """state: ready, drain or maint. Raises OSError, or ValueError when HAProxy refuses."""
    answer = command(path, f"set server {backend}/{server} state {state}").strip()
    if answer:
        raise ValueError(f"HAProxy refused the state change: {answer}")


def wait_for_no_sessions(path, backend: str, server: str, timeout: float) -> tuple:
    """Wait until the server has no session (at most timeout s): (sessions left, seconds)."""
    started = time.monotonic()
    sessions = 0
    while True:
        row = stats(path, backend).get(server) or {}
        sessions = int(row.get("scur") or 0)
        if sessions == 0 or time.monotonic() - started >= timeout:
            return sessions, round(time.monotonic() - started, 2)
        time.sleep(0.05)


def save(dest: str, text: str) -> None:
    """Write text to dest atomically (a server-state file HAProxy reads on reload)."""
    folder = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sws-haproxy-")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, dest)


# --- TLS certificates at runtime (issue 15): HAProxy ends TLS on the host's HTTPS port ------
# A certificate is known by its file's path (the name HAProxy loaded it under). Changing one
# is a transaction: `set ssl cert` stages the new PEM (chain and key), `commit ssl cert`
# swaps it in for new handshakes; no reload, no connection closed. A new one is first made
# (`new ssl cert`) and then listed for its name (`add ssl crt-list`).


def _ok(answer: str, *expected: str) -> str:
    if not any(word in answer for word in expected):
        raise ValueError(f"HAProxy refused: {answer.strip()}")
    return answer


def crt_list_paths(path, crt_list: str) -> set:
    """The certificates' paths in the crt-list as HAProxy serves it now."""
    lines = command(path, f"show ssl crt-list {crt_list}").splitlines()
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def cert_sha1(path, cert: str):
    """The SHA1 fingerprint (upper-case hex) of the leaf HAProxy serves under this path."""
    for line in command(path, f"show ssl cert {cert}").splitlines():
        if line.startswith("SHA1 FingerPrint:"):
            return line.partition(":")[2].strip().upper()
    return None


def put_cert(path, cert: str, pem: str, new: bool) -> None:
    """Stage and commit a certificate's PEM (chain then key); new: make it first.

    A store made here for a PEM HAProxy then refuses is taken away again, and an empty one an
    earlier refusal left (HAProxy keeps it until it restarts, and `new ssl cert` then answers
    "already exists!") is filled rather than made: no domain is wedged (issue 25)."""
    made = False
    if new:
        answer = command(path, f"new ssl cert {cert}")
        if "already exists" not in answer:
            _ok(answer, "New empty certificate store")
            made = True
    try:
        _ok(command(path, f"set ssl cert {cert} <<\n{pem.strip()}\n"), "Transaction")
        _ok(command(path, f"commit ssl cert {cert}"), "Success")
    except (OSError, ValueError):
        command(path, f"abort ssl cert {cert}")
        if made:
            command(path, f"del ssl cert {cert}")
        raise


def add_to_crt_list(path, crt_list: str, cert: str, names: str) -> None:
    _ok(command(path, f"add ssl crt-list {crt_list} <<\n{cert} {names}\n"), "Success")


def remove_cert(path, crt_list: str, cert: str) -> None:
    """Take the certificate out of the crt-list, then out of memory."""
    _ok(command(path, f"del ssl crt-list {crt_list} {cert}"), "deleted")
    _ok(command(path, f"del ssl cert {cert}"), "deleted")
