"""What the fault tests share: a load loop that records every request, polling instead of
sleeping, and the table of figures (one row a fault).

Figures, not timed assertions: the tests assert what must hold (no failed request while a proxy
stays up; the right outcome and message) and print how long the rest took.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import requests

# Requests a second to the unaffected service, spread over two clients: enough to hit every
# moment of a fault, little enough to leave the agent's passes their CPU (2 cores).
RATE = 100
CLIENTS = 2


class Load:
    """Clients sending GETs through the load balancer; each outcome kept with its time.

    A new connection each request (Connection: close), as most clients behind a browser or a
    script make them: a failure then means the host dropped a request, not that a kept-alive
    connection to a proxy that went away was reused.
    """

    def __init__(self, http: str, host: str):
        self.url, self.host = http + "/", host
        self.samples: list[tuple[float, bool, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=15)

    def _client(self) -> None:
        headers = {"Host": self.host, "Connection": "close"}
        interval = CLIENTS / RATE
        # No proxy settings from the environment: the loop talks to this host only, and a
        # thread must not read os.environ while a test changes it.
        session = requests.Session()
        session.trust_env = False
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                answer = session.get(self.url, headers=headers, timeout=10)
                ok, what = answer.status_code == 200, str(answer.status_code)
            except requests.RequestException as err:
                ok, what = False, type(err).__name__
            with self.lock:
                self.samples.append((began, ok, what))
            time.sleep(max(0.0, interval - (time.monotonic() - began)))

    def since(self, t0: float) -> list[tuple[float, bool, str]]:
        with self.lock:
            return [s for s in self.samples if s[0] >= t0]

    def failures(self, t0: float) -> list[str]:
        return [what for _, ok, what in self.since(t0) if not ok]

    def serving_again(self, t0: float) -> float:
        """Seconds from t0 until requests succeed again after the last failure (0: none)."""
        samples = self.since(t0)
        failed = [t for t, ok, _ in samples if not ok]
        if not failed:
            return 0.0
        after = [t for t, ok, _ in samples if ok and t > failed[-1]]
        return (after[0] if after else failed[-1]) - t0


@dataclass
class Row:
    fault: str
    failed: int
    sent: int
    serving_again: float | None  # None: not measured (no failure is allowed)
    converged: float | None
    outcome: str
    note: str = ""


FIGURES: list[Row] = []


def record(row: Row) -> Row:
    FIGURES.append(row)
    return row


def table() -> str:
    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        "| fault | failed / sent (unaffected service) | serves again after (s) "
        "| host converged after (s) | pass outcome | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in FIGURES:
        lines.append(
            f"| {r.fault} | {r.failed} / {r.sent} | {secs(r.serving_again)} "
            f"| {secs(r.converged)} | {r.outcome} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def wait_for(predicate, seconds: float = 60, every: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def state_of(container: str) -> str:
    out = docker("inspect", "-f", "{{.State.Status}}", container, check=False).strip()
    return out or "missing"
