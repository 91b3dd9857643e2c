"""Fair share: how long one user's single apply waits behind another user's burst.

Alice (quota raised to 60) has 50 services pending; then Bob applies one. A watching agent
starts, and the bench times Bob's apply to his first 200 through the load balancer, and all of
Alice's. It does so twice in one run, side by side: with the per-user share of a pass
(`deploys_per_user`, the default 10) and with no share (0: every pending service in one pass).

    .venv/bin/python bench/fair_share.py [--burst 50] [--share 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid

import requests
import yaml
from agent_host import bench_host

HELLO = "sws-local/hello:2"
SCRIPT = os.path.join(os.path.dirname(sys.executable), "sws-apiserver")


class User:
    """A user of the API with a token of their own (not the admin's)."""

    def __init__(self, host, name: str):
        self.host, self.name = host, name
        made = _apiserver(host, "users", "create", name)
        self.token = made.stdout.strip()

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Host": self.host.api_domain, "Authorization": f"Bearer {self.token}"}
        return requests.request(
            method, self.host.http + "/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def apply(self, name: str, image: str = HELLO, domain: str | None = None) -> None:
        spec = {"name": name, "port": 8080, "domain": domain or f"{name}.fair.test", "image": image}
        answer = self.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
        assert answer.status_code in (200, 201), answer.text

    def delete(self, name: str) -> None:
        self.api("DELETE", f"/services/{name}")


def _apiserver(host, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCRIPT, *args],
        env={**os.environ, "SWS_DATABASE_URL": host.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def serves(host, name: str) -> bool:
    try:
        answer = requests.get(host.http + "/", headers={"Host": f"{name}.fair.test"}, timeout=5)
    except requests.RequestException:
        return False
    return answer.status_code == 200


def one_round(host, share: int, burst: int) -> tuple[float, float]:
    tag = uuid.uuid4().hex[:4]
    alice, bob = User(host, f"alice-{tag}"), User(host, f"bob-{tag}")
    _apiserver(host, "users", "quota", alice.name, str(burst + 10))
    names = [f"fa{tag}-{i:02d}" for i in range(burst)]
    for name in names:
        alice.apply(name)  # no agent runs yet: all of them pending
    config = yaml.safe_load(host.config.read_text())
    config["deploys_per_user"] = share
    host.config.write_text(yaml.safe_dump(config))
    before = host.last_passes(1)[0]["id"] if host.last_passes(1) else None
    watcher = host.start_agent("watch")
    try:
        # Bob applies once the watcher's first pass has started: it took Alice's burst.
        deadline = time.monotonic() + 60
        while host.last_passes(1)[0]["id"] == before and time.monotonic() < deadline:
            time.sleep(0.05)
        mine = f"fb{tag}"
        bob.apply(mine)
        started = time.monotonic()
        bob_took = alice_took = None
        waiting = list(names)
        while time.monotonic() - started < 900 and (bob_took is None or alice_took is None):
            if bob_took is None and serves(host, mine):
                bob_took = time.monotonic() - started
            waiting = [n for n in waiting if not serves(host, n)]
            if alice_took is None and not waiting:
                alice_took = time.monotonic() - started
            time.sleep(0.1)
    finally:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.communicate()
    for name in names:
        alice.delete(name)
    bob.delete(mine)
    host.run_pass(check=False)
    return bob_took or float("nan"), alice_took or float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--share", type=int, default=10)
    args = parser.parse_args()
    rows = []
    with bench_host() as host:
        for share in (args.share, 0):
            bob, alice = one_round(host, share, args.burst)
            label = f"deploys_per_user={share}" if share else "no share (0)"
            print(f"  {label}: bob {bob:.1f} s, alice's {args.burst} {alice:.1f} s", flush=True)
            rows.append((label, bob, alice))
    print(f"Bob's one apply behind Alice's {args.burst} pending (seconds to first 200):")
    for label, bob, alice in rows:
        print(f"  {label:24} bob {bob:6.1f}   all of alice's {alice:6.1f}")


if __name__ == "__main__":
    main()
