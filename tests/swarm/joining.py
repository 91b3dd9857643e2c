"""The join playbook run twice on the session's swarm, once for every module that needs the
joined swarm (test_nodes.py counts the first run's changes, test_isolation.py needs the nodes'
firewall): whichever module comes first runs it, the others find its result."""

from __future__ import annotations

import re
import subprocess
import time

RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", re.M)
_RUNS: dict[str, list[dict[str, int]]] = {}


def changes(run: subprocess.CompletedProcess) -> dict[str, int]:
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return {host: int(changed) for host, changed in RECAP.findall(run.stdout)}


def join_twice(swarm) -> list[dict[str, int]]:
    """Each run's changes per host, the first time for this swarm."""
    if swarm.prefix not in _RUNS:
        runs = []
        for what in ("join", "join again"):
            started = time.monotonic()
            runs.append(changes(swarm.playbook()))
            swarm.timings[what] = round(time.monotonic() - started, 1)
        _RUNS[swarm.prefix] = runs
    return _RUNS[swarm.prefix]
