"""Roll one nginx proxy to new routes: what the action plugin proxy_roll does, in one place.

Standard library only, so the plugin, the benches and the tests share it. The routes come from
sws-agent already rendered and tested: each entry holds the service's block for its new
generation (with a slot where the new container's address goes, known only once it
started) and the block that keeps serving if the new one did not get ready. Picking one of the
two and joining them in the agent's order is all that happens here; nothing re-derives a route.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time

# Drain strategies (sws.yml's sws_roll_drain, given by the pass; ARCHITECTURE.md "Proxy roll"):
#   drain:  HAProxy drains the proxy and the roll waits for its sessions to end (at most
#           drain_timeout), then reloads and readies it;
#   reload: reload without draining: nginx's graceful reload finishes the requests in flight,
#           HAProxy keeps sending new connections to it meanwhile.
DRAIN_MODES = ("drain", "reload")


class RollError(RuntimeError):
    """The roll stopped; the proxy keeps its last good routes."""


def candidate(
    entries: list[dict],
    header: str,
    slot: str,
    addresses: dict[str, list[str]],
    restarted: dict[str, list[str]] | None = None,
) -> str:
    """The routes text for what got ready: each entry's new block (its addresses put in the
    agent's slots) when its host reported them, its restarted block when a failed recreate
    started the older generation again, else its old block (or none), sorted by the keys the
    agent gave (domain, service) and joined as the agent joins them."""
    chosen = []
    restarted = restarted or {}
    for entry in entries:
        host = entry.get("host") or ""
        new, old, older = entry.get("new"), entry.get("old"), entry.get("restarted")
        filled = fill_slots(new["text"], slot, addresses.get(host)) if new else None
        again = fill_slots(older["text"], slot, restarted.get(host)) if older else None
        if filled is not None:
            chosen.append((tuple(new["key"]), filled))
        elif again is not None:
            chosen.append((tuple(older["key"]), again))
        elif old:
            chosen.append((tuple(old["key"]), old["text"]))
    return "\n".join([header, *(block for _, block in sorted(chosen))])


def fill_slots(text: str, slot: str, addresses: list[str] | str | None) -> str | None:
    """The block with each slot taking the next address (one slot a replica, issue 28, in
    replica order); None when there is no address for every slot: not all got ready."""
    if isinstance(addresses, str):
        addresses = [addresses]
    parts = text.split(slot)
    if not addresses or len(parts) - 1 != len(addresses):
        return None
    return "".join(part + address for part, address in zip(parts, [*addresses, ""], strict=True))


def digest(text: str | None) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else ""


def emerg_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in lines:
        if "emerg]" in line:
            return line[:200]
    return (lines[0] if lines else "nginx -t failed")[:200]


# One exec writes the candidate, tests it, makes it live, reloads and records what is applied
# (each exec costs ~0.1 s). routes.applied is written only after the reload signal went out.
# $1 is the proxy's configuration directory (sws.yml's sws_proxy_conf_mount, from the pass).
_ROLL_SCRIPT = """
c=$1
cat > "$c/candidate/routes.conf" || exit 4
nginx -t -q -c "$c/test.conf" || exit 3
cp "$c/candidate/routes.conf" "$c/live/routes.conf.new" \\
  && mv "$c/live/routes.conf.new" "$c/live/routes.conf" \\
  && nginx -s reload -c "$c/nginx.conf" \\
  && cp "$c/live/routes.conf" "$c/live/routes.applied"
"""


def write_and_reload(proxy: str, text: str, conf_dir: str, timeout: float = 60) -> None:
    """Write, test, make live, reload. Raises RollError with nginx's [emerg] line on refusal.

    conf_dir: where the proxy's configuration volume is mounted inside it."""
    try:
        result = subprocess.run(
            ["docker", "exec", "-i", proxy, "sh", "-c", _ROLL_SCRIPT, "roll", conf_dir],
            input=text,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RollError(f"could not reach {proxy}: {err}") from None
    if result.returncode == 3:
        raise RollError(
            f"nginx on {proxy} rejected the new routes, the last good ones stay live: "
            f"{emerg_line(result.stderr)}"
        )
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise RollError(f"rolling {proxy} failed: {why[:200]}")


def healthy(health_socket: str, timeout: float = 20.0) -> float:
    """Wait for GET /healthz on the proxy's health socket to answer 200; the seconds it took."""
    started = time.monotonic()
    while True:
        if _healthz(health_socket):
            return round(time.monotonic() - started, 2)
        if time.monotonic() - started >= timeout:
            raise RollError(f"{health_socket} did not answer 200 within {timeout:g} s")
        time.sleep(0.05)


def _healthz(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return sock.recv(64).split(b" ")[1:2] == [b"200"]
    except (OSError, IndexError):
        return False
